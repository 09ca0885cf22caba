"""Who may open what in the admin, every cell asserted.

role (anonymous, user, other user, manager, content manager, superuser)
× model (client, message, mailing, attempt, delivery, user, post)
× URL kind (changelist, add, change, delete, history, autocomplete, export, POST change,
  POST delete)
× object (alice's or bob's: "own" for the user who owns it, "another's" for the other).

Answers: a status code; "200+" means 200 with the object listed, "200-" 200 without it.
Anonymous visitors are sent to the login page (302). After a refused POST the object is
unchanged; after an accepted one it is changed or gone.
"""
import pytest
from django.urls import reverse
from django.utils import timezone

from content.models import Post
from mailings.models import Attempt, Client, Delivery, Mailing, Message

pytestmark = pytest.mark.django_db

KINDS = ["changelist", "add", "change", "delete", "history", "autocomplete", "export", "post_change", "post_delete"]


def table(**rows):
    return {who: dict(zip(KINDS, answers.split())) for who, answers in rows.items()}


#                   changelist add change delete history autocomplete export post_change post_delete
OWNED = table(  # clients, messages, mailings: own only for users, view-only for managers
    anonymous=      "302  302 302 302 302 302  302  302 302",
    user_own=       "200+ 200 200 200 200 200+ 200+ 302 302",
    user_another=   "200- 200 404 404 404 200- 200- 404 404",
    manager=        "200+ 403 200 403 200 200- 200+ 403 403",
    content_manager="403  403 403 403 404 403  403  403 403",
    superuser=      "200+ 200 200 200 200 200+ 200+ 302 302",
)
# The autocomplete of a mailing's clients and message is asked as the mailing page of the
# object's owner asks it (?owner=); it offers only what that mailing may be saved with, so a
# manager, who edits no mailing, is offered nothing (permissions.mailing_choices_owner).
STATISTICS = table(  # attempts, deliveries: read-only for everyone
    anonymous=      "302  302 302 302 302 n/a n/a 302 302",
    user_own=       "200+ 403 200 403 200 n/a n/a 403 403",
    user_another=   "200- 403 404 403 404 n/a n/a 403 403",
    manager=        "200+ 403 200 403 200 n/a n/a 403 403",
    content_manager="403  403 403 403 404 n/a n/a 403 403",
    superuser=      "200+ 403 200 403 200 n/a n/a 403 403",
)
USERS = table(  # the user list: managers view and block, only superusers edit
    anonymous=      "302  302 302 302 302 n/a n/a 302 302",
    user_own=       "403  403 403 403 403 n/a n/a 403 403",
    user_another=   "403  403 403 403 403 n/a n/a 403 403",
    manager=        "200+ 403 200 403 200 n/a n/a 403 403",
    content_manager="403  403 403 403 403 n/a n/a 403 403",
    superuser=      "200+ 200 200 200 200 n/a n/a 302 302",
)
POSTS = table(  # the blog: content managers and superusers
    anonymous=      "302  302 302 302 302 n/a n/a 302 302",
    user_own=       "403  403 403 403 403 n/a n/a 403 403",
    user_another=   "403  403 403 403 403 n/a n/a 403 403",
    manager=        "403  403 403 403 403 n/a n/a 403 403",
    content_manager="200+ 200 200 200 200 n/a n/a 302 302",
    superuser=      "200+ 200 200 200 200 n/a n/a 302 302",
)
EXPECTED = {
    "client": OWNED, "message": OWNED, "mailing": OWNED,
    "attempt": STATISTICS, "delivery": STATISTICS, "user": USERS, "post": POSTS,
}
APP = {"user": "backoffice", "post": "content"}
AUTOCOMPLETE_FIELD = {"client": "clients", "message": "message"}
ROLES = ["anonymous", "user", "other_user", "manager", "content_manager", "superuser"]
ACTOR = {"user": "alice", "other_user": "bob"}


def cells():
    for model, rows in EXPECTED.items():
        for kind in KINDS:
            if rows["anonymous"][kind] == "n/a" or (kind == "autocomplete" and model not in AUTOCOMPLETE_FIELD):
                continue
            if kind == "export" and model != "client":
                continue
            for role in ROLES:
                for owner in ("alice", "bob"):
                    yield pytest.param(role, model, kind, owner, id=f"{role}-{model}-{kind}-{owner}s")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_object(model, owner):
    """The object of ``model`` that belongs to ``owner`` (a user, for the user model)."""
    if model == "user":
        return owner
    if model == "post":
        return Post.objects.create(title=f"Post of {owner.email}", slug=f"post-{owner.pk}", body="<p>x</p>")
    client = Client.objects.create(owner=owner, email=f"client-{owner.pk}@example.com")
    if model == "client":
        return client
    message = Message.objects.create(owner=owner, subject=f"Message of {owner.pk}", body="<p>x</p>")
    if model == "message":
        return message
    mailing = Mailing.objects.create(owner=owner, message=message, start_at=timezone.now())
    mailing.clients.set([client])
    if model == "mailing":
        return mailing
    attempt = Attempt.objects.create(mailing=mailing, scheduled_for=timezone.now())
    if model == "attempt":
        return attempt
    return Delivery.objects.create(attempt=attempt, client=client, email=client.email)


def change_payload(model, obj):
    """A valid change of each model, marking the object so an accepted change can be seen."""
    if model == "client":
        return {"email": obj.email, "full_name": "CHANGED"}
    if model == "message":
        return {"subject": "CHANGED", "body": "<p>x</p>"}
    if model == "mailing":
        return {"message": obj.message_id, "clients": [c.pk for c in obj.clients.all()],
                "start_at_0": "2030-01-01", "start_at_1": "10:00", "end_at_0": "", "end_at_1": "",
                "periodicity": "daily"}
    if model == "user":
        return {"email": obj.email, "full_name": "CHANGED", "is_active": "on", "is_staff": "on"}
    if model == "post":
        return {"title": "CHANGED", "slug": obj.slug, "body": "<p>x</p>"}
    return {"status": "success"}


def was_changed(model, obj):
    fresh = type(obj).objects.get(pk=obj.pk)
    marker = {"client": "full_name", "message": "subject", "user": "full_name", "post": "title",
              "mailing": "periodicity", "attempt": "status", "delivery": "status"}[model]
    return getattr(fresh, marker) in ("CHANGED", "daily", "success")


def url(model, kind, obj):
    base = f"admin:{APP.get(model, 'mailings')}_{model}"
    return {
        "changelist": lambda: reverse(f"{base}_changelist"),
        "add": lambda: reverse(f"{base}_add"),
        "change": lambda: reverse(f"{base}_change", args=[obj.pk]),
        "post_change": lambda: reverse(f"{base}_change", args=[obj.pk]),
        "delete": lambda: reverse(f"{base}_delete", args=[obj.pk]),
        "post_delete": lambda: reverse(f"{base}_delete", args=[obj.pk]),
        "history": lambda: reverse(f"{base}_history", args=[obj.pk]),
        "autocomplete": lambda: reverse("admin:autocomplete"),
        "export": lambda: reverse(f"{base}_export"),
    }[kind]()


def answer(http, model, kind, obj):
    """What the server answered, in the table's terms."""
    if kind == "changelist":
        response = http.get(url(model, kind, obj))
        if response.status_code != 200:
            return str(response.status_code)
        listed = obj.pk in [row.pk for row in response.context["cl"].result_list]
        return "200+" if listed else "200-"
    if kind == "autocomplete":
        response = http.get(url(model, kind, obj), {"app_label": "mailings", "model_name": "mailing",
                                                    "field_name": AUTOCOMPLETE_FIELD[model], "term": "",
                                                    "owner": obj.owner_id})
        if response.status_code != 200:
            return str(response.status_code)
        return "200+" if str(obj.pk) in [r["id"] for r in response.json()["results"]] else "200-"
    if kind == "export":
        response = http.post(url(model, kind, obj), {"format": "0", "resource": "0", "clientresource_email": "on"})
        if response.status_code != 200:
            return str(response.status_code)
        return "200+" if obj.email in response.content.decode("utf-8-sig") else "200-"
    if kind == "post_change":
        return str(http.post(url(model, kind, obj), change_payload(model, obj)).status_code)
    if kind == "post_delete":
        return str(http.post(url(model, kind, obj), {"post": "yes"}).status_code)
    return str(http.get(url(model, kind, obj)).status_code)


@pytest.mark.parametrize("role,model,kind,owner", list(cells()))
def test_permission_cell(client, request, role, model, kind, owner):
    owner_user = request.getfixturevalue(owner)
    obj = make_object(model, owner_user)
    actor = None if role == "anonymous" else request.getfixturevalue(ACTOR.get(role, role))
    if actor:
        client.force_login(actor)
    row = role if role not in ACTOR else ("user_own" if actor == owner_user else "user_another")
    expected = EXPECTED[model][row][kind]

    assert answer(client, model, kind, obj) == expected

    accepted = expected == "302" and role != "anonymous"  # anonymous 302: sent to log in
    if kind == "post_change":
        assert was_changed(model, obj) == accepted
    if kind == "post_delete":
        assert type(obj).objects.filter(pk=obj.pk).exists() == (not accepted)


# --- The rules themselves (backoffice.permissions), one row per role ----------------------

# The README's role table ("Roles and demo accounts"), written out here, not read off the
# predicates: managers view everything, disable / enable mailings and block / unblock users,
# and edit nothing, not even an object they own; content managers write blog posts only;
# users edit and toggle their own clients, messages and mailings; superusers do everything
# but block a superuser or themselves. "own" is an object the actor owns.
#                  sees all, edit new, edit own, edit another's, toggle own, toggle another's,
#                  block a user, block a superuser, block self
PREDICATES = {
    "user":            "no  yes yes no  yes no  no  no no",
    "manager":         "yes no  no  no  yes yes yes no no",
    "content_manager": "no  no  no  no  no  no  no  no no",
    "superuser":       "yes yes yes yes yes yes yes no no",
    "blocked_user":    "no  no  no  no  no  no  no  no no",
}


@pytest.mark.parametrize("role", list(PREDICATES))
def test_role_rules(request, role, alice, bob, superuser):
    from backoffice import permissions

    actor = alice if role in ("user", "blocked_user") else request.getfixturevalue(role)
    if role == "blocked_user":
        actor.is_active = False
        actor.save()
    own = Mailing(owner=actor)
    another = Mailing(owner=bob)
    answers = [
        permissions.sees_all_mailings(actor),
        permissions.can_edit_owned(actor),
        permissions.can_edit_owned(actor, own),
        permissions.can_edit_owned(actor, another),
        permissions.can_toggle_mailing(actor, own),
        permissions.can_toggle_mailing(actor, another),
        permissions.can_block(actor, bob),
        permissions.can_block(actor, superuser),
        permissions.can_block(actor, actor),
    ]
    assert ["yes" if a else "no" for a in answers] == PREDICATES[role].split()


@pytest.mark.parametrize("role", ["manager", "content_manager"])
def test_a_manager_or_content_manager_cannot_send_or_change_a_mailing_they_own(client, request, role):
    """Owning an object gives no editing right outside the Users' role (README's role table)."""
    from mailings.tests.factories import make_mailing

    actor = request.getfixturevalue(role)
    mailing = make_mailing(actor, 1, start_at=timezone.now() + timezone.timedelta(days=2))
    client.force_login(actor)
    base = reverse("admin:mailings_mailing_changelist") + f"{mailing.pk}/"

    assert client.post(base + "send-now/").status_code == 403
    assert client.post(reverse("admin:mailings_mailing_change", args=[mailing.pk]),
                       change_payload("mailing", mailing)).status_code == 403
    assert not Attempt.objects.filter(mailing=mailing).exists()
    assert not was_changed("mailing", mailing)
