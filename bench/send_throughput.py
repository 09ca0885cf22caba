#!/usr/bin/env python
"""Sending throughput: a whole mailing run, database included, against plain smtplib.

    .venv/bin/python bench/send_throughput.py [--sizes 10000,100000] [--workers 1,2] [--keep] [--dkim]

For each size it creates a mailing with that many clients in a fresh database (a temporary
SQLite file unless DATABASE_URL is set), then a separate worker process claims the run and
delivers it through ``mailings.delivery`` (the worker's code path) to a fast local sink:
postfix's ``smtp-sink`` when installed, else aiosmtpd. The reference, measured in the same
run against the same sink, is plain ``smtplib`` sending the same number of pre-built
messages over one connection, and postfix's ``smtp-source`` (one session, then as many as
the most workers) when installed. ``--workers 1,2`` measures the run delivered by one worker
process, then by two on the same run (the second joins it, as ``join_run`` does). The worker's peak memory (max RSS) is printed per size:
recipients are streamed in batches, so it should stay flat as the list grows.
``--dkim`` configures a new RSA 2048 DKIM key (as DKIM_* variables, which the worker
inherits), so every message of the run is signed; the smtplib reference stays unsigned (the
target is a ratio to it), and a second reference, plain smtplib signing each message with
``lib.dkim.sign`` just before sending it, shows what signing alone costs a sender that has
no database at all. The load average (``uptime``) is printed before and after each size,
and the CPU time per message of the worker(s) and of the smtplib loop (best round of each):
on a shared machine it moves less than the wall-clock figures, though it leaves out the
CPU of the database server and the sink.
"""
import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMTP_SOURCE = "/usr/sbin/smtp-source"
sys.path.insert(0, str(ROOT))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink():
    """(description, stop function, port) of a fast SMTP sink on loopback."""
    port = free_port()
    if shutil.which("smtp-sink"):
        # smtp-sink refuses to run as root without a user to drop privileges to.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        process = subprocess.Popen(["smtp-sink", *user, f"127.0.0.1:{port}", "1000"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return "postfix smtp-sink", lambda: (process.terminate(), process.wait()), port
            except OSError:
                time.sleep(0.05)
        process.kill()
    from lib.smtp_server import LocalSMTPServer

    server = LocalSMTPServer(port=port).start()
    server.store = lambda received: None  # a sink: keep nothing
    return "aiosmtpd (smtp-sink not installed)", server.stop, port


def setup_django(database_url):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def create_mailing(size):
    """A mailing with ``size`` clients, written in bulk; returns its id."""
    from django.utils import timezone

    from backoffice.models import User
    from mailings.models import Client, Mailing, Message

    owner = User.objects.create_user(email=f"bench{size}-{time.time_ns()}@example.com", password="bench-password-1",
                                     full_name="Bench")
    message = Message.objects.create(
        owner=owner, subject="Новости для {{ full_name }}",
        body="<h1>Здравствуйте, {{ full_name }}!</h1><p>Письмо для {{ email }}. " + "Текст новости. " * 40 + "</p>",
    )
    mailing = Mailing.objects.create(owner=owner, message=message, start_at=timezone.now())
    through = Mailing.clients.through
    for start in range(0, size, 5000):
        chunk = Client.objects.bulk_create(
            Client(owner=owner, email=f"r{i:06d}@example.net", full_name=f"Получатель {i}")
            for i in range(start, min(size, start + 5000))
        )
        through.objects.bulk_create(through(mailing_id=mailing.pk, client_id=c.pk) for c in chunk)
    return mailing.pk


def peak_rss_kb():
    """This process's peak resident memory since its exec (VmHWM; ru_maxrss would include
    the parent's memory at fork time on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker(mailing_id, port, joins=False):
    """Runs in its own process: claim and deliver the run (or, ``joins``, wait for it to be
    claimed and help deliver it), report its start and end (Unix time) and peak memory."""
    from django.conf import settings
    from django.utils import timezone

    from mailings import services
    from mailings.delivery import loop
    from mailings.models import Attempt, Mailing
    from mailings.runs import claim

    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.MAILING_RATE_LIMIT = 0
    rss_before = peak_rss_kb()
    cpu_before = cpu_seconds()
    if joins:
        while not (attempt := Attempt.objects.filter(mailing_id=mailing_id).first()):
            time.sleep(0.005)
        started = time.time()
        attempt = loop.join(attempt.pk)
    else:
        started = time.time()
        services.mailing_saved(mailing=Mailing.objects.get(pk=mailing_id))
        attempt = claim.claim_scheduled_run(mailing_id=mailing_id, now=timezone.now())
        attempt = loop.deliver(attempt)
    print(json.dumps({
        "started": started, "ended": time.time(), "status": attempt.status, "cpu": cpu_seconds() - cpu_before,
        "rss_before_kb": rss_before, "rss_peak_kb": peak_rss_kb(),
    }))


def prebuilt_messages(count):
    """``count`` ready-to-send messages like the mailing's (built once, specialised by replace:
    how they are built is not measured)."""
    from email.message import EmailMessage

    template = EmailMessage()
    template["From"] = "noreply@example.com"
    template["To"] = "RCPT"
    template["Subject"] = "Новости для NAME"
    template.set_content("Здравствуйте, NAME! " + "Текст новости. " * 40)
    template.add_alternative("<h1>Здравствуйте, NAME!</h1><p>" + "Текст новости. " * 40 + "</p>", subtype="html")
    raw = template.as_bytes()
    return [(f"r{i:06d}@example.net", raw.replace(b"RCPT", f"r{i:06d}@example.net".encode()))
            for i in range(count)]


def reference(messages, port, dkim_key=None):
    """Plain smtplib: the pre-built messages over one connection to the same sink (each
    signed with ``dkim_key`` right before it is sent, when given). Returns (wall, CPU) seconds."""
    import smtplib

    from lib import dkim

    started, cpu = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for to, data in messages:
            smtp.sendmail("noreply@example.com", [to], dkim.sign(data, dkim_key) if dkim_key else data)
    return time.perf_counter() - started, time.process_time() - cpu


def cpu_seconds():
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def smtp_source(size, port, sessions):
    """postfix's smtp-source: ``size`` messages of about our message's size over ``sessions``
    parallel sessions; None when it is not installed."""
    if not os.path.exists(SMTP_SOURCE):
        return None
    started = time.perf_counter()
    subprocess.run([SMTP_SOURCE, "-s", str(sessions), "-m", str(size), "-l", "3000", "-f", "noreply@example.com",
                    "-t", "r@example.net", f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def mailing_run(size, port, database_url, workers=1):
    """One mailing of ``size`` recipients delivered by ``workers`` fresh worker processes:
    the first claims the run, the others join it. Its time runs from the claim to the last
    worker's end."""
    from django.db import connections

    from mailings.models import Attempt, Delivery, DeliveryStatus

    mailing_id = create_mailing(size)
    connections.close_all()
    command = [sys.executable, __file__, "--worker", str(mailing_id), "--port", str(port),
               "--database-url", database_url]
    processes = [subprocess.Popen(command + (["--joins"] if i else []), stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "LOG_LEVEL": "WARNING"}) for i in range(workers)]
    reports = []
    for process in processes:
        output, _ = process.communicate()
        assert process.returncode == 0, output
        reports.append(json.loads(output.strip().splitlines()[-1]))
    attempt = Attempt.objects.get(mailing_id=mailing_id)
    sent = Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.SENT).count()
    assert sent == size and attempt.status == "success", (sent, attempt.status, reports)
    connections.close_all()
    return {
        "seconds": max(r["ended"] for r in reports) - reports[0]["started"], "cpu": sum(r["cpu"] for r in reports),
        "rss_before_kb": reports[0]["rss_before_kb"], "rss_peak_kb": max(r["rss_peak_kb"] for r in reports),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--workers", default="1", help="worker processes per run, e.g. 1,2")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--joins", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--dkim", action="store_true", help="sign every message (new RSA 2048 key)")
    args = parser.parse_args()
    if args.worker:
        setup_django(args.database_url)
        return worker(args.worker, args.port, joins=args.joins)

    workdir = tempfile.mkdtemp(prefix="bench-send-")
    if args.dkim:
        configure_dkim(Path(workdir))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bench.sqlite3"
    setup_django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    workers = [int(n) for n in args.workers.split(",")]
    sink, stop_sink, port = start_sink()
    db = "SQLite (temporary file)" if database_url.startswith("sqlite") else database_url.split("@")[-1]
    signing = "DKIM-signed (RSA 2048: dkimpy + OpenSSL RSA, lib/dkim.py)" if args.dkim else "not DKIM-signed"
    dkim_key = configured_dkim_key() if args.dkim else None
    print(f"sink: {sink} on 127.0.0.1:{port}; database: {db}; machine: {os.cpu_count()} CPUs, {platform_name()}; "
          f"messages {signing}")
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            # The machine may be shared: interleave the two measurements and keep the best
            # of each (three rounds up to 10,000 recipients, one above).
            messages = prebuilt_messages(size)
            runs, references, sources = {n: [] for n in workers}, [], {n: [] for n in (1, max(workers))}
            signed_references = []
            load_before = load_average()
            for _ in range(3 if size <= 10000 else 1):
                for n in workers:
                    runs[n].append(mailing_run(size, port, database_url, n))
                references.append(reference(messages, port))
                if dkim_key:
                    signed_references.append(reference(messages, port, dkim_key))
                for sessions in sources:
                    sources[sessions].append(smtp_source(size, port, sessions))
            del messages
            print(f"{size:>7} recipients: load average {load_before} before, {load_average()} after", flush=True)
            ref_seconds, ref_cpu = min(references)
            if signed_references:
                signed_seconds, signed_cpu = min(signed_references)
                print(f"{size:>7} messages: plain smtplib, each signed by lib.dkim.sign: {size / signed_seconds:7.0f} "
                      f"msg/s ({signed_seconds:.1f} s) | ratio to unsigned smtplib {ref_seconds / signed_seconds:.2f} | "
                      f"CPU {signed_cpu / size * 1000:.3f} ms/msg", flush=True)
            ref = size / ref_seconds
            for n in workers:
                run = min(runs[n], key=lambda r: r["seconds"])
                ours = size / run["seconds"]
                print(
                    f"{size:>7} recipients, {n} worker(s): mailing run {ours:7.0f} msg/s ({run['seconds']:.1f} s, "
                    f"DB included) | plain smtplib {ref:7.0f} msg/s ({ref_seconds:.1f} s) | ratio {ours / ref:.2f} | "
                    f"worker peak RSS {run['rss_peak_kb'] / 1024:.0f} MB (after start-up "
                    f"{run['rss_before_kb'] / 1024:.0f} MB) | rounds {len(runs[n])} | CPU per message: worker(s) "
                    f"{run['cpu'] / size * 1000:.3f} ms, plain smtplib {ref_cpu / size * 1000:.3f} ms, "
                    f"ratio {ref_cpu / run['cpu']:.2f}",
                    flush=True,
                )
            for sessions, seconds in sources.items():
                if None not in seconds:
                    print(f"{size:>7} messages: postfix smtp-source, {sessions} session(s): "
                          f"{size / min(seconds):7.0f} msg/s ({min(seconds):.1f} s)", flush=True)
    finally:
        stop_sink()
        shutil.rmtree(workdir, ignore_errors=True)


def configure_dkim(workdir):
    """A new key in ``workdir``, named by DKIM_* variables for this process and the worker."""
    from lib import dkim

    key_file = workdir / "dkim.pem"
    key_file.write_bytes(dkim.generate_key())
    key_file.chmod(0o600)
    os.environ.update(DKIM_DOMAIN="example.com", DKIM_SELECTOR="bench", DKIM_PRIVATE_KEY_FILE=str(key_file))


def configured_dkim_key():
    """The key configure_dkim named, loaded as the worker's settings load it."""
    from lib import dkim

    return dkim.load_key(os.environ["DKIM_DOMAIN"], os.environ["DKIM_SELECTOR"],
                         Path(os.environ["DKIM_PRIVATE_KEY_FILE"]).read_bytes())


def load_average():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def platform_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
