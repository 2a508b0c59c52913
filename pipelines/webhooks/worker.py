"""The worker: drains the event queue into targeted loads and rebuilt marts.

A batch is every pending event of up to ``batch_contacts`` contacts. Per location
the contacts are fetched once with ``runs.load(mode="ids")``: a contact that
``GET /contacts/{id}`` no longer finds is flagged deleted, and re-listing a
contact's tasks and notes flags the ones that are gone. Then the marts are rebuilt
and the batch is marked processed, all under the destination lock. A failed batch
stays pending and is retried with exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dlt

from sources.ghl.client import GHLClient
from sources.ghl.errors import DailyBudgetExhausted

from .. import runs
from ..cli import root_cause
from ..history import RunHistory
from ..lock import destination_lock
from .queue import Batch, EventQueue

logger = logging.getLogger(__name__)

PRUNE_EVERY = 600.0


class Worker:
    """Drain ``queue`` into ``pipeline`` from a background thread.

    Args:
        pipeline: the destination's pipeline.
        client_for: a GHL client for a location id (kept for the worker's life).
        queue: the event queue.
        lock_path: the destination's lock file (see ``pipelines.lock.lock_path``).
        history: where runs are recorded; none when omitted.
        batch_contacts: contacts per batch at most.
        settle_seconds: wait this long after new events arrive before taking a
            batch, so a burst for one contact collapses into one fetch.
        lock_timeout: seconds to wait for the destination lock per batch.
        backoff_base: first retry wait in seconds; doubles per failed attempt.
        backoff_max: longest retry wait in seconds.
        transform: rebuild the marts after each batch.
    """

    def __init__(
        self,
        pipeline: dlt.Pipeline,
        client_for: Callable[[str], GHLClient],
        queue: EventQueue,
        lock_path: str | Path,
        history: RunHistory | None = None,
        batch_contacts: int = 100,
        settle_seconds: float = 0.2,
        lock_timeout: float = 60.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        transform: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.queue = queue
        self.lock_path = Path(lock_path)
        self.history = history
        self.batch_contacts = batch_contacts
        self.settle_seconds = settle_seconds
        self.lock_timeout = lock_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.transform = transform
        self.batches = 0
        self.failures = 0
        self._client_for = client_for
        self._clients: dict[str, GHLClient] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0

    def notify(self) -> None:
        """Tell the worker that events arrived (the receiver calls it)."""
        self._wake.set()

    def start(self) -> Worker:
        self._thread = threading.Thread(
            target=self._run, name="webhook-worker", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the batch in flight; close the clients."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def drain_once(self) -> bool:
        """Process one batch if any is due; True when one was processed."""
        batch = self.queue.take(self.batch_contacts)
        if not batch:
            return False
        return self.process(batch)

    def process(self, batch: Batch) -> bool:
        """Load the batch's contacts and rebuild the marts; True on success."""
        started = time.perf_counter()
        try:
            with destination_lock(self.lock_path, timeout=self.lock_timeout):
                for location_id, contact_ids in batch.contacts.items():
                    self._load(location_id, contact_ids)
                if self.transform:
                    from transforms.runner import build_models

                    build_models(self.pipeline)
        except Exception as error:
            self._defer(batch, error)
            return False
        self.queue.mark_processed(batch)
        self.batches += 1
        logger.info(
            "webhook batch: %d events, %d contacts in %d location(s), %.2fs",
            batch.events,
            sum(len(ids) for ids in batch.contacts.values()),
            len(batch.contacts),
            time.perf_counter() - started,
        )
        return True

    def _load(self, location_id: str, contact_ids: list[str]) -> None:
        client = self._client(location_id)
        summary = runs.load(
            self.pipeline,
            client,
            location_id,
            resources=list(runs.CONTACT_RESOURCES),
            mode="ids",
            contact_ids=contact_ids,
        )
        if self.history is not None:
            self.history.record_run(
                location_id,
                "webhook",
                summary.rows,
                summary.elapsed,
                summary.requests,
                client.governor.daily_remaining,
            )

    def _client(self, location_id: str) -> GHLClient:
        if location_id not in self._clients:
            self._clients[location_id] = self._client_for(location_id)
        return self._clients[location_id]

    def _defer(self, batch: Batch, error: Exception) -> None:
        self.failures += 1
        attempt = batch.attempts + 1
        wait = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        if isinstance(error, DailyBudgetExhausted):
            wait = self.backoff_max
        root = root_cause(error)
        text = str(root).splitlines()[0] if str(root) else ""
        reason = f"{type(root).__name__}: {text}"
        logger.warning(
            "webhook batch of %d events failed (attempt %d), retrying in %.1fs: %s",
            batch.events,
            attempt,
            wait,
            reason[:300],
        )
        self.queue.defer(batch, wait, reason)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.drain_once():
                    continue
                self._prune()
            except Exception:  # the queue file itself failed; keep the thread
                logger.exception("webhook worker step failed; retrying")
                self._stop.wait(self.backoff_base)
                continue
            if self._wake.wait(timeout=1.0) and not self._stop.is_set():
                self._wake.clear()
                self._stop.wait(self.settle_seconds)

    def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        pruned = self.queue.prune(timedelta(days=1))
        if pruned:
            logger.info("pruned %d processed webhook events", pruned)
