"""Small builders of posts, clients and mailings for the public site's tests."""
from django.utils import timezone

from content.models import Post
from mailings.models import Client, Mailing, Message


def post(title="Как писать письма", body="<p>Текст статьи</p>", published=True, **extra):
    extra.setdefault("published_at", timezone.now() - timezone.timedelta(hours=1))
    return Post.objects.create(title=title, body=body, is_published=published, **extra)


def client(owner, email, **extra):
    return Client.objects.create(owner=owner, email=email, **extra)


def mailing(owner, clients=(), next_run_at=None, **extra):
    """A mailing in the state given: ``status`` and ``next_run_at`` (default: none ahead)
    are written after the scheduler's own save, which would otherwise settle them."""
    message = Message.objects.create(owner=owner, subject="Новости", body="<p>Привет</p>")
    extra.setdefault("start_at", timezone.now())
    state = {"next_run_at": next_run_at, **({"status": extra["status"]} if "status" in extra else {})}
    item = Mailing.objects.create(owner=owner, message=message, **extra)
    item.clients.add(*clients)
    Mailing.objects.filter(pk=item.pk).update(**state)
    item.refresh_from_db()
    return item
