"""Import and export of clients through the admin pages."""
import io

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from mailings.models import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


IMPORT_URL = reverse("admin:mailings_client_import")
EXPORT_URL = reverse("admin:mailings_client_export")


def upload(client, content, name="clients.csv", **extra):
    return client.post(IMPORT_URL, {"import_file": SimpleUploadedFile(name, content), **extra})


def test_the_import_page_imports_and_reports(client, alice):
    client.force_login(alice)
    assert client.get(IMPORT_URL).status_code == 200
    content = "email;full_name\r\nann@example.com;Анна\r\nbad;X\r\n".encode("cp1251")
    response = upload(client, content)
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.created, [(e.line, "bad" in e.message) for e in report.errors]) == (1, [(3, True)])
    page = response.content.decode()
    assert "import-report" in page and "bad" in page
    assert list(Client.objects.filter(owner=alice).values_list("email", "full_name")) == [("ann@example.com", "Анна")]
    assert LogEntry.objects.filter(user=alice).count() == 1


def test_all_or_nothing_from_the_page(client, alice):
    client.force_login(alice)
    response = upload(client, b"email\nann@example.com\nbad\n", all_or_nothing="on")
    assert response.context["report"].rolled_back
    assert not Client.objects.exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"email,full_name\n", "no rows"),
        (b"name\nAnn\n", "No e-mail column"),
    ],
    ids=["empty-file", "header-only", "no-email-column"],
)
def test_an_unusable_file_gets_a_clear_message_not_a_500(client, alice, content, message):
    client.force_login(alice)
    response = upload(client, content)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["import_file"])
    assert message.lower() in errors.lower()
    assert not Client.objects.exists()


def test_a_file_over_the_limit_is_refused_with_a_message(client, alice, settings):
    # The 100 MB case is in test_importing (a sparse file); here the page shows the refusal.
    settings.CLIENT_IMPORT_MAX_BYTES = 1024 * 1024
    client.force_login(alice)
    response = upload(client, b"email\n" + b"x@example.com\n" * 100_000)
    assert response.status_code == 200
    assert "limit is 1 MB" in " ".join(response.context["form"].errors["import_file"])
    assert not Client.objects.exists()


def test_import_with_another_owners_ids_leaves_their_clients_alone(client, alice, bob):
    bobs = Client.objects.create(owner=bob, email="shared@example.com", full_name="Bob's")
    client.force_login(alice)
    upload(client, f"id,email,full_name\n{bobs.pk},shared@example.com,Mine now\n".encode())
    bobs.refresh_from_db()
    assert (bobs.owner, bobs.full_name) == (bob, "Bob's")
    assert Client.objects.get(owner=alice).full_name == "Mine now"


def test_a_manager_cannot_import(client, manager):
    client.force_login(manager)
    assert client.get(IMPORT_URL).status_code == 403
    assert upload(client, b"email\nann@example.com\n").status_code == 403
    assert not Client.objects.exists()


def export(client, file_format):
    # The export form lists the formats; find the index of the wanted one.
    form = client.get(EXPORT_URL).context["form"]
    index = next(value for value, label in form.fields["format"].choices if label.lower() == file_format)
    return client.post(EXPORT_URL, {"format": index, "resource": 0, "clientresource_email": "on",
                                    "clientresource_full_name": "on", "clientresource_comment": "on"})


def test_export_holds_only_own_clients_and_escapes_formulas(client, alice, bob):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="=HYPERLINK(\"http://x\")", comment="+1")
    Client.objects.create(owner=alice, email="ben@example.com", full_name="-2", comment="@cmd")
    Client.objects.create(owner=bob, email="bobs@example.com", full_name="Bob's client")
    client.force_login(alice)
    response = export(client, "csv")
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert "bobs@example.com" not in text
    assert "'=HYPERLINK" in text and "'+1" in text and "'-2" in text and "'@cmd" in text
    for line in text.splitlines()[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in line.split(";"))


def test_xlsx_export_escapes_formulas_too(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="=1+2")
    client.force_login(alice)
    response = export(client, "xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "'=1+2" in values and "=1+2" not in values


def test_an_export_reimports_to_the_same_clients(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="=1+2", comment="c")
    client.force_login(alice)
    exported = export(client, "csv").content
    Client.objects.all().delete()
    report = upload(client, exported).context["report"]
    assert report.created == 1
    assert Client.objects.get(owner=alice).full_name == "=1+2"


def test_a_manager_exports_everyones_clients_read_only(client, manager, alice, bob):
    Client.objects.create(owner=alice, email="ann@example.com")
    Client.objects.create(owner=bob, email="ben@example.com")
    client.force_login(manager)
    text = export(client, "csv").content.decode("utf-8-sig")
    assert "ann@example.com" in text and "ben@example.com" in text


def test_an_upload_streamed_to_a_temporary_file_imports_the_same(client, alice, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100  # bigger uploads go to a temporary file on disk
    client.force_login(alice)
    rows = "".join(f"c{i}@example.com;Клиент {i}\r\n" for i in range(200))
    report = upload(client, ("email;full_name\r\n" + rows).encode("utf-8-sig")).context["report"]
    assert report.created == 200
    assert Client.objects.get(owner=alice, email="c7@example.com").full_name == "Клиент 7"
