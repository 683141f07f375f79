//! The audit events: filter by type, subject, key and time; pages that keep the filters in
//! the URL.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use maud::{html, Markup};

use super::forms::FormState;
use super::page::{self, input};
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::error::ApiError;
use crate::model::PageMeta;
use crate::storage::events::{self, Filter};
use crate::storage::operators::{self, Operator};
use crate::storage::records::Event;
use crate::storage::Db;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(list));
}

/// Events per page.
const PER_PAGE: u32 = 50;

/// Where a subject is shown, by its id's prefix.
fn subject_link(id: &str) -> Option<String> {
    [
        ("user-", "/console/users/"),
        ("org-", "/console/organizations/"),
        ("tier-", "/console/tiers/"),
    ]
    .iter()
    .find(|(p, _)| id.starts_with(p))
    .map(|(_, base)| format!("{base}{id}"))
}

/// A table of events; operators are named by their email.
pub fn table(id: &str, rows: &[Event], ops: &[Operator]) -> Markup {
    let who = |e: &Event| -> String {
        if let Some(op) = &e.actor_operator_id {
            let email = ops
                .iter()
                .find(|o| &o.id == op)
                .map_or(op.as_str(), |o| o.email.as_str());
            format!("operator {email}")
        } else if let Some(k) = &e.actor_key_id {
            format!("key {k}")
        } else {
            "command line".to_owned()
        }
    };
    html! {
        div .table-wrap {
            table id=(id) {
                thead { tr { th { "When (UTC)" } th { "Type" } th { "Subject" } th { "By" } th { "Changed" } } }
                tbody {
                    @for e in rows {
                        tr {
                            td { time datetime=(e.created_at) { (page::when(&e.created_at)) } }
                            td { (e.kind) }
                            td {
                                @match subject_link(&e.subject_id) {
                                    Some(href) => a href=(href) { (e.subject_id) },
                                    None => code { (e.subject_id) },
                                }
                            }
                            td { (who(e)) }
                            td { (e.changes.join(", ")) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="5" { "No events." } } }
                }
            }
        }
    }
}

/// The query of the list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    subject: Option<String>,
    key: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<String>,
}

/// A time bound: a date (`2024-01-15`, the whole day) or an RFC 3339 time; `end` moves a
/// date to the next midnight (so that "to" includes its day).
fn bound(raw: &str, end: bool) -> std::result::Result<String, String> {
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(format!("{}T00:00:00Z", d.format("%Y-%m-%d")));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .map_err(|_| "Use a date such as 2024-01-15 (or an RFC 3339 time)".to_owned())
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(200).collect())
}

async fn list(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let mut f = FormState::default();
    let mut filter = Filter {
        kind: text(&q.kind),
        subject: text(&q.subject),
        key: text(&q.key),
        ..Filter::default()
    };
    for (name, raw, end) in [("from", text(&q.from), false), ("to", text(&q.to), true)] {
        let Some(raw) = raw else { continue };
        f.values.insert(name.into(), raw.clone());
        match bound(&raw, end) {
            Ok(b) if end => filter.to = Some(b),
            Ok(b) => filter.from = Some(b),
            Err(m) => {
                f.errors.insert(name.into(), vec![m]);
            }
        }
    }
    for (name, v) in [
        ("type", &filter.kind),
        ("subject", &filter.subject),
        ("key", &filter.key),
    ] {
        f.values.insert(name.into(), v.clone().unwrap_or_default());
    }
    let n = page::page_number(q.page.as_deref());
    let offset = i64::from(n - 1) * i64::from(PER_PAGE);
    let search = filter.clone();
    let (rows, total, ops) = db
        .read(&sess.check, move |c| -> Result<_, ApiError> {
            let (rows, total) = events::search(c, &search, PER_PAGE, offset)?;
            Ok((rows, total, operators::list(c)?))
        })
        .await
        .map_err(ConsoleError::from)?;
    let meta = PageMeta::new(total, PER_PAGE, n, rows.len());
    let status = if f.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let keep: Vec<(&str, &str)> = ["type", "subject", "key", "from", "to"]
        .iter()
        .map(|k| (*k, f.value(k)))
        .collect();
    let content = html! {
        h1 { "Events" }
        form #events-filter .filters method="get" action="/console/events" novalidate {
            (input(&f, "type", "Type", "text", Some("e.g. user.created")))
            (input(&f, "subject", "Subject id", "text", None))
            (input(&f, "key", "API key id", "text", None))
            (input(&f, "from", "From", "date", None))
            (input(&f, "to", "To", "date", None))
            button type="submit" { "Filter" }
            " " a href="/console/events" { "Clear" }
        }
        p .count { (total) " events" }
        (table("events-table", &rows, &ops))
        (page::pager("/console/events", &keep, n, meta.last_page))
    };
    Ok(page::page(&req, &sess, status, "Events", content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_bound_covers_its_whole_day() {
        assert_eq!(bound("2024-01-15", false).unwrap(), "2024-01-15T00:00:00Z");
        assert_eq!(bound("2024-01-15", true).unwrap(), "2024-01-16T00:00:00Z");
        assert_eq!(
            bound("2024-01-15T10:00:00+02:00", false).unwrap(),
            "2024-01-15T08:00:00Z"
        );
        assert!(bound("yesterday", false).is_err());
    }
}
