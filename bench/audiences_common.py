"""What bench/audiences.py and bench/audiences_changelist.py share: Django set-up, timing,
the generated owner's clients and their removal."""
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OWNER = "bench-audiences@example.com"


def setup_django(workdir):
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key-0123456789-0123456789-0123456789")
    os.environ.setdefault("CACHE_DIR", str(Path(workdir) / "cache"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label, func, reference_label=None, reference=None):
    started = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - started
    line = f"{label}: {elapsed:.2f} s"
    if reference:
        ref_started = time.perf_counter()
        reference()
        line += f"   (reference, {reference_label}: {time.perf_counter() - ref_started:.2f} s)"
    print(line, flush=True)
    return result, elapsed


def write_csv(path, rows, prefix):
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("email;full_name\r\n")
        for i in range(rows):
            out.write(f"{prefix}{i}@example.com;Клиент {i}\r\n")


def generate_clients(owner, count, start):
    """``count`` more clients of ``owner`` in one INSERT … SELECT generate_series."""
    from django.db import connection

    from mailings.models import Client

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Client._meta.db_table} (owner_id, email, full_name, comment, created_at, updated_at) "
            "SELECT %s, 'g' || i || '@example.com', 'Клиент ' || i, '', now(), now() "
            "FROM generate_series(%s, %s) AS i", [owner.pk, start, start + count - 1],
        )
        cursor.execute(f"ANALYZE {Client._meta.db_table}")


def clean_up(owner_ids):
    """Delete the benchmark's rows in set-based statements (the ORM's cascade would load a
    million clients to delete them)."""
    from django.db import connection

    from backoffice.models import User
    from mailings.models import Client, ClientList, Delivery, Mailing, Message

    Delivery.objects.filter(attempt__mailing__owner__in=owner_ids).delete()
    Mailing.objects.filter(owner__in=owner_ids).delete()
    Message.objects.filter(owner__in=owner_ids).delete()
    members = Client.lists.through.objects.filter(clientlist__owner__in=owner_ids)
    members._raw_delete(members.db)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Client._meta.db_table} WHERE owner_id IN ({', '.join(['%s'] * len(owner_ids))})",
                       list(owner_ids))
    ClientList.objects.filter(owner__in=owner_ids).delete()
    User.objects.filter(pk__in=owner_ids).delete()

