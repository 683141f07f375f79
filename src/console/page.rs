//! The layout of every console page and the parts pages share: form fields with their labels
//! and problems, the error summary, the flash message, pagination links.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};

use super::forms::FormState;
use super::session::{enc, Sess};

/// The flash cookie: a code of [`FLASHES`], shown once on the next page.
const FLASH_COOKIE: &str = "invois_flash";

/// The messages a redirect after a form can leave for the next page.
const FLASHES: &[(&str, &str)] = &[
    ("user-created", "User created"),
    ("org-created", "Organization created"),
    ("tier-created", "Tier created"),
    ("saved", "Saved"),
    ("deleted", "Deleted"),
    ("member-added", "Member added"),
    ("role-changed", "Role changed"),
    ("member-removed", "Member removed"),
    ("key-revoked", "Key revoked"),
];

/// A `303` to `location` that shows the flash `code` there.
pub fn redirect_with(location: &str, code: &str) -> HttpResponse {
    let mut res = super::see_other(location);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={code}; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict"
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn flash_of(req: &HttpRequest) -> Option<&'static str> {
    let code = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == FLASH_COOKIE)
        .map(|(_, v)| v.to_owned())?;
    FLASHES.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// A whole HTML document.
pub fn document(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No inline <style> from htmx (the CSP forbids it) and no eval.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
                title { (title) " · invois console" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/htmx.min.js" defer {}
                script src="/console/static/console.js" defer {}
            }
            body { (body) }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(doc.into_string())
}

/// A page with one sentence (errors, refusals), with a way back.
pub fn bare(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    document(
        status,
        title,
        html! {
            main #main .bare {
                h1 { (title) }
                p role="alert" { (text) }
                p { a href="/console/" { "Back to the console" } }
            }
        },
    )
}

/// The areas of the navigation: path and label.
const NAV: &[(&str, &str)] = &[
    ("/console/", "Dashboard"),
    ("/console/users", "Users"),
    ("/console/organizations", "Organizations"),
    ("/console/tiers", "Tiers"),
    ("/console/keys", "API keys"),
    ("/console/events", "Events"),
    ("/console/backup", "Backup"),
];

/// A console page for the logged-in operator, with the flash of the last redirect.
pub fn page(
    req: &HttpRequest,
    sess: &Sess,
    status: StatusCode,
    title: &str,
    content: Markup,
) -> HttpResponse {
    let path = req.path();
    let flash = flash_of(req);
    let body = html! {
        a .skip href="#main" { "Skip to content" }
        header .top {
            nav aria-label="Main" {
                a .brand href="/console/" { "invois" }
                ul {
                    @for (href, label) in NAV {
                        @let current = if *href == "/console/" { path == *href } else { path.starts_with(href) };
                        li { a href=(href) aria-current=[current.then_some("page")] { (label) } }
                    }
                }
            }
            div .who {
                span { (sess.email.as_ref()) }
                form method="post" action="/console/logout" {
                    input type="hidden" name="csrf" value=(sess.csrf.as_ref());
                    button type="submit" .link { "Log out" }
                }
            }
        }
        main #main {
            @if let Some(f) = flash { div .flash role="status" { (f) } }
            (content)
        }
    };
    let mut res = document(status, title, body);
    if flash.is_some() {
        res.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "invois_flash=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict",
            ),
        );
    }
    res
}

/// The hidden CSRF field of every form.
pub fn csrf(sess: &Sess) -> Markup {
    html! { input type="hidden" name="csrf" value=(sess.csrf.as_ref()); }
}

/// The error summary at the top of a form.
pub fn summary(f: &FormState) -> Markup {
    html! {
        @if f.has_errors() {
            div .errors role="alert" {
                @if let Some(s) = &f.summary { p { (s) } }
                @if !f.errors.is_empty() {
                    ul {
                        @for (field, msgs) in &f.errors {
                            @for m in msgs { li { a href={ "#" (field) } { (m) } } }
                        }
                    }
                }
            }
        }
    }
}

/// The problems of one field, beside it.
fn field_errors(f: &FormState, name: &str) -> Markup {
    html! {
        @for m in f.errors(name) {
            p .field-error id={ "error-" (name) } { (m) }
        }
    }
}

/// A labelled input.
pub fn input(f: &FormState, name: &str, label: &str, kind: &str, hint: Option<&str>) -> Markup {
    let invalid = !f.errors(name).is_empty();
    html! {
        div .field {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(f.value(name))
                aria-invalid=[invalid.then_some("true")]
                aria-describedby=[invalid.then(|| format!("error-{name}"))];
            @if let Some(h) = hint { p .hint { (h) } }
            (field_errors(f, name))
        }
    }
}

/// A labelled select of `(value, label)` options.
pub fn select(f: &FormState, name: &str, label: &str, options: &[(String, String)]) -> Markup {
    let invalid = !f.errors(name).is_empty();
    html! {
        div .field {
            label for=(name) { (label) }
            select id=(name) name=(name) aria-invalid=[invalid.then_some("true")] {
                @for (v, l) in options {
                    option value=(v) selected[f.value(name) == v] { (l) }
                }
            }
            (field_errors(f, name))
        }
    }
}

/// A labelled textarea.
pub fn textarea(f: &FormState, name: &str, label: &str, hint: Option<&str>) -> Markup {
    html! {
        div .field {
            label for=(name) { (label) }
            textarea id=(name) name=(name) rows="5" { (f.value(name)) }
            @if let Some(h) = hint { p .hint { (h) } }
            (field_errors(f, name))
        }
    }
}

/// "Previous / Page N of M / Next" links that keep the other query parameters.
pub fn pager(path: &str, params: &[(&str, &str)], page: u32, last_page: i64) -> Markup {
    let link = |p: i64| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        q.push(format!("page={p}"));
        format!("{path}?{}", q.join("&"))
    };
    let page = i64::from(page);
    html! {
        nav .pager aria-label="Pages" {
            @if page > 1 { a rel="prev" href=(link(page - 1)) { "← Previous" } }
            span { "Page " (page) " of " (last_page) }
            @if page < last_page { a rel="next" href=(link(page + 1)) { "Next →" } }
        }
    }
}

/// `page` from a query value: a whole number from 1, else 1.
pub fn page_number(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.parse::<u32>().ok())
        .filter(|p| (1..=10_000_000).contains(p))
        .unwrap_or(1)
}

/// A search term from a query value: trimmed, at most 200 characters, no control
/// characters (as the API's `query`); `None` when empty.
pub fn search_term(raw: Option<&str>) -> Option<String> {
    let t: String = raw?
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(crate::routes::MAX_QUERY_CHARS)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// A button that posts a one-field form (with the CSRF token), asking first when
/// `confirm` is given (console.js; without JavaScript it posts at once).
pub fn post_button(sess: &Sess, action: &str, label: &str, confirm: Option<&str>) -> Markup {
    post_button_with(sess, action, label, confirm, &[])
}

/// As [`post_button`], with hidden fields (such as the `etag` the page was rendered with).
pub fn post_button_with(
    sess: &Sess,
    action: &str,
    label: &str,
    confirm: Option<&str>,
    hidden: &[(&str, &str)],
) -> Markup {
    html! {
        form .inline method="post" action=(action) data-confirm=[confirm] {
            (csrf(sess))
            @for (name, value) in hidden { input type="hidden" name=(name) value=(value); }
            button type="submit" { (label) }
        }
    }
}

/// A timestamp, shorter: `2024-01-15 14:30` (UTC).
pub fn when(ts: &str) -> String {
    let t = ts.replace('T', " ");
    t.get(..16).map_or(t.clone(), str::to_owned)
}
