//! HTTP routes, one file per resource, each with `configure()`; plus what they share:
//! query parsing, JSON bodies, ETags and idempotent creates.

pub mod events;
pub mod health;
pub mod keys;
pub mod members;
pub mod openapi;
pub mod orgs;
pub mod tiers;
pub mod users;
pub mod webhooks;

use crate::storage::sql::Conn;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Authed;
use crate::domain::fields::Fields;
use crate::error::{ApiError, Details, Result};
use crate::storage::{idempotency, Db, PageReq};

/// The prefix of every API path.
pub const API: &str = "/api/integrations";

/// Query parameters of a list, parsed strictly: unknown names and bad values are 400.
#[derive(Debug, Default)]
pub struct ListParams {
    pub page: PageReq,
    pub query: Option<String>,
    pub role: Option<String>,
    pub sort: Option<String>,
    pub after: Option<String>,
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// `externalId` and `metadata[key]` filters (where the list allows `"externalId"` and
    /// `"metadata[]"`).
    pub lookup: crate::storage::lookup::Lookup,
    /// Whether `page` was given (it cannot be combined with `after`).
    pub page_given: bool,
}

impl Default for PageReq {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: 10,
        }
    }
}

/// Most characters a search term may have.
pub const MAX_QUERY_CHARS: usize = 200;

impl ListParams {
    /// Parses `req`'s query string, accepting only the names in `allowed`.
    pub fn parse(req: &HttpRequest, allowed: &[&str]) -> Result<Self> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|_| {
                ApiError::InvalidQuery(one("query", "The query string is not valid URL encoding"))
            })?
            .into_inner();
        let mut p = ListParams::default();
        let mut d = Details::new();
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in pairs {
            if k.starts_with("metadata[") && allowed.contains(&"metadata[]") {
                p.metadata_filter(&mut d, k, v);
                continue;
            }
            if !allowed.contains(&k.as_str()) {
                d.entry(k.clone())
                    .or_default()
                    .push(format!("Unknown query parameter: {k}"));
                continue;
            }
            if !seen.insert(k.clone()) {
                d.entry(k.clone())
                    .or_default()
                    .push(format!("{k} may be given only once"));
                continue;
            }
            match k.as_str() {
                "page" => match v.parse::<u32>() {
                    Ok(n) if (1..=10_000_000).contains(&n) => {
                        p.page.page = n;
                        p.page_given = true;
                    }
                    _ => d
                        .entry(k)
                        .or_default()
                        .push("page must be an integer from 1 to 10000000".into()),
                },
                "per_page" => match v.parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => p.page.per_page = n,
                    _ => d
                        .entry(k)
                        .or_default()
                        .push("per_page must be an integer from 1 to 100".into()),
                },
                "query" => {
                    let t = v.trim();
                    if t.chars().count() > MAX_QUERY_CHARS {
                        d.entry(k).or_default().push(format!(
                            "query must be at most {MAX_QUERY_CHARS} characters"
                        ));
                    } else if t.chars().any(char::is_control) {
                        d.entry(k)
                            .or_default()
                            .push("query must not contain control characters".into());
                    } else if !t.is_empty() {
                        p.query = Some(t.to_owned());
                    }
                }
                "role" => p.role = Some(v),
                "sort" => p.sort = Some(v),
                "after" => p.after = Some(v),
                "type" => p.kind = Some(v),
                "subject" => p.subject = Some(v),
                "externalId" => match crate::domain::metadata::parse_external_id(&v) {
                    Ok(e) => p.lookup.external_id = Some(e),
                    Err(m) => d.entry(k).or_default().push(m),
                },
                _ => {}
            }
        }
        if !d.is_empty() {
            return Err(ApiError::InvalidQuery(d));
        }
        Ok(p)
    }

    /// Reads one `metadata[key]=value` filter into `self.lookup`, or its problem into `d`.
    fn metadata_filter(&mut self, d: &mut Details, k: String, v: String) {
        use crate::domain::metadata::{filter_key, FILTER_KEY_MAX, MAX_FILTERS};
        let problem = match filter_key(&k) {
            None => Some(format!(
                "A metadata filter is metadata[key]=value, the key 1 to {FILTER_KEY_MAX} letters, digits, _ or -"
            )),
            Some(key) if self.lookup.metadata.iter().any(|(have, _)| have == key) => {
                Some(format!("{k} may be given only once"))
            }
            Some(_) if self.lookup.metadata.len() >= MAX_FILTERS => {
                Some(format!("At most {MAX_FILTERS} metadata filters"))
            }
            Some(_) if v.chars().count() > MAX_QUERY_CHARS => Some(format!(
                "{k} must be at most {MAX_QUERY_CHARS} characters"
            )),
            Some(key) => {
                self.lookup.metadata.push((key.to_owned(), v));
                None
            }
        };
        if let Some(m) = problem {
            d.entry(k).or_default().push(m);
        }
    }

    /// The `after` cursor, if the list is walked by cursor (never together with `page`).
    pub fn cursor(&self) -> Result<Option<&str>> {
        match &self.after {
            Some(_) if self.page_given => Err(ApiError::InvalidQuery(one(
                "after",
                "Use either page or after, not both",
            ))),
            Some(a) => Ok(Some(a.as_str())),
            None => Ok(None),
        }
    }

    /// `role` must be one of `allowed` when given.
    pub fn check_role(&self, allowed: &[&str]) -> Result<()> {
        match &self.role {
            Some(r) if !allowed.contains(&r.as_str()) => Err(ApiError::InvalidQuery(one(
                "role",
                &format!("role must be one of: {}", allowed.join(", ")),
            ))),
            _ => Ok(()),
        }
    }
}

/// An endpoint that takes no query parameters: any given is refused as lists refuse unknown
/// ones (400 `invalid_query` naming each), so a typo never passes silently. Handlers take it
/// after their `Need<…>` scope extractor, so that 401 and 403 come first.
#[derive(Debug, Clone, Copy)]
pub struct NoQuery;

impl FromRequest for NoQuery {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(ListParams::parse(req, &[]).map(|_| NoQuery))
    }
}

/// For an update DTO's nullable field: `None` when absent, `Some(None)` for `null` (clear
/// it), `Some(Some(v))` for a value. Use with `#[serde(default, deserialize_with = "…")]`.
pub(crate) fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Reads the fields integrations keep of their own into `f`: `metadata` (a JSON object, not
/// null) and, when `external_id`, `externalId` (a string or null).
pub(crate) fn read_own_fields(f: &mut Fields, external_id: bool) {
    if external_id {
        f.string("externalId", crate::domain::metadata::parse_external_id);
    }
    let m = f.json("metadata", crate::domain::metadata::parse_metadata);
    f.not_null("metadata", m);
}

/// The error for a cursor this list did not make.
pub(crate) fn bad_cursor() -> ApiError {
    ApiError::InvalidQuery(one("after", "after is not a cursor from this list"))
}

pub(crate) fn one(field: &str, msg: &str) -> Details {
    let mut d = Details::new();
    d.insert(field.to_owned(), vec![msg.to_owned()]);
    d
}

/// A strong ETag of a representation.
pub fn etag_of(body: &str) -> String {
    let h = Sha256::digest(body.as_bytes());
    let hex: String = h.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(format!("serialize: {e}")))
}

/// `200` with a cursor page of a list.
pub fn cursor_page<T: Serialize + utoipa::ToSchema>(
    data: Vec<T>,
    next_cursor: Option<String>,
    per_page: u32,
) -> Result<HttpResponse> {
    let meta = crate::model::CursorMeta {
        per_page,
        count: data.len(),
        next_cursor,
    };
    ok_json(&crate::model::CursorPage { data, meta })
}

/// `200` with a JSON body.
pub fn ok_json<T: Serialize>(v: &T) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(to_json(v)?))
}

/// A single resource: `200` with its ETag, or `304` when `If-None-Match` already has it.
pub fn resource<T: Serialize>(req: &HttpRequest, v: &T) -> Result<HttpResponse> {
    let body = to_json(v)?;
    let tag = etag_of(&body);
    Ok(rendered(req, body, tag))
}

/// A resource rendered before: its JSON with its ETag as [`resource`] (`body` and `tag`
/// come from [`render`]).
pub fn rendered(
    req: &HttpRequest,
    body: impl actix_web::body::MessageBody + 'static,
    tag: String,
) -> HttpResponse {
    if let Some(inm) = crate::header_check::list(req, header::IF_NONE_MATCH) {
        // Weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`.
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        if inm.split(',').any(|t| weak(t) == tag || t.trim() == "*") {
            return HttpResponse::NotModified()
                .insert_header((header::ETAG, tag))
                .finish();
        }
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, tag))
        .body(body)
}

/// The JSON body and ETag of `v`, to keep and send later with [`rendered`].
pub fn render<T: Serialize>(v: &T) -> Result<(String, String)> {
    let body = to_json(v)?;
    let tag = etag_of(&body);
    Ok((body, tag))
}

/// The `If-Match` of a request (all its lines), if any.
pub fn if_match(req: &HttpRequest) -> Option<String> {
    crate::header_check::list(req, header::IF_MATCH)
}

/// `412` unless the current representation `current` matches `If-Match`.
pub fn check_if_match<T: Serialize>(if_match: Option<&str>, current: &T) -> Result<()> {
    let Some(im) = if_match else { return Ok(()) };
    let tag = etag_of(&to_json(current)?);
    if im.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t == tag
    }) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(
            "The resource has changed since you read it (If-Match does not match its ETag); read it again".into(),
        ))
    }
}

/// The `Idempotency-Key` of a POST, with the fingerprint of what was asked.
#[derive(Debug, Clone)]
pub struct IdemKey {
    key: String,
    path: String,
    hash: String,
}

impl IdemKey {
    /// Reads the header; `body` is the parsed JSON (hashed in canonical, sorted-key form).
    pub fn from_request(req: &HttpRequest, body: &serde_json::Value) -> Result<Option<Self>> {
        let Some(h) = req.headers().get("idempotency-key") else {
            return Ok(None);
        };
        let key = h.to_str().unwrap_or("").trim().to_owned();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::BadRequest {
                code: "invalid_idempotency_key",
                message: "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            });
        }
        let canonical = serde_json::to_string(body).unwrap_or_default();
        let hash = format!("{:x}", Sha256::digest(canonical.as_bytes()));
        Ok(Some(Self {
            key,
            path: req.path().to_owned(),
            hash,
        }))
    }
}

/// What a create produced: the new resource's id and JSON.
pub struct Created {
    pub location: String,
    pub body: String,
}

/// What a create keeps of its response for replays, and how a replay gets it back: a
/// response that holds a secret (a new API key) keeps something else in its place.
pub trait Keep: Send + 'static {
    /// What to store instead of `body`.
    fn keep(&self, body: &str) -> Result<String>;
    /// The response to replay from what [`Keep::keep`] stored.
    fn revive(&self, kept: String) -> Result<String>;
}

/// Runs a create in one write transaction, honouring `Idempotency-Key`: the same key with
/// the same request replays the stored response; with another request it is `422`.
pub async fn create<F>(db: &Db, key: &Authed, idem: Option<IdemKey>, f: F) -> Result<HttpResponse>
where
    F: FnOnce(&Conn<'_>, &str) -> Result<Created> + Send + 'static,
{
    create_with(db, key, idem, None, f).await
}

/// As [`create`], storing (and replaying) the response through `keep` when given.
pub async fn create_with<F>(
    db: &Db,
    key: &Authed,
    idem: Option<IdemKey>,
    keep: Option<Box<dyn Keep>>,
    f: F,
) -> Result<HttpResponse>
where
    F: FnOnce(&Conn<'_>, &str) -> Result<Created> + Send + 'static,
{
    let key_id = key.key_id.clone();
    let (status, body, location, replayed) = db
        .write(&key.check, move |tx| {
            let now = crate::domain::now();
            if let Some(ik) = &idem {
                if let Some(s) = idempotency::find(tx, &key_id, &ik.key)? {
                    if s.request_hash != ik.hash || s.path != ik.path || s.method != "POST" {
                        return Err(ApiError::Unprocessable {
                            code: "idempotency_key_reused",
                            message: "This Idempotency-Key was used with a different request; use a new key".into(),
                        });
                    }
                    let body = match &keep {
                        Some(k) => k.revive(s.body)?,
                        None => s.body,
                    };
                    return Ok((s.status, body, s.location, true));
                }
            }
            let c = f(tx, &now)?;
            if let Some(ik) = &idem {
                let stored = idempotency::Stored {
                    method: "POST".into(),
                    path: ik.path.clone(),
                    request_hash: ik.hash.clone(),
                    status: 201,
                    body: match &keep {
                        Some(k) => k.keep(&c.body)?,
                        None => c.body.clone(),
                    },
                    location: Some(c.location.clone()),
                };
                idempotency::store(tx, &key_id, &ik.key, &stored, &now)?;
            }
            Ok((201, c.body, Some(c.location), false))
        })
        .await?;
    let mut res = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED));
    res.content_type("application/json")
        .insert_header((header::ETAG, etag_of(&body)));
    if let Some(l) = location {
        res.insert_header((header::LOCATION, l));
    }
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    Ok(res.body(body))
}

/// Serializes a created resource for [`create`].
pub fn created<T: Serialize>(location: String, v: &T) -> Result<Created> {
    Ok(Created {
        location,
        body: to_json(v)?,
    })
}

/// `204 No Content`.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
