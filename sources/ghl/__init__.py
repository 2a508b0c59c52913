"""The dlt source ``ghl``: contacts, tasks, notes and businesses of GHL's API v2.

Every table carries ``location_id``, and ``location_id`` is part of every key, so
several locations can share one dataset. Rows reach dlt as Arrow tables with fixed
types (see :mod:`sources.ghl.rows`).
"""

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration.specs import CredentialsConfiguration, configspec
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from . import rows, settings, sweeps
from .auth import StaticToken, TokenProvider
from .client import GHLClient
from .errors import ConfigurationError, MissingScope, PaginationError
from .governor import RateGovernor
from .journal import Journal
from .pagination import SearchPages, skip_limit_pages

__all__ = ["GHLCredentials", "Journal", "build_client", "ghl"]

logger = logging.getLogger(__name__)

KEY = ["location_id", "id"]
MERGE = {"disposition": "merge", "strategy": "delete-insert"}
MARKER_HINT = {rows.REPLACE_MARKER: {"data_type": "bool", "hard_delete": True}}


@configspec
class GHLCredentials(CredentialsConfiguration):
    """A bearer token: a Private Integration Token or an OAuth access token.

    Set ``sources.ghl.credentials.access_token`` in ``.dlt/secrets.toml`` or the
    environment variable ``SOURCES__GHL__CREDENTIALS__ACCESS_TOKEN``; the plain
    form ``SOURCES__GHL__CREDENTIALS=<token>`` works too.
    """

    access_token: TSecretStrValue = None

    def parse_native_representation(self, native_value: Any) -> None:
        if not isinstance(native_value, str):
            raise ValueError("GHL credentials are a token string or a table")
        self.access_token = native_value
        self.resolve()


def build_client(
    base_url: str,
    location_id: str,
    tokens: TokenProvider | str | None,
    daily_reserve: int = 0,
    timeout: float = settings.READ_TIMEOUT,
    max_concurrency: int = 8,
    **client_options: Any,
) -> GHLClient:
    """A client for one location.

    Args:
        base_url: the API root.
        location_id: the location whose rate budget the client keeps.
        tokens: a token provider (OAuth), or a static token string (a PIT).
        daily_reserve: stop when the daily budget falls to this many requests.
        timeout: read timeout in seconds.
        max_concurrency: per-contact requests in flight at once.
        client_options: further arguments of :class:`GHLClient`.
    """
    if not tokens:
        raise ConfigurationError(
            "no GHL token: set sources.ghl.credentials.access_token in "
            ".dlt/secrets.toml (a Private Integration Token) or run "
            "`ghl-concord auth login`"
        )
    if isinstance(tokens, str):
        tokens = StaticToken(tokens)
    governor = RateGovernor(location_id, daily_reserve=daily_reserve)
    return GHLClient(
        base_url,
        tokens,
        governor,
        timeout=timeout,
        concurrency=max_concurrency,
        **client_options,
    )


@dlt.source(name="ghl", max_table_nesting=0)
def ghl(
    location_id: str = dlt.config.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    credentials: GHLCredentials | None = None,
    max_concurrency: int = 8,
    daily_reserve: int = 0,
    page_limit: int = settings.SEARCH_PAGE_LIMIT,
    mode: str = "incremental",
    lookback_minutes: float = 10,
    pages_per_run: int = 0,
    backfill: tuple[datetime, datetime] | None = None,
    slice_days: int = 30,
    contact_ids: Sequence[str] | None = None,
    task_search: bool = True,
    business_scope: str = "all",
    journal: Journal | None = None,
    client: Any = None,
) -> Sequence[DltResource]:
    """GHL contacts with their tasks, notes, tags and custom fields, and businesses.

    Args:
        location_id: the GHL location (sub-account) to read.
        base_url: the API root.
        credentials: the bearer token, unless ``client`` is given.
        max_concurrency: per-contact requests (tasks, notes) in flight at once.
        daily_reserve: stop when the daily budget falls to this many requests.
        page_limit: contacts per search page (GHL allows at most 500).
        mode: ``incremental`` (from the cursor), ``full`` (every contact again),
            ``backfill`` (the ``backfill`` range by ``dateAdded``, cursor
            untouched) or ``ids`` (just ``contact_ids``).
        lookback_minutes: re-read this far behind the cursor: search lags.
        pages_per_run: stop after this many contact pages (0: no limit) so the
            caller can load and checkpoint; the next run resumes there.
        backfill: ``(since, until)`` for ``mode="backfill"``.
        slice_days: days per backfill slice.
        contact_ids: contacts to fetch for ``mode="ids"``.
        task_search: read tasks with the location-wide task search while the
            token has its scope, else per contact.
        business_scope: ``all`` reads the contacts of every business;
            ``changed`` only of businesses named by the contacts read.
        journal: collects what the run saw, for marking deletes after the load.
        client: a ready :class:`GHLClient` (OAuth runs pass one); built from
            ``credentials`` when omitted.

    Returns:
        The resources ``contacts``, ``contact_tags``, ``contact_custom_fields``,
        ``contact_additional_emails``, ``tasks``, ``notes``, ``businesses``,
        ``business_contacts``, ``business_contact_counts`` and ``custom_fields``,
        all merged on keys that start with ``location_id``.
    """
    if not location_id:
        raise ConfigurationError(
            "sources.ghl.location_id is empty: set it in .dlt/config.toml or "
            "SOURCES__GHL__LOCATION_ID"
        )
    if client is None:
        token = credentials.access_token if credentials else None
        client = build_client(
            base_url,
            location_id,
            token,
            daily_reserve=daily_reserve,
            max_concurrency=max_concurrency,
        )
    journal = journal if journal is not None else Journal()
    use_task_search = {"on": task_search}

    def start_sweep(loc_state: dict[str, Any]) -> sweeps.Sweep:
        if mode == "backfill":
            if not backfill:
                raise ConfigurationError("a backfill needs --since (and --until)")
            return sweeps.start_backfill(loc_state, *backfill, slice_days)
        if mode == "full":
            loc_state.pop("sweep", None)
            return sweeps.Sweep(
                kind=sweeps.INCREMENTAL,
                field="dateUpdated",
                max_seen=loc_state.get("contacts_cursor"),
            )
        return sweeps.start_incremental(loc_state, timedelta(minutes=lookback_minutes))

    @dlt.resource(name="contact_pages", selected=False)
    def contact_pages() -> Iterator[list[dict[str, Any]]]:
        if mode == "ids":
            yield from _pages_by_id(client, contact_ids or [], journal)
            return
        loc_state = sweeps.location_state(dlt.current.source_state(), location_id)
        sweep = start_sweep(loc_state)
        while True:
            pages = SearchPages(
                client,
                location_id,
                filters=sweep.filters(),
                sort_field=sweep.field,
                page_limit=page_limit,
                search_after=sweep.search_after,
                resumed=(sweep.pages, sweep.seen),
            )
            for page in pages:
                yield page
                sweep.record(page)
                sweeps.save(loc_state, sweep, done=False)
                if pages_per_run and pages.pages >= pages_per_run:
                    journal.more = True
                    return
            if pages.total is not None and sweep.seen < pages.total:
                raise PaginationError(
                    f"received {sweep.seen} contacts but the API reported a total "
                    f"of {pages.total}; the pages ended early, run again"
                )
            if not sweep.since and not sweep.until:
                # Only a pass over every contact can be held against the total.
                journal.api_total = pages.total
            if sweep.kind == sweeps.BACKFILL and sweep.next_slice():
                sweeps.save(loc_state, sweep, done=False)
                continue
            if sweep.pages == 0 and not loc_state.get("contacts_cursor"):
                # A location without contacts still gets its (empty) tables, so
                # that the marts and the gate have something to read.
                yield []
            sweeps.save(loc_state, sweep, done=True)
            return

    @dlt.transformer(
        data_from=contact_pages,
        name="contacts",
        primary_key=KEY,
        write_disposition=MERGE,
    )
    def contacts(page: list[dict[str, Any]]) -> Iterator[pa.Table]:
        """Contacts, one row per (location_id, id); merged."""
        # A contact without dateUpdated still lands, dated by dateAdded.
        page = [
            c if c.get("dateUpdated") else {**c, "dateUpdated": c.get("dateAdded")}
            for c in page
        ]
        yield rows.records_table(
            page,
            rows.CONTACT_FIELDS,
            location_id,
            extra={"is_deleted": False, "deleted_at": None},
        )

    def child(name: str, parent: str, columns: dict[str, pa.DataType], pick: Any):
        @dlt.transformer(
            data_from=contact_pages,
            name=name,
            merge_key=["location_id", parent],
            write_disposition=MERGE,
            columns=MARKER_HINT,
        )
        def resource(page: list[dict[str, Any]]) -> Iterator[pa.Table]:
            ids = [c["id"] for c in page]
            children = [(c["id"], value) for c in page for value in pick(c)]
            yield rows.child_table(ids, children, location_id, parent, columns)

        resource.__doc__ = f"{name}: replaced per contact on every load of it."
        return resource

    contact_tags = child(
        "contact_tags",
        "contact_id",
        {"tag": rows.TEXT},
        lambda c: [{"tag": t} for t in rows.text_list(c, "tags")],
    )
    contact_custom_fields = child(
        "contact_custom_fields",
        "contact_id",
        {"field_id": rows.TEXT, "value_text": rows.TEXT},
        rows.custom_field_values,
    )
    contact_additional_emails = child(
        "contact_additional_emails",
        "contact_id",
        {"email": rows.TEXT},
        lambda c: [
            {"email": e} for e in rows.text_list(c, "additionalEmails", "email")
        ],
    )

    def fetch_children(kind: str, contact_id: str) -> list[dict[str, Any]]:
        payload = client.get(f"/contacts/{contact_id}/{kind}") or {}
        records = payload.get(kind) or []
        # Tasks may arrive without contactId (R15): the request names the contact.
        return [{**r, "contactId": r.get("contactId") or contact_id} for r in records]

    def search_tasks(ids: list[str]) -> list[dict[str, Any]] | None:
        # One location-wide search per page of contacts instead of a call per
        # contact; without its scope, read per contact for the rest of the run.
        if not use_task_search["on"]:
            return None
        found: list[dict[str, Any]] = []
        try:
            for items, _ in skip_limit_pages(
                client,
                f"/locations/{location_id}/tasks/search",
                "tasks",
                settings.TASK_SEARCH_PAGE_LIMIT,
                body={"contactId": ids},
            ):
                found.extend(items)
        except MissingScope as exc:
            logger.warning("no %s scope: reading tasks per contact", exc.scope)
            use_task_search["on"] = False
            return None
        return found

    def per_contact(kind: str, fields: dict[str, tuple[str, pa.DataType]]):
        @dlt.transformer(
            data_from=contact_pages,
            name=kind,
            primary_key=KEY,
            write_disposition=MERGE,
            parallelized=True,
        )
        def resource(page: list[dict[str, Any]]) -> Iterator[pa.Table]:
            ids = [c["id"] for c in page]
            records = search_tasks(ids) if kind == "tasks" else None
            if records is None:
                batches = client.map(lambda cid: fetch_children(kind, cid), ids)
                records = [r for batch in batches for r in batch]
            journal.saw_children(kind, ids, records)
            if records:
                yield rows.records_table(
                    records,
                    fields,
                    location_id,
                    extra={"is_deleted": False, "deleted_at": None},
                )

        resource.__doc__ = f"{kind} of every contact read, keyed (location_id, id)."
        return resource

    tasks = per_contact("tasks", rows.TASK_FIELDS)
    notes = per_contact("notes", rows.NOTE_FIELDS)

    @dlt.resource(name="businesses", primary_key=KEY, write_disposition=MERGE)
    def businesses() -> Iterator[pa.Table]:
        """Businesses of the location, keyed (location_id, id); merged."""
        for items, _ in skip_limit_pages(
            client,
            "/businesses/",
            "businesses",
            settings.BUSINESS_PAGE_LIMIT,
            params={"locationId": location_id},
        ):
            if items:
                yield rows.records_table(items, rows.BUSINESS_FIELDS, location_id)

    linked: set[str] = set()

    # TODO(ghl-concord): a contact that leaves a business shows in the old
    # business's links only after a full refresh, once the source keeps each
    # contact's previous businessId.
    @dlt.transformer(
        data_from=businesses if business_scope == "all" else contact_pages,
        name="business_links",
        selected=False,
    )
    def business_links(item: Any) -> Iterator[dict[str, Any]]:
        if isinstance(item, pa.Table):
            wanted = item.column("id").to_pylist()
        else:
            wanted = list(
                dict.fromkeys(c["businessId"] for c in item if c.get("businessId"))
            )
        ids = [b for b in wanted if b not in linked]
        linked.update(ids)
        if ids:
            yield {"ids": ids, "results": client.map(_business_contacts, ids)}

    def _business_contacts(business_id: str) -> tuple[list[str], int | None]:
        contact_ids: list[str] = []
        count = None
        for items, payload in skip_limit_pages(
            client,
            f"/contacts/business/{business_id}",
            "contacts",
            settings.BUSINESS_CONTACTS_PAGE_LIMIT,
            params={"locationId": location_id},
        ):
            contact_ids.extend(str(item["id"]) for item in items)
            if payload.get("count") is not None:
                count = int(payload["count"])
        return contact_ids, count

    @dlt.transformer(
        data_from=business_links,
        name="business_contacts",
        merge_key=["location_id", "business_id"],
        write_disposition=MERGE,
        columns=MARKER_HINT,
    )
    def business_contacts(links: dict[str, Any]) -> Iterator[pa.Table]:
        """Which contacts belong to which business; replaced per business."""
        children = [
            (business_id, {"contact_id": contact_id})
            for business_id, (contact_ids, _) in zip(
                links["ids"], links["results"], strict=True
            )
            for contact_id in contact_ids
        ]
        yield rows.child_table(
            links["ids"],
            children,
            location_id,
            "business_id",
            {"contact_id": rows.TEXT},
        )

    @dlt.transformer(
        data_from=business_links,
        name="business_contact_counts",
        primary_key=["location_id", "business_id"],
        write_disposition=MERGE,
    )
    def business_contact_counts(links: dict[str, Any]) -> Iterator[pa.Table]:
        """The API's contact count per business, keyed (location_id, business_id)."""
        counts = [count for _, count in links["results"]]
        yield pa.table(
            {
                "location_id": [location_id] * len(counts),
                "business_id": links["ids"],
                "api_contact_count": counts,
                "fetched_at": [datetime.now(UTC)] * len(counts),
            },
            schema=pa.schema(
                [
                    pa.field("location_id", rows.TEXT, nullable=False),
                    pa.field("business_id", rows.TEXT, nullable=False),
                    pa.field("api_contact_count", pa.int64()),
                    pa.field("fetched_at", rows.TS),
                ]
            ),
        )

    @dlt.resource(name="custom_fields", primary_key=KEY, write_disposition=MERGE)
    def custom_fields() -> Iterator[pa.Table]:
        """Custom field definitions of the location, keyed (location_id, id)."""
        payload = client.get(
            f"/locations/{location_id}/customFields", {"model": "contact"}
        )
        fields = (payload or {}).get("customFields") or []
        yield rows.records_table(fields, rows.CUSTOM_FIELD_FIELDS, location_id)

    return (
        contact_pages,
        contacts,
        contact_tags,
        contact_custom_fields,
        contact_additional_emails,
        tasks,
        notes,
        businesses,
        business_links,
        business_contacts,
        business_contact_counts,
        custom_fields,
    )


def _pages_by_id(
    client: GHLClient,
    contact_ids: Sequence[str],
    journal: Journal,
) -> Iterator[list[dict[str, Any]]]:
    """Contacts read one by one with ``GET /contacts/{id}``, in pages of 100."""

    def fetch(contact_id: str) -> dict[str, Any] | None:
        payload = client.get(f"/contacts/{contact_id}", allow_status=(400, 404))
        return (payload or {}).get("contact")

    unique = list(dict.fromkeys(contact_ids))
    for start in range(0, len(unique), 100):
        chunk = unique[start : start + 100]
        found = []
        for contact_id, contact in zip(chunk, client.map(fetch, chunk), strict=True):
            if contact:
                found.append(contact)
            else:
                journal.gone_contacts.append(contact_id)
        if found:
            yield found
