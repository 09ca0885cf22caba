"""Benchmark of the public pages: the home page and a blog post, cached and uncached.

    .venv/bin/python bench/web.py [--seconds 10] [--connections 8] [--workers 2]

What it does, in one run:
1. builds a throwaway SQLite database in a temporary directory with 100,000 clients (some
   addresses shared between owners, in mixed case), 10,000 mailings (10 clients each, mixed
   statuses) and 30 published posts;
2. serves the project with gunicorn on a free loopback port, once with the page cache on and
   once with it off (``PAGE_CACHE=0``; the shared cache itself stays on);
3. loads ``/`` and a blog post from a second process, wrk when installed (``apt-get install
   wrk``) and otherwise a small Python load generator, each run bounded in time;
4. prints requests/s and p99 latency for every case, and the cached/uncached ratio of the
   home page next to the target (>= 10x, p99 < 50 ms).

Everything listens on 127.0.0.1 only; the temporary directory is removed at the end.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 100_000
MAILINGS = 10_000
CLIENTS_PER_MAILING = 10
USERS = 100
POSTS = 30
TARGET_RATIO = 10
TARGET_P99_MS = 50


# --- Data ---------------------------------------------------------------------------------


def build_database(env):
    """Migrate a fresh database and fill it, in a child process that has the bench env."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    subprocess.run([sys.executable, __file__, "--fill"], cwd=ROOT, env=env, check=True)


def fill():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from backoffice.models import User
    from content.models import Post
    from mailings.models import Client, Mailing, MailingStatus, Message

    rng = random.Random(42)
    now = timezone.now()
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(email=f"user{n}@bench.example", full_name=f"User {n}", is_staff=True, email_verified_at=now)
            for n in range(USERS)
        )
        per_user = CLIENTS // USERS
        clients = []
        for n in range(CLIENTS):
            owner = users[n // per_user]
            # One address in five also belongs to another owner, in another case.
            address = f"person{n % (CLIENTS * 4 // 5)}@mail.example"
            clients.append(Client(owner=owner, email=address.upper() if n % 2 else address, full_name=f"Client {n}"))
        clients = Client.objects.bulk_create(clients, batch_size=5000)
        messages = Message.objects.bulk_create(
            Message(owner=user, subject=f"News {user.pk}", body="<p>Hello {{ full_name }}</p>") for user in users
        )
        statuses = [MailingStatus.CREATED, MailingStatus.RUNNING, MailingStatus.COMPLETED]
        mailings = Mailing.objects.bulk_create(
            (
                Mailing(
                    owner=users[n % USERS],
                    message=messages[n % USERS],
                    start_at=now,
                    status=statuses[n % 3],
                    is_enabled=n % 7 != 0,
                )
                for n in range(MAILINGS)
            ),
            batch_size=5000,
        )
        Through = Mailing.clients.through
        links = []
        for n, mailing in enumerate(mailings):
            first = (n % USERS) * per_user  # the owner's own clients
            for client in rng.sample(clients[first : first + per_user], CLIENTS_PER_MAILING):
                links.append(Through(mailing_id=mailing.pk, client_id=client.pk))
        Through.objects.bulk_create(links, batch_size=10000)
        body = "<p>" + "Рассылка — это просто. " * 120 + "</p>"
        for n in range(POSTS):
            Post.objects.create(
                title=f"Статья номер {n}", body=body, is_published=True,
                published_at=now - timezone.timedelta(days=n),
            )
    print(f"data: {len(clients)} clients, {len(mailings)} mailings, {len(links)} mailing-client links, {POSTS} posts")


# --- Server -------------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Server:
    def __init__(self, env, workers):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                "--log-level", "warning", "--keep-alive", "5",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )

    def __enter__(self):
        wait_until_up(self.url + "/", self.process)
        return self

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- Load ---------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def load_with_wrk(url, seconds, connections):
    output = subprocess.run(
        ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if errors or socket_errors:
        raise RuntimeError(f"errors under load on {url}:\n{output}")
    return rps, float(value) * UNITS[unit]


def load_with_python(url, seconds, connections):
    """The fallback load generator, in its own process (see ``python_load``)."""
    result = subprocess.run(
        [sys.executable, __file__, "--load", url, "--seconds", str(seconds), "--connections", str(connections)],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )
    data = json.loads(result.stdout)
    if data["errors"]:
        raise RuntimeError(f"{data['errors']} failed requests on {url}")
    return data["rps"], data["p99_ms"]


MAX_REQUESTS_PER_CONNECTION = 200_000


def python_load(url, seconds, connections):
    """Keep-alive GETs from ``connections`` threads until the time or request budget ends."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    latencies, errors, lock = [], [0], threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            if time.monotonic() >= deadline:
                break
            started = time.perf_counter()
            try:
                conn.request("GET", parts.path or "/")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            mine.append((time.perf_counter() - started) * 1000)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    print(json.dumps({"rps": len(latencies) / elapsed, "p99_ms": p99, "errors": errors[0]}))


# --- Main ---------------------------------------------------------------------------------


def measure(env, workers, paths, seconds, connections, load):
    results = {}
    with Server(env, workers) as server:
        for name, path in paths.items():
            url = server.url + path
            load(url, 2, connections)  # warm up: fills the cache, opens connections
            results[name] = load(url, seconds, connections)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        return fill()
    if args.load:
        return python_load(args.load, args.seconds, args.connections)

    load = load_with_wrk if shutil.which("wrk") else load_with_python
    tool = "wrk" if shutil.which("wrk") else "python load generator (install wrk for better figures)"
    workdir = Path(tempfile.mkdtemp(prefix="bench-web-"))
    base_env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "CACHE_DIR": str(workdir / "cache"),
        "CACHE_KEY_PREFIX": "bench",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "MEDIA_ROOT": str(workdir / "media"),
        "PYTHONWARNINGS": "ignore:No directory at",  # whitenoise: no collectstatic here
    }
    try:
        started = time.monotonic()
        build_database(base_env)
        print(f"database built in {time.monotonic() - started:.0f} s; load: {tool}, "
              f"{args.connections} connections, {args.seconds} s per case, {args.workers} gunicorn workers")
        paths = {"home": "/", "blog post": "/blog/statia-nomer-1/"}
        cached = measure({**base_env, "PAGE_CACHE": "1"}, args.workers, paths, args.seconds, args.connections, load)
        uncached = measure({**base_env, "PAGE_CACHE": "0"}, args.workers, paths, args.seconds, args.connections, load)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'page':<10} {'cache':<6} {'requests/s':>11} {'p99 ms':>8}")
    for name in paths:
        for label, results in (("on", cached), ("off", uncached)):
            rps, p99 = results[name]
            print(f"{name:<10} {label:<6} {rps:>11.1f} {p99:>8.1f}")
    ratio = cached["home"][0] / uncached["home"][0]
    p99 = cached["home"][1]
    verdict = "met" if ratio >= TARGET_RATIO and p99 < TARGET_P99_MS else "NOT met"
    print(f"\nhome page: cached/uncached throughput {ratio:.1f}x (target >= {TARGET_RATIO}x), "
          f"cached p99 {p99:.1f} ms (target < {TARGET_P99_MS} ms): {verdict}")


if __name__ == "__main__":
    main()
