"""Every page action is an API call documented in the OpenAPI schema with typed request and
response models: no JSON answer is an untyped object, no body goes undescribed.

The schema is the one the venue's controller serves (its routines, archive, schedule, the
tablet's and the console's API, the admin's config, the check-in desk's API). Pages and files
(HTML, CSV, a spreadsheet, a photo, a page's script) answer no JSON and are not looked at.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection

from controller.api import create_app
from controller.app import Controller
from controller.config import parse_config
from sites import DESK, hall_yaml

WRITE_METHODS = ("post", "put", "patch")
APP_TIMEOUT = 30.0  # s: the venue's simulators start in well under a second
DESK_JSON = {"POST /api/kiosk/scans", "GET /api/kiosk/search", "POST /api/kiosk/overrides",
             "GET /api/kiosk/screen", "GET /api/kiosk/status", "GET /api/kiosk/attendees"}
DESK_FILES = {"GET /api/kiosk/photos/{ref}": {"image/jpeg", "image/png"},
              "GET /api/kiosk/export.{kind}": {"text/csv",
                                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}


async def _built_app(tmp_path):
    controller = Controller(parse_config(hall_yaml(tmp_path, mqtt=False, annex_extra=DESK)), serve_api=False)
    async with asyncio.timeout(APP_TIMEOUT):
        await controller.start()
    try:
        app = create_app(controller)
        return app, app.openapi()
    finally:
        await controller.stop()


@pytest.fixture(scope="module")
def venue_app(tmp_path_factory):
    """The venue's API app and its OpenAPI schema, as /openapi.json serves it."""
    return asyncio.run(_built_app(tmp_path_factory.mktemp("openapi")))


def _operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def _untyped(schema: dict[str, Any], components: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """A schema that says nothing about what comes: {}, or an object with no properties whose
    values may be anything (``dict[str, Any]``), or a list of those."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name not in seen and _untyped(components[name], components, seen | {name})
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return any(_untyped(branch, components, seen) for branch in schema[combined])
    kind = schema.get("type")
    if kind is None:
        return "const" not in schema and "enum" not in schema
    if kind == "array":
        return _untyped(schema.get("items", {}), components, seen)
    if kind == "object":
        values = schema.get("additionalProperties", True)
        return not schema.get("properties") and not schema.get("patternProperties") and (
            values is True or values == {} or (isinstance(values, dict) and _untyped(values, components, seen)))
    return False


def test_every_json_answer_has_a_typed_response_schema(venue_app):
    _, schema = venue_app
    components = schema["components"]["schemas"]
    offenders, checked = [], set()
    for method, path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            json_body = response.get("content", {}).get("application/json")
            if not status.startswith("2") or json_body is None:
                continue  # pages, CSV, files; answers without a body
            checked.add(f"{method.upper()} {path}")
            if _untyped(json_body.get("schema", {}), components):
                offenders.append(f"{method.upper()} {path} → {status}: {json_body.get('schema', {})}")
    assert offenders == [], "answers with no typed schema:\n" + "\n".join(offenders)
    assert len(checked) > 40  # the venue's whole API was looked at
    assert DESK_JSON <= checked, DESK_JSON - checked  # and the check-in desk's with it


def test_the_desk_s_files_are_documented_as_files_and_its_refusals_as_its_error_body(venue_app):
    _, schema = venue_app
    desk = {f"{method.upper()} {path}": operation for method, path, operation in _operations(schema)
            if path.startswith("/api/kiosk/")}
    assert set(desk) == DESK_JSON | set(DESK_FILES)
    for where, media in DESK_FILES.items():
        assert set(desk[where]["responses"]["200"]["content"]) == media, where
    undocumented = [f"{where} → {status}" for where, operation in desk.items() for status in ("401", "403")
                    if operation["responses"].get(status, {}).get("content", {}).get("application/json", {})
                    .get("schema") != {"$ref": "#/components/schemas/KioskErrorBody"}]
    assert undocumented == []  # a missing or wrong token: the desk's own refusal
    pin = desk["POST /api/kiosk/overrides"]["responses"]
    assert {"403", "404", "422", "429"} <= set(pin)  # wrong PIN, nobody by that id, bad request, PIN locked


def test_every_body_a_write_takes_has_a_typed_request_schema(venue_app):
    app, schema = venue_app
    components = schema["components"]["schemas"]
    offenders = []
    for method, path, operation in _operations(schema):
        if method not in WRITE_METHODS or "requestBody" not in operation:
            continue
        content = operation["requestBody"].get("content", {})
        body = content.get("application/json")
        if body is None or _untyped(body.get("schema", {}), components):
            offenders.append(f"{method.upper()} {path}: {content}")
    # A route that reads the request itself takes a body the schema cannot describe.
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.methods & {"POST", "PUT", "PATCH"}:
            continue
        raw = [name for name, parameter in inspect.signature(route.endpoint).parameters.items()
               if isinstance(parameter.annotation, type) and issubclass(parameter.annotation, HTTPConnection)]
        if raw and route.body_field is None:
            offenders.append(f"{sorted(route.methods)} {route.path}: reads the raw request ({', '.join(raw)})")
    assert offenders == [], "bodies with no typed schema:\n" + "\n".join(offenders)


def test_untyped_schemas_are_told_apart_from_typed_ones():
    components = {"Free": {"type": "object", "additionalProperties": True, "title": "Free"},
                  "Typed": {"type": "object", "properties": {"id": {"type": "string"}}},
                  "Tree": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/c/Tree"}}]}}
    untyped = [{}, {"title": "Response"}, {"type": "object"}, {"type": "object", "additionalProperties": {}},
               {"type": "array", "items": {"type": "object", "additionalProperties": True}}, {"$ref": "#/c/Free"},
               {"anyOf": [{"$ref": "#/c/Typed"}, {"type": "object"}]}]
    typed = [{"$ref": "#/c/Typed"}, {"type": "array", "items": {"$ref": "#/c/Typed"}}, {"$ref": "#/c/Tree"},
             {"type": "object", "additionalProperties": {"type": "integer"}}, {"type": "string"},
             {"anyOf": [{"$ref": "#/c/Typed"}, {"type": "null"}]}]
    assert [s for s in untyped if not _untyped(s, components)] == []
    assert [s for s in typed if _untyped(s, components)] == []
