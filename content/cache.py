"""Cached data of the public pages and its targeted invalidation.

What is kept in the shared cache (Redis, or the file cache web and worker share):

- ``site:home-stats``: the three home page figures. Deleted by ``invalidate_home_stats()``,
  which the receivers in ``content/signals.py`` call when a mailing, a client, a mailing's
  clients or a user's blocked state change, and when mailings sends ``figures_changed``
  (the changes it writes with ``QuerySet.update()``, which send no model signals).
- ``site:blog:<version>:cards``: every published post as a card (title, address, excerpt,
  image); the blog list pages and the home page's three random posts are cut from it.
- ``site:blog:<version>:post:<slug>``: what a post's page shows, except the view count.

Blog keys carry a version token that any change to a post replaces, so every page that may
list the post is out of date at once without knowing which pages those were; old entries
expire. Entries are never removed wholesale (no ``cache.clear()``). A timeout bounds how long
a figure can lag behind a change racing with its computation.

View counts are not cached: each page view runs one ``UPDATE ... RETURNING`` that counts it
and reads the new total, cached page or not.

``PAGE_CACHE=0`` in the environment serves these pages without the cache (benchmarks).

An unreachable cache (Redis down) never breaks a public page: each cache call that fails
logs a warning and behaves as a miss, so the page is computed from the database, and view
counts, which live in the database, still go up. An invalidation lost that way leaves an
entry at most its timeout out of date once the cache is back.
"""
import logging
import random
import uuid

from django.conf import settings
from django.core.cache import cache as shared_cache
from django.core.cache.backends.dummy import DummyCache
from django.db import connection
from django.utils import timezone
from django.utils.text import Truncator

from content.models import Post
from lib.sanitize import sanitize_html, text_of
from mailings.statistics.home import home_figures

HOME_STATS_KEY = "site:home-stats"
BLOG_VERSION_KEY = "site:blog:version"
HOME_STATS_TIMEOUT = 10 * 60
BLOG_TIMEOUT = 60 * 60
EXCERPT_WORDS = 30

logger = logging.getLogger(__name__)
_no_cache = DummyCache("site-no-cache", {})


def _unreachable_cache_errors():
    """What a cache backend raises when its server cannot be reached."""
    errors = [OSError]  # includes socket errors and the file cache's disk errors
    try:
        from redis.exceptions import RedisError
        errors.append(RedisError)
    except ImportError:  # Redis is optional
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted
        errors.append(ConnectionInterrupted)
    except ImportError:
        pass
    return tuple(errors)


class _DegradingCache:
    """The shared cache whose failures count as misses, so pages render without it."""

    errors = _unreachable_cache_errors()

    def __init__(self, backend):
        self.backend = backend

    def _call(self, operation, fallback, *args):
        try:
            return getattr(self.backend, operation)(*args)
        except self.errors as error:
            logger.warning("cache unreachable, public page served without it (%s %s): %r",
                           operation, args[0], error)
            return fallback

    def get(self, key, default=None):
        return self._call("get", default, key, default)

    def set(self, key, value, timeout):
        self._call("set", None, key, value, timeout)

    def add(self, key, value, timeout):
        return self._call("add", False, key, value, timeout)

    def delete(self, key):
        self._call("delete", None, key)


def _cache():
    return _DegradingCache(shared_cache if getattr(settings, "PAGE_CACHE", True) else _no_cache)


# --- Home page figures ---------------------------------------------------------------------


def home_stats():
    cache = _cache()
    stats = cache.get(HOME_STATS_KEY)
    if stats is None:
        stats = home_figures()
        cache.set(HOME_STATS_KEY, stats, HOME_STATS_TIMEOUT)
    return stats


def invalidate_home_stats():
    """Forget the home page figures; called when mailings or clients change."""
    _cache().delete(HOME_STATS_KEY)


# --- Blog ---------------------------------------------------------------------------------


def _blog_version(cache):
    version = cache.get(BLOG_VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex[:12]
        # add(): when two processes start together, both end up using the first one's token.
        if not cache.add(BLOG_VERSION_KEY, version, None):
            version = cache.get(BLOG_VERSION_KEY, version)
    return version


def invalidate_blog():
    """Make every cached blog entry (list, cards, pages) out of date; called on post changes."""
    _cache().set(BLOG_VERSION_KEY, uuid.uuid4().hex[:12], None)


def _timeout_until_next_publication(now):
    """Until a post scheduled for later goes live, so it appears on time."""
    upcoming = (
        Post.objects.filter(is_published=True, published_at__gt=now)
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    if upcoming is None:
        return BLOG_TIMEOUT
    return max(1, min(BLOG_TIMEOUT, int((upcoming - now).total_seconds()) + 1))


def _card(post):
    return {
        "id": post.pk,
        "title": post.title,
        "url": post.get_absolute_url(),
        "excerpt": Truncator(text_of(post.body)).words(EXCERPT_WORDS),
        "image_url": post.image.url if post.image else "",
        "published_at": post.published_at,
    }


def published_cards():
    """Every published post as a card, newest first."""
    cache = _cache()
    key = f"site:blog:{_blog_version(cache)}:cards"
    cards = cache.get(key)
    if cards is None:
        now = timezone.now()
        posts = Post.objects.published().only("title", "slug", "body", "image", "published_at")
        cards = [_card(post) for post in posts]
        cache.set(key, cards, _timeout_until_next_publication(now))
    return cards


def random_cards(count=3):
    cards = published_cards()
    return random.sample(cards, min(count, len(cards)))


def post_page(slug):
    """What the page of a published post shows (view count aside), or None."""
    cache = _cache()
    key = f"site:blog:{_blog_version(cache)}:post:{slug}"
    page = cache.get(key)
    if page is None:
        post = Post.objects.published().filter(slug=slug).first()
        if post is None:
            return None  # not cached: a missing slug must not fill the cache
        page = {
            **_card(post),
            "slug": post.slug,
            # Stored HTML is sanitised on save; sanitised again here for rows written
            # another way (fixtures, shell, imports).
            "body": sanitize_html(post.body),
        }
        cache.set(key, page, BLOG_TIMEOUT)
    return page


def count_view(post_id):
    """Count one view of the post and return its new total (None if the post is gone).

    One statement both counts and reads, so concurrent views never lose an increment.
    SQLite (3.35+) and PostgreSQL both support ``RETURNING``.
    """
    table = connection.ops.quote_name(Post._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET views = views + 1 WHERE id = %s RETURNING views", [post_id]
        )
        row = cursor.fetchone()
    return row[0] if row else None
