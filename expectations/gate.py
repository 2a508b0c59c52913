"""The data-quality gate: run every suite, report per suite, write Data Docs.

Every run ends with the gate; a failed critical check fails the run. Each suite's
frames are read in chunks into pandas and validated by Great Expectations through a
dataframe asset in an ephemeral context, so reruns start clean (case R36) and the
dataframe is always passed at run time (case R35). An expectation that raised is a
failure, never a pass (case R34).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import great_expectations as gx
import yaml
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from expectations.suites import MART, RAW, SUITES, Frame, SqlContext, Suite
from expectations.warehouse import Warehouse

if TYPE_CHECKING:
    import dlt

logger = logging.getLogger(__name__)

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)
SEVERITY_FILE = Path(__file__).parent / "severity.yml"
RAW_SCHEMA = "ghl_raw"
ANALYTICS_SCHEMA = "ghl_analytics"
DEFAULT_DOCS_DIR = Path("gx_data_docs")
# Rows per validated chunk: about 100 MB of pandas for the widest frame
# (concord_contacts, ~50 columns).
DEFAULT_CHUNK_ROWS = 200_000
FAILING_VALUES = 5
_SITE = "ghl_concord"
_PARTIAL = 20


@dataclass(frozen=True)
class Failure:
    """A check that did not pass: where, which, how bad, and a few failing rows."""

    table: str
    expectation: str
    severity: str
    unexpected_count: int | None = None
    element_count: int | None = None
    values: tuple[str, ...] = ()
    error: str | None = None

    def describe(self, values: bool = True) -> str:
        """One line: severity, table.expectation, counts, failing values or error."""
        text = f"{self.severity} {self.table}.{self.expectation}"
        if self.error:
            return f"{text}: raised {self.error}"
        if self.unexpected_count is not None:
            text += f": {self.unexpected_count} of {self.element_count} rows failed"
        if values and self.values:
            text += "; e.g. " + "; ".join(self.values)
        return text


@dataclass
class SuiteResult:
    """The outcome of one suite (one table)."""

    name: str
    layer: str
    evaluated: int = 0
    successful: int = 0
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def passed(self) -> bool:
        """No critical failure (warnings do not fail a suite)."""
        return not any(f.severity == CRITICAL for f in self.failures)

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == WARNING]

    def line(self) -> str:
        """A one-line summary of the suite."""
        if self.skipped:
            return f"{self.name}: skipped ({'; '.join(self.notes)})"
        status = "passed" if self.passed else "FAILED"
        text = (
            f"{self.name}: {status}, {self.successful} of {self.evaluated} "
            "expectations met"
        )
        if self.failures:
            # Failing values only for critical failures: warnings stay one clause.
            text += " | " + " | ".join(
                f.describe() if f.severity == CRITICAL else f.describe(values=False)
                for f in self.failures
            )
        if self.notes:
            text += " | note: " + "; ".join(self.notes)
        return text


@dataclass
class GateResult:
    """The outcome of the gate: per-suite results and the Data Docs index."""

    suites: list[SuiteResult]
    docs_index: Path | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no critical check failed."""
        return all(suite.passed for suite in self.suites)

    @property
    def failures(self) -> list[Failure]:
        return [f for suite in self.suites for f in suite.failures]

    @property
    def critical_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == CRITICAL]

    def suite(self, name: str) -> SuiteResult:
        """The result of the suite named `name` (a table name)."""
        for suite in self.suites:
            if suite.name == name:
                return suite
        raise KeyError(
            f"no suite named {name!r}; suites: {[s.name for s in self.suites]}"
        )

    def lines(self) -> list[str]:
        """One line per suite, in run order."""
        return [suite.line() for suite in self.suites]


def load_severities(
    path: Path = SEVERITY_FILE, suites: Iterable[Suite] = SUITES
) -> dict[tuple[str, str], str]:
    """The severity of every check, by (suite, check), from `severity.yml`.

    Raises:
        ValueError: a check has no severity, the file names a check that does not
            exist, or a severity is neither "critical" nor "warning".
    """
    listed = yaml.safe_load(path.read_text()) or {}
    severities = {
        (suite, check): value
        for suite, checks in listed.items()
        for check, value in (checks or {}).items()
    }
    known = {(suite.table, name) for suite in suites for name in suite.names}

    missing = sorted(known - set(severities))
    unknown = sorted(set(severities) - known)
    invalid = sorted(
        key for key, value in severities.items() if value not in SEVERITIES
    )
    if missing or unknown or invalid:
        raise ValueError(
            f"{path}: every check needs one severity, critical or warning; "
            f"missing {missing}, unknown {unknown}, invalid {invalid}"
        )
    return severities


def run_gate(
    target: Any,
    api_totals: Mapping[str, int] | None = None,
    docs_dir: str | Path | None = None,
    *,
    raw_schema: str = RAW_SCHEMA,
    analytics_schema: str = ANALYTICS_SCHEMA,
    engine: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: datetime | None = None,
    suites: Iterable[Suite] = SUITES,
) -> GateResult:
    """Run every suite against the raw tables and marts.

    Args:
        target: a `dlt.Pipeline`, a DuckDB file path, or an open `duckdb` or
            `psycopg2` connection (left open). On PostgreSQL the gate only reads and
            ends each read with a rollback: pass a connection without pending work.
        api_totals: the API's `meta.total` per location for this run; the
            reconciliation of loaded contacts is skipped with a note when None.
        docs_dir: where Data Docs are written; `gx_data_docs` when None.
        raw_schema: the schema (dlt dataset) of the raw tables.
        analytics_schema: the schema of the marts.
        engine: "duckdb" or "postgres"; guessed from the connection when None.
        chunk_rows: rows per validated chunk.
        now: the upper bound of sane timestamps (plus a day); the current time
            when None.
        suites: the suites to run (all of them by default).

    Returns:
        The per-suite results; `ok` is False when a critical check failed.
    """
    if _is_pipeline(target):
        return run_gate_for_pipeline(
            target, api_totals, docs_dir, analytics_schema=analytics_schema,
            chunk_rows=chunk_rows, now=now, suites=suites,
        )  # fmt: skip
    if isinstance(target, str | Path):
        warehouse = Warehouse.open_duckdb(target)
        try:
            return _run(warehouse, api_totals, docs_dir, raw_schema,
                        analytics_schema, chunk_rows, now, suites)  # fmt: skip
        finally:
            warehouse.close()
    warehouse = Warehouse(target, engine)
    return _run(warehouse, api_totals, docs_dir, raw_schema, analytics_schema,
                chunk_rows, now, suites)  # fmt: skip


def run_gate_for_pipeline(
    pipeline: dlt.Pipeline,
    api_totals: Mapping[str, int] | None = None,
    docs_dir: str | Path | None = None,
    *,
    analytics_schema: str = ANALYTICS_SCHEMA,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: datetime | None = None,
    suites: Iterable[Suite] = SUITES,
) -> GateResult:
    """Run the gate on the destination of a dlt pipeline (DuckDB or PostgreSQL).

    The raw schema is the pipeline's dataset; the connection comes from
    `pipeline.sql_client()`, so the pipeline's own credentials are used.

    Args:
        pipeline: a pipeline that has loaded at least once.
        api_totals: the API's `meta.total` per location for this run, or None.
        docs_dir: where Data Docs are written; `gx_data_docs` when None.
        analytics_schema: the schema of the marts.
        chunk_rows: rows per validated chunk.
        now: the upper bound of sane timestamps; the current time when None.
        suites: the suites to run.
    """
    with pipeline.sql_client() as client:
        warehouse = Warehouse(client.native_connection)
        return _run(warehouse, api_totals, docs_dir, pipeline.dataset_name,
                    analytics_schema, chunk_rows, now, suites)  # fmt: skip


def _is_pipeline(target: Any) -> bool:
    return type(target).__name__ == "Pipeline" and hasattr(target, "sql_client")


def _run(
    warehouse: Warehouse,
    api_totals: Mapping[str, int] | None,
    docs_dir: str | Path | None,
    raw_schema: str,
    analytics_schema: str,
    chunk_rows: int,
    now: datetime | None,
    suites: Iterable[Suite],
) -> GateResult:
    started = time.perf_counter()
    suites = tuple(suites)
    severities = load_severities(suites=suites)
    docs_path = Path(docs_dir or DEFAULT_DOCS_DIR).resolve()
    context = _context(docs_path)
    datasource = context.data_sources.add_pandas("ghl_concord_frames")
    run_id = RunIdentifier(run_name="ghl_concord_gate", run_time=datetime.now(UTC))

    raw_columns = {
        suite.table: warehouse.columns(raw_schema, suite.table)
        for suite in suites
        if suite.layer == RAW
    }
    if "contacts" not in raw_columns:
        raw_columns["contacts"] = warehouse.columns(raw_schema, "contacts")
    ctx = SqlContext(
        raw_schema=raw_schema,
        analytics_schema=analytics_schema,
        raw_columns={k: v or [] for k, v in raw_columns.items()},
        api_totals=dict(api_totals) if api_totals else None,
        now=_as_utc(now),
    )

    results = []
    for suite in suites:
        schema = raw_schema if suite.layer == RAW else analytics_schema
        exists = (
            raw_columns[suite.table] is not None
            if suite.layer == RAW
            else warehouse.columns(schema, suite.table) is not None
        )
        result = SuiteResult(suite.table, suite.layer)
        if not exists:
            _missing_table(result, suite, schema)
        else:
            for frame in suite.frames:
                _run_frame(warehouse, context, datasource, run_id, ctx, suite,
                           frame, severities, chunk_rows, result)  # fmt: skip
        logger.info("suite %s", result.line())
        results.append(result)

    docs_index = _build_docs(context, docs_path)
    return GateResult(results, docs_index, time.perf_counter() - started)


def _missing_table(result: SuiteResult, suite: Suite, schema: str) -> None:
    if suite.required:
        hint = "run the transforms first" if suite.layer == MART else "run a load first"
        result.failures.append(Failure(
            suite.table, "table_exists", CRITICAL,
            values=(f"{schema}.{suite.table} does not exist; {hint}",),
        ))  # fmt: skip
        result.evaluated += 1
        return
    result.skipped = True
    result.notes.append(f"{schema}.{suite.table} does not exist (resource not loaded)")
    logger.warning("suite %s skipped: %s.%s does not exist", suite.table, schema,
                   suite.table)  # fmt: skip


def _run_frame(
    warehouse: Warehouse,
    context: Any,
    datasource: Any,
    run_id: RunIdentifier,
    ctx: SqlContext,
    suite: Suite,
    frame: Frame,
    severities: Mapping[tuple[str, str], str],
    chunk_rows: int,
    result: SuiteResult,
) -> None:
    reason = frame.skip_reason(ctx)
    if reason:
        result.notes.append(reason)
        logger.warning("suite %s: %s", suite.table, reason)
        return

    severity_of = {c.name: severities[(suite.table, c.name)] for c in frame.checks}
    expectations = [c.build(ctx, severity_of[c.name]) for c in frame.checks]
    gx_suite = context.suites.add(
        gx.ExpectationSuite(name=frame.name, expectations=expectations)
    )
    asset = datasource.add_dataframe_asset(frame.name)
    batch = asset.add_batch_definition_whole_dataframe("whole_frame")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=frame.name, data=batch, suite=gx_suite)
    )
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": _PARTIAL,
        "unexpected_index_column_names": ["row_key"],
    }

    merged = None
    started, rows = time.perf_counter(), 0
    try:
        for chunk in warehouse.frames(frame.sql(ctx), chunk_rows):
            rows += len(chunk)
            validation = definition.run(
                batch_parameters={"dataframe": chunk},
                result_format=result_format,
                run_id=run_id,
            )
            merged = validation if merged is None else _fold(merged, validation)
    except Exception as error:  # a check whose computation raises fails the gate
        logger.error("suite %s: frame %s raised: %s", suite.table, frame.name, error)
        result.evaluated += len(frame.checks)
        result.failures.extend(
            Failure(suite.table, check.name, CRITICAL, error=_short(error))
            for check in frame.checks
        )
        return

    logger.info("frame %s: %d rows validated in %.1f s", frame.name, rows,
                time.perf_counter() - started)  # fmt: skip
    _store(context, merged)
    for outcome in merged.results:
        check = outcome.expectation_config.meta["check"]
        raised = _raised(outcome)
        result.evaluated += 1
        if outcome.success and raised is None:
            result.successful += 1
            continue
        info = outcome.result or {}
        result.failures.append(Failure(
            suite.table, check, severity_of[check],
            unexpected_count=info.get("unexpected_count"),
            element_count=info.get("element_count"),
            values=_failing_values(info),
            error=raised,
        ))  # fmt: skip


def _fold(merged: Any, chunk: Any) -> Any:
    """Add one chunk's validation to the running result of a frame."""
    by_check = {r.expectation_config.meta["check"]: r for r in chunk.results}
    for outcome in merged.results:
        other = by_check[outcome.expectation_config.meta["check"]]
        outcome.success = bool(outcome.success and other.success)
        if _raised(outcome) is None and _raised(other) is not None:
            outcome.exception_info = other.exception_info
        mine, theirs = outcome.result, other.result or {}
        if not mine:
            continue
        for key in ("element_count", "unexpected_count", "missing_count"):
            if key in mine:
                mine[key] = (mine.get(key) or 0) + (theirs.get(key) or 0)
        for key in ("partial_unexpected_list", "partial_unexpected_index_list"):
            if key in mine:
                room = _PARTIAL - len(mine[key])
                mine[key] = mine[key] + list(theirs.get(key) or [])[: max(room, 0)]
        if "unexpected_percent" in mine and mine.get("element_count"):
            nonmissing = mine["element_count"] - mine.get("missing_count", 0)
            percent = 100 * mine["unexpected_count"] / nonmissing if nonmissing else 0
            mine["unexpected_percent"] = percent
    successes = sum(bool(r.success) for r in merged.results)
    merged.success = successes == len(merged.results)
    merged.statistics["successful_expectations"] = successes
    merged.statistics["unsuccessful_expectations"] = len(merged.results) - successes
    merged.statistics["success_percent"] = (
        100 * successes / len(merged.results) if merged.results else 100
    )
    return merged


def _raised(outcome: Any) -> str | None:
    """The message of an exception raised while evaluating an expectation."""
    info = outcome.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("raised_exception"):
            return _short(entry.get("exception_message") or "unknown error")
    return None


def _failing_values(info: Mapping[str, Any]) -> tuple[str, ...]:
    rows = info.get("partial_unexpected_index_list") or []
    shown: list[str] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        key = row.get("row_key")
        rest = ", ".join(f"{k}={_value(v)}" for k, v in row.items() if k != "row_key")
        text = f"{key}: {rest}" if rest else str(key)
        if text not in shown:
            shown.append(text)
        if len(shown) == FAILING_VALUES:
            break
    if not shown:
        values = info.get("partial_unexpected_list") or []
        shown = list(dict.fromkeys(_value(v) for v in values))[:FAILING_VALUES]
    return tuple(shown)


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, tuple):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    text = str(value)
    return repr(text) if isinstance(value, str) else text


def _short(error: BaseException | str, limit: int = 300) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    name = "" if isinstance(error, str) else f"{type(error).__name__}: "
    text = name + text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _context(docs_dir: Path) -> Any:
    """An ephemeral GX context with analytics off and one local Data Docs site."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            _SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _store(context: Any, merged: Any) -> None:
    """Keep one validation result per frame: the merge of its chunks."""
    store = context.validation_results_store
    name = merged.suite_name
    keys = [
        key for key in store.list_keys()
        if key.expectation_suite_identifier.name == name
    ]  # fmt: skip
    for key in keys[1:]:
        store.remove_key(key)
    if keys:
        store.set(keys[0], merged)


def _build_docs(context: Any, docs_dir: Path) -> Path | None:
    try:
        context.build_data_docs(site_names=[_SITE])
    except Exception as error:  # the docs are a report; the checks stand without them
        logger.warning("Data Docs not written to %s: %s", docs_dir, error)
        return None
    index = docs_dir / "index.html"
    return index if index.exists() else None
