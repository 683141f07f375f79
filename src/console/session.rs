//! Logging in and out, the session every other console page needs, and its CSRF token.
//!
//! - The cookie `invois_session` holds 256 random bits; the database keeps only their
//!   SHA-256, with the operator, a CSRF token, and when the session began and was last seen.
//!   The cookie is HttpOnly, SameSite=Strict, Path=/console, and Secure when the request came
//!   over TLS (or through a trusted proxy that says `X-Forwarded-Proto: https`).
//! - A session ends after `session_idle_minutes` without a request or `session_max_hours`
//!   after it began, whichever comes first, and on logout. Every write re-checks it in the
//!   write's own transaction (`KeyCheck::session`), so an ended session changes nothing, on
//!   whichever instance it ended.
//! - Logins are throttled per client address and per account (`login_per_minute` each),
//!   before any password is checked; a wrong password and an unknown email get the same
//!   words and the same argon2 work.
//! - The login form has a CSRF token of its own (a cookie and the same value in the form),
//!   so that another site cannot log a browser in to an account of its choosing.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use maud::html;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::forms::Posted;
use super::page;
use super::{see_other, ConsoleError, Result, BASE};
use crate::config::{Config, ConsoleConfig};
use crate::storage::sessions::{self, Cutoffs};
use crate::storage::{operators, Db, KeyCheck};

/// The session cookie.
pub const SESSION_COOKIE: &str = "invois_session";
/// The login form's CSRF cookie.
const LOGIN_COOKIE: &str = "invois_login";
/// Clears the session cookie.
pub const CLEAR_SESSION_COOKIE: &str =
    "invois_session=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict";

/// What the console keeps for all its requests.
pub struct ConsoleState {
    pub cfg: ConsoleConfig,
    trusted_proxy: bool,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    /// argon2 runs for at most this many logins at once (each holds 19 MiB).
    hashing: Arc<Semaphore>,
}

impl ConsoleState {
    pub fn new(cfg: &Config) -> Self {
        let n = NonZeroU32::new(cfg.console.login_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            cfg: cfg.console.clone(),
            trusted_proxy: cfg.server.trusted_proxy,
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
            per_account: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
            hashing: Arc::new(Semaphore::new(2)),
        }
    }

    fn client_ip(&self, req: &HttpRequest) -> IpAddr {
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

    /// Whether cookies must be `Secure`: TLS, or a trusted proxy that says it used TLS.
    fn secure(&self, req: &HttpRequest) -> bool {
        req.app_config().secure()
            || (self.trusted_proxy
                && req
                    .headers()
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
    }

    /// `None` if a login attempt may go ahead, else the seconds to wait. Each attempt counts
    /// against its address and its account.
    fn throttle(&self, ip: IpAddr, account: &str) -> Option<u64> {
        if self.per_address.len() > 100_000 {
            self.per_address.retain_recent();
        }
        if self.per_account.len() > 100_000 {
            self.per_account.retain_recent();
        }
        let now = DefaultClock::default().now();
        let wait =
            |n: governor::NotUntil<_>| n.wait_time_from(now).as_secs_f64().ceil().max(1.0) as u64;
        if let Err(n) = self.per_address.check_key(&ip) {
            return Some(wait(n));
        }
        if let Err(n) = self.per_account.check_key(&account.to_owned()) {
            return Some(wait(n));
        }
        None
    }

    fn cutoffs(&self) -> Cutoffs {
        Cutoffs::now(self.cfg.idle(), self.cfg.max_age())
    }
}

/// The logged-in operator of a request (put there by [`require_session`]).
#[derive(Debug, Clone)]
pub struct Sess {
    pub operator_id: Arc<str>,
    pub email: Arc<str>,
    pub csrf: Arc<str>,
    /// Every write of the request checks the session with it, in its own transaction.
    pub check: KeyCheck,
}

impl FromRequest for Sess {
    type Error = ConsoleError;
    type Future = std::future::Ready<Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Sess>()
                .cloned()
                .ok_or(ConsoleError::SessionEnded),
        )
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name`, if the request has it.
fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn set_cookie(res: &mut HttpResponse, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Percent-encodes `s` for a query string.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A console path to go to after logging in: only a path of this console (never another
/// site, `//host` or a backslash trick); the dashboard otherwise.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("/console//")
                && !n.contains(['\\', '\r', '\n'])
                && !n.starts_with("/console/logout") =>
        {
            n.to_owned()
        }
        _ => format!("{BASE}/"),
    }
}

/// The query of the login page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    bye: Option<String>,
}

/// `GET /console/login`.
pub async fn login_page(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    q: Option<web::Query<LoginQuery>>,
) -> HttpResponse {
    let q = q.map(web::Query::into_inner).unwrap_or_default();
    let notice = if q.bye.is_some() {
        Some("You are logged out")
    } else if q.expired.is_some() {
        Some("Your session has expired; log in again")
    } else {
        None
    };
    let token = cookie(&req, LOGIN_COOKIE).unwrap_or_else(random_hex);
    let mut res = login_form(StatusCode::OK, &token, q.next.as_deref(), "", notice, None);
    set_login_cookie(&state, &req, &mut res, &token);
    res
}

fn set_login_cookie(state: &ConsoleState, req: &HttpRequest, res: &mut HttpResponse, token: &str) {
    let secure = if state.secure(req) { "; Secure" } else { "" };
    set_cookie(
        res,
        format!("{LOGIN_COOKIE}={token}; Path=/console/login; HttpOnly; SameSite=Strict{secure}"),
    );
}

fn login_form(
    status: StatusCode,
    token: &str,
    next: Option<&str>,
    email: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let body = html! {
        main #main .login {
            h1 { "invois console" }
            @if let Some(n) = notice { div .flash role="status" { (n) } }
            @if let Some(e) = error { p .form-error role="alert" { (e) } }
            form #login-form method="post" action="/console/login" {
                input type="hidden" name="csrf" value=(token);
                @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                div .field {
                    label for="email" { "Email" }
                    input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                }
                div .field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                }
                button type="submit" { "Log in" }
            }
            p .hint { "No login yet? On the server: " code { "invois operators create --email you@example.com" } }
        }
    };
    page::document(status, "Log in", body)
}

/// `POST /console/login`.
pub async fn login(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    db: web::Data<Db>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let token = cookie(&req, LOGIN_COOKIE).unwrap_or_default();
    if !same_token(&token, field("csrf")) {
        return Err(ConsoleError::BadToken);
    }
    let email = field("email").trim().to_owned();
    let password = field("password").to_owned();
    let next = Some(field("next")).filter(|n| !n.is_empty());
    if let Some(secs) = state.throttle(state.client_ip(&req), &crate::domain::fold(&email)) {
        let mut res = page::bare(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many login attempts",
            &format!("Too many login attempts; try again in {secs} seconds"),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(res);
    }
    let lookup = email.clone();
    let operator = db
        .read_internal(move |c| operators::find_by_email(c, &lookup))
        .await?;
    let ok = {
        let permit = state
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ConsoleError::Internal(e.to_string()))?;
        let hash = operator.as_ref().map(|o| o.password_hash.clone());
        web::block(move || {
            let ok = verify_password(&password, hash.as_deref());
            drop(permit);
            ok
        })
        .await?
    };
    let Some(operator) = operator.filter(|_| ok) else {
        let mut res = login_form(
            StatusCode::OK,
            &token,
            next,
            &email,
            None,
            Some("Invalid email or password"),
        );
        set_login_cookie(&state, &req, &mut res, &token);
        return Ok(res);
    };
    let session_token = random_hex();
    let hash = sha256_hex(&session_token);
    let csrf = random_hex();
    let old = cookie(&req, SESSION_COOKIE).map(|t| sha256_hex(&t));
    let now = sessions::stamp(chrono::Utc::now());
    let db = db.get_ref().clone();
    web::block(move || {
        db.write_blocking(None, |tx| {
            if let Some(old) = &old {
                sessions::delete(tx, old)?;
            }
            sessions::create(tx, &hash, &operator.id, &csrf, &now)?;
            operators::note_login(tx, &operator.id, &crate::domain::now())
        })
    })
    .await??;
    let mut res = see_other(&safe_next(next));
    // A browser-session cookie: the server ends the session (idle or absolute limit) and
    // then says so on the login page, which a cookie that vanished could not.
    let secure = if state.secure(&req) { "; Secure" } else { "" };
    set_cookie(
        &mut res,
        format!(
            "{SESSION_COOKIE}={session_token}; Path=/console; HttpOnly; SameSite=Strict{secure}"
        ),
    );
    set_cookie(
        &mut res,
        format!("{LOGIN_COOKIE}=; Path=/console/login; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    Ok(res)
}

/// The hash an unknown email is checked against, so that it costs what a known one does.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| super::accounts::hash_password(&random_hex()).unwrap_or_default())
}

/// Whether `password` matches `hash` (argon2id); with no hash, the same work and `false`.
fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let (hash, known) = match hash {
        Some(h) => (h, true),
        None => (decoy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let started = std::time::Instant::now();
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    crate::metrics::argon2_verified("operator_login", ok && known, started);
    ok && known
}

/// `POST /console/logout`.
pub async fn logout(form: Posted, db: web::Data<Db>) -> Result<HttpResponse> {
    let hash = form.sess.check.key_id.to_string();
    let db = db.get_ref().clone();
    web::block(move || db.write_blocking(None, |tx| sessions::delete(tx, &hash))).await??;
    let mut res = see_other(&format!("{BASE}/login?bye=1"));
    set_cookie(&mut res, CLEAR_SESSION_COOKIE.to_owned());
    Ok(res)
}

/// How often a session's `last_seen_at` is written at most: a tenth of the idle limit, and
/// at least every 15 seconds.
fn touch_every(cfg: &ConsoleConfig) -> chrono::Duration {
    (cfg.idle() / 10).min(chrono::Duration::seconds(15))
}

/// The middleware of every console page but the login: the request's session, live, or a
/// redirect to the login page (`next` = this page, `expired=1` when a session had ended).
pub async fn require_session(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> std::result::Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (Some(state), Some(db)) = (
        req.app_data::<web::Data<ConsoleState>>().cloned(),
        req.app_data::<web::Data<Db>>().cloned(),
    ) else {
        let e = ConsoleError::Internal("console state missing".into());
        return Ok(req.error_response(e));
    };
    let to_login = |req: ServiceRequest, expired: bool| {
        // For htmx, the page the fragment was for (HX-Current-URL), not the fragment.
        let page_url = req
            .headers()
            .get("hx-current-url")
            .and_then(|v| v.to_str().ok())
            .and_then(|u| u.find(BASE).map(|i| u[i..].to_owned()));
        let here = if let Some(p) = page_url {
            p
        } else if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map_or_else(|| format!("{BASE}/"), |p| p.as_str().to_owned())
        } else {
            format!("{BASE}/")
        };
        let mut location = format!("{BASE}/login?next={}", enc(&here));
        if expired {
            location.push_str("&expired=1");
        }
        // An htmx request (search as you type) would swap the login page into the page it
        // updates: htmx is told to go to the login page instead.
        let htmx = req.headers().contains_key("hx-request");
        let mut res = if htmx {
            let mut r = HttpResponse::Ok().finish();
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&location) {
                r.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static("hx-redirect"),
                    v,
                );
            }
            r
        } else {
            see_other(&location)
        };
        if expired {
            set_cookie(&mut res, CLEAR_SESSION_COOKIE.to_owned());
        }
        Ok(req.into_response(res))
    };
    let Some(token) = cookie(req.request(), SESSION_COOKIE) else {
        return to_login(req, false);
    };
    let hash = sha256_hex(&token);
    let lookup = hash.clone();
    let found = db.read_internal(move |c| sessions::get(c, &lookup)).await;
    let session = match found {
        Ok(s) => s,
        Err(e) => return Ok(req.error_response(ConsoleError::from(e))),
    };
    let cutoffs = state.cutoffs();
    let Some(session) = session.filter(|s| s.is_live(&cutoffs)) else {
        let gone = hash.clone();
        let db = db.get_ref().clone();
        // Best effort: the purge job deletes it otherwise.
        let _ = web::block(move || db.write_untracked(|tx| sessions::delete(tx, &gone))).await;
        return to_login(req, true);
    };
    let now = chrono::Utc::now();
    let seen = chrono::DateTime::parse_from_rfc3339(&session.last_seen_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    if now - seen >= touch_every(&state.cfg) {
        let (db, h, at) = (db.get_ref().clone(), hash.clone(), sessions::stamp(now));
        if let Ok(Err(e)) =
            web::block(move || db.write_untracked(|tx| sessions::touch(tx, &h, &at))).await
        {
            log::warn!("console: could not record a session's last request: {e}");
        }
    }
    req.extensions_mut().insert(Sess {
        operator_id: session.operator_id.into(),
        email: session.operator_email.into(),
        csrf: session.csrf.into(),
        check: KeyCheck::session(hash.into(), state.cfg.idle(), state.cfg.max_age()),
    });
    Ok(next.call(req).await?.map_into_boxed_body())
}
