"""Fault injection: every kind, scripted or random, and repeatable for a seed."""

from __future__ import annotations

import json

import httpx
import pytest
from sandbox_support import client

from sandbox.server import Sandbox


@pytest.fixture(scope="module")
def api():
    with Sandbox(contacts=200, seed=5, slow_seconds=0.5) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def no_leftover_scripts(api):
    api.clear_scripts()
    yield
    api.clear_scripts()


def _get(http: httpx.Client, api: Sandbox) -> httpx.Response:
    return http.get("/contacts/", params={"locationId": api.location_id, "limit": 50})


@pytest.mark.parametrize(
    ("kind", "status", "retry_after"),
    [
        ("429", 429, "1"),
        ("429-no-retry-after", 429, None),
        ("500", 500, None),
        ("502", 502, None),
        ("503", 503, None),
    ],
)
def test_status_faults(api, kind, status, retry_after):
    api.script("/contacts/", [kind])
    with client(api) as http:
        faulty, after = _get(http, api), _get(http, api)

    assert faulty.status_code == status
    assert faulty.headers.get("Retry-After") == retry_after
    assert after.status_code == 200
    if status == 429:
        assert faulty.headers["X-RateLimit-Remaining"] == "0"
        assert faulty.headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    if status == 502:
        assert faulty.headers["Content-Type"] == "text/html"
    else:
        assert faulty.json()["statusCode"] == status


def test_reset_closes_without_an_answer(api):
    api.reset_requests()
    api.script("/contacts/", ["reset"])
    with client(api) as http:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            _get(http, api)
        assert _get(http, api).status_code == 200
    resets = [r for r in api.requests if r.fault == "reset"]
    assert [r.status for r in resets] == [0]


def test_slow_answers_after_the_delay(api):
    api.script("/contacts/", ["slow", "slow"])
    with client(api, timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        _get(http, api)
    with client(api, timeout=5) as http:
        assert _get(http, api).status_code == 200


def test_truncated_with_content_length_breaks_the_body(api):
    api.script("/contacts/", ["truncated"])
    with client(api) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            _get(http, api)
        assert _get(http, api).status_code == 200


def test_truncated_with_connection_close_gives_bad_json():
    with Sandbox(contacts=50, truncate_mode="close") as api, client(api) as http:
        api.script("/contacts/", ["truncated"])
        response = _get(http, api)

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def _statuses(seed: int) -> list[int]:
    faults = {"500": 0.2, "503": 0.2}
    api = Sandbox(contacts=50, faults=faults, fault_seed=seed)
    with api, client(api) as http:
        return [_get(http, api).status_code for _ in range(40)]


def test_random_faults_repeat_for_a_seed():
    first, again, other = _statuses(1), _statuses(1), _statuses(2)

    assert first == again
    assert first != other
    assert {500, 503, 200} <= set(first)
    assert 8 <= sum(s != 200 for s in first) <= 26


def test_all_kinds_at_a_rate_and_oauth_spared():
    with Sandbox(contacts=20, faults="500,503", fault_rate=0.5) as api:
        assert api.faults.rates == {"500": 0.5, "503": 0.5}
        with client(api) as http:
            data = {
                "client_id": api.client_id,
                "client_secret": api.client_secret,
                "grant_type": "authorization_code",
                "code": api.issue_auth_code(),
            }
            token = http.post("/oauth/token", data=data)
            contact = http.get(f"/contacts/{api.data.contact_id(0)}")

    assert token.status_code == 200
    assert contact.status_code in (500, 503)


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Sandbox(faults={"418": 0.1})
