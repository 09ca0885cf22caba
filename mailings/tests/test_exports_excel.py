"""Exports open as they are in Russian Excel and say what they hold (issue #13, items 6 and 16).

CSV: UTF-8 with a byte order mark, ``;`` between cells, the column names the importer reads
back. XLSX: the same columns. The export page lists exactly the file's columns.
"""
import csv
import io
import re

import openpyxl
import pytest
from django.urls import reverse

from mailings.models import Client
from mailings.tests.factories import make_attempt, make_mailing

pytestmark = pytest.mark.django_db

EXPORT_URL = reverse("admin:mailings_client_export")
CLIENT_COLUMNS = ["Почта", "ФИО", "Комментарий", "Отписан", "Добавлен"]


def export_clients(client, file_format):
    form = client.get(EXPORT_URL).context["form"]
    index = next(value for value, label in form.fields["format"].choices if label.lower() == file_format)
    return client.post(EXPORT_URL, {"format": index, "resource": 0})


def test_the_export_page_lists_the_columns_the_file_has(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Анна", comment="VIP")
    client.force_login(alice)
    page = client.get(EXPORT_URL).content.decode()
    listed = re.search(r"<code>\s*(.*?)\s*</code>", page, re.S)
    assert listed is not None, page
    assert [name.strip() for name in listed.group(1).split(",")] == CLIENT_COLUMNS
    rows = list(csv.reader(io.StringIO(export_clients(client, "csv").content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == CLIENT_COLUMNS
    assert rows[1][:4] == ["ann@example.com", "Анна", "VIP", ""]


def test_the_export_offers_csv_and_xlsx(client, alice):
    client.force_login(alice)
    form = client.get(EXPORT_URL).context["form"]
    assert [label for value, label in form.fields["format"].choices if value != ""] == ["csv", "xlsx"]


def test_the_client_csv_has_a_bom_and_semicolons(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Анна Иванова, старшая", comment="a;b")
    client.force_login(alice)
    content = export_clients(client, "csv").content
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == ";".join(CLIENT_COLUMNS)
    assert lines[1].startswith('ann@example.com;Анна Иванова, старшая;"a;b";;')


def test_the_client_xlsx_has_the_same_columns(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com")
    client.force_login(alice)
    sheet = openpyxl.load_workbook(io.BytesIO(export_clients(client, "xlsx").content)).active
    assert [cell.value for cell in sheet[1]] == CLIENT_COLUMNS


def test_an_exported_csv_imports_back_with_every_field(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Анна", comment="из выставки")
    client.force_login(alice)
    exported = export_clients(client, "csv").content
    Client.objects.all().delete()
    upload = io.BytesIO(exported)
    upload.name = "clients.csv"
    report = client.post(reverse("admin:mailings_client_import"), {"import_file": upload}).context["report"]
    assert (report.created, report.error_count) == (1, 0)
    ann = Client.objects.get(owner=alice)
    assert (ann.email, ann.full_name, ann.comment) == ("ann@example.com", "Анна", "из выставки")


def test_the_report_csv_has_a_bom_and_semicolons(client, alice):
    from django.utils import timezone

    mailing = make_mailing(alice)
    make_attempt(mailing, timezone.now())
    client.force_login(alice)
    url = reverse("admin:mailings_mailing_report_export", args=[mailing.pk, "csv"])
    content = client.get(url).content
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Запуски"
    assert lines[1].split(";")[:3] == ["Запуск", "Вид", "Начало"]
