"""Bearer tokens, scopes and the OAuth 2.0 code and refresh grants of the sandbox.

GHL's marketplace docs describe refresh as returning a *new* token pair; the sandbox
makes refresh tokens single-use, so presenting a used one answers ``invalid_grant``
(case R08).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ALL_SCOPES = (
    "contacts.readonly",
    "contacts.write",
    "businesses.readonly",
    "locations.readonly",
    "locations/customFields.readonly",
    "locations/tasks.readonly",
)


@dataclass
class TokenInfo:
    """What the sandbox knows about one access token."""

    location_id: str
    scopes: frozenset[str]
    expires_at: float | None  # clock seconds; None never expires


@dataclass
class Grant:
    """A pending authorization code or a live refresh token."""

    location_id: str
    scopes: frozenset[str]
    client_id: str


class OAuthError(Exception):
    """A refused token request, with the status and JSON body to answer."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(body.get("message") or body.get("error"))
        self.status = status
        self.body = body


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError(
        400,
        {
            "statusCode": 400,
            "message": description,
            "error": "invalid_grant",
            "error_description": description,
        },
    )


class TokenStore:
    """Issues and checks tokens for one location.

    Args:
        location_id: the location every token belongs to.
        seed: tokens and client credentials derive from it.
        client_id: accepted OAuth client id (derived from the seed if None).
        client_secret: accepted OAuth client secret (derived from the seed if None).
        access_token_ttl: lifetime of OAuth access tokens, in seconds.
        scopes: scopes granted when a code request names none.
        clock: a seconds clock, replaceable in tests.
    """

    def __init__(
        self,
        location_id: str,
        seed: int,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token_ttl: float = 86_399,
        scopes: Iterable[str] = ALL_SCOPES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.location_id = location_id
        self.seed = seed
        self.client_id = client_id or f"sbx-client-{self._digest('client', 0)[:12]}"
        self.client_secret = client_secret or self._digest("secret", 0)
        self.access_token_ttl = access_token_ttl
        self.default_scopes = frozenset(scopes)
        self.clock = clock
        self.location_active = True

        self._lock = threading.Lock()
        self._serial = 0
        self._access: dict[str, TokenInfo] = {}
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._used_refresh: set[str] = set()
        self.static_token = "pit-" + self._digest("pit", 0)[:32]
        self._access[self.static_token] = TokenInfo(
            location_id, frozenset(ALL_SCOPES), None
        )

    def _digest(self, kind: str, n: int) -> str:
        text = f"{self.seed}:{kind}:{n}".encode()
        return hashlib.sha256(text).hexdigest()

    def _next(self, kind: str) -> str:
        with self._lock:
            self._serial += 1
            serial = self._serial
        return self._digest(kind, serial)[:40]

    # ------------------------------------------------------------ access tokens

    def issue_token(
        self, scopes: Iterable[str] | None = None, ttl: float | None = None
    ) -> str:
        """Makes an access token directly (no OAuth dance) for tests.

        Args:
            scopes: granted scopes; all scopes if None.
            ttl: lifetime in seconds; None never expires.
        """
        token = "at-" + self._next("access")
        granted = frozenset(ALL_SCOPES if scopes is None else scopes)
        expires = None if ttl is None else self.clock() + ttl
        with self._lock:
            self._access[token] = TokenInfo(self.location_id, granted, expires)
        return token

    def expire(self, token: str) -> None:
        """Makes a token expired from now on."""
        with self._lock:
            self._access[token].expires_at = self.clock() - 1

    def check(self, token: str | None, scope: str | None) -> str | None:
        """The reason to refuse ``token`` for ``scope``, or None if it is good."""
        with self._lock:
            info = self._access.get(token or "")
        if info is None:
            return "Invalid JWT"
        if info.expires_at is not None and self.clock() >= info.expires_at:
            return "Invalid JWT: the access token is expired"
        if scope is not None and scope not in info.scopes:
            return "The token is not authorized for this scope."
        return None

    def location_of(self, token: str) -> str:
        with self._lock:
            return self._access[token].location_id

    # -------------------------------------------------------------- OAuth grants

    def issue_code(self, scopes: Iterable[str] | None = None) -> str:
        """Makes an authorization code, as the consent screen would."""
        code = "code-" + self._next("code")
        granted = frozenset(scopes) if scopes else self.default_scopes
        with self._lock:
            self._codes[code] = Grant(self.location_id, granted, self.client_id)
        return code

    def exchange(self, form: dict[str, str]) -> dict:
        """Answers ``POST /oauth/token``.

        Raises:
            OAuthError: bad client, bad grant, used refresh token, inactive location.
        """
        if not form.get("client_id") or not form.get("grant_type"):
            raise OAuthError(
                422,
                {
                    "statusCode": 422,
                    "message": ["client_id should not be empty"]
                    if not form.get("client_id")
                    else ["grant_type should not be empty"],
                    "error": "Unprocessable Entity",
                },
            )
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            raise OAuthError(
                401,
                {
                    "statusCode": 401,
                    "message": "Invalid client credentials",
                    "error": "invalid_client",
                },
            )

        grant_type = form["grant_type"]
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.pop(form.get("code") or "", None)
                if grant is None:
                    raise _invalid_grant("Invalid grant: authorization code is invalid")
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token") or ""
                if refresh in self._used_refresh:
                    raise _invalid_grant(
                        "Invalid grant: refresh token was already used"
                    )
                grant = self._refresh.get(refresh)
                if grant is None:
                    raise _invalid_grant("Invalid grant: refresh token is invalid")
            else:
                raise OAuthError(
                    422,
                    {
                        "statusCode": 422,
                        "message": [f"grant_type {grant_type!r} is not supported"],
                        "error": "Unprocessable Entity",
                    },
                )
            if not self.location_active:
                raise OAuthError(
                    400, {"statusCode": 400, "message": "Location is not active"}
                )
            if grant_type == "refresh_token":
                del self._refresh[refresh]
                self._used_refresh.add(refresh)

        return self._pair(grant)

    def _pair(self, grant: Grant) -> dict:
        access = "at-" + self._next("access")
        refresh = "rt-" + self._next("refresh")
        with self._lock:
            self._access[access] = TokenInfo(
                grant.location_id,
                grant.scopes,
                self.clock() + self.access_token_ttl,
            )
            self._refresh[refresh] = grant
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl),
            "refresh_token": refresh,
            "scope": " ".join(sorted(grant.scopes)),
            "userType": "Location",
            "locationId": grant.location_id,
            "companyId": "sbx-company",
            "userId": "sbx-user-" + self._digest("user", 0)[:8],
        }
