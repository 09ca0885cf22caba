"""Delivering a claimed run over SMTP (design §5, invariants 2-8).

- ``progress``: claiming batches of rows and writing each message's progress.
- ``loop``: the SMTP loop (``deliver``, ``RunDelivery``).

Claiming the run itself, pausing and finishing it are ``mailings.runs``.
"""
