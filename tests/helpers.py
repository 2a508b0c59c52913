"""Helpers shared by tests: OAuth sessions against the sandbox, table dumps."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import dlt
import httpx

from pipelines import auth, runs
from sources.ghl.tokens import OAuthTokens, TokenStore

# Columns that differ between two runs of the same data: dlt's load ids and the
# time a business count was read.
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id", "fetched_at")


def login(api: Any, token_dir: Path, scopes: list[str] | None = None) -> TokenStore:
    """Run `auth login` against the sandbox, consenting as a user would."""

    def consent(url: str) -> None:
        query = parse_qs(urlparse(url).query)
        code = api.issue_auth_code(scopes)
        redirect = query["redirect_uri"][0]
        state = query["state"][0]
        httpx.get(f"{redirect}?code={code}&state={state}", timeout=5)

    tokens = auth.login(
        api.base_url,
        f"{api.base_url}/oauth/chooselocation",
        api.client_id,
        api.client_secret,
        token_dir,
        port=0,
        show=consent,
        timeout=10,
    )
    return auth.token_store(token_dir, tokens.location_id)


def oauth_tokens(api: Any, store: TokenStore, **options: Any) -> OAuthTokens:
    return OAuthTokens(store, api.base_url, api.client_id, api.client_secret, **options)


def token_requests(api: Any, grant: str = "refresh_token") -> list[Any]:
    return [
        r
        for r in api.requests
        if r.path == "/oauth/token" and (r.body or {}).get("grant_type") == grant
    ]


def dump_tables(pipeline: dlt.Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """Every raw table's rows, sorted, without dlt's load columns."""
    tables = {}
    with pipeline.sql_client() as sql:
        for table in runs.RAW_TABLES:
            if table not in pipeline.default_schema.tables:
                continue
            name = sql.make_qualified_table_name(table)
            columns = [
                c
                for c in pipeline.default_schema.get_table_columns(table)
                if c not in DLT_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in sorted(columns))
            rows = sql.execute_sql(f"select {select} from {name}")
            tables[table] = sorted((tuple(map(_plain, row)) for row in rows), key=repr)
    return tables


def _plain(value: Any) -> Any:
    # Engines return aware timestamps with different tzinfo objects.
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def recorded(api: Any, path_prefix: str, count: int) -> list[Any]:
    """The sandbox's records for a path once ``count`` have arrived.

    The sandbox records a request after answering it, so a client can be ahead
    of the record by a moment.
    """
    wait_for(
        lambda: (
            len([r for r in api.requests if r.path.startswith(path_prefix)]) >= count
        ),
        timeout=5,
    )
    return [r for r in api.requests if r.path.startswith(path_prefix)]
