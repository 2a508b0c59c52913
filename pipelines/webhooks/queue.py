"""The durable event queue: SQLite in WAL mode in the state folder.

An event is committed (``synchronous=FULL``) before the receiver answers 200, so a
killed receiver loses nothing it accepted. ``webhook_id`` is unique: a replayed
delivery is found by the insert itself. Processed rows are kept for a day so that
replays are still recognised, then pruned.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .events import WebhookEvent

QUEUE_FILE = "queue.sqlite"

_SCHEMA = """
create table if not exists events (
    seq integer primary key autoincrement,
    webhook_id text not null unique,
    location_id text not null,
    type text not null,
    contact_id text not null,
    object_id text not null,
    event_at text not null,
    received_at text not null,
    processed_at text,
    attempts integer not null default 0,
    next_attempt_at text,
    last_error text
);
create index if not exists pending_events
    on events (location_id, contact_id, seq) where processed_at is null;
"""


@dataclass
class Batch:
    """Pending events of a few contacts, taken together.

    ``contacts`` maps a location to its contact ids; ``upto`` is the last event
    sequence number the batch covers, so events that arrive while it is processed
    stay pending for the next batch.
    """

    contacts: dict[str, list[str]] = field(default_factory=dict)
    upto: int = 0
    events: int = 0
    attempts: int = 0

    def __bool__(self) -> bool:
        return bool(self.contacts)


class EventQueue:
    """The queue file of a state folder; safe to share between threads.

    Args:
        state_dir: the folder holding ``queue.sqlite`` (created if missing).
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / QUEUE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._group = threading.Condition()
        self._waiting: list[_Put] = []
        self._writing = False
        self._db = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=full")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, event: WebhookEvent) -> bool:
        """Store an event durably; False when its ``webhook_id`` was seen before.

        Concurrent callers share one transaction (group commit): the first one
        in writes every event queued by then and wakes the others, so a burst
        costs one disk sync per group instead of one per event.
        """
        waiting = _Put(event)
        with self._group:
            self._waiting.append(waiting)
            while not waiting.done and self._writing:
                self._group.wait()
            if waiting.done:
                return waiting.stored
            self._writing = True
            group, self._waiting = self._waiting, []
        try:
            self._write(group)
        finally:
            with self._group:
                self._writing = False
                self._group.notify_all()
        if waiting.error is not None:
            raise waiting.error
        return waiting.stored

    def _write(self, group: list[_Put]) -> None:
        received = _now().isoformat()
        try:
            with self._lock:
                self._db.execute("begin immediate")
                try:
                    for item in group:
                        event = item.event
                        cursor = self._db.execute(
                            "insert or ignore into events (webhook_id, location_id,"
                            " type, contact_id, object_id, event_at, received_at)"
                            " values (?, ?, ?, ?, ?, ?, ?)",
                            (
                                event.webhook_id,
                                event.location_id,
                                event.type,
                                event.contact_id,
                                event.object_id,
                                event.timestamp.isoformat(),
                                received,
                            ),
                        )
                        item.stored = cursor.rowcount == 1
                    self._db.execute("commit")
                except BaseException:
                    self._db.execute("rollback")
                    raise
        except Exception as error:
            for item in group:
                item.stored, item.error = False, error
        for item in group:
            item.done = True

    def depth(self) -> dict[str, int]:
        """Unprocessed events per location."""
        with self._lock:
            rows = self._db.execute(
                "select location_id, count(*) from events"
                " where processed_at is null group by location_id"
            ).fetchall()
        return dict(rows)

    def take(self, max_contacts: int = 100) -> Batch:
        """The oldest due pending events, of at most ``max_contacts`` contacts.

        Every pending event of a chosen contact up to the newest one seen now is
        in the batch: a burst for one contact becomes one fetch.
        """
        now = _now().isoformat()
        with self._lock:
            upto = self._db.execute(
                "select max(seq) from events where processed_at is null"
            ).fetchone()[0]
            if upto is None:
                return Batch()
            rows = self._db.execute(
                "select location_id, contact_id, count(*), max(attempts) from events"
                " where processed_at is null and seq <= ?"
                " group by location_id, contact_id"
                " having max(coalesce(next_attempt_at, '')) <= ?"
                " order by min(seq) limit ?",
                (upto, now, max_contacts),
            ).fetchall()
        batch = Batch(upto=upto)
        contacts: dict[str, list[str]] = defaultdict(list)
        for location_id, contact_id, count, attempts in rows:
            contacts[location_id].append(contact_id)
            batch.events += count
            batch.attempts = max(batch.attempts, attempts)
        batch.contacts = dict(contacts)
        return batch

    def mark_processed(self, batch: Batch) -> None:
        """Mark the batch's events processed."""
        self._update(batch, "processed_at = ?", (_now().isoformat(),))

    def defer(self, batch: Batch, wait: float, error: str) -> None:
        """Leave the batch's events pending, not to be taken for ``wait`` seconds."""
        due = (_now() + timedelta(seconds=wait)).isoformat()
        self._update(
            batch,
            "attempts = attempts + 1, next_attempt_at = ?, last_error = ?",
            (due, error[:500]),
        )

    def prune(self, keep: timedelta = timedelta(days=1)) -> int:
        """Delete processed events older than ``keep``; returns how many."""
        cutoff = (_now() - keep).isoformat()
        with self._lock:
            cursor = self._db.execute(
                "delete from events where processed_at is not null"
                " and processed_at < ?",
                (cutoff,),
            )
        return cursor.rowcount

    def _update(self, batch: Batch, assignments: str, values: tuple) -> None:
        with self._lock:
            self._db.execute("begin immediate")
            try:
                for location_id, contact_ids in batch.contacts.items():
                    for contact_id in contact_ids:
                        self._db.execute(
                            f"update events set {assignments}"
                            " where processed_at is null and location_id = ?"
                            " and contact_id = ? and seq <= ?",
                            (*values, location_id, contact_id, batch.upto),
                        )
                self._db.execute("commit")
            except BaseException:
                self._db.execute("rollback")
                raise


@dataclass
class _Put:
    event: WebhookEvent
    stored: bool = False
    done: bool = False
    error: Exception | None = None


def _now() -> datetime:
    return datetime.now(UTC)
