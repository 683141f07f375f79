//! Users: search and pages, create, edit (with the API's ETag rule), delete after a
//! confirmation, and the user's memberships.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use super::forms::{self, body, FormState, Kind, Posted};
use super::page::{self, input, select};
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::domain::fields::Fields;
use crate::domain::USER_ROLES;
use crate::model::{PageMeta, User};
use crate::routes::users::{self as api, CreateUser, UpdateUser};
use crate::storage::events::Actor;
use crate::storage::users::{self, NewUser, Sort, UserUpdate};
use crate::storage::{Db, PageReq};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/users/new", web::get().to(new_form))
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(show))
            .route(web::post().to(update)),
    )
    .service(
        web::resource("/users/{id}/delete")
            .route(web::get().to(confirm_delete))
            .route(web::post().to(delete)),
    );
}

/// Users per page.
const PER_PAGE: u32 = 20;

/// The query of the list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<String>,
}

async fn list(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let term = page::search_term(q.q.as_deref());
    let n = page::page_number(q.page.as_deref());
    let pr = PageReq {
        page: n,
        per_page: PER_PAGE,
    };
    let t = term.clone();
    let (rows, total) = db
        .read(&sess.check, move |c| {
            users::list(c, t.as_deref(), None, &Default::default(), Sort::Name, pr)
        })
        .await
        .map_err(ConsoleError::from)?;
    let meta = PageMeta::new(total, PER_PAGE, n, rows.len());
    let term = term.unwrap_or_default();
    let content = html! {
        div .title-row {
            h1 { "Users" }
            a .button href="/console/users/new" { "New user" }
        }
        form #users-search .search method="get" action="/console/users" role="search" {
            label for="q" { "Search" }
            input #q type="search" name="q" value=(term) placeholder="Name or email"
                hx-get="/console/users" hx-trigger="input changed delay:300ms, search"
                hx-target="#users-results" hx-select="#users-results" hx-swap="outerHTML"
                hx-push-url="true";
            button type="submit" { "Search" }
        }
        div #users-results {
            p .count { (total) " users" @if !term.is_empty() { " matching “" (term) "”" } }
            div .table-wrap {
                table #users-table {
                    thead { tr { th { "Name" } th { "Email" } th { "Role" } th { "Created" } } }
                    tbody {
                        @for u in &rows {
                            tr {
                                td { a href={ "/console/users/" (u.id) } { (u.name) } }
                                td { (u.email) }
                                td { (u.role) }
                                td { (page::when(&u.created_at)) }
                            }
                        }
                        @if rows.is_empty() { tr { td colspan="4" { "No users." } } }
                    }
                }
            }
            (page::pager("/console/users", &[("q", &term)], n, meta.last_page))
        }
    };
    Ok(page::page(&req, &sess, StatusCode::OK, "Users", content))
}

/// The fields of the user form, as the API names them.
const FIELDS: &[&str] = &[
    "name",
    "firstName",
    "lastName",
    "email",
    "phone",
    "dob",
    "role",
];

fn role_options() -> Vec<(String, String)> {
    USER_ROLES
        .iter()
        .map(|r| ((*r).to_owned(), (*r).to_owned()))
        .collect()
}

fn form(sess: &Sess, action: &str, f: &FormState, etag: Option<&str>, submit: &str) -> Markup {
    html! {
        (page::summary(f))
        form #user-form method="post" action=(action) novalidate {
            (page::csrf(sess))
            @if let Some(t) = etag { input type="hidden" name="etag" value=(t); }
            (input(f, "name", "Name", "text", None))
            (input(f, "firstName", "First name", "text", None))
            (input(f, "lastName", "Last name", "text", None))
            (input(f, "email", "Email", "email", None))
            (input(f, "phone", "Phone", "tel", Some("Optional; e.g. +1 555 010 0100")))
            (input(f, "dob", "Date of birth", "date", Some("Optional; YYYY-MM-DD")))
            (select(f, "role", "Role", &role_options()))
            button type="submit" { (submit) }
        }
    }
}

fn new_page(req: &HttpRequest, sess: &Sess, status: StatusCode, f: &FormState) -> HttpResponse {
    let content = html! {
        h1 { "New user" }
        (form(sess, "/console/users", f, None, "Create user"))
    };
    page::page(req, sess, status, "New user", content)
}

async fn new_form(req: HttpRequest, sess: Sess) -> HttpResponse {
    let mut f = FormState::default();
    f.values.insert("role".into(), "customer".into());
    new_page(&req, &sess, StatusCode::OK, &f)
}

async fn create(req: HttpRequest, form: Posted, db: web::Data<Db>) -> Result<HttpResponse> {
    let state = FormState {
        values: form.values(FIELDS),
        ..FormState::default()
    };
    let render = |status, f: FormState| new_page(&req, &form.sess, status, &f);
    let json = body(
        &form,
        &[
            ("name", "name", Kind::Required),
            ("firstName", "firstName", Kind::Nullable),
            ("lastName", "lastName", Kind::Nullable),
            ("email", "email", Kind::Required),
            ("phone", "phone", Kind::Nullable),
            ("dob", "dob", Kind::Nullable),
            ("role", "role", Kind::Required),
        ],
    );
    let read = async {
        let mut f = Fields::new(Value::Object(json))?;
        let email = api::read(&mut f, true);
        api::taken_email_too(&db, &form.sess.check, &mut f, email, None).await?;
        f.finish_into::<CreateUser>()
    };
    let new = match read.await {
        Ok(dto) => NewUser::from(dto),
        Err(e) => return forms::answer(e, state, "user", &[], render),
    };
    let op = form.operator();
    let done = db
        .write(&form.sess.check, move |tx| {
            api::create_in(tx, &new, Actor::Operator(&op), &crate::domain::now())
        })
        .await;
    match done {
        Ok(u) => Ok(page::redirect_with(
            &format!("/console/users/{}", u.id),
            "user-created",
        )),
        Err(e) => forms::answer(e, state, "user", &[], render),
    }
}

fn values_of(u: &User) -> FormState {
    let mut f = FormState::default();
    for (k, v) in [
        ("name", Some(&u.name)),
        ("firstName", u.first_name.as_ref()),
        ("lastName", u.last_name.as_ref()),
        ("email", Some(&u.email)),
        ("phone", u.phone.as_ref()),
        ("dob", u.dob.as_ref()),
        ("role", Some(&u.role)),
    ] {
        f.values.insert(k.into(), v.cloned().unwrap_or_default());
    }
    f
}

fn edit_page(
    req: &HttpRequest,
    sess: &Sess,
    status: StatusCode,
    user: &User,
    f: &FormState,
    etag: &str,
) -> HttpResponse {
    let action = format!("/console/users/{}", user.id);
    let content = html! {
        div .title-row {
            h1 { (user.name) }
            a .button .danger href={ "/console/users/" (user.id) "/delete" } { "Delete…" }
        }
        p .meta { "Id " code { (user.id) } " · created " (page::when(&user.created_at)) " · updated " (page::when(&user.updated_at)) }
        (form(sess, &action, f, Some(etag), "Save"))
        h2 { "Memberships" }
        div .table-wrap {
            table #user-memberships {
                thead { tr { th { "Organization" } th { "Role" } th { "Since" } } }
                tbody {
                    @for m in &user.members {
                        tr {
                            td { a href={ "/console/organizations/" (m.organization_id) } { (m.organization.name) } }
                            td { (m.role) }
                            td { (page::when(&m.created_at)) }
                        }
                    }
                    @if user.members.is_empty() { tr { td colspan="3" { "Not a member of any organization." } } }
                }
            }
        }
    };
    page::page(req, sess, status, &user.name, content)
}

async fn load(db: &Db, sess: &Sess, id: String) -> Result<User> {
    db.read(&sess.check, move |c| users::get(c, &id))
        .await
        .map_err(ConsoleError::from)?
        .map(User::from)
        .ok_or_else(|| ConsoleError::NotFound("User not found".into()))
}

/// The API's ETag of a user, which an edit form carries.
fn etag(u: &User) -> Result<String> {
    Ok(crate::routes::render(u).map_err(ConsoleError::from)?.1)
}

async fn show(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let user = load(&db, &sess, id.into_inner()).await?;
    let tag = etag(&user)?;
    Ok(edit_page(
        &req,
        &sess,
        StatusCode::OK,
        &user,
        &values_of(&user),
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
    let user = load(&db, &form.sess, id.clone()).await?;
    let tag = form.get("etag").to_owned();
    let state = FormState {
        values: form.values(FIELDS),
        ..FormState::default()
    };
    let render = |status, f: FormState| edit_page(&req, &form.sess, status, &user, &f, &tag);
    let json = body(
        &form,
        &[
            ("name", "name", Kind::Text),
            ("firstName", "firstName", Kind::Nullable),
            ("lastName", "lastName", Kind::Nullable),
            ("email", "email", Kind::Text),
            ("phone", "phone", Kind::Nullable),
            ("dob", "dob", Kind::Nullable),
            ("role", "role", Kind::Text),
        ],
    );
    let read = async {
        let mut f = Fields::new(Value::Object(json))?;
        let email = api::read(&mut f, false);
        api::taken_email_too(&db, &form.sess.check, &mut f, email, Some(id.clone())).await?;
        f.finish_into::<UpdateUser>()
    };
    let u = match read.await {
        Ok(dto) => UserUpdate::from(dto),
        Err(e) => return forms::answer(e, state, "user", &[], render),
    };
    let (op, target, im) = (form.operator(), id.clone(), tag.clone());
    let done = db
        .write(&form.sess.check, move |tx| {
            api::update_in(tx, &target, &u, Some(&im), Actor::Operator(&op))
        })
        .await;
    match done {
        Ok(_) => Ok(page::redirect_with(
            &format!("/console/users/{id}"),
            "saved",
        )),
        Err(e) => forms::answer(e, state, "user", &[], render),
    }
}

async fn confirm_delete(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let user = load(&db, &sess, id.into_inner()).await?;
    let n = user.members.len();
    let content = html! {
        h1 { "Delete " (user.name) "?" }
        p { (user.email) " will be deleted"
            @if n > 0 { ", with " (n) @if n == 1 { " membership" } @else { " memberships" } }
            ". This cannot be undone." }
        form method="post" action={ "/console/users/" (user.id) "/delete" } {
            (page::csrf(&sess))
            button type="submit" .danger { "Delete user" }
            " "
            a href={ "/console/users/" (user.id) } { "Cancel" }
        }
    };
    Ok(page::page(
        &req,
        &sess,
        StatusCode::OK,
        "Delete user",
        content,
    ))
}

async fn delete(form: Posted, db: web::Data<Db>, id: web::Path<String>) -> Result<HttpResponse> {
    let (id, op) = (id.into_inner(), form.operator());
    db.write(&form.sess.check, move |tx| {
        api::delete_in(tx, &id, None, Actor::Operator(&op))
    })
    .await
    .map_err(ConsoleError::from)?;
    Ok(page::redirect_with("/console/users", "deleted"))
}
