#!/usr/bin/env python3
"""Tests check_openapi.py's document checks on small documents of known quality.

    python3 tests/python/run_checks.py selftest.py

A check that passes on anything proves nothing, so: a small valid document with typed bodies
must pass validate, generate, operations and typed-bodies, and a broken one must fail each of
them with the messages of the tools, naming every problem. (The lifecycle needs a server; the
Rust test tests/api/python_client.rs runs it against a real one.) Exit 0 when all hold.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import check_openapi as co

ERR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def ok(schema_ref: str, status: str = "200") -> dict:
    return {
        status: {
            "description": "ok",
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}
            },
        },
        "404": ERR,
    }


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

VALID = {
    "openapi": "3.1.0",
    "info": {"title": "self-test", "version": "1"},
    "security": [{"api_key": []}],
    "paths": {
        "/api/integrations/things": {
            "post": {
                "tags": ["things"],
                "operationId": "createThing",
                "requestBody": body({"$ref": "#/components/schemas/ThingInput"}),
                "responses": ok("Thing", "201"),
            },
        },
        "/api/integrations/things/{id}": {
            "get": {
                "tags": ["things"],
                "operationId": "getThing",
                "parameters": [ID],
                "responses": ok("Thing"),
            },
            "put": {
                "tags": ["things"],
                "operationId": "updateThing",
                "parameters": [ID],
                "requestBody": body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 2},
                            "colorCode": {"type": ["string", "null"]},
                        },
                    }
                ),
                "responses": ok("Thing"),
            },
        },
    },
    "components": {
        "securitySchemes": {"api_key": {"type": "apiKey", "in": "header", "name": "X-Invois-Key"}},
        "schemas": {
            "ThingInput": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "colorCode": {"type": "string", "enum": ["red", "blue"]},
                },
            },
            "Thing": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
            "Error": {"type": "object", "properties": {"code": {"type": "string"}}},
        },
    },
}


def broken() -> dict:
    """VALID with today's invois faults: a repeated operationId, an untyped body, a list body."""
    doc = copy.deepcopy(VALID)
    things = doc["paths"]["/api/integrations/things/{id}"]
    things["put"]["operationId"] = "update"
    things["put"]["requestBody"] = body({"type": "object"})
    doc["paths"]["/api/integrations/widgets/{id}"] = {
        "patch": {
            "tags": ["widgets"],
            "operationId": "update",
            "parameters": [ID],
            "requestBody": body({"type": "object"}),
            "responses": ok("Thing"),
        }
    }
    doc["paths"]["/api/integrations/things"]["post"]["requestBody"] = body(
        {"type": "array", "items": {"type": "string"}}
    )
    return doc


def outcome(fn) -> tuple[str, str]:
    try:
        fn()
    except co.CheckFailed as e:
        return "FAIL", str(e)
    return "ok", ""


def run_checks(doc: dict, workdir: Path) -> dict[str, tuple[str, str]]:
    results = {"validate": outcome(lambda: co.check_validate(doc))}
    results["generate"] = outcome(lambda: co.check_generate(doc, workdir))
    client = co.Client(doc, workdir / co.PACKAGE)
    results["operations"] = outcome(lambda: co.check_operations(doc, client))
    results["typed-bodies"] = outcome(lambda: co.check_typed_bodies(doc, client))
    return results


def main() -> int:
    failures: list[str] = []

    def expect(case: str, check: str, got: tuple[str, str], status: str, lines: list[str]) -> None:
        if got[0] != status:
            failures.append(f"{case} {check}: {got[0]}, expected {status}\n{got[1]}")
            return
        absent = [line for line in lines if line not in got[1].splitlines()]
        if absent:
            failures.append(f"{case} {check}: message lacks {absent}; it was:\n{got[1]}")

    with tempfile.TemporaryDirectory(prefix="invois-selftest-") as tmp:
        good = run_checks(VALID, Path(tmp) / "valid")
        for check, got in good.items():
            expect("valid document", check, got, "ok", [])

        bad = run_checks(broken(), Path(tmp) / "broken")
        expect(
            "broken document",
            "validate",
            bad["validate"],
            "FAIL",
            [
                "Operation ID 'update' for 'patch' in '/api/integrations/widgets/{id}' is not unique",
            ],
        )
        expect(
            "broken document",
            "generate",
            bad["generate"],
            "FAIL",
            [
                "WARNING parsing PATCH /api/integrations/widgets/{id} within widgets. Endpoint will not be"
                ' generated. — Attempted to generate duplicate models with name "UpdateBody"',
            ],
        )
        expect(
            "broken document",
            "operations",
            bad["operations"],
            "FAIL",
            [
                "PATCH /api/integrations/widgets/{id} (update): no module invois_client.api.widgets.update in the client",
            ],
        )
        expect(
            "broken document",
            "typed-bodies",
            bad["typed-bodies"],
            "FAIL",
            [
                "POST /api/integrations/things (createThing): its schema declares no properties;"
                " the client takes the body as list, not as a model",
                "PUT /api/integrations/things/{id} (update): its schema declares no properties;"
                " model UpdateBody has no fields",
                "PATCH /api/integrations/widgets/{id} (update): its schema declares no properties;"
                " no module invois_client.api.widgets.update in the client",
            ],
        )

    for failure in failures:
        print(f"selftest FAIL: {failure}", flush=True)
    print(f"== selftest: {'FAIL' if failures else 'ok'} ({len(failures)} problem(s))", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
