"""The suites of the gate: one per table, named after it.

A suite reads its table through one or more frames. A frame is a SQL query that
returns the table's rows (or, for a reconciliation, one row per location) together
with the columns the checks judge; set-based facts that no single chunk can see,
such as how many rows share a key or whether a contact exists, are computed there
in SQL, and Great Expectations judges every row of the result chunk by chunk.

The field mappings of `concord_contacts` are the exception: SQL keeps only the
rows where a mapped field differs from its cleaned source, and Great Expectations
judges those pairs (see `_mapped_pair`).

Every frame has a `row_key` column, the readable key the gate reports failing rows
by. Severities live in `severity.yml`, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import great_expectations.expectations as gxe

from expectations.warehouse import quote
from transforms.contract import RAW_TABLES

RAW = "raw"
MART = "mart"

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"
# GHL sends dateOfBirth as a date, sometimes with a time; never strftime (case R38).
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
LIFECYCLE_STAGES = ("new", "engaged", "active", "dormant", "deleted")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

# The raw contract of docs/architecture.md, shared with the transforms: columns
# the source may leave out (dlt creates a column only once a non-null value
# arrives) are read as typed nulls.
RAW_COLUMNS = RAW_TABLES


@dataclass(frozen=True)
class SqlContext:
    """What a frame's SQL is written against."""

    raw_schema: str
    analytics_schema: str
    raw_columns: Mapping[str, list[str]]
    api_totals: Mapping[str, int] | None
    now: datetime

    def raw(self, table: str) -> str:
        """A subquery with every contract column of a raw table, typed.

        Present columns are cast to their contract type too, so a phone that
        arrived as a number is validated as text (case R29).
        """
        present = set(self.raw_columns.get(table) or ())
        items = [
            f"cast({name if name in present else 'null'} as {kind}) as {name}"
            for name, kind in RAW_COLUMNS[table].items()
        ]
        return f"(select {', '.join(items)} from {self.raw_schema}.{table})"

    def mart(self, table: str) -> str:
        return f"{self.analytics_schema}.{table}"


@dataclass(frozen=True)
class Check:
    """One expectation: its name within the suite, GX class and arguments.

    Argument values that are callables are called with the `SqlContext` at run time
    (for bounds that depend on "now").
    """

    name: str
    expectation: type[gxe.Expectation]
    kwargs: Mapping[str, Any]

    @property
    def columns(self) -> tuple[str, ...]:
        """The frame columns this check reads."""
        keys = ("column", "column_A", "column_B")
        return tuple(self.kwargs[key] for key in keys if key in self.kwargs)

    def build(self, ctx: SqlContext, severity: str) -> gxe.Expectation:
        kwargs = {
            key: value(ctx) if callable(value) else value
            for key, value in self.kwargs.items()
        }
        return self.expectation(
            **kwargs, meta={"check": self.name, "severity": severity}
        )


@dataclass(frozen=True)
class Frame:
    """A query and the checks judged on its rows; `name` is the GX suite name."""

    name: str
    sql: Callable[[SqlContext], str]
    checks: tuple[Check, ...]
    skip_reason: Callable[[SqlContext], str | None] = lambda ctx: None


@dataclass(frozen=True)
class Suite:
    """The checks of one table.

    `required`: a missing table fails the gate; otherwise the suite is skipped with
    a note (a raw table of a resource that was switched off is never created).
    """

    table: str
    layer: str
    frames: tuple[Frame, ...]
    required: bool = True
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(check.name for frame in self.frames for check in frame.checks)
        object.__setattr__(self, "names", names)


# --- check builders -------------------------------------------------------------


def not_null(column: str) -> Check:
    return Check(f"{column}_not_null", gxe.ExpectColumnValuesToNotBeNull, {
        "column": column,
    })  # fmt: skip


def key_checks(keys: tuple[str, ...]) -> tuple[Check, ...]:
    unique = Check("key_unique", gxe.ExpectColumnValuesToBeBetween, {
        "column": "key_rows", "max_value": 1,
    })  # fmt: skip
    return (*(not_null(key) for key in keys), unique)


def in_range(column: str, days_ahead: int = 1) -> Check:
    return Check(f"{column}_in_range", gxe.ExpectColumnValuesToBeBetween, {
        "column": column,
        "min_value": EARLIEST,
        "max_value": lambda ctx: ctx.now + timedelta(days=days_ahead),
    })  # fmt: skip


def boolean(column: str) -> Check:
    return Check(f"{column}_is_boolean", gxe.ExpectColumnValuesToBeInSet, {
        "column": column, "value_set": [True, False],
    })  # fmt: skip


def between(name: str, column: str, low: float, high: float | None) -> Check:
    kwargs: dict[str, Any] = {"column": column, "min_value": low}
    if high is not None:
        kwargs["max_value"] = high
    return Check(name, gxe.ExpectColumnValuesToBeBetween, kwargs)


def not_negative(column: str) -> Check:
    return between(f"{column}_not_negative", column, 0, None)


def equal_pair(name: str, column_a: str, column_b: str) -> Check:
    return Check(name, gxe.ExpectColumnPairValuesToBeEqual, {
        "column_A": column_a,
        "column_B": column_b,
        "ignore_row_if": "both_values_are_missing",
    })  # fmt: skip


def matches(name: str, column: str, regex: str) -> Check:
    return Check(name, gxe.ExpectColumnValuesToMatchRegex, {
        "column": column, "regex": regex,
    })  # fmt: skip


def in_set(name: str, column: str, values: tuple[str, ...]) -> Check:
    return Check(name, gxe.ExpectColumnValuesToBeInSet, {
        "column": column, "value_set": list(values),
    })  # fmt: skip


def is_null(name: str, column: str) -> Check:
    return Check(name, gxe.ExpectColumnValuesToBeNull, {"column": column})


# --- SQL helpers ----------------------------------------------------------------


def row_key(*columns: str) -> str:
    parts = [f"coalesce(cast({column} as text), '?')" for column in columns]
    return " || '/' || ".join(parts) + " as row_key"


def key_rows(*columns: str) -> str:
    """Rows sharing this row's key; null when part of the key is null."""
    present = " and ".join(f"{column} is not null" for column in columns)
    window = ", ".join(columns)
    return (
        f"case when {present} then count(*) over (partition by {window}) end "
        "as key_rows"
    )


def live(alias: str = "") -> str:
    """A contact, task or note that the source has not marked deleted."""
    prefix = f"{alias}." if alias else ""
    return f"not coalesce({prefix}is_deleted, false) and {prefix}deleted_at is null"


def contact_keys(ctx: SqlContext) -> str:
    return (
        "(select distinct location_id, id as loaded_contact_id "
        f"from {ctx.raw('contacts')} as c where id is not null)"
    )


def plain_columns(checks: tuple[Check, ...], *computed: str) -> str:
    """The table columns the checks read, for a frame as narrow as its checks.

    Great Expectations filters the whole frame for every expectation, so an unread
    column costs time on every check.
    """
    names = dict.fromkeys(c for check in checks for c in check.columns)
    return ", ".join(f"t.{c}" for c in names if c not in {*computed, "key_rows"})


def keyed_frame(table: str, keys: tuple[str, ...], extra: tuple[Check, ...] = ()):
    """The frame of a raw table judged on its key and on plain columns only."""
    checks = (*key_checks(keys), *extra)

    def sql(ctx: SqlContext) -> str:
        return (
            f"select {row_key(*keys)}, {key_rows(*keys)}, {plain_columns(checks)} "
            f"from {ctx.raw(table)} as t"
        )

    return Frame(table, sql, checks)


# --- raw tables -----------------------------------------------------------------


def _contacts_sql(ctx: SqlContext) -> str:
    digits = "regexp_replace(trim(phone), '[^0-9]', '', 'g')"
    return f"""
with raw_contacts as (
    select
        *,
        {live()} as is_live,
        nullif(lower(trim(email)), '') as email_norm,
        {digits} as phone_digits
    from {ctx.raw("contacts")} as c
),
contacts as (
    select
        *,
        coalesce(
            {phone_e164("phone", "phone_digits")}, nullif(trim(phone), '')
        ) as phone_norm
    from raw_contacts
),
emails as (
    select location_id, email_norm, count(distinct id) as count_contacts
    from contacts
    where is_live and email_norm is not null
    group by location_id, email_norm
),
phones as (
    select location_id, phone_norm, count(distinct id) as count_contacts
    from contacts
    where is_live and phone_norm is not null
    group by location_id, phone_norm
)
select
    {row_key("c.location_id", "c.id")},
    c.id,
    c.location_id,
    {key_rows("c.id", "c.location_id")},
    c.date_added,
    c.date_updated,
    c.deleted_at,
    c.date_of_birth,
    c.dnd,
    c.is_deleted,
    case when emails.count_contacts > 1 then emails.email_norm end
        as shared_email,
    case when phones.count_contacts > 1 then phones.phone_norm end
        as shared_phone,
    case when c.is_live then
        coalesce(c.email_norm, nullif(trim(c.phone), ''), '')
    end as email_or_phone
from contacts as c
left join emails
    on c.is_live
    and c.location_id = emails.location_id
    and c.email_norm = emails.email_norm
left join phones
    on c.is_live
    and c.location_id = phones.location_id
    and c.phone_norm = phones.phone_norm
"""


def _totals_sql(ctx: SqlContext) -> str:
    assert ctx.api_totals
    values = ", ".join(
        f"({quote(location)}, cast({int(total)} as bigint))"
        for location, total in sorted(ctx.api_totals.items())
    )
    return f"""
with loaded as (
    select location_id, count(distinct id) as count_loaded
    from {ctx.raw("contacts")} as c
    where {live()}
    group by location_id
),
api as (
    select * from (values {values}) as api_totals (location_id, api_total)
)
select
    api.location_id as row_key,
    api.location_id,
    api.api_total,
    coalesce(loaded.count_loaded, 0) as count_loaded
from api
left join loaded on api.location_id = loaded.location_id
"""


def _no_totals(ctx: SqlContext) -> str | None:
    if not ctx.api_totals:
        return "api totals unknown for this run; contacts_equal_api_total skipped"
    return None


def _child_of_contact_sql(
    table: str, checks: tuple[Check, ...]
) -> Callable[[SqlContext], str]:
    def sql(ctx: SqlContext) -> str:
        keys = ("t.location_id", "t.id")
        return f"""
select
    {row_key(*keys)},
    {key_rows(*keys)},
    {plain_columns(checks, "loaded_contact_id")},
    c.loaded_contact_id
from {ctx.raw(table)} as t
left join {contact_keys(ctx)} as c
    on t.location_id = c.location_id and t.contact_id = c.loaded_contact_id
"""

    return sql


def _business_contacts_sql(ctx: SqlContext) -> str:
    keys = ("t.location_id", "t.business_id", "t.contact_id")
    return f"""
select
    {row_key(*keys)},
    {key_rows(*keys)},
    t.location_id,
    t.business_id,
    t.contact_id,
    b.loaded_business_id
from {ctx.raw("business_contacts")} as t
left join (
    select distinct location_id, id as loaded_business_id
    from {ctx.raw("businesses")} as b
    where id is not null
) as b
    on t.location_id = b.location_id and t.business_id = b.loaded_business_id
where not coalesce(t._replace_marker, false)
"""


def _business_counts_sql(ctx: SqlContext) -> str:
    keys = ("t.location_id", "t.business_id")
    return f"""
with links as (
    select location_id, business_id, count(distinct contact_id) as count_linked
    from {ctx.raw("business_contacts")} as l
    where not coalesce(_replace_marker, false)
    group by location_id, business_id
)
select
    {row_key(*keys)},
    {key_rows(*keys)},
    t.location_id,
    t.business_id,
    t.api_contact_count,
    t.fetched_at,
    coalesce(links.count_linked, 0) as count_linked
from {ctx.raw("business_contact_counts")} as t
left join links
    on t.location_id = links.location_id and t.business_id = links.business_id
"""


def _raw_suites() -> tuple[Suite, ...]:
    contacts = Frame("contacts", _contacts_sql, (
        *key_checks(("location_id", "id")),
        in_range("date_added"),
        in_range("date_updated"),
        in_range("deleted_at"),
        matches("date_of_birth_format", "date_of_birth", DATE_PATTERN),
        boolean("dnd"),
        boolean("is_deleted"),
        is_null("duplicate_email", "shared_email"),
        is_null("duplicate_phone", "shared_phone"),
        Check("has_email_or_phone", gxe.ExpectColumnValuesToNotBeInSet, {
            "column": "email_or_phone", "value_set": [""],
        }),
    ))  # fmt: skip
    totals = Frame(
        "contacts.api_totals",
        _totals_sql,
        (equal_pair("contacts_equal_api_total", "count_loaded", "api_total"),),
        skip_reason=_no_totals,
    )
    task_checks = (
        *key_checks(("location_id", "id")),
        not_null("contact_id"),
        equal_pair("contact_exists", "contact_id", "loaded_contact_id"),
        not_null("completed"),
        boolean("completed"),
        boolean("is_deleted"),
        in_range("due_date", days_ahead=3660),
        in_range("deleted_at"),
    )  # fmt: skip
    tasks = Frame("tasks", _child_of_contact_sql("tasks", task_checks), task_checks)
    note_checks = (
        *key_checks(("location_id", "id")),
        not_null("contact_id"),
        equal_pair("contact_exists", "contact_id", "loaded_contact_id"),
        boolean("is_deleted"),
        in_range("date_added"),
        in_range("deleted_at"),
    )  # fmt: skip
    notes = Frame("notes", _child_of_contact_sql("notes", note_checks), note_checks)
    business_contacts = Frame("business_contacts", _business_contacts_sql, (
        *key_checks(("location_id", "business_id", "contact_id")),
        equal_pair("business_exists", "business_id", "loaded_business_id"),
    ))  # fmt: skip
    counts = Frame("business_contact_counts", _business_counts_sql, (
        *key_checks(("location_id", "business_id")),
        not_negative("api_contact_count"),
        equal_pair("count_equals_links", "api_contact_count", "count_linked"),
        in_range("fetched_at"),
    ))  # fmt: skip
    return (
        Suite("contacts", RAW, (contacts, totals)),
        Suite("contact_tags", RAW, (
            keyed_frame("contact_tags", ("location_id", "contact_id", "tag")),
        ), required=False),
        Suite("contact_custom_fields", RAW, (
            keyed_frame(
                "contact_custom_fields", ("location_id", "contact_id", "field_id")
            ),
        ), required=False),
        Suite("contact_additional_emails", RAW, (
            keyed_frame(
                "contact_additional_emails", ("location_id", "contact_id", "email")
            ),
        ), required=False),
        Suite("tasks", RAW, (tasks,), required=False),
        Suite("notes", RAW, (notes,), required=False),
        Suite("businesses", RAW, (
            keyed_frame("businesses", ("location_id", "id"), (
                in_range("created_at"), in_range("updated_at"),
            )),
        ), required=False),
        Suite("business_contacts", RAW, (business_contacts,), required=False),
        Suite("business_contact_counts", RAW, (counts,), required=False),
        Suite("custom_fields", RAW, (
            keyed_frame("custom_fields", ("location_id", "id")),
        ), required=False),
    )  # fmt: skip


# --- marts ----------------------------------------------------------------------


# concord_contacts column -> the raw contacts expression it maps, after the
# cleaning documented in transforms/mapping.yml: text is trimmed and an empty
# string becomes null, the email is lowercased, the phone is E.164 by the rule of
# docs/metrics.md, a missing flag is false.
def phone_e164(phone: str, digits: str | None = None) -> str:
    """The E.164 form of a phone expression by the rule of docs/metrics.md, or null.

    `digits`: an expression already holding the phone's digits, when there is one.
    """
    digits = digits or f"regexp_replace(trim({phone}), '[^0-9]', '', 'g')"
    return f"""case
        when left(trim({phone}), 1) = '+' and length({digits}) between 8 and 15
            then '+' || {digits}
        when left(trim({phone}), 1) = '+' then null
        when length({digits}) = 10 then '+1' || {digits}
        when length({digits}) = 11 and left({digits}, 1) = '1' then '+' || {digits}
    end"""


def _clean(column: str) -> str:
    return f"nullif(trim(s.{column}), '')"


MAPPED_FIELDS: dict[str, str] = {
    "first_name": _clean("first_name"),
    "last_name": _clean("last_name"),
    "full_name": (
        f"coalesce({_clean('contact_name')}, nullif(trim("
        f"coalesce({_clean('first_name')}, '') || ' ' || "
        f"coalesce({_clean('last_name')}, '')), ''))"
    ),
    "email": "nullif(lower(trim(s.email)), '')",
    "phone": phone_e164("s.phone", "s.phone_digits"),
    "phone_raw": _clean("phone"),
    "business_external_id": _clean("business_id"),
    "owner_external_id": _clean("assigned_to"),
    "address_line1": _clean("address"),
    "city": _clean("city"),
    "state": _clean("state"),
    "postal_code": _clean("postal_code"),
    "country": _clean("country"),
    "time_zone": _clean("timezone"),
    "website": _clean("website"),
    "lead_source": _clean("source"),
    "contact_type": _clean("type"),
    "is_do_not_contact": "coalesce(s.dnd, false)",
    "created_at": "s.date_added",
    "updated_at": "s.date_updated",
    "is_deleted": "coalesce(s.is_deleted, false) or s.deleted_at is not null",
    "deleted_at": "s.deleted_at",
}
MAPPED_TIMESTAMPS = ("created_at", "updated_at", "deleted_at")


def _as_text(column: str, expression: str) -> str:
    # Timestamps are compared as their text in the session's time zone (UTC): pandas
    # warns on comparing tz-aware columns through `Series.values` (pandas 3.1).
    if column in MAPPED_TIMESTAMPS:
        return f"cast({expression} as text)"
    return expression


def _mapped_pair(column: str, source: str) -> str:
    """The source and mapped values of a field, on rows where they differ only.

    A million-row mart carries 22 mapped fields; passing every value pair through
    pandas would cost the gate most of its time budget, so SQL keeps the candidate
    rows (`is distinct from`) and Great Expectations judges those.
    """
    source, mapped = _as_text(column, source), _as_text(column, f"m.{column}")
    differs = f"m.mart_rows > 0 and ({source}) is distinct from {mapped}"
    return (
        f"case when {differs} then {source} end as source_{column},\n"
        f"    case when {differs} then {mapped} end as mapped_{column}"
    )


def _concord_contacts_sql(ctx: SqlContext) -> str:
    cleaned_fields = ",\n        ".join(
        f"{expression} as source_{column}"
        for column, expression in MAPPED_FIELDS.items()
    )
    pairs = ",\n    ".join(
        _mapped_pair(column, f"s.source_{column}") for column in MAPPED_FIELDS
    )
    return f"""
with ranked_source as (
    select
        c.*,
        row_number() over (
            partition by location_id, id
            order by date_updated desc nulls last, _dlt_load_id desc nulls last
        ) as row_num
    from {ctx.raw("contacts")} as c
    where id is not null and location_id is not null
),
source as (
    select
        *,
        regexp_replace(trim(phone), '[^0-9]', '', 'g') as phone_digits
    from ranked_source
    where row_num = 1
),
cleaned as (
    select
        s.location_id,
        s.id,
        {live("s")} as is_live,
        {cleaned_fields}
    from source as s
),
ranked_mart as (
    select
        m.*,
        count(*) over (partition by location_id, external_id) as mart_rows,
        row_number() over (partition by location_id, external_id) as row_num
    from {ctx.mart("concord_contacts")} as m
),
mart as (
    select * from ranked_mart where row_num = 1
)
select
    coalesce(m.location_id, s.location_id, '?') || '/'
        || coalesce(m.external_id, s.id, '?') as row_key,
    case when m.mart_rows is null then s.location_id else m.location_id end
        as location_id,
    case when m.mart_rows is null then s.id else m.external_id end
        as external_id,
    m.mart_rows as key_rows,
    case when s.is_live then coalesce(m.mart_rows, 0) end
        as live_contact_rows,
    m.lifecycle_stage,
    m.engagement_score,
    m.last_activity_at,
    m.email,
    m.phone,
    m.created_at,
    m.updated_at,
    m.deleted_at,
    {pairs}
from cleaned as s
full outer join mart as m
    on s.location_id = m.location_id and s.id = m.external_id
"""


def mart_frame(table: str, keys: tuple[str, ...], extra: tuple[Check, ...]) -> Frame:
    """The frame of a mart judged on its key and on plain columns."""
    checks = (*key_checks(keys), *extra)

    def sql(ctx: SqlContext) -> str:
        return (
            f"select {row_key(*keys)}, {key_rows(*keys)}, {plain_columns(checks)} "
            f"from {ctx.mart(table)} as t"
        )

    return Frame(table, sql, checks)


def _mart_suites() -> tuple[Suite, ...]:
    mapped = tuple(
        equal_pair(f"{column}_mapped", f"source_{column}", f"mapped_{column}")
        for column in MAPPED_FIELDS
    )
    concord = Frame("concord_contacts", _concord_contacts_sql, (
        not_null("location_id"),
        not_null("external_id"),
        Check("key_unique", gxe.ExpectColumnValuesToBeBetween, {
            "column": "key_rows", "max_value": 1,
        }),
        between("live_contact_mapped_once", "live_contact_rows", 1, 1),
        *mapped,
        matches("email_format", "email", EMAIL_PATTERN),
        matches("phone_e164", "phone", E164_PATTERN),
        in_range("created_at"),
        in_range("updated_at"),
        in_range("deleted_at"),
        in_set("lifecycle_stage_known", "lifecycle_stage", LIFECYCLE_STAGES),
        between("engagement_score_in_bounds", "engagement_score", 0, 100),
    ))  # fmt: skip
    contact_keys = ("location_id", "contact_id")
    engagement = mart_frame(
        "contact_engagement",
        contact_keys,
        (
            between("engagement_score_in_bounds", "engagement_score", 0, 100),
            between("task_completion_rate_in_bounds", "task_completion_rate", 0, 1),
            not_negative("count_tasks"),
            not_negative("count_tasks_open"),
            not_negative("count_tasks_completed"),
            not_negative("count_tasks_overdue"),
            not_negative("count_notes"),
            in_range("last_activity_at"),
        ),
    )
    lifecycle = mart_frame(
        "contact_lifecycle",
        contact_keys,
        (
            in_set("lifecycle_stage_known", "lifecycle_stage", LIFECYCLE_STAGES),
            not_null("lifecycle_stage"),
            not_negative("days_in_stage"),
            in_range("added_at"),
        ),
    )
    business_keys = ("location_id", "business_id")
    business = mart_frame(
        "business_engagement",
        business_keys,
        (
            between("avg_engagement_score_in_bounds", "avg_engagement_score", 0, 100),
            not_negative("count_contacts_linked"),
            not_negative("count_contacts_loaded"),
            not_negative("count_tasks_open"),
            not_negative("count_notes"),
        ),
    )
    daily_keys = ("snapshot_date", "location_id", "lifecycle_stage")
    daily = mart_frame(
        "engagement_daily",
        daily_keys,
        (
            in_set("lifecycle_stage_known", "lifecycle_stage", LIFECYCLE_STAGES),
            not_negative("count_contacts"),
            between("avg_engagement_score_in_bounds", "avg_engagement_score", 0, 100),
        ),
    )
    return (
        Suite("concord_contacts", MART, (concord,)),
        Suite("contact_engagement", MART, (engagement,)),
        Suite("contact_lifecycle", MART, (lifecycle,)),
        Suite("business_engagement", MART, (business,)),
        Suite("engagement_daily", MART, (daily,)),
    )


SUITES: tuple[Suite, ...] = (*_raw_suites(), *_mart_suites())
