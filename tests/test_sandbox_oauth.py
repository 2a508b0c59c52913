"""OAuth: consent redirect, code exchange, single-use refresh rotation, refusals."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_support import client

from sandbox.server import Sandbox


@pytest.fixture
def api():
    with Sandbox(contacts=20, seed=9, access_token_ttl=3600) as sandbox:
        yield sandbox


def _token(http: httpx.Client, api: Sandbox, **form) -> httpx.Response:
    base = {"client_id": api.client_id, "client_secret": api.client_secret}
    return http.post("/oauth/token", data={**base, **form})


def _code_from_consent(http: httpx.Client, api: Sandbox) -> str:
    response = http.get(
        "/oauth/chooselocation",
        params={
            "response_type": "code",
            "client_id": api.client_id,
            "redirect_uri": "http://127.0.0.1:1/callback",
            "scope": "contacts.readonly locations/tasks.readonly",
            "state": "s-1",
        },
    )
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    query = parse_qs(target.query)
    assert target.netloc == "127.0.0.1:1" and query["state"] == ["s-1"]
    return query["code"][0]


def test_code_exchange_then_refresh_rotates(api):
    with client(api) as http:
        code = _code_from_consent(http, api)
        pair = _token(http, api, grant_type="authorization_code", code=code).json()
        reused_code = _token(http, api, grant_type="authorization_code", code=code)
        refreshed = _token(
            http, api, grant_type="refresh_token", refresh_token=pair["refresh_token"]
        ).json()
        reused = _token(
            http, api, grant_type="refresh_token", refresh_token=pair["refresh_token"]
        )
    with client(api, refreshed["access_token"]) as http:
        contact = http.get(f"/contacts/{api.data.contact_id(0)}")
        businesses = http.get("/businesses/", params={"locationId": api.location_id})

    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 3600
    assert pair["scope"] == "contacts.readonly locations/tasks.readonly"
    assert (pair["userType"], pair["locationId"]) == ("Location", api.location_id)
    assert refreshed["refresh_token"] != pair["refresh_token"]
    assert reused_code.status_code == 400
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert contact.status_code == 200
    assert businesses.status_code == 401


def test_inactive_location_refuses_refresh(api):
    with client(api) as http:
        code = api.issue_auth_code()
        pair = _token(http, api, grant_type="authorization_code", code=code).json()
        api.deactivate_location()
        refused = _token(
            http, api, grant_type="refresh_token", refresh_token=pair["refresh_token"]
        )
        api.deactivate_location(active=True)
        later = _token(
            http, api, grant_type="refresh_token", refresh_token=pair["refresh_token"]
        )

    assert refused.status_code == 400
    assert refused.json() == {"statusCode": 400, "message": "Location is not active"}
    assert later.status_code == 200  # a refused refresh does not burn the token


def test_wrong_client_secret_is_refused(api):
    with client(api) as http:
        response = _token(
            http,
            api,
            client_secret="nope",
            grant_type="authorization_code",
            code=api.issue_auth_code(),
        )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_expired_access_token_says_so(api):
    token = api.issue_token(ttl=3600)
    api.expire_token(token)
    with client(api, token) as http:
        response = http.get(f"/contacts/{api.data.contact_id(0)}")

    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "Invalid JWT: the access token is expired",
        "error": "Unauthorized",
    }


def test_short_ttl_tokens_expire_by_the_clock():
    with Sandbox(contacts=5, access_token_ttl=0) as api, client(api) as http:
        pair = _token(
            http, api, grant_type="authorization_code", code=api.issue_auth_code()
        ).json()
        http.headers["Authorization"] = f"Bearer {pair['access_token']}"
        response = http.get(f"/contacts/{api.data.contact_id(0)}")

    assert response.status_code == 401
    assert "expired" in response.json()["message"]
