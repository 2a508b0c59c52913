"""Webhook test helpers: a receiver and worker wired to a sandbox, signed posts."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import httpx
from conftest import client_for
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipelines import runs
from pipelines.history import RunHistory
from pipelines.lock import lock_path
from pipelines.webhooks import EventQueue, Receiver, SignatureVerifier, Worker
from pipelines.webhooks.receiver import ReceiverConfig


def pem_of(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


@dataclass
class Keys:
    """An Ed25519 and an RSA key pair, as GHL would hold them."""

    ed25519: Ed25519PrivateKey
    rsa: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> Keys:
        return cls(
            Ed25519PrivateKey.generate(),
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    def verifier(self) -> SignatureVerifier:
        return SignatureVerifier(pem_of(self.ed25519), pem_of(self.rsa))

    def sign_ed25519(self, body: bytes) -> str:
        return base64.b64encode(self.ed25519.sign(body)).decode()

    def sign_rsa(self, body: bytes) -> str:
        signature = self.rsa.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()


def event_body(
    kind: str = "ContactUpdate",
    location_id: str = "loc-1",
    contact_id: str = "contact-1",
    **fields: Any,
) -> bytes:
    """A GHL-shaped event body with a fresh webhookId and timestamp."""
    payload: dict[str, Any] = {
        "type": kind,
        "locationId": location_id,
        "id": contact_id if kind.startswith("Contact") else f"obj-{uuid.uuid4().hex}",
        "contactId": contact_id,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "webhookId": f"wh-{uuid.uuid4().hex}",
    }
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    response = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=10,
    )
    return response.status_code


@dataclass
class Hub:
    """A sandbox whose changes post to a receiver that feeds a worker."""

    api: Any
    pipeline: dlt.Pipeline
    queue: EventQueue
    receiver: Receiver
    worker: Worker
    state_dir: Path

    def initial_load(self) -> None:
        client = client_for(self.api)
        try:
            runs.load(self.pipeline, client, self.api.location_id)
        finally:
            client.close()

    def sent(self) -> None:
        """Wait until the sandbox has posted every event it emitted."""
        self.api.webhooks.flush(timeout=120)

    def contact_gets(self, contact_id: str) -> int:
        return len(
            [
                r
                for r in self.api.requests
                if r.method == "GET" and r.path == f"/contacts/{contact_id}"
            ]
        )


@contextmanager
def hub(
    make_sandbox: Any,
    tmp_path: Path,
    start_worker: bool = True,
    contacts: int = 40,
    seed: int = 5,
) -> Iterator[Hub]:
    """Receiver, queue and worker in this process, and a sandbox posting to them."""
    state_dir = tmp_path / "state"
    pipeline = runs.make_pipeline(
        duckdb_path=tmp_path / "ghl.duckdb",
        pipelines_dir=tmp_path / "dlt",
        pipeline_name="ghl_test",
    )
    queue = EventQueue(state_dir)
    # The sandbox's key is known once it runs; until then a throwaway key.
    placeholder = SignatureVerifier(pem_of(Ed25519PrivateKey.generate()))
    receiver = Receiver(queue, placeholder, ReceiverConfig()).start()
    api = make_sandbox(contacts=contacts, seed=seed, webhook_url=receiver.url)
    receiver.verifier = SignatureVerifier(api.webhook_public_key_pem)
    worker = Worker(
        pipeline,
        lambda location_id: client_for(api),
        queue,
        lock_path("duckdb", tmp_path / "ghl.duckdb", None, "ghl_test"),
        history=RunHistory(state_dir),
        settle_seconds=0.05,
        backoff_base=0.2,
    )
    receiver.on_accept = worker.notify
    found = Hub(api, pipeline, queue, receiver, worker, state_dir)
    found.initial_load()
    if start_worker:
        worker.start()
    try:
        yield found
    finally:
        worker.stop()
        receiver.stop()
        queue.close()


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
