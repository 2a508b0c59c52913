"""Benchmark extraction and loading against the sandbox on loopback.

1. A full load of 10,000 contacts with tasks and notes, no rate limit: our pipeline
   and dlt's generic ``rest_api`` source configured for the same endpoints.
2. The same with the sandbox enforcing 100 requests per second.
3. An incremental run after 1% of the contacts changed: requests made.
4. A full load of 1,000,000 contacts (tasks and notes off): peak memory, rows/s.

Each load runs in a child process, so that its wall time and peak memory (ru_maxrss)
are its own; the sandbox runs in another process. Writes "## Extract and load" in
bench/RESULTS.md.

    .venv/bin/python bench/pipeline_bench.py [--contacts N] [--million N] [--skip P]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, SandboxProcess, load_average, write_section

FAST = ("--rate-limit-max", "1000000", "--rate-limit-interval-ms", "1000")
PACED = ("--rate-limit", "--rate-limit-max", "100", "--rate-limit-interval-ms", "1000")


def child(kind: str, api: SandboxProcess, workdir: Path, **extra) -> dict:
    """Run one load in a child process and return what it measured."""
    args = {
        "kind": kind,
        "base_url": api.base_url,
        "location_id": api.location_id,
        "token": api.token,
        "workdir": str(workdir),
        **extra,
    }
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(args: dict) -> None:
    workdir = Path(args["workdir"])
    started = time.perf_counter()
    if args["kind"] == "rest_api":
        result = _rest_api(args, workdir)
    else:
        result = _ours(args, workdir)
    result["wall"] = time.perf_counter() - started
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _ours(args: dict, workdir: Path) -> dict:
    from pipelines import runs
    from sources.ghl import build_client

    client = build_client(
        args["base_url"], args["location_id"], args["token"], max_concurrency=8
    )
    pipeline = runs.make_pipeline(
        duckdb_path=workdir / "ours.duckdb",
        pipelines_dir=workdir / "dlt",
        pipeline_name="ours",
    )
    summary = runs.load(
        pipeline,
        client,
        args["location_id"],
        resources=args["resources"],
        pages_per_run=args.get("pages_per_run", 20),
    )
    return {
        "requests": summary.requests,
        "retries": summary.retries,
        "rows": summary.rows,
        "sending": client.last_sent_at - client.first_sent_at,
    }


def _rest_api(args: dict, workdir: Path) -> dict:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    requests = {"count": 0}

    def count(response, *a, **k):
        requests["count"] += 1
        return response

    location = args["location_id"]
    source = rest_api_source(
        {
            "client": {
                "base_url": args["base_url"] + "/",
                "auth": {"type": "bearer", "token": args["token"]},
                "headers": {"Version": "2021-07-28"},
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"response_actions": [count]},
            },
            "resources": [
                {
                    "name": "contacts",
                    "endpoint": {
                        "path": "contacts/search",
                        "method": "POST",
                        "json": {"locationId": location, "pageLimit": 500},
                        "data_selector": "contacts",
                        "paginator": {
                            "type": "page_number",
                            "page_body_path": "page",
                            "base_page": 1,
                            "total_path": None,
                            # GHL answers 422 past page * pageLimit = 10,000, so
                            # the peer is told where the last page is.
                            "maximum_page": -(-args["contacts"] // 500) + 1,
                            "stop_after_empty_page": True,
                        },
                    },
                },
                {
                    "name": "tasks",
                    "endpoint": {
                        "path": "contacts/{resources.contacts.id}/tasks",
                        "data_selector": "tasks",
                        "paginator": "single_page",
                    },
                },
                {
                    "name": "notes",
                    "endpoint": {
                        "path": "contacts/{resources.contacts.id}/notes",
                        "data_selector": "notes",
                        "paginator": "single_page",
                    },
                },
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="peer",
        destination=dlt.destinations.duckdb(str(workdir / "peer.duckdb")),
        dataset_name="ghl_raw",
        pipelines_dir=str(workdir / "dlt"),
    )
    pipeline.run(source)
    rows = {}
    with pipeline.sql_client() as sql:
        for table in ("contacts", "tasks", "notes"):
            name = sql.make_qualified_table_name(table)
            rows[table] = sql.execute_sql(f"select count(*) from {name}")[0][0]
    return {"requests": requests["count"], "retries": 0, "rows": rows}


def incremental(contacts: int) -> dict:
    """An incremental run after 1% changed, sandbox in-process to change data."""
    from pipelines import runs
    from sandbox.server import Sandbox
    from sources.ghl import build_client

    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(
            contacts=contacts,
            seed=7,
            rate_limit_max=1_000_000,
            rate_limit_interval_ms=1000,
        ) as api,
    ):
        pipeline = runs.make_pipeline(
            duckdb_path=Path(tmp) / "inc.duckdb", pipelines_dir=Path(tmp) / "dlt"
        )
        resources = list(runs.CONTACT_RESOURCES)
        client = build_client(api.base_url, api.location_id, api.token)
        runs.load(pipeline, client, api.location_id, resources=resources)
        changed = contacts // 100
        for i in range(0, contacts, 100):
            api.data.update_contact(api.data.contact_id(i), city="Changed")
        summary = runs.load(pipeline, client, api.location_id, resources=resources)
        searches = sum(
            1 for r in api.requests[-summary.requests :] if "search" in r.path
        )
        client.close()
    search_pages = -(-changed // 500) + 1
    return {
        "changed": changed,
        "requests": summary.requests,
        "search_requests": searches,
        "budget": search_pages + 2 * changed + 5,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="comma list of parts 1-4 to skip")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return 0

    skip = set(args.skip.split(","))
    lines = []
    full = ["contacts", "contact_tags", "contact_custom_fields", "tasks", "notes"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "1" not in skip:
            api = SandboxProcess(args.contacts, 7, *FAST)
            try:
                ours = child("ours", api, tmp / "1a", resources=full)
                peer = child("rest_api", api, tmp / "1b", contacts=args.contacts)
            finally:
                api.stop()
            ratio = peer["wall"] / ours["wall"]
            print(f"1. full load of {args.contacts:,} contacts with tasks and notes")
            print(
                f"   ours:     {ours['wall']:.1f}s, {ours['requests']:,} requests, "
                f"rows {ours['rows']}"
            )
            print(
                f"   rest_api: {peer['wall']:.1f}s, {peer['requests']:,} requests, "
                f"rows {peer['rows']}"
            )
            print(f"   ours is {ratio:.1f}x faster (goal >= 3)")
            lines += [
                f"| 1. full load, {args.contacts:,} contacts + tasks + notes, no limit "
                f"| ours {ours['wall']:.1f} s, {ours['requests']:,} requests; "
                f"rest_api {peer['wall']:.1f} s, {peer['requests']:,} requests "
                f"| **{ratio:.1f}x** faster | >= 3x |",
            ]
        if "2" not in skip:
            api = SandboxProcess(args.contacts, 7, *PACED)
            try:
                paced = child("ours", api, tmp / "2", resources=full)
            finally:
                api.stop()
            # The rate while requests were being sent: from the first to the last.
            rate = (paced["requests"] - 1) / paced["sending"]
            print(
                f"2. same at 100 req/s: {paced['wall']:.1f}s, {paced['requests']:,} "
                f"requests over {paced['sending']:.1f}s, {rate:.1f} req/s = "
                f"{rate / 100:.2f} of the limit, {paced['retries']} retried "
                "(goal >= 0.9, none failed)"
            )
            lines.append(
                f"| 2. same, sandbox enforcing 100 req/s | {paced['wall']:.1f} s in "
                f"all, {paced['requests']:,} requests sent over "
                f"{paced['sending']:.1f} s, {paced['retries']} answered 429 and "
                f"retried | **{rate / 100:.2f}** of the limit | >= 0.9, no failure |"
            )
        if "3" not in skip:
            inc = incremental(args.contacts)
            print(
                f"3. incremental after {inc['changed']} changes: {inc['requests']} "
                f"requests (budget {inc['budget']})"
            )
            lines.append(
                f"| 3. incremental after 1% ({inc['changed']}) changed "
                f"| {inc['requests']} requests | budget {inc['budget']} "
                "(search pages + 2 per change + 5) | within budget |"
            )
        if "4" not in skip:
            api = SandboxProcess(args.million, 7, *FAST)
            try:
                big = child(
                    "ours",
                    api,
                    tmp / "4",
                    resources=["contacts", "contact_tags", "contact_custom_fields"],
                    pages_per_run=200,
                )
            finally:
                api.stop()
            per_second = big["rows"]["contacts"] / big["wall"]
            print(
                f"4. {args.million:,} contacts: {big['wall']:.1f}s, "
                f"{per_second:,.0f} contacts/s, peak {big['peak_mb']:.0f} MB "
                "(goal < 1024 MB)"
            )
            lines.append(
                f"| 4. full load of {args.million:,} contacts, tasks and notes off "
                f"| {big['wall']:.1f} s, {per_second:,.0f} contacts/s "
                f"| peak **{big['peak_mb']:.0f} MB** | < 1 GB |"
            )

    text = (
        "`bench/pipeline_bench.py`: sandbox in its own process on loopback, each load "
        "in a child process (wall time and ru_maxrss are the load's own). "
        f"Load average at the end: {load_average():.1f} on 2 cores.\n\n"
        "| run | measured | result | goal |\n| --- | --- | --- | --- |\n"
        + "\n".join(lines)
    )
    if not args.no_write and lines:
        write_section("Extract and load", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
