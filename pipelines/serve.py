"""``ghl-concord serve``: the webhook receiver and its worker in one process."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import dlt

from .history import RunHistory
from .settings import Settings
from .webhooks import EventQueue, Receiver, ReceiverConfig, SignatureVerifier, Worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookSettings:
    """``sources.ghl.webhooks.*`` from dlt config (public keys are not secrets)."""

    ed25519_public_key: str = ""
    rsa_public_key: str = ""
    tolerance_seconds: float = 300.0
    max_body_bytes: int = 1_048_576

    @classmethod
    def from_dlt(cls) -> WebhookSettings:
        config = dlt.config
        return cls(
            ed25519_public_key=config.get(
                "sources.ghl.webhooks.ed25519_public_key", str
            )
            or "",
            rsa_public_key=config.get("sources.ghl.webhooks.rsa_public_key", str) or "",
            tolerance_seconds=float(
                config.get("sources.ghl.webhooks.tolerance_seconds", float) or 300.0
            ),
            max_body_bytes=int(
                config.get("sources.ghl.webhooks.max_body_bytes", int) or 1_048_576
            ),
        )


def serve(
    args: argparse.Namespace,
    pipeline: dlt.Pipeline,
    lock_file: Path,
    stop: threading.Event | None = None,
) -> int:
    """Receive on 127.0.0.1:``args.port`` and drain the queue until stopped.

    SIGTERM and Ctrl-C stop it after the batch in flight; accepted events that
    are not yet processed stay in the queue for the next start.
    """
    webhooks = WebhookSettings.from_dlt()
    verifier = SignatureVerifier(webhooks.ed25519_public_key, webhooks.rsa_public_key)
    settings = Settings.from_dlt(need_location=False)
    queue = EventQueue(args.state_dir)
    worker = Worker(
        pipeline,
        settings.client,
        queue,
        lock_file,
        history=RunHistory(args.state_dir),
        batch_contacts=args.batch_contacts,
        lock_timeout=args.lock_timeout,
    )
    receiver = Receiver(
        queue,
        verifier,
        ReceiverConfig(
            tolerance_seconds=webhooks.tolerance_seconds,
            max_body_bytes=webhooks.max_body_bytes,
            locations=frozenset(settings.location_ids),
        ),
        port=args.port,
        on_accept=worker.notify,
    )

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    worker.start()
    receiver.start()
    pending = sum(queue.depth().values())
    print(f"receiving GHL webhooks on {receiver.url}", flush=True)
    print(f"queue {queue.path} ({pending} pending); lock {lock_file}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        receiver.stop()
        worker.stop()
        queue.close()
    print(f"stopped; {sum(queue_depth(args.state_dir).values())} events pending")
    return 0


def queue_depth(state_dir: str | Path) -> dict[str, int]:
    """Unprocessed events per location in a state folder's queue."""
    queue = EventQueue(state_dir)
    try:
        return queue.depth()
    finally:
        queue.close()
