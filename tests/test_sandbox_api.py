"""Behaviour of the sandbox endpoints: paging, windows, quirks, auth, rate limits."""

from __future__ import annotations

import httpx
import pytest
from sandbox_support import client

from sandbox.data import Dataset, iso_ms
from sandbox.server import Sandbox

N = 10_050  # just past the 10,000-record search window (case R04)


@pytest.fixture(scope="module")
def api():
    with Sandbox(contacts=N, seed=7) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def no_leftover_scripts(api):
    api.clear_scripts()
    yield
    api.clear_scripts()


@pytest.fixture
def http(api: Sandbox):
    with client(api) as c:
        yield c


def _search(http: httpx.Client, api: Sandbox, **body) -> httpx.Response:
    return http.post("/contacts/search", json={"locationId": api.location_id, **body})


def test_same_seed_gives_the_same_data_and_ids():
    one, two, other = Dataset(200, 7), Dataset(200, 7), Dataset(200, 8)

    assert one.location_id == "7CcxAQzHEHCfA8zLMnTc"
    assert one.contact_id(0) == "3XmzkBhQxoFZSYYWbRtp"
    assert list(one.iter_contacts()) == list(two.iter_contacts())
    assert one.contact(5) != other.contact(5)
    assert all(len(one.contact_id(i)) == 20 for i in range(200))
    assert all(one.contact_index(one.contact_id(i)) == i for i in range(200))


def test_dates_are_ordered_and_formatted_like_ghl():
    data = Dataset(2000, 3)
    contacts = [data.contact(i) for i in range(2000)]
    added = [c["dateAdded"] for c in contacts]
    updated = [c["dateUpdated"] for c in contacts]

    assert added == sorted(added) and len(set(added)) == 2000
    assert updated == sorted(updated) and len(set(updated)) == 2000
    assert all(u >= a for a, u in zip(added, updated, strict=True))
    assert added[0] == iso_ms(data.added_ms(0)) and added[0].endswith("Z")
    assert len(added[0]) == len("2024-06-06T18:54:57.221Z")


def test_data_has_the_awkward_cases_real_locations_have():
    data = Dataset(2000, 7)
    contacts = [data.contact(i) for i in range(2000)]
    names = "".join(c["firstName"] for c in contacts)
    emails = [c["email"] for c in contacts if c["email"]]
    phones = {c["phone"] for c in contacts if c["phone"]}

    assert {"José", "Zoë", "伟", "Мария", "محمد"} <= {c["firstName"] for c in contacts}
    assert any(not ch.isascii() for ch in names)
    assert sum(c["email"] is None for c in contacts) > 100
    assert sum(c["phone"] is None for c in contacts) > 100
    assert len(emails) - len({e.lower() for e in emails}) >= 10  # shared inboxes
    assert any(p.startswith("(555) ") for p in phones)
    assert any(p.startswith("555.") for p in phones)
    assert any(p.startswith("+44 20 7946 ") for p in phones)
    assert any(p.startswith("+1555") and len(p) == 12 for p in phones)
    assert any(c.get("additionalEmails") == [] for c in contacts)
    assert any("additionalEmails" not in c for c in contacts)
    values = [f["value"] for c in contacts for f in c["customFields"]]
    assert {type(v) for v in values} >= {str, int, float, list}


def test_children_are_between_zero_and_four_per_contact():
    data = Dataset(500, 7)
    tasks = [data.tasks_for(data.contact_id(i)) for i in range(500)]
    notes = [data.notes_for(data.contact_id(i)) for i in range(500)]

    assert {len(t) for t in tasks} == {0, 1, 2, 3, 4}
    assert {len(n) for n in notes} == {0, 1, 2, 3, 4}
    assert {t["completed"] for ts in tasks for t in ts} == {True, False}
    with_user = [("userId" in n) for ns in notes for n in ns]
    assert any(with_user) and not all(with_user)


def test_search_pages_follow_index_order_with_total(api, http):
    response = _search(http, api, pageLimit=500, page=2)

    body = response.json()
    assert response.status_code == 200
    assert body["total"] == N
    assert [c["id"] for c in body["contacts"]] == [
        api.data.contact_id(i) for i in range(500, 1000)
    ]
    first = body["contacts"][0]
    assert first["searchAfter"] == [api.data.added_ms(500), first["id"]]


def test_page_past_the_ten_thousand_window_is_refused(api, http):
    last_allowed = _search(http, api, pageLimit=500, page=20)
    past = _search(http, api, pageLimit=500, page=21)

    assert last_allowed.status_code == 200
    assert len(last_allowed.json()["contacts"]) == 500
    assert past.status_code == 422
    assert past.json()["error"] == "Unprocessable Entity"
    assert "use searchAfter" in past.json()["message"][0]


@pytest.mark.parametrize("sort", ["dateAdded", "dateUpdated"])
def test_search_after_walks_past_the_window(api, http, sort):
    seen: list[str] = []
    after = None
    requests = 0
    while True:
        body = {"pageLimit": 500, "sort": [{"field": sort, "direction": "asc"}]}
        if after:
            body["searchAfter"] = after
        page = _search(http, api, **body).json()
        requests += 1
        if not page["contacts"]:
            break
        seen += [c["id"] for c in page["contacts"]]
        after = page["contacts"][-1]["searchAfter"]

    assert requests == 22
    assert seen == [api.data.contact_id(i) for i in range(N)]


def test_search_descending_returns_newest_first(api, http):
    body = {"pageLimit": 3, "sort": [{"field": "dateUpdated", "direction": "desc"}]}
    page = _search(http, api, **body).json()

    assert [c["id"] for c in page["contacts"]] == [
        api.data.contact_id(i) for i in (N - 1, N - 2, N - 3)
    ]


def test_range_filters_count_exactly(api, http):
    lo, hi = api.data.updated_ms(100), api.data.updated_ms(250)
    filters = [
        {
            "field": "dateUpdated",
            "operator": "range",
            "value": {"gt": iso_ms(lo), "lte": hi},
        }
    ]
    page = _search(http, api, pageLimit=500, filters=filters).json()

    assert page["total"] == 150
    assert [c["id"] for c in page["contacts"]] == [
        api.data.contact_id(i) for i in range(101, 251)
    ]


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({}, ["locationId should not be empty", "pageLimit must be an integer number"]),
        ({"locationId": "L"}, ["pageLimit must be an integer number"]),
        (
            {"locationId": "L", "pageLimit": 501},
            ["pageLimit must be between 1 and 500"],
        ),
    ],
    ids=["empty-body", "no-page-limit", "page-limit-too-big"],
)
def test_search_validation_answers_422(http, body, messages):
    response = http.post("/contacts/search", json=body)

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": messages,
        "error": "Unprocessable Entity",
    }


def test_list_start_after_without_id_returns_page_one_again(api, http):
    params = {"locationId": api.location_id, "limit": 20}
    first = http.get("/contacts/", params=params).json()
    meta = first["meta"]
    only_time = http.get(
        "/contacts/", params={**params, "startAfter": meta["startAfter"]}
    ).json()
    both = http.get(
        "/contacts/",
        params={
            **params,
            "startAfter": meta["startAfter"],
            "startAfterId": meta["startAfterId"],
        },
    ).json()

    assert meta["startAfterId"] == api.data.contact_id(19)
    assert meta["startAfter"] == api.data.added_ms(19)
    assert meta["total"] == N and first["count"] == N
    assert (meta["currentPage"], meta["nextPage"], meta["prevPage"]) == (1, 2, None)
    assert only_time == first
    assert [c["id"] for c in both["contacts"]] == [
        api.data.contact_id(i) for i in range(20, 40)
    ]
    assert both["meta"]["currentPage"] == 2 and both["meta"]["prevPage"] == 1


def test_list_limit_above_100_is_refused(api, http):
    response = http.get(
        "/contacts/", params={"locationId": api.location_id, "limit": 101}
    )

    assert response.status_code == 422
    assert response.json()["message"] == ["limit must not be greater than 100"]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        (
            {"Authorization": ""},
            401,
            {"statusCode": 401, "message": "Invalid JWT", "error": "Unauthorized"},
        ),
        (
            {"Authorization": "Bearer pit-wrong"},
            401,
            {"statusCode": 401, "message": "Invalid JWT", "error": "Unauthorized"},
        ),
        (
            {"Version": ""},
            400,
            {
                "statusCode": 400,
                "message": "Version header is missing or invalid; use 2021-07-28",
            },
        ),
    ],
    ids=["no-token", "wrong-token", "no-version"],
)
def test_auth_and_version_are_required(api, http, headers, status, body):
    response = http.get(f"/contacts/{api.data.contact_id(0)}", headers=headers)

    assert response.status_code == status
    assert response.json() == body


def test_token_without_the_scope_is_refused(api):
    token = api.issue_token(scopes=["businesses.readonly"])
    with client(api, token) as http:
        contacts = http.get(f"/contacts/{api.data.contact_id(0)}")
        businesses = http.get("/businesses/", params={"locationId": api.location_id})

    assert contacts.status_code == 401
    assert contacts.json() == {
        "statusCode": 401,
        "message": "The token is not authorized for this scope.",
        "error": "Unauthorized",
    }
    assert businesses.status_code == 200


def test_unknown_contact_is_a_400(http):
    response = http.get("/contacts/AAAAAAAAAAAAAAAAAAAA")

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": "Contact not found"}


def test_rate_headers_count_each_request():
    with Sandbox(contacts=5) as api, client(api) as http:
        first = http.get(f"/contacts/{api.data.contact_id(0)}").headers
        second = http.get(f"/contacts/{api.data.contact_id(1)}").headers

    assert first["X-RateLimit-Max"] == "100"
    assert first["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert first["X-RateLimit-Daily-Max"] == "200000"
    assert (first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]) == (
        "99",
        "98",
    )
    assert second["X-RateLimit-Daily-Remaining"] == "199998"


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [("none", None), ("zero", "0"), ("seconds", "10")],
)
def test_burst_limit_answers_429(retry_after, header):
    options = {"rate_limit": True, "rate_limit_max": 3, "retry_after": retry_after}
    with Sandbox(contacts=5, **options) as api, client(api) as http:
        statuses = [http.get(f"/contacts/{api.data.contact_id(0)}") for _ in range(4)]

    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[3].headers["X-RateLimit-Remaining"] == "0"
    assert statuses[3].headers.get("Retry-After") == header
    assert statuses[3].json()["statusCode"] == 429


def test_exhausted_daily_budget_answers_429_with_daily_remaining_zero():
    with Sandbox(contacts=5, rate_limit=True) as api, client(api) as http:
        api.exhaust_daily_budget()
        response = http.get(f"/contacts/{api.data.contact_id(0)}")

    assert response.status_code == 429
    assert response.headers["X-RateLimit-Daily-Remaining"] == "0"


def test_children_endpoints_serve_tasks_and_notes(api, http):
    contact_id = api.data.contact_id(1)
    tasks = http.get(f"/contacts/{contact_id}/tasks").json()["tasks"]
    notes = http.get(f"/contacts/{contact_id}/notes").json()["notes"]

    assert tasks == api.data.tasks_for(contact_id)
    assert notes == api.data.notes_for(contact_id)
    assert all(t["contactId"] == contact_id for t in tasks)


def test_tasks_can_omit_contact_id():
    with Sandbox(contacts=50, omit_task_contact_id=True) as api, client(api) as http:
        tasks = [
            t
            for i in range(50)
            for t in http.get(f"/contacts/{api.data.contact_id(i)}/tasks").json()[
                "tasks"
            ]
        ]

    assert tasks and all("contactId" not in t for t in tasks)


def test_business_contacts_count_all_linked_contacts(api, http):
    data = api.data
    linked = [data.contact_id(i) for i in range(N) if data.business_of(i) == 0]
    response = http.get(
        f"/contacts/business/{data.business_id(0)}",
        params={"locationId": api.location_id, "limit": 5, "skip": 2},
    ).json()
    empty = http.get(
        f"/contacts/business/{data.business_id(data.business_total - 1)}",
        params={"locationId": api.location_id},
    ).json()

    assert response["count"] == len(linked) > 5
    assert [c["id"] for c in response["contacts"]] == linked[2:7]
    assert empty == {"contacts": [], "count": 0}


def test_businesses_and_custom_fields(api, http):
    businesses = http.get(
        "/businesses/", params={"locationId": api.location_id, "limit": 500}
    ).json()["businesses"]
    rest = http.get(
        "/businesses/", params={"locationId": api.location_id, "skip": 500}
    ).json()["businesses"]
    fields = http.get(f"/locations/{api.location_id}/customFields").json()

    assert (len(businesses), len(rest)) == (500, N // 20 - 500)
    assert businesses[0]["id"] == api.data.business_id(0)
    types = {f["dataType"] for f in fields["customFields"]}
    assert {"TEXT", "NUMERICAL", "DATE", "MULTIPLE_OPTIONS"} <= types


def test_task_search_pages_and_filters(api, http):
    url = f"/locations/{api.location_id}/tasks/search"
    first = http.post(url, json={"limit": 10, "skip": 0}).json()["tasks"]
    second = http.post(url, json={"limit": 10, "skip": 5}).json()["tasks"]
    done = http.post(url, json={"limit": 50, "completed": True}).json()["tasks"]
    one = api.data.contact_id(1)
    mine = http.post(url, json={"contactId": [one]}).json()["tasks"]

    assert len(first) == 10 and first[5:] == second[:5]
    assert done and all(t["completed"] for t in done)
    assert [t["id"] for t in mine] == [t["id"] for t in api.data.tasks_for(one)]


def test_overlay_changes_show_in_search_order():
    with Sandbox(contacts=100, seed=3) as api, client(api) as http:
        data = api.data
        data.update_contact(data.contact_id(10), firstName="Zoë")
        data.delete_contact(data.contact_id(20))
        created = data.create_contact(firstName="Nuevo", email="nuevo@example.com")
        by_updated = _search(
            http, api, pageLimit=500, sort=[{"field": "dateUpdated"}]
        ).json()
        by_added = _search(http, api, pageLimit=500).json()
        deleted = http.get(f"/contacts/{data.contact_id(20)}")

    ids = [c["id"] for c in by_updated["contacts"]]
    assert by_updated["total"] == by_added["total"] == 100
    assert ids[-2:] == [data.contact_id(10), created["id"]]
    assert data.contact_id(20) not in ids
    assert by_updated["contacts"][-2]["firstName"] == "Zoë"
    assert [c["id"] for c in by_added["contacts"]].index(data.contact_id(10)) == 10
    assert deleted.status_code == 400


def test_scripted_429s_then_normal(api, http):
    api.script(
        "/contacts/search",
        [{"status": 429, "headers": {"Retry-After": "0"}}] * 3,
    )
    responses = [_search(http, api, pageLimit=5) for _ in range(4)]

    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    assert [r.headers.get("Retry-After") for r in responses] == ["0", "0", "0", None]
    assert responses[0].headers["X-RateLimit-Remaining"] == "0"
    assert len(responses[3].json()["contacts"]) == 5


def test_scripted_transforms_edit_the_normal_body(api, http):
    api.script("/contacts/", [{"transform": lambda b: {**b, "contacts": None}}])
    api.script(
        "/contacts/search",
        [{"transform": lambda b: {**b, "total": b["total"] + 50}}],
        method="POST",
    )
    listed = http.get("/contacts/", params={"locationId": api.location_id}).json()
    searched = _search(http, api, pageLimit=1).json()

    assert listed["contacts"] is None and listed["meta"]["total"] == N
    assert searched["total"] == N + 50
    assert api.scripts.pending() == 0


def test_requests_are_recorded(api, http):
    api.reset_requests()
    _search(http, api, pageLimit=2)
    record = api.requests[-1]

    assert (record.method, record.path, record.status) == (
        "POST",
        "/contacts/search",
        200,
    )
    assert record.body == {"locationId": api.location_id, "pageLimit": 2}
    assert record.headers["version"] == "2021-07-28"
