"""Walks GHL's three kinds of pages: search cursors, skip/limit, startAfter pairs.

Every walker yields page by page and stops on an empty page, a ``null`` or missing
list, or a short page (R17, R19); it never trusts a ``total`` to stop (R02), and
fails loudly on a cursor that repeats instead of looping.
"""

import logging
from collections.abc import Iterator
from typing import Any

from .client import GHLClient
from .errors import PaginationError
from .settings import MAX_PAGES, SEARCH_PAGE_LIMIT

logger = logging.getLogger(__name__)


class SearchPages:
    """Pages of ``POST /contacts/search``, always by ``searchAfter``.

    ``page`` + ``pageLimit`` reach only the first 10,000 records (R04), so the walk
    starts without a cursor and then sends the ``searchAfter`` of the last contact
    of each page. After the walk, ``total`` holds the API's last reported total
    and ``seen`` the contacts received.

    Args:
        client: the location's client.
        location_id: the location to search.
        filters: GHL search filters, e.g. a ``range`` on ``dateUpdated``.
        sort_field: ``dateUpdated`` or ``dateAdded``, ascending.
        page_limit: contacts per page (GHL allows at most 500).
        search_after: a cursor to resume from.
        resumed: pages and contacts an earlier run of the same walk read, so that
            progress lines count on from there.
    """

    def __init__(
        self,
        client: GHLClient,
        location_id: str,
        filters: list[dict[str, Any]] | None = None,
        sort_field: str = "dateUpdated",
        page_limit: int = SEARCH_PAGE_LIMIT,
        search_after: list[Any] | None = None,
        resumed: tuple[int, int] = (0, 0),
    ) -> None:
        self.client = client
        self.location_id = location_id
        self.filters = filters or []
        self.sort_field = sort_field
        self.page_limit = page_limit
        self.search_after = search_after
        self.total: int | None = None
        self.seen = 0
        self.pages = 0
        self.resumed = resumed

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        cursors: set[str] = set()
        while self.pages < MAX_PAGES:
            body: dict[str, Any] = {
                "locationId": self.location_id,
                "pageLimit": self.page_limit,
                "sort": [{"field": self.sort_field, "direction": "asc"}],
            }
            if self.filters:
                body["filters"] = self.filters
            if self.search_after is not None:
                body["searchAfter"] = self.search_after
            payload = self.client.post("/contacts/search", body) or {}
            contacts = payload.get("contacts") or []
            if payload.get("total") is not None:
                self.total = int(payload["total"])
            self.pages += 1
            if not contacts:
                return

            self.seen += len(contacts)
            logger.info(
                "contacts page %d: %d contacts (%d of %s)",
                self.resumed[0] + self.pages,
                len(contacts),
                self.resumed[1] + self.seen,
                self.total,
            )
            yield contacts
            if len(contacts) < self.page_limit:
                return

            cursor = contacts[-1].get("searchAfter")
            if not cursor:
                raise PaginationError(
                    f"contact {contacts[-1].get('id')} ends a full page without a "
                    "searchAfter cursor; cannot page further"
                )
            key = repr(cursor)
            if key in cursors:
                raise PaginationError(
                    f"search cursor {cursor!r} repeated after page {self.pages}; "
                    "the API is looping, stopping instead of reloading pages"
                )
            cursors.add(key)
            self.search_after = cursor
        raise PaginationError(f"contacts search passed {MAX_PAGES} pages")


def skip_limit_pages(
    client: GHLClient,
    path: str,
    list_key: str,
    limit: int,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Pages of an endpoint with ``skip``/``limit``: yields (items, payload).

    An empty first page is yielded too, for the counts in its payload. GET sends
    ``skip`` and ``limit`` as query parameters; with ``body`` it POSTs them.
    """
    skip = 0
    first_ids: set[str] = set()
    for _ in range(MAX_PAGES):
        window = {"skip": skip, "limit": limit}
        if body is None:
            payload = client.get(path, {**(params or {}), **window}) or {}
        else:
            payload = client.post(path, {**body, **window}) or {}
        items = payload.get(list_key) or []
        if not items:
            # An empty first page still carries the payload's counts.
            if skip == 0:
                yield items, payload
            return
        first = repr(items[0].get("id") if isinstance(items[0], dict) else items[0])
        if first in first_ids:
            raise PaginationError(
                f"{path}: skip={skip} returned the page that starts with {first} "
                "again; the API ignores skip, stopping instead of looping"
            )
        first_ids.add(first)
        yield items, payload
        if len(items) < limit:
            return
        skip += len(items)
    raise PaginationError(f"{path} passed {MAX_PAGES} pages")


def start_after_pages(
    client: GHLClient, location_id: str, limit: int = 100
) -> Iterator[list[dict[str, Any]]]:
    """Pages of the deprecated ``GET /contacts/``.

    Both ``startAfter`` and ``startAfterId`` from the previous ``meta`` are sent:
    with ``startAfter`` alone GHL answers page one again (R01).
    """
    params: dict[str, Any] = {"locationId": location_id, "limit": limit}
    seen_cursors: set[tuple[Any, Any]] = set()
    for _ in range(MAX_PAGES):
        payload = client.get("/contacts/", params) or {}
        contacts = payload.get("contacts") or []
        if not contacts:
            return
        yield contacts
        meta = payload.get("meta") or {}
        cursor = (meta.get("startAfter"), meta.get("startAfterId"))
        if len(contacts) < limit or None in cursor:
            return
        if cursor in seen_cursors:
            raise PaginationError(
                f"GET /contacts/ repeated the cursor {cursor!r}; stopping instead "
                "of reloading the same page"
            )
        seen_cursors.add(cursor)
        params = {**params, "startAfter": cursor[0], "startAfterId": cursor[1]}
    raise PaginationError(f"GET /contacts/ passed {MAX_PAGES} pages")
