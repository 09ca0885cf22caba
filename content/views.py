"""Home page and blog. The data comes from ``content.cache``; view counts never do."""
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from content import cache

POSTS_PER_PAGE = 9


def home(request):
    return render(
        request,
        "content/home.html",
        {"stats": cache.home_stats(), "posts": cache.random_cards(3)},
    )


def blog_list(request):
    page = Paginator(cache.published_cards(), POSTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "content/blog_list.html", {"page": page, "posts": page.object_list})


def blog_detail(request, slug):
    post = cache.post_page(slug)
    if post is None:
        raise Http404("no published post with this slug")
    views = cache.count_view(post["id"])
    if views is None:
        raise Http404("the post was deleted")
    return render(request, "content/blog_detail.html", {"post": post, "views": views})
