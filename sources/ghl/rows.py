"""Turns GHL JSON records into Arrow tables with fixed types.

Types are fixed here, before dlt sees the data, so that a value which is a number
in one record and text in the next never splits a column into variants (R28): ids,
phones and custom-field values are always text, timestamps always UTC instants.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from .errors import PayloadError

TS = pa.timestamp("us", tz="UTC")
TEXT = pa.string()

CONTACT_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "id": ("id", TEXT),
    "location_id": ("locationId", TEXT),
    "first_name": ("firstName", TEXT),
    "last_name": ("lastName", TEXT),
    "contact_name": ("contactName", TEXT),
    "email": ("email", TEXT),
    "phone": ("phone", TEXT),
    "phone_label": ("phoneLabel", TEXT),
    "company_name": ("companyName", TEXT),
    "business_name": ("businessName", TEXT),
    "business_id": ("businessId", TEXT),
    "assigned_to": ("assignedTo", TEXT),
    "source": ("source", TEXT),
    "type": ("type", TEXT),
    "dnd": ("dnd", pa.bool_()),
    "timezone": ("timezone", TEXT),
    "website": ("website", TEXT),
    "address": ("address1", TEXT),
    "city": ("city", TEXT),
    "state": ("state", TEXT),
    "country": ("country", TEXT),
    "postal_code": ("postalCode", TEXT),
    "date_of_birth": ("dateOfBirth", TEXT),
    "date_added": ("dateAdded", TS),
    "date_updated": ("dateUpdated", TS),
}
TASK_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "id": ("id", TEXT),
    "location_id": ("locationId", TEXT),
    "contact_id": ("contactId", TEXT),
    "title": ("title", TEXT),
    "body": ("body", TEXT),
    "assigned_to": ("assignedTo", TEXT),
    "due_date": ("dueDate", TS),
    "completed": ("completed", pa.bool_()),
}
NOTE_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "id": ("id", TEXT),
    "location_id": ("locationId", TEXT),
    "contact_id": ("contactId", TEXT),
    "title": ("title", TEXT),
    "body": ("body", TEXT),
    "user_id": ("userId", TEXT),
    "date_added": ("dateAdded", TS),
}
BUSINESS_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "id": ("id", TEXT),
    "location_id": ("locationId", TEXT),
    "name": ("name", TEXT),
    "phone": ("phone", TEXT),
    "email": ("email", TEXT),
    "website": ("website", TEXT),
    "address": ("address", TEXT),
    "city": ("city", TEXT),
    "state": ("state", TEXT),
    "country": ("country", TEXT),
    "postal_code": ("postalCode", TEXT),
    "description": ("description", TEXT),
    "created_at": ("createdAt", TS),
    "updated_at": ("updatedAt", TS),
}
CUSTOM_FIELD_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "id": ("id", TEXT),
    "location_id": ("locationId", TEXT),
    "name": ("name", TEXT),
    "field_key": ("fieldKey", TEXT),
    "data_type": ("dataType", TEXT),
    "model": ("model", TEXT),
    "placeholder": ("placeholder", TEXT),
    "position": ("position", pa.int64()),
    "picklist_options": ("picklistOptions", TEXT),
}
DELETE_FIELDS = {"is_deleted": pa.bool_(), "deleted_at": TS}
KEY_COLUMNS = ("location_id", "id")

# Child tables are replaced per parent: each parent in a batch gets one marker row
# flagged for hard delete, so dlt's delete-insert removes the parent's old children
# even when the new list is empty (R14, R26), and the marker itself is not stored.
REPLACE_MARKER = "_replace_marker"


def parse_instant(value: Any) -> datetime | None:
    """An API timestamp as an aware UTC datetime.

    Accepts ISO-8601 with ``Z``, an offset (``+0000`` or ``+00:00``) or none (taken
    as UTC), and epoch milliseconds as a number or digit string.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if not isinstance(value, str):
        raise PayloadError(f"timestamp {value!r} is neither text nor epoch millis")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise PayloadError(f"timestamp {value!r} is not ISO-8601") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_text(value: Any) -> str | None:
    """Any scalar or list as text: lists and objects as JSON, numbers as digits."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def records_table(
    records: Iterable[dict[str, Any]],
    fields: dict[str, tuple[str, pa.DataType]],
    location_id: str,
    extra: dict[str, Any] | None = None,
) -> pa.Table:
    """Build a typed Arrow table from API records, one column per field."""
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    for record in records:
        for name, (key, kind) in fields.items():
            columns[name].append(_convert(record.get(key), kind))
    count = len(columns["id"])
    if None in columns["id"]:
        raise PayloadError(
            f"a {fields['id'][0]!r}-less record among {count}: every GHL record "
            "has an id, the response is malformed"
        )
    columns["location_id"] = [location_id] * count
    schema = [
        pa.field(name, kind, nullable=name not in KEY_COLUMNS)
        for name, (_, kind) in fields.items()
    ]
    for name, value in (extra or {}).items():
        columns[name] = [value] * count
        schema.append(pa.field(name, _kind_of(value, name)))
    return pa.table(columns, schema=pa.schema(schema))


def child_table(
    parent_ids: Sequence[str],
    children: Sequence[tuple[str, dict[str, Any]]],
    location_id: str,
    parent_column: str,
    columns: dict[str, pa.DataType],
) -> pa.Table:
    """A child table for ``parent_ids``, with one replace marker per parent."""
    data: dict[str, list[Any]] = {
        "location_id": [],
        parent_column: [],
        **{name: [] for name in columns},
        REPLACE_MARKER: [],
    }
    for parent_id in parent_ids:
        data["location_id"].append(location_id)
        data[parent_column].append(parent_id)
        for name in columns:
            data[name].append(None)
        data[REPLACE_MARKER].append(True)
    for parent_id, values in children:
        data["location_id"].append(location_id)
        data[parent_column].append(parent_id)
        for name in columns:
            data[name].append(values.get(name))
        data[REPLACE_MARKER].append(False)
    schema = pa.schema(
        [
            pa.field("location_id", TEXT, nullable=False),
            pa.field(parent_column, TEXT, nullable=False),
            *(pa.field(name, kind) for name, kind in columns.items()),
            pa.field(REPLACE_MARKER, pa.bool_()),
        ]
    )
    return pa.table(data, schema=schema)


def custom_field_values(contact: dict[str, Any]) -> list[dict[str, Any]]:
    """A contact's custom-field values as ``{field_id, value_text}`` (R11).

    GHL sends ``{"id", "value"}``; older payloads send ``fieldValueString`` and its
    siblings (``fieldValueNumber``, ``fieldValueArray`` …) instead of ``value``.
    """
    values = []
    for item in contact.get("customFields") or []:
        if not isinstance(item, dict) or not item.get("id"):
            raise PayloadError(
                f"contact {contact.get('id')}: custom field {item!r} has no id; "
                "expected {'id': ..., 'value': ...}"
            )
        if "value" in item:
            value = item["value"]
        else:
            shaped = [k for k in item if k.startswith("fieldValue")]
            if not shaped:
                raise PayloadError(
                    f"contact {contact.get('id')}: custom field {item['id']} has "
                    f"neither 'value' nor 'fieldValue*' (keys {sorted(item)})"
                )
            value = item[shaped[0]]
        values.append({"field_id": str(item["id"]), "value_text": as_text(value)})
    return values


def text_list(contact: dict[str, Any], key: str, inner: str | None = None) -> list[str]:
    """A list of strings from ``contact[key]``; missing, null and [] give []."""
    result = []
    for item in contact.get(key) or []:
        value = item.get(inner) if inner and isinstance(item, dict) else item
        if value is not None and value != "":
            result.append(as_text(value))
    return result


def _convert(value: Any, kind: pa.DataType) -> Any:
    # GHL sends "" for a cleared field; it lands as null, the same in every
    # engine (PostgreSQL's COPY path cannot tell "" from null anyway).
    if value is None or value == "":
        return None
    if kind == TS:
        return parse_instant(value)
    if kind == pa.bool_():
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == pa.int64():
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return as_text(value)


def _kind_of(value: Any, name: str) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, datetime):
        return TS
    if isinstance(value, int):
        return pa.int64()
    if value is None and name in DELETE_FIELDS:
        return DELETE_FIELDS[name]
    return TEXT
