"""Internationalised addresses and the encodings of CSV files (issue #9, item 16)."""
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mailings.forms import ClientForm
from mailings.importing import import_clients
from mailings.models import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def test_both_spellings_of_an_international_domain_are_one_client(alice):
    raw = "email,full_name\nann@пример.рф,Анна\nANN@XN--E1AFMKFD.XN--P1AI,Анна П.\n".encode()
    report = import_clients(owner=alice, file=io.BytesIO(raw))
    assert (report.created, [(e.line, "line 2" in e.message) for e in report.errors]) == (1, [(3, True)])
    assert list(Client.objects.filter(owner=alice).values_list("email", flat=True)) == ["ann@xn--e1afmkfd.xn--p1ai"]


def test_a_later_import_in_the_other_spelling_updates_the_same_client(alice):
    import_clients(owner=alice, file=io.BytesIO("email,full_name\nann@xn--e1afmkfd.xn--p1ai,Anna\n".encode()))
    report = import_clients(owner=alice, file=io.BytesIO("email,full_name\nAnn@Пример.РФ,Анна\n".encode()))
    assert (report.created, report.updated) == (0, 1)
    assert Client.objects.get(owner=alice).full_name == "Анна"


def test_the_client_form_finds_the_duplicate_in_the_other_spelling(alice):
    Client.objects.create(owner=alice, email="ann@xn--e1afmkfd.xn--p1ai")
    form = type("OwnedClientForm", (ClientForm,), {"owner": alice})(
        data={"email": "ann@пример.рф", "full_name": "", "comment": ""}
    )
    assert not form.is_valid()
    assert "already have a client" in form.errors["email"][0]


def test_the_client_form_stores_the_ascii_form_of_the_domain(alice):
    form = type("OwnedClientForm", (ClientForm,), {"owner": alice})(
        data={"email": " Ivan@Пример.РФ ", "full_name": "Иван", "comment": ""}
    )
    assert form.is_valid(), form.errors
    assert form.save().email == "ivan@xn--e1afmkfd.xn--p1ai"


def test_an_invalid_international_address_gets_a_line_numbered_error(alice):
    raw = "email\nann@пример.рф\nbob@-пример.рф\n".encode()
    report = import_clients(owner=alice, file=io.BytesIO(raw))
    assert report.created == 1
    assert [(e.line, "not a valid e-mail address" in e.message) for e in report.errors] == [(3, True)]


def test_a_latin1_file_is_read_as_latin1_and_the_report_says_so(client, alice):
    client.force_login(alice)
    raw = "email;full_name\njose@example.com;José Müller\nfr@example.com;François\n".encode("latin-1")
    response = client.post(reverse("admin:mailings_client_import"),
                           {"import_file": SimpleUploadedFile("clients.csv", raw)})
    assert response.context["report"].created == 2
    assert Client.objects.get(email="jose@example.com").full_name == "José Müller"
    assert "The file was read as Windows-1252 (Latin-1) text." in response.content.decode()


@pytest.mark.parametrize("text", ["email;full_name\r\nann@example.com;Анна\r\n",
                                  "E-mail,ФИО\nann@example.com,Анна Иванова\n"])
def test_a_cp1251_file_is_still_read_as_cp1251(alice, text):
    report = import_clients(owner=alice, file=io.BytesIO(text.encode("cp1251")))
    assert report.encoding == "Windows-1251"
    assert Client.objects.get(owner=alice).full_name == text.split("@example.com")[1][1:].strip()


def test_a_utf8_file_reports_utf8(alice):
    report = import_clients(owner=alice, file=io.BytesIO("email\nann@example.com\n".encode()))
    assert report.encoding == "UTF-8"
