"""Fault injection for the Kubernetes API emulator: make chosen requests fail or slow down.

Tests use it to prove that clients (kubectl, the kubernetes Python client, kubernetes.core, this
collection's modules) survive what a real apiserver does under stress: 500 Internal Error, 409
Conflict, 429 Too Many Requests with ``Retry-After``, 503 Service Unavailable, or plain latency.

A rule is a dict; every criterion it names must match for the rule to apply::

    {"method": "PATCH",                       # or a list of methods; case-insensitive; absent = any
     "path_regex": "/apis/apps/v1/.*/statefulsets/.*",   # re.search on the URL path (no query); absent = any
     "user": "admin",                         # exact user name; absent = any user
     "probability": 0.1, "seed": 7,           # fire on a seeded random share of matching requests
     "times": 2,                              # fire this many times, then the rule is spent
     "status": 500,                           # answer with this status instead of handling the request
     "message": "...",                        # Status message (default: what kube-apiserver says)
     "retry_after": 1,                        # seconds, sent as Retry-After (429/503)
     "delay": 0.2}                            # seconds to wait before answering / handling normally

A rule needs ``status`` or ``delay`` (or both). :meth:`FaultInjector.check` returns ``None`` when no
rule fires, else ``(status_code, delay_seconds, message, retry_after)``: ``status_code`` is ``None``
when only delays fired (wait, then handle the request normally). Rules are evaluated in order; delays
of every firing rule add up; the first firing rule with a status decides the answer and later rules are
not consulted (so they are not spent either).
"""

from __future__ import annotations

import random
import re
import threading
from typing import Dict, List, Optional, Sequence, Tuple

# What kube-apiserver says for each status when it produces it itself.
DEFAULT_MESSAGES: Dict[int, str] = {
    409: "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be processing the request",
}

_KNOWN_KEYS = {"method", "path_regex", "user", "probability", "seed", "times", "status", "message", "retry_after", "delay"}

Result = Tuple[Optional[int], float, Optional[str], Optional[int]]


class _Rule:
    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError(f"fault rule must be a mapping, got {type(spec).__name__}")
        unknown = set(spec) - _KNOWN_KEYS
        if unknown:
            raise ValueError(f"fault rule has unknown keys {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
        if spec.get("status") is None and not spec.get("delay"):
            raise ValueError("fault rule needs 'status' or a positive 'delay'")
        methods = spec.get("method")
        if isinstance(methods, str):
            methods = [methods]
        self.methods = {m.upper() for m in methods} if methods else None
        self.path_re = re.compile(spec["path_regex"]) if spec.get("path_regex") is not None else None
        self.user = spec.get("user")
        self.probability = float(spec.get("probability", 1.0))
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault rule probability must be within [0, 1], got {self.probability}")
        self.random = random.Random(spec.get("seed"))
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError(f"fault rule 'times' must be a positive integer, got {times!r}")
        self.remaining: Optional[int] = times
        status = spec.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError(f"fault rule 'status' must be an HTTP error code (400-599), got {status!r}")
        self.status: Optional[int] = status
        self.message: Optional[str] = spec.get("message")
        if self.status is not None and self.message is None:
            self.message = DEFAULT_MESSAGES.get(self.status, f"injected fault (HTTP {self.status})")
        retry_after = spec.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError(f"fault rule 'retry_after' must be a non-negative integer (seconds), got {retry_after!r}")
        self.retry_after: Optional[int] = retry_after
        self.delay = float(spec.get("delay") or 0.0)
        if self.delay < 0:
            raise ValueError(f"fault rule 'delay' must not be negative, got {self.delay}")
        self.spec = dict(spec)
        self.fired = 0

    def matches(self, method: str, path: str, user_name: Optional[str]) -> bool:
        if self.remaining == 0:
            return False
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if self.path_re is not None and not self.path_re.search(path):
            return False
        if self.user is not None and self.user != user_name:
            return False
        if self.probability < 1.0 and self.random.random() >= self.probability:
            return False
        return True

    def fire(self) -> None:
        self.fired += 1
        if self.remaining is not None:
            self.remaining -= 1


class FaultInjector:
    """Thread-safe list of fault rules, consulted by the server before it handles a request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: List[_Rule] = []
        self._log: List[dict] = []

    def configure(self, rules: Sequence[dict]) -> None:
        """Replace every rule. All rules are validated first: a bad one leaves the old set in place."""
        parsed = [_Rule(spec) for spec in rules]
        with self._lock:
            self._rules = parsed

    def add(self, rule: dict) -> None:
        """Append one rule to the current set."""
        parsed = _Rule(rule)
        with self._lock:
            self._rules.append(parsed)

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def rules(self) -> List[dict]:
        """The configured rules with how often each fired and how many firings remain."""
        with self._lock:
            return [dict(rule.spec, fired=rule.fired, remaining=rule.remaining) for rule in self._rules]

    def log(self) -> List[dict]:
        """Every fault answered so far: ``{"method", "path", "user", "status", "delay"}``."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def check(self, method: str, path: str, user_name: Optional[str] = None) -> Optional[Result]:
        path = path.split("?", 1)[0]
        delay = 0.0
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, user_name):
                    continue
                rule.fire()
                delay += rule.delay
                if rule.status is not None:
                    self._log.append({"method": method, "path": path, "user": user_name, "status": rule.status, "delay": delay})
                    return rule.status, delay, rule.message, rule.retry_after
            if delay:
                self._log.append({"method": method, "path": path, "user": user_name, "status": None, "delay": delay})
                return None, delay, None, None
        return None
