"""Raw tables and marts for the gate's tests, built directly with DDL and inserts.

`clean_tables()` returns rows that pass every suite; a test plants one fault by
editing the rows before `write()`. Marts are written by hand here (the transforms
live on another branch) with the columns of transforms/mapping.yml and the mart
models.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

TEXT = "text"
BOOL = "boolean"
TS = "timestamp with time zone"
BIGINT = "bigint"
INT = "integer"
DOUBLE = "double precision"
DATE = "date"

RAW_TABLES: dict[str, dict[str, str]] = {
    "contacts": {
        "id": TEXT, "location_id": TEXT, "first_name": TEXT, "last_name": TEXT,
        "contact_name": TEXT, "email": TEXT, "phone": TEXT, "phone_label": TEXT,
        "company_name": TEXT, "business_name": TEXT, "business_id": TEXT,
        "assigned_to": TEXT, "source": TEXT, "type": TEXT, "dnd": BOOL,
        "timezone": TEXT, "website": TEXT, "address": TEXT, "city": TEXT,
        "state": TEXT, "country": TEXT, "postal_code": TEXT,
        "date_of_birth": TEXT, "date_added": TS, "date_updated": TS,
        "is_deleted": BOOL, "deleted_at": TS, "_dlt_load_id": TEXT,
        "_dlt_id": TEXT,
    },
    "contact_tags": {
        "location_id": TEXT, "contact_id": TEXT, "tag": TEXT,
        "_replace_marker": BOOL,
    },
    "contact_custom_fields": {
        "location_id": TEXT, "contact_id": TEXT, "field_id": TEXT,
        "value_text": TEXT, "_replace_marker": BOOL,
    },
    "contact_additional_emails": {
        "location_id": TEXT, "contact_id": TEXT, "email": TEXT,
        "_replace_marker": BOOL,
    },
    "tasks": {
        "id": TEXT, "location_id": TEXT, "contact_id": TEXT, "title": TEXT,
        "body": TEXT, "assigned_to": TEXT, "due_date": TS, "completed": BOOL,
        "is_deleted": BOOL, "deleted_at": TS,
    },
    "notes": {
        "id": TEXT, "location_id": TEXT, "contact_id": TEXT, "title": TEXT,
        "body": TEXT, "user_id": TEXT, "date_added": TS, "is_deleted": BOOL,
        "deleted_at": TS,
    },
    "businesses": {
        "id": TEXT, "location_id": TEXT, "name": TEXT, "phone": TEXT,
        "email": TEXT, "created_at": TS, "updated_at": TS,
    },
    "business_contacts": {
        "location_id": TEXT, "business_id": TEXT, "contact_id": TEXT,
        "_replace_marker": BOOL,
    },
    "business_contact_counts": {
        "location_id": TEXT, "business_id": TEXT, "api_contact_count": BIGINT,
        "fetched_at": TS,
    },
    "custom_fields": {
        "id": TEXT, "location_id": TEXT, "name": TEXT, "field_key": TEXT,
        "data_type": TEXT, "model": TEXT, "position": BIGINT,
    },
}  # fmt: skip

MART_TABLES: dict[str, dict[str, str]] = {
    "concord_contacts": {
        "external_id": TEXT, "external_source": TEXT, "location_id": TEXT,
        "first_name": TEXT, "last_name": TEXT, "full_name": TEXT, "email": TEXT,
        "is_duplicate_email": BOOL, "phone": TEXT, "phone_raw": TEXT,
        "company_name": TEXT, "business_external_id": TEXT,
        "owner_external_id": TEXT, "tags": TEXT, "custom_fields_json": TEXT,
        "address_line1": TEXT, "city": TEXT, "state": TEXT, "postal_code": TEXT,
        "country": TEXT, "time_zone": TEXT, "website": TEXT, "lead_source": TEXT,
        "contact_type": TEXT, "is_do_not_contact": BOOL, "lifecycle_stage": TEXT,
        "engagement_score": INT, "last_activity_at": TS, "created_at": TS,
        "updated_at": TS, "is_deleted": BOOL, "deleted_at": TS,
    },
    "contact_engagement": {
        "location_id": TEXT, "contact_id": TEXT, "is_deleted": BOOL,
        "count_tasks": BIGINT, "count_tasks_open": BIGINT,
        "count_tasks_completed": BIGINT, "count_tasks_overdue": BIGINT,
        "task_completion_rate": "decimal(5, 4)", "count_notes": BIGINT,
        "last_activity_at": TS, "days_since_last_activity": INT,
        "engagement_score": INT,
    },
    "contact_lifecycle": {
        "location_id": TEXT, "contact_id": TEXT, "is_deleted": BOOL,
        "added_at": TS, "cohort_month": DATE, "last_activity_at": TS,
        "lifecycle_stage": TEXT, "stage_entered_at": TS, "days_in_stage": INT,
    },
    "business_engagement": {
        "location_id": TEXT, "business_id": TEXT, "business_name": TEXT,
        "api_contact_count": BIGINT, "count_contacts_linked": BIGINT,
        "count_contacts_loaded": BIGINT, "count_tasks_open": BIGINT,
        "count_notes": BIGINT, "avg_engagement_score": "decimal(5, 2)",
    },
    "engagement_daily": {
        "snapshot_date": DATE, "location_id": TEXT, "lifecycle_stage": TEXT,
        "count_contacts": BIGINT, "count_tasks_open": BIGINT,
        "avg_engagement_score": "decimal(5, 2)",
    },
}  # fmt: skip

LOC = "loc_1"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
STAGES = ("new", "engaged", "active", "dormant", "deleted")


def _ts(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _contact(i: int, **changes: Any) -> dict[str, Any]:
    row = {
        "id": f"c{i}", "location_id": LOC, "first_name": f" Ann{i} ",
        "last_name": f"Lee{i}", "contact_name": None,
        "email": f" Ann{i}@Example.com ", "phone": f"(555) 010-00{i:02d}",
        "phone_label": "mobile", "company_name": "Acme", "business_name": None,
        "business_id": "b1" if i <= 2 else None, "assigned_to": "u1",
        "source": "web", "type": "lead", "dnd": i == 2, "timezone": "UTC",
        "website": None, "address": "1 Main St", "city": "Springfield",
        "state": "IL", "country": "US", "postal_code": "62701",
        "date_of_birth": "1990-04-0" + str(i), "date_added": _ts("2024-01-01"),
        "date_updated": _ts("2024-02-01"), "is_deleted": False,
        "deleted_at": None, "_dlt_load_id": "1700000000.1", "_dlt_id": f"d{i}",
    }  # fmt: skip
    row.update(changes)
    return row


def _clean_text(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _e164(phone: str | None) -> str | None:
    if phone is None:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+"):
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


def concord_row(contact: dict[str, Any]) -> dict[str, Any]:
    """The concord_contacts row of a raw contact, by the rules of mapping.yml."""
    first, last = _clean_text(contact["first_name"]), _clean_text(contact["last_name"])
    full = _clean_text(contact["contact_name"]) or (
        " ".join(p for p in (first, last) if p) or None
    )
    email = contact["email"].strip().lower() or None if contact["email"] else None
    deleted = bool(contact["is_deleted"]) or contact["deleted_at"] is not None
    return {
        "external_id": contact["id"], "external_source": "gohighlevel",
        "location_id": contact["location_id"], "first_name": first,
        "last_name": last, "full_name": full, "email": email,
        "is_duplicate_email": False, "phone": _e164(contact["phone"]),
        "phone_raw": _clean_text(contact["phone"]),
        "company_name": _clean_text(contact["company_name"]),
        "business_external_id": _clean_text(contact["business_id"]),
        "owner_external_id": _clean_text(contact["assigned_to"]),
        "tags": "[]", "custom_fields_json": "{}",
        "address_line1": _clean_text(contact["address"]),
        "city": _clean_text(contact["city"]), "state": _clean_text(contact["state"]),
        "postal_code": _clean_text(contact["postal_code"]),
        "country": _clean_text(contact["country"]),
        "time_zone": _clean_text(contact["timezone"]),
        "website": _clean_text(contact["website"]),
        "lead_source": _clean_text(contact["source"]),
        "contact_type": _clean_text(contact["type"]),
        "is_do_not_contact": bool(contact["dnd"]),
        "lifecycle_stage": "deleted" if deleted else "active",
        "engagement_score": 0 if deleted else 40,
        "last_activity_at": _ts("2025-05-20"),
        "created_at": contact["date_added"], "updated_at": contact["date_updated"],
        "is_deleted": deleted, "deleted_at": contact["deleted_at"],
    }  # fmt: skip


def clean_tables() -> dict[str, list[dict[str, Any]]]:
    """Rows of every raw table and mart that pass every suite.

    Location `loc_1` has four live contacts (c1-c4) and one deleted (c5).
    """
    contacts = [_contact(i) for i in range(1, 5)]
    contacts.append(
        _contact(5, is_deleted=True, deleted_at=_ts("2024-03-01"), email=None)
    )
    tables: dict[str, list[dict[str, Any]]] = {
        "contacts": contacts,
        "contact_tags": [
            {"location_id": LOC, "contact_id": "c1", "tag": t,
             "_replace_marker": False} for t in ("vip", "lead")
        ],
        "contact_custom_fields": [
            {"location_id": LOC, "contact_id": "c1", "field_id": "cf1",
             "value_text": "Gold", "_replace_marker": False},
            {"location_id": LOC, "contact_id": "c2", "field_id": "cf1",
             "value_text": "42", "_replace_marker": False},
        ],
        "contact_additional_emails": [
            {"location_id": LOC, "contact_id": "c1", "email": "b@x.com",
             "_replace_marker": False},
        ],
        "tasks": [
            {"id": f"t{i}", "location_id": LOC, "contact_id": cid,
             "title": "Call", "body": None, "assigned_to": "u1",
             "due_date": _ts("2025-07-01"), "completed": done,
             "is_deleted": False, "deleted_at": None}
            for i, (cid, done) in enumerate(
                (("c1", True), ("c1", False), ("c2", False)), start=1
            )
        ],
        "notes": [
            # user_id is optional in GHL notes (case R15).
            {"id": "n1", "location_id": LOC, "contact_id": "c1", "title": None,
             "body": "hi", "user_id": "u1", "date_added": _ts("2025-05-20"),
             "is_deleted": False, "deleted_at": None},
            {"id": "n2", "location_id": LOC, "contact_id": "c3", "title": None,
             "body": "yo", "user_id": None, "date_added": _ts("2025-05-21"),
             "is_deleted": False, "deleted_at": None},
        ],
        "businesses": [
            {"id": b, "location_id": LOC, "name": f"Biz {b}", "phone": None,
             "email": None, "created_at": _ts("2023-01-01"),
             "updated_at": _ts("2023-06-01")}
            for b in ("b1", "b2")
        ],
        "business_contacts": [
            {"location_id": LOC, "business_id": b, "contact_id": c,
             "_replace_marker": False}
            for b, c in (("b1", "c1"), ("b1", "c2"), ("b2", "c3"))
        ],
        "business_contact_counts": [
            {"location_id": LOC, "business_id": b, "api_contact_count": n,
             "fetched_at": _ts("2025-05-31")}
            for b, n in (("b1", 2), ("b2", 1))
        ],
        "custom_fields": [
            {"id": "cf1", "location_id": LOC, "name": "Tier", "field_key":
             "contact.tier", "data_type": "TEXT", "model": "contact",
             "position": 0},
        ],
    }  # fmt: skip
    tables.update(_marts(contacts))
    return tables


def _marts(contacts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    concord = [concord_row(c) for c in contacts]
    engagement = [
        {
            "location_id": r["location_id"],
            "contact_id": r["external_id"],
            "is_deleted": r["is_deleted"],
            "count_tasks": 1,
            "count_tasks_open": 1,
            "count_tasks_completed": 0,
            "count_tasks_overdue": 0,
            "task_completion_rate": 0,
            "count_notes": 0,
            "last_activity_at": r["last_activity_at"],
            "days_since_last_activity": 12,
            "engagement_score": r["engagement_score"],
        }
        for r in concord
    ]
    lifecycle = [
        {
            "location_id": r["location_id"],
            "contact_id": r["external_id"],
            "is_deleted": r["is_deleted"],
            "added_at": r["created_at"],
            "cohort_month": datetime(2024, 1, 1).date(),
            "last_activity_at": r["last_activity_at"],
            "lifecycle_stage": r["lifecycle_stage"],
            "stage_entered_at": _ts("2025-05-01"),
            "days_in_stage": 31,
        }
        for r in concord
    ]
    business = [
        {
            "location_id": LOC,
            "business_id": b,
            "business_name": f"Biz {b}",
            "api_contact_count": n,
            "count_contacts_linked": n,
            "count_contacts_loaded": n,
            "count_tasks_open": 1,
            "count_notes": 0,
            "avg_engagement_score": 40,
        }
        for b, n in (("b1", 2), ("b2", 1))
    ]
    daily = [
        {"snapshot_date": NOW.date(), "location_id": LOC, "lifecycle_stage": s,
         "count_contacts": 1, "count_tasks_open": 0,
         "avg_engagement_score": None if s == "new" else 12.5}
        for s in STAGES
    ]  # fmt: skip
    return {
        "concord_contacts": concord,
        "contact_engagement": engagement,
        "contact_lifecycle": lifecycle,
        "business_engagement": business,
        "engagement_daily": daily,
    }


def faulty(edit: Callable[[dict[str, list[dict[str, Any]]]], None]):
    """Clean tables with one edit applied."""
    tables = copy.deepcopy(clean_tables())
    edit(tables)
    return tables


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"cast('{value.isoformat()}' as timestamp with time zone)"
    if hasattr(value, "isoformat"):
        return f"cast('{value.isoformat()}' as date)"
    return "'" + str(value).replace("'", "''") + "'"


def write(
    execute: Callable[[str], Any],
    tables: dict[str, list[dict[str, Any]]],
    raw_schema: str = "ghl_raw",
    analytics_schema: str = "ghl_analytics",
    types: dict[str, dict[str, str]] | None = None,
) -> None:
    """Create the schemas and tables, and insert the rows.

    `types` overrides column types per table (e.g. a phone stored as a number).
    """
    for schema in (raw_schema, analytics_schema):
        execute(f"create schema if not exists {schema}")
    layouts = [(raw_schema, RAW_TABLES), (analytics_schema, MART_TABLES)]
    for schema, layout in layouts:
        for table, columns in layout.items():
            if table not in tables:
                continue
            columns = {**columns, **(types or {}).get(table, {})}
            ddl = ", ".join(f"{name} {kind}" for name, kind in columns.items())
            execute(f"create table {schema}.{table} ({ddl})")
            rows = tables[table]
            if not rows:
                continue
            values = ", ".join(
                "(" + ", ".join(_literal(row.get(c)) for c in columns) + ")"
                for row in rows
            )
            execute(f"insert into {schema}.{table} ({', '.join(columns)}) "
                    f"values {values}")  # fmt: skip
