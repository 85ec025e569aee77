"""Append-only logs of JSON lines, on disk or in Redis: the purchase journal and the decision history.

- `FileLog`: each append is one `write` with O_APPEND (a line lands whole even with several processes
  appending) then `fsync`, and the folder is synced when the file is created, so an acknowledged
  line survives a SIGKILL or a power cut.
- `RedisLog`: the same lines in one Redis list through the cache's own client (RPUSH is atomic;
  every worker and host sees one order). Durable as the Redis server is configured (`appendonly yes`).
Both read incrementally (`read_from`, a cursor) or the last lines (`read_tail`).

Both can be compacted (`compact`) while other processes append and read: only lines a `keep` test
refuses go. A file is rewritten beside itself and renamed over it under an exclusive `flock`, which
every append takes shared (an append that waited re-opens the file if it was renamed meanwhile); a
Redis list is rewritten by one script that keeps whatever was appended after it was read. Each
compaction makes a new generation (a new file, whose first line names it; a Redis counter): a reader's
cursor names its generation, and `read_from` says `reset` when the log it was reading was compacted,
to read it anew.
"""
from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache

# The first line of a compacted file: an event of no attempt, which readers skip.
GENERATION_PREFIX = b'{"evento":"compactado","generacion":"'
GENERATION_LINE_MAX = 200

# (lines, cursor, reset): the lines after `cursor`, the cursor after them, and whether the log was
# compacted since `cursor` (the lines are then the whole log, from its start).
Read = tuple[list[bytes], Any, bool]


def uses_redis() -> bool:
    """True when the configured cache is Redis (the logs then live there, shared)."""
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def redis_client() -> Any:
    """The redis-py client of the configured Django RedisCache, for what its API lacks (lists,
    scripts). Writes always go to its first server, so one client sees every key written."""
    return cache._cache.get_client(write=True)  # noqa: SLF001


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _sync_folder(path: Path) -> None:
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileLog:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, line: bytes, *, sync: bool = True) -> None:
        """One or more newline-terminated lines, in one `write` and one `fsync`. `sync=False` leaves
        the `fsync` to the next synced append (or `sync()`): it covers every earlier write to the file."""
        new = not self.path.exists()
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Shared: appends go on together; a compaction holds it exclusive while it rewrites.
        with self._current(os.O_WRONLY | os.O_APPEND | os.O_CREAT, fcntl.LOCK_SH) as fd:
            os.write(fd, line)
            if sync or new:
                os.fsync(fd)
        if new:  # the file's name must survive a crash too
            _sync_folder(self.path)

    @contextmanager
    def _current(self, flags: int, lock: int) -> Iterator[int]:
        """The file now at `path`, open and `flock`ed: opened again when a compaction renamed a new
        file over it while we waited for the lock (this one is then the old one)."""
        while True:
            fd = os.open(self.path, flags, 0o600)
            try:
                fcntl.flock(fd, lock)
                if os.fstat(fd).st_ino == _inode(self.path):
                    yield fd
                    return
            finally:
                os.close(fd)

    def sync(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_from(self, cursor: Any) -> Read:
        """The lines after `cursor` (None: from the start).

        The cursor is (inode, first line, offset): a compacted file has a new inode, but a file
        system reuses inode numbers, so its first line (a compaction writes a unique one) names the
        generation too."""
        inode, head, offset = cursor if cursor is not None else (None, b"", 0)
        try:
            with self.path.open("rb") as handle:
                current = os.fstat(handle.fileno()).st_ino
                first = handle.readline(GENERATION_LINE_MAX)
                # An empty file read before has no first line to compare: reading on from 0 is right.
                reset = inode is not None and (current != inode or (head != b"" and first != head))
                if reset:
                    offset = 0
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], None, inode is not None
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        if not first.endswith(b"\n") and len(first) < GENERATION_LINE_MAX:
            first = b""  # still being written: compared once it is (its first bytes, at most)
        return data[:end].splitlines(), (current, first, offset + end), reset

    def compact(self, keep: Callable[[bytes], bool]) -> tuple[int, int]:
        """Rewrite the file with only the lines `keep` accepts: (kept, dropped)."""
        if not self.path.exists():
            return 0, 0
        # Exclusive: appends wait until the new file is in place.
        with self._current(os.O_RDONLY, fcntl.LOCK_EX) as fd, os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read()
            end = data.rfind(b"\n") + 1
            lines = [line for line in data[:end].splitlines() if not line.startswith(GENERATION_PREFIX)]
            kept = [line for line in lines if keep(line)]
            # A first line of its own names this generation of the file (see read_from).
            generation = GENERATION_PREFIX + uuid.uuid4().hex.encode() + b'"}'
            temporary = self.path.with_name(self.path.name + ".compactando")
            out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(out, b"".join(line + b"\n" for line in [generation, *kept]) + data[end:])
                os.fsync(out)
            finally:
                os.close(out)
            os.replace(temporary, self.path)
            _sync_folder(self.path)
        return len(kept), len(lines) - len(kept)

    def read_tail(self, limit: int) -> list[bytes]:
        lines, _cursor, _reset = self.read_from(None)
        return [line for line in lines if line.strip()][-limit:]

    def describe(self) -> str:
        return f"archivo {self.path}"


# KEYS: the list, its generation counter. ARGV: the generation read ("" if none), how many lines were
# read, then the lines kept of those. -1 when another compaction came first; else how many lines had
# been pushed since the read (kept after the others).
_COMPACT = """
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return -1 end
local tail = redis.call('LRANGE', KEYS[1], tonumber(ARGV[2]), -1)
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 1000 do redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
for i = 1, #tail, 1000 do redis.call('RPUSH', KEYS[1], unpack(tail, i, math.min(i + 999, #tail))) end
redis.call('INCR', KEYS[2])
return #tail
"""


class RedisLog:
    def __init__(self, name: str) -> None:
        self.name = name

    def client(self) -> Any:
        return redis_client()

    @property
    def key(self) -> str:
        return cache.make_key(self.name)

    def append(self, line: bytes, *, sync: bool = True) -> None:
        """One or more newline-terminated lines, pushed in one RPUSH (atomic; as durable as the
        Redis server is configured, whatever `sync` says)."""
        self.client().rpush(self.key, *line.rstrip(b"\n").split(b"\n"))

    def sync(self) -> None:
        pass

    @property
    def generation_key(self) -> str:
        return cache.make_key(self.name + ":generacion")

    def _read(self, start: int) -> tuple[bytes | None, list[bytes]]:
        pipe = self.client().pipeline(transaction=True)  # the generation and the lines of the same list
        pipe.get(self.generation_key)
        pipe.lrange(self.key, start, -1)
        generation, lines = pipe.execute()
        return generation, list(lines)

    def read_from(self, cursor: Any) -> Read:
        """The lines after `cursor` (None: from the start); the cursor is (generation, index)."""
        generation, index = cursor if cursor is not None else (None, 0)
        current, lines = self._read(index)
        reset = cursor is not None and current != generation
        if reset:
            current, lines = self._read(0)
            index = 0
        return lines, (current, index + len(lines)), reset

    def compact(self, keep: Callable[[bytes], bool]) -> tuple[int, int]:
        """Rewrite the list with only the lines `keep` accepts: (kept, dropped). Lines pushed while
        this ran are kept, after the others, in their order."""
        client = self.client()
        for _attempt in range(5):
            generation, lines = self._read(0)
            kept = [line for line in lines if keep(line)]
            tail = client.eval(_COMPACT, 2, self.key, self.generation_key, generation or b"", len(lines), *kept)
            if tail >= 0:
                return len(kept), len(lines) - len(kept)
        raise RuntimeError("the Redis log kept being compacted by someone else")

    def read_tail(self, limit: int) -> list[bytes]:
        return list(self.client().lrange(self.key, -limit, -1))

    def describe(self) -> str:
        return "redis (CACHE_URL)"
