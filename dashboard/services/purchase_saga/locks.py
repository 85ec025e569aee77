"""Per-product locks through Django's cache, so they hold across worker processes when it is shared.

The products service only takes absolute stock values (no compare-and-set), so two purchases of the
same product must not interleave "read stock, write stock - n". A lock is a cache key added with
`cache.add` (atomic on every backend) holding a random token, with a TTL so a crashed worker cannot
block a product forever. Locks are taken in product id order (no deadlock between two purchases that
share products), with one bounded wait for the whole set, and released only by their owner.
While a write's outcome is unknown its holder keeps the lock (`extend`) until the outcome is known.
With Redis, "still ours? then delete (or extend)" is one server-side script per set of locks, so a
lock that expired and was taken by another purchase in between is never deleted or extended by us;
other caches (one process: locmem) look and act in two steps.

A cache that cannot be reached is a 503 `cache_no_disponible` (`CacheUnavailable`), never a 500.
"""
from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from dashboard.appendlog import redis_client, uses_redis
from dashboard.errors import CacheUnavailable, LockUnavailable
from dashboard.sharedcache import cache_call

KEY_PREFIX = "bloqueo:producto:"


def lock_key(product_id: int) -> str:
    return f"{KEY_PREFIX}{product_id}"


# KEYS: the locks; ARGV[1]: our token; ARGV[2]: a TTL in seconds to extend them (absent: delete them).
_IF_OURS = """
local done = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    if ARGV[2] then redis.call('EXPIRE', key, ARGV[2]) else redis.call('DEL', key) end
    done = done + 1
  end
end
return done
"""


def _if_ours_in_redis(keys: list[str], token: int, ttl: int | None = None) -> int:
    """Delete (or extend by `ttl`) those of `keys` that hold `token`, atomically, in one round trip.

    The token is an int: Django's Redis serializer stores ints as their digits, so the script can
    compare them."""
    full = [cache.make_and_validate_key(key) for key in keys]
    return int(redis_client().eval(_IF_OURS, len(full), *full, token, *([ttl] if ttl is not None else [])))


class ProductLocks:
    """The locks of one set of products; use as a context manager (`with ProductLocks(ids):`)."""

    def __init__(self, product_ids: Iterable[int]) -> None:
        self.product_ids = sorted(set(product_ids))
        self.token = secrets.randbits(62) + 1  # an int: see `_if_ours_in_redis`
        self._held: list[int] = []

    @property
    def _ttl(self) -> int:
        # Some backends (memcached, redis) only take whole seconds.
        return max(1, math.ceil(settings.STOCK_LOCK_TIMEOUT))

    def acquire(self) -> None:
        """Take every lock within `STOCK_LOCK_WAIT` seconds, or none at all (503)."""
        deadline = time.monotonic() + settings.STOCK_LOCK_WAIT
        for product_id in self.product_ids:
            if not self._add_until(product_id, deadline):
                self.release()
                raise self._unavailable([product_id])
            self._held.append(product_id)

    def _add_until(self, product_id: int, deadline: float) -> bool:
        attempt = 0
        while True:
            if cache_call(cache.add, lock_key(product_id), self.token, self._ttl):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Short, jittered polls: holders keep a lock for a few upstream round trips only.
            time.sleep(min(remaining, 0.005 * (2 ** min(attempt, 4)) * (0.5 + random.random())))
            attempt += 1

    def lost(self) -> list[int]:
        """Products whose lock is no longer ours (its TTL ran out and maybe someone else took it).
        One look for the whole set (one round trip with Redis)."""
        if not self._held:
            return []
        values = cache_call(cache.get_many, [lock_key(pid) for pid in self._held])
        return [pid for pid in self._held if values.get(lock_key(pid)) != self.token]

    def ensure_held(self) -> None:
        """Raise 503 unless every lock is still ours; called right before writing stock."""
        lost = self.lost()
        if lost:
            raise self._unavailable(lost)

    def reacquire(self) -> bool:
        """Take back lost locks (bounded wait); True when every lock is ours again."""
        deadline = time.monotonic() + settings.STOCK_LOCK_WAIT
        return all(self._add_until(pid, deadline) for pid in self.lost())

    def extend(self) -> None:
        """Give our locks a fresh TTL (a write with an unknown outcome keeps its product locked)."""
        if not self._held:
            return
        if uses_redis():
            cache_call(_if_ours_in_redis, [lock_key(pid) for pid in self._held], self.token, self._ttl)
            return
        for product_id in self._held:
            key = lock_key(product_id)
            if cache_call(cache.get, key) == self.token:
                cache_call(cache.touch, key, self._ttl)

    def release(self) -> None:
        """Delete only the locks that still hold our token; an expired one may be someone else's now.

        A cache that went away meanwhile is not an error here: its locks went with it (or expire)."""
        held, self._held = self._held, []
        if not held:
            return
        keys = [lock_key(pid) for pid in held]
        try:
            if uses_redis():
                cache_call(_if_ours_in_redis, keys, self.token)
                return
            values = cache_call(cache.get_many, keys)
            ours = [key for key in keys if values.get(key) == self.token]
            if ours:
                cache_call(cache.delete_many, ours)
        except CacheUnavailable:
            pass

    def _unavailable(self, product_ids: list[int]) -> LockUnavailable:
        return LockUnavailable(
            _("El producto está siendo actualizado por otra compra. Intente de nuevo."),
            details={"productos": product_ids},
        )

    def __enter__(self) -> ProductLocks:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
