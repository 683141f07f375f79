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
use governor::{DefaultKeyedRateLimiter, Quota};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::rate_limit::{Limits, RateLimiter, WindowStatus};
use super::verifier::Verifier;
use super::{split_key, Scope};
use crate::config::Config;
use crate::error::{ApiError, RateLimitDetails, Result};
use crate::storage::{keys, Db, KeyCheck};

/// The header that carries the key.
pub const KEY_HEADER: &str = "x-invois-key";

/// The key a request was authenticated with (cheap to clone: shared with the key cache),
/// and the revocation check that every database call of the request takes explicitly.
#[derive(Debug, Clone)]
pub struct Authed {
    pub key_id: Arc<str>,
    pub scopes: Arc<[Scope]>,
    pub check: KeyCheck,
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
            .ok_or_else(|| unauthorized(INVALID_KEY));
        std::future::ready(authed.and_then(|a| {
            a.require(S::SCOPE)?;
            Ok(Need(a, std::marker::PhantomData))
        }))
    }
}

struct CachedKey {
    key_id: Arc<str>,
    scopes: Arc<[Scope]>,
    expires_at: Option<DateTime<Utc>>,
}

type RateHeaders = [(HeaderName, HeaderValue); 4];

/// Shared state of the guard.
pub struct AuthState {
    db: Db,
    /// HMAC-SHA256 under a random per-process key, its key schedule done once.
    mac: Hmac<Sha256>,
    cache: Mutex<HashMap<[u8; 32], Arc<CachedKey>>>,
    /// Most verified keys remembered at once (`[cache] api_keys`); past it the cache starts
    /// over; 0 = none (every request verifies its key with argon2).
    cache_max: usize,
    /// Shared with the blocking task that runs argon2: the permit goes with the work, so a
    /// cancelled request (a reset connection) does not free it while argon2 still runs.
    verify_permits: Arc<Semaphore>,
    /// argon2 memory for at most as many verifications as there are permits.
    verifier: Arc<Verifier>,
    verify_locks: Vec<tokio::sync::Mutex<()>>,
    key_limiter: RateLimiter,
    ip_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// `auth_burst`, and the seconds it takes to come back in full: the limit and window the
    /// throttle's 429 reports.
    auth_burst: u32,
    auth_window: u32,
    trusted_proxy: bool,
    /// Last use of each key (Unix seconds), written to the database in batches.
    last_used: Mutex<HashMap<Arc<str>, i64>>,
}

/// Locks that make concurrent verifications of one key wait for the first.
const VERIFY_STRIPES: usize = 64;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The 401 message of the published "Error Handling" page.
const INVALID_KEY: &str = "Invalid or missing API key";

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
            cache_max: cfg.cache.api_keys,
            verify_permits: Arc::new(Semaphore::new(permits)),
            verifier: Arc::new(Verifier::new(permits)),
            verify_locks: (0..VERIFY_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            key_limiter: RateLimiter::new(Limits {
                per_minute: rl.per_minute,
                per_hour: rl.per_hour,
                per_day: rl.per_day,
            }),
            ip_limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(nz(rl.auth_per_second)).allow_burst(nz(rl.auth_burst)),
            ),
            auth_burst: rl.auth_burst.max(1),
            auth_window: rl.auth_burst.max(1).div_ceil(rl.auth_per_second.max(1)),
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
        self.cache().retain(|_, c| &*c.key_id != key_id);
    }

    /// The answer for a key already verified, if it is in the cache.
    fn cached(&self, tag: [u8; 32], now: DateTime<Utc>) -> Option<Result<(Authed, [u8; 32])>> {
        let c = self.cache().get(&tag).cloned()?;
        if c.expires_at.is_some_and(|e| e <= now) {
            self.cache().remove(&tag);
            return Some(Err(unauthorized("API key has expired")));
        }
        // Revocation may come from another process (the CLI), so the key's row is read again
        // for every request: the check is owed, and every database call of the request
        // takes it (writes always run it in their own transaction); the guard runs it after
        // a handler that made no database call.
        self.note_used(&c.key_id);
        let authed = Authed {
            key_id: c.key_id.clone(),
            scopes: c.scopes.clone(),
            check: KeyCheck::owed(c.key_id.clone()),
        };
        Some(Ok((authed, tag)))
    }

    /// Verifies the presented key (SPEC §3); returns it with its cache tag.
    async fn authenticate(
        &self,
        presented: Option<&str>,
        ip: IpAddr,
    ) -> Result<(Authed, [u8; 32])> {
        let now = Utc::now();
        let tag = presented.map(|p| self.tag(p));
        if let Some(hit) = tag.and_then(|t| self.cached(t, now)) {
            crate::metrics::cache_hit("api_keys");
            return hit;
        }
        if tag.is_some() {
            crate::metrics::cache_miss("api_keys");
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
            crate::metrics::auth_throttled();
            return Err(self.throttled(wait));
        }
        let (Some(p), Some(tag)) = (presented, tag) else {
            return Err(unauthorized(INVALID_KEY));
        };
        let Some((id, secret)) = split_key(p) else {
            return Err(unauthorized(INVALID_KEY));
        };
        let lookup = id.clone();
        let Some(rec) = self
            .db
            .read_internal(move |conn| keys::find(conn, &lookup))
            .await?
        else {
            return Err(unauthorized(INVALID_KEY));
        };
        let secret = secret.to_owned();
        let hash = rec.secret_hash.clone();
        let ok = {
            let permit = self
                .verify_permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let verifier = self.verifier.clone();
            web::block(move || {
                let started = std::time::Instant::now();
                let ok = verifier.verify(&secret, &hash);
                crate::metrics::argon2_verified("api_key", ok, started);
                drop(permit);
                ok
            })
            .await?
        };
        if !ok {
            return Err(unauthorized(INVALID_KEY));
        }
        if rec.info.revoked_at.is_some() {
            return Err(unauthorized("API key has been revoked"));
        }
        let expires_at = rec.info.expires_at.as_deref().and_then(parse_time);
        if expires_at.is_some_and(|e| e <= now) {
            return Err(unauthorized("API key has expired"));
        }
        let key_id: Arc<str> = rec.info.id.into();
        let scopes: Arc<[Scope]> = rec
            .info
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect();
        if self.cache_max > 0 {
            let mut cache = self.cache();
            if cache.len() >= self.cache_max {
                cache.clear();
            }
            cache.insert(
                tag,
                Arc::new(CachedKey {
                    key_id: key_id.clone(),
                    scopes: scopes.clone(),
                    expires_at,
                }),
            );
            crate::metrics::cache_entries("api_keys", cache.len());
        }
        self.note_used(&key_id);
        let authed = Authed {
            check: KeyCheck::verified(key_id.clone()),
            key_id,
            scopes,
        };
        Ok((authed, tag))
    }

    /// The owed revocation check, on its own database call (for requests that made none).
    async fn check_now(&self, check: &KeyCheck) -> Result<()> {
        self.db.read(check, |_| Ok(())).await
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
        if batch.is_empty() || self.db.health().broken().is_some() {
            return Ok(());
        }
        let db = self.db.clone();
        Ok(web::block(move || db.write_untracked(move |tx| keys::touch(tx, &batch))).await??)
    }

    /// Drops limiter state of keys and addresses not seen lately.
    pub fn housekeeping(&self) {
        self.key_limiter.prune(Utc::now());
        self.ip_limiter.retain_recent();
    }

    /// The per-key limit (see `rate_limit`): the 429's details when over it, and the headers
    /// to send (none when every window is unlimited).
    async fn rate(&self, key_id: &str) -> (Option<RateLimitDetails>, Option<RateHeaders>) {
        let decision = match self.shared_rate(key_id).await {
            Some(d) => d,
            None => self.key_limiter.check_and_count(key_id, Utc::now()),
        };
        let Some(w) = decision.shown else {
            return (None, None);
        };
        let over = decision.over.map(|retry_after| RateLimitDetails {
            retry_after,
            limit: w.limit,
            remaining: w.remaining,
            reset_time: w.reset,
            window: w.window_secs,
        });
        (over, rate_headers(&w))
    }

    /// On PostgreSQL, the decision from the windows kept in the database, one budget for
    /// every instance (`storage::rate`); `None` on SQLite, or when the database did not
    /// answer (the request then counts in this process's windows, and its own database
    /// call reports the failure).
    async fn shared_rate(&self, key_id: &str) -> Option<super::rate_limit::Decision> {
        let limits = self.key_limiter.limits();
        if self.db.engine() != crate::storage::Engine::Postgres || limits.unlimited() {
            return None;
        }
        let now = Utc::now().timestamp();
        let starts = super::rate_limit::window_starts(now);
        let (db, key) = (self.db.clone(), key_id.to_owned());
        let counted = web::block(move || {
            db.autocommit(|c| crate::storage::rate::count(c, &key, starts, limits.of()))
        })
        .await;
        match counted {
            Ok(Some(Ok((used, _)))) => Some(super::rate_limit::decide(limits, used, now)),
            Ok(Some(Err(e))) => {
                log::warn!("rate limit: the shared windows could not be read ({e}); counting in this process");
                None
            }
            _ => None,
        }
    }

    /// The 429 of the failed-auth throttle (a token bucket, not a fixed window): `limit` is
    /// `auth_burst`, `window` the seconds the whole burst takes to come back, and
    /// `reset_time` when the next verification is allowed.
    fn throttled(&self, wait: std::time::Duration) -> ApiError {
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        let now = Utc::now().timestamp();
        let reset = now.saturating_add(i64::try_from(retry_after).unwrap_or(i64::MAX / 2));
        ApiError::RateLimited(RateLimitDetails {
            retry_after,
            limit: self.auth_burst,
            remaining: 0,
            reset_time: DateTime::from_timestamp(reset, 0).unwrap_or_default(),
            window: self.auth_window,
        })
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

/// The `X-RateLimit-*` headers describing `w` (SPEC §4).
fn rate_headers(w: &WindowStatus) -> Option<RateHeaders> {
    // `2026-11-30T03:00:00Z`, without parsing a format string on every request.
    let reset = w.reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some([
        (
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(w.limit),
        ),
        (
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(w.remaining),
        ),
        (
            HeaderName::from_static("x-ratelimit-reset"),
            // Always ASCII digits, '-', ':', 'T' and 'Z'.
            HeaderValue::from_str(&reset).ok()?,
        ),
        (
            HeaderName::from_static("x-ratelimit-window"),
            HeaderValue::from(w.window_secs),
        ),
    ])
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
            check: KeyCheck::verified("bench-no-auth".into()),
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
    let (authed, tag) = match state.authenticate(presented.as_deref(), ip).await {
        Ok(a) => a,
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    let check = authed.check.clone();
    let (over, headers) = state.rate(&authed.key_id).await;
    let mut res = if let Some(over) = over {
        // 401 still comes before 429 for a key revoked since it was cached.
        if check.is_owed() {
            if let Err(e) = state.check_now(&check).await {
                state.cache().remove(&tag);
                return Ok(req.into_response(e.error_response()));
            }
        }
        crate::metrics::rate_limited(over.window);
        req.into_response(ApiError::RateLimited(over).error_response())
    } else {
        req.extensions_mut().insert(authed);
        let res = next.call(req).await?.map_into_boxed_body();
        if check.is_owed() {
            // The handler made no database call, so it changed nothing: check now, and
            // replace its response if the key is no longer active.
            if let Err(e) = state.check_now(&check).await {
                let (req, _) = res.into_parts();
                state.cache().remove(&tag);
                return Ok(ServiceResponse::new(req, e.error_response()));
            }
        }
        res
    };
    if check.is_refused() {
        state.cache().remove(&tag);
        return Ok(res); // a refused key gets no rate-limit headers, as on any 401
    }
    for (k, v) in headers.into_iter().flatten() {
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
