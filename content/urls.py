from django.urls import path, register_converter

from content import views


class PostSlugConverter:
    """A slug as Post.slug allows it (Unicode letters, digits, _ and -).

    Anything else, such as NUL or a line break, is no post's address: the resolver answers
    404 before the database is asked (PostgreSQL refuses NUL in a query with an error).
    """

    regex = r"[-\w]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(PostSlugConverter, "post_slug")

urlpatterns = [
    path("", views.home, name="home"),
    path("blog/", views.blog_list, name="blog-list"),
    path("blog/<post_slug:slug>/", views.blog_detail, name="blog-detail"),
]
