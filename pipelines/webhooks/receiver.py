"""The HTTP endpoint that GHL posts webhook events to.

Each POST is checked in order: size, signature over the raw body, JSON shape,
freshness and replay; an accepted event is committed to the queue before the 200
goes out. Every refusal is a 4xx and one WARNING line; the handler never lets an
error escape to the server loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .events import KNOWN_EVENTS, MalformedEvent, parse, to_event
from .queue import EventQueue
from .signatures import SignatureError, SignatureVerifier

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ReceiverConfig:
    """Limits of the receiver.

    Attributes:
        tolerance_seconds: refuse events whose timestamp is further than this
            from now (a replay of an old delivery, or a wrong clock).
        max_body_bytes: refuse bigger bodies unread (GHL's events are a few kB).
        locations: act on these locations only (others: 200 and ignored); all
            when empty.
    """

    tolerance_seconds: float = 300.0
    max_body_bytes: int = 1_048_576
    locations: frozenset[str] = frozenset()


class Rejected(Exception):
    """A delivery the receiver refuses, with the status to answer."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Receiver:
    """Serve the webhook endpoint on 127.0.0.1 from a background thread.

    Args:
        queue: where accepted events go.
        verifier: the signature check.
        config: limits; defaults when omitted.
        port: 0 picks a free port.
        on_accept: called after each event is queued (wakes the worker).

    ``POST /`` (any path) takes events; ``GET /health`` answers the queue depth.
    ``counts`` holds ``accepted``, ``ignored`` and ``rejected`` totals.
    """

    def __init__(
        self,
        queue: EventQueue,
        verifier: SignatureVerifier,
        config: ReceiverConfig | None = None,
        port: int = 0,
        on_accept: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.on_accept = on_accept
        self.verifier = verifier
        self.config = config or ReceiverConfig()
        self.counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/webhooks/ghl"

    def start(self) -> Receiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        logger.info("webhook receiver listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or an interrupt)."""
        logger.info("webhook receiver listening on %s", self.url)
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def handle(self, body: bytes, headers) -> tuple[HTTPStatus, str]:
        """Decide on one delivery; returns the status and a short reason.

        Raises:
            Rejected: the delivery is refused.
        """
        try:
            scheme = self.verifier.verify(body, headers)
        except SignatureError as error:
            raise Rejected(HTTPStatus.UNAUTHORIZED, str(error)) from None
        try:
            kind, payload = parse(body)
            if kind not in KNOWN_EVENTS:
                return HTTPStatus.OK, f"ignored: event type {kind[:60]!r}"
            event = to_event(kind, payload)
        except MalformedEvent as error:
            raise Rejected(HTTPStatus.BAD_REQUEST, str(error)) from None

        if self.config.locations and event.location_id not in self.config.locations:
            return HTTPStatus.OK, f"ignored: location {event.location_id} not served"
        age = datetime.now(UTC) - event.timestamp
        if abs(age) > timedelta(seconds=self.config.tolerance_seconds):
            raise Rejected(
                HTTPStatus.BAD_REQUEST,
                f"{event.type} {event.webhook_id}: timestamp {age.total_seconds():.0f}s"
                f" off (tolerance {self.config.tolerance_seconds:g}s)",
            )
        if not self.queue.put(event):
            raise Rejected(
                HTTPStatus.CONFLICT,
                f"{event.type} {event.webhook_id}: replayed (webhookId seen before)",
            )
        if self.on_accept is not None:
            self.on_accept()
        return HTTPStatus.OK, f"queued {event.type} ({scheme}) {event.webhook_id}"

    def _count(self, outcome: str) -> None:
        with self._counts_lock:
            self.counts[outcome] += 1


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.receiver = receiver
    return Handler


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"
    server_version = "ghl-concord"
    sys_version = ""
    # A slow or stalled sender cannot hold a thread for long.
    timeout = 10
    # Headers and body go out in two writes; with Nagle's algorithm the body
    # waits for the client's delayed ACK (about 40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        receiver = self.receiver
        try:
            body = self._read_body(receiver.config.max_body_bytes)
            status, reason = receiver.handle(body, self.headers)
        except Rejected as rejected:
            receiver._count("rejected")
            logger.warning("webhook refused (%d): %s", rejected.status, rejected.reason)
            self._answer(rejected.status, {"error": rejected.reason})
            return
        except Exception as error:  # a queue write failed: GHL should retry
            receiver._count("failed")
            logger.error("webhook not stored: %s: %s", type(error).__name__, error)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "not stored"})
            return
        if reason.startswith("ignored"):
            receiver._count("ignored")
            logger.info("webhook %s", reason)
        else:
            receiver._count("accepted")
            logger.debug("webhook %s", reason)
        self._answer(status, {"status": reason.split(":")[0].split(" ")[0]})

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/health":
            self._answer(HTTPStatus.NOT_FOUND, {"error": "POST events; GET /health"})
            return
        depth = sum(self.receiver.queue.depth().values())
        self._answer(HTTPStatus.OK, {"status": "ok", "queue_depth": depth})

    def _read_body(self, limit: int) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise Rejected(HTTPStatus.LENGTH_REQUIRED, "no Content-Length")
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise Rejected(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if length < 0 or length > limit:
            # The body stays unread, so the connection cannot be reused.
            self.close_connection = True
            raise Rejected(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes (limit {limit})",
            )
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise Rejected(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
        return body

    def _answer(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError as error:  # the sender went away; nothing to answer
            logger.debug("could not answer a webhook sender: %s", error)

    def log_message(self, format: str, *args) -> None:
        # Outcomes are logged once by do_POST; the access log line is noise.
        pass
