#!/usr/bin/env python3
"""Checks invois's OpenAPI document with the tools an integrator would use.

    check_openapi.py --base-url http://127.0.0.1:8080 --api-key KEY [--keep DIR] [--repair-document]

Run inside the venv that run_checks.py builds (it needs openapi-spec-validator and
openapi-python-client). Five checks, each reported with everything it found:

  validate      openapi-spec-validator accepts /api/integrations/openapi.json.
  generate      openapi-python-client generates a client without a warning (a warning means
                it left an endpoint or a model out).
  operations    every operation of the document is in the client as api/<tag>/<operationId>.py
                with sync_detailed, for that method and path.
  typed-bodies  every request body is a generated model that declares the schema's properties
                (not a bag of additional properties, a dict or Any).
  lifecycle     through the generated client only: a tier, an organization and a user are
                created, listed, searched, read (the organization by id and by slug), updated
                with PUT, joined as member (added, listed, role changed with PUT, removed) and
                deleted; statuses and returned fields are checked at every step. Operations are
                found by method and path in the document, never by guessed names.

Exit 0 when every check passes, 1 otherwise, 2 on a usage error.

--repair-document is for working on this script while the served document is still invalid:
it renames duplicate operationIds in memory (to <tag>_<operationId>) and lets the lifecycle
use PATCH where PUT is missing. Its results say nothing about the served document, and a run
with it never exits 0.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
import tempfile
import traceback
import types
import typing
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
from openapi_python_client.strings import PythonIdentifier
from openapi_spec_validator.shortcuts import get_validator_cls

PACKAGE = "invois_client"
DOC_PATH = "/api/integrations/openapi.json"
API_PREFIX = "/api/integrations"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The generator's defaults for names that are not identifiers (config.py of the pinned version).
FIELD_PREFIX = "field_"
GENERATOR_CONFIG = f"""\
project_name_override: invois-client
package_name_override: {PACKAGE}
# No formatters: ruff is not needed to check the code it would only reformat.
post_hooks: []
"""


class CheckFailed(Exception):
    """A check found problems; each line of the message is one problem."""


class NotRun(Exception):
    """A check could not run because an earlier one failed."""


class Report:
    def __init__(self) -> None:
        self.results: list[tuple[str, str]] = []

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        try:
            value = fn()
        except CheckFailed as e:
            self.results.append((name, "FAIL"))
            lines = str(e).splitlines() or ["(no detail)"]
            print(f"[{name}] FAIL: {lines[0]}", flush=True)
            for line in lines[1:]:
                print(f"    {line}", flush=True)
            return None
        except NotRun as e:
            self.results.append((name, "NOT RUN"))
            print(f"[{name}] NOT RUN: {e}", flush=True)
            return None
        except Exception as e:  # noqa: BLE001 - a crash is one more thing to report
            self.results.append((name, "FAIL"))
            print(f"[{name}] FAIL: {type(e).__name__}: {e}", flush=True)
            for line in traceback.format_exc().rstrip().splitlines()[-12:]:
                print(f"    {line}", flush=True)
            return None
        self.results.append((name, "ok"))
        print(f"[{name}] ok", flush=True)
        return value

    def failed(self) -> list[str]:
        return [name for name, outcome in self.results if outcome != "ok"]


def op_label(method: str, path: str, op: dict) -> str:
    return f"{method.upper()} {path} ({op.get('operationId', 'no operationId')})"


def operations(doc: dict):
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(doc: dict, schema: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise CheckFailed(f"external $ref {ref} cannot be resolved")
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def schema_properties(doc: dict, schema: dict) -> set[str]:
    """Property names a JSON body may carry, through $ref and allOf/oneOf/anyOf."""
    schema = resolve(doc, schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            names |= schema_properties(doc, sub)
    return names


# --- the document ----------------------------------------------------------------------------


def fetch_document(base_url: str) -> dict:
    url = base_url.rstrip("/") + DOC_PATH
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return json.loads(res.read())
    except (OSError, ValueError) as e:
        raise CheckFailed(f"GET {url} failed: {e}") from e


def repair_document(doc: dict) -> None:
    """Debug only: makes duplicate operationIds unique (<tag>_<operationId>), in memory."""
    seen: dict[str, int] = {}
    for _, _, op in operations(doc):
        if "operationId" in op:
            seen[op["operationId"]] = seen.get(op["operationId"], 0) + 1
    for method, path, op in operations(doc):
        op_id = op.get("operationId")
        if op_id is not None and seen[op_id] > 1:
            tag = (op.get("tags") or ["default"])[0]
            op["operationId"] = f"{tag}_{op_id}"
            print(f"repair: {method.upper()} {path}: operationId {op_id} -> {op['operationId']}")


# --- the checks ------------------------------------------------------------------------------


def check_validate(doc: dict) -> None:
    from jsonschema_path import SchemaPath

    try:
        cls = get_validator_cls(doc)
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"openapi-spec-validator cannot tell the OpenAPI version: {e!r}") from e
    errors = []
    for error in cls(SchemaPath.from_dict(doc)).iter_errors():
        where = "/".join(str(p) for p in getattr(error, "absolute_path", []) or [])
        message = getattr(error, "message", None) or str(error)
        errors.append(f"{message}" + (f"  (at {where})" if where else ""))
    if errors:
        raise CheckFailed(
            f"openapi-spec-validator ({cls.__name__}) found {len(errors)} error(s):\n"
            + "\n".join(errors)
        )


def check_generate(doc: dict, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    spec = workdir / "openapi.json"
    spec.write_text(json.dumps(doc))
    config = workdir / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    out = workdir / PACKAGE
    cmd = [
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(spec),
        "--config",
        str(config),
        "--meta",
        "none",
        "--output-path",
        str(out),
        "--overwrite",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=workdir)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not (out / "__init__.py").exists():
        raise CheckFailed(
            f"openapi-python-client exited {proc.returncode} without a client:\n{output}"
        )
    warnings = warning_blocks(output)
    if warnings:
        raise CheckFailed(
            f"openapi-python-client generated a client with {len(warnings)} warning(s); "
            "what they name is missing from the client:\n" + "\n".join(warnings)
        )
    return out


def warning_blocks(output: str) -> list[str]:
    """openapi-python-client's warnings: a 'WARNING ...' line and the reason lines after it."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("WARNING"):
            current = [text]
            blocks.append("")
        elif current is not None and text and not text.startswith("If you believe"):
            current.append(text)
        elif current is not None and text.startswith("If you believe"):
            current = None
        if current is not None:
            blocks[-1] = " — ".join(current)
    return blocks


class Client:
    """The generated package and the document's operations mapped onto its modules."""

    def __init__(self, doc: dict, package_dir: Path) -> None:
        self.doc = doc
        # A client generated earlier in this process (the self-test makes several) goes first.
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        sys.path[:] = [p for p in sys.path if not (Path(p) / PACKAGE).is_dir()]
        sys.path.insert(0, str(package_dir.parent))
        importlib.invalidate_caches()
        self.package = importlib.import_module(PACKAGE)
        self.errors = importlib.import_module(f"{PACKAGE}.errors")

    @staticmethod
    def module_name(op: dict) -> str:
        # As openapi-python-client names endpoint modules (parser/openapi.py, __init__.py).
        tag = PythonIdentifier(value=(op.get("tags") or ["default"])[0], prefix="tag")
        name = PythonIdentifier(
            PythonIdentifier(op["operationId"], prefix=FIELD_PREFIX), FIELD_PREFIX
        )
        return f"{PACKAGE}.api.{tag}.{name}"

    def module(self, method: str, path: str, op: dict):
        if "operationId" not in op:
            raise CheckFailed(f"{method.upper()} {path} has no operationId")
        name = self.module_name(op)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise CheckFailed(
                f"{op_label(method, path, op)}: no module {name} in the client"
            ) from e
        if not callable(getattr(module, "sync_detailed", None)):
            raise CheckFailed(f"{op_label(method, path, op)}: {name} has no sync_detailed")
        source = Path(module.__file__).read_text()
        url = re.search(r'"url": "([^"]*)"', source)
        generated_path = re.sub(r"\{[^}]*\}", "{}", url.group(1)) if url else None
        if f'"method": "{method}"' not in source or generated_path != re.sub(
            r"\{[^}]*\}", "{}", path
        ):
            raise CheckFailed(
                f"{op_label(method, path, op)}: {name} is another operation "
                f"({url.group(1) if url else 'no url'}); two operations share its name"
            )
        return module

    def body_types(self, module) -> list[type]:
        """The classes the generated sync_detailed accepts as `body` (Unset and None aside)."""
        hints = typing.get_type_hints(module.sync_detailed)
        if "body" not in hints:
            return []
        hint = hints["body"]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        return [a for a in args if a is not type(None) and getattr(a, "__name__", "") != "Unset"]


def check_operations(doc: dict, client: Client) -> dict[tuple[str, str], Any]:
    problems, found = [], {}
    for method, path, op in operations(doc):
        try:
            found[(method, path)] = client.module(method, path, op)
        except CheckFailed as e:
            problems.append(str(e))
    if problems:
        raise CheckFailed(
            f"{len(problems)} of {len(found) + len(problems)} operations are not in the client "
            "as their operationId says:\n" + "\n".join(problems)
        )
    return found


def check_typed_bodies(doc: dict, client: Client) -> None:
    problems, count = [], 0
    for method, path, op in operations(doc):
        if "requestBody" not in op:
            continue
        count += 1
        found = body_problems(doc, client, method, path, op)
        if found:
            problems.append(f"{op_label(method, path, op)}: {'; '.join(found)}")
    if problems:
        raise CheckFailed(
            f"{len(problems)} of the {count} request bodies are not typed:\n" + "\n".join(problems)
        )


def body_problems(doc: dict, client: Client, method: str, path: str, op: dict) -> list[str]:
    """What keeps this operation's request body from being a typed model (empty: nothing)."""
    content = resolve(doc, op["requestBody"]).get("content", {})
    if "application/json" not in content:
        return [f"the request body is not application/json but {', '.join(content) or 'nothing'}"]
    problems = []
    wanted = schema_properties(doc, content["application/json"].get("schema", {}))
    if not wanted:
        problems.append("its schema declares no properties")
    try:
        module = client.module(method, path, op)
    except CheckFailed as e:
        return [*problems, str(e).split(": ", 1)[-1]]
    accepted = client.body_types(module)
    models = [t for t in accepted if isinstance(t, type) and attrs.has(t)]
    if not models or len(models) != len(accepted):
        shown = " | ".join(getattr(t, "__name__", repr(t)) for t in accepted) or "no body parameter"
        return [*problems, f"the client takes the body as {shown}, not as a model"]
    for model in models:
        fields = {f.name for f in attrs.fields(model)} - {"additional_properties"}
        if not fields:
            problems.append(f"model {model.__name__} has no fields")
            continue
        missing = sorted(
            p for p in wanted if PythonIdentifier(p, prefix=FIELD_PREFIX) not in fields
        )
        if missing:
            problems.append(f"model {model.__name__} lacks {', '.join(missing)}")
    return problems


# --- the lifecycle ---------------------------------------------------------------------------


class Lifecycle:
    def __init__(self, doc: dict, client: Client, base_url: str, api_key: str, repair: bool):
        self.doc = doc
        self.client = client
        self.repair = repair
        auth = importlib.import_module(f"{PACKAGE}.client")
        self.http = auth.AuthenticatedClient(
            base_url=base_url.rstrip("/") + server_path(doc),
            token=api_key,
            prefix="",
            auth_header_name="X-Invois-Key",
            raise_on_unexpected_status=True,
            timeout=httpx.Timeout(30.0),
        )

    def find(self, method: str, rel: str):
        """The operation for `method` and a path under /api/integrations ("{}" for parameters)."""
        prefix = server_path(self.doc)
        for m, path, op in operations(self.doc):
            full = prefix + path
            if m == method and re.sub(r"\{[^}]*\}", "{}", full) == API_PREFIX + rel:
                return m, path, op
        raise CheckFailed(f"the document has no {method.upper()} {API_PREFIX}{rel}")

    def find_update(self, rel: str):
        try:
            return self.find("put", rel)
        except CheckFailed:
            if not self.repair:
                raise
            print(f"repair: no PUT {API_PREFIX}{rel}; the lifecycle uses PATCH", flush=True)
            return self.find("patch", rel)

    def call(
        self,
        found,
        *path_args: str,
        body: dict | None = None,
        query: dict | None = None,
        expect: int,
    ) -> dict | None:
        method, path, op = found
        module = self.client.module(method, path, op)
        label = f"{method.upper()} {path}"
        kwargs: dict[str, Any] = {"client": self.http}
        for name, value in (query or {}).items():
            kwargs[PythonIdentifier(name, prefix=FIELD_PREFIX)] = value
        if body is not None:
            models = [
                t for t in self.client.body_types(module) if isinstance(t, type) and attrs.has(t)
            ]
            if not models:
                raise CheckFailed(f"{label}: the client has no model for the request body")
            model = models[0].from_dict(body)
            if model.to_dict() != body:
                raise CheckFailed(
                    f"{label}: {type(model).__name__} does not carry the body as given: "
                    f"{body} became {model.to_dict()}"
                )
            kwargs["body"] = model
        try:
            res = module.sync_detailed(*path_args, **kwargs)
        except self.client.errors.UnexpectedStatus as e:
            raise CheckFailed(
                f"{label}: status {e.status_code} is not declared in the document: {e.content[:500]!r}"
            ) from e
        if res.status_code != expect:
            raise CheckFailed(
                f"{label}: status {int(res.status_code)}, expected {expect}: {res.content[:500]!r}"
            )
        print(f"    lifecycle: {label} -> {int(res.status_code)}", flush=True)
        self.last_headers = res.headers
        if expect == 204:
            return None
        if not attrs.has(type(res.parsed)):
            raise CheckFailed(
                f"{label}: the client parsed the {expect} body as {type(res.parsed).__name__}, "
                "not as a model"
            )
        return res.parsed.to_dict()

    def run(self) -> None:
        sfx = uuid.uuid4().hex[:8]
        members, member_one = "/organizations/{}/members", "/organizations/{}/members/{}"
        org_one, user_one = "/organizations/{}", "/users/{}"
        wanted = {
            "tiers": ("post", "/tiers"),
            "tier": ("delete", "/tiers/{}"),
            "orgs": ("post", "/organizations"),
            "list_orgs": ("get", "/organizations"),
            "get_org": ("get", org_one),
            "put_org": ("put", org_one),
            "delete_org": ("delete", org_one),
            "users": ("post", "/users"),
            "list_users": ("get", "/users"),
            "get_user": ("get", user_one),
            "put_user": ("put", user_one),
            "delete_user": ("delete", user_one),
            "add_member": ("post", members),
            "list_members": ("get", members),
            "put_member": ("put", member_one),
            "delete_member": ("delete", member_one),
        }
        ops, missing = {}, []
        for key, (method, rel) in wanted.items():
            try:
                ops[key] = self.find_update(rel) if method == "put" else self.find(method, rel)
                self.client.module(*ops[key])
            except CheckFailed as e:
                missing.append(str(e))
        if missing:
            raise CheckFailed(
                f"{len(missing)} operation(s) the lifecycle needs are missing:\n"
                + "\n".join(missing)
            )
        tiers, tier, orgs, get_org = ops["tiers"], ops["tier"], ops["orgs"], ops["get_org"]
        users, get_user, list_members = ops["users"], ops["get_user"], ops["list_members"]

        limits = {"maxUsers": 5, "maxStorage": "1GB", "apiCallsPerMonth": 1000}
        t = self.call(
            tiers,
            body={"name": f"Py Tier {sfx}", "features": ["sso"], "limits": limits},
            expect=201,
        )
        expect_fields(
            t, {"name": f"Py Tier {sfx}", "features": ["sso"], "limits": limits}, "created tier"
        )

        slug = f"py-client-{sfx}"
        o = self.call(
            orgs,
            body={"name": f"Py Client Org {sfx}", "slug": slug, "premiumTierId": t["id"]},
            expect=201,
        )
        expect_fields(
            o,
            {"name": f"Py Client Org {sfx}", "slug": slug, "memberCount": 0},
            "created organization",
        )
        expect_fields(
            o["premiumTier"],
            {"id": t["id"], "name": t["name"]},
            "created organization's premiumTier",
        )

        email = f"py-client-{sfx}@example.com"
        u = self.call(
            users, body={"name": "Py Client", "email": email, "role": "customer"}, expect=201
        )
        expect_fields(
            u,
            {"name": "Py Client", "email": email, "role": "customer", "members": []},
            "created user",
        )
        location = self.last_headers.get("location", "")
        if not location.endswith(f"/users/{u['id']}"):
            raise CheckFailed(f"POST /users: Location {location!r} does not name /users/{u['id']}")

        listed = self.call(ops["list_users"], query={"query": email}, expect=200)
        expect_ids(listed, [u["id"]], f"GET /users?query={email}")
        listed = self.call(ops["list_orgs"], query={"per_page": 100}, expect=200)
        if o["id"] not in [item["id"] for item in listed["data"]]:
            raise CheckFailed(f"GET /organizations?per_page=100 does not list {o['id']}")
        found = self.call(ops["list_orgs"], query={"query": sfx.upper()}, expect=200)
        expect_ids(found, [o["id"]], f"GET /organizations?query={sfx.upper()}")

        by_id = self.call(get_org, o["id"], expect=200)
        expect_fields(by_id, {"id": o["id"], "slug": slug, "members": []}, "organization by id")
        by_slug = self.call(get_org, slug, expect=200)
        expect_fields(by_slug, {"id": o["id"], "slug": slug}, "organization by slug")

        u2 = self.call(ops["put_user"], u["id"], body={"name": "Py Client Renamed"}, expect=200)
        expect_fields(
            u2, {"id": u["id"], "name": "Py Client Renamed", "email": email}, "updated user"
        )
        o2 = self.call(ops["put_org"], o["id"], body={"name": f"Py Renamed {sfx}"}, expect=200)
        expect_fields(
            o2, {"id": o["id"], "name": f"Py Renamed {sfx}", "slug": slug}, "updated organization"
        )

        m = self.call(
            ops["add_member"], o["id"], body={"userId": u["id"], "role": "admin"}, expect=201
        )
        expect_fields(
            m, {"userId": u["id"], "organizationId": o["id"], "role": "admin"}, "new membership"
        )
        expect_ids(self.call(list_members, o["id"], expect=200), [m["id"]], f"GET {members}")
        got_user = self.call(get_user, u["id"], expect=200)
        expect_fields(
            {
                "members": [
                    {k: x.get(k) for k in ("id", "organizationId", "role")}
                    for x in got_user["members"]
                ]
            },
            {"members": [{"id": m["id"], "organizationId": o["id"], "role": "admin"}]},
            "user's members",
        )
        m2 = self.call(ops["put_member"], o["id"], m["id"], body={"role": "owner"}, expect=200)
        expect_fields(m2, {"id": m["id"], "role": "owner"}, "updated membership")
        o3 = self.call(get_org, o["id"], expect=200)
        expect_fields(o3, {"memberCount": 1}, "organization with a member")
        if [x["userId"] for x in o3["members"]] != [u["id"]]:
            raise CheckFailed(f"organization members are {o3['members']}, expected the one user")

        self.call(ops["delete_member"], o["id"], m["id"], expect=204)
        expect_ids(
            self.call(list_members, o["id"], expect=200), [], f"GET {members} after the delete"
        )
        self.call(ops["delete_user"], u["id"], expect=204)
        gone = self.call(get_user, u["id"], expect=404)
        expect_fields(gone, {"code": "not_found"}, "deleted user")
        self.call(ops["delete_org"], o["id"], expect=204)
        gone = self.call(get_org, o["id"], expect=404)
        expect_fields(gone, {"code": "not_found"}, "deleted organization")
        self.call(tier, t["id"], expect=204)


def server_path(doc: dict) -> str:
    """The path part of the document's first server URL ("" when there is none)."""
    servers = doc.get("servers") or [{}]
    url = servers[0].get("url", "")
    path = re.sub(r"^[a-z]+://[^/]*", "", url)
    return path.rstrip("/")


def expect_fields(got: dict, want: dict, what: str) -> None:
    wrong = {k: got.get(k, "<absent>") for k, v in want.items() if got.get(k, "<absent>") != v}
    if wrong:
        raise CheckFailed(
            f"{what}: got {wrong}, expected {{{', '.join(f'{k!r}: {want[k]!r}' for k in wrong)}}}"
        )


def expect_ids(page: dict, ids: list[str], what: str) -> None:
    got = [item["id"] for item in page.get("data", [])]
    if got != ids:
        raise CheckFailed(f"{what}: data ids {got}, expected {ids}")
    total = page.get("meta", {}).get("total")
    if total is not None and total != len(ids):
        raise CheckFailed(f"{what}: meta.total {total}, expected {len(ids)}")


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument(
        "--api-key",
        required=True,
        help="a key with the read and write scopes of users, organizations and tiers",
    )
    parser.add_argument("--keep", type=Path, help="generate the client here and keep it")
    parser.add_argument(
        "--repair-document", action="store_true", help="debug only; see the module doc"
    )
    args = parser.parse_args()

    print(f"== invois OpenAPI checks against {args.base_url}{DOC_PATH}", flush=True)
    report = Report()
    doc = report.run("fetch", lambda: fetch_document(args.base_url))
    if doc is None:
        return finish(report, args.repair_document)
    if args.repair_document:
        print("repair: DEBUG RUN, the document is repaired in memory; results do not speak for it")
        repair_document(doc)

    with tempfile.TemporaryDirectory(prefix="invois-openapi-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report.run("validate", lambda: check_validate(doc))
        package = report.run("generate", lambda: check_generate(doc, workdir))
        if package is None and (workdir / PACKAGE / "__init__.py").exists():
            package = workdir / PACKAGE  # generated with warnings: the rest still says what works
        client = Client(doc, package) if package is not None else None

        def needs_client(fn: Callable[[Client], Any]) -> Callable[[], Any]:
            def run() -> Any:
                if client is None:
                    raise NotRun("no client was generated")
                return fn(client)

            return run

        report.run("operations", needs_client(lambda c: check_operations(doc, c)))
        report.run("typed-bodies", needs_client(lambda c: check_typed_bodies(doc, c)))
        report.run(
            "lifecycle",
            needs_client(
                lambda c: Lifecycle(doc, c, args.base_url, args.api_key, args.repair_document).run()
            ),
        )
    return finish(report, args.repair_document)


def finish(report: Report, repaired: bool) -> int:
    failed = report.failed()
    passed = [name for name, outcome in report.results if outcome == "ok"]
    if failed:
        print(
            f"== RESULT: FAIL ({', '.join(failed)}); ok: {', '.join(passed) or 'none'}", flush=True
        )
        return 1
    if repaired:
        print(
            "== RESULT: every check passed on the REPAIRED document (debug run: exit 1)", flush=True
        )
        return 1
    print(f"== RESULT: ok ({', '.join(passed)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
