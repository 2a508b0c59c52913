"""Errors of the GHL source, grouped by what the caller should do about them.

Every message names what failed and what to do next. None of them ever carries a
token: messages are built from status codes, endpoints and GHL's ``message`` field.
"""


class GHLError(Exception):
    """Base of every error the source raises on purpose."""

    exit_code = 1


class ConfigurationError(GHLError):
    """The configuration is wrong or missing: fix it, do not retry."""

    exit_code = 78


class ReauthorizationNeeded(GHLError):
    """Tokens are expired for good or revoked: run `ghl-concord auth login`."""

    exit_code = 77


class MissingScope(GHLError):
    """The token lacks a scope that a selected resource needs."""

    exit_code = 77

    def __init__(self, endpoint: str, scope: str) -> None:
        super().__init__(
            f"{endpoint}: the token is not authorized for scope '{scope}'; "
            f"add '{scope}' to the app or deselect the resource that needs it"
        )
        self.endpoint = endpoint
        self.scope = scope


class ApiError(GHLError):
    """GHL answered with a client error that retrying will not fix."""

    def __init__(self, endpoint: str, status: int, message: str) -> None:
        super().__init__(f"{endpoint} answered {status}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message


class RetriesExhausted(GHLError):
    """A transient fault outlasted every retry."""

    exit_code = 69


class PaginationError(GHLError):
    """The API's pages do not add up: a repeated cursor, or fewer rows than total."""


class PayloadError(GHLError):
    """A record has a shape the source does not know."""


class DailyBudgetExhausted(GHLError):
    """The location's daily request budget fell to the reserve: resume later."""

    exit_code = 75
