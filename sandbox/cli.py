"""Command-line entry of the sandbox: ``python -m sandbox`` and ``ghl-concord sandbox``.

The lead wires :func:`add_arguments` and :func:`run` into the ``ghl-concord``
command; ``python -m sandbox`` uses them through :func:`sandbox.__main__.main`.
"""

from __future__ import annotations

import argparse
import json
import threading

from sandbox.faults import FAULT_KINDS
from sandbox.server import Sandbox


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the sandbox options to ``parser``."""
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spec-strict", action="store_true")
    parser.add_argument("--mixed-custom-field-types", action="store_true")
    parser.add_argument("--omit-task-contact-id", action="store_true")
    parser.add_argument("--additional-email-objects", action="store_true")
    parser.add_argument(
        "--rate-limit", action="store_true", help="answer 429 past the limits"
    )
    parser.add_argument("--rate-limit-max", type=int, default=100)
    parser.add_argument("--rate-limit-interval-ms", type=int, default=10_000)
    parser.add_argument("--rate-limit-daily-max", type=int, default=200_000)
    parser.add_argument(
        "--retry-after", choices=("seconds", "zero", "none"), default="seconds"
    )
    parser.add_argument(
        "--faults",
        default=None,
        help=(
            "random faults: 'all', a comma list of kinds at --fault-rate, or JSON "
            f"like '{{\"500\": 0.05}}'; kinds: {', '.join(FAULT_KINDS)}"
        ),
    )
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--fault-seed", type=int, default=None)
    parser.add_argument("--fault-oauth", action="store_true")
    parser.add_argument("--fault-retry-after", default="1")
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument(
        "--truncate-mode", choices=("length", "close"), default="length"
    )
    parser.add_argument("--client-id", default=None)
    parser.add_argument("--client-secret", default=None)
    parser.add_argument("--access-token-ttl", type=float, default=86_399)
    parser.add_argument("--webhook-url", default=None, help="a 127.0.0.1 URL")
    parser.add_argument("--not-found-status", type=int, choices=(400, 404), default=400)
    parser.add_argument(
        "--no-record", action="store_true", help="do not keep a request log"
    )


def build(args: argparse.Namespace) -> Sandbox:
    """A (not yet started) sandbox from parsed arguments."""
    faults = args.faults
    if faults and faults.lstrip().startswith("{"):
        faults = json.loads(faults)
    return Sandbox(
        contacts=args.contacts,
        seed=args.seed,
        port=args.port,
        spec_strict=args.spec_strict,
        mixed_custom_field_types=args.mixed_custom_field_types,
        omit_task_contact_id=args.omit_task_contact_id,
        additional_email_objects=args.additional_email_objects,
        rate_limit=args.rate_limit,
        rate_limit_max=args.rate_limit_max,
        rate_limit_interval_ms=args.rate_limit_interval_ms,
        rate_limit_daily_max=args.rate_limit_daily_max,
        retry_after=args.retry_after,
        faults=faults,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        fault_oauth=args.fault_oauth,
        fault_retry_after=args.fault_retry_after,
        slow_seconds=args.slow_seconds,
        truncate_mode=args.truncate_mode,
        client_id=args.client_id,
        client_secret=args.client_secret,
        access_token_ttl=args.access_token_ttl,
        webhook_url=args.webhook_url,
        not_found_status=args.not_found_status,
        record_requests=not args.no_record,
    )


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serves until Ctrl-C (or until ``stop`` is set); returns an exit status."""
    api = build(args).start()
    print(f"GHL sandbox at {api.base_url}", flush=True)
    print(f"location id:   {api.location_id}", flush=True)
    print(f"token:         {api.token}", flush=True)
    print(f"client id:     {api.client_id}", flush=True)
    print(f"client secret: {api.client_secret}", flush=True)
    print(f"contacts:      {args.contacts} (seed {args.seed})", flush=True)
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        api.stop()
    return 0
