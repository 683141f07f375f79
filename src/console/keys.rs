//! API keys: create with scopes and expiry (the secret shown once, with a copy button),
//! revoke, rotate, and when each was last used.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::forms::{self, body, FormState, Kind, Posted};
use super::page::{self, input};
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::auth::{self, AuthState, PlainKey, Scope};
use crate::domain::fields::Fields;
use crate::routes::keys as api;
use crate::storage::events::Actor;
use crate::storage::records::KeyInfo;
use crate::storage::{keys, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/keys/new", web::get().to(new_form))
    .route("/keys/{id}/revoke", web::post().to(revoke))
    .route("/keys/{id}/rotate", web::post().to(rotate));
}

fn status(k: &KeyInfo, now: &str) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.as_deref().is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

async fn list(req: HttpRequest, sess: Sess, db: web::Data<Db>) -> Result<HttpResponse> {
    let rows = db
        .read(&sess.check, keys::list)
        .await
        .map_err(ConsoleError::from)?;
    let now = crate::domain::now();
    let content = html! {
        div .title-row {
            h1 { "API keys" }
            a .button href="/console/keys/new" { "New key" }
        }
        p .hint { "Last use is recorded every few seconds. Revoked keys are refused on their next request." }
        div .table-wrap {
            table #keys-table {
                thead { tr { th { "Id" } th { "Name" } th { "Scopes" } th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th { span .sr-only { "Actions" } } } }
                tbody {
                    @for k in rows.iter().rev() {
                        @let st = status(k, &now);
                        tr {
                            td { code { (k.id) } }
                            td { (k.name) }
                            td { (k.scopes.join(", ")) }
                            td { (page::when(&k.created_at)) }
                            td { (k.expires_at.as_deref().map_or("never".to_owned(), page::when)) }
                            td { (k.last_used_at.as_deref().map_or("never".to_owned(), page::when)) }
                            td .status { (st)
                                @if let Some(s) = &k.replaced_by { " (by " code { (s) } ")" } }
                            td .actions {
                                @if st == "active" {
                                    (page::post_button(&sess, &format!("/console/keys/{}/rotate", k.id), "Rotate",
                                        Some("Rotate this key? The old one stops working now.")))
                                    (page::post_button(&sess, &format!("/console/keys/{}/revoke", k.id), "Revoke",
                                        Some("Revoke this key? Clients using it are refused from their next request.")))
                                }
                            }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="8" { "No keys." } } }
                }
            }
        }
    };
    Ok(page::page(&req, &sess, StatusCode::OK, "API keys", content))
}

fn form(sess: &Sess, f: &FormState, checked: &[String]) -> Markup {
    html! {
        (page::summary(f))
        form #key-form method="post" action="/console/keys" novalidate {
            (page::csrf(sess))
            (input(f, "name", "Name", "text", Some("What the key is for, e.g. shopify-sync")))
            fieldset .field {
                legend { "Scopes" }
                @for s in Scope::ALL {
                    @let id = format!("scope-{}", s.as_str().replace(':', "-"));
                    div .check {
                        input type="checkbox" id=(id) name="scopes" value=(s.as_str())
                            checked[checked.iter().any(|c| c == s.as_str())];
                        label for=(id) { (s.as_str()) }
                    }
                }
                @for m in f.errors("scopes") { p .field-error id="error-scopes" { (m) } }
            }
            (input(f, "expiresInDays", "Expires in (days)", "number", Some("Empty or 0: never")))
            button type="submit" { "Create key" }
        }
    }
}

fn new_page(
    req: &HttpRequest,
    sess: &Sess,
    status: StatusCode,
    f: &FormState,
    checked: &[String],
) -> HttpResponse {
    let content = html! {
        h1 { "New API key" }
        (form(sess, f, checked))
    };
    page::page(req, sess, status, "New API key", content)
}

async fn new_form(req: HttpRequest, sess: Sess) -> HttpResponse {
    let checked: Vec<String> = Scope::defaults()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    new_page(&req, &sess, StatusCode::OK, &FormState::default(), &checked)
}

/// The page that shows a new key's secret, this once.
fn secret_page(
    req: &HttpRequest,
    sess: &Sess,
    title: &str,
    info: &KeyInfo,
    plain: &PlainKey,
) -> HttpResponse {
    let content = html! {
        h1 { (title) }
        div .flash role="status" { "Key " code { (info.id) } " created. Copy the secret now: it is shown only this once." }
        div .secret {
            code #new-key-secret { (plain.0) }
            button #copy-key type="button" data-copy="new-key-secret" { "Copy" }
        }
        dl {
            dt { "Name" } dd { (info.name) }
            dt { "Scopes" } dd { (info.scopes.join(", ")) }
            dt { "Expires" } dd { (info.expires_at.as_deref().map_or("never".to_owned(), page::when)) }
        }
        p { "Send it as the " code { "X-Invois-Key" } " header. " a href="/console/keys" { "Back to the keys" } }
    };
    page::page(req, sess, StatusCode::OK, title, content)
}

async fn create(req: HttpRequest, form: Posted, db: web::Data<Db>) -> Result<HttpResponse> {
    let checked = form.all("scopes");
    let state = FormState {
        values: form.values(&["name", "expiresInDays"]),
        ..FormState::default()
    };
    let render = |status, f: FormState| new_page(&req, &form.sess, status, &f, &checked);
    let mut json: Map<String, Value> = body(
        &form,
        &[
            ("name", "name", Kind::Required),
            ("expiresInDays", "expiresInDays", Kind::OptionalInteger),
        ],
    );
    json.insert(
        "scopes".into(),
        Value::Array(checked.iter().map(|s| Value::from(s.as_str())).collect()),
    );
    let read = Fields::new(Value::Object(json)).and_then(api::read_create);
    let (name, scopes, days) = match read {
        Ok(v) => v,
        Err(e) => return forms::answer(e, state, "key", &[], render),
    };
    let (db, check, op) = (
        db.get_ref().clone(),
        form.sess.check.clone(),
        form.operator(),
    );
    let made = web::block(move || {
        auth::create_key_as(
            &db,
            &name,
            &scopes,
            days,
            Some(&check),
            Actor::Operator(&op),
        )
    })
    .await?;
    match made {
        Ok((info, plain)) => Ok(secret_page(&req, &form.sess, "New API key", &info, &plain)),
        Err(e) => forms::answer(e, state, "key", &[], render),
    }
}

async fn revoke(
    form: Posted,
    db: web::Data<Db>,
    auth_state: web::Data<AuthState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let (id, op) = (id.into_inner(), form.operator());
    let target = id.clone();
    db.write(&form.sess.check, move |tx| {
        api::revoke_in(tx, &target, Actor::Operator(&op))
    })
    .await
    .map_err(ConsoleError::from)?;
    auth_state.forget(&id);
    Ok(page::redirect_with("/console/keys", "key-revoked"))
}

async fn rotate(
    req: HttpRequest,
    form: Posted,
    db: web::Data<Db>,
    auth_state: web::Data<AuthState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let (db, check, op, old) = (
        db.get_ref().clone(),
        form.sess.check.clone(),
        form.operator(),
        id.clone(),
    );
    let (info, plain) =
        web::block(move || api::rotate_key_as(&db, &old, Some(&check), Actor::Operator(&op)))
            .await?
            .map_err(ConsoleError::from)?;
    auth_state.forget(&id);
    Ok(secret_page(
        &req,
        &form.sess,
        "Rotated API key",
        &info,
        &plain,
    ))
}
