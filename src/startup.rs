//! Builds the HTTP application: middleware, routes, error shapes, and the server itself.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{fn_service, map_config, IntoServiceFactory as _, ServiceFactoryExt as _};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders, Logger, Next};
use actix_web::{web, App, HttpRequest, HttpResponse, ResponseError};

use crate::auth::guard::{guard, spawn_background};
use crate::auth::AuthState;
use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::protocol_errors::JsonErrorsIo;
use crate::routes::{self, API};
use crate::storage::{self, Db};

/// How long a stopping server keeps serving, with every response closing its connection.
pub const DRAIN: Duration = Duration::from_millis(500);

/// How long a starting server waits for its organization search index before it listens
/// (see [`Db::wait_for_search_index`]); a longer build goes on in the background.
const SEARCH_INDEX_AT_START: Duration = Duration::from_secs(3);

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    auth: Arc<AuthState>,
    /// Set once a stop signal came: every response then closes its connection.
    draining: Arc<AtomicBool>,
    /// The server of `/metrics` on an address of its own (`[metrics] bind`), and its port.
    metrics_server: Option<(actix_web::dev::ServerHandle, u16)>,
}

/// Maps the JSON extractor's failures to SPEC §5 errors.
fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("Content-Type must be application/json".into())
        }
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
            code: "invalid_json",
            message: format!("The request body is not valid JSON: {e}"),
        },
        other => ApiError::BadRequest {
            code: "invalid_body",
            message: format!("The request body could not be read: {other}"),
        },
    };
    e.into()
}

/// Echoes a sane `X-Request-Id` or mints one, for the response and the access log.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| crate::domain::new_id("req"), str::to_owned);
    let mut res = next.call(req).await?;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

/// Any error response that is not JSON yet (unknown route, wrong method, framework
/// errors) becomes the JSON body of SPEC §5.
async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The console's pages (and its error pages) are HTML on purpose.
    let is_json = content_type.starts_with("application/json");
    let is_page = content_type.starts_with("text/html");
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_page {
        return Ok(res.map_into_boxed_body());
    }
    let (code, message) = match status.as_u16() {
        404 => ("not_found", "No such route".to_owned()),
        405 => (
            "method_not_allowed",
            "Method not allowed for this resource".to_owned(),
        ),
        408 => (
            "request_timeout",
            "The request took too long to arrive".to_owned(),
        ),
        413 => (
            "payload_too_large",
            "The request body is larger than the server accepts".to_owned(),
        ),
        s if s >= 500 => ("internal_error", "An internal error occurred".to_owned()),
        _ => (
            "bad_request",
            "The request could not be understood".to_owned(),
        ),
    };
    let body = ErrorBody {
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        message,
        code: code.to_owned(),
        details: None,
    };
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status).json(body);
    for (k, v) in old.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            new.headers_mut().insert(k.clone(), v.clone());
        }
    }
    Ok(ServiceResponse::new(req, new))
}

/// After a stop signal, every response closes its connection, so that keep-alive clients move
/// on before the server stops reading (see [`Application::stop_on_signals`]).
async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<AtomicBool>>()
        .is_some_and(|d| d.load(Ordering::Relaxed));
    let mut res = next.call(req).await?;
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(res)
}

async fn not_found() -> HttpResponse {
    ApiError::NotFound("No such route".into()).error_response()
}

impl Application {
    /// Opens and migrates the database, binds `cfg.server.bind` (port 0 picks a free port).
    pub fn build(cfg: &Config) -> Result<Self, String> {
        let db = storage::open(&cfg.database).map_err(|e| e.0)?;
        let listener = TcpListener::bind(&cfg.server.bind).map_err(|e| {
            format!(
                "cannot listen on {}: {e}; choose another with --bind",
                cfg.server.bind
            )
        })?;
        Self::with_listener(cfg, db, listener)
    }

    /// As [`Application::build`], on an open database and a bound listener.
    pub fn with_listener(cfg: &Config, db: Db, listener: TcpListener) -> Result<Self, String> {
        crate::storage::events::set_renderer(routes::webhooks::event_data);
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        if cfg!(feature = "bench-no-auth") {
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "this is a benchmark build without authentication (feature bench-no-auth); \
                     it listens on loopback only, not on {addr}"
                ));
            }
            log::warn!(
                "benchmark build: NO AUTHENTICATION, every request passes as an all-scope key"
            );
        }
        let port = addr.port();
        db.configure_caches(&cfg.cache);
        let waited = std::time::Instant::now();
        if db.wait_for_search_index(SEARCH_INDEX_AT_START) {
            log::debug!(
                "organization search index ready after {} ms",
                waited.elapsed().as_millis()
            );
        } else {
            log::info!(
                "the organization search index is still building after {} s; searches use SQL until it is ready",
                SEARCH_INDEX_AT_START.as_secs()
            );
        }
        let auth = Arc::new(AuthState::new(db.clone(), cfg));
        let auth_data = web::Data::from(auth.clone());
        let db_data = web::Data::new(db.clone());
        let webhooks_cfg = web::Data::new(cfg.webhooks.clone());
        let body_limit = cfg.server.body_limit;
        let body_timeout = web::Data::new(crate::body_deadline::BodyTimeout(Duration::from_secs(
            cfg.server.body_timeout_secs,
        )));
        let cors_origins = cfg.server.cors_origins.clone();
        let console = cfg.console.enabled.then(|| crate::console::state(cfg));
        let draining = Arc::new(AtomicBool::new(false));
        let drain_flag = web::Data::from(draining.clone());
        let metrics = cfg
            .metrics
            .enabled
            .then(|| web::Data::new(crate::metrics::Metrics::new(db.clone())));
        let metrics_server = match &metrics {
            Some(m) if !cfg.metrics.bind.trim().is_empty() => {
                Some(serve_metrics(cfg.metrics.bind.trim(), m.clone())?)
            }
            _ => None,
        };
        let metrics_on_main = metrics.is_some() && metrics_server.is_none();
        let access_log =
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);
        let app = move || {
            App::new()
                // Outside the API scope's guard: preflights need no key, and 401/429 responses
                // carry Access-Control-Allow-Origin for browser scripts to read.
                .wrap(crate::cors::cors(&cors_origins))
                .wrap(from_fn(crate::cors::tidy))
                .wrap(from_fn(crate::console::outside_cors))
                .wrap(from_fn(json_errors))
                .wrap(
                    DefaultHeaders::new()
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((header::CACHE_CONTROL, "no-store")),
                )
                .wrap(from_fn(request_id))
                // Only when its lines are written: the access log formats every request
                // line at the request's start (~2% of a cheap request's CPU) even when its
                // level is filtered out.
                .wrap(Condition::new(
                    access_log,
                    Logger::new(r#"%a "%r" %s %b %Dms rid=%{x-request-id}o"#),
                ))
                .wrap(from_fn(crate::body_deadline::body_deadline))
                .app_data(body_timeout.clone())
                .app_data(drain_flag.clone())
                .wrap(from_fn(close_when_draining))
                // Outermost: it sees every response as sent.
                .wrap(Condition::new(
                    metrics.is_some(),
                    from_fn(crate::metrics::track),
                ))
                .configure(|c| {
                    if let Some(m) = &metrics {
                        c.app_data(m.clone());
                        if metrics_on_main {
                            c.route(crate::metrics::PATH, web::get().to(crate::metrics::scrape));
                        }
                    }
                })
                .app_data(db_data.clone())
                .app_data(webhooks_cfg.clone())
                .app_data(auth_data.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(json_error),
                )
                .app_data(web::PayloadConfig::default().limit(body_limit))
                .configure(routes::health::configure)
                .configure(|c| {
                    if let Some(state) = &console {
                        crate::console::configure(c, state);
                    }
                })
                .route("/docs", web::get().to(routes::openapi::docs_redirect))
                .service(routes::openapi::docs())
                .service(
                    web::scope(API)
                        .wrap(from_fn(guard))
                        .wrap(from_fn(crate::header_check::check))
                        .configure(routes::openapi::configure)
                        .configure(routes::users::configure)
                        .configure(routes::orgs::configure)
                        .configure(routes::members::configure)
                        .configure(routes::tiers::configure)
                        .configure(routes::keys::configure)
                        .configure(routes::events::configure)
                        .configure(routes::webhooks::configure),
                )
                .default_service(web::to(not_found))
        };
        let workers = match cfg.server.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        let head_timeout = Duration::from_secs(cfg.server.request_timeout_secs);
        let keep_alive = Duration::from_secs(cfg.server.keep_alive_secs);
        // Built from its parts rather than with HttpServer, so that each connection goes
        // through `JsonErrorsIo` (malformed requests answered in JSON); the settings are the
        // ones HttpServer would apply, its graceful-shutdown signal included.
        let builder = actix_server::Server::build();
        let shutdown = builder.graceful_shutdown_signal();
        let server = builder
            .workers(workers)
            .max_concurrent_connections(cfg.server.max_connections.div_ceil(workers).max(1))
            .shutdown_timeout(cfg.server.shutdown_timeout_secs)
            // SQLite's reads run on the storage's reader threads and its writes on the writer
            // thread; this pool has PostgreSQL's reads and writes, bounded argon2 and console
            // chores: more threads than that only add memory (a thread heap each).
            .worker_max_blocking_threads(usize::try_from(cfg.database.pool_size).unwrap_or(8) + 4)
            // SIGINT/SIGTERM are handled by `stop_on_signals`, which drains first.
            .disable_signals()
            .listen("invois", listener, move || {
                let shutdown = shutdown.clone();
                let h1 = HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let s = shutdown.clone();
                        async move { s.notified().await }
                    })
                    .client_request_timeout(head_timeout)
                    .keep_alive(keep_alive)
                    .local_addr(addr)
                    .h1(map_config(
                        app()
                            .into_factory()
                            .map_err(|e: actix_web::Error| e.error_response()),
                        |_| AppConfig::default(),
                    ));
                fn_service(|io: actix_web::rt::net::TcpStream| {
                    let peer = io.peer_addr().ok();
                    std::future::ready(Ok((JsonErrorsIo::new(io), peer)))
                })
                .and_then(h1)
            })
            .map_err(|e| format!("cannot listen: {e}"))?
            .run();
        spawn_background(auth.clone(), cfg.auth.last_used_flush_secs);
        crate::jobs::spawn_purges(
            db.clone(),
            Duration::from_secs(cfg.database.purge_every_secs.max(1)),
        );
        crate::webhooks::spawn(db.clone(), cfg.webhooks.clone());
        if cfg.console.enabled {
            crate::jobs::spawn_session_purge(
                db.clone(),
                Duration::from_secs(cfg.database.purge_every_secs.max(1)),
                cfg.console.idle(),
                cfg.console.max_age(),
            );
        }
        Ok(Self {
            port,
            server,
            db,
            auth,
            draining,
            metrics_server,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on when `[metrics] bind` gives it an address of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// Stops the server on SIGINT or SIGTERM: first it drains for [`DRAIN`] — connections are
    /// still served, each response closing its connection — so that requests already on
    /// their way on keep-alive connections are answered; then it stops gracefully (no new
    /// connections, in-flight requests finish within `shutdown_timeout_secs`).
    pub fn stop_on_signals(&self) {
        let handle = self.server.handle();
        let draining = self.draining.clone();
        actix_web::rt::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                log::warn!("cannot listen for SIGTERM");
                return;
            };
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            log::info!(
                "stopping: draining connections for {} ms",
                DRAIN.as_millis()
            );
            draining.store(true, Ordering::Relaxed);
            tokio::time::sleep(DRAIN).await;
            handle.stop(true).await;
        });
    }

    /// Starts draining as a stop signal does (every response closes its connection and
    /// `/readyz` answers 503), without stopping: for tests and embedders.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or the handle) stops it; in-flight requests finish, then
    /// batched key usage is written and the WAL checkpointed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let res = self.server.await;
        if let Some((metrics, _)) = &self.metrics_server {
            metrics.stop(true).await;
        }
        if let Err(e) = self.auth.flush_last_used().await {
            log::warn!("could not record keys' last use at shutdown: {e}");
        }
        let db = self.db.clone();
        match web::block(move || db.checkpoint()).await {
            Ok(Ok(())) => log::info!("database checkpointed; bye"),
            Ok(Err(e)) => log::warn!("checkpoint at shutdown failed: {e}"),
            Err(e) => log::warn!("checkpoint at shutdown failed: {e}"),
        }
        res
    }
}

/// Serves `/metrics` alone on `bind`, by a small server of its own (one worker), so that it
/// can listen on a private address while the API listens on a public one.
fn serve_metrics(
    bind: &str,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<(actix_web::dev::ServerHandle, u16), String> {
    let listener = TcpListener::bind(bind).map_err(|e| {
        format!("cannot listen on {bind} for /metrics: {e}; choose another [metrics] bind (INVOIS_METRICS__BIND)")
    })?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .wrap(from_fn(json_errors))
            .app_data(metrics.clone())
            .route(crate::metrics::PATH, web::get().to(crate::metrics::scrape))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .map_err(|e| format!("cannot listen on {bind} for /metrics: {e}"))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    log::info!("metrics at http://{bind}{}", crate::metrics::PATH);
    Ok((handle, port))
}

/// Raises the open-file limit to its hard limit, so that `max_connections` and the
/// database's files fit (a soft limit of 1,024 is common); returns the new limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
