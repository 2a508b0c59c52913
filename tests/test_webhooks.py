"""The webhook path end to end: sandbox change -> receiver -> queue -> worker ->
ghl_raw and the marts, against the sandbox on loopback."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import client_for, query
from webhook_support import Keys, event_body, hub, post, wait_until

from pipelines import runs
from pipelines.history import RunHistory
from pipelines.webhooks import EventQueue, Receiver
from pipelines.webhooks.receiver import ReceiverConfig


def raw_contact(pipeline, contact_id):
    return query(
        pipeline,
        "select first_name, last_name, is_deleted from {raw}.contacts "
        f"where id = '{contact_id}'",
    )


def mart_contact(pipeline, contact_id):
    return query(
        pipeline,
        "select first_name, last_name, is_deleted "
        f"from ghl_analytics.concord_contacts where external_id = '{contact_id}'",
    )


def test_a_sandbox_change_reaches_raw_and_marts(make_sandbox, tmp_path):
    with hub(make_sandbox, tmp_path) as h:
        contact_id = h.api.data.contact_id(7)
        h.api.data.update_contact(contact_id, firstName="Zoë", lastName="Quist")

        assert wait_until(lambda: h.worker.batches == 1)
        assert raw_contact(h.pipeline, contact_id) == [("Zoë", "Quist", False)]
        assert mart_contact(h.pipeline, contact_id) == [("Zoë", "Quist", False)]
        assert h.queue.depth() == {}
        assert h.contact_gets(contact_id) == 1
        assert h.receiver.counts == {"accepted": 1}
        last = RunHistory(h.state_dir).last_runs()[h.api.location_id]
        assert last.kind == "webhook"
        assert last.rows["contacts"] == 40


def test_a_created_contact_arrives(make_sandbox, tmp_path):
    with hub(make_sandbox, tmp_path) as h:
        created = h.api.data.create_contact(firstName="New", lastName="Person")

        assert wait_until(lambda: h.worker.batches == 1)
        assert raw_contact(h.pipeline, created["id"]) == [("New", "Person", False)]
        assert mart_contact(h.pipeline, created["id"]) == [("New", "Person", False)]
        assert query(h.pipeline, "select count(*) from {raw}.contacts") == [(41,)]


def test_a_deleted_contact_is_flagged_with_its_children(make_sandbox, tmp_path):
    with hub(make_sandbox, tmp_path) as h:
        contact_id = h.api.data.contact_id(3)
        tasks = len(h.api.data.tasks_for(contact_id))
        notes = len(h.api.data.notes_for(contact_id))
        first = h.api.data.get_contact(contact_id)["firstName"]
        h.api.data.delete_contact(contact_id)

        assert wait_until(lambda: h.worker.batches == 1)
        assert raw_contact(h.pipeline, contact_id)[0][2] is True
        assert mart_contact(h.pipeline, contact_id)[0][::2] == (first, True)
        flagged = query(
            h.pipeline,
            "select (select count(*) from {raw}.tasks where contact_id = "
            f"'{contact_id}' and is_deleted), (select count(*) from {{raw}}.notes "
            f"where contact_id = '{contact_id}' and is_deleted)",
        )
        assert flagged == [(tasks, notes)]


def test_task_and_note_events_sync_the_children(make_sandbox, tmp_path):
    with hub(make_sandbox, tmp_path, start_worker=False) as h:
        contact_id = h.api.data.contact_id(11)
        kept = h.api.data.add_task(contact_id, "Call back")
        dropped = h.api.data.add_task(contact_id, "Send deck")
        note = h.api.data.add_note(contact_id, "Met at expo")
        h.sent()
        assert h.worker.drain_once() is True

        h.api.data.complete_task(kept["id"])
        h.api.data.delete_task(dropped["id"])
        h.api.data.delete_note(note["id"])
        h.sent()
        assert h.queue.depth() == {h.api.location_id: 3}
        assert h.worker.drain_once() is True

        tasks = query(
            h.pipeline,
            "select title, completed, is_deleted from {raw}.tasks "
            f"where id in ('{kept['id']}', '{dropped['id']}') order by title",
        )
        assert tasks == [("Call back", True, False), ("Send deck", False, True)]
        notes = query(
            h.pipeline,
            f"select body, is_deleted from {{raw}}.notes where id = '{note['id']}'",
        )
        assert notes == [("Met at expo", True)]
        assert h.contact_gets(contact_id) == 2


def test_a_thousand_events_for_one_contact_are_one_fetch(make_sandbox, tmp_path):
    with hub(make_sandbox, tmp_path, start_worker=False) as h:
        contact_id = h.api.data.contact_id(2)
        gets_before = h.contact_gets(contact_id)
        for n in range(1000):
            h.api.data.update_contact(contact_id, lastName=f"Burst {n}")
        h.sent()
        assert h.receiver.counts == {"accepted": 1000}
        assert h.queue.depth() == {h.api.location_id: 1000}

        assert h.worker.drain_once() is True
        assert h.worker.drain_once() is False
        assert h.contact_gets(contact_id) - gets_before == 1
        assert h.queue.depth() == {}
        assert mart_contact(h.pipeline, contact_id)[0][1] == "Burst 999"


def test_a_missed_webhook_is_caught_by_the_next_scheduled_run(make_sandbox, pipeline):
    api = make_sandbox(contacts=30, seed=9)  # no webhook_url: every event is lost
    client = client_for(api)
    runs.load(pipeline, client, api.location_id)
    contact_id = api.data.contact_id(12)
    api.data.update_contact(contact_id, firstName="Missed")

    summary = runs.load(pipeline, client, api.location_id)
    client.close()

    last_name = api.data.get_contact(contact_id)["lastName"]
    assert raw_contact(pipeline, contact_id) == [("Missed", last_name, False)]
    assert summary.rows["contacts"] == 30
    searches = [r for r in api.requests if r.path == "/contacts/search"]
    assert len(searches) >= 2


def test_a_failed_batch_stays_queued_and_is_retried(make_sandbox, tmp_path, caplog):
    with hub(make_sandbox, tmp_path) as h:
        contact_id = h.api.data.contact_id(4)
        h.api.script(f"/contacts/{contact_id}", [401], method="GET")
        with caplog.at_level("WARNING", logger="pipelines.webhooks.worker"):
            h.api.data.update_contact(contact_id, firstName="Later")
            assert wait_until(lambda: h.worker.failures == 1)
            assert h.queue.depth() == {h.api.location_id: 1}
            assert wait_until(lambda: h.worker.batches == 1)

        assert raw_contact(h.pipeline, contact_id)[0][0] == "Later"
        assert h.queue.depth() == {}
        assert h.worker.failures == 1
        [warning] = [r for r in caplog.records if r.name == "pipelines.webhooks.worker"]
        assert "failed (attempt 1), retrying in 0.2s" in warning.getMessage()


# ------------------------------------------------------------ the front door


@pytest.fixture(scope="module")
def keys():
    return Keys.generate()


@pytest.fixture
def front(tmp_path, keys):
    """A receiver without a worker: what it accepts stays in the queue."""
    queue = EventQueue(tmp_path / "state")
    receiver = Receiver(
        queue, keys.verifier(), ReceiverConfig(max_body_bytes=4096)
    ).start()
    yield receiver
    receiver.stop()
    queue.close()


def queued(receiver):
    return sum(receiver.queue.depth().values())


@pytest.mark.parametrize(
    "scheme",
    [pytest.param("ed25519", id="ed25519"), pytest.param("rsa", id="rsa-legacy")],
)
def test_signed_events_are_queued(front, keys, scheme):
    body = event_body("TaskCreate", contact_id="c-9")
    header = (
        {"x-ghl-signature": keys.sign_ed25519(body)}
        if scheme == "ed25519"
        else {"x-wh-signature": keys.sign_rsa(body)}
    )

    assert post(front.url, body, header) == 200
    assert front.queue.depth() == {"loc-1": 1}
    batch = front.queue.take()
    assert batch.contacts == {"loc-1": ["c-9"]} and batch.events == 1


def _forged_ed25519(keys, body):
    return {"x-ghl-signature": Keys.generate().sign_ed25519(body)}


def _tampered(keys, body):
    return {"x-ghl-signature": keys.sign_ed25519(body.replace(b"loc-1", b"loc-2"))}


def _forged_rsa(keys, body):
    return {"x-wh-signature": keys.sign_rsa(body + b" ")}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda k, b: {}, id="unsigned"),
        pytest.param(_forged_ed25519, id="ed25519-other-key"),
        pytest.param(_tampered, id="ed25519-other-body"),
        pytest.param(_forged_rsa, id="rsa-other-body"),
        pytest.param(lambda k, b: {"x-ghl-signature": "not base64!"}, id="garbage"),
        pytest.param(
            lambda k, b: {"x-ghl-signature": "", "x-wh-signature": ""}, id="empty"
        ),
    ],
)
def test_unsigned_and_forged_events_are_refused(front, keys, headers, caplog):
    body = event_body()

    with caplog.at_level("WARNING", logger="pipelines.webhooks.receiver"):
        status = post(front.url, body, headers(keys, body))

    assert status == 401
    assert queued(front) == 0
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("webhook refused (401)")


def _payload(**changes):
    payload = json.loads(event_body("NoteCreate", contact_id="c-1"))
    payload.update(changes)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"{not json", 400, id="bad-json"),
        pytest.param(b"\xff\xfe", 400, id="not-utf8"),
        pytest.param(b"[1, 2]", 400, id="not-an-object"),
        pytest.param(_payload(type=None), 400, id="no-type"),
        pytest.param(_payload(locationId=None), 400, id="no-location"),
        pytest.param(_payload(contactId=None), 400, id="no-contact-id"),
        pytest.param(_payload(id=""), 400, id="empty-id"),
        pytest.param(_payload(webhookId=None), 400, id="no-webhook-id"),
        pytest.param(_payload(timestamp="yesterday"), 400, id="bad-timestamp"),
        pytest.param(_payload(timestamp=None), 400, id="no-timestamp"),
        pytest.param(_payload(body="x" * 5000), 413, id="too-large"),
    ],
)
def test_malformed_events_are_refused(front, keys, body, status, caplog):
    with caplog.at_level("WARNING", logger="pipelines.webhooks.receiver"):
        answer = post(front.url, body, {"x-ghl-signature": keys.sign_ed25519(body)})

    assert answer == status
    assert queued(front) == 0
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_a_replayed_event_is_refused(front, keys):
    body = event_body(contact_id="c-2")
    headers = {"x-ghl-signature": keys.sign_ed25519(body)}

    assert post(front.url, body, headers) == 200
    assert post(front.url, body, headers) == 409
    assert front.queue.depth() == {"loc-1": 1}
    assert front.counts == {"accepted": 1, "rejected": 1}


@pytest.mark.parametrize(
    "age", [pytest.param(301, id="stale"), pytest.param(-301, id="from-the-future")]
)
def test_an_event_outside_the_tolerance_is_refused(front, keys, age):
    moment = datetime.now(UTC) - timedelta(seconds=age)
    body = event_body(timestamp=moment.isoformat())

    assert post(front.url, body, {"x-ghl-signature": keys.sign_ed25519(body)}) == 400
    assert queued(front) == 0


def test_epoch_millisecond_timestamps_are_accepted(front, keys):
    body = event_body(timestamp=int(datetime.now(UTC).timestamp() * 1000))

    assert post(front.url, body, {"x-ghl-signature": keys.sign_ed25519(body)}) == 200
    assert queued(front) == 1


def test_unknown_event_types_are_ignored(front, keys, caplog):
    body = event_body("OpportunityCreate")

    with caplog.at_level("INFO", logger="pipelines.webhooks.receiver"):
        status = post(front.url, body, {"x-ghl-signature": keys.sign_ed25519(body)})

    assert status == 200
    assert queued(front) == 0
    assert front.counts == {"ignored": 1}
    assert "OpportunityCreate" in caplog.records[-1].getMessage()


def test_a_request_without_length_is_refused_and_health_answers(front):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=5)
    conn.putrequest("POST", "/webhooks/ghl")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()

    health = http.client.HTTPConnection("127.0.0.1", front.port, timeout=5)
    health.request("GET", "/health")
    answer = health.getresponse()
    assert (answer.status, json.loads(answer.read())) == (
        200,
        {"status": "ok", "queue_depth": 0},
    )
