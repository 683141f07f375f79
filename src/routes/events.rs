//! `/events`: the audit trail (scope `admin`), newest first, cursor-paginated.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::{ok_json, ListParams};
use crate::auth::{scope, Need};
use crate::error::{ApiError, Result};
use crate::model::CursorMeta;
use crate::model::Event;
use crate::storage::events;
use crate::storage::Db;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").route(web::get().to(list)));
}

/// The query of `GET /events`, as documented (read by [`ListParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    /// Event type, e.g. `user.created`.
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// The id of the subject (user, organization, membership, tier or key).
    pub subject: Option<String>,
    /// Cursor: `meta.next_cursor` of the previous page.
    pub after: Option<String>,
    /// Events per page (default 10, max 100).
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub per_page: Option<u32>,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<Event>,
    pub meta: CursorMeta,
}

/// List the audit trail, newest first.
#[utoipa::path(get, path = "/api/integrations/events", tag = "events", operation_id = "listEvents",
    params(EventListQuery),
    responses((status = 200, description = "A page of events, newest first", body = EventPage)),
    security(("api_key" = ["admin"])))]
pub async fn list(
    req: HttpRequest,
    key: Need<scope::Admin>,
    db: web::Data<Db>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(&req, &["type", "subject", "after", "per_page"])?;
    let per = p.page.per_page;
    let data = db
        .read(&key.check, move |c| {
            if let Some(a) = &p.after {
                if !events::exists(c, a)? {
                    return Err(ApiError::InvalidQuery(super::one(
                        "after",
                        "after is not a cursor from this list",
                    )));
                }
            }
            Ok(events::list(
                c,
                p.kind.as_deref(),
                p.subject.as_deref(),
                p.after.as_deref(),
                per,
            )?)
        })
        .await?
        .into_iter()
        .map(Event::from)
        .collect::<Vec<_>>();
    let next_cursor = if data.len() == per as usize {
        data.last().map(|e| e.id.clone())
    } else {
        None
    };
    ok_json(&EventPage {
        meta: CursorMeta {
            per_page: per,
            count: data.len(),
            next_cursor,
        },
        data,
    })
}
