from django.contrib import admin
from unfold.admin import ModelAdmin

from content.models import Post


@admin.register(Post)
class PostAdmin(ModelAdmin):
    list_display = ["title", "is_published", "published_at", "views"]
    list_filter = ["is_published"]
    search_fields = ["title", "body"]
    prepopulated_fields = {"slug": ["title"]}
