"""``ghl-concord status``: what the runs did, read from state files only.

Nothing here opens the destination, so it answers while a load holds the DuckDB
file: the run history and the queue are SQLite files in the state folder, and the
cursor comes from the dlt pipeline's local state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dlt

from .history import GateRecord, RunHistory, RunRecord
from .webhooks.queue import QUEUE_FILE, EventQueue


@dataclass
class LocationStatus:
    """One location's line of ``status``."""

    location_id: str
    last_run: RunRecord | None
    cursor: str | None
    daily_remaining: int | None
    queue_depth: int


@dataclass
class Status:
    locations: list[LocationStatus]
    gate: GateRecord | None


def collect(
    pipeline: dlt.Pipeline, state_dir: str | Path, configured: list[str]
) -> Status:
    """Gather the status of every configured or seen location."""
    history = RunHistory(state_dir)
    runs = history.last_runs()
    depth = _queue_depth(state_dir)
    cursors = _cursors(pipeline)
    found = dict.fromkeys([*configured, *runs, *cursors, *depth])
    return Status(
        locations=[
            LocationStatus(
                location_id=location_id,
                last_run=runs.get(location_id),
                cursor=cursors.get(location_id),
                daily_remaining=history.last_daily_remaining(location_id),
                queue_depth=depth.get(location_id, 0),
            )
            for location_id in found
        ],
        gate=history.last_gate(),
    )


def render(status: Status) -> list[str]:
    """The lines ``status`` prints."""
    if not status.locations:
        return ["no location configured and no run recorded yet"]
    lines = []
    for loc in status.locations:
        lines.append(f"location {loc.location_id}")
        run = loc.last_run
        if run is None:
            lines.append("  last run:      never")
        else:
            loaded = ", ".join(f"{t} {n:,}" for t, n in sorted(run.rows.items()))
            lines.append(
                f"  last run:      {_time(run.finished_at)} ({run.kind}, "
                f"{run.requests:,} requests, {run.elapsed_seconds:.1f}s)"
            )
            lines.append(f"  table rows:    {loaded or 'none'}")
        lines.append(f"  cursor:        {loc.cursor or 'none (next run reads all)'}")
        budget = (
            "unknown" if loc.daily_remaining is None else f"{loc.daily_remaining:,}"
        )
        lines.append(f"  daily budget:  {budget} requests left")
        lines.append(f"  queue depth:   {loc.queue_depth:,} events")
    gate = status.gate
    if gate is None:
        lines.append("data-quality gate: never run")
    else:
        verdict = "passed" if gate.ok else f"FAILED ({gate.failures} critical)"
        lines.append(f"data-quality gate: {verdict} at {_time(gate.checked_at)}")
    return lines


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _queue_depth(state_dir: str | Path) -> dict[str, int]:
    if not (Path(state_dir) / QUEUE_FILE).exists():
        return {}
    queue = EventQueue(state_dir)
    try:
        return queue.depth()
    finally:
        queue.close()


def _cursors(pipeline: dlt.Pipeline) -> dict[str, str]:
    state = pipeline.state.get("sources", {}).get("ghl", {})
    cursors = {}
    for location_id, saved in state.get("locations", {}).items():
        cursor = saved.get("contacts_cursor")
        if isinstance(cursor, datetime):
            cursor = cursor.isoformat()
        if cursor:
            cursors[location_id] = str(cursor)
    return cursors
