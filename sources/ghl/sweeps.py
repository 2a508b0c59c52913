"""Sweeps: resumable passes of the contact search over a range of dates.

A sweep is one walk of ``POST /contacts/search`` with a ``range`` filter and an
ascending sort, paged by ``searchAfter``. Its progress lives in dlt source state
under the location, so a run that stops (a crash, a daily-budget stop) resumes at
the page after the last one loaded. Incremental runs sweep ``dateUpdated`` from the
cursor minus a look-back window; backfills sweep ``dateAdded`` slice by slice and
never touch the incremental cursor.
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .rows import parse_instant

INCREMENTAL = "incremental"
BACKFILL = "backfill"


@dataclass
class Sweep:
    """One pass over contacts whose ``field`` falls in ``[since, until)``."""

    kind: str
    field: str
    since: str | None = None
    until: str | None = None
    search_after: list[Any] | None = None
    max_seen: str | None = None
    seen: int = 0
    pages: int = 0
    slices: list[list[str]] = field(default_factory=list)

    def filters(self) -> list[dict[str, Any]]:
        """GHL search filters for the range (empty when unbounded)."""
        bounds = {}
        if self.since:
            bounds["gte"] = self.since
        if self.until:
            bounds["lt"] = self.until
        if not bounds:
            return []
        return [{"field": self.field, "operator": "range", "value": bounds}]

    def record(self, page: list[dict[str, Any]]) -> None:
        """Note a page as loaded: its cursor, its newest instant, its size."""
        self.search_after = page[-1].get("searchAfter")
        self.seen += len(page)
        self.pages += 1
        newest = max(
            (contact_instant(c, self.field) for c in page),
            default=None,
            key=lambda v: v or datetime.min.replace(tzinfo=UTC),
        )
        self.max_seen = later(self.max_seen, newest)

    def next_slice(self) -> bool:
        """Move a backfill to its next slice; False when none is left."""
        if not self.slices:
            return False
        self.since, self.until = self.slices.pop(0)
        self.search_after = None
        self.seen = 0
        return True


def contact_instant(contact: dict[str, Any], field: str) -> datetime | None:
    """A contact's ``field`` as a UTC instant, falling back to ``dateAdded``."""
    return parse_instant(contact.get(field)) or parse_instant(contact.get("dateAdded"))


def later(current: str | None, candidate: datetime | None) -> str | None:
    """The later of a stored ISO instant and a new one, compared as instants."""
    if candidate is None:
        return current
    if current is not None and parse_instant(current) >= candidate:
        return current
    return iso(candidate)


def iso(moment: datetime) -> str:
    """An instant as GHL-style ISO-8601 UTC with milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def location_state(state: dict[str, Any], location_id: str) -> dict[str, Any]:
    """The part of the source state that belongs to one location."""
    return state.setdefault("locations", {}).setdefault(location_id, {})


def start_incremental(loc_state: dict[str, Any], lookback: timedelta) -> Sweep:
    """The sweep in progress, or a new one from the cursor minus ``lookback``."""
    if loc_state.get("sweep"):
        return Sweep(**loc_state["sweep"])
    cursor = loc_state.get("contacts_cursor")
    since = iso(parse_instant(cursor) - lookback) if cursor else None
    return Sweep(kind=INCREMENTAL, field="dateUpdated", since=since, max_seen=cursor)


def start_backfill(
    loc_state: dict[str, Any], since: datetime, until: datetime, days: int
) -> Sweep:
    """The backfill in progress for this range, or a new one sliced by ``days``."""
    bounds = [iso(since), iso(until)]
    saved = loc_state.get("backfill")
    if saved and saved.get("range") == bounds:
        return Sweep(**saved["sweep"])
    slices = []
    start = since
    while start < until:
        end = min(start + timedelta(days=days), until)
        slices.append([iso(start), iso(end)])
        start = end
    sweep = Sweep(kind=BACKFILL, field="dateAdded", slices=slices)
    sweep.next_slice()
    loc_state["backfill"] = {"range": bounds, "sweep": asdict(sweep)}
    return sweep


def save(loc_state: dict[str, Any], sweep: Sweep, done: bool) -> None:
    """Store a sweep's progress; when done, move the cursor (incremental only)."""
    if sweep.kind == INCREMENTAL:
        if done:
            loc_state.pop("sweep", None)
            if sweep.max_seen:
                loc_state["contacts_cursor"] = later(
                    loc_state.get("contacts_cursor"), parse_instant(sweep.max_seen)
                )
        else:
            loc_state["sweep"] = asdict(sweep)
        return
    if done:
        loc_state.pop("backfill", None)
    else:
        loc_state["backfill"]["sweep"] = asdict(sweep)
