"""A mailing's report page and its export: scoped by owner, filtered through the URL."""
import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailings.statistics import queries as stats
from mailings.statistics import reports
from mailings.models import Delivery
from mailings.models import DeliveryStatus as S
from mailings.tests.factories import add_deliveries, direct_counts, make_attempt, make_mailing

pytestmark = pytest.mark.django_db


def report_url(mailing, **params):
    from urllib.parse import urlencode

    url = reverse("admin:mailings_mailing_report", args=[mailing.pk])
    return f"{url}?{urlencode(params)}" if params else url


def export_url(mailing, fmt, **params):
    from urllib.parse import urlencode

    url = reverse("admin:mailings_mailing_report_export", args=[mailing.pk, fmt])
    return f"{url}?{urlencode(params)}" if params else url


def test_the_owner_sees_every_run_with_figures_equal_to_the_delivery_rows(client, outcomes, alice):
    client.force_login(alice)
    newsletter = outcomes["newsletter"]
    response = client.get(report_url(newsletter))
    assert response.status_code == 200
    page = response.content.decode()
    rows = list(Delivery.objects.filter(attempt__mailing=newsletter).exclude(attempt__kind="test"))
    summary = response.context["report"]["summary"]
    expected = direct_counts(rows)
    assert {k: summary[k] for k in ("sent", "failed", "unknown", "rate")} == expected
    for key in ("sent", "failed", "unknown"):
        assert f'data-figure="{key}">{expected[key]}<' in page
    for attempt in (outcomes["recent"], outcomes["old"], outcomes["untimed"]):
        assert f'data-attempt="{attempt.pk}"' in page
    assert f'data-attempt="{outcomes["test_send"].pk}"' not in page
    assert "2 of 11 refused" in page  # the server's response of the run
    assert "5.1.1 User unknown" in page and "4.7.0 Try again later" in page  # failed recipients
    assert 'data-type="bar"' in page  # the chart of runs
    assert reverse("admin:mailings_attempt_change", args=[outcomes["recent"].pk]) in page


def test_someone_elses_report_is_not_found(client, outcomes, alice):
    client.force_login(alice)
    assert client.get(report_url(outcomes["bobs"])).status_code == 404
    assert client.get(export_url(outcomes["bobs"], "csv")).status_code == 404
    assert client.get(export_url(outcomes["bobs"], "xlsx")).status_code == 404


@pytest.mark.parametrize("object_id", ["999999", "abc", "1%20OR%201=1"])
def test_a_report_of_a_missing_mailing_is_not_found(client, alice, object_id):
    client.force_login(alice)
    assert client.get(f"/admin/mailings/mailing/{object_id}/report/").status_code == 404


def test_a_manager_reads_anyones_report(client, outcomes, manager):
    client.force_login(manager)
    response = client.get(report_url(outcomes["bobs"]))
    assert response.status_code == 200
    assert "Bob&#x27;s bounce" in response.content.decode()


def test_a_content_manager_is_refused_the_report(client, outcomes, content_manager):
    client.force_login(content_manager)
    assert client.get(report_url(outcomes["newsletter"])).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login(client, outcomes):
    response = client.get(report_url(outcomes["newsletter"]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_filters_live_in_the_url_and_narrow_the_report(client, outcomes, alice):
    client.force_login(alice)
    today = timezone.localdate()
    params = {"start": (today - timedelta(days=7)).isoformat(), "end": today.isoformat(), "status": "failure"}
    response = client.get(report_url(outcomes["newsletter"], **params))
    page = response.content.decode()
    assert {row["pk"] for row in response.context["report"]["attempts"]["rows"]} == {
        outcomes["recent"].pk, outcomes["untimed"].pk,
    }
    assert f'data-attempt="{outcomes["old"].pk}"' not in page
    # The form shows the filter, and the export links carry it.
    assert f'value="{params["start"]}"' in page and f'value="{params["end"]}"' in page
    assert '<option value="failure" selected>' in page
    assert f"export/csv/?start={params['start']}&amp;end={params['end']}&amp;status=failure" in page


def test_an_old_period_leaves_only_the_old_run(client, outcomes, alice):
    client.force_login(alice)
    day = timezone.localdate(outcomes["old"].started_at)
    response = client.get(report_url(outcomes["newsletter"], start=day, end=day))
    assert [row["pk"] for row in response.context["report"]["attempts"]["rows"]] == [outcomes["old"].pk]
    assert response.context["report"]["summary"]["sent"] == 3


@pytest.mark.parametrize("params", [
    {"start": "yesterday", "end": "31.02.2026", "status": "bogus", "page": "-3", "fpage": "x"},
    {"start": "2026-05-10", "end": "2026-05-01"},
    {"page": "99999999999999999999"},
    {"start": "0001-01-01", "end": "9999-12-31"},
])
def test_bad_filter_input_is_shown_not_fatal(client, outcomes, alice, params):
    client.force_login(alice)
    response = client.get(report_url(outcomes["newsletter"], **params))
    assert response.status_code == 200
    assert response.context["report"]["summary"]["runs"] >= 1
    csv_response = client.get(export_url(outcomes["newsletter"], "csv", **params))
    assert csv_response.status_code == 200


def test_an_unknown_export_format_is_not_found(client, outcomes, alice):
    client.force_login(alice)
    assert client.get(export_url(outcomes["newsletter"], "pdf")).status_code == 404


def parse_csv(response):
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_the_csv_export_holds_the_runs_and_the_failed_recipients(client, outcomes, alice):
    client.force_login(alice)
    response = client.get(export_url(outcomes["newsletter"], "csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = parse_csv(response)
    blanks = [index for index, line in enumerate(lines) if line == []]
    assert [lines[blank + 1] for blank in blanks] == [["Неудавшиеся получатели"], ["Возвраты и жалобы"],
                                                      ["Пропущенные получатели"]]
    runs, failures = lines[2:blanks[0]], lines[blanks[0] + 3:blanks[1]]
    recent = next(line for line in runs if line[0] == str(outcomes["recent"].pk))
    assert recent[6:10] == ["5", "3", "1", "62.5"]  # sent, failed, unknown, rate
    assert recent[10] == "2 of 11 refused"
    assert len(runs) == 3
    emails = {line[2] for line in failures}
    assert emails == set(
        Delivery.objects.filter(attempt__mailing=outcomes["newsletter"], status__in=["failed", "deferred"])
        .values_list("email", flat=True)
    )


def test_exported_cells_cannot_run_as_spreadsheet_formulas(client, outcomes, alice):
    client.force_login(alice)
    text = client.get(export_url(outcomes["newsletter"], "csv")).content.decode("utf-8-sig")
    cells = [cell for line in csv.reader(io.StringIO(text), delimiter=";") for cell in line]
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)


def test_the_xlsx_export_has_a_sheet_per_table_and_respects_filters(client, outcomes, alice):
    client.force_login(alice)
    response = client.get(export_url(outcomes["newsletter"], "xlsx", status="failure"))
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    runs, failures, _returns, _skipped = book.worksheets
    assert [sheet.title for sheet in book.worksheets] == [
        "Запуски", "Неудавшиеся получатели", "Возвраты и жалобы", "Пропущенные получатели"]
    run_rows = list(runs.iter_rows(min_row=2, values_only=True))
    assert {row[0] for row in run_rows} == {outcomes["recent"].pk, outcomes["untimed"].pk}
    failure_rows = list(failures.iter_rows(min_row=2, values_only=True))
    assert len(failure_rows) == 4
    assert "'=HYPERLINK(\"http://x\")" in {row[7] for row in failure_rows}
    untimed = next(row for row in run_rows if row[0] == outcomes["untimed"].pk)
    assert untimed[10] == "'=cmd|' /C calc'!A0"


def test_long_tables_are_paged_and_pages_keep_the_filter(client, alice):
    client.force_login(alice)
    mailing = make_mailing(alice, 0)
    for offset in range(reports.PAGE_SIZE + 5):
        run = make_attempt(mailing, timezone.now() - timedelta(hours=offset + 1), status="failure")
        add_deliveries(run, S.FAILED, 1, smtp_code=550, smtp_response="nope")
    response = client.get(report_url(mailing, status="failure"))
    page = response.content.decode()
    assert len(response.context["report"]["attempts"]["rows"]) == reports.PAGE_SIZE
    assert "?status=failure&amp;page=2" in page
    second = client.get(report_url(mailing, status="failure", page=2))
    assert len(second.context["report"]["attempts"]["rows"]) == 5


def test_the_change_page_and_the_list_link_to_the_report(client, outcomes, alice):
    client.force_login(alice)
    url = report_url(outcomes["newsletter"])
    change = client.get(reverse("admin:mailings_mailing_change", args=[outcomes["newsletter"].pk]))
    assert url in change.content.decode()
    changelist = client.get(reverse("admin:mailings_mailing_changelist"))
    assert url in changelist.content.decode()


def load(owner, runs, per_status):
    mailing = make_mailing(owner, 0)
    for offset in range(runs):
        run = make_attempt(mailing, timezone.now() - timedelta(days=offset))
        for status in (S.SENT, S.FAILED, S.DEFERRED, S.UNKNOWN):
            add_deliveries(run, status, per_status, sent_at=run.started_at, smtp_code=550,
                           smtp_response="no")
    return mailing


def queries_of(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_a_report_needs_the_same_queries_for_little_and_much_data(
    client, alice, django_assert_max_num_queries
):
    client.force_login(alice)
    small = queries_of(client, report_url(load(alice, runs=1, per_status=1)))
    large = queries_of(client, report_url(load(alice, runs=reports.PAGE_SIZE + 10, per_status=3)))
    assert large == small
    filtered = report_url(load(alice, runs=20, per_status=2), status="success", page=2)
    with django_assert_max_num_queries(small):
        client.get(filtered)


def test_a_report_is_refreshed_when_a_run_of_its_mailing_finishes(client, outcomes, alice):
    client.force_login(alice)
    newsletter = outcomes["newsletter"]
    before = client.get(report_url(newsletter)).context["report"]["summary"]["sent"]
    run = make_attempt(newsletter, timezone.now())
    add_deliveries(run, S.SENT, 4, sent_at=timezone.now())
    assert client.get(report_url(newsletter)).context["report"]["summary"]["sent"] == before
    stats.invalidate_for_mailing(newsletter.pk)
    assert client.get(report_url(newsletter)).context["report"]["summary"]["sent"] == before + 4


def test_period_shortcuts_keep_the_status_filter(client, outcomes, alice):
    client.force_login(alice)
    page = client.get(report_url(outcomes["newsletter"], status="failure")).content.decode()
    today = timezone.localdate()
    week_ago = (today - timedelta(days=6)).isoformat()
    assert f"?start={week_ago}&amp;end={today.isoformat()}&amp;status=failure" in page
