from django.urls import path

from content import views

urlpatterns = [
    path("", views.home, name="home"),
    path("blog/", views.blog_list, name="blog-list"),
    path("blog/<str:slug>/", views.blog_detail, name="blog-detail"),
]
