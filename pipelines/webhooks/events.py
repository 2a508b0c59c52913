"""The webhook events the receiver acts on, parsed from a verified body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Events whose `id` is the contact; the other known events name it in `contactId`.
CONTACT_EVENTS = frozenset(
    {"ContactCreate", "ContactUpdate", "ContactDelete", "ContactTagUpdate"}
)
CHILD_EVENTS = frozenset(
    {
        "TaskCreate",
        "TaskComplete",
        "TaskDelete",
        "NoteCreate",
        "NoteUpdate",
        "NoteDelete",
    }
)
KNOWN_EVENTS = CONTACT_EVENTS | CHILD_EVENTS


class MalformedEvent(ValueError):
    """The body is not a usable event (the receiver answers 400)."""


@dataclass(frozen=True)
class WebhookEvent:
    """One accepted delivery: which contact of which location changed."""

    webhook_id: str
    type: str
    location_id: str
    contact_id: str
    object_id: str
    timestamp: datetime


def parse(body: bytes) -> tuple[str, dict[str, Any]]:
    """The event type and payload of a body.

    Raises:
        MalformedEvent: not a JSON object, or no ``type``.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEvent(f"body is not JSON ({error.__class__.__name__})") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("body is not a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedEvent("no event type")
    return kind, payload


def to_event(kind: str, payload: dict[str, Any]) -> WebhookEvent:
    """The event of a known type.

    Raises:
        MalformedEvent: a field the receiver needs is missing or empty.
    """
    object_id = _text(payload, "id")
    contact_id = object_id if kind in CONTACT_EVENTS else None
    contact_id = _text(payload, "contactId") or contact_id
    missing = [
        name
        for name, value in (
            ("webhookId", _text(payload, "webhookId")),
            ("locationId", _text(payload, "locationId")),
            ("id", object_id),
            ("contactId", contact_id),
        )
        if not value
    ]
    if missing:
        raise MalformedEvent(f"{kind} without {', '.join(missing)}")
    return WebhookEvent(
        webhook_id=_text(payload, "webhookId"),
        type=kind,
        location_id=_text(payload, "locationId"),
        contact_id=contact_id,
        object_id=object_id,
        timestamp=_timestamp(payload.get("timestamp")),
    )


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return value.strip() if isinstance(value, str) else ""


def _timestamp(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise MalformedEvent(f"timestamp {value[:40]!r} is not ISO-8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise MalformedEvent("no timestamp")
