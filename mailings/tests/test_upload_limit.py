"""An oversized upload is refused by its declared length, before its body is read (issue #9, item 19)."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.test import Client as HttpClient
from django.test.client import BOUNDARY, encode_multipart
from django.urls import reverse

from mailings.models import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

IMPORT_URL = reverse("admin:mailings_client_import")
CHUNKS = []


class RecordingHandler(FileUploadHandler):
    """Records every chunk Django's multipart parser hands over, and passes it on."""

    def receive_data_chunk(self, raw_data, start):
        CHUNKS.append(len(raw_data))
        return raw_data

    def file_complete(self, file_size):
        return None


@pytest.fixture
def recorded_chunks(settings):
    settings.FILE_UPLOAD_HANDLERS = [
        f"{__name__}.RecordingHandler",
        "django.core.files.uploadhandler.MemoryFileUploadHandler",
        "django.core.files.uploadhandler.TemporaryFileUploadHandler",
    ]
    CHUNKS.clear()
    return CHUNKS


def post_import(browser, declared_length=None):
    body = encode_multipart(BOUNDARY, {"import_file": SimpleUploadedFile("c.csv", b"email\nann@example.com\n")})
    extra = {"CONTENT_LENGTH": str(declared_length)} if declared_length else {}
    return browser.post(IMPORT_URL, body, content_type=f"multipart/form-data; boundary={BOUNDARY}", **extra)


def test_a_large_declared_length_is_refused_before_the_body_is_read(alice, recorded_chunks):
    browser = HttpClient(enforce_csrf_checks=True)  # CSRF would read the body: it must not get to
    browser.force_login(alice)

    response = post_import(browser, declared_length=200 * 1024 * 1024)

    assert response.status_code == 413
    assert response.content.decode() == "The file is 200 MB; the limit is 50 MB. Split it into smaller files."
    assert recorded_chunks == []
    assert not Client.objects.exists()


def test_an_upload_within_the_limit_reaches_the_import(client, alice, recorded_chunks):
    client.force_login(alice)

    response = post_import(client)

    assert response.status_code == 200
    assert recorded_chunks != []  # the recorder sees uploads that are read
    assert Client.objects.get().email == "ann@example.com"
