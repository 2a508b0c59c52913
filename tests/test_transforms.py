"""The SQL models on hand-built raw rows, in DuckDB and PostgreSQL.

Every expected value below is worked out by hand from the fixture and the rules in
docs/metrics.md; the same expectations run on both engines. "Now" is AS_OF.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest

from transforms import runner
from transforms.contract import RAW_TABLES

AS_OF = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
LOC = "loc1"


def ts(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def contact(contact_id: str, **values: object) -> dict:
    return {"id": contact_id, "location_id": LOC, **values}


def task(task_id, contact_id, due, completed=False, **values) -> dict:
    return {
        "id": task_id,
        "location_id": LOC,
        "contact_id": contact_id,
        "title": f"task {task_id}",
        "due_date": due,
        "completed": completed,
        **values,
    }


def note(note_id, contact_id, added, **values) -> dict:
    return {
        "id": note_id,
        "location_id": LOC,
        "contact_id": contact_id,
        "body": f"note {note_id}",
        "date_added": added,
        **values,
    }


def custom_value(contact_id: str, field_id: str, value: str) -> dict:
    return {
        "location_id": LOC,
        "contact_id": contact_id,
        "field_id": field_id,
        "value_text": value,
    }


# c1 active, c2 new (same email as c1), c3 deleted (same email too), c4 engaged and
# added just before midnight UTC in +01:00, c5 dormant with five overdue tasks, c6 at
# the top of the score.
RAW = {
    "contacts": [
        contact(
            "c1", first_name="Old", email="old@example.com",
            date_added=ts(2024, 1, 10), date_updated=ts(2024, 5, 1),
        ),
        contact(
            "c1", first_name=" Ada ", last_name="Lovelace", email=" Ada@Example.com ",
            phone="(555) 123-4567", business_id="b1", assigned_to="u1",
            date_added=ts(2024, 1, 10), date_updated=ts(2024, 6, 1),
        ),
        contact(
            "c2", contact_name="Bob B", email="ada@example.com",
            phone="+44 20 7946 0958", company_name="Bob LLC",
            date_added=ts(2024, 6, 10, 8),
        ),
        contact(
            "c3", email="ADA@example.com", date_added=ts(2023, 11, 5),
            is_deleted=True, deleted_at=ts(2024, 6, 1),
        ),
        contact(
            "c4", first_name="Dee", business_id="b1",
            date_added=datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
        contact("c5", phone="12345", dnd=True, date_added=ts(2023, 6, 1)),
        contact("c6", date_added=ts(2024, 2, 1)),
    ],
    "tasks": [
        task("t1", "c1", ts(2024, 6, 10, 10), completed=True),
        task("t2", "c1", ts(2024, 5, 20), completed=True),
        task("t3", "c1", AS_OF),  # due exactly now: open, not overdue
        task("t4", "c1", ts(2024, 6, 1)),  # overdue
        task("t5", "c1", ts(2024, 6, 2), completed=True, is_deleted=True),
        task("t6", "c3", ts(2024, 6, 12), completed=True),
        task("t7", "c4", ts(2024, 6, 20)),
        task("t8", "c4", None),
        *(task(f"t9{month}", "c5", ts(2024, month, 1)) for month in range(1, 6)),
        *(task(f"t6{d}", "c6", ts(2024, 6, d), completed=True) for d in (1, 2, 3, 4)),
        task("t65", "c6", ts(2024, 7, 1)),
        task("t66", "c6", ts(2024, 7, 1)),
    ],
    "notes": [
        note("n1", "c1", ts(2024, 6, 14, 9), user_id="u1"),
        note("n2", "c1", ts(2024, 3, 1)),
        note("n3", "c1", ts(2024, 6, 14, 10), deleted_at=ts(2024, 6, 14, 11)),
        note("n4", "c3", ts(2024, 6, 13)),
        note("n5", "c4", ts(2024, 4, 1)),
        *(note(f"n6{day}", "c6", ts(2024, 6, day)) for day in (5, 6, 7, 8)),
    ],
    "contact_tags": [
        {"location_id": LOC, "contact_id": "c1", "tag": "vip"},
        {"location_id": LOC, "contact_id": "c1", "tag": " hot "},
        {"location_id": LOC, "contact_id": "c1", "tag": "vip"},
    ],
    "custom_fields": [
        {"location_id": LOC, "id": "f1", "name": "Plan", "field_key": "contact.plan"},
        {"location_id": LOC, "id": "f2", "field_key": "contact.seats"},
    ],
    "contact_custom_fields": [
        custom_value("c1", "f1", "Gold"),
        custom_value("c1", "f2", "42"),
        custom_value("c4", "f9", '["a","b"]'),  # f9 has no definition loaded
    ],
    "businesses": [
        {"location_id": LOC, "id": "b1", "name": "Acme", "phone": "555.987.6543"},
        {"location_id": LOC, "id": "b2", "name": "Empty Co"},
        {"location_id": LOC, "id": "b3", "name": "No Count"},
    ],
    "business_contacts": [
        {"location_id": LOC, "business_id": "b1", "contact_id": "c1"},
        {"location_id": LOC, "business_id": "b1", "contact_id": "c3"},
        {"location_id": LOC, "business_id": "b1", "contact_id": "cX"},
        {"location_id": LOC, "business_id": "b3", "contact_id": "c2"},
    ],
    "business_contact_counts": [
        {"location_id": LOC, "business_id": "b1", "api_contact_count": 3},
        {"location_id": LOC, "business_id": "b2", "api_contact_count": 0},
    ],
}  # fmt: skip

ENGAGEMENT_COLUMNS = [
    "is_deleted",
    "count_tasks",
    "count_tasks_open",
    "count_tasks_completed",
    "count_tasks_overdue",
    "task_completion_rate",
    "count_notes",
    "last_activity_at",
    "days_since_last_activity",
    "engagement_score",
]
EXPECTED_ENGAGEMENT = {
    "c1": (False, 4, 2, 2, 1, Decimal("0.5000"), 2, ts(2024, 6, 14, 9), 1, 70),
    "c2": (False, 0, 0, 0, 0, None, 0, None, None, 0),
    "c3": (True, 1, 0, 1, 0, Decimal("1.0000"), 1, ts(2024, 6, 13), 2, 0),
    "c4": (False, 2, 2, 0, 0, Decimal("0.0000"), 1, ts(2024, 4, 1), 75, 35),
    "c5": (False, 5, 5, 0, 5, Decimal("0.0000"), 0, None, None, 0),
    "c6": (False, 6, 2, 4, 0, Decimal("0.6667"), 4, ts(2024, 6, 8), 7, 100),
}

LIFECYCLE_COLUMNS = [
    "is_deleted",
    "added_at",
    "cohort_month",
    "last_activity_at",
    "lifecycle_stage",
    "stage_entered_at",
    "days_in_stage",
]
EXPECTED_LIFECYCLE = {
    "c1": (False, ts(2024, 1, 10), date(2024, 1, 1), ts(2024, 6, 14, 9), "active",
           ts(2024, 5, 20), 26),
    "c2": (False, ts(2024, 6, 10, 8), date(2024, 6, 1), None, "new",
           ts(2024, 6, 10, 8), 5),
    "c3": (True, ts(2023, 11, 5), date(2023, 11, 1), ts(2024, 6, 13), "deleted",
           ts(2024, 6, 1), 14),
    "c4": (False, ts(2023, 12, 31, 23, 30), date(2023, 12, 1), ts(2024, 4, 1),
           "engaged", ts(2024, 5, 1), 45),
    "c5": (False, ts(2023, 6, 1), date(2023, 6, 1), None, "dormant",
           ts(2023, 7, 1), 350),
    "c6": (False, ts(2024, 2, 1), date(2024, 2, 1), ts(2024, 6, 8), "active",
           ts(2024, 6, 1), 14),
}  # fmt: skip

BUSINESS_COLUMNS = [
    "business_name",
    "api_contact_count",
    "count_contacts_linked",
    "count_contacts_loaded",
    "count_contacts_missing",
    "is_count_matching",
    "count_contacts_active",
    "count_tasks_open",
    "count_tasks_completed",
    "count_tasks_overdue",
    "count_notes",
    "avg_engagement_score",
    "last_activity_at",
]
EXPECTED_BUSINESS = {
    # links: c1 (both sources), c3 (deleted), cX (never loaded), c4 (contact only)
    "b1": ("Acme", 3, 4, 2, 1, False, 1, 4, 2, 1, 3, Decimal("52.50"),
           ts(2024, 6, 14, 9)),
    "b2": ("Empty Co", 0, 0, 0, 0, True, 0, 0, 0, 0, 0, None, None),
    "b3": ("No Count", None, 1, 1, None, None, 0, 0, 0, 0, 0, Decimal("0.00"), None),
}  # fmt: skip

DAILY_COLUMNS = [
    "count_contacts",
    "count_tasks_open",
    "count_tasks_completed",
    "count_tasks_overdue",
    "count_notes",
    "avg_engagement_score",
]
EXPECTED_DAILY = {
    "new": (1, 0, 0, 0, 0, Decimal("0.00")),
    "engaged": (1, 2, 0, 0, 1, Decimal("35.00")),
    "active": (2, 4, 6, 1, 6, Decimal("85.00")),
    "dormant": (1, 5, 0, 5, 0, Decimal("0.00")),
    "deleted": (1, 0, 1, 0, 1, Decimal("0.00")),
}

CONCORD_COLUMNS = [
    "first_name",
    "full_name",
    "email",
    "is_duplicate_email",
    "phone",
    "phone_raw",
    "company_name",
    "owner_external_id",
    "tags",
    "custom_fields_json",
    "is_do_not_contact",
    "lifecycle_stage",
    "engagement_score",
    "is_deleted",
]
EXPECTED_CONCORD = {
    "c1": ("Ada", "Ada Lovelace", "ada@example.com", True, "+15551234567",
           "(555) 123-4567", "Acme", "u1", '["hot","vip"]',
           '{"Plan":"Gold","contact.seats":"42"}', False, "active", 70, False),
    "c2": (None, "Bob B", "ada@example.com", True, "+442079460958",
           "+44 20 7946 0958", "Bob LLC", None, "[]", "{}", False, "new", 0, False),
    "c3": (None, None, "ada@example.com", True, None, None, None, None, "[]", "{}",
           False, "deleted", 0, True),
    "c4": ("Dee", "Dee", None, False, None, None, "Acme", None, "[]",
           '{"f9":"[\\"a\\",\\"b\\"]"}', False, "engaged", 35, False),
    "c5": (None, None, None, False, None, "12345", None, None, "[]", "{}", True,
           "dormant", 0, False),
    "c6": (None, None, None, False, None, None, None, None, "[]", "{}", False,
           "active", 100, False),
}  # fmt: skip


class Database:
    """A fresh raw schema and analytics schema on one engine, with small helpers."""

    def __init__(self, engine: str, conn, raw: str, analytics: str) -> None:
        self.engine, self.conn, self.raw, self.analytics = engine, conn, raw, analytics

    def execute(self, sql: str, params=None) -> list[tuple]:
        if self.engine == "duckdb":
            result = self.conn.execute(sql, params)
            return result.fetchall() if result.description else []
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
        self.conn.commit()
        return rows

    def load(self, tables: dict[str, list[dict]]) -> None:
        """Create each raw table with only the columns its rows use, like dlt."""
        self.execute(f"create schema if not exists {self.raw}")
        mark = "?" if self.engine == "duckdb" else "%s"
        for table, rows in tables.items():
            columns = list(dict.fromkeys(key for row in rows for key in row))
            types = RAW_TABLES[table]
            ddl = ", ".join(f"{column} {types[column]}" for column in columns)
            self.execute(f"create table {self.raw}.{table} ({ddl})")
            insert = (
                f"insert into {self.raw}.{table} ({', '.join(columns)}) "
                f"values ({', '.join(mark for _ in columns)})"
            )
            for row in rows:
                self.execute(insert, [row.get(column) for column in columns])

    def build(self, as_of: datetime = AS_OF) -> dict[str, int]:
        return runner.build(
            self.conn, engine=self.engine, raw_schema=self.raw,
            analytics_schema=self.analytics, as_of=as_of,
        )  # fmt: skip

    def rows(self, relation: str, order_by: str = "1") -> list[dict]:
        sql = f"select * from {self.analytics}.{relation} order by {order_by}"
        if self.engine == "duckdb":
            result = self.conn.execute(sql)
            names = [column[0] for column in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        self.conn.commit()
        return rows

    def by(self, relation: str, key: str, columns: list[str]) -> dict[str, tuple]:
        return {
            row[key]: tuple(row[column] for column in columns)
            for row in self.rows(relation)
        }


def _duckdb(tmp_path) -> Database:
    conn = duckdb.connect(str(tmp_path / "transforms.duckdb"))
    return Database("duckdb", conn, "ghl_raw", "ghl_analytics")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    if request.param == "duckdb":
        database = _duckdb(tmp_path)
        yield database
        database.conn.close()
        return

    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    database = Database("postgres", conn, f"{prefix}_raw", f"{prefix}_analytics")
    try:
        yield database
    finally:
        conn.rollback()
        for schema in (database.raw, database.analytics):
            database.execute(f"drop schema if exists {schema} cascade")
        conn.close()


@pytest.fixture
def built(db):
    db.load(RAW)
    counts = db.build()
    assert counts == {
        "contact_engagement": 6,
        "contact_lifecycle": 6,
        "business_engagement": 3,
        "concord_contacts": 6,
        "engagement_daily": 5,
    }
    return db


def test_contact_engagement_matches_hand_worked_values(built):
    assert built.by("contact_engagement", "contact_id", ENGAGEMENT_COLUMNS) == (
        EXPECTED_ENGAGEMENT
    )


def test_contact_lifecycle_matches_hand_worked_values(built):
    assert built.by("contact_lifecycle", "contact_id", LIFECYCLE_COLUMNS) == (
        EXPECTED_LIFECYCLE
    )


def test_business_engagement_matches_hand_worked_values(built):
    assert built.by("business_engagement", "business_id", BUSINESS_COLUMNS) == (
        EXPECTED_BUSINESS
    )


def test_engagement_daily_matches_hand_worked_values(built):
    rows = built.rows("engagement_daily")
    assert {row["snapshot_date"] for row in rows} == {date(2024, 6, 15)}
    assert {row["as_of_at"] for row in rows} == {AS_OF}
    assert {row["location_id"] for row in rows} == {LOC}
    assert built.by("engagement_daily", "lifecycle_stage", DAILY_COLUMNS) == (
        EXPECTED_DAILY
    )


def test_concord_contacts_match_the_mapping_rules(built):
    assert built.by("concord_contacts", "external_id", CONCORD_COLUMNS) == (
        EXPECTED_CONCORD
    )
    rows = built.rows("concord_contacts")
    assert {row["external_source"] for row in rows} == {"gohighlevel"}
    assert {row["location_id"] for row in rows} == {LOC}


def test_staging_keeps_the_latest_row_and_flags_deletes(built):
    contacts = built.by("stg_contacts", "contact_id", ["first_name", "is_deleted"])
    assert contacts["c1"] == ("Ada", False)
    assert contacts["c3"] == (None, True)

    notes = built.by("stg_notes", "note_id", ["is_deleted"])
    assert notes["n3"] == (True,)  # deleted_at alone marks a row deleted
    tags = built.rows("stg_contact_tags", "tag")
    assert [row["tag"] for row in tags] == ["hot", "vip"]

    businesses = built.by("stg_businesses", "business_id", ["phone_e164"])
    assert businesses["b1"] == ("+15559876543",)


def test_duplicate_emails_are_kept_as_separate_contacts(built):
    emails = built.by("stg_contacts", "contact_id", ["email"])
    assert [key for key, value in emails.items() if value == ("ada@example.com",)] == [
        "c1",
        "c2",
        "c3",
    ]


def test_daily_snapshot_is_idempotent_per_day(built):
    built.build()
    assert len(built.rows("engagement_daily")) == 5

    next_day = AS_OF + timedelta(days=1)
    assert built.build(next_day)["engagement_daily"] == 10
    assert built.build(next_day)["engagement_daily"] == 10
    assert built.build()["engagement_daily"] == 10

    dates = [row["snapshot_date"] for row in built.rows("engagement_daily")]
    assert sorted(set(dates)) == [date(2024, 6, 15), date(2024, 6, 16)]
    assert dates.count(date(2024, 6, 15)) == 5


PHONE_CASES = [
    ("(555) 123-4567", "+15551234567"),
    ("555.123.4567", "+15551234567"),
    ("1-555-123-4567", "+15551234567"),
    ("+1 555 123 4567", "+15551234567"),
    ("+44 20 7946 0958", "+442079460958"),
    ("+1234567", None),  # + with fewer than 8 digits
    ("+1234567890123456", None),  # + with more than 15 digits
    ("25551234567", None),  # 11 digits not starting with 1
    ("12345", None),
    ("call me", None),
    ("   ", None),
]


def test_phones_become_e164_where_they_parse(db):
    db.load(
        {
            "contacts": [
                contact(f"p{number}", phone=raw)
                for number, (raw, _) in enumerate(PHONE_CASES)
            ]
        }
    )
    db.build()

    phones = db.by("stg_contacts", "contact_id", ["phone_raw", "phone_e164"])
    expected = {
        f"p{number}": (raw.strip() or None, e164)
        for number, (raw, e164) in enumerate(PHONE_CASES)
    }
    assert phones == expected


def test_missing_raw_tables_and_columns_build_empty_typed_models(db):
    db.load({"contacts": [contact("c1", date_added=ts(2024, 6, 1))]})

    counts = db.build()

    assert counts == {
        "contact_engagement": 1,
        "contact_lifecycle": 1,
        "business_engagement": 0,
        "concord_contacts": 1,
        "engagement_daily": 5,
    }
    [row] = db.rows("concord_contacts")
    assert (row["is_deleted"], row["deleted_at"], row["lifecycle_stage"]) == (
        False,
        None,
        "new",
    )
    assert (row["tags"], row["custom_fields_json"], row["engagement_score"]) == (
        "[]",
        "{}",
        0,
    )


def test_empty_raw_schema_builds_empty_marts(db):
    counts = db.build()
    assert counts == dict.fromkeys(
        [
            "contact_engagement",
            "contact_lifecycle",
            "business_engagement",
            "concord_contacts",
            "engagement_daily",
        ],
        0,
    )


def test_raw_tables_added_later_are_picked_up_on_rebuild(db):
    db.load({"contacts": [contact("c1", date_added=ts(2024, 6, 1))]})
    db.build()

    db.load({"notes": [note("n1", "c1", ts(2024, 6, 14))]})
    db.build()

    [row] = db.rows("contact_engagement")
    assert (row["count_notes"], row["engagement_score"]) == (1, 45)


@pytest.mark.postgres
def test_both_engines_give_identical_marts(tmp_path):
    import psycopg2

    left = _duckdb(tmp_path)
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    right = Database("postgres", conn, f"{prefix}_raw", f"{prefix}_analytics")
    try:
        for database in (left, right):
            database.load(RAW)
            database.build()
        for mart in runner.SNAPSHOT_KEYS.keys() | {
            "contact_engagement",
            "contact_lifecycle",
            "business_engagement",
            "concord_contacts",
        }:
            order = ", ".join(str(n) for n in range(1, 5))
            assert left.rows(mart, order) == right.rows(mart, order), mart
    finally:
        conn.rollback()
        for schema in (right.raw, right.analytics):
            right.execute(f"drop schema if exists {schema} cascade")
        conn.close()
        left.conn.close()


def test_runner_rejects_unsafe_schema_names():
    with pytest.raises(ValueError, match="schema name"):
        runner.build_with(lambda sql: None, "duckdb", raw_schema="raw; drop table x")


def test_models_build_in_dependency_order():
    order = [model.name for model in runner.load_models()]
    for model in runner.load_models():
        for ref in model.refs & set(order):
            assert order.index(ref) < order.index(model.name), (ref, model.name)
    assert {model.name: model.materialized for model in runner.load_models()} == {
        **{name: "view" for name in order if name.startswith("stg_")},
        "int_contact_events": "temp",
        "contact_engagement": "table",
        "contact_lifecycle": "table",
        "business_engagement": "table",
        "concord_contacts": "table",
        "engagement_daily": "snapshot",
    }


STAGE_BOUNDARIES = [
    # (id, days before AS_OF of the only activity, days before AS_OF added, stage)
    ("activity_29d", 29, 400, "active"),
    ("activity_30d", 30, 400, "engaged"),
    ("activity_89d", 89, 400, "engaged"),
    ("activity_90d", 90, 400, "dormant"),
    ("activity_90d_added_10d", 90, 10, "new"),
    ("added_29d", None, 29, "new"),
    ("added_30d", None, 30, "dormant"),
    ("no_dates", None, None, "dormant"),
]


def test_lifecycle_stage_boundaries(db):
    contacts, notes = [], []
    for key, activity_days, added_days, _ in STAGE_BOUNDARIES:
        added = AS_OF - timedelta(days=added_days) if added_days is not None else None
        contacts.append(contact(key, date_added=added))
        if activity_days is not None:
            notes.append(note(f"n_{key}", key, AS_OF - timedelta(days=activity_days)))
    db.load({"contacts": contacts, "notes": notes})
    db.build()

    stages = db.by("contact_lifecycle", "contact_id", ["lifecycle_stage"])
    assert stages == {key: (stage,) for key, _, _, stage in STAGE_BOUNDARIES}
