"""Run history in the state folder: what each run loaded, and the gate's verdicts.

``ghl-concord status`` reads it without opening the destination, so it works while
a run holds the database. The file is SQLite (``<state_dir>/history.sqlite``);
every write is one short transaction.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = ".ghl_concord"

_SCHEMA = """
create table if not exists runs (
    id integer primary key autoincrement,
    location_id text not null,
    kind text not null,
    finished_at text not null,
    elapsed_seconds real not null,
    requests integer not null,
    rows_json text not null,
    daily_remaining integer
);
create index if not exists runs_by_location on runs (location_id, id);
create table if not exists gate_results (
    id integer primary key autoincrement,
    checked_at text not null,
    ok integer not null,
    failures integer not null,
    summary text not null
);
"""


@dataclass(frozen=True)
class RunRecord:
    """One finished run of one location."""

    location_id: str
    kind: str
    finished_at: datetime
    elapsed_seconds: float
    requests: int
    rows: dict[str, int]
    daily_remaining: int | None


@dataclass(frozen=True)
class GateRecord:
    """One verdict of the data-quality gate."""

    checked_at: datetime
    ok: bool
    failures: int
    summary: str


class RunHistory:
    """The run history of one state folder.

    Args:
        state_dir: the folder (created on first write).
    """

    def __init__(self, state_dir: str | Path = DEFAULT_STATE_DIR) -> None:
        self.path = Path(state_dir) / "history.sqlite"

    def record_run(
        self,
        location_id: str,
        kind: str,
        rows: dict[str, int],
        elapsed_seconds: float = 0.0,
        requests: int = 0,
        daily_remaining: int | None = None,
    ) -> None:
        """Add a finished run (``rows``: the tables' row counts after it)."""
        with closing(self._connect()) as db, db:
            db.execute(
                "insert into runs (location_id, kind, finished_at, elapsed_seconds,"
                " requests, rows_json, daily_remaining) values (?, ?, ?, ?, ?, ?, ?)",
                (
                    location_id,
                    kind,
                    _now(),
                    elapsed_seconds,
                    requests,
                    json.dumps(rows, sort_keys=True),
                    daily_remaining,
                ),
            )

    def record_gate(self, ok: bool, failures: int = 0, summary: str = "") -> None:
        """Add a verdict of the data-quality gate."""
        with closing(self._connect()) as db, db:
            db.execute(
                "insert into gate_results (checked_at, ok, failures, summary)"
                " values (?, ?, ?, ?)",
                (_now(), int(ok), failures, summary[:2000]),
            )

    def last_runs(self) -> dict[str, RunRecord]:
        """The latest run of each location."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as db:
            rows = db.execute(
                "select location_id, kind, finished_at, elapsed_seconds, requests,"
                " rows_json, daily_remaining from runs where id in"
                " (select max(id) from runs group by location_id)"
                " order by location_id"
            ).fetchall()
        return {row[0]: _run(row) for row in rows}

    def last_daily_remaining(self, location_id: str) -> int | None:
        """The daily budget left after the latest run that learned it."""
        if not self.path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "select daily_remaining from runs where location_id = ?"
                " and daily_remaining is not null order by id desc limit 1",
                (location_id,),
            ).fetchone()
        return None if row is None else row[0]

    def last_gate(self) -> GateRecord | None:
        """The latest verdict of the gate, if any."""
        if not self.path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "select checked_at, ok, failures, summary from gate_results"
                " order by id desc limit 1"
            ).fetchone()
        if row is None:
            return None
        return GateRecord(datetime.fromisoformat(row[0]), bool(row[1]), row[2], row[3])

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("pragma journal_mode=wal")
        db.executescript(_SCHEMA)
        return db


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _run(row: Any) -> RunRecord:
    return RunRecord(
        location_id=row[0],
        kind=row[1],
        finished_at=datetime.fromisoformat(row[2]),
        elapsed_seconds=row[3],
        requests=row[4],
        rows=json.loads(row[5]),
        daily_remaining=row[6],
    )
