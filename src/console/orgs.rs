//! Organizations: search and pages, create, the detail page (edit with the API's ETag rule,
//! set or clear the tier, members with their roles, add a member found by a search of the
//! users), delete after a confirmation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::{json, Value};

use super::forms::{self, body, FormState, Kind, Posted};
use super::page::{self, input, select};
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::domain::fields::Fields;
use crate::domain::MEMBER_ROLES;
use crate::error::ApiError;
use crate::model::{Membership, OrgDetail, PageMeta};
use crate::routes::members as members_api;
use crate::routes::orgs::{self as api, CreateOrganization, UpdateOrganization};
use crate::storage::events::Actor;
use crate::storage::orgs::{self, NewOrg, OrgUpdate};
use crate::storage::users::{self, Sort};
use crate::storage::{members, tiers, Db, PageReq};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organizations")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/organizations/new", web::get().to(new_form))
    .service(
        web::resource("/organizations/{id}")
            .route(web::get().to(show))
            .route(web::post().to(update)),
    )
    .service(
        web::resource("/organizations/{id}/delete")
            .route(web::get().to(confirm_delete))
            .route(web::post().to(delete)),
    )
    .route(
        "/organizations/{id}/member-search",
        web::get().to(member_search),
    )
    .route("/organizations/{id}/members", web::post().to(add_member))
    .route(
        "/organizations/{id}/members/{member}",
        web::post().to(change_role),
    )
    .route(
        "/organizations/{id}/members/{member}/delete",
        web::post().to(remove_member),
    );
}

const PER_PAGE: u32 = 20;
const MEMBERS_PER_PAGE: u32 = 25;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    user: Option<String>,
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
    let (t, caches) = (term.clone(), db.org_caches());
    let (rows, total) = db
        .read(&sess.check, move |c| {
            orgs::list(c, t.as_deref(), pr, &caches)
        })
        .await
        .map_err(ConsoleError::from)?;
    let meta = PageMeta::new(total, PER_PAGE, n, rows.len());
    let term = term.unwrap_or_default();
    let content = html! {
        div .title-row {
            h1 { "Organizations" }
            a .button href="/console/organizations/new" { "New organization" }
        }
        form #orgs-search .search method="get" action="/console/organizations" role="search" {
            label for="q" { "Search" }
            input #q type="search" name="q" value=(term) placeholder="Name"
                hx-get="/console/organizations" hx-trigger="input changed delay:300ms, search"
                hx-target="#orgs-results" hx-select="#orgs-results" hx-swap="outerHTML"
                hx-push-url="true";
            button type="submit" { "Search" }
        }
        div #orgs-results {
            p .count { (total) " organizations" @if !term.is_empty() { " matching “" (term) "”" } }
            div .table-wrap {
                table #orgs-table {
                    thead { tr { th { "Name" } th { "Slug" } th { "Members" } th { "Tier" } th { "Created" } } }
                    tbody {
                        @for o in &rows {
                            tr {
                                td { a href={ "/console/organizations/" (o.id) } { (o.name) } }
                                td { (o.slug) }
                                td { (o.member_count) }
                                td { (o.premium_tier.as_ref().map_or("—", |t| t.name.as_str())) }
                                td { (page::when(&o.created_at)) }
                            }
                        }
                        @if rows.is_empty() { tr { td colspan="5" { "No organizations." } } }
                    }
                }
            }
            (page::pager("/console/organizations", &[("q", &term)], n, meta.last_page))
        }
    };
    Ok(page::page(
        &req,
        &sess,
        StatusCode::OK,
        "Organizations",
        content,
    ))
}

const FIELDS: &[&str] = &["name", "slug", "logo", "premiumTierId"];

/// `(id, name)` of the tiers to choose from, "(none)" first.
async fn tier_options(db: &Db, sess: &Sess) -> Result<Vec<(String, String)>> {
    let (all, _) = db
        .read(&sess.check, |c| {
            tiers::list(
                c,
                PageReq {
                    page: 1,
                    per_page: 100,
                },
            )
        })
        .await
        .map_err(ConsoleError::from)?;
    let mut opts = vec![(String::new(), "(none)".to_owned())];
    opts.extend(all.into_iter().map(|t| (t.id, t.name)));
    Ok(opts)
}

fn form(
    sess: &Sess,
    action: &str,
    f: &FormState,
    tiers: &[(String, String)],
    etag: Option<&str>,
    submit: &str,
) -> Markup {
    let slug_hint = if etag.is_some() {
        "Lowercase letters, digits and hyphens; unique"
    } else {
        "Optional: made from the name when empty"
    };
    html! {
        (page::summary(f))
        form #org-form method="post" action=(action) novalidate {
            (page::csrf(sess))
            @if let Some(t) = etag { input type="hidden" name="etag" value=(t); }
            (input(f, "name", "Name", "text", None))
            (input(f, "slug", "Slug", "text", Some(slug_hint)))
            (input(f, "logo", "Logo URL", "url", Some("Optional; an http(s) URL")))
            (select(f, "premiumTierId", "Premium tier", tiers))
            button type="submit" { (submit) }
        }
    }
}

fn new_page(
    req: &HttpRequest,
    sess: &Sess,
    status: StatusCode,
    f: &FormState,
    tiers: &[(String, String)],
) -> HttpResponse {
    let content = html! {
        h1 { "New organization" }
        (form(sess, "/console/organizations", f, tiers, None, "Create organization"))
    };
    page::page(req, sess, status, "New organization", content)
}

async fn new_form(req: HttpRequest, sess: Sess, db: web::Data<Db>) -> Result<HttpResponse> {
    let tiers = tier_options(&db, &sess).await?;
    Ok(new_page(
        &req,
        &sess,
        StatusCode::OK,
        &FormState::default(),
        &tiers,
    ))
}

async fn create(req: HttpRequest, form: Posted, db: web::Data<Db>) -> Result<HttpResponse> {
    let tiers = tier_options(&db, &form.sess).await?;
    let state = FormState {
        values: form.values(FIELDS),
        ..FormState::default()
    };
    let render = |status, f: FormState| new_page(&req, &form.sess, status, &f, &tiers);
    let json = body(
        &form,
        &[
            ("name", "name", Kind::Required),
            ("slug", "slug", Kind::Required),
            ("logo", "logo", Kind::Nullable),
            ("premiumTierId", "premiumTierId", Kind::Nullable),
        ],
    );
    let read = || -> Result<NewOrg, ApiError> {
        let mut f = Fields::new(Value::Object(json))?;
        api::read(&mut f, true);
        Ok(NewOrg::from(f.finish_into::<CreateOrganization>()?))
    };
    let new = match read() {
        Ok(n) => n,
        Err(e) => return forms::answer(e, state, "organization", &[], render),
    };
    let op = form.operator();
    let done = db
        .write(&form.sess.check, move |tx| {
            api::create_in(tx, &new, Actor::Operator(&op), &crate::domain::now())
        })
        .await;
    match done {
        Ok(o) => Ok(page::redirect_with(
            &format!("/console/organizations/{}", o.id),
            "org-created",
        )),
        Err(e) => forms::answer(e, state, "organization", &[], render),
    }
}

/// Everything the detail page shows.
struct Detail {
    org: OrgDetail,
    etag: String,
    members: Vec<Membership>,
    member_total: i64,
    member_page: u32,
    tiers: Vec<(String, String)>,
}

async fn load(db: &Db, sess: &Sess, id: String, member_page: u32) -> Result<Detail> {
    let pr = PageReq {
        page: member_page,
        per_page: MEMBERS_PER_PAGE,
    };
    let found = db
        .read(&sess.check, move |c| -> Result<_, ApiError> {
            let Some(org) = orgs::get_detail(c, &id)? else {
                return Ok(None);
            };
            let (members, total) = members::list(c, &org.id, None, None, pr)?;
            Ok(Some((org, members, total)))
        })
        .await
        .map_err(ConsoleError::from)?;
    let (org, members, member_total) =
        found.ok_or_else(|| ConsoleError::NotFound("Organization not found".into()))?;
    let org = OrgDetail::from(org);
    let members: Vec<Membership> = members.into_iter().map(Membership::from).collect();
    let etag = crate::routes::render(&org).map_err(ConsoleError::from)?.1;
    let tiers = tier_options(db, sess).await?;
    Ok(Detail {
        org,
        etag,
        members,
        member_total,
        member_page,
        tiers,
    })
}

fn values_of(o: &OrgDetail) -> FormState {
    let mut f = FormState::default();
    f.values.insert("name".into(), o.name.clone());
    f.values.insert("slug".into(), o.slug.clone());
    f.values
        .insert("logo".into(), o.logo.clone().unwrap_or_default());
    f.values.insert(
        "premiumTierId".into(),
        o.premium_tier
            .as_ref()
            .map(|t| t.id.clone())
            .unwrap_or_default(),
    );
    f
}

fn role_options() -> Vec<(String, String)> {
    MEMBER_ROLES
        .iter()
        .map(|r| ((*r).to_owned(), (*r).to_owned()))
        .collect()
}

fn detail_page(
    req: &HttpRequest,
    sess: &Sess,
    status: StatusCode,
    d: &Detail,
    org_form: &FormState,
    etag: &str,
    add: &FormState,
) -> HttpResponse {
    let o = &d.org;
    let base = format!("/console/organizations/{}", o.id);
    let meta = PageMeta::new(
        d.member_total,
        MEMBERS_PER_PAGE,
        d.member_page,
        d.members.len(),
    );
    let content = html! {
        div .title-row {
            h1 { (o.name) }
            a .button .danger href={ (base) "/delete" } { "Delete…" }
        }
        p .meta { "Id " code { (o.id) } " · " (o.member_count) " members · created " (page::when(&o.created_at)) }
        (form(sess, &base, org_form, &d.tiers, Some(etag), "Save"))
        h2 #members { "Members" }
        div .table-wrap {
            table #members-table {
                thead { tr { th { "User" } th { "Email" } th { "Role" } th { "Since" } th { span .sr-only { "Remove" } } } }
                tbody {
                    @for m in &d.members {
                        @let form_id = format!("role-{}", m.id);
                        @let m_etag = crate::routes::render(m).map(|r| r.1).unwrap_or_default();
                        tr {
                            td { a href={ "/console/users/" (m.user_id) } { (m.user.name) } }
                            td { (m.user.email) }
                            td {
                                form .inline id=(form_id) method="post" action={ (base) "/members/" (m.id) } {
                                    (page::csrf(sess))
                                    input type="hidden" name="etag" value=(m_etag);
                                    label .sr-only for={ "role-of-" (m.id) } { "Role of " (m.user.name) }
                                    select id={ "role-of-" (m.id) } name="role" {
                                        @for (v, l) in role_options() {
                                            option value=(v) selected[m.role == v] { (l) }
                                        }
                                    }
                                    button type="submit" { "Change role" }
                                }
                            }
                            td { (page::when(&m.created_at)) }
                            td {
                                (page::post_button_with(sess, &format!("{base}/members/{}/delete", m.id), "Remove",
                                    Some(&format!("Remove {} from {}?", m.user.name, o.name)), &[("etag", &m_etag)]))
                            }
                        }
                    }
                    @if d.members.is_empty() { tr { td colspan="5" { "No members yet." } } }
                }
            }
        }
        (page::pager(&base, &[], d.member_page, meta.last_page))
        h2 { "Add a member" }
        (page::summary(add))
        form #add-member-form method="post" action={ (base) "/members" } novalidate {
            (page::csrf(sess))
            div .field {
                label for="user" { "User (search by name or email)" }
                input #user type="search" name="user" value=(add.value("user")) autocomplete="off"
                    hx-get={ (base) "/member-search" } hx-trigger="input changed delay:300ms, search"
                    hx-target="#user-results" hx-swap="outerHTML";
                p .hint { "Type to search, then pick a user; or enter a user's id or exact email." }
                @for m in add.errors("user") { p .field-error id="error-user" { (m) } }
                ul #user-results aria-live="polite" {}
            }
            (select(add, "role", "Role", &role_options()))
            button type="submit" { "Add member" }
        }
    };
    page::page(req, sess, status, &o.name, content)
}

async fn show(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let d = load(
        &db,
        &sess,
        id.into_inner(),
        page::page_number(q.page.as_deref()),
    )
    .await?;
    let mut add = FormState::default();
    add.values.insert("role".into(), "customer".into());
    Ok(detail_page(
        &req,
        &sess,
        StatusCode::OK,
        &d,
        &values_of(&d.org),
        &d.etag,
        &add,
    ))
}

async fn update(
    req: HttpRequest,
    form: Posted,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let d = load(&db, &form.sess, id.into_inner(), 1).await?;
    let tag = form.get("etag").to_owned();
    let state = FormState {
        values: form.values(FIELDS),
        ..FormState::default()
    };
    let mut add = FormState::default();
    add.values.insert("role".into(), "customer".into());
    let render = |status, f: FormState| detail_page(&req, &form.sess, status, &d, &f, &tag, &add);
    let json = body(
        &form,
        &[
            ("name", "name", Kind::Text),
            ("slug", "slug", Kind::Text),
            ("logo", "logo", Kind::Nullable),
            ("premiumTierId", "premiumTierId", Kind::Nullable),
        ],
    );
    let read = || -> Result<OrgUpdate, ApiError> {
        let mut f = Fields::new(Value::Object(json))?;
        api::read(&mut f, false);
        Ok(OrgUpdate::from(f.finish_into::<UpdateOrganization>()?))
    };
    let u = match read() {
        Ok(u) => u,
        Err(e) => return forms::answer(e, state, "organization", &[], render),
    };
    let (op, target, im) = (form.operator(), d.org.id.clone(), tag.clone());
    let done = db
        .write(&form.sess.check, move |tx| {
            api::update_in(tx, &target, &u, Some(&im), Actor::Operator(&op))
        })
        .await;
    match done {
        Ok(o) => Ok(page::redirect_with(
            &format!("/console/organizations/{}", o.id),
            "saved",
        )),
        Err(e) => forms::answer(e, state, "organization", &[], render),
    }
}

/// The users a search finds, as buttons that add one (the add-member form's results).
async fn member_search(
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let term = page::search_term(q.q.as_deref().or(q.user.as_deref()));
    drop(id);
    let found = match term {
        Some(t) => {
            db.read(&sess.check, move |c| {
                users::list(
                    c,
                    Some(&t),
                    None,
                    &Default::default(),
                    Sort::Name,
                    PageReq {
                        page: 1,
                        per_page: 10,
                    },
                )
            })
            .await
            .map_err(ConsoleError::from)?
            .0
        }
        None => Vec::new(),
    };
    let list = html! {
        ul #user-results aria-live="polite" {
            @for u in &found {
                li { button type="submit" name="userId" value=(u.id) { "Add " (u.name) " (" (u.email) ")" } }
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(list.into_string()))
}

/// The id of the user an add-member form names: a result's `userId`, or the `user` field
/// (an id, or an exact email).
async fn chosen_user(form: &Posted, db: &Db) -> Result<std::result::Result<String, String>> {
    let picked = form.get("userId").trim();
    if !picked.is_empty() {
        return Ok(Ok(picked.to_owned()));
    }
    let typed = form.get("user").trim().to_owned();
    if typed.is_empty() {
        return Ok(Err("Choose a user: search by name or email".to_owned()));
    }
    if typed.starts_with("user-") {
        return Ok(Ok(typed));
    }
    let folded = crate::domain::fold(&typed);
    let found = db
        .read(&form.sess.check, move |c| {
            users::list(
                c,
                Some(&typed),
                None,
                &Default::default(),
                Sort::Name,
                PageReq {
                    page: 1,
                    per_page: 100,
                },
            )
        })
        .await
        .map_err(ConsoleError::from)?
        .0
        .into_iter()
        .find(|u| crate::domain::fold(&u.email) == folded);
    Ok(found
        .map(|u| u.id)
        .ok_or_else(|| "No user has this id or email".to_owned()))
}

async fn add_member(
    req: HttpRequest,
    form: Posted,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let d = load(&db, &form.sess, id.into_inner(), 1).await?;
    let add = FormState {
        values: form.values(&["user", "role"]),
        ..FormState::default()
    };
    let render = |status, f: FormState| {
        detail_page(
            &req,
            &form.sess,
            status,
            &d,
            &values_of(&d.org),
            &d.etag,
            &f,
        )
    };
    let user_id = match chosen_user(&form, &db).await? {
        Ok(u) => u,
        Err(m) => {
            let mut f = add;
            f.errors.insert("user".into(), vec![m]);
            f.summary = Some(forms::FIX_BELOW.to_owned());
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, f));
        }
    };
    let body = json!({"userId": user_id, "role": form.get("role")});
    let (user_id, role, metadata) = match Fields::new(body).and_then(members_api::read_add) {
        Ok(v) => v,
        Err(e) => return forms::answer(e, add, "organization", &[("userId", "user")], render),
    };
    let (op, org) = (form.operator(), d.org.id.clone());
    let done = db
        .write(&form.sess.check, move |tx| {
            members_api::add_in(
                tx,
                &org,
                &user_id,
                &role,
                &metadata,
                Actor::Operator(&op),
                &crate::domain::now(),
            )
        })
        .await;
    let back = format!("/console/organizations/{}", d.org.id);
    match done {
        Ok(_) => Ok(page::redirect_with(
            &format!("{back}#members"),
            "member-added",
        )),
        Err(ApiError::NotFound(m)) if m == "User not found" => {
            let mut f = add;
            f.errors.insert("user".into(), vec![m]);
            f.summary = Some(forms::FIX_BELOW.to_owned());
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, f))
        }
        Err(e) => forms::answer(e, add, "organization", &[("userId", "user")], render),
    }
}

/// The ETag of the membership as the page showed it (the same rule as the API's If-Match);
/// `None` when the form has none (a request not made from the page).
fn seen_etag(form: &Posted) -> Option<String> {
    Some(form.get("etag").to_owned()).filter(|t| !t.is_empty())
}

/// A member action's error; a membership changed since the page was shown is a 409 that says
/// so (nothing was changed).
fn member_error(e: ApiError) -> ConsoleError {
    match e {
        ApiError::PreconditionFailed(_) => ConsoleError::Refused {
            status: actix_web::http::StatusCode::CONFLICT,
            message: "Someone else changed this membership since you opened the page; nothing was changed. Reload to see their changes".into(),
        },
        other => other.into(),
    }
}

async fn change_role(
    form: Posted,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (org, mid) = path.into_inner();
    let role = Fields::new(json!({"role": form.get("role")}))
        .and_then(members_api::read_role)
        .map_err(ConsoleError::from)?;
    let op = form.operator();
    let tag = seen_etag(&form);
    let m = db
        .write(&form.sess.check, move |tx| {
            members_api::set_role_in(tx, &org, &mid, &role, tag.as_deref(), Actor::Operator(&op))
        })
        .await
        .map_err(member_error)?;
    Ok(page::redirect_with(
        &format!("/console/organizations/{}#members", m.organization_id),
        "role-changed",
    ))
}

async fn remove_member(
    form: Posted,
    db: web::Data<Db>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (org, mid) = path.into_inner();
    let (op, back) = (form.operator(), org.clone());
    let tag = seen_etag(&form);
    db.write(&form.sess.check, move |tx| {
        members_api::remove_in(tx, &org, &mid, tag.as_deref(), Actor::Operator(&op))
    })
    .await
    .map_err(member_error)?;
    Ok(page::redirect_with(
        &format!("/console/organizations/{back}#members"),
        "member-removed",
    ))
}

async fn confirm_delete(
    req: HttpRequest,
    sess: Sess,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let d = load(&db, &sess, id.into_inner(), 1).await?;
    let o = &d.org;
    let content = html! {
        h1 { "Delete " (o.name) "?" }
        p { "The organization " code { (o.slug) } " will be deleted"
            @if o.member_count > 0 { ", with its " (o.member_count) " memberships" }
            ". The users stay. This cannot be undone." }
        form method="post" action={ "/console/organizations/" (o.id) "/delete" } {
            (page::csrf(&sess))
            button type="submit" .danger { "Delete organization" }
            " "
            a href={ "/console/organizations/" (o.id) } { "Cancel" }
        }
    };
    Ok(page::page(
        &req,
        &sess,
        StatusCode::OK,
        "Delete organization",
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
    Ok(page::redirect_with("/console/organizations", "deleted"))
}
