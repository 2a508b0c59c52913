"""Build the SQL models in `transforms/models` in DuckDB or PostgreSQL.

One set of SQL files serves both engines: the models use a portable subset of SQL
(see docs/metrics.md, "Portability"). The files name their schemas `ghl_raw` and
`ghl_analytics`; the runner substitutes the real schema names, so tests can build
into unique schemas.

Build order:
1. `run_context`: a one-row table holding the injectable "now" (`as_of_at`) and the
   snapshot date; models read the time only from it.
2. `src_<table>` views: the typed raw contract (see `transforms.contract`).
3. The models, in dependency order parsed from their `ghl_analytics.<name>`
   references: `stg_*` as views; `int_*` (steps shared by several marts) as
   temporary tables, computed once per build and dropped after it; marts as
   tables; the snapshot models (`engagement_daily`) by delete-then-insert of the
   snapshot date.

In PostgreSQL the views depend on the raw tables, so dropping a raw table (a dlt
refresh that drops tables) fails while they exist.
TODO(ghl-concord): drop the `src_*` and `stg_*` views before such a refresh once the
pipeline offers one; `truncate-and-insert` and merge loads are not affected.
"""

from __future__ import annotations

import contextlib
import graphlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transforms.contract import RAW_TABLES

if TYPE_CHECKING:
    import dlt

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).parent / "models"
RAW_SCHEMA = "ghl_raw"
ANALYTICS_SCHEMA = "ghl_analytics"
ENGINES = ("duckdb", "postgres")

# Where each engine keeps a session's temporary tables (the `int_*` models).
TEMP_SCHEMAS = {"duckdb": "temp", "postgres": "pg_temp"}

# Models rebuilt by deleting and inserting one key value instead of a full rebuild.
SNAPSHOT_KEYS = {"engagement_daily": "snapshot_date"}

Execute = Callable[[str], Sequence[Sequence[Any]] | None]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_REFERENCE = re.compile(rf"\b{ANALYTICS_SCHEMA}\.([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Model:
    """One SQL model: its name, select statement, materialization and references."""

    name: str
    sql: str
    materialized: str
    refs: frozenset[str]


def load_models(models_dir: Path = MODELS_DIR) -> list[Model]:
    """Read the models and return them in dependency order.

    Raises:
        ValueError: a model references a relation that is neither a model, a raw
            contract view nor `run_context`, or the references form a cycle.
    """
    sources = {path.stem: path.read_text() for path in sorted(models_dir.glob("*.sql"))}
    built_in = {"run_context"} | {f"src_{table}" for table in RAW_TABLES}

    models = {}
    for name, text in sources.items():
        refs = frozenset(_REFERENCE.findall(text)) - {name}
        unknown = refs - set(sources) - built_in
        if unknown:
            raise ValueError(
                f"model {name} references {sorted(unknown)}, which are not models in "
                f"{models_dir}; add the model or fix the reference"
            )
        models[name] = Model(name, text.strip().rstrip(";"), _materialized(name), refs)

    sorter = graphlib.TopologicalSorter(
        {name: sorted(model.refs & set(models)) for name, model in models.items()}
    )
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as error:
        raise ValueError(f"model references form a cycle: {error.args[1]}") from error
    return [models[name] for name in order]


def _materialized(name: str) -> str:
    if name.startswith("stg_"):
        return "view"
    if name.startswith("int_"):
        return "temp"
    if name in SNAPSHOT_KEYS:
        return "snapshot"
    return "table"


def build_with(
    execute: Execute,
    engine: str,
    *,
    raw_schema: str = RAW_SCHEMA,
    analytics_schema: str = ANALYTICS_SCHEMA,
    as_of: datetime | None = None,
) -> dict[str, int]:
    """Build every model with a statement executor; the caller owns the transaction.

    Args:
        execute: runs one SQL statement and returns its rows, or None when the
            statement returns none (for example `dlt`'s `sql_client().execute_sql`).
        engine: "duckdb" or "postgres".
        raw_schema: the schema holding the raw tables written by the source.
        analytics_schema: the schema to build into; created when missing.
        as_of: the "now" of the metrics; a naive value is taken as UTC. Defaults to
            the current time.

    Returns:
        Row counts of the marts and snapshots built (not `int_*`), by model name.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    for schema in (raw_schema, analytics_schema):
        if not _IDENTIFIER.match(schema):
            raise ValueError(
                f"schema name {schema!r} must be lowercase letters, digits and _"
            )
    as_of = _as_utc(as_of)
    models = load_models()

    execute("set time zone 'UTC'" if engine == "postgres" else "set timezone = 'UTC'")
    execute(f"create schema if not exists {analytics_schema}")
    _create_run_context(execute, analytics_schema, as_of)
    _create_contract_views(execute, raw_schema, analytics_schema)

    if engine == "duckdb":
        # Nothing reads the tables in insertion order; dropping the guarantee halves
        # the time of the dedup windows on millions of rows (bench/RESULTS.md).
        execute("set preserve_insertion_order = false")
    try:
        counts = _build_models(execute, engine, models, raw_schema, analytics_schema)
    except Exception:
        if engine == "duckdb":
            # An aborted transaction refuses even this; the caller rolls back.
            with contextlib.suppress(Exception):
                execute("reset preserve_insertion_order")
        raise
    if engine == "duckdb":
        execute("reset preserve_insertion_order")
    return counts


def _build_models(
    execute: Execute,
    engine: str,
    models: list[Model],
    raw_schema: str,
    analytics_schema: str,
) -> dict[str, int]:
    temp_schema = TEMP_SCHEMAS[engine]
    temporary = [model.name for model in models if model.materialized == "temp"]
    cached = _shared_views(models)
    counts = {}
    for model in models:
        started = time.perf_counter()
        sql = _qualify(model.sql, raw_schema, analytics_schema, temp_schema)
        if model.materialized != "view":
            for name in cached & model.refs:
                sql = sql.replace(f"{analytics_schema}.{name}", f"{temp_schema}.{name}")
        target = f"{analytics_schema}.{model.name}"
        if model.materialized == "view":
            _drop(execute, analytics_schema, model.name)
            execute(f"create view {target} as\n{sql}")
            if model.name in cached:
                execute(f"drop table if exists {temp_schema}.{model.name}")
                execute(
                    f"create temporary table {model.name} as select * from {target}"
                )
        elif model.materialized == "temp":
            target = f"{temp_schema}.{model.name}"
            execute(f"drop table if exists {target}")
            execute(f"create temporary table {model.name} as\n{sql}")
        elif model.materialized == "table":
            _drop(execute, analytics_schema, model.name)
            execute(f"create table {target} as\n{sql}")
        else:
            _build_snapshot(execute, target, sql, SNAPSHOT_KEYS[model.name])
        if model.materialized in ("table", "snapshot"):
            counts[model.name] = _count(execute, target)
        logger.info(
            "built %s %s in %.2f s", model.materialized, target,
            time.perf_counter() - started,
        )  # fmt: skip

    for name in temporary + sorted(cached):
        execute(f"drop table if exists {temp_schema}.{name}")
    return counts


def _shared_views(models: list[Model]) -> set[str]:
    """Views that several tables read: each is computed once per build, into a
    temporary table that those tables read instead (the view itself stays)."""
    views = {model.name for model in models if model.materialized == "view"}
    readers: dict[str, int] = {}
    for model in models:
        if model.materialized != "view":
            for name in model.refs & views:
                readers[name] = readers.get(name, 0) + 1
    return {name for name, count in readers.items() if count > 1}


def build(
    conn: Any,
    *,
    engine: str | None = None,
    raw_schema: str = RAW_SCHEMA,
    analytics_schema: str = ANALYTICS_SCHEMA,
    as_of: datetime | None = None,
) -> dict[str, int]:
    """Build every model through a DB-API connection, in one transaction.

    Args:
        conn: a `duckdb` connection or a `psycopg2` connection.
        engine: "duckdb" or "postgres"; guessed from the connection's module when
            None.
        raw_schema: the schema holding the raw tables.
        analytics_schema: the schema to build into.
        as_of: the "now" of the metrics (UTC when naive); defaults to now.

    Returns:
        Row counts of the tables built, by model name.
    """
    engine = engine or _engine_of(conn)
    if engine == "duckdb":
        conn.execute("begin transaction")
        try:
            counts = build_with(
                lambda sql: conn.execute(sql).fetchall(), engine,
                raw_schema=raw_schema, analytics_schema=analytics_schema, as_of=as_of,
            )  # fmt: skip
        except Exception:
            conn.execute("rollback")
            raise
        conn.execute("commit")
        return counts

    def execute(sql: str) -> list[tuple] | None:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else None

    try:
        counts = build_with(
            execute, engine,
            raw_schema=raw_schema, analytics_schema=analytics_schema, as_of=as_of,
        )  # fmt: skip
    except Exception:
        conn.rollback()
        raise
    conn.commit()
    return counts


def build_models(
    pipeline: dlt.Pipeline,
    as_of: datetime | None = None,
    *,
    analytics_schema: str = ANALYTICS_SCHEMA,
) -> dict[str, int]:
    """Build the models in a pipeline's destination, after a load.

    The raw schema is the pipeline's dataset (`ghl_raw`); the models go to
    `analytics_schema` in the same database. Works for the duckdb and postgres
    destinations, in one transaction.

    Returns:
        Row counts of the marts, by model name.
    """
    engine = pipeline.destination.destination_type.rsplit(".", 1)[-1]
    if engine not in ENGINES:
        raise ValueError(
            f"transforms run on {ENGINES} destinations, not {engine!r}; load into "
            "duckdb or postgres, or build the models with your warehouse's own tools"
        )
    with pipeline.sql_client() as client, client.begin_transaction():
        return build_with(
            client.execute_sql, engine,
            raw_schema=pipeline.dataset_name, analytics_schema=analytics_schema,
            as_of=as_of,
        )  # fmt: skip


def _engine_of(conn: Any) -> str:
    module = type(conn).__module__.lstrip("_")
    if module.startswith("duckdb"):
        return "duckdb"
    if module.startswith("psycopg"):
        return "postgres"
    raise ValueError(
        f"cannot tell the engine of a {type(conn)!r} connection; pass engine="
    )


def _as_utc(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    if as_of.tzinfo is None:
        return as_of.replace(tzinfo=UTC)
    return as_of.astimezone(UTC)


def _qualify(sql: str, raw_schema: str, analytics_schema: str, temp: str) -> str:
    sql = re.sub(rf"\b{ANALYTICS_SCHEMA}\.(?=int_)", f"{temp}.", sql)
    sql = re.sub(rf"\b{RAW_SCHEMA}\.", f"{raw_schema}.", sql)
    return re.sub(rf"\b{ANALYTICS_SCHEMA}\.", f"{analytics_schema}.", sql)


def _create_run_context(execute: Execute, schema: str, as_of: datetime) -> None:
    # Rewritten in place, not dropped: the int_ views depend on it in PostgreSQL.
    execute(
        f"create table if not exists {schema}.run_context "
        "(as_of_at timestamp with time zone, snapshot_date date)"
    )
    execute(f"delete from {schema}.run_context")
    execute(
        f"insert into {schema}.run_context values ("
        f"cast('{as_of.isoformat()}' as timestamp with time zone), "
        f"cast('{as_of.date().isoformat()}' as date))"
    )


def _create_contract_views(execute: Execute, raw_schema: str, schema: str) -> None:
    rows = execute(
        "select table_name, column_name from information_schema.columns "
        f"where table_schema = '{raw_schema}' "
        "and table_catalog = current_database()"
    )
    present: dict[str, set[str]] = {}
    for table, column in rows or ():
        present.setdefault(table, set()).add(column)

    missing = sorted(set(RAW_TABLES) - set(present))
    if missing:
        logger.warning(
            "raw tables %s are missing from %s; staging reads them as empty",
            ", ".join(missing), raw_schema,
        )  # fmt: skip

    for table, columns in RAW_TABLES.items():
        existing = present.get(table)
        selected = ",\n    ".join(
            f"cast({name if existing and name in existing else 'null'} as {kind})"
            f" as {name}"
            for name, kind in columns.items()
        )
        source = f"from {raw_schema}.{table}" if existing else "where 1 = 0"
        execute(f"drop view if exists {schema}.src_{table} cascade")
        execute(
            f"create view {schema}.src_{table} as\nselect\n    {selected}\n{source}"
        )


def _relation_type(execute: Execute, schema: str, name: str) -> str | None:
    rows = execute(
        "select table_type from information_schema.tables "
        f"where table_schema = '{schema}' and table_name = '{name}' "
        "and table_catalog = current_database()"
    )
    return rows[0][0] if rows else None


def _drop(execute: Execute, schema: str, name: str) -> None:
    """Drop a view or table, whichever it is (a model may change materialization)."""
    kind = _relation_type(execute, schema, name)
    if kind is not None:
        keyword = "view" if kind == "VIEW" else "table"
        execute(f"drop {keyword} {schema}.{name} cascade")


def _build_snapshot(execute: Execute, target: str, sql: str, key: str) -> None:
    schema, name = target.split(".")
    if _relation_type(execute, schema, name) is None:
        execute(f"create table {target} as\nselect * from (\n{sql}\n) as m where 1 = 0")
    execute(
        f"delete from {target} where {key} in (select {key} from {schema}.run_context)"
    )
    execute(f"insert into {target}\nselect * from (\n{sql}\n) as m")


def _count(execute: Execute, target: str) -> int:
    rows = execute(f"select count(*) from {target}")
    return int(rows[0][0]) if rows else 0
