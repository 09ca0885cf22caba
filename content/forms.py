"""The admin form of a blog post: CKEditor 5 for the body, stored sanitised."""
from django import forms
from django_ckeditor_5.widgets import CKEditor5Widget

from content.models import Post
from lib.sanitize import sanitize_html


class PostAdminForm(forms.ModelForm):
    class Meta:
        model = Post
        fields = ["title", "slug", "body", "image", "is_published", "published_at"]
        widgets = {"body": CKEditor5Widget(config_name="default")}

    def clean_body(self):
        body = sanitize_html(self.cleaned_data["body"])
        if not body.strip():
            raise forms.ValidationError(forms.Field.default_error_messages["required"], code="required")
        return body
