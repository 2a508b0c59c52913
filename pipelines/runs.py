"""Pipeline runs: build the dlt pipeline, run the ``ghl`` source, count what landed."""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from sources.ghl import ghl
from sources.ghl.client import GHLClient

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
        target: Any = dlt.destinations.duckdb(str(duckdb_path or DEFAULT_DUCKDB))
    else:
        target = destination
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=target,
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
    )


def load(
    pipeline: dlt.Pipeline,
    client: GHLClient,
    location_id: str,
    resources: list[str] | None = None,
    max_concurrency: int = 8,
    **source_options: Any,
) -> RunSummary:
    """Extract every selected resource of one location and load it.

    Args:
        pipeline: where the rows go.
        client: the location's HTTP client (its counters feed the summary).
        location_id: the location to read.
        resources: resource names to load; all when omitted.
        max_concurrency: per-contact requests in flight at once.
        source_options: further arguments of the ``ghl`` source.
    """
    started = time.perf_counter()
    sent_before = client.requests_sent
    source = ghl(
        location_id=location_id,
        client=client,
        max_concurrency=max_concurrency,
        **source_options,
    )
    if resources:
        source = source.with_resources(*resources)

    info = pipeline.run(source, loader_file_format="parquet")
    _log_load(info)
    return RunSummary(
        rows=table_counts(pipeline),
        requests=client.requests_sent - sent_before,
        retries=client.retries,
        elapsed=time.perf_counter() - started,
    )


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
