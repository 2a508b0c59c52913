"""Run kinds: incremental, full refresh, backfill, sync, reconcile, locations."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from conftest import client_for, query
from dlt.pipeline.helpers import pipeline_drop

from pipelines import runs
from sources.ghl import sweeps
from sources.ghl.rows import parse_instant


def load(pipeline, api, **options):
    client = client_for(api)
    try:
        return runs.load(pipeline, client, api.location_id, **options)
    finally:
        client.close()


def location_state(pipeline, location_id):
    return pipeline.state["sources"]["ghl"]["locations"][location_id]


def name_of(pipeline, contact_id):
    sql = f"select first_name from {{raw}}.contacts where id = '{contact_id}'"
    return query(pipeline, sql)[0][0]


def no_colon_offset(iso):
    return parse_instant(iso).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def epoch_ms(iso):
    return int(parse_instant(iso).timestamp() * 1000)


def new_york(iso):
    return parse_instant(iso).astimezone(timezone(timedelta(hours=-5))).isoformat()


def requests_by_path(api):
    counts = {}
    for r in api.requests:
        key = r.path
        if r.path.endswith(("/tasks", "/notes")):
            key = "/contacts/{id}/" + r.path.rsplit("/", 1)[1]
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_incremental_run_costs_what_changed(make_sandbox, pipeline):
    api = make_sandbox(contacts=300, seed=12)
    load(pipeline, api)
    cursor = location_state(pipeline, api.location_id)["contacts_cursor"]
    assert parse_instant(cursor) == max(
        parse_instant(c["dateUpdated"]) for c in api.data.iter_contacts()
    )

    changed = [api.data.contact_id(i) for i in (5, 50, 150)]
    for number, contact_id in enumerate(changed):
        api.data.update_contact(contact_id, email=f"changed{number}@example.com")
    api.reset_requests()
    summary = load(pipeline, api)

    # Read again: the changed contacts and those inside the 10-minute look-back.
    since = parse_instant(cursor) - timedelta(minutes=10)
    reread = [
        c for c in api.data.iter_contacts() if parse_instant(c["dateUpdated"]) >= since
    ]
    assert {c["id"] for c in reread} >= set(changed)
    assert len(reread) <= len(changed) + 3
    businesses = {c["businessId"] for c in reread if c.get("businessId")}
    assert requests_by_path(api) == {
        "/contacts/search": 1,
        f"/locations/{api.location_id}/tasks/search": 1,
        "/contacts/{id}/notes": len(reread),
        "/businesses/": 1,
        f"/locations/{api.location_id}/customFields": 1,
        **{f"/contacts/business/{b}": 1 for b in businesses},
    }
    search = next(r.body for r in api.requests if r.path == "/contacts/search")
    assert search["filters"][0]["field"] == "dateUpdated"
    assert parse_instant(search["filters"][0]["value"]["gte"]) == parse_instant(
        cursor
    ) - timedelta(minutes=10)
    assert summary.rows["contacts"] == 300
    emails = query(
        pipeline,
        "select email from {raw}.contacts where email like 'changed%' order by 1",
    )
    assert emails == [(f"changed{n}@example.com",) for n in range(3)]


def test_contact_changed_inside_the_lookback_window_is_caught(make_sandbox, pipeline):
    api = make_sandbox(contacts=50, seed=3)
    load(pipeline, api)
    late, early = api.data.contact_id(10), api.data.contact_id(20)
    api.data.update_contact(late, firstName="Lagged")
    api.data.update_contact(early, firstName="Seen")

    # The search index lags: the first update is not searchable yet (R04).
    def hide_late(body):
        shown = [c for c in body["contacts"] if c["id"] != late]
        return {**body, "contacts": shown, "total": len(shown)}

    api.script("/contacts/search", [{"transform": hide_late}])
    load(pipeline, api)
    assert query(
        pipeline, f"select first_name from {{raw}}.contacts where id = '{late}'"
    ) != [("Lagged",)]

    load(pipeline, api)
    assert (name_of(pipeline, late), name_of(pipeline, early)) == ("Lagged", "Seen")


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda iso: iso, id="iso-z"),
        pytest.param(
            lambda iso: iso.replace(".000Z", "+0000").replace("Z", "+0000"),
            id="offset-no-colon",
        ),
        pytest.param(
            lambda iso: int(parse_instant(iso).timestamp() * 1000), id="epoch-ms"
        ),
        pytest.param(
            lambda iso: (
                parse_instant(iso)
                .astimezone(sweeps.timezone(sweeps.timedelta(hours=-5)))
                .isoformat()
            ),
            id="minus-five-hours",
        ),
    ],
)
def test_cursor_compares_instants_whatever_the_format(make_sandbox, pipeline, rewrite):
    api = make_sandbox(contacts=30, seed=8)

    def reformat(body):
        for contact in body["contacts"]:
            contact["dateUpdated"] = rewrite(contact["dateUpdated"])
        return body

    api.script("/contacts/search", [{"transform": reformat}] * 3)
    load(pipeline, api, resources=["contacts"])

    newest = max(parse_instant(c["dateUpdated"]) for c in api.data.iter_contacts())
    cursor = location_state(pipeline, api.location_id)["contacts_cursor"]
    assert parse_instant(cursor) == newest
    ((stored,),) = query(pipeline, "select max(date_updated) from {raw}.contacts")
    assert stored == newest


def test_missing_date_updated_falls_back_and_never_moves_the_cursor_back(
    make_sandbox, pipeline
):
    api = make_sandbox(contacts=40, seed=4)
    load(pipeline, api, resources=["contacts"])
    cursor = location_state(pipeline, api.location_id)["contacts_cursor"]
    victim = api.data.contact_id(3)
    api.data.update_contact(victim, lastName="Undated")

    def strip(body):
        for contact in body["contacts"]:
            if contact["id"] == victim:
                del contact["dateUpdated"]
        return body

    api.script("/contacts/search", [{"transform": strip}])
    load(pipeline, api, resources=["contacts"])

    ((last, updated, added),) = query(
        pipeline,
        "select last_name, date_updated, date_added from {raw}.contacts "
        f"where id = '{victim}'",
    )
    assert last == "Undated" and updated == added
    assert location_state(pipeline, api.location_id)["contacts_cursor"] == cursor


def test_full_refresh_keeps_row_counts(make_sandbox, pipeline):
    api = make_sandbox(contacts=120, seed=6)
    first = load(pipeline, api)
    again = load(pipeline, api, mode="full")

    assert again.rows == first.rows
    searches = [r for r in api.requests if r.path == "/contacts/search"]
    assert "filters" not in searches[-1].body


def test_backfill_loads_its_range_resumes_and_leaves_the_cursor(
    make_sandbox, pipeline, tmp_path
):
    api = make_sandbox(contacts=400, seed=9)
    contacts = list(api.data.iter_contacts())
    since = parse_instant(contacts[100]["dateAdded"])
    until = parse_instant(contacts[300]["dateAdded"])
    expected = {
        c["id"] for c in contacts if since <= parse_instant(c["dateAdded"]) < until
    }
    # The third search page of the backfill fails hard, like a crash.
    api.script("/contacts/search", [None, None, {"status": 400}])
    options = dict(
        mode="backfill",
        backfill=(since, until),
        slice_days=60,
        page_limit=30,
        pages_per_run=1,
        resources=list(runs.CONTACT_RESOURCES),
    )
    with pytest.raises(Exception, match="400"):
        load(pipeline, api, **options)
    loaded_before = query(pipeline, "select count(*) from {raw}.contacts")[0][0]
    assert 0 < loaded_before < len(expected)
    saved = location_state(pipeline, api.location_id)["backfill"]["sweep"]
    api.reset_requests()

    load(pipeline, api, **options)

    ids = {i for (i,) in query(pipeline, "select id from {raw}.contacts")}
    assert ids == expected
    first_search = next(r for r in api.requests if r.path == "/contacts/search")
    assert first_search.body["searchAfter"] == saved["search_after"]
    state = location_state(pipeline, api.location_id)
    assert "contacts_cursor" not in state and "backfill" not in state
    assert first_search.body["filters"][0]["field"] == "dateAdded"


def test_sync_fetches_named_contacts_and_flags_deleted(make_sandbox, pipeline):
    api = make_sandbox(contacts=60, seed=10)
    load(pipeline, api)
    kept, gone = api.data.contact_id(7), api.data.contact_id(8)
    api.data.update_contact(kept, city="Zürich")
    task = api.data.add_task(kept, title="Call back")
    api.data.delete_contact(gone)
    api.reset_requests()

    load(
        pipeline,
        api,
        mode="ids",
        contact_ids=[kept, gone, kept],
        resources=list(runs.CONTACT_RESOURCES),
    )

    assert requests_by_path(api) == {
        f"/contacts/{kept}": 1,
        f"/contacts/{gone}": 1,
        f"/locations/{api.location_id}/tasks/search": 1,
        "/contacts/{id}/notes": 1,
    }
    rows = dict(
        query(
            pipeline,
            "select id, coalesce(city, '') || '|' || is_deleted::varchar "
            f"from {{raw}}.contacts where id in ('{kept}', '{gone}')",
        )
    )
    assert rows[kept] == "Zürich|false"
    assert rows[gone].endswith("|true")
    ((title,),) = query(
        pipeline, f"select title from {{raw}}.tasks where id = '{task['id']}'"
    )
    assert title == "Call back"
    ((open_children,),) = query(
        pipeline,
        "select count(*) from {raw}.notes "
        f"where contact_id = '{gone}' and not is_deleted",
    )
    assert open_children == 0


def test_deleted_task_is_flagged_when_its_contact_is_read_again(make_sandbox, pipeline):
    api = make_sandbox(contacts=40, seed=13)
    owner = next(
        api.data.contact_id(i)
        for i in range(40)
        if len(api.data.tasks_for(api.data.contact_id(i))) >= 2
    )
    load(pipeline, api)
    doomed = api.data.tasks_for(owner)[0]["id"]
    api.data.delete_task(doomed)
    api.data.update_contact(owner, tags=["followed-up"])

    load(pipeline, api)

    flags = dict(
        query(
            pipeline,
            f"select id, is_deleted from {{raw}}.tasks where contact_id = '{owner}'",
        )
    )
    assert flags[doomed] is True
    assert sum(flags.values()) == 1
    ((deleted_at,),) = query(
        pipeline, f"select deleted_at from {{raw}}.tasks where id = '{doomed}'"
    )
    assert deleted_at is not None


def test_reconcile_flags_contacts_gone_from_the_api(make_sandbox, pipeline):
    api = make_sandbox(contacts=80, seed=14)
    load(pipeline, api)
    gone = [api.data.contact_id(i) for i in (1, 2)]
    for contact_id in gone:
        api.data.delete_contact(contact_id)

    client = client_for(api)
    found = runs.reconcile(pipeline, client, api.location_id)

    assert found == 2
    rows = query(
        pipeline,
        "select id from {raw}.contacts where is_deleted and deleted_at is not null "
        "order by id",
    )
    assert rows == [(i,) for i in sorted(gone)]
    ((total,),) = query(pipeline, "select count(*) from {raw}.contacts")
    assert total == 80
    ((orphans,),) = query(
        pipeline,
        "select count(*) from {raw}.tasks t join {raw}.contacts c "
        "on c.id = t.contact_id where c.is_deleted and not t.is_deleted",
    )
    assert orphans == 0
    assert runs.reconcile(pipeline, client, api.location_id) == 0


def test_two_locations_share_a_dataset_with_their_own_cursors(make_sandbox, pipeline):
    first = make_sandbox(contacts=70, seed=1)
    second = make_sandbox(contacts=30, seed=2)
    assert first.location_id != second.location_id

    load(pipeline, first)
    load(pipeline, second)

    counts = dict(
        query(pipeline, "select location_id, count(*) from {raw}.contacts group by 1")
    )
    assert counts == {first.location_id: 70, second.location_id: 30}
    cursors = {
        loc: parse_instant(location_state(pipeline, loc)["contacts_cursor"])
        for loc in counts
    }
    for api in (first, second):
        newest = max(parse_instant(c["dateUpdated"]) for c in api.data.iter_contacts())
        assert cursors[api.location_id] == newest


def test_dropping_one_resource_keeps_the_contact_state(make_sandbox, pipeline):
    api = make_sandbox(contacts=30, seed=15)
    load(pipeline, api)
    before = repr(location_state(pipeline, api.location_id))

    pipeline_drop(pipeline, resources=["tasks"])()

    assert repr(location_state(pipeline, api.location_id)) == before
    assert "tasks" not in pipeline.default_schema.tables


def test_cursor_comparison_is_by_instant():
    new_york = "2024-11-01T00:00:00-05:00"
    utc = "2024-11-01T04:00:00Z"
    assert sweeps.later(utc, parse_instant(new_york)) == sweeps.iso(
        datetime(2024, 11, 1, 5, tzinfo=UTC)
    )
    assert sweeps.later(new_york, parse_instant(utc)) == new_york


def test_sync_of_an_unknown_contact_on_a_new_dataset_is_a_warning(
    make_sandbox, pipeline, caplog
):
    api = make_sandbox(contacts=5)

    summary = load(
        pipeline,
        api,
        mode="ids",
        contact_ids=["no-such-contact"],
        resources=list(runs.CONTACT_RESOURCES),
    )

    assert summary.rows.get("contacts", 0) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        f"contact no-such-contact of location {api.location_id} is not found in "
        "GHL: flagged deleted if loaded"
    ) in warnings


def test_a_relative_duckdb_file_lands_in_the_current_folder(
    make_sandbox, tmp_path, monkeypatch
):
    api = make_sandbox(contacts=10, seed=16)
    shared_dlt = tmp_path / "dlt"
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        pipeline = runs.make_pipeline(
            duckdb_path="ghl.duckdb", pipelines_dir=shared_dlt
        )
        load(pipeline, api, resources=["contacts"])

    assert (tmp_path / "first" / "ghl.duckdb").exists()
    assert (tmp_path / "second" / "ghl.duckdb").exists()
