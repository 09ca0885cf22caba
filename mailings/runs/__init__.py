"""The life of a run; see docs/architecture.md.

- ``claim``: a run starts by being claimed (scheduled, extra, test) or taken over (resume).
- ``state``: what happens to it afterwards (stop reasons, pause, hand-over, finish) and
  the one place where the mailing's and the run's statuses are decided.

The SMTP loop that delivers a claimed run is ``mailings.delivery``.
"""
