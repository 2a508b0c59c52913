"""Generate the concord_contacts model and its docs table from transforms/mapping.yml.

The mapping from GHL fields to Concord CLM fields is declared once, in mapping.yml.
This module renders it into `models/concord_contacts.sql` (the fixed input CTEs below,
then one select column per mapped field) and into the table in `docs/mapping.md`.
Run `python -m transforms.mapping` after editing the mapping; the tests fail when the
committed files disagree with it.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).parent
MAPPING_PATH = PACKAGE_DIR / "mapping.yml"
MODEL_PATH = PACKAGE_DIR / "models" / "concord_contacts.sql"
DOC_PATH = PACKAGE_DIR.parent / "docs" / "mapping.md"
DOC_START = "<!-- mapping table: generated from transforms/mapping.yml -->"
DOC_END = "<!-- end of mapping table -->"

_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")

# JSON string escaping in portable SQL: backslash first, then quote and the usual
# control characters (other control characters are rare in CRM text and pass as-is).
_ESCAPE = r"""replace(
            replace(
                replace(
                    replace(replace({value}, '\', '\\'), '"', '\"'),
                    chr(10),
                    '\n'
                ),
                chr(13),
                '\r'
            ),
            chr(9),
            '\t'
        )"""

_TEMPLATE = """\
-- generated from transforms/mapping.yml by `python -m transforms.mapping`;
-- edit the mapping, not this file.
{grain}
with

contacts as (

    select * from ghl_analytics.stg_contacts

),

businesses as (

    select * from ghl_analytics.stg_businesses

),

tags as (

    select * from ghl_analytics.stg_contact_tags

),

field_values as (

    select * from ghl_analytics.stg_contact_custom_fields

),

custom_fields as (

    select * from ghl_analytics.stg_custom_fields

),

lifecycle as (

    select * from ghl_analytics.contact_lifecycle

),

engagement as (

    select * from ghl_analytics.contact_engagement

),

escaped_tags as (

    select
        location_id,
        contact_id,
        tag,
        {escaped_tag} as tag_json
    from tags

),

tag_lists as (

    select
        location_id,
        contact_id,
        '['
        || string_agg('"' || tag_json || '"', ',' order by tag)
        || ']' as tags_json
    from escaped_tags
    group by location_id, contact_id

),

named_values as (

    select
        field_values.location_id,
        field_values.contact_id,
        field_values.value_text,
        coalesce(
            custom_fields.field_name,
            custom_fields.field_key,
            field_values.custom_field_id
        ) as field_name
    from field_values
    left join custom_fields
        on
            field_values.location_id = custom_fields.location_id
            and field_values.custom_field_id = custom_fields.custom_field_id

),

escaped_values as (

    select
        location_id,
        contact_id,
        field_name,
        {escaped_name} as name_json,
        {escaped_value} as value_json
    from named_values

),

custom_field_objects as (

    select
        location_id,
        contact_id,
        '{{'
        || string_agg(
            '"' || name_json || '":'
            || coalesce('"' || value_json || '"', 'null'),
            ',' order by field_name, value_json
        )
        || '}}' as custom_fields_json
    from escaped_values
    group by location_id, contact_id

),

email_counts as (

    select
        location_id,
        email,
        count(*) as count_contacts
    from contacts
    where email is not null and not is_deleted
    group by location_id, email

),

final as (

    select
{columns}
    from contacts
    left join businesses
        on
            contacts.location_id = businesses.location_id
            and contacts.business_id = businesses.business_id
    left join tag_lists
        on
            contacts.location_id = tag_lists.location_id
            and contacts.contact_id = tag_lists.contact_id
    left join custom_field_objects
        on
            contacts.location_id = custom_field_objects.location_id
            and contacts.contact_id = custom_field_objects.contact_id
    left join email_counts
        on
            contacts.location_id = email_counts.location_id
            and contacts.email = email_counts.email
    left join lifecycle
        on
            contacts.location_id = lifecycle.location_id
            and contacts.contact_id = lifecycle.contact_id
    left join engagement
        on
            contacts.location_id = engagement.location_id
            and contacts.contact_id = engagement.contact_id

)

select * from final
"""


def load_mapping(path: Path = MAPPING_PATH) -> dict[str, Any]:
    """Read and check the mapping file.

    Raises:
        ValueError: a field lacks a key, has a malformed name, or repeats a name.
    """
    mapping = yaml.safe_load(path.read_text())
    seen = set()
    for number, field in enumerate(mapping["fields"], start=1):
        missing = {"concord", "ghl", "sql", "description"} - set(field)
        if missing:
            raise ValueError(f"{path}: field {number} lacks {sorted(missing)}")
        name = field["concord"]
        if not _FIELD.match(name) or name in seen:
            raise ValueError(
                f"{path}: field {number} name {name!r} must be unique snake_case"
            )
        seen.add(name)
    return mapping


def render_sql(mapping: dict[str, Any]) -> str:
    """Return the concord_contacts model for a mapping."""
    columns = []
    for field in mapping["fields"]:
        name = field["concord"]
        expression = field["sql"].strip().replace("\n", "\n        ")
        column = f"        {expression} as {name}"
        if expression.endswith(f".{name}"):
            column = f"        {expression}"
        elif len(column.splitlines()[-1]) > 80:
            column = f"        {expression}\n            as {name}"
        columns.append(column)
    grain = textwrap.wrap(f"grain: {mapping['grain']}.", width=77)
    return _TEMPLATE.format(
        grain="\n".join(f"-- {line}" for line in grain),
        columns=",\n".join(columns),
        escaped_tag=_ESCAPE.format(value="tag"),
        escaped_name=_ESCAPE.format(value="field_name"),
        escaped_value=_ESCAPE.format(value="value_text"),
    )


def render_doc_table(mapping: dict[str, Any]) -> str:
    """Return the Markdown table of a mapping, between its start and end markers."""
    lines = [
        DOC_START,
        "",
        "| Concord CLM field | GHL field | SQL | rule |",
        "| --- | --- | --- | --- |",
    ]
    for field in mapping["fields"]:
        sql = " ".join(field["sql"].split()).replace("( ", "(").replace(" )", ")")
        description = " ".join(field["description"].split())
        row = [field["concord"], field["ghl"], sql, description]
        cells = [value.replace("|", "\\|") for value in row]
        lines.append(f"| `{cells[0]}` | {cells[1]} | `{cells[2]}` | {cells[3]} |")
    lines += ["", DOC_END]
    return "\n".join(lines)


def render_doc(mapping: dict[str, Any], current: str) -> str:
    """Return docs/mapping.md with its generated table replaced."""
    start, end = current.index(DOC_START), current.index(DOC_END) + len(DOC_END)
    return current[:start] + render_doc_table(mapping) + current[end:]


def main() -> int:
    """Regenerate the model and the docs table from the mapping file."""
    mapping = load_mapping()
    MODEL_PATH.write_text(render_sql(mapping))
    DOC_PATH.write_text(render_doc(mapping, DOC_PATH.read_text()))
    print(f"wrote {MODEL_PATH} and {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
