"""The receiver and the lock as processes: kill -9 with events queued, two runs at
once, and `status`."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest
from conftest import client_for, query
from helpers import dump_tables, wait_for

from pipelines import runs
from pipelines.lock import DestinationBusy, destination_lock, lock_path
from pipelines.webhooks import EventQueue


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command_env(api):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "GHL"))
    }
    env.update(
        SOURCES__GHL__BASE_URL=api.base_url,
        SOURCES__GHL__LOCATION_ID=api.location_id,
        SOURCES__GHL__CREDENTIALS__ACCESS_TOKEN=api.token,
        RUNTIME__LOG_LEVEL="WARNING",
    )
    if api.webhook_public_key_pem:
        env["SOURCES__GHL__WEBHOOKS__ED25519_PUBLIC_KEY"] = api.webhook_public_key_pem
    return env


def command(api, folder, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=folder,
        env=command_env(api),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def where(folder):
    return (
        "--duckdb",
        str(folder / "ghl.duckdb"),
        "--pipelines-dir",
        str(folder / "dlt"),
        "--state-dir",
        str(folder / "state"),
    )


def pipeline_in(folder):
    return runs.make_pipeline(
        duckdb_path=folder / "ghl.duckdb", pipelines_dir=folder / "dlt"
    )


def the_lock(folder):
    return lock_path("duckdb", folder / "ghl.duckdb", None, runs.PIPELINE_NAME)


class Serving:
    """`ghl-concord serve` as a child process, its output collected."""

    def __init__(self, api, folder, port):
        self.proc = command(
            api, folder, "serve", "--port", str(port), "--lock-timeout", "0.5",
            *where(folder),
        )  # fmt: skip
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in (
            (self.proc.stdout, self.out),
            (self.proc.stderr, self.err),
        ):
            threading.Thread(
                target=lambda s=stream, into=lines: into.extend(s), daemon=True
            ).start()
        assert wait_for(lambda: any("receiving" in line for line in self.out), 30), (
            "".join(self.err)
        )


def test_events_queued_when_the_receiver_is_killed_are_processed_after_restart(
    make_sandbox, tmp_path
):
    port = free_port()
    api = make_sandbox(
        contacts=40, seed=21, webhook_url=f"http://127.0.0.1:{port}/webhooks/ghl"
    )
    pipeline = pipeline_in(tmp_path)
    client = client_for(api)
    runs.load(pipeline, client, api.location_id)
    client.close()
    changed = [api.data.contact_id(i) for i in (1, 2, 3)]

    # While the test holds the destination, the worker can take nothing out.
    with destination_lock(the_lock(tmp_path)):
        first = Serving(api, tmp_path, port)
        for n, contact_id in enumerate(changed):
            api.data.update_contact(contact_id, firstName=f"Kept {n}")
        api.webhooks.flush(timeout=30)
        assert [status for _, status in api.webhooks.sent] == [200, 200, 200]
        first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(timeout=10) == -signal.SIGKILL

    queue = EventQueue(tmp_path / "state")
    assert queue.depth() == {api.location_id: 3}

    second = Serving(api, tmp_path, port)
    assert "(3 pending)" in "".join(second.out)
    assert wait_for(lambda: queue.depth() == {}, timeout=60), "".join(second.err)
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=30) == 0
    queue.close()

    names = dict(
        query(
            pipeline,
            "select id, first_name from {raw}.contacts "
            f"where id in ('{changed[0]}', '{changed[1]}', '{changed[2]}')",
        )
    )
    assert names == {changed[0]: "Kept 0", changed[1]: "Kept 1", changed[2]: "Kept 2"}
    with sqlite3.connect(tmp_path / "state" / "queue.sqlite") as db:
        assert db.execute(
            "select count(*), count(processed_at) from events"
        ).fetchone() == (3, 3)


def test_two_runs_at_once_take_turns_and_load_what_one_run_loads(
    make_sandbox, tmp_path
):
    api = make_sandbox(contacts=300, seed=17)
    args = ("run", *where(tmp_path))

    both = [command(api, tmp_path, *args) for _ in range(2)]
    outcomes = [proc.communicate(timeout=240) for proc in both]

    assert [proc.returncode for proc in both] == [0, 0], [e for _, e in outcomes]
    assert all("loaded into duckdb" in out for out, _ in outcomes)
    clean = tmp_path / "clean"
    clean.mkdir()
    reference = command(api, clean, *("run", *where(clean)))
    assert reference.wait(timeout=240) == 0
    loaded = dump_tables(pipeline_in(tmp_path))
    assert loaded == dump_tables(pipeline_in(clean))
    assert len(loaded["contacts"]) == 300
    with sqlite3.connect(tmp_path / "state" / "history.sqlite") as db:
        kinds = db.execute("select kind from runs order by id").fetchall()
        gates = db.execute("select ok from gate_results").fetchall()
    assert kinds == [("incremental",), ("incremental",)]
    assert gates == [(1,), (1,)]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("run", "--no-wait"), id="run"),
        pytest.param(("sync", "--no-wait", "abc"), id="sync"),
        pytest.param(("transform", "--lock-timeout", "0.3"), id="transform"),
        pytest.param(("check", "--no-wait"), id="check"),
        pytest.param(("backfill", "--no-wait", "--since", "2024-01-01"), id="backfill"),
    ],
)
def test_a_second_writer_exits_75_with_one_line(make_sandbox, tmp_path, argv):
    api = make_sandbox(contacts=5, seed=2)

    with destination_lock(the_lock(tmp_path)):
        proc = command(api, tmp_path, *argv, *where(tmp_path))
        out, err = proc.communicate(timeout=60)

    assert proc.returncode == 75
    assert out == ""
    waited = "waited 0.3s" if "transform" in argv else "did not wait"
    assert err.splitlines() == [
        "ghl-concord: error: another run is writing this destination "
        f"(lock {the_lock(tmp_path)}, held by pid {os.getpid()}); {waited}; "
        "run again when it has finished"
    ]
    assert not (tmp_path / "ghl.duckdb").exists()


def test_the_lock_waits_for_its_holder(tmp_path):
    path = tmp_path / "db.duckdb.lock"
    released = threading.Event()
    order = []

    def holder():
        with destination_lock(path):
            order.append("held")
            released.wait(5)
            order.append("released")

    thread = threading.Thread(target=holder)
    thread.start()
    assert wait_for(lambda: order == ["held"], 5)
    with pytest.raises(DestinationBusy), destination_lock(path, wait=False):
        pass
    threading.Timer(0.3, released.set).start()
    with destination_lock(path, timeout=5):
        order.append("second")
    thread.join()

    assert order == ["held", "released", "second"]


def test_status_shows_run_cursor_budget_queue_and_gate(make_sandbox, tmp_path):
    api = make_sandbox(contacts=50, seed=3)
    run = command(api, tmp_path, "run", *where(tmp_path))
    _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    status = command(api, tmp_path, "status", *where(tmp_path)[:4], "--state-dir",
                     str(tmp_path / "state"))  # fmt: skip
    out, err = status.communicate(timeout=60)

    assert status.returncode == 0, err
    state = pipeline_in(tmp_path).state["sources"]["ghl"]["locations"]
    cursor = state[api.location_id]["contacts_cursor"]
    requests = len(api.requests)
    lines = out.splitlines()
    assert lines[0] == f"location {api.location_id}"
    assert re.fullmatch(
        r"  last run:      \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
        rf"\(incremental, {requests} requests, \d+\.\ds\)",
        lines[1],
    ), lines[1]
    assert lines[2] == (
        "  table rows:    business_contact_counts 2, business_contacts 37, "
        "businesses 2, contact_additional_emails 1, contact_custom_fields 150, "
        "contact_tags 55, contacts 50, custom_fields 8, notes 110, tasks 105"
    )
    assert lines[3] == f"  cursor:        {cursor}"
    assert lines[4] == f"  daily budget:  {200_000 - requests:,} requests left"
    assert lines[5] == "  queue depth:   0 events"
    assert lines[6].startswith("data-quality gate: passed at ")
    assert len(lines) == 7
