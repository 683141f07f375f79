//! The request guard of `/api/integrations/*`: key verification with a cache, per-key rate
//! limits with their headers, failed-auth throttling per client address, and the `Authed`
//! extractor through which handlers demand a scope.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::{split_key, verify_secret, Scope};
use crate::config::Config;
use crate::error::{ApiError, Result};
use crate::storage::{keys, Db, KeyCheck, PENDING_KEY_CHECK};
use std::sync::atomic::Ordering;

/// The header that carries the key.
pub const KEY_HEADER: &str = "x-invois-key";

/// The key a request was authenticated with (cheap to clone: shared with the key cache).
#[derive(Debug, Clone)]
pub struct Authed {
    pub key_id: Arc<str>,
    pub scopes: Arc<[Scope]>,
}

impl Authed {
    /// `403 insufficient_scope` unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(format!(
                "Insufficient scope; expected any of: {}.",
                scope.as_str()
            )))
        }
    }
}

/// A scope named as a type, so that a handler states what it needs in its signature.
pub trait ScopeName {
    const SCOPE: Scope;
}

/// Scope marker types for [`Need`].
pub mod scope {
    use super::{Scope, ScopeName};

    macro_rules! scopes {
        ($($name:ident),*) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl ScopeName for $name {
                const SCOPE: Scope = Scope::$name;
            }
        )*};
    }
    scopes!(
        ReadUsers,
        WriteUsers,
        ReadOrganizations,
        WriteOrganizations,
        ReadTiers,
        WriteTiers,
        Admin
    );
}

/// The authenticated key, which must hold scope `S`; otherwise `403 insufficient_scope`.
/// Extracted before the body, so a key without the scope learns nothing about body rules.
#[derive(Debug, Clone)]
pub struct Need<S: ScopeName>(pub Authed, std::marker::PhantomData<S>);

impl<S: ScopeName> std::ops::Deref for Need<S> {
    type Target = Authed;
    fn deref(&self) -> &Authed {
        &self.0
    }
}

impl<S: ScopeName> FromRequest for Need<S> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The guard middleware put the verified key there; without it, no key was checked.
        let authed = req
            .extensions()
            .get::<Authed>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("Missing X-Invois-Key header".into()));
        std::future::ready(authed.and_then(|a| {
            a.require(S::SCOPE)?;
            Ok(Need(a, std::marker::PhantomData))
        }))
    }
}

struct CachedKey {
    authed: Authed,
    expires_at: Option<DateTime<Utc>>,
}

type RateHeaders = [(HeaderName, HeaderValue); 3];

type KeyLimiter = DefaultKeyedRateLimiter<Arc<str>, StateInformationMiddleware>;

/// Shared state of the guard.
pub struct AuthState {
    db: Db,
    /// HMAC-SHA256 under a random per-process key, its key schedule done once.
    mac: Hmac<Sha256>,
    cache: Mutex<HashMap<[u8; 32], Arc<CachedKey>>>,
    verify_permits: Semaphore,
    verify_locks: Vec<tokio::sync::Mutex<()>>,
    key_limiter: KeyLimiter,
    ip_limiter: DefaultKeyedRateLimiter<IpAddr>,
    per_second: u32,
    burst: u32,
    trusted_proxy: bool,
    /// Last use of each key (Unix seconds), written to the database in batches.
    last_used: Mutex<HashMap<Arc<str>, i64>>,
}

/// Locks that make concurrent verifications of one key wait for the first.
const VERIFY_STRIPES: usize = 64;

/// Most verified keys remembered at once; past it the cache starts over.
const CACHE_MAX: usize = 10_000;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::Unauthorized(msg.to_owned())
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl AuthState {
    pub fn new(db: Db, cfg: &Config) -> Self {
        // A key of SHA-256's block size, which HMAC takes as it is.
        let mut mac_key = [0u8; 64];
        rand::rngs::OsRng.fill_bytes(&mut mac_key);
        let mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&mac_key.into());
        let rl = &cfg.rate_limit;
        let permits = match cfg.auth.max_concurrent_verifications {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            n => n,
        };
        Self {
            db,
            mac,
            cache: Mutex::new(HashMap::new()),
            verify_permits: Semaphore::new(permits),
            verify_locks: (0..VERIFY_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            key_limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(nz(rl.per_second)).allow_burst(nz(rl.burst)),
            )
            .with_middleware::<StateInformationMiddleware>(),
            ip_limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(nz(rl.auth_per_second)).allow_burst(nz(rl.auth_burst)),
            ),
            per_second: rl.per_second,
            burst: rl.burst,
            trusted_proxy: cfg.server.trusted_proxy,
            last_used: Mutex::new(HashMap::new()),
        }
    }

    fn tag(&self, presented: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(presented.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<CachedKey>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets a key (revoked through the API).
    pub fn forget(&self, key_id: &str) {
        self.cache().retain(|_, c| &*c.authed.key_id != key_id);
    }

    /// Verifies the presented key; see SPEC §3.
    /// The answer for a key already verified, if it is in the cache.
    fn cached(
        &self,
        tag: [u8; 32],
        now: DateTime<Utc>,
    ) -> Option<Result<(Authed, Option<[u8; 32]>)>> {
        let c = self.cache().get(&tag).cloned()?;
        if c.expires_at.is_some_and(|e| e <= now) {
            self.cache().remove(&tag);
            return Some(Err(unauthorized("API key has expired")));
        }
        // Revocation may come from another process (the CLI), so the database is asked on
        // every request: by the request's own first database call (see
        // `storage::PENDING_KEY_CHECK`), or by the guard afterwards if it made none.
        self.note_used(&c.authed.key_id);
        Some(Ok((c.authed.clone(), Some(tag))))
    }

    /// `Ok((key, Some(tag)))` for a key verified before, whose revocation check is still owed
    /// (see [`guard`]); `Ok((key, None))` for one verified against the database just now.
    async fn authenticate(
        &self,
        presented: Option<&str>,
        ip: IpAddr,
    ) -> Result<(Authed, Option<[u8; 32]>)> {
        let now = Utc::now();
        let tag = presented.map(|p| self.tag(p));
        if let Some(hit) = tag.and_then(|t| self.cached(t, now)) {
            return hit;
        }
        // Concurrent first requests with one key verify it once: the others wait on the
        // same stripe, then find it in the cache (spending no throttle allowance).
        let _single = match tag {
            Some(t) => Some(
                self.verify_locks[usize::from(t[0]) % VERIFY_STRIPES]
                    .lock()
                    .await,
            ),
            None => None,
        };
        if let Some(hit) = tag.and_then(|t| self.cached(t, now)) {
            return hit;
        }
        // Not a key verified before: this path costs a lookup and maybe argon2, so it is
        // throttled per client address before any of that work.
        if let Err(not_until) = self.ip_limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(ApiError::RateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        let (Some(p), Some(tag)) = (presented, tag) else {
            return Err(unauthorized("Missing X-Invois-Key header"));
        };
        let Some((id, secret)) = split_key(p) else {
            return Err(unauthorized("Invalid API key"));
        };
        let lookup = id.clone();
        let Some(rec) = self.db.read(move |conn| keys::find(conn, &lookup)).await? else {
            return Err(unauthorized("Invalid API key"));
        };
        let secret = secret.to_owned();
        let hash = rec.secret_hash.clone();
        let ok = {
            let _permit = self
                .verify_permits
                .acquire()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            web::block(move || verify_secret(&secret, &hash)).await?
        };
        if !ok {
            return Err(unauthorized("Invalid API key"));
        }
        if rec.info.revoked_at.is_some() {
            return Err(unauthorized("API key has been revoked"));
        }
        let expires_at = rec.info.expires_at.as_deref().and_then(parse_time);
        if expires_at.is_some_and(|e| e <= now) {
            return Err(unauthorized("API key has expired"));
        }
        let authed = Authed {
            key_id: rec.info.id.into(),
            scopes: rec
                .info
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
        };
        {
            let mut cache = self.cache();
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(
                tag,
                Arc::new(CachedKey {
                    authed: authed.clone(),
                    expires_at,
                }),
            );
        }
        self.note_used(&authed.key_id);
        Ok((authed, None))
    }

    /// The owed revocation check, on its own database call (for requests that made none).
    async fn check_now(&self, check: &KeyCheck) -> Result<()> {
        let check = check.clone();
        self.db.read(move |conn| check.run(conn)).await
    }

    fn note_used(&self, key_id: &Arc<str>) {
        let now = Utc::now().timestamp();
        let mut m = self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match m.get_mut(key_id) {
            Some(t) => *t = now,
            None => {
                m.insert(key_id.clone(), now);
            }
        }
    }

    /// Writes the batched `last_used_at` times (called on a timer and at shutdown).
    pub async fn flush_last_used(&self) -> Result<()> {
        let batch: Vec<(String, String)> = {
            let mut m = self
                .last_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            m.drain()
                .map(|(id, t)| {
                    let at = DateTime::from_timestamp(t, 0).unwrap_or_else(Utc::now);
                    (
                        id.to_string(),
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        web::block(move || db.write_untracked(move |tx| keys::touch(tx, &batch))).await?
    }

    /// Drops limiter state of keys and addresses not seen lately.
    pub fn housekeeping(&self) {
        self.key_limiter.retain_recent();
        self.ip_limiter.retain_recent();
    }

    /// The per-key limit: the headers to send, and `Some(retry_after)` when over it.
    fn rate(&self, key_id: &Arc<str>) -> (Option<u64>, RateHeaders) {
        let now_unix = Utc::now().timestamp();
        let per = f64::from(self.per_second);
        let headers = |remaining: u32, reset_in: f64| {
            let reset = now_unix + reset_in.ceil() as i64;
            [
                (
                    HeaderName::from_static("x-ratelimit-limit"),
                    HeaderValue::from(self.burst),
                ),
                (
                    HeaderName::from_static("x-ratelimit-remaining"),
                    HeaderValue::from(remaining),
                ),
                (
                    HeaderName::from_static("x-ratelimit-reset"),
                    HeaderValue::from(reset),
                ),
            ]
        };
        match self.key_limiter.check_key(key_id) {
            Ok(snap) => {
                let remaining = snap.remaining_burst_capacity();
                (
                    None,
                    headers(
                        remaining,
                        f64::from(self.burst - remaining.min(self.burst)) / per,
                    ),
                )
            }
            Err(not_until) => {
                let wait = not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs_f64();
                let retry = wait.ceil().max(1.0) as u64;
                (Some(retry), headers(0, wait + f64::from(self.burst) / per))
            }
        }
    }

    fn client_ip(&self, req: &ServiceRequest) -> IpAddr {
        if self.trusted_proxy {
            // The proxy appends the address it saw: the last entry is the one we can trust.
            if let Some(ip) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
            {
                return ip;
            }
        }
        req.peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip())
    }
}

/// Paths under `/api/integrations` that need no key.
fn is_public(path: &str) -> bool {
    path == "/api/integrations/openapi.json"
}

/// The middleware: 401 → 429 → handler (which checks its scope), rate-limit headers on
/// every authenticated response.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> std::result::Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_public(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    #[cfg(feature = "bench-no-auth")]
    {
        // Benchmark builds only (see Cargo.toml): every request passes as an all-scope key.
        req.extensions_mut().insert(Authed {
            key_id: "bench-no-auth".into(),
            scopes: Scope::ALL.into(),
        });
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    #[cfg_attr(feature = "bench-no-auth", allow(unreachable_code))]
    let Some(state) = req.app_data::<web::Data<AuthState>>().cloned() else {
        let e = ApiError::Internal("auth state missing".into());
        return Ok(req.into_response(e.error_response()));
    };
    let presented = req
        .headers()
        .get(KEY_HEADER)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let ip = state.client_ip(&req);
    let (authed, owed) = match state.authenticate(presented.as_deref(), ip).await {
        Ok(a) => a,
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    let check = owed.map(|tag| (tag, KeyCheck::new(authed.key_id.clone())));
    let (over, headers) = state.rate(&authed.key_id);
    let mut res = match (over, &check) {
        (Some(retry_after), check) => {
            // 401 still comes before 429 for a key revoked since it was cached.
            if let Some((tag, k)) = check {
                if let Err(e) = state.check_now(k).await {
                    state.cache().remove(tag);
                    return Ok(req.into_response(e.error_response()));
                }
            }
            req.into_response(ApiError::RateLimited { retry_after }.error_response())
        }
        (None, None) => {
            req.extensions_mut().insert(authed);
            next.call(req).await?.map_into_boxed_body()
        }
        (None, Some((tag, k))) => {
            req.extensions_mut().insert(authed);
            let res = PENDING_KEY_CHECK
                .scope(k.clone(), next.call(req))
                .await?
                .map_into_boxed_body();
            if !k.done.load(Ordering::Relaxed) {
                // The handler touched no database: check now, and refuse if need be (it
                // changed nothing, so its response can be replaced).
                if let Err(e) = state.check_now(k).await {
                    k.refused.store(true, Ordering::Relaxed);
                    let (req, _) = res.into_parts();
                    state.cache().remove(tag);
                    return Ok(ServiceResponse::new(req, e.error_response()));
                }
            }
            if k.refused.load(Ordering::Relaxed) {
                state.cache().remove(tag);
            }
            res
        }
    };
    if check
        .as_ref()
        .is_some_and(|(_, k)| k.refused.load(Ordering::Relaxed))
    {
        return Ok(res); // a refused key gets no rate-limit headers, as on any 401
    }
    for (k, v) in headers {
        res.headers_mut().insert(k, v);
    }
    Ok(res)
}

/// Starts the background tasks: batched `last_used_at` writes and limiter housekeeping.
pub fn spawn_background(state: Arc<AuthState>, every_secs: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every_secs.max(1)));
        loop {
            tick.tick().await;
            if let Err(e) = state.flush_last_used().await {
                log::warn!("could not record keys' last use: {e}");
            }
            state.housekeeping();
        }
    });
}
