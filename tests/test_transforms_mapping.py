"""The GHL to Concord CLM mapping is declared once: generated files must agree."""

import pytest

from transforms import mapping


def test_concord_contacts_sql_is_generated_from_the_mapping():
    expected = mapping.render_sql(mapping.load_mapping())
    assert mapping.MODEL_PATH.read_text() == expected, (
        "run `python -m transforms.mapping` after editing transforms/mapping.yml"
    )


def test_docs_table_is_generated_from_the_mapping():
    current = mapping.DOC_PATH.read_text()
    assert mapping.render_doc(mapping.load_mapping(), current) == current, (
        "run `python -m transforms.mapping` after editing transforms/mapping.yml"
    )


def test_every_mapped_field_is_a_column_of_the_model():
    fields = [field["concord"] for field in mapping.load_mapping()["fields"]]
    assert len(fields) == len(set(fields))
    assert {"external_id", "email", "phone", "company_name", "tags"} <= set(fields)
    assert {"owner_external_id", "custom_fields_json", "lifecycle_stage"} <= set(fields)
    assert "engagement_score" in fields


def test_mapping_rejects_repeated_fields(tmp_path):
    path = tmp_path / "mapping.yml"
    field = "{concord: email, ghl: email, sql: contacts.email, description: x}"
    path.write_text(f"model: m\ngrain: g\nfields: [{field}, {field}]\n")
    with pytest.raises(ValueError, match="unique"):
        mapping.load_mapping(path)
