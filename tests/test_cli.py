"""The command in-process: demo summary, the gate's verdict, usage errors."""

import re

import duckdb
import pytest

from pipelines.cli import main


def demo_args(tmp_path, *extra, contacts="120"):
    return [
        "demo",
        "--contacts",
        contacts,
        "--duckdb",
        str(tmp_path / "demo.duckdb"),
        "--pipelines-dir",
        str(tmp_path / "dlt"),
        "--docs-dir",
        str(tmp_path / "docs"),
        *extra,
    ]


def test_demo_prints_rows_marts_and_gate(tmp_path, capsys):
    assert main(demo_args(tmp_path)) == 0

    out = capsys.readouterr().out
    assert re.search(r"^  contacts +120$", out, re.M)
    assert re.search(r"^  ghl_analytics.concord_contacts +120$", out, re.M)
    assert "  concord_contacts: passed, 33 of 33 expectations met" in out
    assert f"Data Docs: {tmp_path / 'docs' / 'index.html'}" in out
    assert (tmp_path / "docs" / "index.html").exists()
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert sum(": passed" in line for line in lines) == 15


def test_check_fails_on_a_duplicate_key_and_names_it(tmp_path, capsys):
    assert main(demo_args(tmp_path)) == 0
    with duckdb.connect(str(tmp_path / "demo.duckdb")) as db:
        db.execute(
            "insert into ghl_raw.contacts select * from ghl_raw.contacts limit 1"
        )
    capsys.readouterr()

    code = main(
        [
            "check",
            "--duckdb",
            str(tmp_path / "demo.duckdb"),
            "--pipelines-dir",
            str(tmp_path / "dlt"),
            "--docs-dir",
            str(tmp_path / "docs"),
        ]
    )

    captured = capsys.readouterr()
    assert code == 3
    assert "  contacts: FAILED" in captured.out
    errors = [e for e in captured.err.splitlines() if "ghl-concord: error:" in e]
    assert errors == [
        "ghl-concord: error: critical contacts.key_unique: 2 of 121 rows failed; "
        f"e.g. {errors[0].split('e.g. ')[1]}"
    ]
    assert "key_rows=2" in errors[0]


def test_bad_faults_option_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(demo_args(tmp_path, "--faults", "500:lots"))
    assert "--faults part '500:lots' is not KIND:RATE" in str(stopped.value)


def test_a_location_without_contacts_passes_the_gate(tmp_path, capsys):
    assert main(demo_args(tmp_path, contacts="0")) == 0

    out = capsys.readouterr().out
    assert re.search(r"^  contacts +0$", out, re.M)
    assert "  concord_contacts: passed" in out
    assert "FAILED" not in out


@pytest.mark.parametrize("days", ["0", "-1", "x"])
def test_backfill_refuses_a_slice_that_is_not_positive(days, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["backfill", "--since", "2024-01-01", "--slice-days", days])

    assert stopped.value.code == 2
    assert f"{days!r} is not a whole number above 0" in capsys.readouterr().err
