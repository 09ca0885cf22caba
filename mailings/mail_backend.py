"""Old home of the queued e-mail backend, kept because queued tasks store its dotted path
(``mailings.mail_backend.send_queued_message``) and settings may still name it."""
from lib.mail_backend import QueuedEmailBackend, send_queued_message  # noqa: F401
