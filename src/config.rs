//! Settings: defaults in code (mirrored by `config.example.toml`), then a TOML file, then
//! `INVOIS_<SECTION>__<KEY>` environment variables, then command-line flags.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// All settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub rate_limit: RateLimitConfig,
    pub auth: AuthConfig,
    pub console: ConsoleConfig,
    pub webhooks: WebhooksConfig,
    pub metrics: MetricsConfig,
    pub cache: CacheConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: String,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Seconds a client has to send the request head.
    pub request_timeout_secs: u64,
    /// Seconds a client has to send a whole request body after its head (then JSON 408 and
    /// the connection closed).
    pub body_timeout_secs: u64,
    /// Open connections at most, all workers together; past it new connections wait in the
    /// listen backlog until one closes. Lowered at start-up to what the open-file limit
    /// (raised to its hard limit) can hold.
    pub max_connections: usize,
    /// Seconds an idle keep-alive connection is kept open.
    pub keep_alive_secs: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Read the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trusted_proxy: bool,
    /// Origins (`scheme://host[:port]`) whose web pages may call the API (CORS); others get
    /// no CORS headers. Env: comma-separated.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` selects PostgreSQL (SPEC §10); empty means the SQLite file at `path`.
    pub url: String,
    /// SQLite file.
    pub path: PathBuf,
    /// `off`, `normal`, `full` or `extra` (see README, Durability).
    pub synchronous: String,
    /// Read connections in the pool, and with SQLite the reader threads (API reads run on
    /// them); writes go through one writer connection.
    pub pool_size: u32,
    /// Milliseconds a connection waits on a lock held by another process.
    pub busy_timeout_ms: u64,
    /// Largest size of the database file in MiB; 0 = no limit. Past it writes answer 503
    /// while reads go on (a guard for small disks).
    pub max_size_mb: u64,
    /// Page cache per connection in MiB (one writer plus `pool_size` readers).
    pub cache_mb: u64,
    /// Memory-mapped I/O per connection in MiB; 0 = off. Faster reads, but mapped pages of
    /// the file count toward the process's RSS.
    pub mmap_mb: u64,
    /// SQLite: size in MiB of the write-ahead log past which the writer, when no write waits
    /// (at 4x in any case), checkpoints it whole and starts it over (and truncates the file to
    /// this size); 0 = no limit (passive checkpoints only, which cannot restart a log that
    /// readers always use).
    pub wal_limit_mb: u64,
    /// Seconds between purges of expired rows (idempotency keys older than 24 hours).
    pub purge_every_secs: u64,
    /// PostgreSQL: milliseconds a statement may run before the server cancels it; 0 = none.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: seconds to wait for a connection (TCP, TLS and login) or a pooled one.
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per API key per UTC clock minute; 0 = no limit for that window.
    pub per_minute: u32,
    /// Requests per API key per UTC clock hour; 0 = no limit.
    pub per_hour: u32,
    /// Requests per API key per UTC day; 0 = no limit.
    pub per_day: u32,
    /// Key verifications (argon2) per second per client address for keys not yet verified.
    pub auth_per_second: u32,
    /// Burst of such verifications per client address.
    pub auth_burst: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Concurrent argon2 verifications at most (each holds 19 MiB for ~20 ms); 0 = one per core.
    pub max_concurrent_verifications: usize,
    /// Seconds between flushes of keys' `last_used_at`.
    pub last_used_flush_secs: u64,
}

/// The operator console at `/console/` (README, Console).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console; `false` answers 404 under `/console`.
    pub enabled: bool,
    /// Minutes a session lives without a request (fractions allowed, e.g. 0.5).
    pub session_idle_minutes: f64,
    /// Hours a session lives at most, however busy (fractions allowed).
    pub session_max_hours: f64,
    /// Login attempts per minute per client address, and as many per account.
    pub login_per_minute: u32,
}

/// Webhook deliveries (README, Webhooks).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliver to private, loopback, link-local and unique-local addresses (a sandbox, tests).
    pub allow_private: bool,
    /// Milliseconds an attempt may take, connecting included.
    pub timeout_ms: u64,
    /// An endpoint failing for longer than this (no success in between) is disabled.
    pub disable_after_hours: f64,
    /// The first retry's delay; the later ones follow the Standard Webhooks schedule.
    pub retry_base_ms: u64,
    /// Milliseconds between two looks for due deliveries.
    pub poll_ms: u64,
}

/// Prometheus metrics at `/metrics` (README, Metrics).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` (no key); `false` answers 404 there.
    pub enabled: bool,
    /// Empty: served on the main listener. An address (`127.0.0.1:9090`): served only there,
    /// by a small server of its own, and not on the main listener.
    pub bind: String,
}

/// What the server keeps in memory besides the database's own caches, each with its limit
/// (README, Performance). Every cache is checked against a trigger-kept version in the
/// request's snapshot, so none ever serves stale data, whichever instance wrote.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// MiB for the in-memory organization search index (about 30 bytes per organization);
    /// 0 = off, or past it: searches use the database's indexes.
    pub search_index_mb: u64,
    /// Organization rowids kept for repeated searches answered by the database (8 bytes each).
    pub search_results_rows: usize,
    /// MiB of rendered single-organization views.
    pub detail_views_mb: u64,
    /// Most page anchors of the organization order kept (about 80 bytes each).
    pub page_anchors: usize,
    /// Most verified API keys remembered (about 200 bytes each); 0 = none.
    pub api_keys: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (or an env_logger filter).
    pub level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            body_limit: 1024 * 1024,
            request_timeout_secs: 10,
            keep_alive_secs: 30,
            shutdown_timeout_secs: 30,
            body_timeout_secs: 10,
            max_connections: 10_000,
            trusted_proxy: false,
            cors_origins: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            path: "invois.db".into(),
            synchronous: "normal".into(),
            pool_size: 4,
            busy_timeout_ms: 5000,
            max_size_mb: 0,
            cache_mb: 2,
            mmap_mb: 0,
            wal_limit_mb: 64,
            purge_every_secs: 600,
            statement_timeout_ms: 30_000,
            connect_timeout_secs: 10,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_minute: 1000,
            per_hour: 10_000,
            per_day: 100_000,
            auth_per_second: 5,
            auth_burst: 20,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_concurrent_verifications: 1,
            last_used_flush_secs: 10,
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_idle_minutes: 30.0,
            session_max_hours: 12.0,
            login_per_minute: 5,
        }
    }
}

impl ConsoleConfig {
    /// How long a session lives without a request.
    pub fn idle(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.session_idle_minutes * 60_000.0) as i64)
    }

    /// How long a session lives at most.
    pub fn max_age(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.session_max_hours * 3_600_000.0) as i64)
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout_ms: 15_000,
            disable_after_hours: 120.0,
            retry_base_ms: 5_000,
            poll_ms: 1_000,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: String::new(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            search_index_mb: 64,
            search_results_rows: 250_000,
            detail_views_mb: 8,
            page_anchors: 10_000,
            api_keys: 10_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "INVOIS_";

impl Config {
    /// Defaults, overridden by `file` (or `INVOIS_CONFIG`), then by `INVOIS_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &vars)
    }

    /// As [`Config::load`], with the environment given (for tests).
    ///
    /// Every error is one line that names where the bad value came from: the file and the
    /// setting, or the environment variable. To know that, each setting is first checked on
    /// its own (a configuration holding only it), then all of them together.
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, String> {
        let env_file = env
            .iter()
            .find(|(k, _)| k == "INVOIS_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let file = file.map(Path::to_path_buf).or(env_file);
        // Where each setting was last set, for messages about values that fail `validate`.
        let mut origins: Vec<(String, String)> = Vec::new();
        let mut root = match &file {
            Some(p) => {
                let table = read_file(p)?;
                for (section, value) in &table {
                    let settings: Vec<(&str, &toml::Value)> = match value {
                        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                        other => vec![("", other)],
                    };
                    for (key, v) in settings {
                        let name = setting_name(section, key);
                        check_setting(section, key, v).map_err(|e| {
                            format!("config file {}, setting {name}: {e}", p.display())
                        })?;
                        origins.push((name, format!("in config file {}", p.display())));
                    }
                }
                table
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if rest == "CONFIG" {
                continue;
            }
            let Some((section, key)) = rest.split_once("__") else {
                return Err(format!(
                    "environment variable {k}: expected {ENV_PREFIX}<SECTION>__<KEY>, such as INVOIS_SERVER__BIND"
                ));
            };
            let section = section.to_ascii_lowercase();
            let key = key.to_ascii_lowercase();
            let name = setting_name(&section, &key);
            let value = env_setting(&section, &key, v)
                .map_err(|e| format!("environment variable {k} (setting {name}): {e}"))?;
            let entry = root
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(t) = entry else {
                return Err(format!("environment variable {k}: section is not a table"));
            };
            t.insert(key, value);
            origins.push((name, format!("by environment variable {k}")));
        }
        let cfg: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| format!("invalid configuration: {}", e.message()))?;
        cfg.validate().map_err(|e| {
            // The last source of each setting the message names (env overrides the file).
            let mut from: Vec<&str> = Vec::new();
            for (name, origin) in origins.iter().rev() {
                let named = e.match_indices(name.as_str()).any(|(i, _)| {
                    !e[i + name.len()..]
                        .starts_with(|c: char| c == '_' || c.is_ascii_alphanumeric())
                });
                if named && !from.contains(&origin.as_str()) {
                    from.push(origin);
                }
            }
            if from.is_empty() {
                e
            } else {
                format!("{e} (set {})", from.join(", "))
            }
        })?;
        Ok(cfg)
    }

    /// Checks values that types alone do not.
    pub fn validate(&self) -> Result<(), String> {
        if !["off", "normal", "full", "extra"]
            .contains(&self.database.synchronous.to_ascii_lowercase().as_str())
        {
            return Err("database.synchronous must be one of off, normal, full, extra".into());
        }
        for origin in &self.server.cors_origins {
            check_origin(origin)?;
        }
        if self.rate_limit.auth_per_second == 0 || self.rate_limit.auth_burst == 0 {
            return Err(
                "rate_limit.auth_per_second and rate_limit.auth_burst must be at least 1".into(),
            );
        }
        if self.server.body_timeout_secs == 0 || self.server.max_connections == 0 {
            return Err(
                "server.body_timeout_secs and server.max_connections must be at least 1".into(),
            );
        }
        if self.database.purge_every_secs == 0 {
            return Err("database.purge_every_secs must be at least 1".into());
        }
        if self.database.pool_size == 0 {
            return Err("database.pool_size must be at least 1".into());
        }
        if self.server.body_limit == 0 {
            return Err("server.body_limit must be at least 1".into());
        }
        let c = &self.console;
        // At least a tenth of a second each, at most ten years.
        let in_range = (0.002..=5_256_000.0).contains(&c.session_idle_minutes)
            && (0.00003..=87_600.0).contains(&c.session_max_hours);
        if !in_range {
            return Err(
                "console.session_idle_minutes and console.session_max_hours must be positive (at least a tenth of a second, at most ten years)"
                    .into(),
            );
        }
        if c.login_per_minute == 0 {
            return Err("console.login_per_minute must be at least 1".into());
        }
        let w = &self.webhooks;
        if w.timeout_ms == 0 || w.poll_ms == 0 {
            return Err("webhooks.timeout_ms and webhooks.poll_ms must be at least 1".into());
        }
        if !(w.disable_after_hours > 0.0 && w.disable_after_hours <= 87_600.0) {
            return Err("webhooks.disable_after_hours must be positive, at most ten years".into());
        }
        let m = self.metrics.bind.trim();
        let port_ok = m
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !m.is_empty() && !port_ok {
            return Err(format!(
                "metrics.bind {m:?} is not an address to listen on; use ADDR:PORT such as 127.0.0.1:9090, or \"\" to serve /metrics on the main listener"
            ));
        }
        Ok(())
    }
}

/// An environment value as TOML: lists (`server.cors_origins`) comma-separated, others by
/// [`parse_env_value`].
fn env_value(section: &str, key: &str, v: &str) -> toml::Value {
    if (section, key) == ("server", "cors_origins") {
        return toml::Value::Array(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        );
    }
    parse_env_value(v)
}

/// Refuses a `cors_origins` entry that a browser's `Origin` header could never equal.
fn check_origin(origin: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "server.cors_origins: {origin:?} {why}; write an origin as scheme://host[:port], \
             e.g. \"https://shop.example.com\""
        ))
    };
    if origin == "*" {
        return Err(
            "server.cors_origins: \"*\" is not allowed: it would let scripts on every web site \
             call this server from their visitors' browsers; list the origins of the pages you \
             trust, e.g. [\"https://shop.example.com\"]"
                .into(),
        );
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return bad("has no scheme");
    };
    if origin.bytes().any(|b| b.is_ascii_uppercase()) {
        return bad("has capital letters (browsers send origins in lowercase)");
    }
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
    if !scheme_ok {
        return bad("has an invalid scheme");
    }
    if rest.contains(['/', '?', '#']) {
        return bad("has a path (or a trailing slash)");
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return bad("has an invalid host"),
            },
            None => return bad("has an invalid host"),
        },
        None => match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        },
    };
    let host_ok = !host.is_empty()
        && if rest.starts_with('[') {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        };
    if !host_ok {
        return bad("has an invalid host");
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('0') => {
                if (scheme, n) == ("http", 80) || (scheme, n) == ("https", 443) {
                    return bad("names its scheme's default port (browsers leave it out)");
                }
            }
            _ => return bad("has an invalid port"),
        }
    }
    Ok(())
}

/// An environment value as TOML if it parses as a number or boolean, else as a string.
fn parse_env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(b) = v.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(f) = v.parse::<f64>() {
        if v.contains('.') {
            return toml::Value::Float(f);
        }
    }
    toml::Value::String(v.to_owned())
}

/// `section.key` as the README and `config.example.toml` write it.
fn setting_name(section: &str, key: &str) -> String {
    if key.is_empty() {
        section.to_owned()
    } else {
        format!("{section}.{key}")
    }
}

/// `text` with its lines joined by `; ` (stderr gets one line per error).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A config file as a TOML table; a syntax error is one line with its line number.
fn read_file(p: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
    text.parse::<toml::Table>().map_err(|e| {
        let at = e.span().map_or(String::new(), |s| {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!(" at line {line}")
        });
        format!(
            "config file {} is not valid TOML{at}: {}",
            p.display(),
            one_line(e.message())
        )
    })
}

/// Whether one setting (or, with an empty `key`, a whole section) has a known name and a
/// value of the right type; the error says what is wrong with it.
fn check_setting(section: &str, key: &str, value: &toml::Value) -> Result<(), String> {
    let inner = if key.is_empty() {
        value.clone()
    } else {
        let mut t = toml::Table::new();
        t.insert(key.to_owned(), value.clone());
        toml::Value::Table(t)
    };
    let mut root = toml::Table::new();
    root.insert(section.to_owned(), inner);
    toml::Value::Table(root)
        .try_into::<Config>()
        .map(drop)
        .map_err(|e| one_line(e.message()))
}

/// An environment value as the setting it names takes it: a number or boolean where it
/// parses as one and the setting wants one, else the text itself (so `INVOIS_DATABASE__PATH=2024`
/// is the file `2024`).
fn env_setting(section: &str, key: &str, v: &str) -> Result<toml::Value, String> {
    let typed = env_value(section, key, v);
    let first = check_setting(section, key, &typed);
    if first.is_ok() {
        return Ok(typed);
    }
    let text = toml::Value::String(v.to_owned());
    if typed != text && check_setting(section, key, &text).is_ok() {
        return Ok(text);
    }
    first.map(|()| typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_mirrors_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let cfg = Config::load_from(Some(&path), &[]).unwrap();
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let env = vec![
            ("INVOIS_RATE_LIMIT__PER_MINUTE".to_owned(), "5".to_owned()),
            ("INVOIS_DATABASE__PATH".to_owned(), "/data/x.db".to_owned()),
            ("INVOIS_SERVER__TRUSTED_PROXY".to_owned(), "true".to_owned()),
        ];
        let cfg = Config::load_from(None, &env).unwrap();
        assert_eq!(cfg.rate_limit.per_minute, 5);
        assert_eq!(cfg.database.path, PathBuf::from("/data/x.db"));
        assert!(cfg.server.trusted_proxy);
        assert_eq!(cfg.rate_limit.per_hour, 10_000);
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn from_toml(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_from(Some(&path), &[])
    }

    #[test]
    fn rate_limits_default_to_the_published_windows_and_zero_means_no_limit() {
        let rl = Config::default().rate_limit;
        assert_eq!(
            (rl.per_minute, rl.per_hour, rl.per_day),
            (1000, 10_000, 100_000)
        );
        let cfg = from_toml("[rate_limit]\nper_minute = 0\nper_hour = 0\nper_day = 0\n").unwrap();
        assert_eq!(
            (
                cfg.rate_limit.per_minute,
                cfg.rate_limit.per_hour,
                cfg.rate_limit.per_day
            ),
            (0, 0, 0)
        );
        let env = env(&[
            ("INVOIS_RATE_LIMIT__PER_HOUR", "0"),
            ("INVOIS_RATE_LIMIT__PER_DAY", "7"),
        ]);
        let rl = Config::load_from(None, &env).unwrap().rate_limit;
        assert_eq!((rl.per_minute, rl.per_hour, rl.per_day), (1000, 0, 7));
    }

    #[test]
    fn bad_rate_limit_settings_are_refused() {
        for text in [
            "[rate_limit]\nper_minute = -1\n",
            "[rate_limit]\nper_hour = \"many\"\n",
            "[rate_limit]\nper_day = 4294967296\n",
        ] {
            let e = from_toml(text).unwrap_err();
            assert!(e.contains("expected u32"), "{text:?}: {e}");
        }
        for (text, named) in [
            // The token-bucket settings of earlier versions are gone.
            ("[rate_limit]\nper_second = 50\n", "per_second"),
            ("[rate_limit]\nburst = 100\n", "burst"),
            ("[rate_limit]\nauth_burst = 0\n", "auth_burst"),
        ] {
            let e = from_toml(text).unwrap_err();
            assert!(e.contains(named), "{text:?}: {e}");
        }
    }

    #[test]
    fn cors_origins_come_from_toml_or_a_comma_separated_variable() {
        let cfg = from_toml(
            "[server]\ncors_origins = [\"https://shop.example.com\", \"http://localhost:3000\"]\n",
        )
        .unwrap();
        assert_eq!(
            cfg.server.cors_origins,
            ["https://shop.example.com", "http://localhost:3000"]
        );
        let env = env(&[(
            "INVOIS_SERVER__CORS_ORIGINS",
            "https://a.example, http://[::1]:8080,,",
        )]);
        let cfg = Config::load_from(None, &env).unwrap();
        assert_eq!(
            cfg.server.cors_origins,
            ["https://a.example", "http://[::1]:8080"]
        );
        let env = self::env(&[("INVOIS_SERVER__CORS_ORIGINS", "")]);
        assert!(Config::load_from(None, &env)
            .unwrap()
            .server
            .cors_origins
            .is_empty());
    }

    #[test]
    fn cors_origins_must_be_origins_a_browser_sends() {
        for ok in [
            "https://shop.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:5173",
            "tauri://localhost",
        ] {
            assert_eq!(check_origin(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("*", "every web site"),
            ("https://shop.example.com/", "trailing slash"),
            ("https://shop.example.com/app", "path"),
            ("shop.example.com", "no scheme"),
            ("https://Shop.example.com", "lowercase"),
            ("https://shop.example.com:443", "default port"),
            ("http://localhost:0", "port"),
            ("http://localhost:99999", "port"),
            ("https://", "host"),
            ("https://a b", "host"),
            ("http://[::1", "host"),
            ("1http://x", "scheme"),
        ] {
            let e = check_origin(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.starts_with("server.cors_origins: "), "{e}");
        }
        let env = env(&[("INVOIS_SERVER__CORS_ORIGINS", "https://ok.example,*")]);
        assert!(Config::load_from(None, &env)
            .unwrap_err()
            .contains("\"*\" is not allowed"));
    }

    #[test]
    fn metrics_are_on_the_main_listener_by_default_and_take_an_address_of_their_own() {
        let m = Config::default().metrics;
        assert!(m.enabled);
        assert_eq!(m.bind, "");
        let env = env(&[
            ("INVOIS_METRICS__BIND", "127.0.0.1:9090"),
            ("INVOIS_METRICS__ENABLED", "false"),
        ]);
        let cfg = Config::load_from(None, &env).unwrap();
        assert_eq!(cfg.metrics.bind, "127.0.0.1:9090");
        assert!(!cfg.metrics.enabled);
        let err = from_toml("[metrics]\nbind = \"9090\"\n").unwrap_err();
        assert!(
            err.starts_with("metrics.bind \"9090\" is not an address to listen on; use ADDR:PORT"),
            "{err}"
        );
        assert!(err.contains("in config file"), "{err}");
    }

    #[test]
    fn console_expiries_take_fractions_and_must_be_positive() {
        let cfg = Config::load_from(
            None,
            &env(&[
                ("INVOIS_CONSOLE__SESSION_IDLE_MINUTES", "0.5"),
                ("INVOIS_CONSOLE__SESSION_MAX_HOURS", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.console.idle(), chrono::Duration::seconds(30));
        assert_eq!(cfg.console.max_age(), chrono::Duration::hours(2));
        let err = from_toml("[console]\nsession_idle_minutes = 0\n").unwrap_err();
        assert!(
            err.starts_with(
                "console.session_idle_minutes and console.session_max_hours must be positive"
            ),
            "{err}"
        );
        let err = from_toml("[console]\nlogin_per_minute = 0\n").unwrap_err();
        assert!(
            err.starts_with("console.login_per_minute must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn unknown_settings_are_refused() {
        let env = vec![("INVOIS_SERVER__BINDD".to_owned(), "x".to_owned())];
        assert!(Config::load_from(None, &env).unwrap_err().contains("bindd"));
    }

    fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invois.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_bad_env_value_names_the_variable_and_the_setting_in_one_line() {
        let err = Config::load_from(None, &env(&[("INVOIS_SERVER__WORKERS", "abc")])).unwrap_err();
        assert_eq!(
            err,
            "environment variable INVOIS_SERVER__WORKERS (setting server.workers): invalid type: string \"abc\", expected usize"
        );
    }

    #[test]
    fn an_unknown_setting_from_env_names_the_variable() {
        let err = Config::load_from(None, &env(&[("INVOIS_SERVER__BINDD", "x")])).unwrap_err();
        assert!(
            err.starts_with(
                "environment variable INVOIS_SERVER__BINDD (setting server.bindd): unknown field `bindd`, expected one of `bind`"
            ),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        let err = Config::load_from(None, &env(&[("INVOIS_SERVR__BIND", "x")])).unwrap_err();
        assert!(
            err.starts_with("environment variable INVOIS_SERVR__BIND (setting servr.bind): unknown field `servr`"),
            "{err}"
        );
        let err = Config::load_from(None, &env(&[("INVOIS_BIND", "x")])).unwrap_err();
        assert!(
            err.starts_with("environment variable INVOIS_BIND: expected INVOIS_<SECTION>__<KEY>"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_file_value_names_the_file_and_the_setting_in_one_line() {
        let (_dir, path) = config_file("[server]\nbind = \"127.0.0.1:9\"\nworkers = \"many\"\n");
        let err = Config::load_from(Some(&path), &[]).unwrap_err();
        assert_eq!(
            err,
            format!(
                "config file {}, setting server.workers: invalid type: string \"many\", expected usize",
                path.display()
            )
        );
        let (_dir, path) = config_file("[server]\nworkerz = 2\n");
        let err = Config::load_from(Some(&path), &[]).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "config file {}, setting server.workerz: unknown field `workerz`",
                path.display()
            )),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn a_toml_syntax_error_is_one_line_with_its_line_number() {
        let (_dir, path) = config_file("[server]\nbind = \n");
        let err = Config::load_from(Some(&path), &[]).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "config file {} is not valid TOML at line 2: ",
                path.display()
            )),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn an_env_value_that_looks_like_a_number_is_text_where_the_setting_is_text() {
        let cfg = Config::load_from(None, &env(&[("INVOIS_DATABASE__PATH", "2024")])).unwrap();
        assert_eq!(cfg.database.path, PathBuf::from("2024"));
    }

    #[test]
    fn a_value_refused_by_validation_names_where_it_was_set() {
        let err = Config::load_from(None, &env(&[("INVOIS_DATABASE__SYNCHRONOUS", "sometimes")]))
            .unwrap_err();
        assert_eq!(
            err,
            "database.synchronous must be one of off, normal, full, extra (set by environment variable INVOIS_DATABASE__SYNCHRONOUS)"
        );
        let (_dir, path) = config_file("[database]\nsynchronous = \"sometimes\"\n");
        let err = Config::load_from(Some(&path), &[]).unwrap_err();
        assert_eq!(
            err,
            format!(
                "database.synchronous must be one of off, normal, full, extra (set in config file {})",
                path.display()
            )
        );
    }
}
