"""Every sandbox endpoint answers what the official GHL OpenAPI specs document.

Two runs per case: ``spec_strict=True`` must pass the spec as published, except for
the task search (the spec's array-of-arrays is relaxed for both); the default mode
must pass once the documented GHL quirks in ``sandbox_support.QUIRKS`` are relaxed,
and must *fail* the unrelaxed spec, which proves those quirks are really served.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sandbox_support import QUIRKS, client, validator

from sandbox.server import Sandbox

CONTACTS = "apps/contacts.json"
SEARCH = "history/de87e88/apps/contacts.json"  # last spec with a search 200 schema
STRICT_QUIRKS = frozenset({"task_search_objects"})
REAL_QUIRKS = frozenset(QUIRKS)


def _business_with_contacts(api: Sandbox) -> str:
    return api.data.business_id(0)


Call = Callable[[httpx.Client, Sandbox], httpx.Response]

CASES: list[tuple[str, str, str, str, int, Call]] = [
    (
        "search-200",
        SEARCH,
        "/contacts/search",
        "post",
        200,
        lambda c, api: c.post(
            "/contacts/search",
            json={"locationId": api.location_id, "pageLimit": 100},
        ),
    ),
    (
        "search-401",
        SEARCH,
        "/contacts/search",
        "post",
        401,
        lambda c, api: c.post(
            "/contacts/search",
            json={"locationId": api.location_id, "pageLimit": 10},
            headers={"Authorization": "Bearer nope"},
        ),
    ),
    (
        "search-400-version",
        SEARCH,
        "/contacts/search",
        "post",
        400,
        lambda c, api: c.post(
            "/contacts/search",
            json={"locationId": api.location_id, "pageLimit": 10},
            headers={"Version": "2020-01-01"},
        ),
    ),
    (
        "list-200",
        CONTACTS,
        "/contacts/",
        "get",
        200,
        lambda c, api: c.get(
            "/contacts/", params={"locationId": api.location_id, "limit": 100}
        ),
    ),
    (
        "list-422",
        CONTACTS,
        "/contacts/",
        "get",
        422,
        lambda c, api: c.get(
            "/contacts/", params={"locationId": api.location_id, "limit": 101}
        ),
    ),
    (
        "contact-200",
        CONTACTS,
        "/contacts/{contactId}",
        "get",
        200,
        lambda c, api: c.get(f"/contacts/{api.data.contact_id(3)}"),
    ),
    (
        "contact-400",
        CONTACTS,
        "/contacts/{contactId}",
        "get",
        400,
        lambda c, api: c.get("/contacts/unknown0000000000000"),
    ),
    (
        "contact-401",
        CONTACTS,
        "/contacts/{contactId}",
        "get",
        401,
        lambda c, api: c.get(
            f"/contacts/{api.data.contact_id(3)}", headers={"Authorization": ""}
        ),
    ),
    (
        "tasks-200",
        CONTACTS,
        "/contacts/{contactId}/tasks",
        "get",
        200,
        lambda c, api: c.get(f"/contacts/{api.data.contact_id(1)}/tasks"),
    ),
    (
        "notes-200",
        CONTACTS,
        "/contacts/{contactId}/notes",
        "get",
        200,
        lambda c, api: c.get(f"/contacts/{api.data.contact_id(1)}/notes"),
    ),
    (
        "business-contacts-200",
        CONTACTS,
        "/contacts/business/{businessId}",
        "get",
        200,
        lambda c, api: c.get(
            f"/contacts/business/{_business_with_contacts(api)}",
            params={"locationId": api.location_id, "limit": 100},
        ),
    ),
    (
        "businesses-200",
        "apps/businesses.json",
        "/businesses/",
        "get",
        200,
        lambda c, api: c.get("/businesses/", params={"locationId": api.location_id}),
    ),
    (
        "custom-fields-200",
        "apps/locations.json",
        "/locations/{locationId}/customFields",
        "get",
        200,
        lambda c, api: c.get(f"/locations/{api.location_id}/customFields"),
    ),
    (
        "task-search-200",
        "apps/locations.json",
        "/locations/{locationId}/tasks/search",
        "post",
        200,
        lambda c, api: c.post(
            f"/locations/{api.location_id}/tasks/search",
            json={"limit": 100, "skip": 0},
        ),
    ),
    (
        "task-search-422",
        "apps/locations.json",
        "/locations/{locationId}/tasks/search",
        "post",
        422,
        lambda c, api: c.post(
            f"/locations/{api.location_id}/tasks/search", json={"limit": 0}
        ),
    ),
    (
        "oauth-token-200",
        "apps/oauth.json",
        "/oauth/token",
        "post",
        200,
        lambda c, api: c.post(
            "/oauth/token",
            data={
                "client_id": api.client_id,
                "client_secret": api.client_secret,
                "grant_type": "authorization_code",
                "code": api.issue_auth_code(),
                "user_type": "Location",
            },
        ),
    ),
    (
        "oauth-token-400",
        "apps/oauth.json",
        "/oauth/token",
        "post",
        400,
        lambda c, api: c.post(
            "/oauth/token",
            data={
                "client_id": api.client_id,
                "client_secret": api.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": "rt-never-issued",
            },
        ),
    ),
    (
        "oauth-token-422",
        "apps/oauth.json",
        "/oauth/token",
        "post",
        422,
        lambda c, api: c.post("/oauth/token", data={}),
    ),
]


@pytest.fixture(scope="module")
def strict_api():
    with Sandbox(contacts=300, seed=11, spec_strict=True) as api:
        yield api


@pytest.fixture(scope="module")
def real_api():
    with Sandbox(contacts=300, seed=11, mixed_custom_field_types=True) as api:
        yield api


def _errors(api: Sandbox, case: tuple, quirks: frozenset[str]) -> list[str]:
    _, spec, path, method, status, call = case
    with client(api) as http:
        response = call(http, api)
    assert response.status_code == status, response.text
    schema = validator(spec, path, method, status, quirks)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in schema.iter_errors(response.json())
    ]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_strict_mode_matches_the_published_spec(strict_api: Sandbox, case: tuple):
    assert _errors(strict_api, case, STRICT_QUIRKS) == []


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_default_mode_matches_the_spec_with_ghl_quirks(real_api: Sandbox, case):
    assert _errors(real_api, case, REAL_QUIRKS) == []


@pytest.mark.parametrize(
    ("case_id", "quirk_error"),
    [
        ("search-200", "is not of type 'string'"),
        ("contact-200", "None is not of type"),
        ("task-search-200", "is not of type 'array'"),
    ],
)
def test_default_mode_really_serves_the_quirks(
    real_api: Sandbox, case_id: str, quirk_error: str
):
    case = next(c for c in CASES if c[0] == case_id)
    errors = _errors(real_api, case, frozenset())
    assert any(quirk_error in error for error in errors), errors


def test_task_search_spec_types_tasks_as_array_of_arrays():
    schema = validator(
        "apps/locations.json",
        "/locations/{locationId}/tasks/search",
        "post",
        200,
        frozenset(),
    )
    assert list(schema.iter_errors({"tasks": [[]]})) == []
    assert list(schema.iter_errors({"tasks": [{"id": "t"}]})) != []
