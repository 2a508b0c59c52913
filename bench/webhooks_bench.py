"""Benchmark the webhook path: change-to-mart latency and receiver throughput.

Latency: a sandbox (1,000 contacts) posts signed events to a receiver whose worker
loads the named contacts and rebuilds the marts in DuckDB; 200 sequential changes,
each timed from ``update_contact`` until ``ghl_analytics.concord_contacts`` shows
it. Throughput: signed events posted by a thread pool to a receiver without a
worker, each committed to the SQLite queue before its 200. Writes the numbers under
"## Webhooks" in bench/RESULTS.md. Everything runs on 127.0.0.1.

    .venv/bin/python bench/webhooks_bench.py [--changes N] [--events N] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipelines import runs
from pipelines.history import RunHistory
from pipelines.lock import lock_path
from pipelines.webhooks import EventQueue, Receiver, SignatureVerifier, Worker
from sandbox.server import Sandbox
from sources.ghl import build_client
from transforms.runner import build_models

os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Webhooks"


def measure_latency(folder: Path, changes: int, contacts: int) -> dict:
    pipeline = runs.make_pipeline(
        duckdb_path=folder / "ghl.duckdb", pipelines_dir=folder / "dlt"
    )
    queue = EventQueue(folder / "state")
    placeholder = Ed25519PrivateKey.generate()
    receiver = Receiver(queue, SignatureVerifier(_pem(placeholder))).start()
    api = Sandbox(
        contacts=contacts,
        seed=11,
        webhook_url=receiver.url,
        rate_limit_max=5000,
        rate_limit_interval_ms=1000,
        record_requests=False,
    ).start()
    receiver.verifier = SignatureVerifier(api.webhook_public_key_pem)

    def client_for(location_id: str):
        return build_client(api.base_url, location_id, api.token, backoff_base=0.05)

    client = client_for(api.location_id)
    runs.load(pipeline, client, api.location_id)
    client.close()
    build_models(pipeline)
    worker = Worker(
        pipeline,
        client_for,
        queue,
        lock_path("duckdb", folder / "ghl.duckdb", None, runs.PIPELINE_NAME),
        history=RunHistory(folder / "state"),
    )
    receiver.on_accept = worker.notify
    worker.start()

    latencies = []
    try:
        with pipeline.sql_client() as sql:
            for n in range(changes):
                contact_id = api.data.contact_id(n % contacts)
                name = f"Bench {n}"
                started = time.perf_counter()
                api.data.update_contact(contact_id, firstName=name)
                while True:
                    rows = sql.execute_sql(
                        "select first_name from ghl_analytics.concord_contacts"
                        " where external_id = %s",
                        contact_id,
                    )
                    if rows and rows[0][0] == name:
                        break
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - started)
    finally:
        worker.stop()
        receiver.stop()
        api.stop()
        queue.close()
    ordered = sorted(latencies)
    return {
        "changes": changes,
        "contacts": contacts,
        "median": statistics.median(ordered),
        "p95": ordered[int(0.95 * (len(ordered) - 1))],
        "max": ordered[-1],
        "batches": worker.batches,
    }


def measure_throughput(folder: Path, events: int, threads: int) -> dict:
    key = Ed25519PrivateKey.generate()
    queue = EventQueue(folder / "state")
    receiver = Receiver(queue, SignatureVerifier(_pem(key))).start()
    bodies = []
    for n in range(events):
        body = json.dumps(
            {
                "type": "ContactUpdate",
                "locationId": "loc-bench",
                "id": f"contact-{n % 500}",
                "timestamp": datetime.now(UTC).isoformat(),
                "webhookId": uuid.uuid4().hex,
            }
        ).encode()
        bodies.append((body, base64.b64encode(key.sign(body)).decode()))
    local = threading.local()

    def send(item: tuple[bytes, str]) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        body, signature = item
        response = local.client.post(
            receiver.url,
            content=body,
            headers={"content-type": "application/json", "x-ghl-signature": signature},
        )
        return response.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(send, bodies))
    elapsed = time.perf_counter() - started
    depth = sum(queue.depth().values())
    receiver.stop()
    queue.close()
    return {
        "events": events,
        "threads": threads,
        "elapsed": elapsed,
        "per_second": events / elapsed,
        "accepted": statuses.count(200),
        "queued": depth,
    }


def _pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def report(latency: dict, throughput: dict) -> str:
    today = datetime.now(UTC).date().isoformat()
    load = os.getloadavg()[0]
    return (
        f"{HEADING}\n\n"
        f"`bench/webhooks_bench.py`, {today}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load:.1f} at the end.\n\n"
        "| measured | value | goal |\n"
        "| --- | --- | --- |\n"
        f"| change to mart row, median ({latency['changes']} sequential changes, "
        f"{latency['contacts']:,} contacts) | {latency['median']:.2f} s | < 5 s |\n"
        f"| change to mart row, 95th percentile | {latency['p95']:.2f} s | — |\n"
        f"| change to mart row, slowest | {latency['max']:.2f} s | — |\n"
        f"| events accepted per second ({throughput['threads']} client threads, "
        f"{throughput['events']:,} signed events) | "
        f"{throughput['per_second']:,.0f} | — |\n\n"
        "A change is `api.data.update_contact` in the sandbox; the time runs "
        "until `ghl_analytics.concord_contacts` shows the new value, so it covers "
        "the signed POST, the queue commit, the worker's settle wait (0.2 s), "
        "`GET /contacts/{id}` with tasks and notes, the dlt merge load and a "
        "rebuild of every mart. "
        f"{latency['batches']} worker batches for {latency['changes']} changes. "
        f"Throughput: {throughput['accepted']:,} answered 200 and "
        f"{throughput['queued']:,} were in the queue afterwards (each committed with "
        "`synchronous=FULL` before its answer).\n"
    )


def write_results(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    if HEADING in current:
        start = current.index(HEADING)
        following = current.find("\n## ", start + len(HEADING))
        end = len(current) if following == -1 else following + 1
        current = current[:start] + text + current[end:]
    else:
        current = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webhooks-bench-") as folder:
        throughput = measure_throughput(Path(folder) / "t", args.events, args.threads)
        print(f"throughput: {throughput}")
        latency = measure_latency(Path(folder) / "l", args.changes, args.contacts)
        print(f"latency: {latency}")
    text = report(latency, throughput)
    print(text)
    if not args.no_write:
        write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
