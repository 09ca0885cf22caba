"""The blog: published posts only, pages, view counts, the cache, slugs and the 404 page."""
import pytest
from django.urls import reverse
from django.utils import timezone

from content import cache
from content.models import Post
from content.tests import factories

pytestmark = pytest.mark.django_db


def test_the_list_shows_only_published_posts(client):
    factories.post(title="Опубликована")
    factories.post(title="Черновик", published=False)
    factories.post(title="Завтра", published_at=timezone.now() + timezone.timedelta(days=1))

    page = client.get(reverse("blog-list")).content.decode()

    assert "Опубликована" in page
    assert "Черновик" not in page and "Завтра" not in page


def test_the_list_is_paginated_newest_first(client):
    now = timezone.now()
    for n in range(11):
        factories.post(title=f"Статья номер {n}", published_at=now - timezone.timedelta(hours=n + 1))

    first = client.get(reverse("blog-list"))
    second = client.get(reverse("blog-list"), {"page": 2})

    assert [p["title"] for p in first.context["posts"]][:2] == ["Статья номер 0", "Статья номер 1"]
    assert len(first.context["posts"]) == 9
    assert [p["title"] for p in second.context["posts"]] == ["Статья номер 9", "Статья номер 10"]
    assert "?page=2" in first.content.decode()


@pytest.mark.parametrize("page", ["abc", "999", "-1", "0", "1e9"])
def test_a_bad_page_number_still_answers(client, page):
    factories.post()
    assert client.get(reverse("blog-list"), {"page": page}).status_code == 200


def test_a_post_page_shows_title_image_body_date_and_views(client):
    post = factories.post(title="О рассылках", body="<p>Полезный <strong>текст</strong></p>")
    response = client.get(post.get_absolute_url())
    page = response.content.decode()
    assert response.status_code == 200
    assert "О рассылках" in page
    assert "Полезный <strong>текст</strong>" in page
    assert f'datetime="{timezone.localtime(post.published_at).isoformat()}"' in page
    assert 'data-views="1"' in page


def test_views_count_on_every_visit_cached_or_not(client):
    post = factories.post()
    for expected in range(1, 5):
        response = client.get(post.get_absolute_url())
        assert response.context["views"] == expected
    post.refresh_from_db()
    assert post.views == 4


def test_a_cache_hit_on_a_post_runs_only_the_view_counter(client, django_assert_num_queries):
    post = factories.post()
    client.get(post.get_absolute_url())  # fills the cache

    with django_assert_num_queries(1) as queries:
        response = client.get(post.get_absolute_url())

    assert "UPDATE" in queries.captured_queries[0]["sql"].upper()
    assert response.context["views"] == 2


def test_a_cache_hit_on_the_list_runs_no_sql_query(client, django_assert_num_queries):
    factories.post()
    client.get(reverse("blog-list"))
    with django_assert_num_queries(0):
        response = client.get(reverse("blog-list"))
    assert len(response.context["posts"]) == 1


def test_editing_a_post_shows_up_on_its_page_and_the_list(client):
    post = factories.post(title="Старый заголовок")
    client.get(post.get_absolute_url())
    client.get(reverse("blog-list"))

    post.title = "Новый заголовок"
    post.save()

    assert "Новый заголовок" in client.get(post.get_absolute_url()).content.decode()
    assert "Новый заголовок" in client.get(reverse("blog-list")).content.decode()


def test_unpublishing_or_deleting_a_post_takes_it_down(client):
    post = factories.post()
    other = factories.post(title="Другая")
    client.get(post.get_absolute_url())
    client.get(other.get_absolute_url())

    post.is_published = False
    post.save()
    other.delete()

    assert client.get(post.get_absolute_url()).status_code == 404
    assert client.get(other.get_absolute_url()).status_code == 404
    assert client.get(reverse("blog-list")).context["posts"] == []


def test_a_view_of_the_page_does_not_invalidate_the_cache(client, django_assert_num_queries):
    post = factories.post()
    client.get(reverse("blog-list"))
    client.get(post.get_absolute_url())
    with django_assert_num_queries(0):
        client.get(reverse("blog-list"))


def test_an_unknown_slug_gets_the_styled_404_page(client, settings):
    settings.DEBUG = False
    response = client.get("/blog/no-such-post/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "site/site.css" in page and "404" in page
    assert reverse("blog-list") in page


def test_an_unpublished_post_is_not_found(client):
    post = factories.post(published=False)
    assert client.get(post.get_absolute_url()).status_code == 404


def test_a_russian_title_makes_a_readable_ascii_slug(client):
    post = factories.post(title="Как настроить рассылку: 5 шагов!")
    assert post.slug == "kak-nastroit-rassylku-5-shagov"
    assert client.get(f"/blog/{post.slug}/").status_code == 200


def test_a_unicode_slug_typed_by_hand_works(client):
    post = factories.post(title="Привет", slug="привет-мир")
    assert client.get(post.get_absolute_url()).status_code == 200
    assert client.get("/blog/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82-%D0%BC%D0%B8%D1%80/").status_code == 200


def test_equal_titles_get_distinct_slugs():
    first = factories.post(title="Новости")
    second = factories.post(title="Новости")
    assert (first.slug, second.slug) == ("novosti", "novosti-2")


def test_a_title_without_letters_still_gets_a_slug():
    assert factories.post(title="!!!").slug == "post"


def test_html_written_around_the_admin_is_sanitised_on_the_page(client):
    post = factories.post(body='<p onclick="x()">Текст</p><script>alert(1)</script>')
    page = client.get(post.get_absolute_url()).content.decode()
    assert "<script>alert" not in page and "onclick" not in page
    assert "Текст" in page


def test_a_scheduled_post_limits_how_long_the_list_is_cached():
    now = timezone.now()
    factories.post(published_at=now + timezone.timedelta(seconds=90))
    assert 1 <= cache._timeout_until_next_publication(now) <= 91
    Post.objects.all().delete()
    assert cache._timeout_until_next_publication(now) == cache.BLOG_TIMEOUT


def test_the_view_counter_of_a_vanished_post_gives_none():
    post = factories.post()
    post_id = post.pk
    post.delete()
    assert cache.count_view(post_id) is None
