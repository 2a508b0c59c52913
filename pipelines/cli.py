"""The ``ghl-concord`` command.

Every error the product expects ends as one line on stderr that says what failed
and what to do, and an exit code by kind (75: resume later, 77: re-authorize,
78: fix configuration); ``--verbose`` adds the traceback.
"""

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dlt.common.configuration.exceptions import ConfigFieldMissingException

from sources.ghl.errors import ConfigurationError, GHLError
from sources.ghl.tokens import TokenStore

from . import auth, runs
from .history import DEFAULT_STATE_DIR, RunHistory
from .lock import DEFAULT_TIMEOUT, destination_lock, lock_path
from .settings import Settings

logger = logging.getLogger("pipelines")

DEFAULT_DOCS_DIR = "gx_data_docs"
# Destinations the SQL models and the gate run on.
MODEL_ENGINES = ("duckdb", "postgres")
# Exit code of a run whose data-quality gate failed a critical check (2 is
# argparse's usage error).
GATE_FAILED = 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        root = root_cause(exc)
        if isinstance(root, KeyboardInterrupt):
            # dlt wraps an interrupt that lands inside a pipeline step.
            return _interrupted()
        if args.verbose:
            logger.exception("run failed")
        print(f"ghl-concord: error: {_describe(root)}", file=sys.stderr)
        if isinstance(root, ConfigFieldMissingException):
            return ConfigurationError.exit_code
        return getattr(root, "exit_code", 1)


def _interrupted() -> int:
    print("ghl-concord: interrupted; run again to resume", file=sys.stderr)
    return 130


def root_cause(exc: BaseException) -> BaseException:
    """The product's own error inside dlt's wrappers, or the innermost cause."""
    seen = set()
    current: BaseException | None = exc
    innermost = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, GHLError):
            return current
        innermost = current
        nested = getattr(current, "exception", None)
        if isinstance(nested, BaseException):
            current = nested
        else:
            current = current.__cause__ or current.__context__
    return innermost


def _describe(exc: BaseException) -> str:
    if isinstance(exc, GHLError):
        return str(exc)
    if isinstance(exc, ConfigFieldMissingException):
        return (
            f"{exc.spec_name} is missing {', '.join(exc.fields)}: set it in "
            ".dlt/secrets.toml, .dlt/config.toml or the environment (with trust "
            "auth, PostgreSQL still needs some password in the credentials)"
        )
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghl-concord",
        description="GoHighLevel contacts, tasks, notes and businesses to DuckDB "
        "or a warehouse, for Concord CLM.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug output")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the pipeline on a local sandbox")
    demo.add_argument("--contacts", type=int, default=1000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--destination", default="duckdb", help="duckdb or postgres")
    demo.add_argument("--duckdb", default=runs.DEFAULT_DUCKDB, help="DuckDB file")
    demo.add_argument("--pipelines-dir", default=None, help="dlt working folder")
    demo.add_argument("--docs-dir", default=DEFAULT_DOCS_DIR, help="Data Docs folder")
    demo.add_argument(
        "--faults",
        default=None,
        help="sandbox faults, e.g. 'all:0.05' or '500:0.05,reset:0.02'",
    )
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("run", help="load the configured location(s)")
    _destination_arguments(run)
    kind = run.add_mutually_exclusive_group()
    kind.add_argument(
        "--full-refresh", action="store_true", help="read every contact again"
    )
    kind.add_argument(
        "--reconcile",
        action="store_true",
        help="after the run, flag contacts the API no longer lists as deleted",
    )
    run.set_defaults(handler=_run)

    backfill = commands.add_parser(
        "backfill", help="load contacts added in a date range (cursor untouched)"
    )
    _destination_arguments(backfill)
    backfill.add_argument("--since", required=True, type=_date, help="YYYY-MM-DD")
    backfill.add_argument("--until", type=_date, default=None, help="default: now")
    backfill.add_argument("--slice-days", type=_positive, default=30)
    backfill.set_defaults(handler=_backfill)

    sync = commands.add_parser("sync", help="fetch these contacts, tasks and notes")
    _destination_arguments(sync)
    sync.add_argument("contact_ids", nargs="+", metavar="CONTACT_ID")
    sync.set_defaults(handler=_sync)

    serve = commands.add_parser(
        "serve", help="receive GHL webhooks and sync the contacts they name"
    )
    _destination_arguments(serve, locations=False)
    serve.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1")
    serve.add_argument(
        "--batch-contacts", type=int, default=100, help="contacts per worker batch"
    )
    serve.set_defaults(handler=_serve)

    status = commands.add_parser(
        "status", help="last runs, cursors, budgets, queue depth, gate verdict"
    )
    status.add_argument("--destination", default="duckdb", help="duckdb, postgres …")
    status.add_argument("--duckdb", default=runs.DEFAULT_DUCKDB, help="DuckDB file")
    status.add_argument("--pipelines-dir", default=None, help="dlt working folder")
    _state_argument(status)
    status.set_defaults(handler=_status)

    transform = commands.add_parser("transform", help="build the marts")
    _destination_arguments(transform, locations=False)
    transform.set_defaults(handler=_transform_command)

    check = commands.add_parser("check", help="run the data-quality gate")
    _destination_arguments(check, locations=False)
    check.set_defaults(handler=_check_command)

    auth = commands.add_parser("auth", help="OAuth login and token status")
    auth_commands = auth.add_subparsers(dest="auth_command", required=True)
    login = auth_commands.add_parser("login", help="authorize a location (OAuth)")
    login.add_argument("--port", type=int, default=8765, help="redirect port")
    login.set_defaults(handler=_auth_login)
    status = auth_commands.add_parser("status", help="show stored tokens' state")
    status.set_defaults(handler=_auth_status)

    sandbox = commands.add_parser("sandbox", help="serve the local GHL sandbox")
    from sandbox import cli as sandbox_cli

    sandbox_cli.add_arguments(sandbox)
    sandbox.set_defaults(handler=sandbox_cli.run)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    level = logging.DEBUG if verbose else logging.INFO
    for name in ("sources", "pipelines", "transforms"):
        logging.getLogger(name).setLevel(level)
    # The gate's result is printed per suite; its per-frame lines are for -v.
    logging.getLogger("expectations").setLevel(level if verbose else logging.WARNING)


def _demo(args: argparse.Namespace) -> int:
    from sandbox.server import Sandbox
    from sources.ghl import build_client

    faults = _parse_faults(args.faults)
    started = time.perf_counter()
    # The sandbox announces a fast limit: the demo shows the job, not GHL's pace.
    sandbox = Sandbox(
        contacts=args.contacts,
        seed=args.seed,
        faults=faults,
        fault_rate=0.0,
        rate_limit_max=5000,
        rate_limit_interval_ms=1000,
    )
    with sandbox as api:
        print(f"sandbox: {api.base_url}, {args.contacts} contacts")
        client = build_client(
            api.base_url, api.location_id, api.token, backoff_base=0.05, timeout=2.0
        )
        pipeline = _pipeline(args)
        # A demo shows the whole job every time: all contacts, merged.
        summary = runs.load(pipeline, client, api.location_id, mode="full")
        client.close()
    where = args.destination
    if where == "duckdb":
        where = f"DuckDB {Path(args.duckdb).resolve()}"
    _print_summary(summary, where)
    totals = None
    if summary.api_total is not None:
        totals = {api.location_id: summary.api_total}
    code = _after_load(pipeline, totals, args.docs_dir)
    print(f"demo finished in {time.perf_counter() - started:.1f}s")
    return code


def _destination_arguments(
    parser: argparse.ArgumentParser, locations: bool = True
) -> None:
    parser.add_argument("--destination", default="duckdb", help="duckdb, postgres …")
    parser.add_argument("--duckdb", default=runs.DEFAULT_DUCKDB, help="DuckDB file")
    parser.add_argument("--pipelines-dir", default=None, help="dlt working folder")
    parser.add_argument(
        "--docs-dir", default=DEFAULT_DOCS_DIR, help="Great Expectations Data Docs"
    )
    if locations:
        parser.add_argument(
            "--location", action="append", default=None, help="limit to a location"
        )
    _state_argument(parser)
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for a run that holds the destination (default 600)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="exit at once (code 75) when another run holds the destination",
    )


def _state_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        help="run history and webhook queue (default .ghl_concord)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


def _date(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; use YYYY-MM-DD or an ISO-8601 instant"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _each_location(args: argparse.Namespace, work, kind: str) -> int:
    settings = Settings.from_dlt()
    pipeline = _pipeline(args)
    history = RunHistory(args.state_dir)
    totals = {}
    # The load, the marts and the gate form one locked run: DuckDB has one
    # writer process, and the gate must read what this run wrote.
    with _locked(args):
        for location_id in args.location or settings.location_ids:
            client = settings.client(location_id)
            try:
                summary = work(pipeline, client, location_id, settings)
                history.record_run(
                    location_id,
                    kind,
                    summary.rows,
                    summary.elapsed,
                    summary.requests,
                    client.governor.daily_remaining,
                )
            finally:
                client.close()
            _print_summary(summary, f"{args.destination}, location {location_id}")
            if summary.api_total is not None:
                totals[location_id] = summary.api_total
        return _after_load(pipeline, totals or None, args.docs_dir, history)


def _pipeline(args: argparse.Namespace):
    return runs.make_pipeline(
        args.destination, duckdb_path=args.duckdb, pipelines_dir=args.pipelines_dir
    )


def _lock_path(args: argparse.Namespace) -> Path:
    return lock_path(
        args.destination, args.duckdb, args.pipelines_dir, runs.PIPELINE_NAME
    )


def _locked(args: argparse.Namespace):
    return destination_lock(
        _lock_path(args), wait=not args.no_wait, timeout=args.lock_timeout
    )


def _after_load(
    pipeline,
    api_totals: dict[str, int] | None,
    docs_dir: str,
    history: RunHistory | None = None,
) -> int:
    """Build the marts, then run the data-quality gate; its verdict is the code."""
    engine = pipeline.destination.destination_type.rsplit(".", 1)[-1]
    if engine not in MODEL_ENGINES:
        # TODO(ghl-concord): build the marts on BigQuery and Snowflake once the
        # runner has their dialects; the raw load above is complete.
        logger.warning(
            "loaded into %s; the marts and the gate run on %s only, skipped",
            engine,
            " and ".join(MODEL_ENGINES),
        )
        return 0
    _transform(pipeline)
    return _check(pipeline, api_totals, docs_dir, history)


def _transform(pipeline) -> None:
    from transforms.runner import build_models

    started = time.perf_counter()
    counts = build_models(pipeline)
    print(f"built {len(counts)} marts in {time.perf_counter() - started:.1f}s")
    for table, count in counts.items():
        print(f"  ghl_analytics.{table:<22} {count:>9,}")


def _check(
    pipeline,
    api_totals: dict[str, int] | None,
    docs_dir: str,
    history: RunHistory | None = None,
) -> int:
    from expectations.gate import run_gate_for_pipeline

    result = run_gate_for_pipeline(pipeline, api_totals=api_totals, docs_dir=docs_dir)
    if history is not None:
        history.record_gate(
            result.ok, len(result.critical_failures), "; ".join(result.lines())
        )
    print(f"data-quality gate: {len(result.suites)} suites in {result.elapsed:.1f}s")
    for line in result.lines():
        print(f"  {line}")
    if result.docs_index:
        print(f"Data Docs: {result.docs_index}")
    if not result.ok:
        for failure in result.critical_failures:
            print(f"ghl-concord: error: {failure.describe()}", file=sys.stderr)
        return GATE_FAILED
    return 0


def _transform_command(args: argparse.Namespace) -> int:
    with _locked(args):
        _transform(_pipeline(args))
    return 0


def _check_command(args: argparse.Namespace) -> int:
    # The gate opens the DuckDB file for writing too: it waits for a running load.
    with _locked(args):
        return _check(_pipeline(args), None, args.docs_dir, RunHistory(args.state_dir))


def _run(args: argparse.Namespace) -> int:
    def work(pipeline, client, location_id, settings):
        summary = runs.load(
            pipeline,
            client,
            location_id,
            mode="full" if args.full_refresh else "incremental",
            max_concurrency=settings.max_concurrency,
            lookback_minutes=settings.lookback_minutes,
        )
        if args.reconcile:
            sent = client.requests_sent
            gone = runs.reconcile(pipeline, client, location_id)
            summary.requests += client.requests_sent - sent
            summary.extra["contacts found deleted"] = gone
        return summary

    return _each_location(args, work, "full" if args.full_refresh else "incremental")


def _backfill(args: argparse.Namespace) -> int:
    until = args.until or datetime.now(UTC)
    if until <= args.since:
        raise ConfigurationError(
            f"--until {until.date()} is not after --since {args.since.date()}"
        )

    def work(pipeline, client, location_id, settings):
        return runs.load(
            pipeline,
            client,
            location_id,
            resources=list(runs.CONTACT_RESOURCES),
            mode="backfill",
            pages_per_run=1,
            backfill=(args.since, until),
            slice_days=args.slice_days,
            max_concurrency=settings.max_concurrency,
        )

    return _each_location(args, work, "backfill")


def _sync(args: argparse.Namespace) -> int:
    def work(pipeline, client, location_id, settings):
        return runs.load(
            pipeline,
            client,
            location_id,
            resources=list(runs.CONTACT_RESOURCES),
            mode="ids",
            contact_ids=args.contact_ids,
            max_concurrency=settings.max_concurrency,
        )

    return _each_location(args, work, "sync")


def _serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return serve(args, _pipeline(args), _lock_path(args))


def _status(args: argparse.Namespace) -> int:
    from .status import collect, render

    settings = Settings.from_dlt(need_location=False)
    for line in render(collect(_pipeline(args), args.state_dir, settings.location_ids)):
        print(line)
    return 0


def _auth_login(args: argparse.Namespace) -> int:
    settings = Settings.from_dlt(need_location=False)
    tokens = auth.login(
        settings.base_url,
        settings.authorize_url,
        settings.client_id,
        settings.client_secret,
        settings.token_dir,
        port=args.port,
        show=lambda url: print(f"open this URL to authorize read access:\n  {url}"),
    )
    print(auth.describe(tokens))
    return 0


def _auth_status(args: argparse.Namespace) -> int:
    settings = Settings.from_dlt(need_location=False)
    files = sorted(Path(settings.token_dir).glob("*.json"))
    if not files:
        print(f"no OAuth tokens in {settings.token_dir}; run `ghl-concord auth login`")
        return 1
    for path in files:
        print(auth.describe(TokenStore(path).load()))
    return 0


def _parse_faults(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    from sandbox.faults import FAULT_KINDS

    faults: dict[str, float] = {}
    for part in text.split(","):
        kind, _, rate = part.partition(":")
        try:
            if kind.strip() == "all":
                # `all:R` spreads a total rate R over every fault kind.
                share = float(rate) / len(FAULT_KINDS)
                faults.update(dict.fromkeys(FAULT_KINDS, share))
            else:
                faults[kind.strip()] = float(rate)
        except ValueError:
            raise SystemExit(
                f"ghl-concord: error: --faults part {part!r} is not KIND:RATE, "
                "e.g. 500:0.05"
            ) from None
    return faults


def _print_summary(summary: runs.RunSummary, where: str) -> None:
    print(f"loaded into {where}")
    width = max(len(t) for t in summary.rows) if summary.rows else 10
    for table, count in summary.rows.items():
        print(f"  {table:<{width}}  {count:>9,}")
    for label, value in summary.extra.items():
        print(f"  {label}: {value}")
    print(
        f"HTTP requests: {summary.requests:,} ({summary.retries} retried); "
        f"elapsed {summary.elapsed:.1f}s"
    )


if __name__ == "__main__":
    sys.exit(main())
