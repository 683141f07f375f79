//! `/keys`: the key-management API (scope `admin`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{create_with, created, no_content, ok_json, IdemKey, Keep, NoQuery, API};
use crate::auth::{self, scope, AuthState, KeySource, Need, Scope};
use crate::domain::fields::{Fields, Patch};
use crate::error::{ApiError, ErrorBody, Result};
use crate::model;
use crate::storage::events::Actor;
use crate::storage::records::KeyInfo;
use crate::storage::{events, keys, Conflict, Conn, Db, DbError, KeyCheck};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/keys")
            .route(web::get().to(list))
            .route(web::post().to(create_key)),
    )
    .service(web::resource("/keys/{id}").route(web::delete().to(revoke)))
    .service(web::resource("/keys/{id}/rotate").route(web::post().to(rotate)));
}

/// A scope, as a key body names it (the scopes of SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum KeyScope {
    #[serde(rename = "read:users")]
    ReadUsers,
    #[serde(rename = "write:users")]
    WriteUsers,
    #[serde(rename = "read:organizations")]
    ReadOrganizations,
    #[serde(rename = "write:organizations")]
    WriteOrganizations,
    #[serde(rename = "read:tiers")]
    ReadTiers,
    #[serde(rename = "write:tiers")]
    WriteTiers,
    #[serde(rename = "admin")]
    Admin,
}

impl From<KeyScope> for Scope {
    fn from(s: KeyScope) -> Self {
        match s {
            KeyScope::ReadUsers => Scope::ReadUsers,
            KeyScope::WriteUsers => Scope::WriteUsers,
            KeyScope::ReadOrganizations => Scope::ReadOrganizations,
            KeyScope::WriteOrganizations => Scope::WriteOrganizations,
            KeyScope::ReadTiers => Scope::ReadTiers,
            KeyScope::WriteTiers => Scope::WriteTiers,
            KeyScope::Admin => Scope::Admin,
        }
    }
}

/// The body of `POST /keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "shopify-sync", "scopes": ["read:organizations"], "expiresInDays": 90}))]
pub struct CreateKey {
    #[schema(min_length = 1, max_length = 100, example = "shopify-sync")]
    pub name: String,
    /// Default: every scope but `admin`.
    #[schema(min_items = 1, max_items = 10)]
    pub scopes: Option<Vec<KeyScope>>,
    /// Days until the key expires; `0` or absent: never.
    #[schema(minimum = 0, maximum = 36_500, example = 90)]
    pub expires_in_days: Option<u32>,
}

/// A new key with its plaintext, shown only in this response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    pub id: String,
    pub name: String,
    /// The plaintext key; store it now, it is never shown again.
    pub key: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// Keys listed (never secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub data: Vec<model::KeyInfo>,
}

/// List API keys.
#[utoipa::path(get, path = "/api/integrations/keys", tag = "keys", operation_id = "listKeys",
    responses((status = 200, description = "Every API key (never its secret)", body = KeyList)),
    security(("api_key" = ["admin"])))]
pub async fn list(key: Need<scope::Admin>, _: NoQuery, db: web::Data<Db>) -> Result<HttpResponse> {
    let data = db.read(&key.check, keys::list).await?;
    ok_json(&KeyList {
        data: data.into_iter().map(model::KeyInfo::from).collect(),
    })
}

/// Create an API key.
#[utoipa::path(post, path = "/api/integrations/keys", tag = "keys", operation_id = "createKey",
    request_body = CreateKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response (the same key) for 24 hours; 1 to 255 visible ASCII characters")),
    responses((status = 201, description = "The new key with its plaintext, shown only this once", body = NewKey, headers(("Location" = String, description = "URL of the new resource")))),
    security(("api_key" = ["admin"])))]
pub async fn create_key(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let raw = body.into_inner();
    let idem = IdemKey::from_request(&req, &raw)?;
    let (name, scopes, days) = read_create(Fields::new(raw)?)?;
    let Some(idem) = idem else {
        let db = db.get_ref().clone();
        let check = key.check.clone();
        let (info, plain) =
            web::block(move || auth::create_key(&db, &name, &scopes, days, Some(&check))).await??;
        return Ok(HttpResponse::Created()
            .insert_header(("location", format!("{API}/keys/{}", info.id)))
            .json(new_key(info, plain)));
    };
    // Idempotent: the key is derived from the caller's key, so a replay can give it again.
    let seal = KeySeal::new(&req);
    let (from, nonce) = (seal.from.clone(), seal.nonce);
    let (info, plain, hash) = web::block(move || {
        auth::generate_from(
            &name,
            &scopes,
            days,
            KeySource::Derived {
                from: &from,
                nonce: &nonce,
            },
        )
    })
    .await??;
    let actor = key.key_id.clone();
    create_with(&db, &key, Some(idem), Some(Box::new(seal)), move |tx, _| {
        keys::insert(tx, &info, &hash)?;
        events::record(
            tx,
            "key.created",
            Some(&actor),
            &info.id,
            &[],
            &info.created_at,
        )?;
        created(format!("{API}/keys/{}", info.id), &new_key(info, plain))
    })
    .await
}

/// Reads the body of a key create: name, scopes (default: all but `admin`) and the days until
/// it expires (`None`: never). The console reads its form with it too.
pub(crate) fn read_create(mut f: Fields) -> Result<(String, Vec<Scope>, Option<u32>)> {
    let name = f.string("name", auth::parse_key_name);
    f.require("name", name, "Name is required");
    let scopes = f.string_list("scopes", 10, |s| {
        Scope::parse(s)
            .map(|x| x.as_str().to_owned())
            .ok_or_else(|| format!("unknown scope {s}"))
    });
    if matches!(scopes, Patch::Value(v) if v.is_empty()) {
        f.error("scopes", "at least one scope is needed");
    }
    f.integer("expiresInDays", 36_500);
    let body = f.finish_into::<CreateKey>()?;
    let scopes: Vec<Scope> = match body.scopes {
        Some(v) => v.into_iter().map(Scope::from).collect(),
        None => Scope::defaults(),
    };
    Ok((body.name, scopes, body.expires_in_days.filter(|d| *d > 0)))
}

/// The response body of a new key.
fn new_key(info: KeyInfo, plain: auth::PlainKey) -> NewKey {
    NewKey {
        id: info.id,
        name: info.name,
        key: plain.0,
        scopes: info.scopes,
        created_at: info.created_at,
        expires_at: info.expires_at,
    }
}

/// How an idempotent key create or rotate keeps its response: never the new key's
/// plaintext, only the nonce it was derived from (with the caller's key, which the database
/// does not have); a replay presented with the same caller key derives it again.
struct KeySeal {
    from: String,
    nonce: [u8; 16],
}

impl KeySeal {
    fn new(req: &HttpRequest) -> Self {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let from = req
            .headers()
            .get(auth::guard::KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Self { from, nonce }
    }
}

const NONCE_PREFIX: &str = "nonce:";

impl Keep for KeySeal {
    fn keep(&self, body: &str) -> Result<String> {
        let mut k: NewKey = serde_json::from_str(body)
            .map_err(|e| ApiError::Internal(format!("new key body: {e}")))?;
        k.key = format!(
            "{NONCE_PREFIX}{}",
            self.nonce
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        serde_json::to_string(&k).map_err(|e| ApiError::Internal(format!("new key body: {e}")))
    }

    fn revive(&self, kept: String) -> Result<String> {
        let bad = || ApiError::Internal("a stored key response cannot be replayed".into());
        let mut k: NewKey = serde_json::from_str(&kept).map_err(|_| bad())?;
        let hex = k.key.strip_prefix(NONCE_PREFIX).ok_or_else(bad)?;
        let mut nonce = [0u8; 16];
        for (i, b) in nonce.iter_mut().enumerate() {
            *b = hex
                .get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
        }
        let plain = auth::derived_key(&self.from, &nonce);
        if auth::split_key(&plain.0).map(|(id, _)| id) != Some(k.id.clone()) {
            return Err(bad());
        }
        k.key = plain.0;
        serde_json::to_string(&k).map_err(|_| bad())
    }
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/integrations/keys/{id}", tag = "keys", operation_id = "revokeKey",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked (again: no change)"),
        (status = 404, description = "API key not found", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn revoke(
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    auth: web::Data<AuthState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let target = id.clone();
    let actor = key.key_id.clone();
    db.write(&key.check, move |tx| {
        revoke_in(tx, &target, Actor::Key(&actor)).map(drop)
    })
    .await?;
    auth.forget(&id);
    Ok(no_content())
}

/// Revokes a key and records `key.revoked` by `actor`; `false` if it was revoked already
/// (nothing recorded).
pub(crate) fn revoke_in(tx: &Conn<'_>, id: &str, actor: Actor<'_>) -> Result<bool> {
    let now = crate::domain::now();
    match keys::revoke(tx, id, &now)? {
        None => Err(ApiError::not_found("API key")),
        Some(true) => {
            events::record_as(tx, "key.revoked", actor, id, &[], &now)?;
            Ok(true)
        }
        Some(false) => Ok(false),
    }
}

/// Rotate an API key: a successor with the same name, scopes and remaining lifetime.
#[utoipa::path(post, path = "/api/integrations/keys/{id}/rotate", tag = "keys", operation_id = "rotateKey",
    params(("id" = String, Path, description = "Key id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first response (the same successor) for 24 hours; 1 to 255 visible ASCII characters")),
    responses((status = 201, description = "The successor with its plaintext; the old key is revoked", body = NewKey, headers(("Location" = String, description = "URL of the new resource"))),
        (status = 404, description = "API key not found", body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn rotate(
    req: HttpRequest,
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    auth: web::Data<AuthState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let Some(idem) = IdemKey::from_request(&req, &Value::Null)? else {
        let db = db.get_ref().clone();
        let check = key.check.clone();
        let old = id.clone();
        let (info, plain) = web::block(move || rotate_key(&db, &old, Some(&check))).await??;
        auth.forget(&id);
        return Ok(HttpResponse::Created()
            .insert_header(("location", format!("{API}/keys/{}", info.id)))
            .json(new_key(info, plain)));
    };
    // Idempotent: the successor is derived from the caller's key (see `KeySeal`); the checks
    // run in the write, so that a replay after the old key was revoked is still a replay.
    let lookup = id.clone();
    let old = db
        .read(&key.check, move |c| keys::find(c, &lookup))
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    let seal = KeySeal::new(&req);
    let (from, nonce) = (seal.from.clone(), seal.nonce);
    let (info, plain, hash) = web::block(move || {
        successor(
            &old.info,
            KeySource::Derived {
                from: &from,
                nonce: &nonce,
            },
        )
    })
    .await??;
    let actor = key.key_id.clone();
    let old_id = id.clone();
    let res = create_with(
        &db,
        &key,
        Some(idem),
        Some(Box::new(seal)),
        move |tx, now| {
            let old = keys::find(tx, &old_id)?.ok_or_else(|| ApiError::not_found("API key"))?;
            check_rotatable(&old.info)?;
            apply_rotation(tx, &old_id, &info, &hash, Actor::Key(&actor), now)?;
            created(format!("{API}/keys/{}", info.id), &new_key(info, plain))
        },
    )
    .await?;
    auth.forget(&id);
    Ok(res)
}

/// `409` for a key that cannot be rotated: expired or already revoked.
fn check_rotatable(old: &KeyInfo) -> Result<()> {
    if old
        .expires_at
        .as_deref()
        .is_some_and(|e| e <= crate::domain::now().as_str())
    {
        return Err(ApiError::Conflict {
            message: "API key has expired; create a new key instead of rotating it".into(),
            details: None,
        });
    }
    if old.revoked_at.is_some() {
        return Err(ApiError::Conflict {
            message: "API key is already revoked".into(),
            details: None,
        });
    }
    Ok(())
}

/// The successor of `old`: same name and scopes, and it ends exactly when the old key would
/// have (rotating changes the secret, not the lifetime; counting the days left would round
/// it down by up to a day each time). Blocking: argon2.
fn successor(old: &KeyInfo, src: KeySource<'_>) -> Result<(KeyInfo, auth::PlainKey, String)> {
    let scopes: Vec<Scope> = old.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    let (mut info, plain, hash) = auth::generate_from(&old.name, &scopes, None, src)?;
    info.expires_at.clone_from(&old.expires_at);
    Ok((info, plain, hash))
}

/// The rotation's writes, in the caller's transaction.
fn apply_rotation(
    tx: &crate::storage::Conn<'_>,
    old_id: &str,
    row: &KeyInfo,
    hash: &str,
    actor: Actor<'_>,
    now: &str,
) -> crate::storage::Result<()> {
    // Revoking is the check that counts: two rotations that both passed the read before
    // their writes must not both succeed (two live successors).
    match keys::revoke(tx, old_id, now)? {
        Some(true) => {}
        Some(false) => {
            return Err(DbError::Conflict {
                what: Conflict::KeyRevoked,
            })
        }
        None => return Err(DbError::NotFound { what: "API key" }),
    }
    keys::insert(tx, row, hash)?;
    keys::set_replaced_by(tx, old_id, &row.id)?;
    events::record_as(tx, "key.rotated", actor, old_id, &[], now)
}

/// Issues a successor with the same name, scopes and expiry, and revokes `id`.
/// `by` is the key of the API request that asks (checked in the same transaction), `None`
/// for the CLI.
pub fn rotate_key(db: &Db, id: &str, by: Option<&KeyCheck>) -> Result<(KeyInfo, auth::PlainKey)> {
    let actor = by.map(|k| k.key_id.clone());
    rotate_key_as(db, id, by, Actor::from(actor.as_deref()))
}

/// As [`rotate_key`], recording the rotation by `actor` (the console's operator, whose
/// session `check` is).
pub fn rotate_key_as(
    db: &Db,
    id: &str,
    check: Option<&KeyCheck>,
    actor: Actor<'_>,
) -> Result<(KeyInfo, auth::PlainKey)> {
    let old = db
        .read_blocking(|c| keys::find(c, id))?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    check_rotatable(&old.info)?;
    let (info, plain, hash) = successor(&old.info, KeySource::Random)?;
    let row = info.clone();
    let old_id = id.to_owned();
    db.write_blocking(check, move |tx| {
        let now = crate::domain::now();
        apply_rotation(tx, &old_id, &row, &hash, actor, &now)
    })?;
    Ok((info, plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_can_be_named_in_a_key_body() {
        for s in Scope::ALL {
            let named: KeyScope = serde_json::from_value(Value::from(s.as_str())).unwrap();
            assert_eq!(Scope::from(named), s);
        }
    }
}
