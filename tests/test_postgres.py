"""The whole job into PostgreSQL: same rows, marts and gate verdict as DuckDB."""

import uuid

import dlt
import psycopg2
import pytest
from conftest import client_for
from helpers import dump_tables

from expectations.gate import run_gate_for_pipeline
from pipelines import runs
from transforms.runner import build_models

# Trust auth ignores the password; dlt insists on one.
POSTGRES = "postgresql://postgres:trust@127.0.0.1:5432/test"


@pytest.fixture
def schemas():
    suffix = uuid.uuid4().hex[:8]
    names = {"raw": f"ghl_raw_{suffix}", "marts": f"ghl_marts_{suffix}"}
    yield names
    with psycopg2.connect(POSTGRES) as conn, conn.cursor() as cursor:
        for name in (*names.values(), f"{names['raw']}_staging"):
            cursor.execute(f'drop schema if exists "{name}" cascade')


@pytest.mark.postgres
def test_postgres_run_matches_duckdb(make_sandbox, tmp_path, schemas):
    api = make_sandbox(contacts=150, seed=17)
    warehouse = dlt.pipeline(
        pipeline_name="ghl_pg",
        destination=dlt.destinations.postgres(POSTGRES),
        dataset_name=schemas["raw"],
        pipelines_dir=str(tmp_path / "pg"),
    )
    local = runs.make_pipeline(
        duckdb_path=tmp_path / "local.duckdb", pipelines_dir=tmp_path / "local"
    )

    pg_summary = runs.load(warehouse, client_for(api), api.location_id)
    local_summary = runs.load(local, client_for(api), api.location_id)

    assert pg_summary.rows == local_summary.rows
    assert pg_summary.rows["contacts"] == 150
    pg_tables, local_tables = dump_tables(warehouse), dump_tables(local)
    for table in pg_tables:
        diff = set(pg_tables[table]) ^ set(local_tables[table])
        assert not diff, (table, sorted(diff, key=repr)[:4])
    assert pg_tables == local_tables

    pg_marts = build_models(warehouse, analytics_schema=schemas["marts"])
    local_marts = build_models(local, analytics_schema=f"m_{schemas['marts']}")
    assert pg_marts == local_marts
    assert pg_marts["concord_contacts"] == 150

    totals = {api.location_id: 150}
    verdict = run_gate_for_pipeline(
        warehouse,
        api_totals=totals,
        docs_dir=tmp_path / "docs",
        analytics_schema=schemas["marts"],
    )
    assert verdict.ok, verdict.lines()
    assert [s.name for s in verdict.suites if not s.passed] == []
