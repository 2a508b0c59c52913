"""OAuth: login, refresh once on 401, single-use refresh tokens, terminal errors."""

import os
import stat
import subprocess
import sys
import time

import pytest
from conftest import query
from helpers import login, oauth_tokens, recorded, token_requests, wait_for

from pipelines import auth, runs
from sources.ghl import build_client
from sources.ghl.errors import ReauthorizationNeeded
from sources.ghl.tokens import TokenStore


def test_login_stores_tokens_privately_and_status_shows_no_token(
    make_sandbox, tmp_path
):
    api = make_sandbox(contacts=5)
    store = login(api, tmp_path / "tokens")

    tokens = store.load()
    assert tokens.location_id == api.location_id
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    line = auth.describe(tokens)
    assert api.location_id in line and "contacts.readonly" in line
    assert tokens.access_token not in line and tokens.refresh_token not in line
    assert "***" in repr(tokens) and tokens.refresh_token not in repr(tokens)

    (exchange,) = token_requests(api, "authorization_code")
    assert exchange.body["user_type"] == "Location"
    assert exchange.body["redirect_uri"].startswith("http://127.0.0.1:")


def test_authorize_url_asks_for_read_scopes_only():
    url = auth.authorize_url("http://127.0.0.1:1/oauth/chooselocation", "cid", "r", "s")
    scopes = url.split("scope=")[1].split("&")[0].replace("+", " ").replace("%2F", "/")
    assert scopes.split() == sorted(set(scopes.split()))
    assert all(scope.endswith(".readonly") for scope in scopes.split())
    assert "contacts.readonly" in scopes.split()


def test_expired_token_is_refreshed_once_and_saved_before_use(make_sandbox, tmp_path):
    api = make_sandbox(contacts=5)
    store = login(api, tmp_path / "tokens")
    old = store.load()
    api.expire_token(old.access_token)

    client = build_client(api.base_url, api.location_id, oauth_tokens(api, store))
    contact = client.get(f"/contacts/{api.data.contact_id(0)}")

    assert contact["contact"]["id"] == api.data.contact_id(0)
    assert len(token_requests(api)) == 1
    new = store.load()
    assert new.access_token != old.access_token
    assert new.refresh_token != old.refresh_token
    data_calls = recorded(api, "/contacts/", 2)
    assert [r.status for r in data_calls] == [401, 200]
    assert data_calls[1].headers["authorization"] == f"Bearer {new.access_token}"


def test_second_401_after_refresh_stops(make_sandbox, tmp_path):
    api = make_sandbox(contacts=5)
    store = login(api, tmp_path / "tokens")
    api.expire_token(store.load().access_token)
    path = f"/contacts/{api.data.contact_id(0)}"
    api.script(path, [401, 401, 401])

    client = build_client(api.base_url, api.location_id, oauth_tokens(api, store))
    with pytest.raises(ReauthorizationNeeded, match="answered 401"):
        client.get(path)

    assert len(token_requests(api)) == 1
    assert len(recorded(api, path, 2)) == 2


def test_token_is_refreshed_ahead_of_expiry(make_sandbox, tmp_path):
    api = make_sandbox(contacts=5, access_token_ttl=60)
    store = login(api, tmp_path / "tokens")

    client = build_client(
        api.base_url, api.location_id, oauth_tokens(api, store, margin=120)
    )
    client.get(f"/contacts/{api.data.contact_id(1)}")

    assert len(token_requests(api)) == 1
    assert all(r.status == 200 for r in api.requests if r.path.startswith("/contacts"))


@pytest.mark.parametrize(
    "break_it, message",
    [
        pytest.param(
            lambda api, store: api.deactivate_location(),
            "Location is not active",
            id="location-not-active",
        ),
        pytest.param(
            lambda api, store: _spend_refresh_token(api, store),
            "invalid_grant",
            id="refresh-token-reused",
        ),
    ],
)
def test_terminal_refresh_errors_keep_the_stored_tokens(
    make_sandbox, tmp_path, break_it, message
):
    api = make_sandbox(contacts=5)
    store = login(api, tmp_path / "tokens")
    api.expire_token(store.load().access_token)
    break_it(api, store)
    before = store.path.read_bytes()

    client = build_client(api.base_url, api.location_id, oauth_tokens(api, store))
    with pytest.raises(ReauthorizationNeeded) as failure:
        client.get(f"/contacts/{api.data.contact_id(0)}")

    assert message in str(failure.value)
    assert "re-authorization is needed" in str(failure.value)
    assert store.path.read_bytes() == before
    spent = 1 + (message == "invalid_grant")
    assert wait_for(lambda: len(token_requests(api)) == spent, timeout=5)


def _spend_refresh_token(api, store):
    import httpx

    tokens = store.load()
    form = {
        "client_id": api.client_id,
        "client_secret": api.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": tokens.refresh_token,
        "user_type": "Location",
    }
    assert httpx.post(f"{api.base_url}/oauth/token", data=form).status_code == 200


def test_missing_scope_names_the_scope_and_is_not_retried(make_sandbox, tmp_path):
    api = make_sandbox(contacts=20)
    token = api.issue_token(scopes=["contacts.readonly"])
    client = build_client(api.base_url, api.location_id, token)
    pipeline = runs.make_pipeline(
        duckdb_path=tmp_path / "s.duckdb", pipelines_dir=tmp_path / "d"
    )

    with pytest.raises(Exception) as failure:
        runs.load(pipeline, client, api.location_id, resources=["businesses"])

    assert "businesses.readonly" in str(failure.value)
    assert len([r for r in api.requests if r.path == "/businesses/"]) == 1


def test_without_task_search_scope_tasks_come_per_contact(make_sandbox, tmp_path):
    api = make_sandbox(contacts=30)
    token = api.issue_token(scopes=["contacts.readonly"])
    client = build_client(api.base_url, api.location_id, token)
    pipeline = runs.make_pipeline(
        duckdb_path=tmp_path / "s.duckdb", pipelines_dir=tmp_path / "d"
    )

    summary = runs.load(pipeline, client, api.location_id, resources=["tasks"])

    expected = sum(len(api.data.tasks_for(api.data.contact_id(i))) for i in range(30))
    assert summary.rows["tasks"] == expected
    per_contact = [r for r in api.requests if r.path.endswith("/tasks")]
    assert len(per_contact) == 30
    assert len([r for r in api.requests if r.path.endswith("/tasks/search")]) == 1
    ((with_contact,),) = query(
        pipeline, "select count(*) from {raw}.tasks where contact_id is not null"
    )
    assert with_contact == expected


REFRESH_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from sources.ghl import build_client
from sources.ghl.tokens import OAuthTokens, TokenStore
store = TokenStore({path!r})
tokens = OAuthTokens(store, {base!r}, {cid!r}, {secret!r})
client = build_client({base!r}, {loc!r}, tokens)
print(client.get("/contacts/{contact}")["contact"]["id"])
"""


def test_two_processes_spend_one_refresh_token(make_sandbox, tmp_path):
    api = make_sandbox(contacts=5)
    store = login(api, tmp_path / "tokens")
    api.expire_token(store.load().access_token)
    # Expired on disk too, so that both processes decide to refresh at once.
    tokens = store.load()
    tokens.expires_at = time.time() - 1
    store.save(tokens)

    script = REFRESH_SCRIPT.format(
        root=str(os.getcwd()),
        path=str(store.path),
        base=api.base_url,
        cid=api.client_id,
        secret=api.client_secret,
        loc=api.location_id,
        contact=api.data.contact_id(2),
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]

    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == [api.data.contact_id(2)] * 2
    assert len(token_requests(api)) == 1
    assert TokenStore(store.path).load().access_token != tokens.access_token
