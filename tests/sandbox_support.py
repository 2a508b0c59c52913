"""Helpers shared by the sandbox tests: an httpx client and the OpenAPI specs."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from sandbox.server import API_VERSION, Sandbox


def client(api: Sandbox, token: str | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client for the sandbox with a bearer token and the Version header."""
    headers = {
        "Authorization": f"Bearer {token or api.token}",
        "Version": API_VERSION,
    }
    kwargs.setdefault("timeout", 10)
    return httpx.Client(base_url=api.base_url, headers=headers, **kwargs)


def spec_dir() -> Path:
    """The ``ghl-openapi`` folder: ``<repo>/../shared`` or ``$GHL_OPENAPI_DIR``."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "ghl-openapi"
    if beside.is_dir():
        return beside
    configured = os.environ.get("GHL_OPENAPI_DIR")
    if not configured:
        raise FileNotFoundError(
            f"GHL's OpenAPI specs are not at {beside}: clone the project beside "
            "shared/ or set GHL_OPENAPI_DIR to the ghl-openapi folder"
        )
    return Path(configured)


# Deviations of real GHL (and of the sandbox outside spec_strict) from the published
# spec. Each name is one relaxation that `load_spec` can apply to the schemas.
QUIRKS = {
    # Nulls where the spec types a plain string/boolean (GHL sends null fields).
    "nullable",
    # customFields[].value is typed string; GHL sends numbers and lists too.
    "custom_field_value_any",
    # Contact.searchAfter items are typed string; GHL sends [epoch-ms number, id].
    "search_after_number",
    # LocationTaskListSuccessfulResponseDto.tasks is an array of arrays in the spec;
    # GHL (and the sandbox, always) sends an array of task objects.
    "task_search_objects",
}


def _relax(node: Any, quirks: frozenset[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _relax(item, quirks)
        return
    if not isinstance(node, dict):
        return
    if "nullable" in quirks and node.get("type") in ("string", "boolean", "number"):
        node["nullable"] = True
    properties = node.get("properties", {})
    if "custom_field_value_any" in quirks and set(properties) == {"id", "value"}:
        properties["value"] = {}
    if "search_after_number" in quirks and "searchAfter" in properties:
        properties["searchAfter"]["items"] = {
            "anyOf": [{"type": "string"}, {"type": "number"}]
        }
    if "task_search_objects" in quirks and node.get("items") == {"type": "array"}:
        node["items"] = {"type": "object"}
    for value in node.values():
        _relax(value, quirks)


@cache
def _registry(quirks: frozenset[str]) -> Registry:
    resources = []
    for path in spec_dir().rglob("*.json"):
        contents = json.loads(path.read_text())
        contents = copy.deepcopy(contents)
        _relax(contents, quirks)
        resource = Resource.from_contents(contents, default_specification=DRAFT4)
        resources.append((path.resolve().as_uri(), resource))
    return Registry().with_resources(resources)


def validator(
    spec: str, path: str, method: str, status: int, quirks: frozenset[str]
) -> OAS30Validator:
    """A validator for one documented response of one spec file.

    Args:
        spec: the spec file under ``ghl-openapi``, e.g. ``apps/contacts.json``.
        path: the OpenAPI path, e.g. ``/contacts/{contactId}``.
        method: lower-case HTTP method.
        status: response status.
        quirks: names from ``QUIRKS`` to relax.
    """
    uri = (spec_dir() / spec).resolve().as_uri()
    registry = _registry(quirks)
    document = registry.contents(uri)
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    pointer = schema["$ref"]
    if pointer.startswith("#"):
        pointer = uri + pointer
    else:
        pointer = (spec_dir() / spec).parent.joinpath(pointer).resolve().as_uri()
        pointer = pointer.replace("%23", "#")
    return OAS30Validator({"$ref": pointer}, registry=registry)
