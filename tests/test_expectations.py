"""The data-quality gate on DuckDB: clean data passes, each planted fault fails
exactly the expectation it should, and an expectation that raises fails the gate."""

from __future__ import annotations

import duckdb
import gate_fixtures as gf
import pytest

from expectations import suites as suite_defs
from expectations.gate import GateResult, load_severities, run_gate

pytestmark = pytest.mark.filterwarnings("error")

API_TOTALS = {gf.LOC: 4}


def gate(tmp_path, tables, api_totals=API_TOTALS, types=None, **options) -> GateResult:
    path = tmp_path / "ghl.duckdb"
    with duckdb.connect(str(path)) as conn:
        gf.write(conn.execute, tables, types=types)
    return run_gate(path, api_totals, tmp_path / "docs", now=gf.NOW, **options)


def failed(result: GateResult) -> set[tuple[str, str, str]]:
    return {(f.table, f.expectation, f.severity) for f in result.failures}


def test_clean_data_passes_every_suite(tmp_path):
    result = gate(tmp_path, gf.clean_tables())

    assert failed(result) == set()
    assert result.ok
    assert [s.name for s in result.suites] == [s.table for s in suite_defs.SUITES]
    assert all(s.passed and not s.skipped for s in result.suites)
    assert all(s.evaluated == s.successful > 0 for s in result.suites)
    assert result.docs_index == tmp_path / "docs" / "index.html"
    assert result.docs_index.read_text().count("concord_contacts") >= 1


def _duplicate_id(t):
    t["contacts"].append(dict(t["contacts"][0], _dlt_id="again"))


def _bad_email(t):
    t["contacts"][1]["email"] = "not-an-email"
    t["concord_contacts"][1]["email"] = "not-an-email"


def _orphan_task(t):
    t["tasks"].append(dict(t["tasks"][0], id="t9", contact_id="c404"))


def _contact_missing_from_mart(t):
    del t["concord_contacts"][2]


def _wrong_business_count(t):
    t["business_contact_counts"][0]["api_contact_count"] = 3


def _orphan_business_link(t):
    t["business_contacts"].append(
        {"location_id": gf.LOC, "business_id": "b404", "contact_id": "c4"}
    )


def _mapped_field_differs(t):
    t["concord_contacts"][0]["city"] = "Shelbyville"


def _phone_not_e164(t):
    t["concord_contacts"][0]["phone"] = "555-0100"


def _unknown_stage(t):
    t["contact_lifecycle"][0]["lifecycle_stage"] = "zombie"


def _score_out_of_bounds(t):
    t["contact_engagement"][0]["engagement_score"] = 101


def _completed_not_boolean(t):
    t["tasks"][0]["completed"] = None


def _timestamp_insane(t):
    t["notes"][0]["date_added"] = gf._ts("1970-01-01")


def _null_key(t):
    t["custom_fields"][0]["id"] = None


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_duplicate_id, ("contacts", "key_unique")),
        (_bad_email, ("concord_contacts", "email_format")),
        (_orphan_task, ("tasks", "contact_exists")),
        (_contact_missing_from_mart, ("concord_contacts", "live_contact_mapped_once")),
        (_wrong_business_count, ("business_contact_counts", "count_equals_links")),
        (_orphan_business_link, ("business_contacts", "business_exists")),
        (_mapped_field_differs, ("concord_contacts", "city_mapped")),
        (_completed_not_boolean, ("tasks", "completed_not_null")),
        (_unknown_stage, ("contact_lifecycle", "lifecycle_stage_known")),
        (_score_out_of_bounds, ("contact_engagement", "engagement_score_in_bounds")),
        (_null_key, ("custom_fields", "id_not_null")),
        (_timestamp_insane, ("notes", "date_added_in_range")),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_planted_fault_fails_exactly_its_expectation(tmp_path, edit, expected):
    result = gate(tmp_path, gf.faulty(edit))

    assert failed(result) == {(*expected, "critical")}
    assert not result.ok
    assert not result.suite(expected[0]).passed


def test_failure_names_table_expectation_and_failing_rows(tmp_path):
    result = gate(tmp_path, gf.faulty(_orphan_task))

    (failure,) = result.failures
    assert failure.unexpected_count == 1
    assert failure.element_count == 4
    assert failure.values == (
        f"{gf.LOC}/t9: contact_id='c404', loaded_contact_id=null",
    )
    line = result.suite("tasks").line()
    assert line.startswith("tasks: FAILED, 9 of 10 expectations met")
    assert "critical tasks.contact_exists: 1 of 4 rows failed" in line
    assert "c404" in line


def test_bad_email_reports_the_email(tmp_path):
    result = gate(tmp_path, gf.faulty(_bad_email))

    (failure,) = result.failures
    assert failure.values == (f"{gf.LOC}/c2: email='not-an-email'",)


def test_phone_not_e164_in_mart_fails_format_and_mapping(tmp_path):
    result = gate(tmp_path, gf.faulty(_phone_not_e164))

    assert failed(result) == {
        ("concord_contacts", "phone_e164", "critical"),
        ("concord_contacts", "phone_mapped", "critical"),
    }


def test_completed_that_is_not_boolean_fails_the_gate(tmp_path):
    types = {"tasks": {"completed": "text"}}
    tables = gf.faulty(lambda t: t["tasks"][0].update(completed="maybe"))

    result = gate(tmp_path, tables, types=types)

    # The contract casts `completed` to boolean: "yes" cannot be read at all,
    # and an unreadable frame fails every check of the suite, never passes.
    assert {f.table for f in result.failures} == {"tasks"}
    assert all(f.severity == "critical" and f.error for f in result.failures)
    assert not result.ok


def test_api_total_mismatch_fails_reconciliation(tmp_path):
    result = gate(tmp_path, gf.clean_tables(), api_totals={gf.LOC: 5, "loc_2": 3})

    assert failed(result) == {("contacts", "contacts_equal_api_total", "critical")}
    (failure,) = result.failures
    assert failure.unexpected_count == 2
    assert set(failure.values) == {f"{gf.LOC}: count_loaded=4, api_total=5",
                                   "loc_2: count_loaded=0, api_total=3"}  # fmt: skip


def test_unknown_api_total_skips_reconciliation_with_a_note(tmp_path):
    result = gate(tmp_path, gf.clean_tables(), api_totals=None)

    assert result.ok
    contacts = result.suite("contacts")
    assert contacts.evaluated == len(contacts.failures) + contacts.successful == 12
    assert any("api totals unknown" in note for note in contacts.notes)


def test_duplicates_by_email_or_phone_only_warn(tmp_path):
    def edit(t):
        t["contacts"][2]["email"] = "ANN1@example.com"
        t["contacts"][3]["phone"] = "+1 555 010 0001"
        t["contacts"][1].update(email=None, phone=" ")
        for i in (1, 2, 3):
            t["concord_contacts"][i] = gf.concord_row(t["contacts"][i])

    result = gate(tmp_path, gf.faulty(edit))

    assert failed(result) == {
        ("contacts", "duplicate_email", "warning"),
        ("contacts", "duplicate_phone", "warning"),
        ("contacts", "has_email_or_phone", "warning"),
    }
    assert result.ok
    assert result.suite("contacts").passed
    emails = next(f for f in result.failures if f.expectation == "duplicate_email")
    assert emails.unexpected_count == 2
    assert "ann1@example.com" in emails.values[0]


def test_phone_stored_as_number_is_read_as_text(tmp_path):
    """Case R29: a numeric phone column does not crash the gate."""
    tables = gf.clean_tables()
    for row in tables["contacts"]:
        row["phone"] = 5550100000 + int(row["id"][1:])
    tables["concord_contacts"] = [gf.concord_row(c | {"phone": str(c["phone"])})
                                  for c in tables["contacts"]]  # fmt: skip

    result = gate(tmp_path, tables, types={"contacts": {"phone": "bigint"}})

    assert failed(result) == set()


def test_missing_optional_raw_table_is_skipped_missing_mart_fails(tmp_path):
    tables = gf.clean_tables()
    del tables["contact_additional_emails"], tables["engagement_daily"]

    result = gate(tmp_path, tables)

    assert result.suite("contact_additional_emails").skipped
    assert failed(result) == {("engagement_daily", "table_exists", "critical")}
    assert "run the transforms first" in result.failures[0].values[0]


def test_expectation_that_raises_fails_the_gate(tmp_path, monkeypatch):
    """Case R34: an expectation whose metric raised is a failure, never a pass."""
    broken = suite_defs.Suite("custom_fields", suite_defs.RAW, (
        suite_defs.Frame("custom_fields", suite_defs.keyed_frame(
            "custom_fields", ("location_id", "id")).sql, (
            suite_defs.not_null("no_such_column"),
        )),
    ), required=False)  # fmt: skip
    monkeypatch.setattr(
        "expectations.gate.load_severities",
        lambda suites: {("custom_fields", "no_such_column_not_null"): "critical"},
    )

    result = gate(tmp_path, gf.clean_tables(), suites=[broken])

    (failure,) = result.failures
    assert failure.expectation == "no_such_column_not_null"
    assert "no_such_column" in failure.error
    assert not result.ok


def test_query_that_raises_fails_the_gate(tmp_path, monkeypatch):
    tables = gf.clean_tables()
    del tables["concord_contacts"][0]  # would fail a check, but the query fails first
    monkeypatch.setitem(suite_defs.MAPPED_FIELDS, "city", "s.no_such_column")

    result = gate(tmp_path, tables)

    concord = result.suite("concord_contacts")
    assert not concord.passed and not result.ok
    assert concord.successful == 0
    assert all("no_such_column" in f.error for f in concord.failures)
    assert len(concord.failures) == concord.evaluated


def test_chunks_are_merged_into_one_result(tmp_path):
    many = gf.clean_tables()
    base = many["tasks"][0]
    many["tasks"] = [dict(base, id=f"t{i}") for i in range(5000)]
    many["tasks"][4500]["contact_id"] = "c404"

    result = gate(tmp_path, many, chunk_rows=2048)

    (failure,) = result.failures
    assert (failure.table, failure.expectation) == ("tasks", "contact_exists")
    assert (failure.unexpected_count, failure.element_count) == (1, 5000)


def test_rerun_in_the_same_docs_dir_is_idempotent(tmp_path):
    first = gate(tmp_path, gf.clean_tables())
    second = run_gate(tmp_path / "ghl.duckdb", API_TOTALS, tmp_path / "docs",
                      now=gf.NOW)  # fmt: skip

    assert first.lines() == second.lines()
    assert second.ok and second.docs_index.exists()


def test_every_check_has_exactly_one_severity():
    severities = load_severities()

    names = {(s.table, n) for s in suite_defs.SUITES for n in s.names}
    assert set(severities) == names
    warnings = {key for key, value in severities.items() if value == "warning"}
    assert warnings == {
        ("contacts", "duplicate_email"),
        ("contacts", "duplicate_phone"),
        ("contacts", "has_email_or_phone"),
        ("contacts", "date_of_birth_format"),
    }


def test_severity_file_with_unknown_check_is_refused(tmp_path):
    path = tmp_path / "severity.yml"
    path.write_text("contacts:\n  no_such_check: critical\n")

    with pytest.raises(ValueError, match="no_such_check"):
        load_severities(path)
