//! Premium tiers: create, edit features and limits (with the API's ETag rule), delete after
//! a confirmation, refused while organizations use the tier.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use super::forms::{self, body, FormState, Kind, Posted};
use super::page::{self, input, textarea};
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::domain::fields::Fields;
use crate::error::ApiError;
use crate::model::{PageMeta, Tier};
use crate::routes::tiers::{self as api, CreateTier, UpdateTier};
use crate::storage::events::Actor;
use crate::storage::tiers::{self, TierInput};
use crate::storage::{Db, PageReq};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tiers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/tiers/new", web::get().to(new_form))
    .service(
        web::resource("/tiers/{id}")
            .route(web::get().to(show))
            .route(web::post().to(update)),
    )
    .service(
        web::resource("/tiers/{id}/delete")
            .route(web::get().to(confirm_delete))
            .route(web::post().to(delete)),
    );
}

const PER_PAGE: u32 = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    page: Option<String>,
}

fn limit(v: Option<i64>) -> String {
    v.map_or_else(|| "—".to_owned(), |n| n.to_string())
}

async fn list(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let n = page::page_number(q.page.as_deref());
    let pr = PageReq {
        page: n,
        per_page: PER_PAGE,
    };
    let (rows, total) = db
        .read(&sess.check, move |c| tiers::list(c, pr))
        .await
        .map_err(ConsoleError::from)?;
    let meta = PageMeta::new(total, PER_PAGE, n, rows.len());
    let content = html! {
        div .title-row {
            h1 { "Premium tiers" }
            a .button href="/console/tiers/new" { "New tier" }
        }
        div .table-wrap {
            table #tiers-table {
                thead { tr { th { "Name" } th { "Id" } th { "Features" } th { "Max users" } th { "Max storage" } th { "API calls / month" } } }
                tbody {
                    @for t in &rows {
                        tr {
                            td { a href={ "/console/tiers/" (t.id) } { (t.name) } }
                            td { code { (t.id) } }
                            td { (t.features.join(", ")) }
                            td { (limit(t.limits.max_users)) }
                            td { (t.limits.max_storage.as_deref().unwrap_or("—")) }
                            td { (limit(t.limits.api_calls_per_month)) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="6" { "No tiers." } } }
                }
            }
        }
        (page::pager("/console/tiers", &[], n, meta.last_page))
    };
    Ok(page::page(&req, &sess, StatusCode::OK, "Tiers", content))
}

const FIELDS: &[&str] = &[
    "id",
    "name",
    "features",
    "maxUsers",
    "maxStorage",
    "apiCallsPerMonth",
];

fn form(sess: &Sess, action: &str, f: &FormState, etag: Option<&str>, submit: &str) -> Markup {
    html! {
        (page::summary(f))
        form #tier-form method="post" action=(action) novalidate {
            (page::csrf(sess))
            @if let Some(t) = etag { input type="hidden" name="etag" value=(t); }
            @else { (input(f, "id", "Id", "text", Some("Optional: tier- and lowercase letters, digits or hyphens; generated when empty"))) }
            (input(f, "name", "Name", "text", None))
            (textarea(f, "features", "Features", Some("One per line")))
            (input(f, "maxUsers", "Max users", "text", Some("A whole number; empty for no limit")))
            (input(f, "maxStorage", "Max storage", "text", Some("e.g. 100GB; empty for no limit")))
            (input(f, "apiCallsPerMonth", "API calls per month", "text", Some("A whole number; empty for no limit")))
            button type="submit" { (submit) }
        }
    }
}

/// The API body of the tier form.
fn json(form: &Posted, creating: bool) -> Value {
    let text = if creating { Kind::Required } else { Kind::Text };
    let mut top = body(
        form,
        &[
            ("id", "id", Kind::Required),
            ("name", "name", text),
            ("features", "features", Kind::Lines),
        ],
    );
    if !creating {
        top.remove("id");
    }
    let limits = body(
        form,
        &[
            ("maxUsers", "maxUsers", Kind::Integer),
            ("maxStorage", "maxStorage", Kind::Nullable),
            ("apiCallsPerMonth", "apiCallsPerMonth", Kind::Integer),
        ],
    );
    top.insert("limits".into(), Value::Object(limits));
    Value::Object(top)
}

fn new_page(req: &HttpRequest, sess: &Sess, status: StatusCode, f: &FormState) -> HttpResponse {
    let content = html! {
        h1 { "New tier" }
        (form(sess, "/console/tiers", f, None, "Create tier"))
    };
    page::page(req, sess, status, "New tier", content)
}

async fn new_form(req: HttpRequest, sess: Sess) -> HttpResponse {
    new_page(&req, &sess, StatusCode::OK, &FormState::default())
}

async fn create(req: HttpRequest, form: Posted, db: web::Data<Db>) -> Result<HttpResponse> {
    let state = FormState {
        values: form.values(FIELDS),
        ..FormState::default()
    };
    let render = |status, f: FormState| new_page(&req, &form.sess, status, &f);
    let read = || -> Result<TierInput, ApiError> {
        let mut f = Fields::new(json(&form, true))?;
        api::read(&mut f, true);
        Ok(TierInput::from(f.finish_into::<CreateTier>()?))
    };
    let t = match read() {
        Ok(t) => t,
        Err(e) => return forms::answer(e, state, "tier", &[], render),
    };
    let op = form.operator();
    let done = db
        .write(&form.sess.check, move |tx| {
            api::create_in(tx, &t, Actor::Operator(&op), &crate::domain::now())
        })
        .await;
    match done {
        Ok(t) => Ok(page::redirect_with(
            &format!("/console/tiers/{}", t.id),
            "tier-created",
        )),
        Err(e) => forms::answer(e, state, "tier", &[], render),
    }
}

fn values_of(t: &Tier) -> FormState {
    let mut f = FormState::default();
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for (k, v) in [
        ("name", t.name.clone()),
        ("features", t.features.join("\n")),
        ("maxUsers", num(t.limits.max_users)),
        (
            "maxStorage",
            t.limits.max_storage.clone().unwrap_or_default(),
        ),
        ("apiCallsPerMonth", num(t.limits.api_calls_per_month)),
    ] {
        f.values.insert(k.into(), v);
    }
    f
}

fn edit_page(
    req: &HttpRequest,
    sess: &Sess,
    status: StatusCode,
    tier: &Tier,
    f: &FormState,
    etag: &str,
) -> HttpResponse {
    let action = format!("/console/tiers/{}", tier.id);
    let content = html! {
        div .title-row {
            h1 { (tier.name) }
            a .button .danger href={ "/console/tiers/" (tier.id) "/delete" } { "Delete…" }
        }
        p .meta { "Id " code { (tier.id) } " · updated " (page::when(&tier.updated_at)) }
        (form(sess, &action, f, Some(etag), "Save"))
    };
    page::page(req, sess, status, &tier.name, content)
}

async fn load(db: &Db, sess: &Sess, id: String) -> Result<Tier> {
    db.read(&sess.check, move |c| tiers::get(c, &id))
        .await
        .map_err(ConsoleError::from)?
        .map(Tier::from)
        .ok_or_else(|| ConsoleError::NotFound("Premium tier not found".into()))
}

async fn show(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let tier = load(&db, &sess, id.into_inner()).await?;
    let tag = crate::routes::render(&tier).map_err(ConsoleError::from)?.1;
    Ok(edit_page(
        &req,
        &sess,
        StatusCode::OK,
        &tier,
        &values_of(&tier),
        &tag,
    ))
}

async fn update(
    req: HttpRequest,
    form: Posted,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let tier = load(&db, &form.sess, id.clone()).await?;
    let tag = form.get("etag").to_owned();
    let state = FormState {
        values: form.values(FIELDS),
        ..FormState::default()
    };
    let render = |status, f: FormState| edit_page(&req, &form.sess, status, &tier, &f, &tag);
    let read = || -> Result<TierInput, ApiError> {
        let mut f = Fields::new(json(&form, false))?;
        api::read(&mut f, false);
        Ok(TierInput::from(f.finish_into::<UpdateTier>()?))
    };
    let t = match read() {
        Ok(t) => t,
        Err(e) => return forms::answer(e, state, "tier", &[], render),
    };
    let (op, target, im) = (form.operator(), id.clone(), tag.clone());
    let done = db
        .write(&form.sess.check, move |tx| {
            api::update_in(tx, &target, &t, Some(&im), Actor::Operator(&op))
        })
        .await;
    match done {
        Ok(_) => Ok(page::redirect_with(
            &format!("/console/tiers/{id}"),
            "saved",
        )),
        Err(e) => forms::answer(e, state, "tier", &[], render),
    }
}

/// The sentence of a tier still in use.
fn in_use(n: i64) -> String {
    if n == 1 {
        "This tier is used by 1 organization".to_owned()
    } else {
        format!("This tier is used by {n} organizations")
    }
}

async fn confirm_delete(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let lookup = id.clone();
    let (tier, used) = db
        .read(&sess.check, move |c| -> Result<_, ApiError> {
            Ok((tiers::get(c, &lookup)?, tiers::usage(c, &lookup)?))
        })
        .await
        .map_err(ConsoleError::from)?;
    let tier = tier.ok_or_else(|| ConsoleError::NotFound("Premium tier not found".into()))?;
    let content = html! {
        h1 { "Delete " (tier.name) "?" }
        @if used > 0 {
            div .errors role="alert" { p { (in_use(used)) "; move them to another tier first." } }
            p { a href={ "/console/tiers/" (tier.id) } { "Back to the tier" } }
        } @else {
            p { "The tier " code { (tier.id) } " will be deleted. This cannot be undone." }
            form method="post" action={ "/console/tiers/" (tier.id) "/delete" } {
                (page::csrf(&sess))
                button type="submit" .danger { "Delete tier" }
                " "
                a href={ "/console/tiers/" (tier.id) } { "Cancel" }
            }
        }
    };
    Ok(page::page(
        &req,
        &sess,
        StatusCode::OK,
        "Delete tier",
        content,
    ))
}

async fn delete(
    req: HttpRequest,
    form: Posted,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let (id, op) = (id.into_inner(), form.operator());
    let target = id.clone();
    let done = db
        .write(
            &form.sess.check,
            move |tx| -> Result<Option<i64>, ApiError> {
                let used = tiers::usage(tx, &target)?;
                if used > 0 {
                    return Ok(Some(used));
                }
                api::delete_in(tx, &target, None, Actor::Operator(&op))?;
                Ok(None)
            },
        )
        .await
        .map_err(ConsoleError::from)?;
    match done {
        None => Ok(page::redirect_with("/console/tiers", "deleted")),
        Some(n) => {
            let content = html! {
                h1 { "The tier was not deleted" }
                div .errors role="alert" { p { (in_use(n)) "; move them to another tier first." } }
                p { a href={ "/console/tiers/" (id) } { "Back to the tier" } }
            };
            Ok(page::page(
                &req,
                &form.sess,
                StatusCode::CONFLICT,
                "Tier in use",
                content,
            ))
        }
    }
}
