"""Run settings read from dlt's config and secrets (``.dlt/`` or environment)."""

from dataclasses import dataclass, field

import dlt
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration, configspec
from dlt.common.typing import TSecretStrValue

from sources.ghl import GHLCredentials, build_client
from sources.ghl.client import GHLClient
from sources.ghl.errors import ConfigurationError
from sources.ghl.settings import DEFAULT_BASE_URL

from . import auth


@dataclass
class Settings:
    """Everything a run needs to reach one or more GHL locations."""

    base_url: str = DEFAULT_BASE_URL
    location_id: str = ""
    location_ids: list[str] = field(default_factory=list)
    max_concurrency: int = 8
    daily_reserve: int = 500
    lookback_minutes: int = 10
    token_dir: str = auth.DEFAULT_TOKEN_DIR
    authorize_url: str = auth.DEFAULT_AUTHORIZE_URL
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)

    @classmethod
    def from_dlt(cls, need_location: bool = True) -> "Settings":
        """Settings from ``sources.ghl.*`` in dlt config and secrets."""
        config = dlt.config
        app = resolve_configuration(
            OAuthApp(), sections=("sources", "ghl", "oauth"), accept_partial=True
        )
        found = cls(
            base_url=config.get("sources.ghl.base_url", str) or DEFAULT_BASE_URL,
            location_id=config.get("sources.ghl.location_id", str) or "",
            location_ids=list(config.get("sources.ghl.location_ids", list) or []),
            max_concurrency=_number(config, "max_concurrency", cls.max_concurrency),
            daily_reserve=_number(config, "daily_reserve", cls.daily_reserve),
            lookback_minutes=_number(config, "lookback_minutes", cls.lookback_minutes),
            token_dir=config.get("sources.ghl.oauth.token_dir", str)
            or auth.DEFAULT_TOKEN_DIR,
            authorize_url=config.get("sources.ghl.oauth.authorize_url", str)
            or auth.DEFAULT_AUTHORIZE_URL,
            client_id=app.client_id or "",
            client_secret=app.client_secret or "",
            access_token=_token(),
        )
        if not found.location_ids and found.location_id:
            found.location_ids = [found.location_id]
        if need_location and not found.location_ids:
            raise ConfigurationError(
                "no location: set sources.ghl.location_id (or location_ids) in "
                ".dlt/config.toml or SOURCES__GHL__LOCATION_ID"
            )
        found.location_id = found.location_id or (found.location_ids or [""])[0]
        return found

    def client(self, location_id: str | None = None) -> GHLClient:
        """A client for a location: OAuth when it has stored tokens, else the PIT."""
        location_id = location_id or self.location_id
        tokens = None
        if self.client_id and self.client_secret:
            tokens = auth.oauth_provider(
                self.token_dir,
                location_id,
                self.base_url,
                self.client_id,
                self.client_secret,
            )
        return build_client(
            self.base_url,
            location_id,
            tokens or self.access_token,
            daily_reserve=self.daily_reserve,
            max_concurrency=self.max_concurrency,
        )


@configspec
class OAuthApp(BaseConfiguration):
    """The OAuth app's id and secret (``sources.ghl.oauth``).

    The secret is typed as one, so that dlt's trace records its key, never it.
    """

    client_id: str | None = None
    client_secret: TSecretStrValue | None = None


def _number(config: object, key: str, default: int) -> int:
    """``sources.ghl.<key>`` as an int; 0 is a value, only absence is default."""
    value = config.get(f"sources.ghl.{key}", int)  # type: ignore[attr-defined]
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"sources.ghl.{key} is {value!r}; it must be a whole number"
        ) from None
    least = 1 if key == "max_concurrency" else 0
    if number < least:
        raise ConfigurationError(
            f"sources.ghl.{key} is {number}; it must be {least} or more"
        )
    return number


def _token() -> str:
    credentials = resolve_configuration(
        GHLCredentials(),
        sections=("sources", "ghl", "credentials"),
        accept_partial=True,
    )
    return str(credentials.access_token or "")
