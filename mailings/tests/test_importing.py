"""The streamed client import: formats, encodings, invalid rows, ownership."""
import io

import pytest
from openpyxl import Workbook

from mailings.importing import ImportRefused, import_clients
from mailings.models import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def csv_file(text, encoding="utf-8"):
    return io.BytesIO(text.encode(encoding))


def emails(owner):
    return sorted(Client.objects.filter(owner=owner).values_list("email", flat=True))


def test_it_imports_a_plain_csv(alice):
    report = import_clients(owner=alice, file=csv_file("email,full_name\nann@example.com,Ann\nben@example.com,Ben\n"))
    assert (report.created, report.updated, report.error_count) == (2, 0, 0)
    assert Client.objects.get(owner=alice, email="ann@example.com").full_name == "Ann"


@pytest.mark.parametrize(
    "raw",
    [
        "email;full_name\nann@example.com;Анна Иванова\n".encode("utf-8"),
        b"\xef\xbb\xbf" + "email;full_name\nann@example.com;Анна Иванова\n".encode("utf-8"),
        "email;full_name\r\nann@example.com;Анна Иванова\r\n".encode("cp1251"),
        "E-mail,ФИО\nann@example.com,Анна Иванова\n".encode("cp1251"),
        "\ufeffПочта\tИмя\nann@example.com\tАнна Иванова\n".encode("utf-8"),
    ],
    ids=["utf8-semicolon", "utf8-bom", "cp1251-semicolon", "cp1251-russian-headers", "tab"],
)
def test_it_reads_excel_style_csv_in_any_usual_encoding(alice, raw):
    report = import_clients(owner=alice, file=io.BytesIO(raw))
    assert report.created == 1 and report.error_count == 0
    assert Client.objects.get(owner=alice).full_name == "Анна Иванова"


def test_it_reads_xlsx(alice):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["email", "full_name", "comment"])
    sheet.append(["ann@example.com", "Анна", "vip"])
    sheet.append(["not-an-address", "X", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = import_clients(owner=alice, file=buffer)
    assert report.created == 1
    assert [(e.line, "not-an-address" in e.message) for e in report.errors] == [(3, True)]


def test_a_known_address_is_updated_not_duplicated_whatever_the_case(alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Old", comment="keep")
    report = import_clients(owner=alice, file=csv_file("email,full_name\nANN@Example.com,New\n"))
    assert (report.created, report.updated) == (0, 1)
    client = Client.objects.get(owner=alice)
    assert (client.email, client.full_name, client.comment) == ("ann@example.com", "New", "keep")


def test_an_unchanged_row_is_counted_and_not_written(alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Ann")
    report = import_clients(owner=alice, file=csv_file("email,full_name\nann@example.com,Ann\n"))
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)


def test_invalid_rows_are_reported_with_line_and_reason_and_not_written(alice):
    text = (
        "email,full_name\n"
        "ann@example.com,Ann\n"
        "not-an-address,Bad\n"
        ",No address\n"
        "ann@example.com,Twice\n"
        "ben@example.com," + "x" * 300 + "\n"
        "cid@example.com,Cid\n"
    )
    report = import_clients(owner=alice, file=csv_file(text))
    assert [e.line for e in report.errors] == [3, 4, 5, 6]
    assert "not-an-address" in report.errors[0].message
    assert "empty" in report.errors[1].message
    assert "line 2" in report.errors[2].message
    assert "255" in report.errors[3].message
    assert emails(alice) == ["ann@example.com", "cid@example.com"]
    assert Client.objects.get(owner=alice, email="ann@example.com").full_name == "Ann"


def test_all_or_nothing_writes_nothing_when_a_row_is_invalid(alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Ann")
    report = import_clients(
        owner=alice, file=csv_file("email,full_name\nann@example.com,Changed\nbad,Bad\nnew@example.com,N\n"),
        all_or_nothing=True,
    )
    assert report.rolled_back and report.error_count == 1 and report.created == 0
    assert emails(alice) == ["ann@example.com"]
    assert Client.objects.get(owner=alice).full_name == "Ann"


def test_another_owners_id_never_touches_their_data(alice, bob):
    bobs = Client.objects.create(owner=bob, email="shared@example.com", full_name="Bob's client")
    text = f"id,email,full_name\n{bobs.pk},shared@example.com,Hijacked\n{bobs.pk},other@example.com,Also\n"
    report = import_clients(owner=alice, file=csv_file(text))
    assert report.created == 2
    bobs.refresh_from_db()
    assert (bobs.owner, bobs.email, bobs.full_name) == (bob, "shared@example.com", "Bob's client")
    assert emails(bob) == ["shared@example.com"]
    assert emails(alice) == ["other@example.com", "shared@example.com"]


def test_import_never_resubscribes_an_unsubscribed_client(alice):
    from django.utils import timezone

    Client.objects.create(owner=alice, email="ann@example.com", unsubscribed_at=timezone.now())
    import_clients(owner=alice, file=csv_file("email,full_name\nann@example.com,Ann\n"))
    assert Client.objects.get(owner=alice).unsubscribed_at is not None


def test_a_file_without_header_is_read_as_email_name_comment(alice):
    report = import_clients(owner=alice, file=csv_file("ann@example.com;Ann;friend\nben@example.com;Ben\n"))
    assert report.created == 2
    assert Client.objects.get(owner=alice, email="ann@example.com").comment == "friend"


def test_escaped_formulas_from_an_export_come_back_as_they_were(alice):
    import_clients(owner=alice, file=csv_file("email,full_name\nann@example.com,'=1+2\n"))
    assert Client.objects.get(owner=alice).full_name == "=1+2"


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "empty"),
        (b"email;full_name\r\n", "no rows"),
        (b"name;comment\nAnn;x\n", "No e-mail column"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", ".xls"),
        (b"PK\x03\x04not really a zip", "Excel file cannot be read"),
        (b'email\nann@example.com\n"' + b"a" * 200_000 + b"\n", "field larger than field limit"),
        (b"email,full_name\n" + b"ann@example.com,Ann\n" * 5000 + "ben@example.com,Бен\n".encode("cp1251"),
         "not valid utf-8"),
    ],
    ids=["empty", "only-bom-and-blank-lines", "header-only", "no-email-column", "old-xls", "broken-xlsx",
         "unterminated-quote", "encoding-changes-after-the-sniffed-start"],
)
def test_a_file_that_cannot_be_imported_is_refused_with_a_reason_and_nothing_is_written(alice, raw, reason):
    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=io.BytesIO(raw))
    assert reason in str(refused.value)
    assert emails(alice) == []


def test_a_100_mb_file_is_refused_before_it_is_read(alice, tmp_path):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    upload = TemporaryUploadedFile("big.csv", "text/csv", 100 * 1024 * 1024, "utf-8")
    upload.file.truncate(100 * 1024 * 1024)  # sparse: 100 MB on paper, nothing on disk
    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=upload)
    assert "limit" in str(refused.value)
    upload.close()


def test_big_imports_are_batched_across_several_writes(alice, monkeypatch):
    import mailings.importing as importing

    monkeypatch.setattr(importing, "BATCH_SIZE", 3)
    Client.objects.create(owner=alice, email="u4@example.com", full_name="old")
    rows = "".join(f"u{i}@example.com,User {i}\n" for i in range(10))
    report = import_clients(owner=alice, file=csv_file("email,full_name\n" + rows))
    assert (report.created, report.updated) == (9, 1)
    assert Client.objects.filter(owner=alice).count() == 10


def test_a_row_with_binary_garbage_is_an_invalid_row_not_a_crash(alice):
    report = import_clients(owner=alice, file=csv_file("email\nann@example.com\nbad\x00row@example.com\n"))
    assert report.created == 1 and [e.line for e in report.errors] == [3]


class FileReadDuring(io.BytesIO):
    """A file on which ``meanwhile()`` runs once, when the import reads past ``position``.

    The import reads a CSV lazily inside its transaction: reading past the first chunk of a
    big file happens after it looked up the owner's clients and before it inserts.
    """

    def __init__(self, data, position, meanwhile):
        super().__init__(data)
        self.position, self.meanwhile = position, meanwhile

    def read(self, size=-1):
        if self.meanwhile and self.tell() >= self.position:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().read(size)

    read1 = read


def in_another_thread(function):
    """Run ``function`` on a database connection of its own, as a concurrent request, and wait."""
    import threading

    from django.db import connection

    failures = []

    def run():
        try:
            function()
        except Exception as error:  # reported by the assertion below
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert failures == []


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_clash_with_a_concurrent_import_refuses_the_import_and_writes_nothing(alice):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("two imports at once need PostgreSQL (SQLite serialises the writers)")
    # Alice has no client yet, so neither import looks addresses up: the other import adds
    # ann@ and commits while this one reads its file, then this one meets ann@ on insert.
    padding = "".join(f"p{i:05d}@example.com,Padding {i}\n" for i in range(600))
    data = ("email,full_name\n" + padding + "ann@example.com,X\n").encode()
    assert len(data) > 16384

    def other_import():
        import_clients(owner=alice, file=csv_file("email,full_name\nann@example.com,Ann\n"))

    this_file = FileReadDuring(data, position=8192, meanwhile=lambda: in_another_thread(other_import))
    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=this_file)
    assert "Try again" in str(refused.value)
    assert this_file.meanwhile is None  # the other import did run in the middle
    assert emails(alice) == ["ann@example.com"]
    assert Client.objects.get(owner=alice).full_name == "Ann"


def test_an_import_into_a_list_adds_each_client_of_the_file_once(alice):
    from mailings.models import ClientList

    client_list = ClientList.objects.create(owner=alice, name="Imported")
    member = Client.objects.create(owner=alice, email="member@example.com")
    client_list.clients.add(member)
    known = Client.objects.create(owner=alice, email="known@example.com", full_name="Old")
    outsider = Client.objects.create(owner=alice, email="outsider@example.com")
    report = import_clients(owner=alice, client_list=client_list, file=csv_file(
        "email,full_name\nmember@example.com,\nKNOWN@example.com,New\nnew@example.com,N\nnew@example.com,Again\n"
    ))
    assert (report.created, report.updated, report.error_count) == (1, 1, 1)
    assert sorted(client_list.clients.values_list("email", flat=True)) == [
        "known@example.com", "member@example.com", "new@example.com",
    ]
    assert Client.lists.through.objects.filter(clientlist=client_list).count() == 3
    assert not outsider.lists.exists()
    assert Client.objects.get(pk=known.pk).full_name == "New"
    assert Client.objects.get(owner=alice, email="new@example.com").full_name == "N"


def test_a_first_import_into_a_list_adds_every_new_client_once(alice):
    from mailings.models import ClientList

    client_list = ClientList.objects.create(owner=alice, name="First")
    rows = "".join(f"u{i % 4}@example.com,User {i}\n" for i in range(6))
    report = import_clients(owner=alice, client_list=client_list, file=csv_file("email,full_name\n" + rows))
    assert (report.created, report.error_count) == (4, 2)
    assert sorted(client_list.clients.values_list("email", flat=True)) == [f"u{i}@example.com" for i in range(4)]
    assert Client.objects.get(owner=alice, email="u1@example.com").full_name == "User 1"


def test_a_file_that_turns_unreadable_after_its_first_rows_is_refused_and_nothing_is_written(alice, monkeypatch):
    import mailings.importing as importing

    # Past the 64 KB the encoding is detected on, after some batches were written already.
    monkeypatch.setattr(importing, "BATCH_SIZE", 100)
    rows = "".join(f"u{i:05d}@example.com,User {i}\n" for i in range(3000))
    data = ("email,full_name\n" + rows).encode() + b"bad\xff\xfe@example.com,X\n"
    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=io.BytesIO(data))
    assert "cannot be read near line" in str(refused.value)
    assert not Client.objects.filter(owner=alice).exists()
