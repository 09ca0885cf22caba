"""Fill a throwaway PostgreSQL database with statistics-sized data.

    .venv/bin/python bench/generate_stats_data.py            # 1,000 / 100,000 / 1,000,000
    .venv/bin/python bench/generate_stats_data.py --scale 0.01
    .venv/bin/python bench/generate_stats_data.py --per-run 1000   # 10,000,000 deliveries

Creates 50 users owning 1,000 mailings, 100,000 clients and 10,000 runs of 100 deliveries
each (1,000,000 deliveries) spread over the last 60 days, with a realistic mix of outcomes
(sent, failed, deferred, unknown, skipped). The database is ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/mailing_stats_bench``); it is dropped and
created again, never the project's own database.

``--per-run`` sets the recipients of each run (100 by default; 1000 gives 10,000,000
deliveries, and needs that many clients per owner, which it adds).

Clients and runs are written with PostgreSQL's COPY from model instances (so new fields with
Python defaults are filled in), users, messages and mailings with bulk_create, and the
deliveries by one ``INSERT ... SELECT`` over ``generate_series`` inside PostgreSQL. The
statistics' counts (``DeliveryStat``) are then built by ``rebuild_statistics``, timed.
"""
import argparse
import io
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mailing_stats_bench"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
PASSWORD = "bench-password-123"
OWNERS = 50
RUNS_PER_MAILING = 10
DAYS = 60
OUTCOMES = [  # (status, share, smtp code, reply)
    ("sent", 0.90, 250, "2.0.0 Ok: queued"),
    ("failed", 0.05, 550, "5.1.1 <{email}>: Recipient address rejected: User unknown"),
    ("deferred", 0.02, 421, "4.7.0 Try again later, closing connection"),
    ("unknown", 0.01, None, ""),
    ("skipped", 0.02, None, ""),
]


def database_reachable(url):
    """Whether the PostgreSQL server of ``url`` answers (its database may not exist yet)."""
    import psycopg2

    parts = urlsplit(url)
    try:
        psycopg2.connect(urlunsplit(parts._replace(path="/postgres")), connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


def recreate_database(url):
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def setup_django(url):
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def copy_rows(model, objects):
    """COPY model instances into their table; every concrete field but the primary key."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    buffer = io.StringIO()
    for obj in objects:
        values = []
        for field in fields:
            value = field.get_db_prep_save(getattr(obj, field.attname), connection)
            if value is None:
                values.append(r"\N")
            else:
                text = value.isoformat() if hasattr(value, "isoformat") else str(value)
                values.append(
                    text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
                )
        buffer.write("\t".join(values) + "\n")
    buffer.seek(0)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN", buffer
        )


def insert_deliveries(per_run, seed):
    """Every run's ``per_run`` deliveries in one INSERT ... SELECT: run ``i`` of an owner goes to
    that owner's clients from ``i * per_run`` on (wrapping), with the OUTCOMES mix drawn by
    PostgreSQL's ``random()`` (seeded, so a given seed gives the same data)."""
    from django.db import connection

    thresholds, cumulative = [], 0.0
    for status, share, code, reply in OUTCOMES:
        cumulative += share
        thresholds.append((cumulative, status, code, reply))
    def case(pick):
        whens = " ".join(f"WHEN r < {limit} THEN {pick(status, code, reply)}" for limit, status, code, reply in thresholds)
        return f"CASE {whens} END"
    status = case(lambda status, code, reply: f"'{status}'")
    smtp_code = case(lambda status, code, reply: "NULL" if code is None else str(code))
    reply = case(lambda status, code, reply: "'" + reply.replace("'", "''").replace("{email}", "' || email || '") + "'")
    sent_at = case(lambda status, code, reply: "NULL" if status in ("unknown", "skipped") else "started_at + interval '30 seconds'")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed / 1000])
        cursor.execute(
            "CREATE TEMP TABLE pool AS SELECT owner_id, id AS client_id, email, "
            "row_number() OVER (PARTITION BY owner_id ORDER BY id) - 1 AS n FROM mailings_client"
        )
        cursor.execute("CREATE INDEX ON pool (owner_id, n)")
        cursor.execute(
            "CREATE TEMP TABLE runs AS SELECT a.id AS attempt_id, a.started_at, m.owner_id, "
            "row_number() OVER (PARTITION BY m.owner_id ORDER BY a.id) - 1 AS i, "
            "(SELECT count(*) FROM mailings_client c WHERE c.owner_id = m.owner_id) AS size "
            "FROM mailings_attempt a JOIN mailings_mailing m ON m.id = a.mailing_id"
        )
        cursor.execute(f"""
            INSERT INTO mailings_delivery (attempt_id, client_id, email, status, smtp_code, smtp_response,
                                           tries, claim, sent_at)
            SELECT attempt_id, client_id, email, {status}, {smtp_code}, {reply}, 1, '', {sent_at}
            FROM (
                SELECT runs.attempt_id, runs.started_at, pool.client_id, pool.email, random() AS r
                FROM runs CROSS JOIN generate_series(0, %s - 1) AS k
                JOIN pool ON pool.owner_id = runs.owner_id
                         AND pool.n = (runs.i * %s + k) %% runs.size
            ) AS picked
        """, [per_run, per_run])


def generate(scale, seed=1, per_run=100):
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone

    from backoffice import permissions
    from backoffice.models import User
    from mailings.models import Attempt, AttemptStatus, Client, Delivery, Mailing, Message

    rng = random.Random(seed)
    mailings_per_owner = max(1, round(1000 * scale / OWNERS))
    clients_per_owner = max(100, per_run * 2, round(100_000 * scale / OWNERS))
    now = timezone.now()
    password = make_password(PASSWORD)
    with transaction.atomic():
        owners = User.objects.bulk_create(
            User(email=f"owner{n}@bench.example", full_name=f"Owner {n}", password=password,
                 is_staff=True, email_verified_at=now)
            for n in range(OWNERS)
        )
        manager = User.objects.create(email="manager@bench.example", full_name="Manager",
                                      password=password, is_staff=True, email_verified_at=now)
        Group.objects.get(name=permissions.USERS).user_set.add(*owners)
        Group.objects.get(name=permissions.MANAGERS).user_set.add(manager)

        messages = Message.objects.bulk_create(
            Message(owner=owner, subject=f"Newsletter {n} of {owner.full_name}", body="<p>Hi {{ full_name }}</p>")
            for owner in owners for n in range(mailings_per_owner)
        )
        mailings = Mailing.objects.bulk_create(
            Mailing(owner=message.owner, message=message, start_at=now - timedelta(days=DAYS),
                    periodicity="weekly", status="running",
                    next_run_at=now + timedelta(minutes=rng.randint(1, 60 * 24 * 7)),
                    paused_until=now + timedelta(minutes=30) if rng.random() < 0.01 else None,
                    pause_reason="Connection refused by the mail server 3 times in a row")
            for message in messages
        )
        copy_rows(Client, (
            Client(owner=owner, email=f"client{n}.{owner.pk}@bench.example", full_name=f"Client {n}",
                   created_at=now, updated_at=now)
            for owner in owners for n in range(clients_per_owner)
        ))
        copy_rows(Attempt, (
            Attempt(mailing=mailing, kind="scheduled", scheduled_for=started, started_at=started,
                    finished_at=started + timedelta(minutes=2), status=AttemptStatus.SUCCESS,
                    server_response="250 2.0.0 Ok", recipients=per_run)
            for mailing in mailings
            # Distinct times: one run per (mailing, kind, scheduled_for).
            for started in sorted(now - timedelta(minutes=minutes)
                                  for minutes in rng.sample(range(5, DAYS * 24 * 60), RUNS_PER_MAILING))
        ))
        insert_deliveries(per_run, seed)
    return {
        "users": User.objects.count(), "mailings": Mailing.objects.count(),
        "clients": Client.objects.count(), "attempts": Attempt.objects.count(),
        "deliveries": Delivery.objects.count(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000 mailings, 1,000,000 deliveries")
    parser.add_argument("--per-run", type=int, default=100, help="deliveries of each run (1000: 10,000,000)")
    args = parser.parse_args()
    if not BENCH_URL.startswith(("postgres://", "postgresql://")):
        sys.exit("BENCH_DATABASE_URL must be a PostgreSQL URL of a throwaway database")
    if not database_reachable(BENCH_URL):
        print(f"skipped: no PostgreSQL at {BENCH_URL} (set BENCH_DATABASE_URL)")
        return
    started = time.perf_counter()
    recreate_database(BENCH_URL)
    setup_django(BENCH_URL)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    counts = generate(args.scale, per_run=args.per_run)
    rebuild_started = time.perf_counter()
    call_command("rebuild_statistics", verbosity=0)
    print(f"rebuild_statistics: {time.perf_counter() - rebuild_started:.1f} s")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # fresh planner statistics, as a live database has
    print(", ".join(f"{name}: {count:,}" for name, count in counts.items()))
    print(f"generated in {time.perf_counter() - started:.1f} s into {BENCH_URL}")


if __name__ == "__main__":
    main()
