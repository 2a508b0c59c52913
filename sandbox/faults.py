"""Fault injection: seeded random faults and scripted responses.

Random faults are drawn per request identity (method, path, query, body) and per
attempt, from a fixed seed. The n-th time the same request arrives it meets the same
fate on every run, whatever the thread interleaving, and a retry is a new draw.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "429",
    "429-no-retry-after",
    "500",
    "502",
    "503",
    "reset",
    "slow",
    "truncated",
)


@dataclass
class Scripted:
    """One scripted answer for the next request matching a script.

    Attributes:
        status: HTTP status. 200 with no ``body`` means "answer normally" (then
            ``transform`` and ``headers`` still apply).
        body: a JSON-able value, or ``str``/``bytes`` sent as is. None uses the
            normal body for 200 and GHL's error body for other statuses.
        headers: extra headers, replacing defaults of the same name (e.g.
            ``{"Retry-After": "0"}``; a value of None removes the header).
        transform: called with the normal JSON body of a 200 answer; its return
            value is sent instead (e.g. set ``contacts`` to None).
        fault: a fault kind from ``FAULT_KINDS`` to act out instead.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str | None] = field(default_factory=dict)
    transform: Callable[[Any], Any] | None = None
    fault: str | None = None


def as_scripted(entry: Any) -> Scripted:
    """Reads a script entry: a ``Scripted``, a status, a fault kind or a dict."""
    if isinstance(entry, Scripted):
        return entry
    if entry is None:
        return Scripted()
    if isinstance(entry, int):
        return Scripted(status=entry)
    if isinstance(entry, str):
        if entry not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {entry!r}; use one of {FAULT_KINDS}")
        return Scripted(fault=entry)
    if isinstance(entry, Mapping):
        return Scripted(**entry)
    raise TypeError(f"cannot script {entry!r}: use Scripted, int, str or dict")


class Scripts:
    """Queues of scripted answers by path prefix (and optionally method)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[tuple[str, str | None, list[Scripted]]] = []

    def add(self, prefix: str, entries: Iterable[Any], method: str | None) -> None:
        queue = [as_scripted(e) for e in entries]
        with self._lock:
            self._queues.append((prefix, method.upper() if method else None, queue))

    def take(self, method: str, path: str) -> Scripted | None:
        """Pops the next answer of the first non-empty matching queue."""
        with self._lock:
            for prefix, wanted, queue in self._queues:
                if queue and path.startswith(prefix) and wanted in (None, method):
                    return queue.pop(0)
        return None

    def pending(self) -> int:
        """How many scripted answers are still queued."""
        with self._lock:
            return sum(len(q) for _, _, q in self._queues)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


class FaultPlan:
    """Seeded random faults by kind and rate.

    Args:
        faults: ``{"500": 0.05, "reset": 0.05}``, or ``"all"`` to use every kind at
            ``rate`` each, or a comma list of kinds (``"500,reset"``) at ``rate``.
        rate: the rate used by ``"all"`` and comma lists.
        seed: the seed of the draws.
    """

    def __init__(
        self, faults: Mapping[str, float] | str | None, rate: float, seed: int
    ) -> None:
        self.rates = parse_faults(faults, rate)
        self.seed = seed
        self._lock = threading.Lock()
        self._attempts: dict[bytes, int] = {}

    def draw(self, identity: bytes) -> str | None:
        """The fault for this attempt of a request, or None."""
        if not self.rates:
            return None
        with self._lock:
            attempt = self._attempts.get(identity, 0)
            self._attempts[identity] = attempt + 1
        digest = hashlib.blake2b(
            identity + b"|%d|%d" % (attempt, self.seed), digest_size=8
        ).digest()
        point = int.from_bytes(digest, "big") / 2**64
        for kind, kind_rate in self.rates.items():
            if point < kind_rate:
                return kind
            point -= kind_rate
        return None


def parse_faults(faults: Mapping[str, float] | str | None, rate: float) -> dict:
    """Normalizes the ``faults`` option to ``{kind: rate}``.

    Raises:
        ValueError: an unknown kind, or rates adding up to more than 1.
    """
    if not faults:
        return {}
    if isinstance(faults, str):
        kinds = FAULT_KINDS if faults == "all" else faults.split(",")
        faults = {kind.strip(): rate for kind in kinds if kind.strip()}
    rates = {}
    for kind, kind_rate in faults.items():
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}")
        rates[kind] = float(kind_rate)
    if sum(rates.values()) > 1:
        raise ValueError(f"fault rates add up to more than 1: {rates}")
    return rates
