from django.shortcuts import get_object_or_404, render

from content.models import Post


def home(request):
    return render(request, "content/home.html", {})


def blog_list(request):
    return render(request, "content/blog_list.html", {"posts": Post.objects.published()})


def blog_detail(request, slug):
    post = get_object_or_404(Post.objects.published(), slug=slug)
    return render(request, "content/blog_detail.html", {"post": post})
