"""Rate limits shared by every worker: a run's MAILING_RATE_LIMIT and per-domain caps.

A limit is a chain of sending slots ``1/rate`` seconds apart (a token bucket of depth one,
in the GCRA form): each send reserves the next free slot with ONE atomic operation on a
shared store, then sleeps until it. Two workers on one run therefore share the run's rate
instead of each getting the whole of it, and a cap on a domain holds whichever runs and
workers mail it.

The store is Redis (a Lua script: read, advance and write the key atomically) when the
cache is django-redis, otherwise the database (one ``RateSlot`` row per limit, advanced by
one INSERT … ON CONFLICT DO UPDATE … RETURNING, atomic on PostgreSQL and SQLite alike).
Slot times are Unix times from the workers' clocks: keep those clocks in sync (NTP).
A reserved slot a worker never uses (it was killed) is simply lost: the limit only errs
on the slow side.
"""
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from mailings.models import RateSlot

# How long a limit's state outlives its last reservation (seconds) in Redis.
KEY_LIFETIME = 3600

RESERVE_SCRIPT = """
local next_at = tonumber(redis.call('GET', KEYS[1]) or '0')
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
if next_at < now then next_at = now end
redis.call('SET', KEYS[1], string.format('%.6f', next_at + interval), 'EX', tonumber(ARGV[3]))
return string.format('%.6f', next_at)
"""


class RedisSlots:
    """Slots kept in Redis, reserved by a Lua script (atomic on the Redis server)."""

    def __init__(self, redis_client, prefix):
        self.client, self.prefix = redis_client, prefix
        self.script = redis_client.register_script(RESERVE_SCRIPT)

    def reserve(self, key, now, interval):
        slot = self.script(keys=[f"{self.prefix}:rate:{key}"], args=[repr(now), repr(interval), KEY_LIFETIME])
        return float(slot)

    def peek(self, key):
        value = self.client.get(f"{self.prefix}:rate:{key}")
        return float(value) if value is not None else 0.0

    def forget(self, key):
        self.client.delete(f"{self.prefix}:rate:{key}")


class DatabaseSlots:
    """Slots kept in ``RateSlot`` rows, reserved by one upsert (the row lock serialises it)."""

    TABLE = RateSlot._meta.db_table

    def reserve(self, key, now, interval):
        # The new next_at is max(stored, now) + interval; the slot reserved is that minus
        # interval. CASE instead of GREATEST/MAX: the same SQL on PostgreSQL and SQLite.
        sql = (
            f"INSERT INTO {self.TABLE} (key, next_at) VALUES (%s, %s) "
            f"ON CONFLICT (key) DO UPDATE SET next_at = "
            f"CASE WHEN {self.TABLE}.next_at > %s THEN {self.TABLE}.next_at ELSE %s END + %s "
            f"RETURNING next_at"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, now + interval, now, now, interval])
            return cursor.fetchone()[0] - interval

    def peek(self, key):
        return RateSlot.objects.filter(key=key).values_list("next_at", flat=True).first() or 0.0

    def forget(self, key):
        RateSlot.objects.filter(key=key).delete()


def shared_slots():
    """Redis when the cache is django-redis, else the database."""
    if settings.CACHES["default"]["BACKEND"].startswith("django_redis."):
        return RedisSlots(cache.client.get_client(write=True), settings.CACHES["default"].get("KEY_PREFIX", ""))
    return DatabaseSlots()


def run_key(attempt_id):
    return f"run:{attempt_id}"


def domain_key(domain):
    return f"domain:{domain}"


def hold_key(domain):
    return f"hold:{domain}"


# Replies by which a capped domain asks its senders to slow down.
SLOW_DOWN_CODES = (421, 451)


class SharedRateLimiter:
    """Waits for a slot of every limit a send is under: the run's and its domain's."""

    def __init__(self, *, attempt_id, rate, domain_rates=None, slots=None,
                 clock=time.time, sleep=time.sleep):
        self.limits = {}  # key -> seconds between two sends
        if rate:
            self.limits[run_key(attempt_id)] = 1.0 / rate
        self.domain_intervals = {domain: 1.0 / r for domain, r in (domain_rates or {}).items() if r}
        self.slots = slots if slots is not None else (shared_slots() if self.limits or self.domain_intervals
                                                      else None)
        self.clock, self.sleep = clock, sleep

    def capped_domain(self, email):
        """The recipient's domain when it has a cap, else None."""
        domain = email.rpartition("@")[2].lower()
        return domain if domain in self.domain_intervals else None

    def keys_for(self, email):
        keys = [key for key in self.limits]
        domain = self.capped_domain(email)
        if domain:
            keys.append(domain_key(domain))
        return keys

    def hold(self, email, seconds):
        """A capped domain answered 421/451: no worker mails it for ``seconds`` (a hold
        already longer stays). Returns whether the recipient's domain is capped."""
        domain = self.capped_domain(email)
        if domain:
            # Reserving at now + seconds with no interval leaves max(hold, now + seconds).
            self.slots.reserve(hold_key(domain), self.clock() + seconds, 0.0)
        return bool(domain)

    def held(self, email):
        """Whether the recipient's capped domain is on hold now."""
        domain = self.capped_domain(email)
        return bool(domain) and self.slots.peek(hold_key(domain)) > self.clock()

    def interval(self, key):
        return self.limits.get(key) or self.domain_intervals[key.partition(":")[2]]

    def wait(self, email, before_sleep=None):
        """Reserve this send's slot in every limit it is under and sleep until the latest;
        ``before_sleep`` runs first when waiting is needed."""
        keys = self.keys_for(email)
        if not keys:
            return
        now = self.clock()
        slot = max(self.slots.reserve(key, now, self.interval(key)) for key in keys)
        if slot > now:
            if before_sleep:
                before_sleep()
            self.sleep(slot - now)
