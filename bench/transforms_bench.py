"""Benchmark the transforms on 1M contacts, 3M tasks and 3M notes in DuckDB.

The raw tables are generated in SQL (generate_series) in a DuckDB file; the models are
then built in a child process, so that its wall time and peak memory (ru_maxrss) cover
the transforms only. Writes the numbers under "## Transforms" in bench/RESULTS.md.

    .venv/bin/python bench/transforms_bench.py [--contacts N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
AS_OF = datetime(2024, 6, 15, 12, tzinfo=UTC)

# Per-contact ratios from the issue: 3 tasks and 3 notes per contact on average.
GENERATE = """
create schema ghl_raw;

create table ghl_raw.contacts as
select
    'c' || i as id,
    'loc1' as location_id,
    'First' || i as first_name,
    'Last' || i as last_name,
    ' User' || (i % 900000) || '@Example.com ' as email,
    case when i % 7 = 0 then null
         else '(555) ' || lpad(cast(i % 10000000 as varchar), 7, '0') end as phone,
    case when i % 5 = 0 then 'b' || (i % 10000) end as business_id,
    'u' || (i % 50) as assigned_to,
    timestamptz '2023-01-01 00:00:00+00' + to_days(cast(i % 530 as integer))
        as date_added,
    timestamptz '2024-06-01 00:00:00+00' + to_minutes(i % 10000) as date_updated,
    i % 50 = 0 as is_deleted,
    case when i % 50 = 0 then timestamptz '2024-05-01 00:00:00+00' end
        as deleted_at,
    '1' as _dlt_load_id
from generate_series(1, {contacts}) as s(i);

create table ghl_raw.tasks as
select
    't' || i as id,
    'loc1' as location_id,
    'c' || (1 + i % {contacts}) as contact_id,
    'task ' || i as title,
    timestamptz '2024-01-01 00:00:00+00' + to_hours(cast(i % 5000 as integer))
        as due_date,
    i % 3 = 0 as completed,
    i % 97 = 0 as is_deleted,
    '1' as _dlt_load_id
from generate_series(1, {tasks}) as s(i);

create table ghl_raw.notes as
select
    'n' || i as id,
    'loc1' as location_id,
    'c' || (1 + (i * 7) % {contacts}) as contact_id,
    'note ' || i as body,
    'u' || (i % 50) as user_id,
    timestamptz '2023-06-01 00:00:00+00' + to_hours(cast(i % 9000 as integer))
        as date_added,
    false as is_deleted,
    '1' as _dlt_load_id
from generate_series(1, {notes}) as s(i);

create table ghl_raw.contact_tags as
select 'loc1' as location_id, 'c' || (1 + i % {contacts}) as contact_id,
       'tag' || (i % 40) as tag, false as _replace_marker
from generate_series(1, {contacts} * 2) as s(i);

create table ghl_raw.custom_fields as
select 'f' || i as id, 'loc1' as location_id, 'Field ' || i as name,
       'contact.field_' || i as field_key, i as position
from generate_series(1, 5) as s(i);

create table ghl_raw.contact_custom_fields as
select 'loc1' as location_id, 'c' || (1 + i % {contacts}) as contact_id,
       'f' || (1 + i % 5) as field_id, 'value ' || i as value_text,
       false as _replace_marker
from generate_series(1, {contacts}) as s(i);

create table ghl_raw.businesses as
select 'b' || i as id, 'loc1' as location_id, 'Business ' || i as name
from generate_series(0, 9999) as s(i);

create table ghl_raw.business_contacts as
select 'loc1' as location_id, 'b' || (i % 10000) as business_id,
       'c' || i as contact_id, false as _replace_marker
from generate_series(1, {contacts}) as s(i) where i % 5 = 0;

create table ghl_raw.business_contact_counts as
select 'loc1' as location_id, 'b' || i as business_id,
       cast(20 as bigint) as api_contact_count,
       timestamptz '2024-06-15 00:00:00+00' as fetched_at
from generate_series(0, 9999) as s(i);
"""


def generate(path: Path, contacts: int) -> float:
    started = time.perf_counter()
    with duckdb.connect(str(path)) as conn:
        conn.execute("set timezone = 'UTC'")
        conn.execute(
            GENERATE.format(contacts=contacts, tasks=3 * contacts, notes=3 * contacts)
        )
    return time.perf_counter() - started


def build_child(path: Path) -> None:
    """Child process: build the models and print wall time and peak memory."""
    sys.path.insert(0, str(ROOT))
    from transforms.runner import build

    with duckdb.connect(str(path)) as conn:
        started = time.perf_counter()
        counts = build(conn, as_of=AS_OF)
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "load": os.getloadavg()[0],
        "counts": counts,
    }
    print(json.dumps(result))


def write_results(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    heading = "## Transforms"
    if heading in current:
        start = current.index(heading)
        following = current.find("\n## ", start + len(heading))
        end = len(current) if following == -1 else following + 1
        current = current[:start] + text + current[end:]
    else:
        current = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(current)


def _load_note(measured: dict) -> str:
    cores = os.cpu_count() or 1
    if measured["load"] <= cores:
        return ""
    return (
        f"\nThe machine was shared with other jobs (load average "
        f"{measured['load']:.1f} on {cores} cores), so the wall time includes "
        "waiting for a CPU; the CPU time is the figure that does not depend on the "
        "load.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        build_child(args.child)
        return 0

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.duckdb"
        generated = generate(path, args.contacts)
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        size_mb = os.path.getsize(path) / 1024 / 1024
    measured = json.loads(result.stdout.strip().splitlines()[-1])

    counts = ", ".join(f"{name} {rows:,}" for name, rows in measured["counts"].items())
    summary = (
        f"transforms: {args.contacts:,} contacts, {3 * args.contacts:,} tasks, "
        f"{3 * args.contacts:,} notes: {measured['seconds']:.1f} s wall, "
        f"{measured['cpu_seconds']:.1f} s CPU, peak {measured['peak_mb']:.0f} MB, "
        f"load {measured['load']:.1f} (raw data generated in {generated:.1f} s)"
    )
    if not args.no_write:
        write_results(
            "## Transforms\n\n"
            f"`bench/transforms_bench.py`, {datetime.now(UTC):%Y-%m-%d}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}, as_of {AS_OF:%Y-%m-%d %H:%M} UTC.\n\n"
            "| input | wall time (build of all models) | CPU time (user + sys) "
            "| peak memory (ru_maxrss of the build process) | load average "
            "(1 min) at the end |\n| --- | --- | --- | --- | --- |\n"
            f"| {args.contacts:,} contacts, {3 * args.contacts:,} tasks, "
            f"{3 * args.contacts:,} notes (+ tags, custom fields, 10,000 "
            f"businesses) | {measured['seconds']:.1f} s | "
            f"{measured['cpu_seconds']:.1f} s | {measured['peak_mb']:.0f} MB | "
            f"{measured['load']:.1f} |\n\n"
            f"Goal: under 30 s. Rows built: {counts}. DuckDB file with raw data "
            f"and marts: {size_mb:.0f} MB.\n" + _load_note(measured)
        )
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
