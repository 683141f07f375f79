#!/usr/bin/env python3
"""The operator console (issue 13) in a real Chromium: every page an operator uses, driven as
an operator does, against a running invois server. The names it relies on (routes, ids, field
names, labels, messages) are the contract in the README's "Console" section.

    run_browser.py --base http://127.0.0.1:8080 --email ops@example.com --password SECRET \
        [--engine sqlite|postgresql] [--screenshots docs/screenshots] [--failures DIR]

Runs in target/pyvenv-browser (run_browser.py builds it). Usually started by the Rust test
tests/api/browser.rs, which spawns the server, creates the operator and answers the one
request this script makes on stdout: to make the session idle-expired in the database
(`@@invois-browser: expire-sessions` -> a line `expired N` on stdin), because the shortest
idle expiry the settings allow is a minute. By hand, `--skip-expiry` leaves that step out.

Each step prints `== step: ...`; the first failing step prints what it expected, a
screenshot path and an excerpt of the page's HTML, and the script exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import select
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, expect, sync_playwright

# Debian's chromium, never a downloaded one; the flags keep it quiet and offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--headless=new",
]
# Generous: the suite runs this beside many other tests on two cores.
TIMEOUT_MS = 30_000

# The console's words (README, "Console"). Messages first, then flashes.
MSG_BAD_LOGIN = "Invalid email or password"
MSG_BYE = "You are logged out"
MSG_EXPIRED = "Your session has expired; log in again"
MSG_CSRF = "Invalid or missing form token; reload the page and try again"
MSG_EMAIL_INVALID = "Email format is invalid"  # the API's `details` message
MSG_TIER_IN_USE = "This tier is used by {n} organizations; move them to another tier first."
FLASH_USER_CREATED = "User created"
FLASH_SAVED = "Saved"
FLASH_DELETED = "Deleted"
FLASH_ORG_CREATED = "Organization created"
FLASH_TIER_CREATED = "Tier created"
FLASH_MEMBER_ADDED = "Member added"
FLASH_ROLE_CHANGED = "Role changed"
FLASH_MEMBER_REMOVED = "Member removed"
FLASH_KEY_REVOKED = "Key revoked"
NONE_OPTION = "(none)"

EXPIRE_REQUEST = "@@invois-browser: expire-sessions"
EXPIRE_ANSWER_TIMEOUT_S = 120


class StepFailed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise StepFailed(what)


class Console:
    """One operator's browser session against the console at `base`."""

    def __init__(self, page: Page, args: argparse.Namespace) -> None:
        self.page = page
        self.base = args.base.rstrip("/")
        self.args = args
        self.failures = Path(args.failures)
        self.shots = Path(args.screenshots) if args.screenshots else None
        self.dialogs: list[str] = []
        page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog) -> None:
        # console.js asks before destructive buttons; the operator says yes.
        self.dialogs.append(dialog.message)
        dialog.accept()

    # ---- steps, failure reports, screenshots ----

    @contextmanager
    def step(self, name: str):
        print(f"== step: {name}", flush=True)
        started = time.monotonic()
        try:
            yield
        except (StepFailed, PlaywrightError, AssertionError) as e:
            self.report_failure(name, e)
            raise SystemExit(1) from None
        print(f"   ok ({time.monotonic() - started:.1f} s)", flush=True)

    def report_failure(self, name: str, e: BaseException) -> None:
        print(f"\n!! FAILED step: {name}", flush=True)
        print(f"!! {type(e).__name__}: {e}", flush=True)
        here = [
            f
            for f in traceback.extract_tb(e.__traceback__)
            if f.filename == __file__ and f.name == "run"
        ]
        if here:
            print(f"!! at console_test.py line {here[-1].lineno}: {here[-1].line}", flush=True)
        print(f"!! page URL: {self.page.url}", flush=True)
        self.failures.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
        shot = self.failures / f"{slug}.png"
        try:
            self.page.screenshot(path=str(shot), full_page=True)
            print(f"!! screenshot: {shot}", flush=True)
        except PlaywrightError as se:
            print(f"!! no screenshot: {se}", flush=True)
        try:
            html = self.page.content()
            m = re.search(r"<main\b.*?</main>", html, re.DOTALL)
            excerpt = m.group(0) if m else html
            print("!! page HTML (excerpt):", flush=True)
            print(excerpt[:6000] + ("\n[... cut ...]" if len(excerpt) > 6000 else ""), flush=True)
        except PlaywrightError as he:
            print(f"!! no HTML: {he}", flush=True)

    def shot(self, name: str, mask: list | None = None) -> None:
        """A screenshot for the README (only with --screenshots)."""
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(
            path=str(self.shots / f"{name}.png"), mask=mask or [], mask_color="#555"
        )
        print(f"   screenshot {self.shots / f'{name}.png'}", flush=True)

    # ---- navigation ----

    def url(self, path: str) -> str:
        return self.base + path

    def goto(self, path: str, status: int = 200) -> Response:
        res = self.page.goto(self.url(path))
        check(res is not None, f"GET {path}: no response")
        check(res.status == status, f"GET {path}: status {res.status}, expected {status}")
        return res

    def submit(self, button, status: int = 303, path: str | None = None) -> Response:
        """Clicks a form's button and returns the POST's own response (a 303 before its
        redirect is followed), asserting its status; works for plain forms and htmx alike."""

        def is_post(r: Response) -> bool:
            return r.request.method == "POST" and (path is None or urlsplit(r.url).path == path)

        with self.page.expect_response(is_post) as info:
            button.click()
        res = info.value
        check(
            res.status == status,
            f"POST {urlsplit(res.url).path}: status {res.status}, expected {status}",
        )
        self.page.wait_for_load_state()
        return res

    def at(self, path: str | re.Pattern, **query: str | None) -> dict[str, str]:
        """Waits until the page is at `path` (exact, or a full-match pattern) with these query
        values (None: absent); returns the query."""

        def matches(u: str) -> bool:
            parts = urlsplit(u)
            ok = (
                parts.path == path
                if isinstance(path, str)
                else path.fullmatch(parts.path) is not None
            )
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            return ok and all(q.get(k) == v for k, v in query.items())

        try:
            self.page.wait_for_url(matches, timeout=TIMEOUT_MS)
        except PlaywrightError:
            raise StepFailed(f"expected to be at {path} with {query}, at {self.page.url}") from None
        return {k: v[0] for k, v in parse_qs(urlsplit(self.page.url).query).items()}

    def flash(self, text: str) -> None:
        expect(self.page.locator('.flash[role="status"]')).to_have_text(text)

    def form_of(self, field: str):
        """The main form holding the input named `field` (the page has one)."""
        return self.page.locator("form").filter(has=self.page.locator(f'[name="{field}"]'))

    def labelled(self, scope=None) -> None:
        """Every visible field of the page (or `scope`) has a label."""
        root = scope or self.page.locator("body")
        missing = root.evaluate(
            """el => [...el.querySelectorAll('input, select, textarea')]
                .filter(f => f.type !== 'hidden' && f.type !== 'submit' && f.type !== 'button')
                .filter(f => f.labels.length === 0 && !f.getAttribute('aria-label'))
                .map(f => f.outerHTML)"""
        )
        check(not missing, f"fields without a label: {missing}")

    def fill(self, form, values: dict[str, str]) -> None:
        for name, value in values.items():
            field = form.locator(f'[name="{name}"]')
            tag = field.evaluate("f => f.tagName")
            if tag == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)

    def row(self, table: str, text: str):
        return self.page.locator(f"{table} tbody tr").filter(has_text=text)

    # ---- the session ----

    def log_in(self, password: str | None = None):
        form = self.page.locator("#login-form")
        expect(form).to_be_visible()
        self.page.get_by_label("Email", exact=True).fill(self.args.email)
        self.page.get_by_label("Password", exact=True).fill(password or self.args.password)
        return self.submit(
            form.get_by_role("button", name="Log in"),
            status=303 if password is None else 200,
            path="/console/login",
        )

    def expire_sessions(self) -> None:
        print(EXPIRE_REQUEST, flush=True)
        ready, _, _ = select.select([sys.stdin], [], [], EXPIRE_ANSWER_TIMEOUT_S)
        check(bool(ready), f"no answer to {EXPIRE_REQUEST!r} on stdin")
        answer = sys.stdin.readline().strip()
        check(
            re.fullmatch(r"expired [1-9][0-9]*", answer) is not None,
            f"the runner answered {answer!r}",
        )


def http(method: str, url: str, key: str) -> tuple[int, dict]:
    """A plain HTTP request with an API key, outside the browser."""
    req = urllib.request.Request(url, method=method, headers={"X-Invois-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"not JSON": raw[:200].decode(errors="replace")}


def run(page: Page, args: argparse.Namespace) -> None:
    c = Console(page, args)
    # On a database of its own (the Rust runner's) the names are plain, for the screenshots;
    # elsewhere (a demo server by hand) a random tag keeps them apart from what is there.
    sfx = "" if args.fresh_database else secrets.token_hex(3)

    def t(name: str) -> str:
        return f"{name} {sfx}" if sfx else name

    def d(slug: str) -> str:
        return f"{slug}-{sfx}" if sfx else slug

    def e(local: str) -> str:
        return f"{local}.{sfx}@example.com" if sfx else f"{local}@example.com"

    user = {
        "name": t("Aisha Rahman"),
        "email": e("aisha.rahman"),
        "firstName": "Aisha",
        "lastName": "Rahman",
        "phone": "+60 12-345 6789",
        "dob": "1990-05-17",
    }
    member = {"name": t("Daniel Tan"), "email": e("daniel.tan")}
    tier_id, tier_name = d("tier-gold"), t("Gold")
    org_a = {"name": t("Kedai Buku Sdn Bhd"), "slug": d("kedai-buku")}
    org_b = {"name": t("Warung Kopi"), "slug": d("warung-kopi")}
    key_name = d("billing-sync")
    engine = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(args.engine or "")

    with c.step("a visitor is sent to the login page, which labels its fields"):
        c.goto("/console/")
        c.at("/console/login", next="/console/")
        expect(page.locator("#login-form input[name=csrf]")).to_have_count(1)
        c.labelled(page.locator("#login-form"))
        c.shot("login")

    with c.step("a wrong password is refused with the same words as an unknown email"):
        c.log_in(password=args.password + "-wrong")
        expect(page.locator('p.form-error[role="alert"]')).to_have_text(MSG_BAD_LOGIN)

    with c.step("logging in lands on the dashboard"):
        c.log_in()
        c.at("/console/")
        for part in ("#counts", "#database", "#health", "#latest-events"):
            expect(page.locator(part)).to_have_count(1)
        if engine:
            expect(page.locator("#database")).to_contain_text(engine)
        expect(page.locator("#health")).to_contain_text("ok")

    with c.step("creating a user with a bad email shows the error beside the field"):
        c.goto("/console/users/new")
        form = c.form_of("email")
        c.labelled(form)
        c.fill(form, {**user, "email": "not-an-email"})
        c.submit(form.locator("[type=submit]"), status=422, path="/console/users")
        expect(page.locator('div.errors[role="alert"]')).to_be_visible()
        expect(page.locator("p.field-error#error-email")).to_have_text(MSG_EMAIL_INVALID)
        form = c.form_of("email")
        expect(form.locator("[name=email]")).to_have_value("not-an-email")
        expect(form.locator("[name=name]")).to_have_value(user["name"])
        c.shot("validation")

    with c.step("correcting the email creates the user"):
        form.locator("[name=email]").fill(user["email"])
        c.submit(form.locator("[type=submit]"), path="/console/users")
        c.at(re.compile(r"/console/users/[^/]+"))
        user_id = urlsplit(page.url).path.rsplit("/", 1)[1]
        c.flash(FLASH_USER_CREATED)
        form = page.locator("#user-form")
        for k, v in user.items():
            expect(form.locator(f"[name={k}]")).to_have_value(v)
        expect(form.locator("input[type=hidden][name=etag]")).to_have_count(1)

    with c.step("editing the user saves the new name"):
        user["name"] = t("Aisha binti Rahman")
        form.locator("[name=name]").fill(user["name"])
        c.submit(form.locator("[type=submit]"), path=f"/console/users/{user_id}")
        c.at(f"/console/users/{user_id}")
        c.flash(FLASH_SAVED)
        expect(page.locator("#user-form [name=name]")).to_have_value(user["name"])

    with c.step("a second user, to be a member"):
        c.goto("/console/users/new")
        form = c.form_of("email")
        c.fill(form, member)
        c.submit(form.locator("[type=submit]"), path="/console/users")
        c.at(re.compile(r"/console/users/[^/]+"))
        member_id = urlsplit(page.url).path.rsplit("/", 1)[1]
        c.flash(FLASH_USER_CREATED)

    with c.step("the keyboard reaches the search field, and Enter searches"):
        c.goto("/console/users")
        page.locator("body").focus()
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement?.getAttribute('name')") == "q":
                break
        else:
            raise StepFailed("40 presses of Tab never reached the search field `q`")
        expect(page.get_by_label("Search", exact=True)).to_be_focused()
        page.keyboard.type(user["email"])
        with page.expect_navigation():
            page.keyboard.press("Enter")
        c.at("/console/users", q=user["email"])
        expect(page.locator("#users-table tbody tr")).to_have_count(1)
        expect(c.row("#users-table", user["email"])).to_contain_text(user["name"])
        expect(page.get_by_label("Search", exact=True)).to_have_value(user["email"])

    with c.step("the users table is readable on a phone (390x844), without sideways scrolling"):
        page.set_viewport_size({"width": 390, "height": 844})
        c.goto("/console/users")
        expect(c.row("#users-table", member["email"])).to_be_visible()
        width = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
        )
        check(
            max(width[0], width[1]) <= width[2],
            f"the page is wider than the phone: scrollWidth {width[:2]} > {width[2]}",
        )
        size = page.locator("#users-table td").first.evaluate(
            "td => parseFloat(getComputedStyle(td).fontSize)"
        )
        check(size >= 12, f"table text of {size}px is too small to read")
        c.shot("users-phone")
        page.set_viewport_size({"width": 1280, "height": 800})

    with c.step("a tier is created with features and limits"):
        c.goto("/console/tiers/new")
        form = page.locator("#tier-form")
        c.labelled(form)
        c.fill(
            form,
            {
                "id": tier_id,
                "name": tier_name,
                "features": "sso\naudit-log",
                "maxUsers": "50",
                "maxStorage": "20GB",
                "apiCallsPerMonth": "50000",
            },
        )
        c.submit(form.locator("[type=submit]"), path="/console/tiers")
        c.at(f"/console/tiers/{tier_id}")
        c.flash(FLASH_TIER_CREATED)
        expect(page.locator("#tier-form [name=name]")).to_have_value(tier_name)

    with c.step("the tier's features are edited"):
        form = page.locator("#tier-form")
        form.locator("[name=features]").fill("sso\naudit-log\npriority-support")
        c.submit(form.locator("[type=submit]"), path=f"/console/tiers/{tier_id}")
        c.at(f"/console/tiers/{tier_id}")
        c.flash(FLASH_SAVED)
        expect(page.locator("#tier-form [name=features]")).to_have_value(
            "sso\naudit-log\npriority-support"
        )
        expect(page.locator("#tier-form [name=maxUsers]")).to_have_value("50")
        c.shot("tier")
        c.goto("/console/tiers")
        expect(c.row("#tiers-table", tier_id)).to_contain_text(tier_name)
        c.shot("tiers")

    with c.step("an organization is created"):
        c.goto("/console/organizations/new")
        form = c.form_of("slug")
        c.labelled(form)
        c.fill(form, org_a)
        tier_select = form.locator("select[name=premiumTierId]")
        expect(tier_select.locator("option").first).to_have_text(NONE_OPTION)
        c.submit(form.locator("[type=submit]"), path="/console/organizations")
        c.at(re.compile(r"/console/organizations/[^/]+"))
        org_a_id = urlsplit(page.url).path.rsplit("/", 1)[1]
        c.flash(FLASH_ORG_CREATED)
        expect(page.locator("#org-form [name=name]")).to_have_value(org_a["name"])
        expect(page.locator("#org-form [name=slug]")).to_have_value(org_a["slug"])
        expect(page.locator("#org-form [name=premiumTierId]")).to_have_value("")

    with c.step("a member is added by searching users"):
        add = page.locator("#add-member-form")
        c.labelled(add)
        add.locator("select[name=role]").select_option("customer")
        page.get_by_label("User (search by name or email)", exact=True).fill(member["name"][:-2])
        result = page.locator("#user-results button").filter(
            has_text=re.compile(re.escape(member["name"]) + "|" + re.escape(member["email"]))
        )
        expect(result).to_have_count(1)
        # A result button submits the form with its user; should it only pick the user, the
        # form's own submit button adds.
        # (Whether the click sent a POST is decided by the request alone, then its answer is
        # awaited without a short limit: a slow answer on a loaded machine must not make the
        # fallback submit the form a second time.)
        try:
            with page.expect_request(lambda r: r.method == "POST", timeout=10_000) as sent:
                result.click()
            res = sent.value.response()
        except PlaywrightError:
            res = c.submit(add.locator("[type=submit]:not(#user-results *)").first)
        check(res is not None, "adding the member got no answer")
        check(res.status == 303, f"adding the member answered {res.status}, expected 303")
        check(
            urlsplit(res.url).path == f"/console/organizations/{org_a_id}/members",
            f"the member was added by POST {urlsplit(res.url).path}",
        )
        c.at(f"/console/organizations/{org_a_id}")
        c.flash(FLASH_MEMBER_ADDED)
        row = c.row("#members-table", member["email"])
        expect(row).to_have_count(1)
        expect(row.locator("select[name=role]")).to_have_value("customer")

    with c.step("the member's role is changed"):
        row.locator("select[name=role]").select_option("admin")
        c.submit(row.get_by_role("button", name="Change role"))
        c.at(f"/console/organizations/{org_a_id}")
        c.flash(FLASH_ROLE_CHANGED)
        expect(c.row("#members-table", member["email"]).locator("select[name=role]")).to_have_value(
            "admin"
        )
        c.shot("organization")

    with c.step("the user's page lists the membership"):
        c.goto(f"/console/users/{member_id}")
        expect(page.locator("#user-memberships")).to_contain_text(org_a["name"])
        expect(page.locator("#user-memberships")).to_contain_text("admin")
        c.shot("user")

    with c.step("the member is removed"):
        c.goto(f"/console/organizations/{org_a_id}")
        row = c.row("#members-table", member["email"])
        c.submit(row.get_by_role("button", name="Remove"))
        c.at(f"/console/organizations/{org_a_id}")
        c.flash(FLASH_MEMBER_REMOVED)
        expect(c.row("#members-table", member["email"])).to_have_count(0)

    with c.step("the organization's tier is set"):
        form = page.locator("#org-form")
        form.locator("select[name=premiumTierId]").select_option(tier_id)
        c.submit(form.locator("[type=submit]"), path=f"/console/organizations/{org_a_id}")
        c.at(f"/console/organizations/{org_a_id}")
        c.flash(FLASH_SAVED)
        expect(page.locator("#org-form [name=premiumTierId]")).to_have_value(tier_id)

    with c.step("a second organization is created on the tier"):
        c.goto("/console/organizations/new")
        form = c.form_of("slug")
        c.fill(form, {**org_b, "premiumTierId": tier_id})
        c.submit(form.locator("[type=submit]"), path="/console/organizations")
        c.at(re.compile(r"/console/organizations/[^/]+"))
        org_b_id = urlsplit(page.url).path.rsplit("/", 1)[1]
        c.flash(FLASH_ORG_CREATED)
        expect(page.locator("#org-form [name=premiumTierId]")).to_have_value(tier_id)

    with c.step("deleting the tier in use is refused and deletes nothing"):
        c.goto(f"/console/tiers/{tier_id}/delete")
        in_use = MSG_TIER_IN_USE.format(n=2)
        button = page.get_by_role("button", name="Delete tier")
        if page.get_by_text(in_use, exact=True).count() == 0 and button.count() == 1:
            # The confirmation page did not know yet: the delete itself refuses.
            c.submit(button, status=409)
        expect(page.get_by_text(in_use, exact=True)).to_be_visible()
        c.goto("/console/tiers")
        expect(c.row("#tiers-table", tier_id)).to_have_count(1)

    with c.step("the tier is cleared from the first organization"):
        c.goto(f"/console/organizations/{org_a_id}")
        form = page.locator("#org-form")
        form.locator("select[name=premiumTierId]").select_option(label=NONE_OPTION)
        c.submit(form.locator("[type=submit]"), path=f"/console/organizations/{org_a_id}")
        c.flash(FLASH_SAVED)
        expect(page.locator("#org-form [name=premiumTierId]")).to_have_value("")

    with c.step("the organization is renamed"):
        org_a["name"] = t("Kedai Buku Berhad")
        form = page.locator("#org-form")
        form.locator("[name=name]").fill(org_a["name"])
        c.submit(form.locator("[type=submit]"), path=f"/console/organizations/{org_a_id}")
        c.flash(FLASH_SAVED)
        expect(page.locator("#org-form [name=name]")).to_have_value(org_a["name"])

    with c.step("the second organization is deleted after confirmation"):
        c.goto(f"/console/organizations/{org_b_id}/delete")
        c.submit(
            page.get_by_role("button", name="Delete organization"),
            path=f"/console/organizations/{org_b_id}/delete",
        )
        c.at("/console/organizations")
        c.flash(FLASH_DELETED)
        expect(c.row("#orgs-table", org_b["slug"])).to_have_count(0)
        expect(c.row("#orgs-table", org_a["slug"])).to_have_count(1)
        c.goto(f"/console/organizations/{org_b_id}", status=404)

    with c.step("the tier, no longer used, is deleted"):
        c.goto(f"/console/tiers/{tier_id}/delete")
        c.submit(
            page.get_by_role("button", name="Delete tier"),
            path=f"/console/tiers/{tier_id}/delete",
        )
        c.at("/console/tiers")
        c.flash(FLASH_DELETED)
        expect(c.row("#tiers-table", tier_id)).to_have_count(0)

    with c.step("an API key is created and its secret shown once"):
        c.goto("/console/keys/new")
        form = page.locator("#key-form")
        c.labelled(form)
        form.locator("[name=name]").fill(key_name)
        # The form starts with the default scopes checked (as the API's default): keep one.
        boxes = form.locator("input[name=scopes]")
        for i in range(boxes.count()):
            boxes.nth(i).uncheck()
        form.locator('input[name=scopes][value="read:organizations"]').check()
        form.locator("[name=expiresInDays]").fill("30")
        c.submit(form.locator("[type=submit]"), status=200, path="/console/keys")
        secret_el = page.locator("code#new-key-secret")
        expect(secret_el).to_have_text(re.compile(r"invois_[0-9a-f]{16}_[0-9a-f]{64}"))
        key = secret_el.inner_text().strip()
        key_id = "key-" + key.split("_")[1]
        expect(page.locator("#copy-key")).to_be_visible()
        c.shot("new-key", mask=[secret_el])

    with c.step("the copy button puts the secret on the clipboard"):
        page.locator("#copy-key").click()
        deadline = time.monotonic() + 10
        copied = None
        while copied != key and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            copied = page.evaluate("() => navigator.clipboard.readText()")
        check(copied == key, f"the clipboard holds {copied!r}, not the key")

    with c.step("the key list shows the key but never its secret again"):
        c.goto("/console/keys")
        row = c.row("#keys-table", key_id)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(key_name)
        expect(row).to_contain_text("read:organizations")
        check(key.split("_")[2] not in page.content(), "the key list shows the secret")
        c.shot("keys")

    with c.step("the key works on the API, within its scope only"):
        status, body = http("GET", c.url("/api/integrations/organizations"), key)
        check(status == 200, f"GET /api/integrations/organizations with the key: {status} {body}")
        names = [o.get("name") for o in body.get("data", [])]
        check(org_a["name"] in names, f"{org_a['name']!r} not among {names}")
        status, body = http("GET", c.url("/api/integrations/users"), key)
        check(
            status == 403 and body.get("code") == "insufficient_scope",
            f"GET /api/integrations/users with a read:organizations key: {status} {body}",
        )

    with c.step("the key is revoked and stops working"):
        c.submit(row.get_by_role("button", name="Revoke"), path=f"/console/keys/{key_id}/revoke")
        c.at("/console/keys")
        c.flash(FLASH_KEY_REVOKED)
        expect(c.row("#keys-table", key_id)).to_contain_text(re.compile("revoked", re.IGNORECASE))
        status, body = http("GET", c.url("/api/integrations/organizations"), key)
        check(status == 401, f"the revoked key answered {status} {body}")

    with c.step("a form without its CSRF token is refused and changes nothing"):
        c.goto("/console/users/new")
        form = c.form_of("email")
        c.fill(form, {"name": "No Token", "email": e("no.token")})
        form.evaluate("f => f.querySelector('input[name=csrf]').remove()")
        c.submit(form.locator("[type=submit]"), status=403, path="/console/users")
        expect(page.locator("body")).to_contain_text(MSG_CSRF)

    with c.step("a form with a wrong CSRF token is refused too"):
        c.goto("/console/users/new")
        form = c.form_of("email")
        c.fill(form, {"name": "Bad Token", "email": e("bad.token")})
        form.evaluate(
            "f => { const t = f.querySelector('input[name=csrf]'); t.value = 'x' + t.value; }"
        )
        c.submit(form.locator("[type=submit]"), status=403, path="/console/users")
        expect(page.locator("body")).to_contain_text(MSG_CSRF)
        c.goto("/console/users?q=token")
        refused = re.compile(r"(no|bad)\.token")
        expect(page.locator("#users-table tbody tr").filter(has_text=refused)).to_have_count(0)

    with c.step("the user is deleted after confirmation"):
        c.goto(f"/console/users/{user_id}/delete")
        c.submit(
            page.get_by_role("button", name="Delete user"),
            path=f"/console/users/{user_id}/delete",
        )
        c.at("/console/users")
        c.flash(FLASH_DELETED)
        expect(c.row("#users-table", user["email"])).to_have_count(0)
        c.goto(f"/console/users/{user_id}", status=404)
        c.goto("/console/users")
        c.shot("users")

    with c.step("the events page filters by type and shows the console's writes"):
        c.goto("/console/events")
        form = page.locator("#events-filter")
        c.labelled(form)
        c.fill(form, {"type": "user.deleted"})
        with page.expect_navigation():
            form.locator("[type=submit]").click()
        c.at("/console/events", type="user.deleted")
        rows = page.locator("#events-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text(user_id)
        c.goto("/console/events")
        c.shot("events")
        c.goto("/console/")
        c.shot("dashboard")

    with c.step("logging out ends the session"):
        c.submit(
            page.locator("header").get_by_role("button", name="Log out"), path="/console/logout"
        )
        c.at("/console/login", bye="1")
        expect(page.get_by_text(MSG_BYE, exact=True)).to_be_visible()
        c.goto("/console/users")
        c.at("/console/login", next="/console/users", expired=None)

    if args.skip_expiry:
        print("== step: an idle session expires -- SKIPPED (--skip-expiry)", flush=True)
    else:
        with c.step("an idle-expired session sends to the login page, and back after it"):
            c.log_in()
            c.at("/console/users")
            c.expire_sessions()
            c.goto("/console/organizations")
            c.at("/console/login", next="/console/organizations", expired="1")
            expect(page.get_by_text(MSG_EXPIRED, exact=True)).to_be_visible()
            c.log_in()
            c.at("/console/organizations")
            expect(c.row("#orgs-table", org_a["slug"])).to_have_count(1)

    if c.dialogs:
        print(f"   (confirmations accepted: {c.dialogs})", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--email", required=True, help="an operator's email")
    p.add_argument("--password", required=True, help="that operator's password")
    p.add_argument(
        "--engine", choices=("sqlite", "postgresql"), help="the dashboard must name this engine"
    )
    p.add_argument("--screenshots", help="write the README's screenshots here")
    p.add_argument(
        "--failures",
        default=os.path.join(tempfile.gettempdir(), "invois-browser-failures"),
        help="where a failing step's screenshot goes",
    )
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the browser to drive")
    p.add_argument("--skip-expiry", action="store_true", help="leave out the expiry step")
    p.add_argument(
        "--fresh-database",
        action="store_true",
        help="the server's database is this run's own: plain names, no random tag",
    )
    args = p.parse_args()
    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        print(f"== chromium {browser.version} up in {time.monotonic() - started:.1f} s", flush=True)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800},
            permissions=["clipboard-read", "clipboard-write"],
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        page = context.new_page()
        try:
            run(page, args)
        finally:
            browser.close()
    print(f"== RESULT: ok, every step passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
