"""A deterministic, lazy GHL dataset for one seed, plus a small mutable overlay.

Nothing is materialized up front: contact ``i`` (and its tasks and notes) is built on
demand from ``(seed, i)``. Both ``dateAdded`` and ``dateUpdated`` are strictly
increasing in ``i``, so the order of a search sorted by either field is index order,
and a date range maps to an index range by bisection. Contacts created, updated or
deleted at run time live in an overlay that is merged into every read.

Ids are 20 characters of base62, like GHL's. The last seven characters encode the
entity number through a bijection, so an id maps back to its index without a lookup
table (which would not fit for a million contacts).
"""

from __future__ import annotations

import base64
import bisect
import copy
import functools
import heapq
import itertools
import random
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_M64 = (1 << 64) - 1
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_TAIL = 7
_ID_SPACE = 62**_ID_TAIL

START_MS = 1672531200000  # 2023-01-01T00:00:00Z: the first base contact.
SPAN_MS = 2 * 365 * 86_400_000  # base contacts are spread over two years.
SLOTS = 5  # tasks (and notes) per contact are numbered 0..4 inside the id.

# Entity kinds, mixed into every hash so that streams do not collide.
K_LOCATION, K_CONTACT, K_TASK, K_NOTE, K_BUSINESS = 1, 2, 3, 4, 5
K_FIELD, K_USER, K_ADDED, K_LAG, K_TASKS, K_NOTES, K_LINK = 6, 7, 8, 9, 10, 11, 12
K_OVERLAY, K_SECRET = 13, 14

NAMES = (
    (
        ("José", "María", "Lucía", "Álvaro", "Sofía", "Iñaki"),
        ("García", "Núñez", "Peña", "Muñoz", "Ibáñez"),
    ),
    (
        ("Zoë", "Chloé", "François", "Jürgen", "Renée", "Søren"),
        ("Müller", "Lefèvre", "Schröder", "Ødegaard", "Dvořák"),
    ),
    (
        ("John", "Emily", "Michael", "Sarah", "Grace", "Liam"),
        ("Smith", "O'Connor", "Johnson", "Lee", "Taylor-Brown"),
    ),
    (("伟", "芳", "娜", "静"), ("李", "王", "张", "刘")),
    (("Мария", "Иван", "Ольга", "Дмитрий"), ("Иванова", "Петров", "Смирнова")),
    (("محمد", "فاطمة", "أحمد", "ليلى"), ("العلي", "حسن", "الأنصاري")),
    (("さくら", "翔太", "Yūki"), ("佐藤", "鈴木", "Tanaka")),
)
TAGS = ("vip", "newsletter", "lead", "customer", "churn-risk", "webinar", "Événement")
SOURCES = ("website", "facebook", "referral", "import", "public api", "manual")
TIMEZONES = ("America/New_York", "Europe/London", "Asia/Shanghai", "Europe/Madrid")
CITIES = (
    ("Austin", "TX", "US", "73301"),
    ("London", "", "GB", "EC1A 1BB"),
    ("Zürich", "ZH", "CH", "8001"),
    ("São Paulo", "SP", "BR", "01000-000"),
    ("北京", "", "CN", "100000"),
)
TASK_TITLES = ("Call back", "Send quote", "Follow up on demo", "Renewal check-in")
NOTE_BODIES = (
    "Spoke with the contact; interested in the annual plan.",
    "Left a voicemail.",
    "Prefers e-mail. Ne pas appeler avant 10h.",
    "客户要求下周回电。",
    "Multi-line note:\n- budget approved\n- decision in Q3",
)
DOMAINS = ("example.com", "example.org", "mail.example.net")
BUSINESS_STEMS = ("Acme", "Nordwind", "Sakura", "Café Olé", "Łódź Tools")
BUSINESS_FORMS = ("GmbH", "LLC", "Ltd", "S.A.", "株式会社")
SHARED_EMAILS = ("shared.inbox@example.com", "SHARED.Inbox@Example.com")


def _mix(x: int) -> int:
    """SplitMix64 finalizer: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _hash(seed: int, kind: int, n: int) -> int:
    return _mix(_mix(_mix(seed & _M64) ^ kind) ^ (n & _M64))


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_B64_TO_62 = bytes.maketrans(b"+/", b"xQ")


def _base62(value: int) -> str:
    """Seven base62 digits of a value below 62**7 (two digits per table look-up)."""
    value, low = divmod(value, 3844)
    value, mid = divmod(value, 3844)
    top, high = divmod(value, 3844)
    return _ALPHABET[top] + _PAIRS[high] + _PAIRS[mid] + _PAIRS[low]


def _unbase62(text: str) -> int | None:
    value = 0
    for char in text:
        digit = _ALPHABET.find(char)
        if digit < 0:
            return None
        value = value * 62 + digit
    return value


class _IdCodec:
    """Makes 20-character ids for one entity kind that decode back to a number."""

    def __init__(self, seed: int, kind: int) -> None:
        self.seed = seed
        self.kind = kind
        multiplier = _hash(seed, kind, -1) % _ID_SPACE | 1
        while multiplier % 31 == 0:  # coprime with 62**7 = 2**7 * 31**7
            multiplier += 2
        self.multiplier = multiplier
        self.offset = _hash(seed, kind, -2) % _ID_SPACE
        self.inverse = pow(multiplier, -1, _ID_SPACE)

    def encode(self, n: int) -> str:
        h = _hash(self.seed, self.kind, n)
        head = base64.b64encode(((h >> 17 & 0xFFFF) << 64 | h).to_bytes(10, "little"))
        return head[:13].translate(_B64_TO_62).decode() + _base62(
            (n * self.multiplier + self.offset) % _ID_SPACE
        )

    def decode(self, entity_id: str) -> int | None:
        if not isinstance(entity_id, str) or len(entity_id) != 20:
            return None
        tail = _unbase62(entity_id[-_ID_TAIL:])
        if tail is None:
            return None
        n = ((tail - self.offset) * self.inverse) % _ID_SPACE
        return n if self.encode(n) == entity_id else None


@functools.lru_cache(maxsize=8192)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, tz=UTC).strftime("%Y-%m-%d")


def iso_ms(ms: int) -> str:
    """Formats epoch milliseconds as GHL does: ``2024-06-06T18:54:57.221Z``."""
    days, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def parse_ms(value: Any) -> int:
    """Reads epoch milliseconds from a number or an ISO-8601 string.

    Raises:
        ValueError: the value is neither.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
    raise ValueError(f"not a timestamp: {value!r}")


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


@dataclass(frozen=True)
class CustomFieldDef:
    """One custom field definition of the location."""

    key: str
    name: str
    data_type: str
    options: tuple[str, ...] = ()


FIELD_DEFS = (
    CustomFieldDef("customer_tier", "Customer tier", "TEXT"),
    CustomFieldDef("background", "Background", "LARGE_TEXT"),
    CustomFieldDef("score", "Lead score", "NUMERICAL"),
    CustomFieldDef("lifetime_value", "Lifetime value", "MONETORY"),
    CustomFieldDef("renewal_date", "Renewal date", "DATE"),
    CustomFieldDef("plan", "Plan", "SINGLE_OPTIONS", ("Basic", "Pro", "Entreprise")),
    CustomFieldDef(
        "interests", "Interests", "MULTIPLE_OPTIONS", ("CRM", "SMS", "Email", "Ads")
    ),
    CustomFieldDef("channels", "Channels", "CHECKBOX", ("phone", "email", "sms")),
)


@dataclass(frozen=True)
class Range:
    """A half-open range ``[lo, hi)`` of epoch milliseconds on one date field."""

    field: str
    lo: int
    hi: int

    def holds(self, contact_ms: dict[str, int]) -> bool:
        return self.lo <= contact_ms[self.field] < self.hi


@dataclass(frozen=True)
class Event:
    """A change made through the overlay, as sent to webhook listeners."""

    type: str
    id: str
    contact_id: str | None
    data: dict[str, Any]


class Dataset:
    """The contacts, tasks, notes, businesses and custom fields of one location.

    Args:
        contacts: number of generated (base) contacts.
        seed: every value derives from it; the same seed gives the same data.
        mixed_custom_field_types: serve the ``customer_tier`` TEXT field as a number
            for odd contacts (GHL does not enforce a value type per field).
        omit_task_contact_id: leave ``contactId`` out of task records (R15).
        additional_email_objects: serve ``additionalEmails`` as ``[{"email": ..}]``
            instead of the spec's list of strings.
    """

    def __init__(
        self,
        contacts: int = 1000,
        seed: int = 7,
        *,
        mixed_custom_field_types: bool = False,
        omit_task_contact_id: bool = False,
        additional_email_objects: bool = False,
    ) -> None:
        if contacts < 0:
            raise ValueError(f"contacts must be >= 0, got {contacts}")
        self.size = contacts
        self.seed = seed
        self.mixed_custom_field_types = mixed_custom_field_types
        self.omit_task_contact_id = omit_task_contact_id
        self.additional_email_objects = additional_email_objects

        self._contact_ids = _IdCodec(seed, K_CONTACT)
        self._task_ids = _IdCodec(seed, K_TASK)
        self._note_ids = _IdCodec(seed, K_NOTE)
        self._business_ids = _IdCodec(seed, K_BUSINESS)
        self.location_id = _IdCodec(seed, K_LOCATION).encode(0)
        self.company_id = _IdCodec(seed, K_LOCATION).encode(1)
        self.user_ids = tuple(_IdCodec(seed, K_USER).encode(n) for n in range(5))
        fields = _IdCodec(seed, K_FIELD)
        self.field_ids = {d.key: fields.encode(n) for n, d in enumerate(FIELD_DEFS)}

        self.step = max(2, SPAN_MS // max(contacts, 1))
        self.business_total = contacts // 20 if contacts >= 20 else min(contacts, 1)
        self.business_active = self.business_total - self.business_total // 5

        self._lock = threading.RLock()
        self._overlay: dict[str, dict[str, Any]] = {}
        self._overlay_ms: dict[str, dict[str, int]] = {}
        self._by_field: dict[str, list[tuple[int, str]]] = {
            "dateAdded": [],
            "dateUpdated": [],
        }
        self._hidden: list[int] = []  # base indices deleted or moved to the overlay
        self._deleted: set[str] = set()
        self._created = 0
        self._counter = itertools.count(1)
        self._last_stamp = 0
        self._tasks: dict[str, list[dict[str, Any]]] = {}
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._clock: Callable[[], int] = lambda: int(time.time() * 1000)

    # ---------------------------------------------------------------- base keys

    def contact_id(self, i: int) -> str:
        """The id of base contact ``i`` (0-based)."""
        return self._contact_ids.encode(i)

    def contact_index(self, contact_id: str) -> int | None:
        """The base index of a contact id, or None for unknown or created ids."""
        n = self._contact_ids.decode(contact_id)
        return n if n is not None and n < self.size else None

    def added_ms(self, i: int) -> int:
        """``dateAdded`` of base contact ``i`` in epoch ms (strictly increasing)."""
        return (
            START_MS + i * self.step + _hash(self.seed, K_ADDED, i) % (self.step // 2)
        )

    def updated_ms(self, i: int) -> int:
        """``dateUpdated`` of base contact ``i`` (>= dateAdded, strictly increasing)."""
        h = _hash(self.seed, K_LAG, i)
        lag = 0 if h % 10 < 3 else (h >> 8) % (self.step // 2)
        return self.added_ms(i) + lag

    def _key_ms(self, field: str, i: int) -> int:
        return self.added_ms(i) if field == "dateAdded" else self.updated_ms(i)

    def _first_index(self, field: str, ms: int) -> int:
        """The first base index whose ``field`` is >= ``ms``."""
        lo, hi = 0, self.size
        while lo < hi:
            mid = (lo + hi) // 2
            if self._key_ms(field, mid) < ms:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # ----------------------------------------------------------------- contacts

    def _base_contact(self, i: int) -> dict[str, Any]:
        rng = random.Random(_hash(self.seed, K_CONTACT, i))
        firsts, lasts = rng.choice(NAMES)
        first = rng.choice(firsts)
        last = rng.choice(lasts) if rng.random() < 0.93 else None
        contact_id = self.contact_id(i)

        contact: dict[str, Any] = {
            "id": contact_id,
            "locationId": self.location_id,
            "contactName": " ".join(p for p in (first, last) if p),
            "firstName": first,
            "lastName": last,
            "firstNameLowerCase": first.lower(),
            "lastNameLowerCase": last.lower() if last else None,
            "email": self._email(i, rng, first, last),
            "phone": self._phone(i, rng),
            "phoneLabel": rng.choice(("Mobile", "Home", "Work", None)),
            "companyName": None,
            "businessName": None,
            "businessId": None,
            "assignedTo": rng.choice((*self.user_ids, None)),
            "source": rng.choice((*SOURCES, None)),
            "type": rng.choice(("lead", "customer")),
            "dnd": rng.random() < 0.05,
            "timezone": rng.choice((*TIMEZONES, None)),
            "website": f"https://www.{_ascii_slug(first) or 'site'}{i}.example"
            if rng.random() < 0.2
            else None,
            "tags": list(TAGS[i % 7 : i % 7 + (i >> 3) % 4]),
        }
        if rng.random() < 0.6:
            city, state, country, postal = rng.choice(CITIES)
            contact.update(
                address1=f"{rng.randint(1, 999)} Main Street",
                city=city,
                state=state or None,
                country=country,
                postalCode=postal,
            )
        else:
            contact.update(
                address1=None, city=None, state=None, country=None, postalCode=None
            )
        contact["dateOfBirth"] = (
            f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}"
            if rng.random() < 0.3
            else None
        )

        business = self.business_of(i)
        if business is not None:
            name = self.business_name(business)
            contact.update(
                companyName=name,
                businessName=name,
                businessId=self.business_id(business),
            )
        elif rng.random() < 0.2:
            contact["companyName"] = rng.choice(("Freelance", "Self-employed"))

        contact["customFields"] = self._custom_values(i, rng)
        extra = rng.random()
        if extra < 0.1:
            emails = [f"alt{n}.{i}@example.org" for n in range(rng.randint(1, 2))]
            contact["additionalEmails"] = emails
        elif extra < 0.4:
            contact["additionalEmails"] = []
        contact["dateAdded"] = iso_ms(self.added_ms(i))
        contact["dateUpdated"] = iso_ms(self.updated_ms(i))
        return contact

    def _email(self, i: int, rng: random.Random, first: str, last: str | None) -> Any:
        if i % 211 in (5, 6):
            return SHARED_EMAILS[i % 211 - 5]
        if rng.random() < 0.12:
            return None
        local = ".".join(s for s in (_ascii_slug(first), _ascii_slug(last or "")) if s)
        return f"{local or 'contact'}.{i}@{rng.choice(DOMAINS)}"

    def _phone(self, i: int, rng: random.Random) -> Any:
        if i % 199 == 3:
            return "+15550000000"
        if rng.random() < 0.15:
            return None
        a, b = rng.randint(100, 999), rng.randint(1000, 9999)
        style = rng.randrange(5)
        if style == 0:
            return f"+1555{a}{b}"
        if style == 1:
            return f"(555) {a}-{b}"
        if style == 2:
            return f"555.{a}.{b}"
        if style == 3:
            return f"+44 20 7946 {b % 1000:03d}{a % 10}"
        return f"+1 555 {a} {b}"

    def _custom_values(self, i: int, rng: random.Random) -> list[dict[str, Any]]:
        values = []
        for definition in FIELD_DEFS:
            if rng.random() >= 0.4:
                continue
            kind = definition.data_type
            if kind == "TEXT":
                value: Any = rng.choice(("Gold", "Silver", "Bronze", "Platinum"))
                if self.mixed_custom_field_types and i % 2 == 1:
                    value = rng.randint(1, 100)
            elif kind == "LARGE_TEXT":
                value = "Long-time customer.\nMet at the Zürich fair; prefers calls."
            elif kind == "NUMERICAL":
                value = rng.choice((rng.randint(0, 100), round(rng.random() * 100, 2)))
            elif kind == "MONETORY":
                value = round(rng.random() * 10_000, 2)
            elif kind == "DATE":
                value = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            elif kind == "SINGLE_OPTIONS":
                value = rng.choice(definition.options)
            else:
                first = rng.randrange(len(definition.options))
                value = list(definition.options[first : first + 1 + (i & 1)])
            values.append({"id": self.field_ids[definition.key], "value": value})
        return values

    def contact(self, i: int) -> dict[str, Any] | None:
        """Base contact ``i`` with overlay changes, or None if it was deleted."""
        contact_id = self.contact_id(i)
        with self._lock:
            if contact_id in self._deleted:
                return None
            if contact_id in self._overlay:
                return copy.deepcopy(self._overlay[contact_id])
        return self._base_contact(i)

    def get_contact(self, contact_id: str) -> dict[str, Any] | None:
        """A contact by id (base or created), or None if unknown or deleted."""
        with self._lock:
            if contact_id in self._deleted:
                return None
            if contact_id in self._overlay:
                return copy.deepcopy(self._overlay[contact_id])
        i = self.contact_index(contact_id)
        return None if i is None else self._base_contact(i)

    def is_live(self, contact_id: str) -> bool:
        """Whether a contact exists and is not deleted, without building it."""
        with self._lock:
            if contact_id in self._deleted:
                return False
            if contact_id in self._overlay:
                return True
        return self.contact_index(contact_id) is not None

    @property
    def total(self) -> int:
        """The number of live contacts (base minus deleted plus created)."""
        with self._lock:
            return self.size - len(self._deleted_base()) + self._live_created()

    def _deleted_base(self) -> list[str]:
        return [c for c in self._deleted if self.contact_index(c) is not None]

    def _live_created(self) -> int:
        return sum(1 for c in self._overlay if self.contact_index(c) is None)

    # ------------------------------------------------------- ordered contact scans

    def scan(
        self,
        sort: str = "dateAdded",
        *,
        descending: bool = False,
        ranges: tuple[Range, ...] = (),
        after: tuple[int, str] | None = None,
    ) -> Iterator[tuple[int, str, int | str]]:
        """Contacts in ``(sort field, id)`` order as ``(ms, id, ref)`` tuples.

        ``ref`` is the base index, or the id of an overlay contact. Only the keys
        are computed; build a record with :meth:`resolve`.

        Args:
            sort: ``dateAdded`` or ``dateUpdated``.
            descending: newest first.
            ranges: date ranges every contact must fall in.
            after: a ``(ms, id)`` cursor; only contacts strictly past it come.
        """
        lo, hi = self._index_bounds(ranges)
        with self._lock:
            hidden = set(self._hidden)
            overlay = [
                (ms, cid, cid)
                for ms, cid in self._by_field[sort]
                if all(r.holds(self._overlay_ms[cid]) for r in ranges)
            ]
        if after is not None:
            if descending:
                overlay = [o for o in overlay if (o[0], o[1]) < after]
            else:
                overlay = [o for o in overlay if (o[0], o[1]) > after]
        if descending:
            overlay.reverse()
        base = self._scan_base(sort, lo, hi, hidden, descending, after)
        return heapq.merge(base, overlay, reverse=descending)

    def _scan_base(
        self,
        sort: str,
        lo: int,
        hi: int,
        hidden: set[int],
        descending: bool,
        after: tuple[int, str] | None,
    ) -> Iterator[tuple[int, str, int | str]]:
        if after is not None:
            ms, after_id = after
            cut = self._first_index(sort, ms)
            if cut < self.size and self._key_ms(sort, cut) == ms:
                cut_id = self.contact_id(cut)
                cut += cut_id < after_id if descending else cut_id <= after_id
            if descending:
                hi = min(hi, cut)
            else:
                lo = max(lo, cut)
        indices = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
        for i in indices:
            if i not in hidden:
                yield self._key_ms(sort, i), self.contact_id(i), i

    def _index_bounds(self, ranges: tuple[Range, ...]) -> tuple[int, int]:
        lo, hi = 0, self.size
        for date_range in ranges:
            lo = max(lo, self._first_index(date_range.field, date_range.lo))
            hi = min(hi, self._first_index(date_range.field, date_range.hi))
        return lo, max(lo, hi)

    def count(self, ranges: tuple[Range, ...] = ()) -> int:
        """How many live contacts fall in all ``ranges``."""
        lo, hi = self._index_bounds(ranges)
        with self._lock:
            hidden = bisect.bisect_left(self._hidden, hi) - bisect.bisect_left(
                self._hidden, lo
            )
            overlay = sum(
                1
                for ms in self._overlay_ms.values()
                if all(r.holds(ms) for r in ranges)
            )
        return hi - lo - hidden + overlay

    def position(self, sort: str, after: tuple[int, str]) -> int:
        """How many live contacts sort at or before the ``(ms, id)`` cursor."""
        ms, after_id = after
        cut = self._first_index(sort, ms)
        if cut < self.size and self._key_ms(sort, cut) == ms:
            cut += self.contact_id(cut) <= after_id
        with self._lock:
            hidden = bisect.bisect_left(self._hidden, cut)
            overlay = bisect.bisect_right(self._by_field[sort], (ms, after_id))
        return cut - hidden + overlay

    def resolve(self, ref: int | str) -> dict[str, Any] | None:
        """The record behind a ``ref`` from :meth:`scan`."""
        if isinstance(ref, int):
            return self.contact(ref)
        return self.get_contact(ref)

    def iter_contacts(self) -> Iterator[dict[str, Any]]:
        """Every live contact in ``dateAdded`` order (a convenience for tests)."""
        for _, _, ref in self.scan("dateAdded"):
            contact = self.resolve(ref)
            if contact is not None:
                yield contact

    # ------------------------------------------------------------- tasks, notes

    def _task_count(self, i: int) -> int:
        h = _hash(self.seed, K_TASKS, i)
        return 0 if h % 100 < 25 else 1 + (h >> 8) % 4

    def _note_count(self, i: int) -> int:
        h = _hash(self.seed, K_NOTES, i)
        return 0 if h % 100 < 30 else 1 + (h >> 8) % 4

    def _base_task(self, i: int, slot: int) -> dict[str, Any]:
        n = i * SLOTS + slot
        rng = random.Random(_hash(self.seed, K_TASK, n))
        due = self.added_ms(i) + rng.randint(-5, 1200) * 86_400_000
        task = {
            "id": self._task_ids.encode(n),
            "title": rng.choice(TASK_TITLES),
            "body": rng.choice(("", "Ask about the renewal.", "Rappeler demain."))
            or None,
            "assignedTo": rng.choice((*self.user_ids, None)),
            "dueDate": iso_ms(due - due % 60_000),
            "completed": rng.random() < 0.45,
            "contactId": self.contact_id(i),
        }
        return task

    def _base_note(self, i: int, slot: int) -> dict[str, Any]:
        n = i * SLOTS + slot
        rng = random.Random(_hash(self.seed, K_NOTE, n))
        note = {
            "id": self._note_ids.encode(n),
            "body": rng.choice(NOTE_BODIES),
            "dateAdded": iso_ms(self.added_ms(i) + rng.randint(0, 90) * 3_600_000),
            "contactId": self.contact_id(i),
        }
        if rng.random() < 0.6:
            note["userId"] = rng.choice(self.user_ids)
        return note

    def _clean_task(self, task: dict[str, Any]) -> dict[str, Any]:
        task = {k: v for k, v in task.items() if v is not None}
        if self.omit_task_contact_id:
            task.pop("contactId", None)
        return task

    def tasks_for(self, contact_id: str) -> list[dict[str, Any]] | None:
        """The tasks of a contact, or None if the contact is unknown or deleted."""
        with self._lock:
            if not self.is_live(contact_id):
                return None
            if contact_id in self._tasks:
                return [self._clean_task(t) for t in self._tasks[contact_id]]
        i = self.contact_index(contact_id)
        if i is None:
            return []
        tasks = [self._base_task(i, s) for s in range(self._task_count(i))]
        return [self._clean_task(t) for t in tasks]

    def notes_for(self, contact_id: str) -> list[dict[str, Any]] | None:
        """The notes of a contact, or None if the contact is unknown or deleted."""
        with self._lock:
            if not self.is_live(contact_id):
                return None
            if contact_id in self._notes:
                return copy.deepcopy(self._notes[contact_id])
        i = self.contact_index(contact_id)
        if i is None:
            return []
        return [self._base_note(i, s) for s in range(self._note_count(i))]

    def search_tasks(
        self,
        *,
        skip: int = 0,
        limit: int = 25,
        completed: bool | None = None,
        contact_ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Tasks of the location in contact order, as the task search serves them.

        TODO(ghl-concord): walks contacts from the start; index the task counts
        once the benchmark pages deep into the location task search.
        """
        if contact_ids:
            sources: Iterator[str] = iter(contact_ids)
        else:
            sources = (cid for _, cid, _ in self.scan("dateAdded"))
        selected: list[dict[str, Any]] = []
        skipped = 0
        for contact_id in sources:
            for task in self.tasks_for(contact_id) or []:
                if completed is not None and task["completed"] != completed:
                    continue
                if skipped < skip:
                    skipped += 1
                    continue
                task = dict(task, contactId=contact_id)
                selected.append(task)
                if len(selected) >= limit:
                    return selected
        return selected

    # --------------------------------------------------------------- businesses

    def business_id(self, b: int) -> str:
        """The id of business ``b`` (0-based)."""
        return self._business_ids.encode(b)

    def business_index(self, business_id: str) -> int | None:
        """The index of a business id, or None."""
        n = self._business_ids.decode(business_id)
        return n if n is not None and n < self.business_total else None

    def business_of(self, i: int) -> int | None:
        """The business index base contact ``i`` is linked to, if any.

        Businesses from ``business_active`` on never get contacts, so some
        businesses have zero linked contacts.
        """
        if not self.business_active or _hash(self.seed, K_LINK, i) % 100 >= 70:
            return None
        return i % self.business_active

    def business_name(self, b: int) -> str:
        """The name of business ``b``."""
        h = _hash(self.seed, K_BUSINESS, b)
        return f"{BUSINESS_STEMS[h % 5]} {BUSINESS_FORMS[(h >> 8) % 5]} {b}"

    def business(self, b: int) -> dict[str, Any]:
        """Business ``b`` as ``GET /businesses/`` serves it."""
        rng = random.Random(_hash(self.seed, K_BUSINESS, b))
        name = self.business_name(b)
        stem = name.split(" ")[0]
        created = START_MS + b * 3_600_000
        city, state, country, postal = rng.choice(CITIES)
        business = {
            "id": self.business_id(b),
            "name": name,
            "phone": f"+1555{rng.randint(1000000, 9999999)}",
            "email": f"hello{b}@{_ascii_slug(stem) or 'biz'}.example",
            "website": f"https://{_ascii_slug(stem) or 'biz'}{b}.example",
            "address": f"{rng.randint(1, 300)} Market Street",
            "city": city,
            "state": state,
            "country": country,
            "postalCode": postal,
            "description": rng.choice(("Wholesale partner", "Reseller", "")),
            "locationId": self.location_id,
            "createdAt": iso_ms(created),
            "updatedAt": iso_ms(created + rng.randint(0, 10**9)),
        }
        return business

    def businesses(self, skip: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """A page of businesses in index order."""
        stop = min(self.business_total, skip + limit)
        return [self.business(b) for b in range(max(skip, 0), stop)]

    def business_contacts(
        self, business_id: str, skip: int = 0, limit: int = 25
    ) -> tuple[list[dict[str, Any]], int] | None:
        """A page of the contacts linked to a business, and the linked total."""
        b = self.business_index(business_id)
        if b is None:
            return None
        linked: list[dict[str, Any]] = []
        if b < self.business_active:
            for i in range(b, self.size, self.business_active):
                if self.business_of(i) != b:
                    continue
                contact = self.contact(i)
                if contact is not None and contact.get("businessId") == business_id:
                    linked.append(contact)
        with self._lock:
            for contact_id, contact in self._overlay.items():
                fresh = self.contact_index(contact_id) is None
                if fresh and contact.get("businessId") == business_id:
                    linked.append(copy.deepcopy(contact))
        return linked[skip : skip + limit], len(linked)

    # ------------------------------------------------------------ custom fields

    def custom_fields(self) -> list[dict[str, Any]]:
        """The location's custom field definitions (contact model)."""
        fields = []
        for position, definition in enumerate(FIELD_DEFS):
            fields.append(
                {
                    "id": self.field_ids[definition.key],
                    "name": definition.name,
                    "fieldKey": f"contact.{definition.key}",
                    "placeholder": definition.name,
                    "dataType": definition.data_type,
                    "position": position * 50,
                    "picklistOptions": list(definition.options),
                    "locationId": self.location_id,
                    "model": "contact",
                }
            )
        return fields

    # ------------------------------------------------------------------ overlay

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Calls ``listener(event)`` after every overlay change."""
        self._listeners.append(listener)

    def set_clock(self, clock: Callable[[], int]) -> None:
        """Replaces the epoch-ms clock used to stamp overlay changes."""
        self._clock = clock

    def _emit(self, kind: str, entity_id: str, contact_id: str | None, data: Any):
        event = Event(kind, entity_id, contact_id, copy.deepcopy(data))
        for listener in list(self._listeners):
            listener(event)

    def _store(self, contact: dict[str, Any]) -> None:
        """Puts a contact in the overlay and its keys in the sorted lists."""
        contact_id = contact["id"]
        self._unstore(contact_id)
        ms = {
            "dateAdded": parse_ms(contact["dateAdded"]),
            "dateUpdated": parse_ms(contact["dateUpdated"]),
        }
        self._overlay[contact_id] = contact
        self._overlay_ms[contact_id] = ms
        for field, keys in self._by_field.items():
            bisect.insort(keys, (ms[field], contact_id))
        i = self.contact_index(contact_id)
        if i is not None and i not in self._hidden:
            bisect.insort(self._hidden, i)

    def _unstore(self, contact_id: str) -> None:
        ms = self._overlay_ms.pop(contact_id, None)
        self._overlay.pop(contact_id, None)
        if ms is not None:
            for field, keys in self._by_field.items():
                keys.remove((ms[field], contact_id))

    def _stamp(self, floor: int) -> int:
        """A change time after ``floor`` and after every earlier change."""
        self._last_stamp = max(self._clock(), floor + 1, self._last_stamp + 1)
        return self._last_stamp

    def create_contact(self, **fields: Any) -> dict[str, Any]:
        """Adds a contact stamped "now"; returns it. Fields use API names."""
        with self._lock:
            n = self.size + self._created
            self._created += 1
            now = self._stamp(START_MS + SPAN_MS)
            contact = {
                "id": self._contact_ids.encode(n),
                "locationId": self.location_id,
                "firstName": fields.get("firstName"),
                "lastName": fields.get("lastName"),
                "email": None,
                "phone": None,
                "tags": [],
                "customFields": [],
                "dateAdded": iso_ms(now),
                "dateUpdated": iso_ms(now),
            }
            contact.update(fields)
            self._store(contact)
        self._emit("ContactCreate", contact["id"], contact["id"], contact)
        return copy.deepcopy(contact)

    def update_contact(self, contact_id: str, **fields: Any) -> dict[str, Any]:
        """Changes fields of a contact and bumps ``dateUpdated`` to now.

        Raises:
            KeyError: the contact is unknown or deleted.
        """
        with self._lock:
            contact = self.get_contact(contact_id)
            if contact is None:
                raise KeyError(f"no live contact {contact_id!r}")
            contact.update(fields)
            previous = parse_ms(contact["dateUpdated"])
            contact["dateUpdated"] = iso_ms(self._stamp(previous))
            self._store(contact)
        self._emit("ContactUpdate", contact_id, contact_id, contact)
        return copy.deepcopy(contact)

    def delete_contact(self, contact_id: str) -> None:
        """Deletes a contact; it disappears from every endpoint.

        Raises:
            KeyError: the contact is unknown or already deleted.
        """
        with self._lock:
            contact = self.get_contact(contact_id)
            if contact is None:
                raise KeyError(f"no live contact {contact_id!r}")
            self._unstore(contact_id)
            self._deleted.add(contact_id)
            i = self.contact_index(contact_id)
            if i is not None and i not in self._hidden:
                bisect.insort(self._hidden, i)
        self._emit("ContactDelete", contact_id, contact_id, contact)

    def _own_tasks(self, contact_id: str) -> list[dict[str, Any]]:
        if contact_id not in self._tasks:
            i = self.contact_index(contact_id)
            count = 0 if i is None else self._task_count(i)
            self._tasks[contact_id] = [self._base_task(i, s) for s in range(count)]
        return self._tasks[contact_id]

    def _own_notes(self, contact_id: str) -> list[dict[str, Any]]:
        if contact_id not in self._notes:
            i = self.contact_index(contact_id)
            count = 0 if i is None else self._note_count(i)
            self._notes[contact_id] = [self._base_note(i, s) for s in range(count)]
        return self._notes[contact_id]

    def _new_id(self, kind: int) -> str:
        n = next(self._counter)
        return _IdCodec(self.seed, K_OVERLAY).encode(kind * 10**9 + n)

    def _task_owner(self, task_id: str) -> tuple[str, dict[str, Any]]:
        n = self._task_ids.decode(task_id)
        candidates = [self.contact_id(n // SLOTS)] if n is not None else []
        candidates += list(self._tasks)
        for contact_id in candidates:
            if self.get_contact(contact_id) is None:
                continue
            for task in self._own_tasks(contact_id):
                if task["id"] == task_id:
                    return contact_id, task
        raise KeyError(f"no task {task_id!r}")

    def add_task(
        self,
        contact_id: str,
        title: str = "New task",
        *,
        body: str | None = None,
        due_date: str | None = None,
        completed: bool = False,
        assigned_to: str | None = None,
    ) -> dict[str, Any]:
        """Adds a task to a contact; returns it.

        Raises:
            KeyError: the contact is unknown or deleted.
        """
        with self._lock:
            if self.get_contact(contact_id) is None:
                raise KeyError(f"no live contact {contact_id!r}")
            task = {
                "id": self._new_id(K_TASK),
                "title": title,
                "body": body,
                "assignedTo": assigned_to,
                "dueDate": due_date or iso_ms(self._clock() + 86_400_000),
                "completed": completed,
                "contactId": contact_id,
            }
            self._own_tasks(contact_id).append(task)
        self._emit("TaskCreate", task["id"], contact_id, task)
        return dict(task)

    def complete_task(self, task_id: str, completed: bool = True) -> dict[str, Any]:
        """Marks a task completed (or not); returns it.

        Raises:
            KeyError: the task is unknown.
        """
        with self._lock:
            contact_id, task = self._task_owner(task_id)
            task["completed"] = completed
        self._emit("TaskComplete", task_id, contact_id, task)
        return dict(task)

    def delete_task(self, task_id: str) -> None:
        """Deletes a task.

        Raises:
            KeyError: the task is unknown.
        """
        with self._lock:
            contact_id, task = self._task_owner(task_id)
            self._tasks[contact_id].remove(task)
        self._emit("TaskDelete", task_id, contact_id, task)

    def add_note(
        self, contact_id: str, body: str = "New note", *, user_id: str | None = None
    ) -> dict[str, Any]:
        """Adds a note to a contact; returns it.

        Raises:
            KeyError: the contact is unknown or deleted.
        """
        with self._lock:
            if self.get_contact(contact_id) is None:
                raise KeyError(f"no live contact {contact_id!r}")
            note = {
                "id": self._new_id(K_NOTE),
                "body": body,
                "dateAdded": iso_ms(self._clock()),
                "contactId": contact_id,
            }
            if user_id is not None:
                note["userId"] = user_id
            self._own_notes(contact_id).append(note)
        self._emit("NoteCreate", note["id"], contact_id, note)
        return dict(note)

    def delete_note(self, note_id: str) -> None:
        """Deletes a note.

        Raises:
            KeyError: the note is unknown.
        """
        with self._lock:
            n = self._note_ids.decode(note_id)
            candidates = [self.contact_id(n // SLOTS)] if n is not None else []
            for contact_id in candidates + list(self._notes):
                if self.get_contact(contact_id) is None:
                    continue
                notes = self._own_notes(contact_id)
                for note in notes:
                    if note["id"] == note_id:
                        notes.remove(note)
                        break
                else:
                    continue
                break
            else:
                raise KeyError(f"no note {note_id!r}")
        self._emit("NoteDelete", note_id, contact_id, note)
