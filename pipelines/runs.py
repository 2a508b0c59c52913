"""Pipeline runs: build the dlt pipeline, run the ``ghl`` source, count what landed."""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from sources.ghl import Journal, ghl
from sources.ghl.client import GHLClient
from sources.ghl.errors import PaginationError
from sources.ghl.pagination import SearchPages

logger = logging.getLogger(__name__)

PIPELINE_NAME = "ghl_concord"
RAW_DATASET = "ghl_raw"
DEFAULT_DUCKDB = "ghl_concord.duckdb"
RAW_TABLES = (
    "contacts",
    "contact_tags",
    "contact_custom_fields",
    "contact_additional_emails",
    "tasks",
    "notes",
    "businesses",
    "business_contacts",
    "business_contact_counts",
    "custom_fields",
)


@dataclass
class RunSummary:
    """What a run did: rows per table, requests sent, time taken."""

    rows: dict[str, int] = field(default_factory=dict)
    api_total: int | None = None
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def make_pipeline(
    destination: str = "duckdb",
    duckdb_path: str | Path | None = None,
    pipelines_dir: str | Path | None = None,
    pipeline_name: str = PIPELINE_NAME,
    dataset_name: str = RAW_DATASET,
) -> dlt.Pipeline:
    """The pipeline for ``destination``: a DuckDB file or a configured warehouse."""
    if destination == "duckdb":
        # Absolute: dlt resolves a relative file against the folder where the
        # pipeline first ran, which may be another checkout.
        path = Path(duckdb_path or DEFAULT_DUCKDB).resolve()
        target: Any = dlt.destinations.duckdb(str(path))
    else:
        target = destination
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=target,
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
    )


CONTACT_RESOURCES = (
    "contacts",
    "contact_tags",
    "contact_custom_fields",
    "contact_additional_emails",
    "tasks",
    "notes",
)
# A run checks its children against what it read only up to this many contacts;
# bigger runs leave deletes to `run --reconcile`.
MAX_CHILD_DIFF_CONTACTS = 50_000


def load(
    pipeline: dlt.Pipeline,
    client: GHLClient,
    location_id: str,
    resources: list[str] | None = None,
    mode: str = "incremental",
    pages_per_run: int = 20,
    **source_options: Any,
) -> RunSummary:
    """Extract one location and load it, checkpointing every ``pages_per_run``.

    Each batch of contact pages is one dlt load, so a stop (a crash, the daily
    budget) loses at most the batch in flight; the next run resumes after the
    last loaded batch. Businesses and custom fields load with the first batch.

    Args:
        pipeline: where the rows go.
        client: the location's HTTP client (its counters feed the summary).
        location_id: the location to read.
        resources: resource names to load; all when omitted.
        mode: ``incremental``, ``full``, ``backfill`` or ``ids`` (see ``ghl``).
        pages_per_run: contact pages per load (0: all in one load).
        source_options: further arguments of the ``ghl`` source.
    """
    started = time.perf_counter()
    sent_before = client.requests_sent
    summary = RunSummary()
    finish_interrupted(pipeline)
    first = True
    while True:
        journal = Journal()
        if mode in ("full", "incremental"):
            source_options["business_scope"] = (
                "all"
                if mode == "full" or not _cursor(pipeline, location_id)
                else "changed"
            )
        source = ghl(
            location_id=location_id,
            client=client,
            mode=mode,
            pages_per_run=pages_per_run,
            journal=journal,
            **source_options,
        )
        selected = list(resources or source.selected_resources.keys())
        if not first:
            selected = [r for r in selected if r in CONTACT_RESOURCES]
        source = source.with_resources(*selected)

        info = pipeline.run(source, loader_file_format="parquet")
        _log_load(info)
        mark_deleted(pipeline, location_id, journal)
        if journal.api_total is not None:
            summary.api_total = journal.api_total
        if not journal.more:
            break
        first = False
        # The saved sweep resumes where this batch stopped.
        mode = "incremental" if mode == "full" else mode

    summary.rows = table_counts(pipeline)
    summary.requests = client.requests_sent - sent_before
    summary.retries = client.retries
    summary.elapsed = time.perf_counter() - started
    return summary


def finish_interrupted(pipeline: dlt.Pipeline) -> None:
    """Load what an interrupted run left behind, before extracting anything new.

    dlt's ``run`` would load pending packages and skip the new extraction; doing
    it here first lets this run go on. Syncing first also settles the state that
    decisions of this run read (dlt resets a working folder whose dataset was
    never created).
    """
    pipeline.sync_destination()
    if pipeline.has_pending_data:
        logger.warning("finishing a load that an interrupted run left behind")
        pipeline.normalize()
        pipeline.load()


def mark_deleted(pipeline: dlt.Pipeline, location_id: str, journal: Journal) -> int:
    """Flag rows that the run found gone: contacts, and children of read contacts.

    Returns:
        The number of rows newly flagged.
    """
    now = datetime.now(UTC)
    flagged = 0
    if not pipeline.schemas:
        return 0
    # A table that no load created yet has nothing to flag.
    loaded = set(pipeline.default_schema.data_table_names())
    for contact_id in journal.gone_contacts:
        logger.warning(
            "contact %s of location %s is not found in GHL: flagged deleted if loaded",
            contact_id,
            location_id,
        )
    with pipeline.sql_client() as sql:
        for chunk in _chunks(journal.gone_contacts):
            for table, column in (
                ("contacts", "id"),
                ("tasks", "contact_id"),
                ("notes", "contact_id"),
            ):
                if table in loaded:
                    name = sql.make_qualified_table_name(table)
                    flagged += _flag(sql, name, column, location_id, chunk, now)

        for kind, seen in journal.children.items():
            if not seen or len(seen) > MAX_CHILD_DIFF_CONTACTS or kind not in loaded:
                continue
            table = sql.make_qualified_table_name(kind)
            gone = []
            for chunk in _chunks(list(seen)):
                marks = ", ".join(["%s"] * len(chunk))
                rows = sql.execute_sql(
                    f"select contact_id, id from {table} where location_id = %s "
                    f"and contact_id in ({marks}) and not coalesce(is_deleted, false)",
                    location_id,
                    *chunk,
                )
                gone += [i for contact_id, i in rows if i not in seen[contact_id]]
            for chunk in _chunks(gone):
                flagged += _flag(sql, table, "id", location_id, chunk, now)
    if flagged:
        logger.info("flagged %d rows of location %s as deleted", flagged, location_id)
    return flagged


def _flag(sql: Any, table: str, column: str, location_id: str, ids, now) -> int:
    marks = ", ".join(["%s"] * len(ids))
    where = (
        f"where location_id = %s and {column} in ({marks}) "
        "and not coalesce(is_deleted, false)"
    )
    ((count,),) = sql.execute_sql(
        f"select count(*) from {table} {where}", location_id, *ids
    )
    sql.execute_sql(
        f"update {table} set is_deleted = true, deleted_at = %s {where}",
        now,
        location_id,
        *ids,
    )
    return count


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _cursor(pipeline: dlt.Pipeline, location_id: str) -> str | None:
    state = pipeline.state.get("sources", {}).get("ghl", {})
    return state.get("locations", {}).get(location_id, {}).get("contacts_cursor")


def table_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows in each raw table that exists in the destination."""
    known = pipeline.default_schema.data_table_names() if pipeline.schemas else []
    counts: dict[str, int] = {}
    with pipeline.sql_client() as sql:
        for table in RAW_TABLES:
            if table in known:
                name = sql.make_qualified_table_name(table)
                counts[table] = sql.execute_sql(f"select count(*) from {name}")[0][0]
    return counts


def _log_load(info: LoadInfo) -> None:
    for package in info.load_packages:
        logger.info("load package %s: %s", package.load_id, package.state)


def reconcile(pipeline: dlt.Pipeline, client: GHLClient, location_id: str) -> int:
    """Flag contacts the API no longer lists, with their tasks and notes.

    Lists every contact id of the location and compares with the contacts in the
    destination that are not yet flagged; rows are kept, flagged ``is_deleted``.

    Returns:
        The number of contacts found gone.
    """
    listed: set[str] = set()
    pages = SearchPages(client, location_id, sort_field="dateAdded")
    for page in pages:
        listed.update(contact["id"] for contact in page)
    if pages.total is not None and len(listed) < pages.total:
        raise PaginationError(
            f"listed {len(listed)} contacts but the API reported {pages.total}; "
            "not flagging anything on an incomplete list, run again"
        )

    with pipeline.sql_client() as sql:
        contacts = sql.make_qualified_table_name("contacts")
        stored = sql.execute_sql(
            f"select id from {contacts} where location_id = %s "
            "and not coalesce(is_deleted, false)",
            location_id,
        )
    journal = Journal()
    journal.gone_contacts = sorted({i for (i,) in stored} - listed)
    mark_deleted(pipeline, location_id, journal)
    logger.info(
        "reconciled location %s: %d listed, %d gone",
        location_id,
        len(listed),
        len(journal.gone_contacts),
    )
    return len(journal.gone_contacts)
