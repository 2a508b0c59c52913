"""Signed GHL-style webhook events for overlay changes.

Each event is POSTed to ``webhook_url`` with header ``x-ghl-signature``: the base64
Ed25519 signature of the raw body. The key pair derives from the seed, so a test can
verify with :attr:`WebhookSender.public_key_pem`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import queue
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.data import Event, iso_ms

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1",)


class WebhookSender:
    """Posts events in order from one background thread.

    Args:
        url: where to POST; its host must be 127.0.0.1.
        location_id: stamped into every event.
        seed: the Ed25519 key derives from it.

    Raises:
        ValueError: the URL does not point at 127.0.0.1.
    """

    def __init__(self, url: str, location_id: str, seed: int) -> None:
        if urlsplit(url).hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"webhook_url must be on 127.0.0.1, got {url!r}")
        self.url = url
        self.location_id = location_id
        secret = hashlib.sha256(f"{seed}:webhook-key".encode()).digest()
        self._key = Ed25519PrivateKey.from_private_bytes(secret)
        self.public_key_pem = (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )
        self.sent: list[tuple[bytes, int | None]] = []  # (body, status or None)
        self._serial = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sign(self, body: bytes) -> str:
        """The base64 Ed25519 signature of ``body``."""
        return base64.b64encode(self._key.sign(body)).decode()

    def __call__(self, event: Event) -> None:
        self._serial += 1
        payload = {
            "type": event.type,
            "locationId": self.location_id,
            "id": event.id,
            "contactId": event.contact_id,
            "timestamp": iso_ms(int(time.time() * 1000)),
            "webhookId": f"wh-{self._serial:08d}",
        }
        if not event.type.endswith("Delete"):
            payload.update({k: v for k, v in event.data.items() if k not in payload})
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._queue.put(body)

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "x-ghl-signature": self.sign(body),
                },
            )
            status = None
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    status = response.status
            except Exception as error:  # the receiver is the test's business
                logger.warning("webhook POST to %s failed: %s", self.url, error)
            self.sent.append((body, status))
            self._queue.task_done()

    def flush(self, timeout: float = 5.0) -> None:
        """Waits until every queued event has been posted (or failed)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
