"""Every role rule (the README's role table), as small functions that admin, views, tasks and commands call.

Groups hold the model permissions (created by a data migration); these functions add what
permissions alone cannot say: ownership, and who may block whom.
"""
USERS = "Users"
MANAGERS = "Managers"
CONTENT_MANAGERS = "Content managers"


def group_names(user):
    """The user's group names, fetched once per user object."""
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_group_names_cache"):
        user._group_names_cache = frozenset(user.groups.values_list("name", flat=True))
    return user._group_names_cache


def is_manager(user):
    return user.is_active and MANAGERS in group_names(user)


def is_content_manager(user):
    return user.is_active and CONTENT_MANAGERS in group_names(user)


def sees_all_mailings(user):
    """Managers and superusers see every user's clients, messages, mailings and statistics."""
    return user.is_active and (user.is_superuser or is_manager(user))


def can_check_domains(user):
    """The domain check page (the service's SPF, DKIM and DMARC records): superusers and
    managers, read-only. It shows the operator's set-up, which owners can neither change nor
    need: their mail leaves from the service's From address."""
    return sees_all_mailings(user)


def scope_to_user(queryset, user, owner_field="owner"):
    """The rows of ``queryset`` that ``user`` may see: everything, or only their own."""
    if sees_all_mailings(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{owner_field: user})


def owns(user, obj, owner_field="owner_id"):
    return user.is_authenticated and getattr(obj, owner_field) == user.pk


def can_edit_owned(user, obj=None):
    """Adding, changing and deleting clients, messages and mailings: owners and superusers.

    Owners in the Users' role only (README, "Roles and demo accounts"): managers oversee but
    never edit, content managers write the blog only, even an object either of them owns.
    """
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    if is_manager(user) or is_content_manager(user):
        return False
    return obj is None or owns(user, obj)


def mailing_choices_owner(user, requested_owner_id=None):
    """Whose clients and message a mailing form of ``user`` may offer: an owner's pk, or None.

    A mailing may only use its owner's clients and message. A user edits their own mailings
    only, so it is always them. A superuser edits anyone's: the form asks for the owner of
    the mailing being edited (``requested_owner_id``); a new mailing, which the superuser
    will own (the form has no owner field), offers their own. Managers edit no mailing.
    """
    if not can_edit_owned(user):
        return None
    if user.is_superuser and str(requested_owner_id or "").isdigit():
        return int(requested_owner_id)
    return user.pk


def can_toggle_mailing(user, mailing):
    """Disable or enable a mailing: an owner who may edit it, any manager, a superuser."""
    if not user.is_active:
        return False
    return user.has_perm("mailings.disable_mailing") or can_edit_owned(user, mailing)


def can_block(actor, target):
    """Block or unblock: managers and superusers; never a superuser, never oneself."""
    if not actor.is_active or actor.pk == target.pk or target.is_superuser:
        return False
    return actor.is_superuser or actor.has_perm("backoffice.block_user")
