"""Shared fixtures: a sandbox per test, a pipeline per test in its own folder."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

from pipelines import runs
from sandbox.server import Sandbox
from sources.ghl import build_client
from sources.ghl.client import GHLClient


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes on loopback; all are stopped after the test."""
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        # The sandbox announces GHL's 100 per 10 s unless told otherwise; tests
        # that are not about pacing run at a fast announced limit.
        options.setdefault("rate_limit_max", 5000)
        options.setdefault("rate_limit_interval_ms", 1000)
        api = Sandbox(**options)
        api.start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


@pytest.fixture
def pipeline(tmp_path: Path) -> dlt.Pipeline:
    """A DuckDB pipeline in the test's own folder."""
    return runs.make_pipeline(
        duckdb_path=tmp_path / "ghl.duckdb",
        pipelines_dir=tmp_path / "dlt",
        pipeline_name="ghl_test",
    )


def client_for(api: Sandbox, **options: Any) -> GHLClient:
    """A client with the sandbox's static token and fast retries."""
    options.setdefault("backoff_base", 0.01)
    return build_client(api.base_url, api.location_id, api.token, **options)


def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run in the pipeline's destination ({raw} = raw dataset)."""
    with pipeline.sql_client() as client:
        return client.execute_sql(sql.format(raw=client.fully_qualified_dataset_name()))
