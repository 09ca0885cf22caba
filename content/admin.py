from django.contrib import admin
from django.utils import timezone
from unfold.admin import ModelAdmin

from content.forms import PostAdminForm
from content.models import Post


@admin.register(Post)
class PostAdmin(ModelAdmin):
    """Posts are written by content managers (group permissions) with CKEditor 5."""

    form = PostAdminForm
    list_display = ["title", "is_published", "published_at", "views", "author"]
    list_filter = ["is_published"]
    search_fields = ["title", "body"]
    readonly_fields = ["views", "author"]
    date_hierarchy = "published_at"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        if obj.is_published and obj.published_at is None:
            obj.published_at = timezone.now()  # "published" with no date means now
        super().save_model(request, obj, form, change)
