"""Read query results from DuckDB or PostgreSQL as pandas frames, chunk by chunk.

Great Expectations' SQL datasource does not support DuckDB, so the gate validates
dataframes; this module is the only place that knows the two engines apart.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

ENGINES = ("duckdb", "postgres")

# PostgreSQL type oid of `timestamp with time zone` (pg_type.oid).
_PG_TIMESTAMPTZ = 1184
_cursor_names = itertools.count()


class Warehouse:
    """A DuckDB or psycopg2 connection the gate reads through.

    Args:
        conn: a `duckdb.DuckDBPyConnection` or a `psycopg2` connection. The caller
            keeps ownership and closes it.
        engine: "duckdb" or "postgres"; guessed from the connection when None.
    """

    def __init__(self, conn: Any, engine: str | None = None) -> None:
        self.engine = engine or engine_of(conn)
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        self.conn = conn

    @classmethod
    def open_duckdb(cls, path: str | Path) -> Warehouse:
        """A read-only connection to a DuckDB file, closed by `close()`."""
        import duckdb

        if not Path(path).exists():
            raise FileNotFoundError(
                f"DuckDB file {path} does not exist; run the pipeline first or pass "
                "the path of the file it wrote"
            )
        return cls(duckdb.connect(str(path), read_only=True), "duckdb")

    def close(self) -> None:
        self.conn.close()

    def columns(self, schema: str, table: str) -> list[str] | None:
        """The column names of a table or view, or None when it does not exist."""
        rows = self.rows(
            "select column_name from information_schema.columns "
            f"where table_schema = {quote(schema)} and table_name = {quote(table)} "
            "order by ordinal_position"
        )
        return [row[0] for row in rows] or None

    def rows(self, sql: str) -> list[tuple]:
        """All rows of a small query."""
        if self.engine == "duckdb":
            return self.conn.cursor().execute(sql).fetchall()
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    def frames(self, sql: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The result of `sql` as frames of at most about `chunk_rows` rows.

        Yields at least one frame, empty when the query returns no rows, so that
        every expectation is evaluated (and reports its columns) on every run.
        """
        if self.engine == "duckdb":
            yield from self._duckdb_frames(sql, chunk_rows)
        else:
            yield from self._postgres_frames(sql, chunk_rows)

    def _duckdb_frames(self, sql: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
        # A cursor is its own connection to the same database: a caller's open
        # result on `conn` is left alone.
        cursor = self.conn.cursor()
        cursor.execute("set enable_progress_bar = false")
        result = cursor.execute(sql)
        vectors = max(1, chunk_rows // 2048)
        first = True
        while True:
            frame = result.fetch_df_chunk(vectors)
            if len(frame) or first:
                yield frame
            if not len(frame):
                return
            first = False

    def _postgres_frames(self, sql: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
        # A named (server-side) cursor streams the rows; it needs a transaction, so
        # an autocommit connection falls back to a client-side cursor.
        named = not getattr(self.conn, "autocommit", False)
        cursor = (
            self.conn.cursor(name=f"gx_gate_{next(_cursor_names)}")
            if named
            else self.conn.cursor()
        )
        try:
            cursor.execute(sql)
            first = True
            while True:
                rows = cursor.fetchmany(chunk_rows)
                if rows or first:
                    yield _pg_frame(rows, cursor.description)
                if len(rows) < chunk_rows:
                    return
                first = False
        finally:
            cursor.close()
            if named:
                self.conn.rollback()


def _pg_frame(rows: list[tuple], description: Any) -> pd.DataFrame:
    names = [column.name for column in description]
    frame = pd.DataFrame.from_records(rows, columns=names)
    for column in description:
        if column.type_code == _PG_TIMESTAMPTZ:
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
    return frame


def engine_of(conn: Any) -> str:
    """ "duckdb" or "postgres", from the module that made the connection."""
    module = type(conn).__module__
    if module.startswith("duckdb") or module.startswith("_duckdb"):
        return "duckdb"
    if module.startswith("psycopg"):
        return "postgres"
    raise TypeError(
        f"cannot tell the engine of a {type(conn).__module__}.{type(conn).__name__}; "
        "pass a duckdb or psycopg2 connection, or engine='duckdb'/'postgres'"
    )


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
