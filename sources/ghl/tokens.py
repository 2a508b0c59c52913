"""OAuth 2.0 tokens for GHL: a locked, atomic token store and a refreshing provider.

GHL refresh tokens are single-use: each refresh returns a new pair and spends the
old refresh token (R08). So the new pair is written to disk before any data call
uses it, and a file lock makes sure that two runs never spend the same refresh
token: the second one to take the lock finds the new pair already on disk.
"""

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock

from .errors import ConfigurationError, ReauthorizationNeeded, RetriesExhausted

logger = logging.getLogger(__name__)

# Refresh this many seconds before the access token expires.
REFRESH_MARGIN = 300
TOKEN_PATH = "/oauth/token"


@dataclass
class Tokens:
    """One location's OAuth tokens, as stored."""

    access_token: str
    refresh_token: str
    expires_at: float
    location_id: str = ""
    scope: str = ""
    user_type: str = "Location"

    def __repr__(self) -> str:
        return (
            f"Tokens(location_id={self.location_id!r}, scope={self.scope!r}, "
            f"expires_at={self.expires_at:.0f}, access_token=***, refresh_token=***)"
        )

    @classmethod
    def from_response(cls, payload: dict[str, Any], now: float) -> "Tokens":
        """Tokens from a ``POST /oauth/token`` answer."""
        try:
            return cls(
                access_token=payload["access_token"],
                refresh_token=payload["refresh_token"],
                expires_at=now + float(payload.get("expires_in") or 0),
                location_id=str(payload.get("locationId") or ""),
                scope=str(payload.get("scope") or ""),
                user_type=str(payload.get("userType") or "Location"),
            )
        except KeyError as exc:
            raise ReauthorizationNeeded(
                f"the token endpoint's answer has no {exc.args[0]}; "
                "run `ghl-concord auth login` again"
            ) from None


class TokenStore:
    """A JSON file of one location's tokens: mode 0600, atomic writes, a lock.

    Args:
        path: the token file; its folder is created with mode 0700.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock")

    def lock(self) -> FileLock:
        """The inter-process lock that guards a refresh."""
        return self._lock

    def load(self) -> Tokens:
        """The stored tokens.

        Raises:
            ReauthorizationNeeded: there is no usable token file.
        """
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Tokens(**data)
        except FileNotFoundError:
            raise ReauthorizationNeeded(
                f"no OAuth tokens at {self.path}; run `ghl-concord auth login`"
            ) from None
        except (ValueError, TypeError) as exc:
            raise ReauthorizationNeeded(
                f"the token file {self.path} is unreadable ({type(exc).__name__}); "
                "run `ghl-concord auth login`"
            ) from None

    def save(self, tokens: Tokens) -> None:
        """Write ``tokens`` atomically: temp file, fsync, rename, fsync folder."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(tokens), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class OAuthTokens:
    """A token provider that refreshes through ``POST /oauth/token``.

    Args:
        store: where the tokens live.
        base_url: the API root that serves ``/oauth/token``.
        client_id: the app's client id.
        client_secret: the app's client secret.
        margin: refresh this many seconds ahead of expiry.
        clock: wall clock, replaceable in tests.
        attempts: tries of a refresh that fails for transient reasons.
    """

    can_refresh = True

    def __init__(
        self,
        store: TokenStore,
        base_url: str,
        client_id: str,
        client_secret: str,
        margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
        attempts: int = 4,
    ) -> None:
        if not client_id or not client_secret:
            raise ConfigurationError(
                "OAuth needs sources.ghl.oauth.client_id and client_secret in "
                ".dlt/secrets.toml (or use a Private Integration Token)"
            )
        self.store = store
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.margin = margin
        self._clock = clock
        self._attempts = attempts
        self._current: Tokens | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OAuthTokens(store={str(self.store.path)!r}, client_secret=***)"

    def access_token(self) -> str:
        with self._lock:
            if self._current is None:
                self._current = self.store.load()
            if self._current.expires_at - self.margin <= self._clock():
                self._refresh_locked(self._current.access_token)
            return self._current.access_token

    def refresh(self, rejected: str) -> None:
        with self._lock:
            self._refresh_locked(rejected)

    def current(self) -> Tokens:
        """The tokens in use (loaded from the store when none yet)."""
        with self._lock:
            if self._current is None:
                self._current = self.store.load()
            return self._current

    def _refresh_locked(self, rejected: str) -> None:
        with self.store.lock():
            on_disk = self.store.load()
            fresh = on_disk.expires_at - self.margin > self._clock()
            if on_disk.access_token != rejected and fresh:
                # Another run or thread refreshed first: use its pair.
                self._current = on_disk
                return

            tokens = self._exchange(on_disk.refresh_token, on_disk)
            self.store.save(tokens)
            self._current = tokens
            logger.info(
                "refreshed the access token of location %s; it expires in %.0fs",
                tokens.location_id,
                tokens.expires_at - self._clock(),
            )

    def _exchange(self, refresh_token: str, previous: Tokens) -> Tokens:
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "user_type": previous.user_type or "Location",
        }
        payload = post_token_form(self.base_url, form, self._attempts)
        tokens = Tokens.from_response(payload, self._clock())
        tokens.location_id = tokens.location_id or previous.location_id
        return tokens


def post_token_form(base_url: str, form: dict[str, str], attempts: int = 4) -> Any:
    """POST a form to ``/oauth/token``; transient faults are retried.

    Raises:
        ReauthorizationNeeded: GHL refused the grant (the store stays as it was).
        RetriesExhausted: the endpoint stayed unreachable.
    """
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(f"{base_url}{TOKEN_PATH}", data=form, timeout=30)
        except httpx.TransportError as exc:
            last = type(exc).__name__
        else:
            if response.status_code < 300:
                try:
                    return response.json()
                except ValueError:
                    last = "an unreadable body"
            elif response.status_code < 500 and response.status_code != 429:
                raise ReauthorizationNeeded(
                    f"the token refresh was refused ({response.status_code}: "
                    f"{_oauth_message(response)}); the stored tokens are unchanged, "
                    "re-authorization is needed: run `ghl-concord auth login`"
                )
            else:
                last = f"status {response.status_code}"
        wait = min(8.0, 0.5 * 2 ** (attempt - 1))
        logger.warning(
            "retrying POST %s after %s (attempt %d of %d, waiting %.1fs)",
            TOKEN_PATH,
            last,
            attempt,
            attempts,
            wait,
        )
        if attempt < attempts:
            time.sleep(wait)
    raise RetriesExhausted(
        f"POST {TOKEN_PATH} failed {attempts} times, last with {last}; the stored "
        "tokens are unchanged, run again later"
    )


def _oauth_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return "no JSON body"
    if not isinstance(payload, dict):
        return "no message"
    parts = [
        str(payload[k])
        for k in ("error", "error_description", "message")
        if payload.get(k)
    ]
    return "; ".join(parts)[:300] or "no message"
