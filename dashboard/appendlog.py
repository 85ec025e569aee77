"""Append-only logs of JSON lines, on disk or in Redis: the purchase journal and the decision history.

- `FileLog`: each append is one `write` with O_APPEND (a line lands whole even with several processes
  appending) then `fsync`, and the folder is synced when the file is created, so an acknowledged
  line survives a SIGKILL or a power cut.
- `RedisLog`: the same lines in one Redis list through the cache's own client (RPUSH is atomic;
  every worker and host sees one order). Durable as the Redis server is configured (`appendonly yes`).
Both read incrementally (`read_from`, a cursor) or the last lines (`read_tail`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache


def uses_redis() -> bool:
    """True when the configured cache is Redis (the logs then live there, shared)."""
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


class FileLog:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, line: bytes, *, sync: bool = True) -> None:
        """One or more newline-terminated lines, in one `write` and one `fsync`. `sync=False` leaves
        the `fsync` to the next synced append (or `sync()`): it covers every earlier write to the file."""
        new = not self.path.exists()
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            if sync or new:
                os.fsync(fd)
        finally:
            os.close(fd)
        if new:  # the file's name must survive a crash too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def sync(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_from(self, cursor: int) -> tuple[list[bytes], int]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(cursor)
                data = handle.read()
        except FileNotFoundError:
            return [], 0
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        return data[:end].splitlines(), cursor + end

    def read_tail(self, limit: int) -> list[bytes]:
        lines, _cursor = self.read_from(0)
        return [line for line in lines if line.strip()][-limit:]

    def describe(self) -> str:
        return f"archivo {self.path}"


class RedisLog:
    def __init__(self, name: str) -> None:
        self.name = name

    def client(self) -> Any:
        return cache._cache.get_client(write=True)  # Django's RedisCache: the underlying redis-py client

    @property
    def key(self) -> str:
        return cache.make_key(self.name)

    def append(self, line: bytes, *, sync: bool = True) -> None:
        """One or more newline-terminated lines, pushed in one RPUSH (atomic; as durable as the
        Redis server is configured, whatever `sync` says)."""
        self.client().rpush(self.key, *line.rstrip(b"\n").split(b"\n"))

    def sync(self) -> None:
        pass

    def read_from(self, cursor: int) -> tuple[list[bytes], int]:
        lines = self.client().lrange(self.key, cursor, -1)
        return list(lines), cursor + len(lines)

    def read_tail(self, limit: int) -> list[bytes]:
        return list(self.client().lrange(self.key, -limit, -1))

    def describe(self) -> str:
        return "redis (CACHE_URL)"
