"""Fault injection for one service: latency, hangs, forced failures, corrupt or hostile bodies,
trickled or oversized answers, outages."""

from __future__ import annotations

import fnmatch
import json
import random
import threading
from dataclasses import dataclass
from typing import Any

from .server import Response

FAULT_KEYWORDS = frozenset(
    {"latency_ms", "jitter_ms", "hang_seconds", "down", "html_instead_of_json", "truncated_json", "fail",
     "slow_lands", "trickle_ms", "trickle_headers", "oversized_bytes", "hostile_json", "hostile_route"}
)
# hostile_json: what a 200 JSON body becomes. `anidado` is 100k-deep arrays; the others replace
# every number in the body (ids included) with NaN, Infinity, null or a string.
HOSTILE_JSON = ("anidado", "nan", "infinito", "nulos", "tipos")
_DEEP = b"[" * 100_000 + b"]" * 100_000

CORRUPT_HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class RouteRule:
    """Applies to the next `count` requests matching `method` and `path` (an fnmatch pattern)."""

    count: int = 1
    method: str | None = None
    path: str = "*"

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "count": self.count}


@dataclass
class FailRule(RouteRule):
    """The matching requests answer `status`."""

    status: int = 500

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "status": self.status}


@dataclass
class SlowRule(RouteRule):
    """The matching requests are processed after `seconds`, whether or not the caller is still
    waiting: a write that lands after the caller gave up (a row lock, a slow disk). Writes to the
    same path queue behind it, as updates of one database row do."""

    seconds: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "seconds": self.seconds}


class Faults:
    """The faults currently active on one service. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random()  # jitter should vary; it must not consume the seed's sequence
        self._release = threading.Event()
        self.clear()

    def clear(self) -> None:
        """Remove every fault and wake requests still sleeping in a hang or latency."""
        with self._lock:
            self.latency_ms = 0
            self.jitter_ms = 0
            self.hang_seconds = 0.0
            self.down = False
            self.html_instead_of_json = False
            self.truncated_json = False
            self.trickle_ms = 0.0  # answer one byte every trickle_ms (the gap between reads stays short)
            self.trickle_headers = False  # trickle the status line and headers too, not only the body
            self.oversized_bytes = 0  # pad 200 JSON bodies with whitespace up to this size
            self.hostile_json = ""
            self.hostile_route: RouteRule | None = None  # only there (method, path pattern); None: everywhere
            self.fail_rules: list[FailRule] = []
            self.slow_rules: list[SlowRule] = []
        self.release()

    def release(self) -> None:
        """Wake every request sleeping in a hang or a latency right now."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    def update(self, **keywords: Any) -> None:
        unknown = set(keywords) - FAULT_KEYWORDS
        if unknown:
            raise ValueError(f"unknown fault keyword(s): {', '.join(sorted(unknown))}")
        with self._lock:
            for key, value in keywords.items():
                if key == "fail":
                    self.fail_rules.extend(_fail_rules(value))
                elif key == "slow_lands":
                    self.slow_rules.extend(_slow_rules(value))
                elif key in ("down", "html_instead_of_json", "truncated_json", "trickle_headers"):
                    setattr(self, key, bool(value))
                elif key == "hostile_json":
                    if value and value not in HOSTILE_JSON:
                        raise ValueError(f"hostile_json must be one of {', '.join(HOSTILE_JSON)}")
                    self.hostile_json = value or ""
                elif key == "hostile_route":
                    self.hostile_route = None if not value else RouteRule(
                        count=0, method=value.get("method"), path=value.get("path") or "*")
                elif key == "oversized_bytes":
                    self.oversized_bytes = int(value or 0)
                else:
                    setattr(self, key, float(value or 0))

    def wait(self) -> bool:
        """Sleep for the configured hang and latency. False if `release()` cut the wait short."""
        with self._lock:
            seconds = self.hang_seconds + (self.latency_ms + self._random.uniform(0, self.jitter_ms)) / 1000
            release = self._release
        if seconds <= 0:
            return True
        return not release.wait(seconds)

    def take_failure(self, method: str, path: str) -> int | None:
        """The status to fail this request with, consuming one use of the first matching rule."""
        with self._lock:
            for rule in self.fail_rules:
                if rule.matches(method, path):
                    rule.count -= 1
                    if rule.count <= 0:
                        self.fail_rules.remove(rule)
                    return rule.status
        return None

    def take_slow(self, method: str, path: str) -> float | None:
        """Seconds to hold this request before processing it, consuming one use of the first matching rule."""
        with self._lock:
            for rule in self.slow_rules:
                if rule.matches(method, path):
                    rule.count -= 1
                    if rule.count <= 0:
                        self.slow_rules.remove(rule)
                    return rule.seconds
        return None

    def corrupt(self, response: Response, method: str = "", path: str = "") -> Response:
        """Break a successful JSON body the way a misbehaving proxy or a cut connection would."""
        if response.status != 200 or not response.is_json:
            return response
        if self.html_instead_of_json:
            return Response(200, CORRUPT_HTML.encode(), "text/html; charset=utf-8", response.headers)
        if self.truncated_json:
            cut = response.body[: max(1, len(response.body) // 2)]
            return Response(200, cut, response.content_type, response.headers)
        body = response.body
        if self.hostile_json and (self.hostile_route is None or self.hostile_route.matches(method, path)):
            body = _hostile(body, self.hostile_json)
        if self.oversized_bytes > len(body):
            body += b" " * (self.oversized_bytes - len(body))  # still valid JSON, just huge
        trickle = self.trickle_ms / 1000
        if body is response.body and not trickle:
            return response
        return Response(200, body, response.content_type, response.headers, trickle_seconds=trickle,
                        trickle_headers=self.trickle_headers and bool(trickle), trickle_release=self._release)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "jitter_ms": self.jitter_ms,
                "hang_seconds": self.hang_seconds,
                "down": self.down,
                "html_instead_of_json": self.html_instead_of_json,
                "truncated_json": self.truncated_json,
                "trickle_ms": self.trickle_ms,
                "trickle_headers": self.trickle_headers,
                "oversized_bytes": self.oversized_bytes,
                "hostile_json": self.hostile_json,
                "hostile_route": self.hostile_route.as_dict() if self.hostile_route else None,
                "fail": [rule.as_dict() for rule in self.fail_rules],
                "slow_lands": [rule.as_dict() for rule in self.slow_rules],
            }


def _hostile(body: bytes, kind: str) -> bytes:
    if kind == "anidado":
        return _DEEP
    replacement = {"nan": float("nan"), "infinito": float("inf"), "nulos": None, "tipos": "12.5"}[kind]

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return replacement
        return value

    # allow_nan (the default) writes NaN / Infinity: exactly the invalid JSON wanted here.
    return json.dumps(swap(json.loads(body)), ensure_ascii=False).encode()


def _fail_rules(value: Any) -> list[FailRule]:
    specs = value if isinstance(value, list) else [value]
    rules = []
    for spec in specs:
        if spec is None:
            continue
        rules.append(
            FailRule(
                status=int(spec.get("status", 500)),
                count=int(spec.get("count", 1)),
                method=spec.get("method"),
                path=spec.get("path") or "*",
            )
        )
    return rules


def _slow_rules(value: Any) -> list[SlowRule]:
    specs = value if isinstance(value, list) else [value]
    return [SlowRule(seconds=float(spec.get("seconds", 1.0)), count=int(spec.get("count", 1)),
                     method=spec.get("method"), path=spec.get("path") or "*")
            for spec in specs if spec is not None]
