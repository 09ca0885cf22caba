"""Delivering a claimed run over SMTP; see docs/architecture.md, "The life of a run".

- ``progress``: claiming batches of rows and writing each message's progress.
- ``loop``: the SMTP loop (``deliver``, ``RunDelivery``).

Claiming the run itself, pausing and finishing it are ``mailings.runs``.
"""
