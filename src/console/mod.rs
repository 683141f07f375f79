//! The operator console at `/console/` (issue 13): server-rendered HTML (maud) with a small
//! vendored htmx for partial updates, served by the same binary. It reads and writes through
//! the API's own code: the same body readers (`routes::*::read`), storage functions, ETag
//! rule and events, with the logged-in operator as the actor of every change.
//!
//! - [`session`]: operators log in with email and password; sessions live in the database,
//!   every form carries the session's CSRF token, every write re-checks the session in its
//!   own transaction (a `KeyCheck` of the session).
//! - [`page`]: the layout and the parts every page shares.
//! - one file per area: [`dashboard`], [`users`], [`orgs`], [`tiers`], [`keys`], [`events`],
//!   [`backup`].
//! - [`accounts`]: operator accounts for the command line and `serve --demo`.

pub mod accounts;
mod backup;
mod dashboard;
mod events;
mod forms;
mod keys;
mod orgs;
mod page;
pub mod session;
mod tiers;
mod users;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, ResponseError};

use crate::config::Config;
use crate::error::ApiError;

pub use session::ConsoleState;

/// Where the console lives.
pub const BASE: &str = "/console";

/// The Content-Security-Policy of every console response: no inline script or style, nothing
/// from another origin, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Mounts the console (when `[console] enabled`).
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<ConsoleState>) {
    cfg.service(
        web::scope(BASE)
            .wrap(from_fn(security_headers))
            .app_data(state.clone())
            .app_data(
                web::FormConfig::default()
                    .limit(256 * 1024)
                    .error_handler(|e, _| ConsoleError::BadForm(e.to_string()).into()),
            )
            .route("", web::get().to(to_console))
            .route("/static/{file}", web::get().to(static_file))
            .service(
                web::resource("/login")
                    .route(web::get().to(session::login_page))
                    .route(web::post().to(session::login)),
            )
            .service(
                web::scope("")
                    .wrap(from_fn(session::require_session))
                    .route("/logout", web::post().to(session::logout))
                    .route("/", web::get().to(dashboard::show))
                    .configure(users::configure)
                    .configure(orgs::configure)
                    .configure(tiers::configure)
                    .configure(keys::configure)
                    .configure(events::configure)
                    .route("/backup", web::get().to(backup::download))
                    .default_service(web::to(not_found)),
            ),
    );
}

/// The console's state for `cfg` (built once per server; its limiters are shared by all
/// workers).
pub fn state(cfg: &Config) -> web::Data<ConsoleState> {
    web::Data::new(ConsoleState::new(cfg))
}

async fn to_console() -> HttpResponse {
    see_other(&format!("{BASE}/"))
}

async fn not_found() -> HttpResponse {
    ConsoleError::NotFound("No such page".into()).error_response()
}

/// `303 See Other` to `location` (after a form, and for every redirect of the console).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The headers of every console response (README, Console): the CSP above, no framing, no
/// referrer to other sites, no sniffing, no caching (pages hold data and secrets).
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    Ok(res)
}

/// Runs outside the API's CORS middleware: a console page posting a form to its own origin
/// sends `Origin`, which the CORS layer (made for the API's listed origins) would refuse. For
/// `/console` paths the header is taken off before CORS sees it. The console does not need
/// it: every form carries the session's CSRF token and the cookie is SameSite=Strict (a proxy
/// in front may rewrite `Host`, so comparing it with `Origin` would refuse good requests).
pub async fn outside_cors(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    if path == BASE || path.starts_with("/console/") {
        req.headers_mut().remove(header::ORIGIN);
    }
    next.call(req).await
}

/// A vendored or own static file, embedded in the binary.
async fn static_file(name: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "htmx.min.js" => (
            include_bytes!("static/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.js" => (
            include_bytes!("static/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.css" => (
            include_bytes!("static/console.css"),
            "text/css; charset=utf-8",
        ),
        _ => return Err(ConsoleError::NotFound("No such file".into())),
    };
    Ok(HttpResponse::Ok().content_type(kind).body(body))
}

/// What a console request can fail with; each is an HTML page (or a redirect to the login).
#[derive(Debug)]
pub enum ConsoleError {
    /// 404.
    NotFound(String),
    /// 403: the form's CSRF token is missing or wrong.
    BadToken,
    /// 400: the form could not be read.
    BadForm(String),
    /// The session ended (expired, logged out elsewhere) while the request ran: to the login.
    SessionEnded,
    /// 503: the database cannot serve now.
    Unavailable(String),
    /// 500, logged; the page says only that something went wrong.
    Internal(String),
    /// Another answer of the API's code that the page shows as it is (a 409 without fields).
    Refused { status: StatusCode, message: String },
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(m) | Self::BadForm(m) | Self::Unavailable(m) | Self::Internal(m) => {
                f.write_str(m)
            }
            Self::BadToken => f.write_str(BAD_TOKEN),
            Self::SessionEnded => f.write_str("the session has ended"),
            Self::Refused { message, .. } => f.write_str(message),
        }
    }
}

/// The words of the CSRF refusal.
pub const BAD_TOKEN: &str = "Invalid or missing form token; reload the page and try again";

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(m) => Self::NotFound(m),
            ApiError::Unauthorized(_) => Self::SessionEnded,
            ApiError::ServiceUnavailable(m) => Self::Unavailable(m),
            ApiError::Internal(m) => Self::Internal(m),
            other => {
                let status = other.status_code();
                Self::Refused {
                    status,
                    message: other.body().message,
                }
            }
        }
    }
}

impl From<crate::storage::DbError> for ConsoleError {
    fn from(e: crate::storage::DbError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<actix_web::error::BlockingError> for ConsoleError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task: {e}"))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadToken => StatusCode::FORBIDDEN,
            Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::SessionEnded => StatusCode::SEE_OTHER,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Refused { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SessionEnded = self {
            let mut res = see_other(&format!("{BASE}/login?expired=1"));
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(session::CLEAR_SESSION_COOKIE),
            );
            return res;
        }
        let (title, text) = match self {
            Self::NotFound(m) => ("Not found", m.clone()),
            Self::BadToken => ("Refused", BAD_TOKEN.to_owned()),
            Self::BadForm(m) => ("Bad request", format!("The form could not be read: {m}")),
            Self::Unavailable(m) => ("Unavailable", m.clone()),
            Self::Internal(m) => {
                log::error!("console: {m}");
                (
                    "Error",
                    "Something went wrong; try again. The server log says more.".to_owned(),
                )
            }
            Self::Refused { message, .. } => ("Refused", message.clone()),
            Self::SessionEnded => unreachable!("answered above"),
        };
        page::bare(self.status_code(), title, &text)
    }
}

/// `Result` of a console handler.
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;
