"""Benchmark of the data-quality gate: 1,000,000 contacts in DuckDB.

Builds the raw tables and mart-like tables with SQL in a temporary DuckDB file (in a
child process), runs `expectations.gate.run_gate` once, and prints the gate's wall
time and the peak resident memory of the gate's process (ru_maxrss). Goal: under
60 s and under 2 GB.

    .venv/bin/python bench/check_bench.py [--contacts N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from expectations.gate import run_gate
from expectations.suites import phone_e164

LOCATIONS = 4

RAW_SQL = """
create schema ghl_raw;
create schema ghl_analytics;

create table ghl_raw.contacts as
select
    'c' || i as id,
    'loc_' || (i % {locations}) as location_id,
    ' First' || i as first_name,
    'Last' || i as last_name,
    case when i % 7 = 0 then 'Name ' || i end as contact_name,
    case when i % 20 <> 0 then 'User' || i || '@Example.com' end as email,
    case when i % 10 <> 0 then '+1 555 ' || lpad(cast(i as text), 7, '0') end
        as phone,
    'mobile' as phone_label,
    'Company ' || (i % 5000) as company_name,
    cast(null as text) as business_name,
    case when i % 5 = 0 then 'b' || (i % 10000) end as business_id,
    'u' || (i % 50) as assigned_to,
    'web' as source,
    'lead' as type,
    i % 13 = 0 as dnd,
    'America/Chicago' as timezone,
    cast(null as text) as website,
    i || ' Main St' as address,
    'Springfield' as city,
    'IL' as state,
    'US' as country,
    '62701' as postal_code,
    '1990-01-01' as date_of_birth,
    timestamptz '2022-01-01' + to_seconds(i * 60) as date_added,
    timestamptz '2024-01-01' + to_seconds(i * 30) as date_updated,
    i % 100 = 0 as is_deleted,
    case when i % 100 = 0 then timestamptz '2025-01-01' end as deleted_at,
    '1700000000.1' as _dlt_load_id,
    'd' || i as _dlt_id
from range(1, {contacts} + 1) as r(i);

create table ghl_raw.tasks as
select
    't' || i as id, 'loc_' || (c % {locations}) as location_id, 'c' || c as contact_id,
    'Call' as title, cast(null as text) as body, 'u1' as assigned_to,
    timestamptz '2025-01-01' + to_seconds(i) as due_date, i % 2 = 0 as completed,
    false as is_deleted, cast(null as timestamptz) as deleted_at
from (select i, (i * 7) % {contacts} + 1 as c from range(1, {contacts} // 2 + 1) r(i));

create table ghl_raw.notes as
select
    'n' || i as id, 'loc_' || (c % {locations}) as location_id, 'c' || c as contact_id,
    cast(null as text) as title, 'note' as body,
    case when i % 3 = 0 then 'u1' end as user_id,
    timestamptz '2025-01-01' + to_seconds(i) as date_added,
    false as is_deleted, cast(null as timestamptz) as deleted_at
from (select i, (i * 11) % {contacts} + 1 as c from range(1, {contacts} // 3 + 1) r(i));

create table ghl_raw.businesses as
select distinct
    business_id as id, location_id, 'Biz ' || business_id as name,
    timestamptz '2023-01-01' as created_at, timestamptz '2023-06-01' as updated_at
from ghl_raw.contacts where business_id is not null;

create table ghl_raw.business_contacts as
select location_id, business_id, id as contact_id, false as _replace_marker
from ghl_raw.contacts where business_id is not null;

create table ghl_raw.business_contact_counts as
select location_id, business_id, count(*) as api_contact_count,
    timestamptz '2025-05-31' as fetched_at
from ghl_raw.business_contacts group by location_id, business_id;

create table ghl_raw.contact_tags as
select location_id, id as contact_id, tag, false as _replace_marker
from ghl_raw.contacts, (values ('vip'), ('lead')) as t(tag)
where cast(substr(id, 2) as bigint) % 4 = 0;

create table ghl_raw.contact_custom_fields as
select location_id, id as contact_id, 'cf1' as field_id, 'Gold' as value_text,
    false as _replace_marker
from ghl_raw.contacts where cast(substr(id, 2) as bigint) % 2 = 0;

create table ghl_raw.contact_additional_emails as
select location_id, id as contact_id, 'alt' || id || '@x.com' as email,
    false as _replace_marker
from ghl_raw.contacts where cast(substr(id, 2) as bigint) % 10 = 0;

create table ghl_raw.custom_fields as
select 'cf' || i as id, 'loc_' || l as location_id, 'Field ' || i as name,
    'contact.f' || i as field_key, 'TEXT' as data_type, 'contact' as model,
    i as position
from range(20) a(i), range({locations}) b(l);
"""

MART_SQL = """
create table ghl_analytics.concord_contacts as
select
    s.id as external_id, 'gohighlevel' as external_source, s.location_id,
    nullif(trim(s.first_name), '') as first_name,
    nullif(trim(s.last_name), '') as last_name,
    coalesce(nullif(trim(s.contact_name), ''), nullif(trim(
        coalesce(nullif(trim(s.first_name), ''), '') || ' '
        || coalesce(nullif(trim(s.last_name), ''), '')), '')) as full_name,
    nullif(lower(trim(s.email)), '') as email,
    false as is_duplicate_email,
    {phone} as phone,
    nullif(trim(s.phone), '') as phone_raw,
    s.company_name,
    s.business_id as business_external_id, s.assigned_to as owner_external_id,
    '[]' as tags, '{{}}' as custom_fields_json, s.address as address_line1,
    s.city, s.state, s.postal_code, s.country, s.timezone as time_zone,
    s.website, s.source as lead_source, s.type as contact_type,
    s.dnd as is_do_not_contact,
    case when s.is_deleted then 'deleted' else 'dormant' end as lifecycle_stage,
    case when s.is_deleted then 0 else 35 end as engagement_score,
    cast(null as timestamptz) as last_activity_at,
    s.date_added as created_at, s.date_updated as updated_at,
    s.is_deleted, s.deleted_at
from ghl_raw.contacts as s;

create table ghl_analytics.contact_engagement as
select location_id, external_id as contact_id, is_deleted, 1 as count_tasks,
    1 as count_tasks_open, 0 as count_tasks_completed, 0 as count_tasks_overdue,
    cast(0 as decimal(5, 4)) as task_completion_rate, 0 as count_notes,
    last_activity_at, engagement_score
from ghl_analytics.concord_contacts;

create table ghl_analytics.contact_lifecycle as
select location_id, external_id as contact_id, is_deleted, created_at as added_at,
    lifecycle_stage, 10 as days_in_stage
from ghl_analytics.concord_contacts;

create table ghl_analytics.business_engagement as
select location_id, business_id, api_contact_count,
    api_contact_count as count_contacts_linked,
    api_contact_count as count_contacts_loaded, 0 as count_tasks_open,
    0 as count_notes, cast(35 as decimal(5, 2)) as avg_engagement_score
from ghl_raw.business_contact_counts;

create table ghl_analytics.engagement_daily as
select current_date as snapshot_date, 'loc_' || l as location_id,
    stage as lifecycle_stage, 1 as count_contacts,
    cast(35 as decimal(5, 2)) as avg_engagement_score
from range({locations}) a(l),
    (values ('new'), ('engaged'), ('active'), ('dormant'), ('deleted')) s(stage);
"""


def build(path: Path, contacts: int) -> dict[str, int]:
    """Write the benchmark tables; returns the API totals (live contacts)."""
    with duckdb.connect(str(path)) as conn:
        conn.execute(RAW_SQL.format(contacts=contacts, locations=LOCATIONS))
        conn.execute(MART_SQL.format(phone=phone_e164("s.phone"), locations=LOCATIONS))
        rows = conn.execute(
            "select location_id, count(*) from ghl_raw.contacts "
            "where not is_deleted group by location_id"
        ).fetchall()
    return dict(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="folder to keep the files in")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench.duckdb"
        path.unlink(missing_ok=True)

        # The tables are built in a child process, so that this process's peak
        # memory is the gate's alone.
        started = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            api_totals = pool.apply(build, (path, args.contacts))
        built = time.perf_counter() - started

        started = time.perf_counter()
        result = run_gate(path, api_totals, folder / "docs")
        elapsed = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    build_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for line in result.lines():
        print(line)
    print(
        f"contacts: {args.contacts:,}; tables built in {built:.1f} s "
        f"(child process, peak {build_mb:.0f} MB)"
    )
    print(f"gate wall time: {elapsed:.1f} s; peak memory (ru_maxrss): {peak_mb:.0f} MB")
    print(f"gate ok: {result.ok}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
