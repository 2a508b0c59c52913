"""The command as a process: killed mid-run, failing, and never showing a secret."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from helpers import dump_tables, login, wait_for

from pipelines import runs

CONTACTS = 1500


def command_env(api, tmp_path, oauth_store=None):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "GHL"))
    }
    env.update(
        SOURCES__GHL__BASE_URL=api.base_url,
        SOURCES__GHL__LOCATION_ID=api.location_id,
        RUNTIME__LOG_LEVEL="WARNING",
    )
    if oauth_store is None:
        env["SOURCES__GHL__CREDENTIALS__ACCESS_TOKEN"] = api.token
    else:
        env["SOURCES__GHL__OAUTH__CLIENT_ID"] = api.client_id
        env["SOURCES__GHL__OAUTH__CLIENT_SECRET"] = api.client_secret
        env["SOURCES__GHL__OAUTH__TOKEN_DIR"] = str(oauth_store.path.parent)
    return env


def start(api, tmp_path, *args, oauth_store=None):
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=tmp_path,
        env=command_env(api, tmp_path, oauth_store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_args(tmp_path, *extra):
    return (
        "run",
        "--duckdb",
        str(tmp_path / "ghl.duckdb"),
        "--pipelines-dir",
        str(tmp_path / "dlt"),
        *extra,
    )


def phase_reached(tmp_path: Path, phase: str, stderr_lines: list[str]) -> bool:
    work = tmp_path / "dlt" / runs.PIPELINE_NAME
    if phase == "extract":
        return any("contacts page 1" in line for line in stderr_lines)
    if phase == "normalize":
        return any((work / "normalize" / "extracted").glob("*"))
    return any((work / "load" / "normalized").glob("*"))


@pytest.mark.parametrize("phase", ["extract", "normalize", "load"])
def test_sigkill_then_rerun_ends_identical_to_a_clean_run(
    make_sandbox, tmp_path, phase
):
    api = make_sandbox(contacts=CONTACTS, seed=31)
    store = login(api, tmp_path / "tokens")
    proc = start(api, tmp_path, *run_args(tmp_path), oauth_store=store)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()

    assert wait_for(lambda: phase_reached(tmp_path, phase, lines), timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    (tmp_path / "killed.log").write_text("".join(lines))

    rerun = start(api, tmp_path, *run_args(tmp_path), oauth_store=store)
    _, err = rerun.communicate(timeout=180)
    (tmp_path / "rerun.log").write_text(err)
    assert rerun.returncode == 0, err

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = start(api, clean_dir, *run_args(clean_dir))
    assert clean.wait(timeout=180) == 0

    def tables(folder):
        return dump_tables(
            runs.make_pipeline(
                duckdb_path=folder / "ghl.duckdb", pipelines_dir=folder / "dlt"
            )
        )

    after_kill = tables(tmp_path)
    assert after_kill == tables(clean_dir)
    assert len(after_kill["contacts"]) == CONTACTS
    # The token store still works: the rerun used it, and it loads cleanly.
    assert store.load().location_id == api.location_id


def test_secrets_appear_nowhere(make_sandbox, tmp_path):
    api = make_sandbox(contacts=60, seed=5, access_token_ttl=1)
    store = login(api, tmp_path / "tokens")
    first = store.load()
    secrets = {api.client_secret, first.access_token, first.refresh_token}

    ok = start(api, tmp_path, *run_args(tmp_path), oauth_store=store)
    ok_out, ok_err = ok.communicate(timeout=120)
    assert ok.returncode == 0, ok_err
    refreshed = store.load()
    assert refreshed.access_token != first.access_token
    secrets |= {refreshed.access_token, refreshed.refresh_token}

    api.deactivate_location()
    api.expire_token(refreshed.access_token)
    bad = start(api, tmp_path, *run_args(tmp_path), oauth_store=store)
    bad_out, bad_err = bad.communicate(timeout=120)
    assert bad.returncode == 77
    assert bad_err.strip().splitlines()[-1].startswith("ghl-concord: error:")
    assert "Location is not active" in bad_err

    texts = [ok_out, ok_err, bad_out, bad_err]
    for path in (tmp_path / "dlt").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    with duckdb.connect(str(tmp_path / "ghl.duckdb"), read_only=True) as db:
        for schema, table in db.sql(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall():
            texts.append(repr(db.sql(f'select * from "{schema}"."{table}"').fetchall()))

    leaks = [s for s in secrets if any(s in text for text in texts)]
    assert leaks == []
    assert len(texts) > 10


def test_configuration_errors_are_one_line(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "GHL"))
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--pipelines-dir", "dlt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 78
    assert proc.stderr.strip().splitlines() == [
        "ghl-concord: error: no location: set sources.ghl.location_id (or "
        "location_ids) in .dlt/config.toml or SOURCES__GHL__LOCATION_ID"
    ]


def test_backfill_killed_mid_way_resumes_after_its_last_page(make_sandbox, tmp_path):
    api = make_sandbox(contacts=CONTACTS, seed=33)
    args = (
        "backfill",
        "--since",
        "2020-01-01",
        "--until",
        "2030-01-01",
        "--duckdb",
        str(tmp_path / "ghl.duckdb"),
        "--pipelines-dir",
        str(tmp_path / "dlt"),
    )
    proc = start(api, tmp_path, *args)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    assert wait_for(lambda: any("contacts page 2" in line for line in lines), 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    searches_before = len([r for r in api.requests if r.path == "/contacts/search"])

    rerun = start(api, tmp_path, *args)
    _, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err

    pipeline = runs.make_pipeline(
        duckdb_path=tmp_path / "ghl.duckdb", pipelines_dir=tmp_path / "dlt"
    )
    tables = dump_tables(pipeline)
    assert len(tables["contacts"]) == CONTACTS
    assert len({row for row in tables["contacts"]}) == CONTACTS
    state = pipeline.state["sources"]["ghl"]["locations"][api.location_id]
    assert "backfill" not in state and "contacts_cursor" not in state
    # The rerun did not start the range again: its first search carried a cursor.
    rerun_searches = [r for r in api.requests if r.path == "/contacts/search"][
        searches_before:
    ]
    assert "searchAfter" in rerun_searches[0].body
