"""Authentication by e-mail (case-insensitive).

Django's ModelBackend already refuses inactive (blocked) users in ``authenticate`` and
``get_user``; the latter is what ends a blocked user's open sessions at their next request.
"""
from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and user.email_verified_at is not None
