//! `/keys`: the key-management API (scope `admin`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{no_content, ok_json, NoQuery, API};
use crate::auth::{self, scope, AuthState, Need, Scope};
use crate::domain::fields::{Fields, Patch};
use crate::error::{ApiError, ErrorBody, Result};
use crate::storage::keys::KeyInfo;
use crate::storage::{events, keys, Db, KeyCheck};

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
#[derive(Debug, Serialize, ToSchema)]
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
    pub data: Vec<KeyInfo>,
}

/// List API keys.
#[utoipa::path(get, path = "/api/integrations/keys", tag = "keys", operation_id = "listKeys",
    responses((status = 200, description = "Every API key (never its secret)", body = KeyList)),
    security(("api_key" = ["admin"])))]
pub async fn list(key: Need<scope::Admin>, _: NoQuery, db: web::Data<Db>) -> Result<HttpResponse> {
    let data = db.read(&key.check, keys::list).await?;
    ok_json(&KeyList { data })
}

/// Create an API key.
#[utoipa::path(post, path = "/api/integrations/keys", tag = "keys", operation_id = "createKey",
    request_body = CreateKey,
    responses((status = 201, description = "The new key with its plaintext, shown only this once", body = NewKey, headers(("Location" = String, description = "URL of the new resource")))),
    security(("api_key" = ["admin"])))]
pub async fn create_key(
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let mut f = Fields::new(body.into_inner())?;
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
    let name = body.name;
    let scopes: Vec<Scope> = match body.scopes {
        Some(v) => v.into_iter().map(Scope::from).collect(),
        None => Scope::defaults(),
    };
    let days = body.expires_in_days;
    let db = db.get_ref().clone();
    let check = key.check.clone();
    let (info, plain) = web::block(move || {
        auth::create_key(&db, &name, &scopes, days.filter(|d| *d > 0), Some(&check))
    })
    .await??;
    let body = NewKey {
        id: info.id.clone(),
        name: info.name,
        key: plain.0,
        scopes: info.scopes,
        created_at: info.created_at,
        expires_at: info.expires_at,
    };
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("{API}/keys/{}", info.id)))
        .json(body))
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
        let now = crate::domain::now();
        match keys::revoke(tx, &target, &now)? {
            None => Err(ApiError::not_found("API key")),
            Some(true) => events::record(tx, "key.revoked", Some(&actor), &target, &[], &now),
            Some(false) => Ok(()),
        }
    })
    .await?;
    auth.forget(&id);
    Ok(no_content())
}

/// Rotate an API key: a successor with the same name, scopes and remaining lifetime.
#[utoipa::path(post, path = "/api/integrations/keys/{id}/rotate", tag = "keys", operation_id = "rotateKey",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 201, description = "The successor with its plaintext; the old key is revoked", body = NewKey, headers(("Location" = String, description = "URL of the new resource"))),
        (status = 404, description = "API key not found", body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn rotate(
    key: Need<scope::Admin>,
    _: NoQuery,
    db: web::Data<Db>,
    auth: web::Data<AuthState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let db = db.get_ref().clone();
    let check = key.check.clone();
    let old = id.clone();
    let (info, plain) = web::block(move || rotate_key(&db, &old, Some(&check))).await??;
    auth.forget(&id);
    let body = NewKey {
        id: info.id.clone(),
        name: info.name,
        key: plain.0,
        scopes: info.scopes,
        created_at: info.created_at,
        expires_at: info.expires_at,
    };
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("{API}/keys/{}", info.id)))
        .json(body))
}

/// Issues a successor with the same name, scopes and remaining lifetime, and revokes `id`.
/// `by` is the key of the API request that asks (checked in the same transaction), `None`
/// for the CLI.
pub fn rotate_key(db: &Db, id: &str, by: Option<&KeyCheck>) -> Result<(KeyInfo, auth::PlainKey)> {
    let old = db
        .read_blocking(|c| keys::find(c, id))?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    if old
        .info
        .expires_at
        .as_deref()
        .is_some_and(|e| e <= crate::domain::now().as_str())
    {
        return Err(ApiError::Conflict {
            message: "API key has expired; create a new key instead of rotating it".into(),
            details: None,
        });
    }
    if old.info.revoked_at.is_some() {
        return Err(ApiError::Conflict {
            message: "API key is already revoked".into(),
            details: None,
        });
    }
    let scopes: Vec<Scope> = old
        .info
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .collect();
    // The successor ends exactly when the old key would have: rotating changes the secret,
    // not the lifetime (counting the days left would round it down by up to a day each time).
    let (mut info, plain, hash) = auth::generate(&old.info.name, &scopes, None)?;
    info.expires_at.clone_from(&old.info.expires_at);
    let row = info.clone();
    let old_id = id.to_owned();
    let actor = by.map(|k| k.key_id.clone());
    db.write_blocking(by, move |tx| {
        let now = crate::domain::now();
        keys::insert(tx, &row, &hash)?;
        keys::revoke(tx, &old_id, &now)?;
        keys::set_replaced_by(tx, &old_id, &row.id)?;
        events::record(tx, "key.rotated", actor.as_deref(), &old_id, &[], &now)
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
