"""`build_models` on a real dlt pipeline: raw rows loaded by dlt, marts built after."""

import uuid
from datetime import UTC, datetime

import dlt
import pytest

from transforms.runner import build_models

AS_OF = datetime(2024, 6, 15, 12, tzinfo=UTC)
CONTACTS = [
    {"id": "c1", "location_id": "loc1", "email": "A@x.com", "date_added": AS_OF},
    {"id": "c2", "location_id": "loc1", "email": None, "date_added": AS_OF},
]
NOTES = [{"id": "n1", "location_id": "loc1", "contact_id": "c1", "date_added": AS_OF}]


def _pipeline(destination, dataset: str, tmp_path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"transforms_{uuid.uuid4().hex[:8]}",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=destination,
        dataset_name=dataset,
    )


def _load_and_build(pipeline: dlt.Pipeline, analytics: str) -> dict[str, int]:
    pipeline.run(CONTACTS, table_name="contacts", primary_key=["location_id", "id"])
    pipeline.run(NOTES, table_name="notes")
    return build_models(pipeline, AS_OF, analytics_schema=analytics)


EXPECTED = {
    "contact_engagement": 2,
    "contact_lifecycle": 2,
    "business_engagement": 0,
    "concord_contacts": 2,
    "engagement_daily": 5,
}


def test_build_models_on_a_duckdb_pipeline(tmp_path):
    destination = dlt.destinations.duckdb(str(tmp_path / "ghl.duckdb"))
    pipeline = _pipeline(destination, "ghl_raw", tmp_path)

    assert _load_and_build(pipeline, "ghl_analytics") == EXPECTED

    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select contact_id, count_notes from ghl_analytics.contact_engagement "
            "order by contact_id"
        )
    assert [tuple(row) for row in rows] == [("c1", 1), ("c2", 0)]


@pytest.mark.postgres
def test_build_models_on_a_postgres_pipeline(tmp_path):
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    # The test server trusts loopback; dlt insists on a password, any will do.
    destination = dlt.destinations.postgres(
        "postgresql://postgres:trust@127.0.0.1:5432/test"
    )
    pipeline = _pipeline(destination, f"{prefix}_raw", tmp_path)
    try:
        assert _load_and_build(pipeline, f"{prefix}_analytics") == EXPECTED
        with pipeline.sql_client() as client:
            rows = client.execute_sql(
                f"select email from {prefix}_analytics.concord_contacts "
                "order by external_id"
            )
        assert [tuple(row) for row in rows] == [("a@x.com",), (None,)]
    finally:
        with pipeline.sql_client() as client:
            for schema in (f"{prefix}_raw", f"{prefix}_analytics"):
                client.execute_sql(f"drop schema if exists {schema} cascade")
