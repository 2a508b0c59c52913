"""A local, GHL-compatible API v2 server for tests and benchmarks.

``Sandbox`` serves the contacts endpoints of GoHighLevel API v2 from a lazy
:class:`sandbox.data.Dataset` on 127.0.0.1, with GHL's auth, version header, rate
limit headers, error shapes and known quirks, plus seeded fault injection and
scripted answers. See ``sandbox/README.md`` for every option and every deviation
from the real API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.data import Dataset, Range, parse_ms
from sandbox.faults import FaultPlan, Scripted, Scripts
from sandbox.oauth import OAuthError, TokenStore
from sandbox.ratelimit import RateLimiter
from sandbox.webhooks import WebhookSender

try:  # dlt depends on orjson, which encodes several times faster.
    import orjson

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


logger = logging.getLogger(__name__)

API_VERSION = "2021-07-28"
SEARCH_WINDOW = 10_000
SEARCH_PAGE_LIMIT_MAX = 500
LIST_LIMIT_MAX = 100
SORT_FIELDS = ("dateAdded", "dateUpdated")
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")
SCOPE_CONTACTS = "contacts.readonly"


@dataclass(frozen=True)
class RequestRecord:
    """One request the sandbox answered.

    Attributes:
        method: HTTP method.
        path: URL path without the query.
        query: query parameters (last value wins).
        body: the parsed JSON or form body, or None.
        headers: request headers with lower-case names.
        status: the status answered (0 for a reset connection).
        fault: the fault kind acted out, if any (``"scripted"`` for scripts).
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int
    fault: str | None = None


@dataclass
class Response:
    """An answer before it is written to the socket."""

    status: int
    body: Any = None
    headers: dict[str, str | None] | None = None
    fault: str | None = None
    content_type: str = "application/json; charset=utf-8"


class ApiError(Exception):
    """Stops a handler with an error answer in GHL's shape."""

    def __init__(self, status: int, message: str | list[str], error: str | None = None):
        super().__init__(str(message))
        self.status = status
        self.message = message
        self.error = error

    def response(self) -> Response:
        body: dict[str, Any] = {"statusCode": self.status, "message": self.message}
        if self.error:
            body["error"] = self.error
        return Response(self.status, body)


def _unprocessable(*messages: str) -> ApiError:
    return ApiError(422, list(messages), "Unprocessable Entity")


def error_body(status: int) -> dict[str, Any]:
    """GHL's default error body for a status (used by scripts and faults)."""
    if status == 401:
        return {"statusCode": 401, "message": "Invalid JWT", "error": "Unauthorized"}
    if status == 422:
        return {
            "statusCode": 422,
            "message": ["Unprocessable Entity"],
            "error": "Unprocessable Entity",
        }
    if status == 429:
        return {
            "statusCode": 429,
            "message": "Too Many Requests",
            "error": "Too Many Requests",
        }
    return {"statusCode": status, "message": HTTPStatus(status).phrase}


class Sandbox:
    """A GHL API v2 look-alike on 127.0.0.1, usable as a context manager.

    Args:
        contacts: number of generated contacts.
        seed: the dataset, tokens and keys derive from it.
        port: TCP port on 127.0.0.1; 0 picks a free one.
        spec_strict: serve what the OpenAPI spec types say (custom field values and
            ``searchAfter`` as strings, absent keys instead of nulls).
        mixed_custom_field_types: see :class:`sandbox.data.Dataset`.
        omit_task_contact_id: see :class:`sandbox.data.Dataset`.
        additional_email_objects: serve ``additionalEmails`` as objects.
        rate_limit: answer 429 past the limits (they are always counted).
        rate_limit_max: requests per burst window.
        rate_limit_interval_ms: burst window length.
        rate_limit_daily_max: requests per day.
        retry_after: ``"seconds"``, ``"zero"`` or ``"none"``: the Retry-After of a
            rate-limit 429.
        faults: random faults, e.g. ``{"500": 0.05, "reset": 0.05}`` or ``"all"``.
        fault_rate: the rate of each kind for ``faults="all"`` or a comma list.
        fault_seed: seed of the fault draws (``seed`` if None).
        fault_oauth: also fault ``/oauth/*``.
        fault_retry_after: Retry-After value of the ``429`` fault kind.
        slow_seconds: how long a ``slow`` fault waits before answering.
        truncate_mode: ``"length"`` (declared Content-Length, half the body, then
            close) or ``"close"`` (no Content-Length, half the body, then close).
        client_id: OAuth client id (derived from the seed if None).
        client_secret: OAuth client secret (derived from the seed if None).
        access_token_ttl: OAuth access token lifetime in seconds.
        webhook_url: where to POST signed events of overlay changes (127.0.0.1).
        not_found_status: status for an unknown contact or business id.
        record_requests: keep :attr:`requests` (turn off for long benchmarks).
    """

    def __init__(
        self,
        contacts: int = 1000,
        seed: int = 7,
        port: int = 0,
        *,
        spec_strict: bool = False,
        mixed_custom_field_types: bool = False,
        omit_task_contact_id: bool = False,
        additional_email_objects: bool = False,
        rate_limit: bool = False,
        rate_limit_max: int = 100,
        rate_limit_interval_ms: int = 10_000,
        rate_limit_daily_max: int = 200_000,
        retry_after: str = "seconds",
        faults: dict[str, float] | str | None = None,
        fault_rate: float = 0.05,
        fault_seed: int | None = None,
        fault_oauth: bool = False,
        fault_retry_after: str = "1",
        slow_seconds: float = 3.0,
        truncate_mode: str = "length",
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token_ttl: float = 86_399,
        webhook_url: str | None = None,
        not_found_status: int = 400,
        record_requests: bool = True,
    ) -> None:
        if retry_after not in ("seconds", "zero", "none"):
            raise ValueError(
                f"retry_after must be seconds, zero or none: {retry_after}"
            )
        if truncate_mode not in ("length", "close"):
            raise ValueError(f"truncate_mode must be length or close: {truncate_mode}")
        self.data = Dataset(
            contacts,
            seed,
            mixed_custom_field_types=mixed_custom_field_types,
            omit_task_contact_id=omit_task_contact_id,
            additional_email_objects=additional_email_objects,
        )
        self.seed = seed
        self.spec_strict = spec_strict
        self.additional_email_objects = additional_email_objects
        self.limiter = RateLimiter(
            rate_limit_max,
            rate_limit_interval_ms,
            rate_limit_daily_max,
            enforce=rate_limit,
        )
        self.retry_after = retry_after
        self.faults = FaultPlan(
            faults, fault_rate, seed if fault_seed is None else fault_seed
        )
        self.fault_oauth = fault_oauth
        self.fault_retry_after = fault_retry_after
        self.slow_seconds = slow_seconds
        self.truncate_mode = truncate_mode
        self.tokens = TokenStore(
            self.data.location_id,
            seed,
            client_id=client_id,
            client_secret=client_secret,
            access_token_ttl=access_token_ttl,
        )
        self.not_found_status = not_found_status
        self.record_requests = record_requests
        self.scripts = Scripts()
        self.webhooks = (
            WebhookSender(webhook_url, self.data.location_id, seed)
            if webhook_url
            else None
        )
        if self.webhooks is not None:
            self.data.subscribe(self.webhooks)

        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._routes = self._route_table()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Sandbox:
        """Starts serving in a background thread; returns self."""
        handler = type("Handler", (_Handler,), {"sandbox": self})
        self._server = _Server(("127.0.0.1", self._port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("sandbox serving %s (location %s)", self.base_url, self.location_id)
        return self

    def stop(self) -> None:
        """Stops the server and the webhook sender."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.webhooks is not None:
            self.webhooks.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------- public helpers

    @property
    def port(self) -> int:
        """The TCP port being served."""
        if self._server is None:
            return self._port
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def location_id(self) -> str:
        """The one location of the sandbox."""
        return self.data.location_id

    @property
    def token(self) -> str:
        """A static bearer token with every scope, like a Private Integration Token."""
        return self.tokens.static_token

    @property
    def client_id(self) -> str:
        """The accepted OAuth client id."""
        return self.tokens.client_id

    @property
    def client_secret(self) -> str:
        """The accepted OAuth client secret."""
        return self.tokens.client_secret

    @property
    def headers(self) -> dict[str, str]:
        """Headers of a valid API call: bearer token and Version."""
        return {"Authorization": f"Bearer {self.token}", "Version": API_VERSION}

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests answered so far, in arrival order."""
        with self._requests_lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        """Forgets the recorded requests."""
        with self._requests_lock:
            self._requests.clear()

    def script(
        self, path_prefix: str, responses: Iterable[Any], method: str | None = None
    ) -> None:
        """Queues answers for the next requests whose path starts with a prefix.

        Each entry is a :class:`sandbox.faults.Scripted`, a status (``429``; 200
        means a normal answer), a fault kind (``"reset"``) or a dict of
        ``Scripted`` fields, e.g. ``{"status": 429, "headers": {"Retry-After":
        "0"}}`` or ``{"transform": lambda body: {**body, "contacts": None}}``.
        """
        self.scripts.add(path_prefix, responses, method)

    def clear_scripts(self) -> None:
        """Drops every queued scripted answer."""
        self.scripts.clear()

    def issue_token(
        self, scopes: Iterable[str] | None = None, ttl: float | None = None
    ) -> str:
        """A new access token with the given scopes and lifetime (seconds)."""
        return self.tokens.issue_token(scopes, ttl)

    def expire_token(self, token: str) -> None:
        """Makes ``token`` expired."""
        self.tokens.expire(token)

    def issue_auth_code(self, scopes: Iterable[str] | None = None) -> str:
        """An authorization code for ``POST /oauth/token``, as after consent."""
        return self.tokens.issue_code(scopes)

    def deactivate_location(self, active: bool = False) -> None:
        """Makes token requests answer ``Location is not active`` (or undoes it)."""
        self.tokens.location_active = active

    def exhaust_daily_budget(self, token: str | None = None) -> None:
        """Uses up the daily rate budget of a token (the static one by default)."""
        self.limiter.exhaust_daily(self._rate_key(token or self.token))

    @property
    def webhook_public_key_pem(self) -> str | None:
        """The PEM public key that verifies ``x-ghl-signature``, if webhooks are on."""
        return None if self.webhooks is None else self.webhooks.public_key_pem

    # ------------------------------------------------------------------ routing

    def _route_table(self) -> list[tuple[str, re.Pattern, str | None, Callable]]:
        return [
            ("POST", re.compile(r"/contacts/search"), SCOPE_CONTACTS, self._search),
            ("GET", re.compile(r"/contacts/?"), SCOPE_CONTACTS, self._list_contacts),
            (
                "GET",
                re.compile(r"/contacts/business/([^/]+)"),
                SCOPE_CONTACTS,
                self._business_contacts,
            ),
            (
                "GET",
                re.compile(r"/contacts/([^/]+)/tasks"),
                SCOPE_CONTACTS,
                self._tasks,
            ),
            (
                "GET",
                re.compile(r"/contacts/([^/]+)/notes"),
                SCOPE_CONTACTS,
                self._notes,
            ),
            ("GET", re.compile(r"/contacts/([^/]+)"), SCOPE_CONTACTS, self._contact),
            (
                "GET",
                re.compile(r"/businesses/?"),
                "businesses.readonly",
                self._businesses,
            ),
            (
                "GET",
                re.compile(r"/locations/([^/]+)/customFields"),
                "locations/customFields.readonly",
                self._custom_fields,
            ),
            (
                "POST",
                re.compile(r"/locations/([^/]+)/tasks/search"),
                "locations/tasks.readonly",
                self._task_search,
            ),
        ]

    def _rate_key(self, token: str) -> str:
        return f"{self.location_id}:{token}"

    def dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        headers: dict[str, str],
        identity: bytes,
    ) -> Response:
        """Answers one request (without touching the socket)."""
        scripted = self.scripts.take(method, path)
        if scripted is not None:
            answer = self._scripted(scripted, method, path, query, body, headers)
            if answer is not None:
                return answer

        is_oauth = path.startswith("/oauth/")
        if not is_oauth or self.fault_oauth:
            fault = self.faults.draw(identity)
            if fault is not None:
                answer = self._fault(fault)
                if answer is not None:
                    return answer
                # A "slow" fault waited; the normal answer follows.

        answer = self._answer(method, path, query, body, headers)
        if scripted is not None:
            self._apply_script(scripted, answer)
        return answer

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        headers: dict[str, str],
    ) -> Response:
        if path.startswith("/oauth/"):
            return self._oauth(method, path, query, body)

        token = _bearer(headers.get("authorization", ""))
        route = self._match(method, path)
        scope = route[2] if route else None
        refusal = self.tokens.check(token, scope)
        if refusal is not None:
            key = self._rate_key(token) if token else "anonymous"
            answer = ApiError(401, refusal, "Unauthorized").response()
            answer.headers = self.limiter.take(key).headers()
            return answer

        budget = self.limiter.take(self._rate_key(token))
        rate_headers: dict[str, str | None] = dict(budget.headers())
        if not budget.allowed:
            rate_headers["X-RateLimit-Remaining"] = "0"
            if self.retry_after == "seconds":
                rate_headers["Retry-After"] = self.limiter.retry_after(budget)
            elif self.retry_after == "zero":
                rate_headers["Retry-After"] = "0"
            return Response(429, error_body(429), rate_headers)

        if headers.get("version") != API_VERSION:
            answer = ApiError(
                400, f"Version header is missing or invalid; use {API_VERSION}"
            ).response()
        elif route is None:
            verb = method.upper()
            answer = ApiError(404, f"Cannot {verb} {path}", "Not Found").response()
        else:
            handler, args = route[3], route[4]
            try:
                answer = Response(200, handler(*args, query=query, body=body))
            except ApiError as error:
                answer = error.response()
        answer.headers = rate_headers
        return answer

    def _match(self, method: str, path: str):
        for verb, pattern, scope, handler in self._routes:
            if verb != method:
                continue
            found = pattern.fullmatch(path)
            if found:
                return verb, pattern, scope, handler, found.groups()
        return None

    # ----------------------------------------------------- scripts and faults

    def _scripted(self, scripted: Scripted, method, path, query, body, headers):
        if scripted.fault is not None:
            answer = self._fault(scripted.fault)
            if answer is not None:
                return answer
            return None
        if scripted.status == 200 and scripted.body is None:
            return None  # answer normally, then apply transform and headers
        answer = Response(
            scripted.status,
            error_body(scripted.status) if scripted.body is None else scripted.body,
            fault="scripted",
        )
        budget = self.limiter.take(
            self._rate_key(_bearer(headers.get("authorization", "")) or "anonymous")
        )
        answer.headers = dict(budget.headers())
        if scripted.status == 429:
            answer.headers["X-RateLimit-Remaining"] = "0"
        answer.headers.update(scripted.headers)
        return answer

    def _apply_script(self, scripted: Scripted, answer: Response) -> None:
        answer.fault = "scripted"
        if scripted.transform is not None and answer.status == 200:
            answer.body = scripted.transform(answer.body)
        if scripted.headers:
            answer.headers = dict(answer.headers or {})
            answer.headers.update(scripted.headers)

    def _fault(self, kind: str) -> Response | None:
        if kind == "slow":
            time.sleep(self.slow_seconds)
            return None
        if kind in ("429", "429-no-retry-after"):
            headers: dict[str, str | None] = {
                "X-RateLimit-Max": str(self.limiter.burst_max),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Interval-Milliseconds": str(self.limiter.interval_ms),
            }
            if kind == "429":
                headers["Retry-After"] = self.fault_retry_after
            return Response(429, error_body(429), headers, fault=kind)
        if kind == "502":
            page = b"<html><head><title>502 Bad Gateway</title></head></html>"
            return Response(502, page, {}, kind, "text/html")
        if kind in ("500", "503"):
            return Response(int(kind), error_body(int(kind)), {}, fault=kind)
        return Response(0, None, {}, fault=kind)  # reset, truncated: socket level

    # ------------------------------------------------------------- rendering

    def render_contact(
        self, contact: dict[str, Any], search_key: int | None = None
    ) -> dict[str, Any]:
        """A contact as served: strictness, email shape and ``searchAfter``."""
        if self.spec_strict:
            contact = {k: v for k, v in contact.items() if v is not None}
            contact["customFields"] = [
                {"id": f["id"], "value": _as_text(f["value"])}
                for f in contact.get("customFields", [])
            ]
        elif self.additional_email_objects and contact.get("additionalEmails"):
            contact["additionalEmails"] = [
                {"email": email} for email in contact["additionalEmails"]
            ]
        if search_key is not None:
            key: Any = str(search_key) if self.spec_strict else search_key
            contact["searchAfter"] = [key, contact["id"]]
        return contact

    # ------------------------------------------------------------- endpoints

    def _location(self, value: Any) -> None:
        if not value:
            raise _unprocessable("locationId should not be empty")
        if value != self.location_id:
            raise ApiError(
                403, "The token does not have access to this location.", "Forbidden"
            )

    def _search(self, *, query: dict[str, str], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _unprocessable("body must be a JSON object")
        problems = []
        if not body.get("locationId"):
            problems.append("locationId should not be empty")
        limit = body.get("pageLimit")
        if not _is_int(limit):
            problems.append("pageLimit must be an integer number")
        elif not 1 <= limit <= SEARCH_PAGE_LIMIT_MAX:
            problems.append(f"pageLimit must be between 1 and {SEARCH_PAGE_LIMIT_MAX}")
        if problems:
            raise _unprocessable(*problems)
        self._location(body["locationId"])
        if body.get("query"):
            raise _unprocessable("query is not supported by the sandbox")

        sort, descending = _parse_sort(body.get("sort"))
        ranges = _parse_filters(body.get("filters"))
        after = _parse_search_after(body.get("searchAfter"))
        page = body.get("page", 1)
        if after is None:
            if not _is_int(page) or page < 1:
                raise _unprocessable("page must be a positive integer")
            if page * limit > SEARCH_WINDOW:
                raise _unprocessable(
                    f"page * pageLimit may not exceed {SEARCH_WINDOW} records "
                    f"(got page {page} * pageLimit {limit}); use searchAfter to "
                    f"paginate beyond {SEARCH_WINDOW}"
                )
            offset = (page - 1) * limit
        else:
            offset = 0

        keys = self.data.scan(sort, descending=descending, ranges=ranges, after=after)
        contacts = []
        for ms, _, ref in islice(keys, offset, offset + limit):
            contact = self.data.resolve(ref)
            if contact is not None:
                contacts.append(self.render_contact(contact, ms))
        return {"contacts": contacts, "total": self.data.count(ranges)}

    def _list_contacts(self, *, query: dict[str, str], body: Any) -> dict[str, Any]:
        self._location(query.get("locationId"))
        limit = _query_int(query, "limit", 20, LIST_LIMIT_MAX)
        start_after, start_after_id = query.get("startAfter"), query.get("startAfterId")
        after = None
        # GHL quirk (case R01): a cursor missing either half is ignored, so the
        # first page comes back with the same meta.
        if start_after and start_after_id:
            try:
                after = (parse_ms(start_after), start_after_id)
            except ValueError as error:
                raise _unprocessable("startAfter must be a number") from error

        keys = list(islice(self.data.scan("dateAdded", after=after), limit))
        contacts = [
            self.render_contact(c)
            for c in (self.data.resolve(ref) for _, _, ref in keys)
            if c is not None
        ]
        total = self.data.count()
        before = 0 if after is None else self.data.position("dateAdded", after)
        current = before // limit + 1
        meta: dict[str, Any] = {
            "total": total,
            "nextPageUrl": None,
            "startAfterId": None,
            "startAfter": None,
            "currentPage": current,
            "nextPage": None,
            "prevPage": current - 1 if current > 1 else None,
        }
        if keys:
            last_ms, last_id, _ = keys[-1]
            meta.update(startAfterId=last_id, startAfter=last_ms)
            if len(keys) == limit and before + limit < total:
                cursor = urlencode(
                    {
                        "locationId": self.location_id,
                        "startAfter": last_ms,
                        "startAfterId": last_id,
                        "limit": limit,
                    }
                )
                meta.update(
                    nextPageUrl=f"{self.base_url}/contacts/?{cursor}",
                    nextPage=current + 1,
                )
        return {"contacts": contacts, "count": total, "meta": meta}

    def _not_found(self, what: str) -> ApiError:
        status = self.not_found_status
        error = "Not Found" if status == 404 else None
        return ApiError(status, f"{what} not found", error)

    def _contact(self, contact_id: str, *, query, body) -> dict[str, Any]:
        contact = self.data.get_contact(contact_id)
        if contact is None:
            raise self._not_found("Contact")
        return {"contact": self.render_contact(contact)}

    def _tasks(self, contact_id: str, *, query, body) -> dict[str, Any]:
        tasks = self.data.tasks_for(contact_id)
        if tasks is None:
            raise self._not_found("Contact")
        return {"tasks": tasks}

    def _notes(self, contact_id: str, *, query, body) -> dict[str, Any]:
        notes = self.data.notes_for(contact_id)
        if notes is None:
            raise self._not_found("Contact")
        return {"notes": notes}

    def _businesses(self, *, query: dict[str, str], body: Any) -> dict[str, Any]:
        self._location(query.get("locationId"))
        limit = _query_int(query, "limit", 100, SEARCH_PAGE_LIMIT_MAX)
        skip = _query_int(query, "skip", 0, None)
        businesses = self.data.businesses(skip, limit)
        if self.spec_strict:
            businesses = [{k: v for k, v in b.items() if v} for b in businesses]
        return {"businesses": businesses}

    def _business_contacts(self, business_id: str, *, query, body) -> dict[str, Any]:
        self._location(query.get("locationId"))
        limit = _query_int(query, "limit", 25, LIST_LIMIT_MAX)
        skip = _query_int(query, "skip", 0, None)
        found = self.data.business_contacts(business_id, skip, limit)
        if found is None:
            raise self._not_found("Business")
        contacts, count = found
        return {"contacts": [self.render_contact(c) for c in contacts], "count": count}

    def _custom_fields(self, location_id: str, *, query, body) -> dict[str, Any]:
        self._location(location_id)
        model = query.get("model", "all")
        if model not in ("contact", "opportunity", "all"):
            raise _unprocessable("model must be one of contact, opportunity, all")
        fields = [] if model == "opportunity" else self.data.custom_fields()
        return {"customFields": fields}

    def _task_search(self, location_id: str, *, query, body) -> dict[str, Any]:
        self._location(location_id)
        body = body if isinstance(body, dict) else {}
        limit, skip = body.get("limit", 25), body.get("skip", 0)
        completed, contact_ids = body.get("completed"), body.get("contactId")
        problems = []
        if not _is_int(limit) or not 1 <= limit <= LIST_LIMIT_MAX:
            problems.append(f"limit must be between 1 and {LIST_LIMIT_MAX}")
        if not _is_int(skip) or skip < 0:
            problems.append("skip must be a non-negative integer")
        if completed is not None and not isinstance(completed, bool):
            problems.append("completed must be a boolean value")
        if contact_ids is not None and not isinstance(contact_ids, list):
            problems.append("contactId must be an array")
        if problems:
            raise _unprocessable(*problems)
        tasks = self.data.search_tasks(
            skip=skip, limit=limit, completed=completed, contact_ids=contact_ids
        )
        return {"tasks": tasks}

    # ------------------------------------------------------------------ OAuth

    def _oauth(self, method: str, path: str, query: dict[str, str], body: Any):
        if method == "GET" and path == "/oauth/chooselocation":
            if query.get("client_id") != self.client_id:
                return ApiError(400, "Invalid client_id").response()
            redirect = query.get("redirect_uri")
            if not redirect:
                return _unprocessable("redirect_uri should not be empty").response()
            code = self.issue_auth_code((query.get("scope") or "").split() or None)
            params = {"code": code}
            if query.get("state") is not None:
                params["state"] = query["state"]
            joiner = "&" if "?" in redirect else "?"
            return Response(
                302, None, {"Location": redirect + joiner + urlencode(params)}
            )
        if method == "POST" and path == "/oauth/token":
            form = body if isinstance(body, dict) else {}
            try:
                return Response(200, self.tokens.exchange(form))
            except OAuthError as error:
                return Response(error.status, error.body)
        return ApiError(404, f"Cannot {method} {path}", "Not Found").response()

    # ------------------------------------------------------------- recording

    def record(self, record: RequestRecord) -> None:
        if self.record_requests:
            with self._requests_lock:
                self._requests.append(record)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-answer is normal under fault tests.
        logger.debug("connection from %s ended with an error", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    sandbox: Sandbox

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        body = _parse_body(raw, headers.get("content-type", ""))
        identity = b"%s %s?%s|%s" % (
            self.command.encode(),
            parts.path.encode(),
            parts.query.encode(),
            raw,
        )

        answer = self.sandbox.dispatch(
            self.command, parts.path, query, body, headers, identity
        )
        # Recorded before answering, so that a client never sees its answer
        # before the record exists.
        status = 0 if answer.fault == "reset" else answer.status
        self.sandbox.record(
            RequestRecord(
                self.command, parts.path, query, body, headers, status, answer.fault
            )
        )
        if answer.fault == "reset":
            self._reset()
        elif answer.fault == "truncated":
            self._truncated(query, body, headers, parts.path)
        else:
            self._send(answer)

    def _send(self, answer: Response, cut: bool = False) -> None:
        body = answer.body
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = _dumps(body)

        lines = [f"HTTP/1.1 {answer.status} {_phrase(answer.status)}"]
        headers: dict[str, str | None] = {"Content-Type": answer.content_type}
        headers.update(answer.headers or {})
        if cut and self.sandbox.truncate_mode == "close":
            headers["Connection"] = "close"
        else:
            headers["Content-Length"] = str(len(payload))
        if self.close_connection:
            headers["Connection"] = "close"
        lines += [f"{k}: {v}" for k, v in headers.items() if v is not None]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if cut:
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        try:
            self.wfile.write(head + payload)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.close_connection = True
        self.connection.close()

    def _truncated(self, query, body, headers, path) -> None:
        answer = self.sandbox._answer(self.command, path, query, body, headers)
        self._send(answer, cut=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _bearer(value: str) -> str | None:
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(raw.decode(), True).items()}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


def _query_int(query: dict[str, str], name: str, default: int, top: int | None) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as error:
        raise _unprocessable(f"{name} must be an integer number") from error
    if value < 0:
        raise _unprocessable(f"{name} must not be less than 0")
    if top is not None and value > top:
        raise _unprocessable(f"{name} must not be greater than {top}")
    return value


def _parse_sort(sort: Any) -> tuple[str, bool]:
    if sort is None or sort == []:
        return "dateAdded", False
    if not isinstance(sort, list) or not isinstance(sort[0], dict):
        raise _unprocessable("sort must be an array of {field, direction}")
    field, direction = sort[0].get("field"), sort[0].get("direction", "asc")
    if field not in SORT_FIELDS:
        raise _unprocessable(f"sort field must be one of {', '.join(SORT_FIELDS)}")
    if direction not in ("asc", "desc"):
        raise _unprocessable("sort direction must be asc or desc")
    return field, direction == "desc"


def _parse_filters(filters: Any) -> tuple[Range, ...]:
    if filters is None:
        return ()
    if not isinstance(filters, list):
        raise _unprocessable("filters must be an array")
    ranges = []
    for item in filters:
        if not isinstance(item, dict) or item.get("field") not in SORT_FIELDS:
            raise _unprocessable(
                f"the sandbox filters only on {', '.join(SORT_FIELDS)}: {item!r}"
            )
        value = item.get("value")
        if item.get("operator") != "range" or not isinstance(value, dict):
            raise _unprocessable("operator must be range with a {gt,gte,lt,lte} value")
        if not value or set(value) - set(RANGE_OPERATORS):
            raise _unprocessable(f"range keys must be among {RANGE_OPERATORS}")
        lo, hi = -(2**62), 2**62
        try:
            for operator, bound in value.items():
                ms = parse_ms(bound)
                if operator == "gt":
                    lo = max(lo, ms + 1)
                elif operator == "gte":
                    lo = max(lo, ms)
                elif operator == "lt":
                    hi = min(hi, ms)
                else:
                    hi = min(hi, ms + 1)
        except ValueError as error:
            raise _unprocessable(f"invalid date in filter: {error}") from error
        ranges.append(Range(item["field"], lo, hi))
    return tuple(ranges)


def _parse_search_after(value: Any) -> tuple[int, str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], str):
        raise _unprocessable("searchAfter must be [sortValue, id]")
    try:
        return parse_ms(value[0]), value[1]
    except ValueError as error:
        raise _unprocessable("searchAfter[0] must be a timestamp") from error
