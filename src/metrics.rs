//! Prometheus metrics (README, Metrics): what the server records, and `GET /metrics`.
//!
//! Two scopes. What one server answers — request counts and latencies, and the gauges read
//! when scraped (webhook outbox depth, build info) — belongs to that server's [`Metrics`],
//! built by `startup.rs`, so that several servers in one process (the tests) each count their
//! own requests. What is recorded deep inside storage and auth — pool waits, caches, argon2,
//! rate-limit refusals, webhook attempts — is process-wide, through the free functions below
//! ([`cache_hit`], [`db_wait`], …) on one static set of families, as a Prometheus client's
//! default registry is: in production one process is one server.
//!
//! Cost on the request path: counters and gauges are atomics; a labelled family is one
//! read-locked hash lookup (prometheus-client's `Family`); a histogram observation takes its
//! own short mutex. Scraping runs its database read and its encoding off the executor.
//!
//! Cardinality is bounded: the route label is the matched route pattern
//! (`/api/integrations/organizations/{id}`), or `unmatched`, never the raw path; methods other
//! than the ones the API uses count as `other`; cache, engine, window and outcome labels come
//! from fixed sets in the code.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::error::ApiError;
use crate::storage::{Db, Engine};

/// The path the metrics are served at.
pub const PATH: &str = "/metrics";

/// The `Content-Type` of the OpenMetrics text format, served to scrapers that ask for it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request latency buckets (seconds): from half a millisecond to ten seconds.
const REQUEST_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

/// Pool waits: 10 µs to about 2.6 s, by fours.
fn wait_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// argon2 verifications: 5 ms to about 1.3 s, by twos.
fn argon2_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 9))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabels {
    engine: &'static str,
    pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheResultLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Argon2Labels {
    purpose: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PurposeLabels {
    purpose: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    window: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    engine: &'static str,
}

/// The process-wide families (see the module's docs).
struct Global {
    db_wait: Family<WaitLabels, Histogram, fn() -> Histogram>,
    cache_requests: Family<CacheResultLabels, Counter>,
    cache_entries: Family<CacheLabels, Gauge>,
    cache_bytes: Family<CacheLabels, Gauge>,
    argon2: Family<Argon2Labels, Counter>,
    argon2_seconds: Family<PurposeLabels, Histogram, fn() -> Histogram>,
    rate_limited: Family<WindowLabels, Counter>,
    auth_throttled: Counter,
    webhook_attempts: Family<OutcomeLabels, Counter>,
}

static GLOBAL: LazyLock<Global> = LazyLock::new(|| Global {
    db_wait: Family::new_with_constructor(wait_histogram as fn() -> Histogram),
    cache_requests: Family::default(),
    cache_entries: Family::default(),
    cache_bytes: Family::default(),
    argon2: Family::default(),
    argon2_seconds: Family::new_with_constructor(argon2_histogram as fn() -> Histogram),
    rate_limited: Family::default(),
    auth_throttled: Counter::default(),
    webhook_attempts: Family::default(),
});

/// The label of an engine.
fn engine_label(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Which connection a database call waited for.
#[derive(Debug, Clone, Copy)]
pub enum Pool {
    /// A read connection from the pool.
    Read,
    /// The writer: on SQLite the writer thread (a write's time in its queue), on PostgreSQL a
    /// pooled connection and the write lock.
    Write,
}

/// Records how long a database call waited for its connection (`since` is when it asked).
pub fn db_wait(engine: Engine, pool: Pool, since: Instant) {
    let labels = WaitLabels {
        engine: engine_label(engine),
        pool: match pool {
            Pool::Read => "read",
            Pool::Write => "write",
        },
    };
    GLOBAL
        .db_wait
        .get_or_create(&labels)
        .observe(since.elapsed().as_secs_f64());
}

/// A lookup in cache `cache` found what it looked for.
pub fn cache_hit(cache: &'static str) {
    cache_lookup(cache, "hit");
}

/// A lookup in cache `cache` did not find it (the work was done, and usually remembered).
pub fn cache_miss(cache: &'static str) {
    cache_lookup(cache, "miss");
}

fn cache_lookup(cache: &'static str, result: &'static str) {
    GLOBAL
        .cache_requests
        .get_or_create(&CacheResultLabels { cache, result })
        .inc();
}

/// How many entries cache `cache` holds now.
pub fn cache_entries(cache: &'static str, entries: usize) {
    GLOBAL
        .cache_entries
        .get_or_create(&CacheLabels { cache })
        .set(gauge_value(entries));
}

/// About how many bytes cache `cache` holds now (the measure its bound is written in).
pub fn cache_bytes(cache: &'static str, bytes: usize) {
    GLOBAL
        .cache_bytes
        .get_or_create(&CacheLabels { cache })
        .set(gauge_value(bytes));
}

/// One argon2 verification for `purpose` (`api_key`, `operator_login`): whether the secret
/// matched, and how long it took from `since`.
pub fn argon2_verified(purpose: &'static str, matched: bool, since: Instant) {
    let result = if matched { "match" } else { "mismatch" };
    GLOBAL
        .argon2
        .get_or_create(&Argon2Labels { purpose, result })
        .inc();
    GLOBAL
        .argon2_seconds
        .get_or_create(&PurposeLabels { purpose })
        .observe(since.elapsed().as_secs_f64());
}

/// A request refused with 429 by the per-key window of `window_secs` seconds.
pub fn rate_limited(window_secs: u32) {
    let window = match window_secs {
        60 => "minute",
        3600 => "hour",
        86_400 => "day",
        _ => "other",
    };
    GLOBAL
        .rate_limited
        .get_or_create(&WindowLabels { window })
        .inc();
}

/// A request refused with 429 by the failed-authentication throttle (per client address).
pub fn auth_throttled() {
    GLOBAL.auth_throttled.inc();
}

/// One webhook delivery attempt, by what came of it: `delivered`, `retry` (failed, due
/// again), `failed` (failed for good), `gone` (410: the endpoint is disabled).
pub fn webhook_attempt(outcome: &'static str) {
    GLOBAL
        .webhook_attempts
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

/// The label of a request method: the ones the API uses, else `other` (a client can send
/// any token as a method; the label set must stay bounded).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// One server's metrics: its requests, what is read when scraped, and (by clones that share
/// their values) the process-wide families, in one registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A server's metrics over `db` (whose webhook outbox is read when scraped).
    pub fn new(db: Db) -> Self {
        let g = &*GLOBAL;
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::new_with_constructor(request_histogram as fn() -> Histogram);
        let mut root = Registry::default();
        // The process_* names are the ones every Prometheus client uses, unprefixed.
        root.register_collector(Box::new(ProcessCollector));
        let r = root.sub_registry_with_prefix("invois");
        r.register(
            "http_requests",
            "HTTP requests answered, by matched route pattern (or unmatched), method and status",
            requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time from a request's head to its response's head, by route, method and status",
            Unit::Seconds,
            durations.clone(),
        );
        r.register_with_unit(
            "db_wait",
            "Time a database call waited for its connection (pool read) or for the writer (pool write)",
            Unit::Seconds,
            g.db_wait.clone(),
        );
        r.register(
            "cache_requests",
            "Cache lookups, by cache and result (hit or miss)",
            g.cache_requests.clone(),
        );
        r.register(
            "cache_entries",
            "Entries a cache holds, as of its last insert",
            g.cache_entries.clone(),
        );
        r.register_with_unit(
            "cache_size",
            "Approximate bytes a cache holds, as of its last insert",
            Unit::Bytes,
            g.cache_bytes.clone(),
        );
        r.register(
            "argon2_verifications",
            "argon2id verifications, by purpose (api_key, operator_login) and result",
            g.argon2.clone(),
        );
        r.register_with_unit(
            "argon2_verification_duration",
            "Time one argon2id verification took, by purpose",
            Unit::Seconds,
            g.argon2_seconds.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused with 429 by a per-key rate-limit window (minute, hour, day)",
            g.rate_limited.clone(),
        );
        r.register(
            "auth_throttled",
            "Requests refused with 429 by the failed-authentication throttle (per client address)",
            g.auth_throttled.clone(),
        );
        r.register(
            "webhook_attempts",
            "Webhook delivery attempts, by outcome (delivered, retry, failed, gone)",
            g.webhook_attempts.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                engine: engine_label(db.engine()),
            })
            .set(1);
        r.register(
            "build_info",
            "Always 1; the labels say which invois and which database engine",
            build,
        );
        r.register_collector(Box::new(OutboxCollector { db }));
        Self {
            registry: root,
            requests,
            durations,
        }
    }

    /// Counts one answered request.
    fn record(&self, route: Cow<'static, str>, method: &'static str, status: u16, took: Duration) {
        let labels = RequestLabels {
            route,
            method,
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The metrics in the Prometheus text format (version 0.0.4), or in OpenMetrics text.
    /// Blocking: it reads the database and `/proc`; call it off the executor.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        Ok(out)
    }
}

/// The middleware that counts every request of the server whose [`Metrics`] are in its app
/// data: outermost, so that it sees the final status of every response.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.call(req).await;
    if let Some(m) = metrics {
        let took = started.elapsed();
        match &res {
            // Routing has run: the pattern comes from the matched resource, without a walk.
            Ok(r) => m.record(route_label(r.request()), method, r.status().as_u16(), took),
            Err(e) => m.record(
                Cow::Borrowed(UNMATCHED),
                method,
                e.as_response_error().status_code().as_u16(),
                took,
            ),
        }
    }
    res
}

/// The route label of requests no route matched.
const UNMATCHED: &str = "unmatched";

fn route_label(req: &HttpRequest) -> Cow<'static, str> {
    req.match_pattern()
        .map_or(Cow::Borrowed(UNMATCHED), Cow::Owned)
}

/// `GET /metrics`: the Prometheus text format, or OpenMetrics text for a scraper that asks
/// for it (`Accept: application/openmetrics-text`). No key: bind it to a private address
/// (`[metrics] bind`) to keep it private.
pub async fn scrape(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let openmetrics = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let m = metrics.into_inner();
    let body = web::block(move || m.encode(openmetrics))
        .await?
        .map_err(|e| ApiError::Internal(format!("encoding the metrics: {e}")))?;
    let content_type = if openmetrics {
        OPENMETRICS
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(body))
}

/// `invois_webhook_outbox_pending`, read from the database when scraped; left out of the
/// scrape when the database does not answer (an absent value is unknown, not zero).
#[derive(Debug)]
struct OutboxCollector {
    db: Db,
}

impl Collector for OutboxCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pending = match self
            .db
            .read_blocking(crate::storage::webhooks::pending_count)
        {
            Ok(n) => n,
            Err(e) => {
                log::warn!("metrics: cannot read the webhook outbox: {e}");
                return Ok(());
            }
        };
        let checking = ConstGauge::new(i64::from(self.db.health().checking()));
        checking.encode(encoder.encode_descriptor(
            "db_integrity_check_running",
            "1 while the start-up integrity check of a large SQLite file runs in the background.",
            None,
            checking.metric_type(),
        )?)?;
        let gauge = ConstGauge::new(pending);
        let m = encoder.encode_descriptor(
            "webhook_outbox_pending",
            "Webhook deliveries neither delivered nor given up (read when scraped).",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(m)
    }
}

/// `process_*`: CPU time, resident memory, open files and start time, read from `/proc`
/// when scraped (Linux; elsewhere nothing).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = read_process() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes.",
                p.resident_bytes,
            ),
            ("process_open_fds", "Open file descriptors.", p.open_fds),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds.",
                p.start_time,
            ),
        ] {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: i64,
    open_fds: i64,
    start_time: i64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, fixed at 100 on Linux).
const USER_HZ: f64 = 100.0;

fn read_process() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let (utime, stime, started) = (field(14)?, field(15)?, field(22)?);
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let rss_kib: i64 = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / USER_HZ,
        resident_bytes: rss_kib.saturating_mul(1024),
        open_fds: gauge_value(open_fds),
        start_time: i64::try_from(boot + (started as f64 / USER_HZ) as u64).unwrap_or(0),
    })
}
