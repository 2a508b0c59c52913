"""The HTTP client of the GHL source: one shared httpx client, retries, pacing.

Every request goes through :meth:`GHLClient.request`, which takes a slot from the
rate governor, sends, learns the limits from the response headers and decides what
a failure means: retry (429, 5xx, timeouts, resets, cut bodies), refresh once (an
expired token), or stop with an error the user can act on.
"""

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from . import settings
from .auth import BearerAuth, TokenProvider, sent_token
from .errors import (
    ApiError,
    DailyBudgetExhausted,
    MissingScope,
    ReauthorizationNeeded,
    RetriesExhausted,
)
from .governor import RateGovernor

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class GHLClient:
    """Talks to one GHL location.

    Args:
        base_url: the API root, e.g. ``https://services.leadconnectorhq.com``.
        tokens: where bearer tokens come from (a static PIT or OAuth tokens).
        governor: the location's rate governor.
        timeout: read timeout in seconds.
        max_attempts: tries per request before giving up on transient faults.
        concurrency: requests in flight at once through :meth:`map` (the
            keep-alive pool holds twice as many connections).
        backoff_base: first backoff wait in seconds; it doubles per attempt.
        sleep: sleep function, replaceable in tests.
        rng: random source for backoff jitter.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        governor: RateGovernor,
        timeout: float = settings.READ_TIMEOUT,
        max_attempts: int = settings.MAX_ATTEMPTS,
        concurrency: int = 8,
        backoff_base: float = settings.BACKOFF_BASE,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.tokens = tokens
        self.governor = governor
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent_lock = threading.Lock()
        self.requests_sent = 0
        self.first_sent_at = 0.0
        self.last_sent_at = 0.0
        self.retries = 0
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=BearerAuth(tokens),
            headers={"Version": settings.API_VERSION, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=settings.CONNECT_TIMEOUT),
            limits=httpx.Limits(
                max_connections=2 * concurrency,
                max_keepalive_connections=2 * concurrency,
            ),
        )
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ghl")

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """GET ``path`` and return the decoded JSON body."""
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, body: dict[str, Any], **kw: Any) -> Any:
        """POST a JSON ``body`` to ``path`` and return the decoded JSON body."""
        return self.request("POST", path, json=body, **kw)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        allow_status: Collection[int] = (),
    ) -> Any:
        """Send one API call, retrying what is worth retrying.

        Returns:
            The decoded JSON body, or ``None`` for a status in ``allow_status``.

        Raises:
            MissingScope: the token lacks the endpoint's scope.
            ReauthorizationNeeded: a 401 that a refresh did not cure.
            ApiError: any other 4xx.
            RetriesExhausted: transient faults outlasted ``max_attempts``.
            DailyBudgetExhausted: the daily budget is down to the reserve.
        """
        endpoint = f"{method} {path}"
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self.governor.acquire()
            self._count()
            try:
                response = self._http.request(method, path, params=params, json=json)
                body = _decode(response) if response.status_code < 300 else None
            except (*_TRANSIENT, _CutBody) as exc:
                self._retry_or_raise(endpoint, attempt, _describe(exc))
                continue

            status = response.status_code
            self.governor.observe(response.headers)
            if status < 300:
                return body
            if status in allow_status:
                return None
            if status == 429:
                self._on_rate_limited(endpoint, attempt, response)
                continue
            if status >= 500:
                self._retry_or_raise(endpoint, attempt, f"status {status}")
                continue
            if status == 401:
                refreshed = self._on_unauthorized(endpoint, response, refreshed)
                continue
            raise ApiError(endpoint, status, _message(response))

    def map(self, call: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``call`` on every item, ``concurrency`` at a time, results in order."""
        return list(self._pool.map(call, items))

    def close(self) -> None:
        """Close the connection pool and the worker threads."""
        self._pool.shutdown(wait=True)
        self._http.close()

    def _count(self) -> None:
        now = time.monotonic()
        with self._sent_lock:
            self.requests_sent += 1
            self.first_sent_at = self.first_sent_at or now
            self.last_sent_at = now

    def _on_rate_limited(
        self, endpoint: str, attempt: int, response: httpx.Response
    ) -> None:
        # GHL sometimes omits Retry-After or sends 0 (R06, R20): then wait out the
        # burst interval it announces, or back off exponentially.
        retry_after = _float_header(response.headers, "retry-after")
        if retry_after and retry_after > settings.MAX_RETRY_AFTER:
            # A wait of hours is the daily limit speaking: stop and resume later.
            raise DailyBudgetExhausted(
                f"{endpoint} answered 429 asking to wait {retry_after:.0f}s; state "
                "is saved, resume later"
            )
        if retry_after and retry_after > 0:
            wait = retry_after
        elif response.headers.get("x-ratelimit-remaining") == "0":
            wait = self.governor.interval
        else:
            wait = self._backoff(attempt)
        self.governor.back_off(wait)
        self._retry_or_raise(endpoint, attempt, "status 429", wait=0.0, shown=wait)

    def _on_unauthorized(
        self, endpoint: str, response: httpx.Response, refreshed: bool
    ) -> bool:
        message = _message(response)
        if "scope" in message.lower():
            raise MissingScope(endpoint, _scope_for(endpoint))
        if not self.tokens.can_refresh or refreshed:
            raise ReauthorizationNeeded(
                f"{endpoint} answered 401: {message}; the token is not accepted, "
                "run `ghl-concord auth login` or set a valid token"
            )
        logger.warning(
            "%s answered 401 (%s); refreshing the token once", endpoint, message
        )
        self.tokens.refresh(sent_token(response.request))
        return True

    def _retry_or_raise(
        self,
        endpoint: str,
        attempt: int,
        reason: str,
        wait: float | None = None,
        shown: float | None = None,
    ) -> None:
        if attempt >= self.max_attempts:
            raise RetriesExhausted(
                f"{endpoint} failed {attempt} times, last with {reason}; GHL or the "
                "network is unwell, run again later"
            )
        if wait is None:
            wait = self._backoff(attempt)
        self.retries += 1
        logger.warning(
            "retrying %s after %s (attempt %d of %d, waiting %.2fs)",
            endpoint,
            reason,
            attempt,
            self.max_attempts,
            wait if shown is None else shown,
        )
        if wait > 0:
            self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(settings.BACKOFF_CAP, self.backoff_base * 2 ** (attempt - 1))
        return ceiling * self._rng.uniform(0.5, 1.0)


class _CutBody(Exception):
    """A 2xx whose JSON body did not arrive whole."""


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _CutBody(
            f"an unreadable JSON body ({len(response.content)} bytes)"
        ) from exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, _CutBody):
        return str(exc)
    return type(exc).__name__


def _message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return f"a non-JSON body of {len(response.content)} bytes"
    message = payload.get("message") if isinstance(payload, dict) else None
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    return str(message or payload.get("error") or "no message")[:300]


def _float_header(headers: httpx.Headers, name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


def _scope_for(endpoint: str) -> str:
    if "/businesses" in endpoint:
        return settings.RESOURCE_SCOPES["businesses"]
    if "/customFields" in endpoint:
        return settings.RESOURCE_SCOPES["custom_fields"]
    if "/tasks/search" in endpoint:
        return settings.RESOURCE_SCOPES["task_search"]
    return settings.RESOURCE_SCOPES["contacts"]
