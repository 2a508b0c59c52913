"""``ghl-concord auth``: the OAuth authorization-code flow and token status.

``login`` prints the authorize URL, catches GHL's redirect on a loopback port,
exchanges the code at ``POST /oauth/token`` and stores the tokens. ``status`` shows
location, scopes and expiry, never a token.
"""

import http.server
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from sources.ghl.errors import ConfigurationError, ReauthorizationNeeded
from sources.ghl.settings import RESOURCE_SCOPES
from sources.ghl.tokens import OAuthTokens, Tokens, TokenStore, post_token_form

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_DIR = ".ghl_concord/tokens"
DEFAULT_AUTHORIZE_URL = "https://marketplace.gohighlevel.com/oauth/chooselocation"
READ_SCOPES = tuple(sorted(set(RESOURCE_SCOPES.values())))


def token_store(token_dir: str | Path, location_id: str) -> TokenStore:
    """The token store of one location."""
    return TokenStore(Path(token_dir) / f"{location_id}.json")


def authorize_url(
    authorize_base: str, client_id: str, redirect_uri: str, state: str
) -> str:
    """The URL a user opens to grant the app read access to a location."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(READ_SCOPES),
            "state": state,
        }
    )
    return f"{authorize_base}?{query}"


def login(
    base_url: str,
    authorize_base: str,
    client_id: str,
    client_secret: str,
    token_dir: str | Path,
    port: int = 8765,
    show: Callable[[str], None] = print,
    timeout: float = 300.0,
) -> Tokens:
    """Run the authorization-code flow and store the tokens.

    Args:
        base_url: the API root that serves ``/oauth/token``.
        authorize_base: GHL's choose-location page.
        client_id: the app's client id.
        client_secret: the app's client secret.
        token_dir: folder of the token files, one per location.
        port: loopback port of the redirect URI (0 picks a free one).
        show: receives the authorize URL (prints it by default).
        timeout: seconds to wait for the redirect.

    Returns:
        The stored tokens.
    """
    if not client_id or not client_secret:
        raise ConfigurationError(
            "set sources.ghl.oauth.client_id and client_secret in .dlt/secrets.toml"
        )
    state = secrets.token_urlsafe(16)
    catcher = _RedirectCatcher(port, state)
    redirect_uri = f"http://127.0.0.1:{catcher.port}/callback"
    try:
        show(authorize_url(authorize_base, client_id, redirect_uri, state))
        code = catcher.wait(timeout)
    finally:
        catcher.close()

    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "user_type": "Location",
    }
    tokens = Tokens.from_response(post_token_form(base_url, form), time.time())
    if not tokens.location_id:
        raise ReauthorizationNeeded(
            "the token answer names no locationId; log in again"
        )
    token_store(token_dir, tokens.location_id).save(tokens)
    logger.info("stored OAuth tokens for location %s", tokens.location_id)
    return tokens


def describe(tokens: Tokens, now: float | None = None) -> str:
    """One line about stored tokens: location, scopes, expiry. Never a token."""
    left = tokens.expires_at - (now or time.time())
    expiry = f"expires in {left / 60:.0f} min" if left > 0 else "expired"
    return (
        f"location {tokens.location_id}: scopes {tokens.scope or '(none)'}; "
        f"access token {expiry}; refresh token stored"
    )


def oauth_provider(
    token_dir: str | Path,
    location_id: str,
    base_url: str,
    client_id: str,
    client_secret: str,
) -> OAuthTokens | None:
    """OAuth tokens for a location when a token file exists, else ``None``."""
    store = token_store(token_dir, location_id)
    if not store.path.exists():
        return None
    return OAuthTokens(store, base_url, client_id, client_secret)


class _RedirectCatcher:
    """A one-shot HTTP listener on 127.0.0.1 for the OAuth redirect."""

    def __init__(self, port: int, state: str) -> None:
        self.state = state
        self.code: str | None = None
        self.error: str | None = None
        self._done = threading.Event()
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                if query.get("state", [""])[0] != catcher.state:
                    catcher.error = "the redirect's state does not match"
                elif "code" not in query:
                    catcher.error = query.get("error", ["no code in the redirect"])[0]
                else:
                    catcher.code = query["code"][0]
                ok = catcher.code is not None
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                text = "ghl-concord: authorized, you can close this tab."
                self.wfile.write(
                    (text if ok else f"ghl-concord: {catcher.error}").encode()
                )
                catcher._done.set()

            def log_message(self, *args: object) -> None:
                return

        self._server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> str:
        if not self._done.wait(timeout):
            raise ReauthorizationNeeded(
                f"no redirect arrived within {timeout:.0f}s; run `ghl-concord auth "
                "login` again and open the printed URL"
            )
        if self.code is None:
            raise ReauthorizationNeeded(f"authorization failed: {self.error}")
        return self.code

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
