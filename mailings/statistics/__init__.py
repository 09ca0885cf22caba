"""Every statistic of the service, in one place (definitions in docs/statistics.md).

- ``queries``: what each figure means (as query expressions), their versioned cache, and
  the dashboard's aggregate queries.
- ``reports``: one mailing's report (its runs, failed and skipped recipients) and the
  tables of its export.
- ``rollup``: the outcome counts per run and day (``DeliveryStat``) the queries read, kept
  equal to a recount of the Delivery rows (``change_status`` moves a bounced or complained
  row's count in the transaction that changes it); ``mailings.retention`` compacts old rows into counts.
- ``home``: the public home page's three figures (content caches them).
- ``charts``: Chart.js data and options for unfold's chart components.
- ``dashboard``: the admin start page's figures shaped as cards, charts and tables.
- ``formatting``: how a figure reads on a page (``rate_text``; ``returns_text``: "2 bounces
  of 250 sent" in the plural forms of the language).

Other apps only call these; the cache of the home page figures is content's business
(it listens to ``mailings.signals.figures_changed``).
"""
