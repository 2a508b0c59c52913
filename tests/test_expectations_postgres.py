"""The data-quality gate on PostgreSQL (127.0.0.1:5432, database `test`)."""

from __future__ import annotations

import uuid

import gate_fixtures as gf
import pytest

from expectations.gate import run_gate

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("error")]

psycopg2 = pytest.importorskip("psycopg2")


@pytest.fixture
def schemas():
    """Unique raw and analytics schemas, dropped after the test."""
    suffix = uuid.uuid4().hex[:10]
    raw, analytics = f"gx_raw_{suffix}", f"gx_mart_{suffix}"
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    conn.autocommit = True
    try:
        yield conn, raw, analytics
    finally:
        conn.rollback()
        conn.autocommit = True
        with conn.cursor() as cursor:
            for schema in (raw, analytics):
                cursor.execute(f"drop schema if exists {schema} cascade")
        conn.close()


def _gate(schemas, tables, tmp_path):
    conn, raw, analytics = schemas

    def execute(sql):
        with conn.cursor() as cursor:
            cursor.execute(sql)

    gf.write(execute, tables, raw, analytics)
    conn.autocommit = False  # the gate streams through a server-side cursor
    return run_gate(conn, {gf.LOC: 4}, tmp_path / "docs", raw_schema=raw,
                    analytics_schema=analytics, now=gf.NOW)  # fmt: skip


def test_clean_data_passes_on_postgres(schemas, tmp_path):
    result = _gate(schemas, gf.clean_tables(), tmp_path)

    assert [f.describe() for f in result.failures] == []
    assert result.ok
    assert result.docs_index.exists()


def test_planted_faults_fail_on_postgres(schemas, tmp_path):
    def edit(t):
        t["tasks"].append(dict(t["tasks"][0], id="t9", contact_id="c404"))
        t["business_contact_counts"][0]["api_contact_count"] = 3
        t["concord_contacts"][1]["email"] = "not-an-email"
        t["contacts"][1]["email"] = "not-an-email"

    result = _gate(schemas, gf.faulty(edit), tmp_path)

    assert {(f.table, f.expectation) for f in result.failures} == {
        ("tasks", "contact_exists"),
        ("business_contact_counts", "count_equals_links"),
        ("concord_contacts", "email_format"),
    }
    assert not result.ok
