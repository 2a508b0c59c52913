"""Bearer authentication for httpx, fed by a token provider.

A provider hands out the current access token and, for OAuth, knows how to refresh
it. Tokens live only inside the provider and the request's header: never in logs,
messages, dlt state or the destination.
"""

from collections.abc import Generator
from typing import Protocol

import httpx


class TokenProvider(Protocol):
    """Where access tokens come from."""

    can_refresh: bool

    def access_token(self) -> str:
        """The token to send now (refreshing ahead of expiry when it can)."""

    def refresh(self, rejected: str) -> None:
        """Replace ``rejected`` after a 401; a no-op if another thread already did."""


class StaticToken:
    """A Private Integration Token, or any bearer token that never refreshes."""

    can_refresh = False

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> None:
        raise NotImplementedError("a static token cannot be refreshed")

    def __repr__(self) -> str:
        return "StaticToken(***)"


class BearerAuth(httpx.Auth):
    """Sets ``Authorization: Bearer …`` from a provider on every request."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.provider.access_token()}"
        yield request

    def __repr__(self) -> str:
        return f"BearerAuth({self.provider!r})"


def sent_token(request: httpx.Request) -> str:
    """The token a request carried, to tell the provider which one was rejected."""
    return request.headers.get("Authorization", "").removeprefix("Bearer ")
