"""Bounce and complaint figures (issue #12): per run, per mailing, on both dashboards and in
the export, read from the roll-up (DeliveryStat) and equal to a recount of the rows, although
a bounce or complaint changes a row long after its run was rolled up, and after retention
compacted part of the run. The report lists the bounced and complained recipients with the
words of the server that sent the bounce, to their owner only."""
import csv
import io
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from mailings import retention
from mailings.bounces import handle_report
from mailings.models import AttemptStatus, CompactedDeliveries, Delivery, DeliveryStat
from mailings.models import DeliveryStatus as S
from mailings.statistics import queries as stats
from mailings.statistics import reports, rollup
from mailings.statistics.formatting import returns_text
from mailings.tests.factories import add_deliveries, direct_counts, make_attempt, make_mailing
from mailings.tests.test_deliverability import arf, bounce_address, dsn
from mailings.tests.test_rollup import recount, summed

pytestmark = pytest.mark.django_db


def bounce(delivery):
    return handle_report(dsn(delivery.email, bounce_address(delivery)), bounce_address(delivery))


def complain(delivery):
    return handle_report(arf(delivery.email, bounce_address(delivery)), "fbl@example.com")


def compacted():
    """What retention removed, keyed like DeliveryStat."""
    counts = Counter()
    for row in CompactedDeliveries.objects.all():
        counts[(row.attempt_id, row.day, row.status, row.smtp_code)] += row.count
    return counts


def reference():
    """Every figure's truth: the rows kept, recounted, plus the counts of the rows compacted."""
    return +(recount() + compacted())


def stat_rows():
    return list(DeliveryStat.objects.order_by("pk").values_list("pk", "status", "count"))


def sent_run(owner, count, *, started_at=None, status=AttemptStatus.SUCCESS):
    """A finished run of ``owner`` whose ``count`` messages the receiving server accepted."""
    started_at = started_at or timezone.now() - timedelta(hours=2)
    run = make_attempt(make_mailing(owner, 0, subject=f"Run of {owner.email}"), started_at, status=status)
    return run, add_deliveries(run, S.SENT, count, sent_at=started_at, smtp_code=250, smtp_response="250 2.0.0 Ok")


# --- The roll-up follows the row ------------------------------------------------------------

def test_a_bounce_or_complaint_after_the_roll_up_moves_its_count_in_the_same_transaction(alice):
    run, (bounced, complained, both, kept) = sent_run(alice, 4)
    rollup.catch_up()
    assert +summed() == recount()

    assert bounce(bounced).changed and complain(complained).changed
    assert bounce(both).changed and complain(both).changed  # bounced, then complained

    # No catch-up in between: the counts already equal the rows...
    assert +summed() == recount()
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {
        S.SENT: 1, S.BOUNCED: 1, S.COMPLAINED: 2}
    # ...and the next catch-up leaves them be: the run is not recounted.
    before = stat_rows()
    rollup.catch_up()
    assert stat_rows() == before
    assert len(before) == 3  # one row per status, however many reports came back


def test_a_replayed_report_moves_nothing(alice):
    run, (delivery, _other) = sent_run(alice, 2)
    rollup.catch_up()
    bounce(delivery)
    before = stat_rows()
    assert not bounce(delivery).changed
    assert stat_rows() == before and +summed() == recount()


def test_a_bounce_during_a_run_is_counted_by_the_runs_next_recount(alice):
    run, (delivery, _other) = sent_run(alice, 2, status=AttemptStatus.RUNNING)
    rollup.catch_up()
    bounce(delivery)
    rollup.catch_up()
    assert +summed() == recount()
    type(run).objects.filter(pk=run.pk).update(status=AttemptStatus.SUCCESS)
    complain(delivery)
    rollup.catch_up()
    assert +summed() == recount()


def test_a_row_above_the_watermark_is_counted_once_with_its_new_status(alice):
    run, _ = sent_run(alice, 2)
    rollup.catch_up()
    (late,) = add_deliveries(run, S.SENT, 1, sent_at=timezone.now(), smtp_code=250)  # not yet counted
    bounce(late)
    rollup.catch_up()
    assert +summed() == recount()
    rollup.catch_up()
    assert +summed() == recount()


def test_counts_that_disagree_with_the_rows_are_recounted_not_made_negative(alice):
    run, (delivery, _other) = sent_run(alice, 2)
    rollup.catch_up()
    DeliveryStat.objects.filter(attempt=run).delete()  # a repair that forgot the counts
    bounce(delivery)
    assert +summed() == {}  # forgotten: the next catch-up counts the run again
    rollup.catch_up()
    assert +summed() == recount()


@pytest.fixture
def old_and_new(alice, settings):
    """A run 200 days old (retention: 180 days) and a recent one, both rolled up."""
    settings.DELIVERY_RETENTION_DAYS = 180
    old, old_rows = sent_run(alice, 8, started_at=timezone.now() - timedelta(days=200))
    new, new_rows = sent_run(alice, 4)
    rollup.catch_up()
    return {"old": old, "old_rows": old_rows, "new": new, "new_rows": new_rows}


def report_figures(mailing):
    stats.invalidate_for_mailing(mailing.pk)
    summary = reports.report(mailing, reports.ReportFilter())["summary"]
    return {key: summary[key] for key in ("sent", "bounced", "complained", "bounce_rate", "complaint_rate", "total")}


def test_figures_equal_a_recount_after_bounces_and_compaction(old_and_new, alice, manager):
    old, new = old_and_new["old"], old_and_new["new"]
    before = timezone.now() - timedelta(days=180)
    retention.compact_batch(before, 0, size=3)  # part of the old run is compacted
    assert retention.compacted_count(old) == 3
    kept = Delivery.objects.filter(attempt=old).order_by("pk")
    bounce(kept[0])
    complain(kept[1])
    bounce(old_and_new["new_rows"][0])
    assert +summed() == reference()
    figures = report_figures(old.mailing)
    assert figures == {"sent": 8, "bounced": 1, "complained": 1, "bounce_rate": 12.5,
                       "complaint_rate": 12.5, "total": 8}
    assert report_figures(new.mailing)["bounced"] == 1

    assert retention.compact_old_deliveries() == 5  # the rest of the old run, bounced rows included
    assert +summed() == reference()
    assert report_figures(old.mailing) == figures
    call_command("rebuild_statistics")
    assert +summed() == reference()
    assert report_figures(old.mailing) == figures
    totals = stats.dashboard(manager)
    assert totals["returns"] == {"bounced": 1, "complained": 0, "bounce_rate": 25.0, "complaint_rate": 0.0}


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_catch_ups_and_compaction_keep_the_counts_equal_to_the_rows(alice, settings):
    """Threads with their own connections: bounces and complaints arrive while catch-ups and
    compaction batches run; the watermark's lock, taken first by each, keeps them apart."""
    import threading

    from django.db import connections

    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections need PostgreSQL (SQLite serialises every writer)")
    settings.DELIVERY_RETENTION_DAYS = 100
    old, old_rows = sent_run(alice, 30, started_at=timezone.now() - timedelta(days=200))
    new, new_rows = sent_run(alice, 30)
    rollup.catch_up()
    errors = []

    def work(job):
        try:
            job()
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connections.close_all()

    def reports_of(rows):
        def send():
            for index, row in enumerate(rows):
                (bounce if index % 2 else complain)(row)
        return send

    def catch_ups():
        for _ in range(5):
            rollup.catch_up()

    jobs = (reports_of(old_rows[::3]), reports_of(new_rows[::2]), reports_of(new_rows[1::4]), catch_ups,
            lambda: retention.compact_old_deliveries(size=4))
    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rollup.catch_up()
    assert +summed() == reference()
    returned = sum(n for (run, _day, status, _code), n in reference().items() if status in (S.BOUNCED, S.COMPLAINED))
    assert returned > 0


# --- The pages ------------------------------------------------------------------------------

def test_the_report_counts_bounces_and_complaints_and_lists_them_with_the_servers_words(client, alice):
    run, (bounced, complained, kept) = sent_run(alice, 3)
    url = reverse("admin:mailings_mailing_report", args=[run.mailing_id])
    client.force_login(alice)
    assert client.get(url).context["report"]["summary"]["bounced"] == 0  # now cached

    bounce(bounced)
    complain(complained)
    response = client.get(url)

    summary = response.context["report"]["summary"]
    assert {k: summary[k] for k in ("sent", "bounced", "complained", "bounce_rate", "complaint_rate")} == {
        "sent": 3, "bounced": 1, "complained": 1, "bounce_rate": 33.3, "complaint_rate": 33.3}
    assert {k: summary[k] for k in ("sent", "failed", "unknown", "rate")} == direct_counts(Delivery.objects.all())
    row = response.context["report"]["attempts"]["rows"][0]
    assert (row["n_sent"], row["n_bounced"], row["n_complained"], row["bounce_rate"]) == (3, 1, 1, 33.3)
    page = response.content.decode()
    returns = page[page.index('id="report-returns"'):page.index('id="report-skipped"')]
    assert f'data-delivery="{bounced.pk}"' in returns and f'data-delivery="{complained.pk}"' in returns
    assert f'data-delivery="{kept.pk}"' not in returns
    assert "550 5.1.1" in returns and "User unknown" in returns  # the remote server's words
    assert 'data-figure="bounced">1<' in page and 'data-figure="bounce_rate">33,3 %<' in page


def test_the_list_of_bounced_recipients_is_paged(client, alice):
    run, rows = sent_run(alice, reports.PAGE_SIZE + 2)
    for row in rows:
        bounce(row)
    client.force_login(alice)
    url = reverse("admin:mailings_mailing_report", args=[run.mailing_id])
    first = client.get(url)
    assert len(first.context["report"]["returns"]["rows"]) == reports.PAGE_SIZE
    assert "?rpage=2" in first.content.decode()
    assert len(client.get(url + "?rpage=2").context["report"]["returns"]["rows"]) == 2


def test_someone_elses_bounces_are_not_found(client, alice, bob):
    run, (bounced, _kept) = sent_run(alice, 2)
    bounce(bounced)
    client.force_login(bob)
    assert client.get(reverse("admin:mailings_mailing_report", args=[run.mailing_id]) + "?rpage=1").status_code == 404
    assert client.get(reverse("admin:mailings_attempt_change", args=[run.pk])).status_code == 404
    assert stats.dashboard(bob)["returns"] == {"bounced": 0, "complained": 0, "bounce_rate": None,
                                               "complaint_rate": None}


def test_a_runs_page_shows_its_rates(client, alice):
    run, (bounced, complained, *_rest) = sent_run(alice, 5)
    bounce(bounced)
    bounce(complained)
    complain(complained)
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_attempt_change", args=[run.pk])).content.decode()
    assert 'data-figure="bounce_rate">20,0 %<' in page and "1 возврат из 5 отправленных" in page
    assert 'data-figure="complaint_rate">20,0 %<' in page and "1 жалоба из 5 отправленных" in page


def test_both_dashboards_show_the_rates(client, alice, bob, manager):
    run, (a, b, *_rest) = sent_run(alice, 4)
    bob_run, (c, *_bobs) = sent_run(bob, 21)
    rollup.catch_up()
    bounce(a)
    bounce(b)
    complain(c)
    client.force_login(alice)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'data-figure="bounce_rate">50,0 %<' in page and "2 возврата из 4 отправленных" in page
    assert "0 жалоб из 4 отправленных" in page
    client.force_login(manager)
    response = client.get(reverse("admin:index"))
    assert response.context["stats"]["returns"] == {
        "bounced": 2, "complained": 1, "bounce_rate": 8.0, "complaint_rate": 4.0}
    page = response.content.decode()
    assert "2 возврата из 25 отправленных" in page and "1 жалоба из 25 отправленных" in page
    users = {row["email"]: row for row in response.context["stats"]["active_users"]}
    assert (users[alice.email]["bounce_rate"], users[bob.email]["complaint_rate"]) == (50.0, 4.8)


@pytest.mark.parametrize(("count", "sent", "bounces", "complaints"), [
    (1, 1, "1 возврат из 1 отправленного", "1 жалоба из 1 отправленного"),
    (3, 21, "3 возврата из 21 отправленного", "3 жалобы из 21 отправленного"),
    (5, 24, "5 возвратов из 24 отправленных", "5 жалоб из 24 отправленных"),
    (11, 112, "11 возвратов из 112 отправленных", "11 жалоб из 112 отправленных"),
    (22, 1000, "22 возврата из 1 000 отправленных", "22 жалобы из 1 000 отправленных"),
])
def test_the_russian_texts_have_the_right_plural_forms(count, sent, bounces, complaints):
    with translation.override("ru"):
        assert returns_text("bounced", count, sent).replace("\xa0", " ") == bounces
        assert returns_text("complained", count, sent).replace("\xa0", " ") == complaints
    with translation.override("en"):
        assert returns_text("bounced", 1, 2) == "1 bounce of 2 sent"


def test_the_export_carries_each_runs_rates(client, alice):
    run, (bounced, *_rest) = sent_run(alice, 4)
    bounce(bounced)
    client.force_login(alice)
    url = reverse("admin:mailings_mailing_report_export", args=[run.mailing_id, "csv"])
    lines = list(csv.reader(io.StringIO(client.get(url).content.decode("utf-8-sig")), delimiter=";"))
    header, row = lines[1], lines[2]
    assert row[0] == str(run.pk)
    assert dict(zip(header[11:], row[11:])) == {
        "Возвраты": "1", "Жалобы": "0", "Доля возвратов, %": "25.0", "Доля жалоб, %": "0.0"}


def test_the_export_lists_bounced_complained_and_skipped_recipients_with_why(client, alice):
    run, (bounced, complained, *_rest) = sent_run(alice, 4)
    bounce(bounced)
    complain(complained)
    bounced.refresh_from_db()
    client.force_login(alice)
    url = reverse("admin:mailings_mailing_report_export", args=[run.mailing_id, "csv"])
    lines = list(csv.reader(io.StringIO(client.get(url).content.decode("utf-8-sig")), delimiter=";"))
    returns = lines.index(["Возвраты и жалобы"])
    assert lines[returns + 1] == ["Запуск", "Начало запуска", "Получатель", "Статус", "Время отправки", "Ответ сервера"]
    assert [(row[0], row[2], row[3], row[5]) for row in lines[returns + 2:returns + 4]] == [
        (str(run.pk), bounced.email, "возврат (адреса не существует)", bounced.smtp_response),
        (str(run.pk), complained.email, "жалоба (отмечено как спам)", "250 2.0.0 Ok"),
    ]
    assert "User unknown" in bounced.smtp_response  # the bounce's words, not the sending reply
    skipped = lines.index(["Пропущенные получатели"])
    assert lines[skipped + 1:] == [["Запуск", "Начало запуска", "Получатель", "Причина пропуска"]]


# --- Flat whatever the size -------------------------------------------------------------------

def load(owner, deliveries):
    """A run of ``deliveries`` sent messages, a tenth of them bounced and a tenth complained
    about after its roll-up."""
    run, rows = sent_run(owner, deliveries)
    rollup.catch_up()
    for row in rows[: deliveries // 10]:
        bounce(row)
    for row in rows[deliveries // 10: deliveries // 5]:
        complain(row)
    return run


def cold_queries(client, url):
    # The process-wide content-type cache too: whichever page first needs a content type
    # pays one query, and which one that is depended on the tests run before in the process.
    ContentType.objects.clear_cache()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["alice", "manager"])
def test_the_dashboard_needs_the_same_queries_for_10_and_100_deliveries(client, alice, role, request):
    client.force_login(request.getfixturevalue(role))
    load(alice, 10)
    small = cold_queries(client, reverse("admin:index"))
    load(alice, 100)  # the reports moved the figures on: cold again
    large = cold_queries(client, reverse("admin:index"))
    assert large == small
    assert client.get(reverse("admin:index")).context["stats"]["returns"]["bounced"] == 11


def test_the_report_and_a_runs_page_need_the_same_queries_for_10_and_100_deliveries(client, alice):
    client.force_login(alice)
    small_run, large_run = load(alice, 10), load(alice, 100)
    small = cold_queries(client, reverse("admin:mailings_mailing_report", args=[small_run.mailing_id]))
    large = cold_queries(client, reverse("admin:mailings_mailing_report", args=[large_run.mailing_id]))
    assert large == small
    stats.invalidate_for_mailing(small_run.mailing_id)
    stats.invalidate_for_mailing(large_run.mailing_id)
    small = cold_queries(client, reverse("admin:mailings_attempt_change", args=[small_run.pk]))
    large = cold_queries(client, reverse("admin:mailings_attempt_change", args=[large_run.pk]))
    assert large == small


@pytest.mark.browser
def test_the_rates_and_the_bounced_recipients_in_a_browser(browser_page, outcomes, alice):
    from backoffice.tests.factories import PASSWORD
    from lib.testing.browser import browser_login, screenshot

    recent = outcomes["recent"]
    sent = list(Delivery.objects.filter(attempt=recent, status=S.SENT).order_by("pk"))
    bounce(sent[0])
    complain(sent[1])
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    assert page.locator("[data-figure=bounce_rate]").inner_text() == "20,0 %"  # 1 of 5 sent in 30 days
    assert page.locator("[data-hint=bounce_rate]").inner_text() == "1 возврат из 5 отправленных"
    screenshot(page, "dashboard-bounces")
    page.goto(f"{page.base_url}/admin/mailings/mailing/{recent.mailing_id}/report/")
    returns = page.locator("#report-returns")
    assert returns.locator("tbody tr").count() == 2
    assert returns.get_by_text("User unknown").is_visible()
    assert page.locator("#report-summary [data-figure=complaint_rate]").inner_text() == "12,5 %"  # 1 of 8 sent
    screenshot(page, "report-bounces")
