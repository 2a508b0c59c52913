"""The ``ghl`` source against the sandbox on loopback: what was sent, what landed."""

import pytest
from conftest import client_for, query

from pipelines import runs
from sources.ghl.errors import PaginationError
from sources.ghl.rows import parse_instant


def load(pipeline, api, **options):
    client = client_for(api)
    summary = runs.load(pipeline, client, api.location_id, **options)
    client.close()
    return summary


def expected_children(api, kind):
    contacts = list(api.data.iter_contacts())
    return sum(len(getattr(api.data, f"{kind}_for")(c["id"]) or []) for c in contacts)


def test_full_load_lands_every_record_once(make_sandbox, pipeline):
    api = make_sandbox(contacts=230, seed=3)

    summary = load(pipeline, api, page_limit=50)

    contacts = list(api.data.iter_contacts())
    assert len(contacts) == 230
    assert summary.rows["contacts"] == 230
    ((distinct,),) = query(pipeline, "select count(distinct id) from {raw}.contacts")
    assert distinct == 230
    assert summary.rows["tasks"] == expected_children(api, "tasks") > 0
    assert summary.rows["notes"] == expected_children(api, "notes") > 0
    tags = sum(len(c.get("tags") or []) for c in contacts)
    assert summary.rows["contact_tags"] == tags > 0
    assert summary.rows["custom_fields"] == len(api.data.custom_fields()) > 0

    businesses = api.data.businesses(0, 10_000)
    assert summary.rows["businesses"] == len(businesses) > 0
    assert summary.rows["business_contact_counts"] == len(businesses)
    links = sum(len(api.data.business_contacts(b["id"])[0]) for b in businesses)
    assert summary.rows["business_contacts"] == links > 0

    searches = [r for r in api.requests if r.path == "/contacts/search"]
    assert len(searches) == 5  # 4 full pages of 50 and a short one of 30
    assert all(r.body["locationId"] == api.location_id for r in searches)
    assert all(r.body["pageLimit"] == 50 for r in searches)
    assert "searchAfter" not in searches[0].body
    assert all("page" not in r.body for r in searches)
    assert all(r.headers.get("version") == "2021-07-28" for r in api.requests)
    # Read-only: the only POSTs are the two search endpoints.
    writes = {
        r.path
        for r in api.requests
        if r.method != "GET" and not r.path.endswith("/search")
    }
    assert writes == set()


def test_values_match_what_the_api_served(make_sandbox, pipeline):
    api = make_sandbox(contacts=60, seed=11)
    load(pipeline, api)

    for contact in list(api.data.iter_contacts())[::7]:
        ((email, phone, first, updated, location),) = query(
            pipeline,
            "select email, phone, first_name, date_updated, location_id "
            f"from {{raw}}.contacts where id = '{contact['id']}'",
        )
        assert email == contact.get("email")
        assert phone == (str(contact["phone"]) if contact.get("phone") else None)
        assert first == contact.get("firstName")
        assert updated == parse_instant(contact["dateUpdated"])
        assert location == api.location_id

    names = {n for (n,) in query(pipeline, "select first_name from {raw}.contacts")}
    assert any(name and not name.isascii() for name in names)


def test_rerun_merges_without_duplicates(make_sandbox, pipeline):
    api = make_sandbox(contacts=120, seed=5)
    first = load(pipeline, api)
    second = load(pipeline, api)

    assert second.rows == first.rows
    ((dupes,),) = query(
        pipeline,
        "select count(*) from (select id from {raw}.tasks group by id "
        "having count(*) > 1) as d",
    )
    assert dupes == 0


def test_child_rows_follow_the_latest_list(make_sandbox, pipeline):
    api = make_sandbox(contacts=40, seed=2)
    victim = next(c for c in api.data.iter_contacts() if len(c.get("tags") or []) > 1)
    load(pipeline, api)

    api.data.update_contact(victim["id"], tags=["only"], additionalEmails=[])
    load(pipeline, api)

    rows = query(
        pipeline,
        f"select tag from {{raw}}.contact_tags where contact_id = '{victim['id']}'",
    )
    assert rows == [("only",)]
    ((emails,),) = query(
        pipeline,
        "select count(*) from {raw}.contact_additional_emails "
        f"where contact_id = '{victim['id']}'",
    )
    assert emails == 0


def test_no_variant_columns_when_custom_value_types_change(make_sandbox, pipeline):
    api = make_sandbox(contacts=80, seed=9, mixed_custom_field_types=True)
    load(pipeline, api)

    columns = query(
        pipeline,
        "select column_name from information_schema.columns "
        "where table_schema = 'ghl_raw'",
    )
    assert columns and not [c for (c,) in columns if "__v_" in c]
    values = {
        v
        for (v,) in query(
            pipeline, "select value_text from {raw}.contact_custom_fields"
        )
    }
    assert any(v and v.startswith("[") for v in values)
    assert any(v and v.replace(".", "", 1).isdigit() for v in values)


def test_search_pages_past_the_10000_window(make_sandbox, pipeline):
    api = make_sandbox(contacts=10_050, seed=1)
    summary = load(pipeline, api, resources=["contacts"])

    assert summary.rows["contacts"] == 10_050
    ((distinct,),) = query(pipeline, "select count(distinct id) from {raw}.contacts")
    assert distinct == 10_050
    searches = [r for r in api.requests if r.path == "/contacts/search"]
    assert len(searches) == 21
    assert all("searchAfter" in r.body for r in searches[1:])


@pytest.mark.parametrize(
    "script, expected",
    [
        pytest.param(
            [None, {"transform": lambda b: {**b, "contacts": b["contacts"][:10]}}],
            "short",
            id="short-page-ends",
        ),
        pytest.param(
            [None, {"transform": lambda b: {**b, "contacts": []}}],
            "empty",
            id="empty-page-ends",
        ),
        pytest.param(
            [None, {"transform": lambda b: {**b, "contacts": None}}],
            "empty",
            id="null-list-ends",
        ),
    ],
)
def test_pages_end_on_short_empty_or_null(make_sandbox, pipeline, script, expected):
    api = make_sandbox(contacts=100, seed=4)
    api.script("/contacts/search", script)

    with pytest.raises(Exception) as failure:
        load(pipeline, api, page_limit=40, resources=["contacts"])

    # The API still reports a total of 100: ending early must fail, not pass.
    assert "received" in str(failure.value) and "total of 100" in str(failure.value)
    searches = [r for r in api.requests if r.path == "/contacts/search"]
    assert len(searches) == 2


def test_short_last_page_with_matching_total_passes(make_sandbox, pipeline):
    api = make_sandbox(contacts=90, seed=4)
    summary = load(pipeline, api, page_limit=40, resources=["contacts"])

    assert summary.rows == {"contacts": 90}
    assert len([r for r in api.requests if r.path == "/contacts/search"]) == 3


def test_repeated_cursor_fails_loudly(make_sandbox, pipeline):
    api = make_sandbox(contacts=200, seed=4)
    first = {}

    def remember(body):
        first.setdefault("page", body)
        return body

    api.script(
        "/contacts/search",
        [{"transform": remember}, {"transform": lambda b: first["page"]}],
    )

    with pytest.raises(Exception) as failure:
        load(pipeline, api, page_limit=40, resources=["contacts"])

    assert isinstance(_root(failure.value), PaginationError)
    assert "repeated" in str(failure.value)
    assert len([r for r in api.requests if r.path == "/contacts/search"]) == 2


def _root(exc):
    from pipelines.cli import root_cause

    return root_cause(exc)


def test_deprecated_list_sends_both_cursor_fields(make_sandbox):
    from sources.ghl.pagination import start_after_pages

    api = make_sandbox(contacts=250, seed=6)
    client = client_for(api)

    pages = list(start_after_pages(client, api.location_id, limit=100))

    assert [len(p) for p in pages] == [100, 100, 50]
    assert len({c["id"] for page in pages for c in page}) == 250
    listed = [r for r in api.requests if r.path == "/contacts/"]
    assert "startAfter" not in listed[0].query
    assert all({"startAfter", "startAfterId"} <= set(r.query) for r in listed[1:])


def test_deprecated_list_fails_on_a_repeated_cursor(make_sandbox):
    from sources.ghl.errors import PaginationError
    from sources.ghl.pagination import start_after_pages

    api = make_sandbox(contacts=250, seed=6)
    first = {}

    def remember(body):
        first.setdefault("page", body)
        return body

    again = {"transform": lambda body: first["page"]}
    api.script("/contacts/", [{"transform": remember}, again], method="GET")

    with pytest.raises(PaginationError, match="repeated the cursor"):
        list(start_after_pages(client_for(api), api.location_id, limit=100))


def test_custom_field_value_shapes(make_sandbox, pipeline):
    api = make_sandbox(contacts=20, seed=18)
    target = api.data.contact_id(0)

    def older_shape(body):
        for contact in body["contacts"]:
            if contact["id"] == target:
                contact["customFields"] = [
                    {"id": "cf1", "fieldValueString": "Gold"},
                    {"id": "cf2", "value": 42},
                    {"id": "cf3", "value": ["a", "b"]},
                ]
        return body

    api.script("/contacts/search", [{"transform": older_shape}])
    load(pipeline, api, resources=["contacts", "contact_custom_fields"])

    rows = query(
        pipeline,
        "select field_id, value_text from {raw}.contact_custom_fields "
        f"where contact_id = '{target}' order by field_id",
    )
    assert rows == [("cf1", "Gold"), ("cf2", "42"), ("cf3", '["a", "b"]')]


def test_an_unknown_custom_field_shape_is_a_clear_error(make_sandbox, pipeline):
    api = make_sandbox(contacts=5, seed=18)

    def broken(body):
        body["contacts"][0]["customFields"] = [{"id": "cf9", "other": 1}]
        return body

    api.script("/contacts/search", [{"transform": broken}])
    with pytest.raises(Exception, match="custom field cf9 has neither 'value' nor"):
        load(pipeline, api, resources=["contacts", "contact_custom_fields"])
