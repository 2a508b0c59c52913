"""The raw table contract that the staging models read.

The source writes these tables into the raw dataset (`ghl_raw`, see
docs/architecture.md). dlt creates a column only once a non-null value arrives, and a
resource that is switched off creates no table at all, so the runner puts a typed view
`src_<table>` in front of every raw table: columns that exist are cast to their contract
type, columns that do not exist become typed nulls, and a missing table becomes an empty
view. Staging reads only these views.
"""

TEXT = "text"
BOOL = "boolean"
TS = "timestamp with time zone"
BIGINT = "bigint"

# dlt bookkeeping columns the staging models use to pick the latest row.
_LOAD = {"_dlt_load_id": TEXT}
_CHILD = {**_LOAD, "_replace_marker": BOOL}

RAW_TABLES: dict[str, dict[str, str]] = {
    "contacts": {
        "id": TEXT,
        "location_id": TEXT,
        "first_name": TEXT,
        "last_name": TEXT,
        "contact_name": TEXT,
        "email": TEXT,
        "phone": TEXT,
        "phone_label": TEXT,
        "company_name": TEXT,
        "business_name": TEXT,
        "business_id": TEXT,
        "assigned_to": TEXT,
        "source": TEXT,
        "type": TEXT,
        "dnd": BOOL,
        "timezone": TEXT,
        "website": TEXT,
        "address": TEXT,
        "city": TEXT,
        "state": TEXT,
        "country": TEXT,
        "postal_code": TEXT,
        "date_of_birth": TEXT,
        "date_added": TS,
        "date_updated": TS,
        "is_deleted": BOOL,
        "deleted_at": TS,
        **_LOAD,
    },
    "contact_tags": {
        "location_id": TEXT,
        "contact_id": TEXT,
        "tag": TEXT,
        **_CHILD,
    },
    "contact_custom_fields": {
        "location_id": TEXT,
        "contact_id": TEXT,
        "field_id": TEXT,
        "value_text": TEXT,
        **_CHILD,
    },
    "contact_additional_emails": {
        "location_id": TEXT,
        "contact_id": TEXT,
        "email": TEXT,
        **_CHILD,
    },
    "tasks": {
        "id": TEXT,
        "location_id": TEXT,
        "contact_id": TEXT,
        "title": TEXT,
        "body": TEXT,
        "assigned_to": TEXT,
        "due_date": TS,
        "completed": BOOL,
        "is_deleted": BOOL,
        "deleted_at": TS,
        **_LOAD,
    },
    "notes": {
        "id": TEXT,
        "location_id": TEXT,
        "contact_id": TEXT,
        "title": TEXT,
        "body": TEXT,
        "user_id": TEXT,
        "date_added": TS,
        "is_deleted": BOOL,
        "deleted_at": TS,
        **_LOAD,
    },
    "businesses": {
        "id": TEXT,
        "location_id": TEXT,
        "name": TEXT,
        "phone": TEXT,
        "email": TEXT,
        "website": TEXT,
        "address": TEXT,
        "city": TEXT,
        "state": TEXT,
        "country": TEXT,
        "postal_code": TEXT,
        "description": TEXT,
        "created_at": TS,
        "updated_at": TS,
        **_LOAD,
    },
    "business_contacts": {
        "location_id": TEXT,
        "business_id": TEXT,
        "contact_id": TEXT,
        **_CHILD,
    },
    "business_contact_counts": {
        "location_id": TEXT,
        "business_id": TEXT,
        "api_contact_count": BIGINT,
        "fetched_at": TS,
        **_LOAD,
    },
    "custom_fields": {
        "id": TEXT,
        "location_id": TEXT,
        "name": TEXT,
        "field_key": TEXT,
        "data_type": TEXT,
        "model": TEXT,
        "placeholder": TEXT,
        "position": BIGINT,
        "picklist_options": TEXT,
        **_LOAD,
    },
}
