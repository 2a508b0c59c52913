"""Faults: every kind alone and all together end with the tables of a clean run."""

import pytest
from conftest import client_for
from helpers import dump_tables

from pipelines import runs
from sources.ghl import build_client
from sources.ghl.errors import DailyBudgetExhausted

CONTACTS = 120
SEED = 21
KINDS = ["429", "429-no-retry-after", "500", "502", "503", "reset", "slow", "truncated"]


def run_once(api, tmp_path, name, **options):
    pipeline = runs.make_pipeline(
        duckdb_path=tmp_path / f"{name}.duckdb",
        pipelines_dir=tmp_path / f"{name}-dlt",
        pipeline_name=name,
    )
    client = client_for(api, timeout=0.5, max_attempts=10)
    summary = runs.load(pipeline, client, api.location_id, page_limit=40, **options)
    client.close()
    return pipeline, summary, client


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory):
    from sandbox.server import Sandbox

    tmp_path = tmp_path_factory.mktemp("clean")
    with Sandbox(
        contacts=CONTACTS, seed=SEED, rate_limit_max=5000, rate_limit_interval_ms=100
    ) as api:
        pipeline, _, _ = run_once(api, tmp_path, "clean")
        return dump_tables(pipeline)


@pytest.mark.parametrize("faults", [*KINDS, "all"], ids=[*KINDS, "all-kinds"])
def test_fault_matrix_ends_identical_to_a_clean_run(
    make_sandbox, tmp_path, clean_tables, faults
):
    rates = {kind: 0.03 for kind in KINDS} if faults == "all" else {faults: 0.12}
    api = make_sandbox(
        contacts=CONTACTS,
        seed=SEED,
        faults=rates,
        fault_retry_after="0",
        slow_seconds=1.0,
        rate_limit_interval_ms=100,
    )

    pipeline, summary, client = run_once(api, tmp_path, "faulty")

    # A slow answer past the client's timeout is never recorded as answered, so
    # the client's retries are the proof that faults happened.
    injected = [r.fault for r in api.requests if r.fault]
    assert set(injected) <= set(rates)
    assert client.retries >= max(len(injected), 1)
    assert dump_tables(pipeline) == clean_tables
    assert summary.rows["contacts"] == CONTACTS


def paused_client(api, sleeps):
    """A client whose waits are recorded and pass at once, on a clock of its own."""
    now = [1000.0]

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    client = build_client(api.base_url, api.location_id, api.token, sleep=sleep)
    client.governor._sleep = sleep
    client.governor._clock = lambda: now[0]
    return client


def test_429_with_retry_after_zero_backs_off_and_succeeds(make_sandbox, caplog):
    api = make_sandbox(contacts=5)
    sleeps = []
    path = f"/contacts/{api.data.contact_id(0)}"
    api.script(path, [{"status": 429, "headers": {"Retry-After": "0"}}] * 3)

    client = paused_client(api, sleeps)

    assert client.get(path)["contact"]["id"] == api.data.contact_id(0)
    assert [r.status for r in api.requests if r.path == path] == [429, 429, 429, 200]
    assert len(sleeps) == 3 and all(wait > 0 for wait in sleeps)
    retries = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage().split(" (")[1].split(",")[0] for r in retries] == [
        "attempt 1 of 8",
        "attempt 2 of 8",
        "attempt 3 of 8",
    ]
    assert all("waiting" in r.getMessage() for r in retries)


def test_burst_429_without_retry_after_waits_the_announced_interval(make_sandbox):
    api = make_sandbox(contacts=5)
    sleeps = []
    path = f"/contacts/{api.data.contact_id(0)}"
    limited = {
        "status": 429,
        "headers": {
            "Retry-After": None,
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Interval-Milliseconds": "10000",
        },
    }
    api.script(path, [limited])

    client = paused_client(api, sleeps)
    client.get(path)

    assert [r.status for r in api.requests if r.path == path] == [429, 200]
    assert sleeps and sleeps[0] == pytest.approx(10.0, abs=0.05)


def test_daily_budget_stops_cleanly_and_the_next_run_resumes(
    make_sandbox, tmp_path, clean_tables
):
    api = make_sandbox(
        contacts=CONTACTS,
        seed=SEED,
        rate_limit_interval_ms=100,
        rate_limit_daily_max=100,
    )
    pipeline = runs.make_pipeline(
        duckdb_path=tmp_path / "d.duckdb", pipelines_dir=tmp_path / "dlt"
    )

    def run():
        client = client_for(api, daily_reserve=10)
        try:
            return runs.load(
                pipeline, client, api.location_id, page_limit=40, pages_per_run=1
            )
        finally:
            client.close()

    with pytest.raises(Exception) as stopped:
        run()
    assert "resume later" in str(stopped.value)
    from pipelines.cli import root_cause

    assert isinstance(root_cause(stopped.value), DailyBudgetExhausted)
    # Stopped at the reserve: never past the daily budget, never a 429.
    assert len(api.requests) <= 100
    assert all(r.status != 429 for r in api.requests)

    # A new day: a fresh budget.
    api.limiter.reset()
    api.limiter.daily_max = 10_000
    api.reset_requests()
    run()

    assert dump_tables(pipeline) == clean_tables
    # The second run did not read again the contact pages that the first loaded.
    searches = [r for r in api.requests if r.path == "/contacts/search"]
    assert "searchAfter" in searches[0].body


def test_a_retry_after_of_hours_stops_the_run_for_later(make_sandbox):
    api = make_sandbox(contacts=5)
    path = f"/contacts/{api.data.contact_id(0)}"
    api.script(path, [{"status": 429, "headers": {"Retry-After": "90000"}}])
    sleeps = []
    client = paused_client(api, sleeps)

    with pytest.raises(DailyBudgetExhausted, match="asking to wait 90000s"):
        client.get(path)

    assert sleeps == []
    assert DailyBudgetExhausted.exit_code == 75
