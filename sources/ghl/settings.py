"""Constants of GHL's API v2 that the source depends on.

Sources: the OpenAPI specs in ``shared/ghl-openapi`` (snapshot of
GoHighLevel/highlevel-api-docs) and GHL's rate-limit documentation.
"""

API_VERSION = "2021-07-28"
DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"

# POST /contacts/search accepts at most 500 per page; page + pageLimit reach only
# the first 10,000 records, so the source always pages with `searchAfter`.
SEARCH_PAGE_LIMIT = 500

# GET /contacts/business/{businessId} and GET /businesses/ page with skip/limit.
BUSINESS_PAGE_LIMIT = 100
BUSINESS_CONTACTS_PAGE_LIMIT = 100
TASK_SEARCH_PAGE_LIMIT = 100

# A guard against an API that never stops paging (R17): no list in this API has
# anywhere near this many pages.
MAX_PAGES = 1_000_000

# GHL's published burst limit per location, until its headers say otherwise:
# 100 requests per 10 s (and 200,000 a day, read from X-RateLimit-Daily-*).
DEFAULT_BURST_MAX = 100
DEFAULT_BURST_INTERVAL_MS = 10_000

# Read-only scopes, per resource; the pipeline never asks for a write scope.
RESOURCE_SCOPES = {
    "contacts": "contacts.readonly",
    "tasks": "contacts.readonly",
    "notes": "contacts.readonly",
    "businesses": "businesses.readonly",
    "business_contacts": "contacts.readonly",
    "custom_fields": "locations/customFields.readonly",
    "task_search": "locations/tasks.readonly",
}

# HTTP timeouts in seconds: connect fast, allow slow searches.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 8
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
# A 429 that asks for a longer wait than this stops the run (exit 75) instead.
MAX_RETRY_AFTER = 600.0
