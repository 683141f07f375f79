//! The `invois` command line: a thin shim over the library.
//!
//! Every failure is one line on stderr and a non-zero exit: 2 for usage and configuration
//! errors, 1 for the rest (SPEC §2). A command that fails leaves no database file it created
//! behind, and a closed stdout (`invois export - | head`) ends a command quietly.

use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use invois::auth::{self, Scope};
use invois::config::{Config, DatabaseConfig};
use invois::error::ApiError;
use invois::routes::keys::NewKey;
use invois::startup::Application;
use invois::storage::{self, keys, Db, DbError, OpenError};

/// The allocator of the binary's Rust code (Cargo.toml says why); SQLite's C code keeps
/// glibc's malloc, and tests that start the server in-process keep the system's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "invois",
    version,
    about = "Self-hosted user- and organization-management API over one SQLite file"
)]
struct Cli {
    /// Configuration file (TOML); also INVOIS_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SQLite database file; overrides [database] path.
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user:password@host/db); overrides [database] url.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Address to listen on; overrides [server] bind (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<String>,
        /// On an empty database load the sample data; print a ready API key.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the operators who log in to the console (/console/).
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
    },
    /// Load sample data (--demo) or bulk synthetic data for benchmarks.
    Seed {
        /// Load the seeds' sample data (the database must be empty).
        #[arg(long)]
        demo: bool,
        /// Synthetic organizations to add.
        #[arg(long, value_name = "N", default_value_t = 0)]
        orgs: u64,
        /// Synthetic users to add.
        #[arg(long, value_name = "N", default_value_t = 0)]
        users: u64,
        /// Memberships per synthetic user, in random organizations.
        #[arg(long = "memberships-per-user", value_name = "K", default_value_t = 0)]
        memberships_per_user: u64,
    },
    /// Online, consistent copy of the database (safe while the server runs).
    Backup {
        /// New file for the copy (not overwritten; its directory must exist).
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
    /// Write the whole data set as JSON in the API's field names and shapes.
    Export {
        /// File to write, or - for stdout.
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
    /// Load a JSON export into an empty database (all or nothing).
    Import {
        /// Export to read, or - for stdin.
        #[arg(value_name = "IN")]
        input: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Create {
        /// What the key is for (1 to 100 printable characters).
        #[arg(long)]
        name: String,
        /// Comma-separated scopes; default: every scope but admin.
        #[arg(long, value_name = "S1,S2")]
        scopes: Option<String>,
        /// Days until the key expires; default: never.
        #[arg(long = "expires-in", value_name = "DAYS")]
        expires_in: Option<u32>,
        /// Print one JSON object and nothing else.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; a running server refuses it on its next request.
    Revoke {
        /// The key's id (key-…), as keys list shows it.
        id: String,
    },
    /// Issue a successor with the same name, scopes and expiry, and revoke the key.
    Rotate {
        /// The key's id (key-…), as keys list shows it.
        id: String,
        /// Print the successor as one JSON object and nothing else.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OperatorsCommand {
    /// Create an operator; the password is read from the terminal (or stdin), never an argument.
    Create {
        /// The operator's email, their login.
        #[arg(long)]
        email: String,
    },
    /// List operators (never their passwords).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete an operator; their sessions end at once.
    Delete {
        /// The operator's email.
        #[arg(long)]
        email: String,
    },
    /// Set a new password (read as for create); the operator's sessions end.
    ResetPassword {
        /// The operator's email.
        #[arg(long)]
        email: String,
    },
}

/// Why a command failed, which decides its exit code.
enum Fail {
    /// A usage or configuration error: exit 2.
    Usage(String),
    /// Any other failure: exit 1.
    Other(String),
    /// Stdout was closed by its reader (`| head`): stop quietly, exit 0.
    ClosedPipe,
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Internal(m) => Fail::Other(m),
            other => Fail::Other(other.body().message),
        }
    }
}

/// Storage's errors say the same sentences on the command line as over HTTP.
impl From<DbError> for Fail {
    fn from(e: DbError) -> Self {
        Fail::from(ApiError::from(e))
    }
}

impl From<OpenError> for Fail {
    fn from(e: OpenError) -> Self {
        Fail::Other(e.0)
    }
}

/// A failed write to stdout: a reader that went away is no error (SPEC §2).
fn stdout_fail(e: &std::io::Error) -> Fail {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Fail::ClosedPipe
    } else {
        Fail::Other(format!("cannot write to stdout: {e}"))
    }
}

/// One line on stdout.
fn say(line: std::fmt::Arguments<'_>) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| stdout_fail(&e))
}

macro_rules! say {
    ($($arg:tt)*) => { say(format_args!($($arg)*)) };
}

/// One line on stderr (a closed stderr is not worth failing for).
fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_failure(&e),
    };
    match run(cli) {
        Ok(()) | Err(Fail::ClosedPipe) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            note(format_args!("invois: {msg}"));
            ExitCode::from(2)
        }
        Err(Fail::Other(msg)) => {
            note(format_args!("invois: {msg}"));
            ExitCode::from(1)
        }
    }
}

/// The subcommand path the arguments name (`invois keys create`), for "see … --help".
fn command_path() -> String {
    let mut cmd = Cli::command();
    let mut path = vec!["invois".to_owned()];
    for arg in std::env::args_os().skip(1) {
        let Some(sub) = arg.to_str().and_then(|a| cmd.find_subcommand(a)).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_owned());
        cmd = sub;
    }
    path.join(" ")
}

/// clap's help and version as usual; its errors as one line on stderr, exit 2.
fn clap_failure(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let path = command_path();
    let msg = match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            return match e.print() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            };
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let mut cmd = Cli::command();
            for name in path.split(' ').skip(1) {
                if let Some(sub) = cmd.find_subcommand(name).cloned() {
                    cmd = sub;
                }
            }
            let names: Vec<&str> = cmd
                .get_subcommands()
                .map(clap::Command::get_name)
                .filter(|n| *n != "help")
                .collect();
            format!("{path} needs a command: {}", names.join(", "))
        }
        _ => {
            let text = e.render().to_string();
            let body = text
                .split("\nUsage:")
                .next()
                .unwrap_or_default()
                .split("\nFor more information")
                .next()
                .unwrap_or_default();
            let body = body.trim().strip_prefix("error: ").unwrap_or(body.trim());
            let mut line = String::new();
            for part in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if !line.is_empty() {
                    line.push_str(if line.ends_with(':') { " " } else { "; " });
                }
                line.push_str(part);
            }
            line
        }
    };
    note(format_args!("invois: {msg}; see {path} --help"));
    ExitCode::from(2)
}

/// The files of the SQLite database at a path, and which of them existed before a command
/// ran: a command that created the database and then failed removes what it created, and
/// nothing else (SPEC §2: a command that fails creates no database file). Once the database
/// existed, nothing is removed — not even a `-wal` that this command created, as it may hold
/// the only copy of committed pages.
struct DbFiles {
    db_existed: bool,
    files: Vec<(PathBuf, bool)>,
}

impl DbFiles {
    fn note(db: &Path) -> Self {
        let files: Vec<(PathBuf, bool)> = ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut p = db.as_os_str().to_owned();
                p.push(suffix);
                let p = PathBuf::from(p);
                let existed = p.symlink_metadata().is_ok();
                (p, existed)
            })
            .collect();
        Self {
            db_existed: files[0].1,
            files,
        }
    }

    /// Removes the files of a database this command created (call once it is closed).
    fn remove_created(&self) {
        if self.db_existed {
            return;
        }
        for (p, existed) in &self.files {
            if !existed {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), Fail> {
    // Webhook deliveries carry the API's view of what changed, whichever command writes.
    invois::storage::events::set_renderer(invois::routes::webhooks::event_data);
    let mut cfg = Config::load(cli.config.as_deref()).map_err(Fail::Usage)?;
    if let Some(url) = cli.database_url {
        cfg.database.url = url;
    }
    if let Some(db) = cli.db {
        cfg.database.path = db;
    }
    let serving = matches!(cli.command, Command::Serve { .. });
    let mut log = env_logger::Builder::new();
    log.parse_filters(&cfg.log.level);
    if !serving {
        // A one-shot command reports in its own words; "migrated to version N" is noise.
        log.filter_module("rusqlite_migration", log::LevelFilter::Warn);
        // The read pool opens a connection on a thread of its own whenever its idle one is
        // taken. A command that failed on a database it had created removes the file, and
        // that connection, still opening, then failed and was logged by r2d2: a second line
        // after the command's own (seen once in CI). The command's reads report their own
        // errors.
        log.filter_module("r2d2", log::LevelFilter::Off);
    }
    log.parse_env("RUST_LOG");
    // The PostgreSQL driver logs every statement's parameters at debug (argon2 hashes, key
    // ids, request bodies): never, whatever the level asked for.
    log.filter_module("tokio_postgres::query", log::LevelFilter::Info);
    log.init();
    if let Command::Serve { bind, demo } = cli.command {
        let flag = bind.is_some();
        if let Some(b) = bind {
            cfg.server.bind = b;
        }
        return serve(&cfg, flag, demo);
    }
    let files = cfg
        .database
        .url
        .is_empty()
        .then(|| DbFiles::note(&cfg.database.path));
    let res = command(&cfg, cli.command);
    if matches!(res, Err(Fail::Usage(_) | Fail::Other(_))) {
        if let Some(files) = files {
            files.remove_created();
        }
    }
    res
}

/// The database of a command that only reads it: refused if it does not exist (a mistyped
/// `--db` would otherwise create an empty file and copy nothing).
fn existing_db(cfg: &DatabaseConfig, what: &str) -> Result<Db, Fail> {
    if cfg.url.is_empty() && !cfg.path.exists() {
        return Err(Fail::Other(format!(
            "no database at {}; point --db (or INVOIS_DATABASE__PATH) at the database to {what}",
            cfg.path.display()
        )));
    }
    Ok(storage::open(cfg)?)
}

/// Where the data is, for messages: the SQLite file, or the PostgreSQL URL without its
/// password.
fn location(cfg: &DatabaseConfig) -> String {
    if cfg.url.is_empty() {
        cfg.path.display().to_string()
    } else {
        storage::redact_url(&cfg.url)
    }
}

/// Checks that `out` can be created: its directory exists.
fn check_target(out: &Path, what: &str) -> Result<(), Fail> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot =
        |why: String| Fail::Other(format!("cannot write {what} to {}: {why}", out.display()));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(cannot(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(cannot(format!(
            "directory {} does not exist",
            dir.display()
        ))),
        Err(e) => Err(cannot(format!("{}: {e}", dir.display()))),
    }
}

/// Writes `out` through a temporary file beside it, renamed into place once complete: a
/// failure leaves no partial file, and an existing `out` is replaced only if `replace`.
fn write_whole(
    out: &Path,
    what: &str,
    replace: bool,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), Fail> {
    let name = out
        .file_name()
        .map_or_else(|| "invois".into(), |n| n.to_string_lossy().into_owned());
    let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let remove_tmp = || {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = tmp.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    };
    let cannot =
        |why: String| Fail::Other(format!("cannot write {what} to {}: {why}", out.display()));
    if let Err(e) = write(&tmp) {
        remove_tmp();
        return Err(cannot(e));
    }
    if !replace && out.symlink_metadata().is_ok() {
        remove_tmp();
        return Err(cannot("it exists now; choose a new file".into()));
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        remove_tmp();
        return Err(cannot(e.to_string()));
    }
    Ok(())
}

/// `value` as pretty JSON and a newline.
fn write_json(w: impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, w);
    serde_json::to_writer_pretty(&mut w, value).map_err(std::io::Error::from)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Every command but `serve`.
fn command(cfg: &Config, command: Command) -> Result<(), Fail> {
    match command {
        // `run` serves before it gets here.
        Command::Serve { .. } => Ok(()),
        Command::Migrate => {
            storage::open(&cfg.database)?;
            say!(
                "database {} is at schema version {}",
                location(&cfg.database),
                storage::schema_version()
            )
        }
        Command::Keys { command } => keys_cmd(cfg, command),
        Command::Operators { command } => operators_cmd(cfg, command),
        Command::Seed {
            demo,
            orgs,
            users,
            memberships_per_user,
        } => {
            if demo {
                let db = storage::open(&cfg.database)?;
                if !db.read_blocking(storage::seed::is_empty)? {
                    let other = if cfg.database.url.is_empty() {
                        "--db"
                    } else {
                        "--database-url"
                    };
                    return Err(Fail::Other(format!("the database already has data; seed --demo needs an empty one (use another {other})")));
                }
                storage::seed::demo(&db)?;
                return say!("loaded the demo data into {}", location(&cfg.database));
            }
            if orgs == 0 && users == 0 {
                return Err(Fail::Usage(
                    "seed needs --demo or --orgs N/--users N [--memberships-per-user K]".into(),
                ));
            }
            seed_bulk(&cfg.database, orgs, users, memberships_per_user)
        }
        Command::Export { out } => {
            let to_stdout = out.as_os_str() == "-";
            if !to_stdout {
                check_target(&out, "the export")?;
            }
            let db = existing_db(&cfg.database, "export")?;
            let doc = db.read_blocking(storage::transfer::export)?;
            drop(db);
            if to_stdout {
                return write_json(std::io::stdout().lock(), &doc).map_err(|e| stdout_fail(&e));
            }
            write_whole(&out, "the export", true, |tmp| {
                std::fs::File::create(tmp)
                    .and_then(|f| write_json(f, &doc))
                    .map_err(|e| e.to_string())
            })?;
            note(format_args!(
                "exported {} to {}",
                location(&cfg.database),
                out.display()
            ));
            Ok(())
        }
        Command::Import { input } => {
            let from_stdin = input.as_os_str() == "-";
            let name = if from_stdin {
                "stdin".to_owned()
            } else {
                input.display().to_string()
            };
            let mut text = String::new();
            let read = if from_stdin {
                std::io::stdin().read_to_string(&mut text).map(drop)
            } else {
                std::fs::File::open(&input).and_then(|mut f| f.read_to_string(&mut text).map(drop))
            };
            read.map_err(|e| Fail::Other(format!("cannot read {name}: {e}")))?;
            let doc = storage::transfer::parse(&text)
                .map_err(|e| Fail::Other(format!("{name} is not an invois export: {e}")))?;
            drop(text);
            let counts = storage::transfer::import(&cfg.database, &doc).map_err(|e| match e {
                DbError::BadImport(message) => Fail::Other(format!(
                    "cannot import {name}: {message}; nothing was imported"
                )),
                other => Fail::from(other),
            })?;
            let counts: Vec<String> = counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
            note(format_args!(
                "imported {} into {}",
                counts.join(", "),
                location(&cfg.database)
            ));
            Ok(())
        }
        Command::Backup { out } => {
            if !cfg.database.url.is_empty() {
                return Err(Fail::Other(
                    "backup copies an SQLite file; on PostgreSQL use pg_dump, or invois export"
                        .into(),
                ));
            }
            check_target(&out, "backup")?;
            if out.symlink_metadata().is_ok() {
                return Err(Fail::Other(format!(
                    "{} exists; choose a new file for the backup",
                    out.display()
                )));
            }
            let db = existing_db(&cfg.database, "back up")?;
            write_whole(&out, "backup", false, |tmp| {
                db.backup_to(tmp).map_err(|e| Fail::from(e).message())
            })?;
            drop(db);
            say!("backed up {} to {}", location(&cfg.database), out.display())
        }
    }
}

impl Fail {
    fn message(self) -> String {
        match self {
            Fail::Usage(m) | Fail::Other(m) => m,
            Fail::ClosedPipe => "stdout was closed".into(),
        }
    }
}

fn seed_bulk(db: &DatabaseConfig, orgs: u64, users: u64, k: u64) -> Result<(), Fail> {
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>14} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |what: &str, done: u64, total: u64| {
        bar.set_message(what.to_owned());
        bar.set_length(total);
        bar.set_position(done);
    };
    storage::seed::bulk(db, orgs, users, k, &progress)?;
    bar.finish_and_clear();
    eprintln!(
        "seeded {orgs} organizations, {users} users, up to {} memberships in {:.1}s",
        users * k,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn keys_cmd(cfg: &Config, command: KeysCommand) -> Result<(), Fail> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires_in,
            json,
        } => {
            // Everything that can be checked is checked before the database is opened.
            let name = auth::parse_key_name(&name).map_err(Fail::Usage)?;
            let scopes = match scopes {
                Some(s) => auth::parse_scopes(&s).map_err(Fail::Usage)?,
                None => Scope::defaults(),
            };
            if expires_in == Some(0) {
                return Err(Fail::Usage("--expires-in must be at least 1 day".into()));
            }
            let db = storage::open(&cfg.database)?;
            let (info, plain) = auth::create_key(&db, &name, &scopes, expires_in, None)?;
            print_new_key(info, plain, json)
        }
        KeysCommand::List { json } => {
            let db = storage::open(&cfg.database)?;
            let list = db.read_blocking(keys::list)?;
            drop(db);
            if json {
                let list: Vec<invois::model::KeyInfo> = list.into_iter().map(Into::into).collect();
                let text = serde_json::to_string(&list)
                    .map_err(|e| Fail::Other(format!("cannot render the list: {e}")))?;
                return say!("{text}");
            }
            if list.is_empty() {
                return say!("no keys; create one with: invois keys create --name NAME");
            }
            say!(
                "{:<22} {:<20} {:<10} {:<21} SCOPES",
                "ID",
                "NAME",
                "STATUS",
                "EXPIRES"
            )?;
            let now = invois::domain::now();
            for k in list {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
                    "expired"
                } else {
                    "active"
                };
                say!(
                    "{:<22} {:<20} {:<10} {:<21} {}",
                    k.id,
                    k.name,
                    status,
                    k.expires_at.as_deref().unwrap_or("never"),
                    k.scopes.join(",")
                )?;
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let db = storage::open(&cfg.database)?;
            let now = invois::domain::now();
            let target = id.clone();
            let res = db.write_blocking(None, move |tx| {
                let r = keys::revoke(tx, &target, &now)?;
                if r == Some(true) {
                    storage::events::record(tx, "key.revoked", None, &target, &[], &now)?;
                }
                Ok(r)
            })?;
            drop(db);
            match res {
                None => Err(Fail::Other(format!("no key {id}; see invois keys list"))),
                Some(true) => say!("revoked {id}"),
                Some(false) => say!("{id} was already revoked"),
            }
        }
        KeysCommand::Rotate { id, json } => {
            let db = storage::open(&cfg.database)?;
            let (info, plain) =
                invois::routes::keys::rotate_key(&db, &id, None).map_err(|e| match e {
                    ApiError::NotFound(_) => {
                        Fail::Other(format!("no key {id}; see invois keys list"))
                    }
                    other => Fail::from(other),
                })?;
            drop(db);
            print_new_key(info, plain, json)?;
            if json {
                return Ok(());
            }
            say!("{id} is revoked")
        }
    }
}

/// A new password: from the terminal, asked twice without echo; from stdin's first line when
/// it is not a terminal (scripts: `printf '%s\n' "$PW" | invois operators create …`).
fn read_password() -> Result<String, Fail> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")
            .map_err(|e| Fail::Other(format!("cannot read the password: {e}")))?;
        invois::console::accounts::check_password(&first).map_err(Fail::Usage)?;
        let again = rpassword::prompt_password("Password again: ")
            .map_err(|e| Fail::Other(format!("cannot read the password: {e}")))?;
        if again != first {
            return Err(Fail::Usage(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Fail::Other(format!("cannot read the password from stdin: {e}")))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    invois::console::accounts::check_password(&password).map_err(Fail::Usage)?;
    Ok(password)
}

fn operators_cmd(cfg: &Config, command: OperatorsCommand) -> Result<(), Fail> {
    use invois::console::accounts::{self, AccountError};
    let account_fail = |email: &str| {
        let email = email.to_owned();
        move |e: AccountError| {
            match e {
            AccountError::Exists => Fail::Other(format!(
                "an operator {email} exists; set a new password with invois operators reset-password --email {email}"
            )),
            AccountError::Unknown => {
                Fail::Other(format!("no operator {email}; see invois operators list"))
            }
            AccountError::Hash(m) => Fail::Other(m),
            AccountError::Db(e) => Fail::from(e),
        }
        }
    };
    match command {
        OperatorsCommand::Create { email } => {
            let email = accounts::parse_email(&email).map_err(Fail::Usage)?;
            let password = read_password()?;
            let db = storage::open(&cfg.database)?;
            let id = accounts::create(&db, &email, &password).map_err(account_fail(&email))?;
            drop(db);
            say!("created operator {id} ({email}); log in at /console/")
        }
        OperatorsCommand::List { json } => {
            let db = storage::open(&cfg.database)?;
            let list = db.read_blocking(storage::operators::list)?;
            drop(db);
            if json {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|o| {
                        serde_json::json!({"id": o.id, "email": o.email, "createdAt": o.created_at,
                            "updatedAt": o.updated_at, "lastLoginAt": o.last_login_at})
                    })
                    .collect();
                return say!("{}", serde_json::Value::Array(rows));
            }
            if list.is_empty() {
                return say!(
                    "no operators; create one with: invois operators create --email EMAIL"
                );
            }
            say!("{:<20} {:<32} {:<21} LAST LOGIN", "ID", "EMAIL", "CREATED")?;
            for o in list {
                say!(
                    "{:<20} {:<32} {:<21} {}",
                    o.id,
                    o.email,
                    o.created_at,
                    o.last_login_at.as_deref().unwrap_or("never")
                )?;
            }
            Ok(())
        }
        OperatorsCommand::Delete { email } => {
            let email = accounts::parse_email(&email).map_err(Fail::Usage)?;
            let db = storage::open(&cfg.database)?;
            let id = accounts::delete(&db, &email).map_err(account_fail(&email))?;
            drop(db);
            say!("deleted operator {id} ({email}); their sessions are ended")
        }
        OperatorsCommand::ResetPassword { email } => {
            let email = accounts::parse_email(&email).map_err(Fail::Usage)?;
            let password = read_password()?;
            let db = storage::open(&cfg.database)?;
            accounts::reset_password(&db, &email, &password).map_err(account_fail(&email))?;
            drop(db);
            say!("changed the password of {email}; their sessions are ended")
        }
    }
}

/// A new key: with `json`, exactly one object in the API's field order (`NewKey`) and
/// nothing else; otherwise for a person.
fn print_new_key(
    info: invois::storage::records::KeyInfo,
    plain: auth::PlainKey,
    json: bool,
) -> Result<(), Fail> {
    if json {
        let key = NewKey {
            id: info.id,
            name: info.name,
            key: plain.0,
            scopes: info.scopes,
            created_at: info.created_at,
            expires_at: info.expires_at,
        };
        let text = serde_json::to_string(&key)
            .map_err(|e| Fail::Other(format!("cannot render the key: {e}")))?;
        return say!("{text}");
    }
    say!("created key {} ({})", info.id, info.name)?;
    say!("scopes:  {}", info.scopes.join(","))?;
    say!("expires: {}", info.expires_at.as_deref().unwrap_or("never"))?;
    say!("")?;
    say!("  {}", plain.0)?;
    say!("")?;
    say!("Store it now: it is shown only once. Send it as the X-Invois-Key header.")
}

/// The addresses `bind` names; an error says where the bad value came from.
fn parse_bind(bind: &str, from_flag: bool) -> Result<Vec<SocketAddr>, Fail> {
    let origin = if from_flag {
        "--bind"
    } else {
        "[server] bind (or INVOIS_SERVER__BIND)"
    };
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .map_err(|e| {
            Fail::Usage(format!(
                "{origin} {bind:?} is not an address to listen on ({e}); use ADDR:PORT such as 127.0.0.1:8080"
            ))
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Fail::Usage(format!(
            "{origin} {bind:?} names no address; use ADDR:PORT such as 127.0.0.1:8080"
        )));
    }
    Ok(addrs)
}

/// Binds first and opens the database second, so that a bad or busy address creates no
/// database file; a failure before the server runs removes a database file it created.
/// Descriptors kept for the database files, the pool, the listener and logs.
const FD_RESERVE: u64 = 64;

fn serve(cfg: &Config, bind_from_flag: bool, demo: bool) -> Result<(), Fail> {
    let addrs = parse_bind(&cfg.server.bind, bind_from_flag)?;
    let mut cfg = cfg.clone();
    match invois::startup::raise_fd_limit() {
        // Each connection takes a descriptor; the database, its WAL, the pool and the
        // listener take some more. More connections than descriptors would make accept()
        // fail for everyone, so the cap is lowered to fit.
        Ok(n) => {
            let fits = usize::try_from(n.saturating_sub(FD_RESERVE))
                .unwrap_or(usize::MAX)
                .max(16);
            if cfg.server.max_connections > fits {
                log::warn!(
                    "server.max_connections lowered from {} to {fits} to fit the open-file \
                     limit ({n}); raise the hard limit (ulimit -Hn) to allow more",
                    cfg.server.max_connections
                );
                cfg.server.max_connections = fits;
            }
        }
        Err(e) => log::warn!("cannot raise the open-file limit: {e}"),
    }
    let cfg = &cfg;
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| {
        Fail::Other(format!(
            "cannot listen on {}: {e}; choose another with --bind",
            cfg.server.bind
        ))
    })?;
    let files = DbFiles::note(&cfg.database.path);
    let sys = actix_web::rt::System::new();
    let app = open_for_serving(cfg, demo).and_then(|db| {
        // Building the server needs the actix system (it spawns its workers and tasks).
        sys.block_on(async { Application::with_listener(cfg, db, listener) })
            .map_err(Fail::Other)
    });
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            files.remove_created();
            return Err(e);
        }
    };
    sys.block_on(async move {
        log::info!("listening on {} (port {})", cfg.server.bind, app.port());
        app.stop_on_signals();
        app.run_until_stopped()
            .await
            .map_err(|e| Fail::Other(e.to_string()))
    })
}

/// The database to serve; with `demo`, the sample data loaded if it is empty and a fresh
/// key printed.
fn open_for_serving(cfg: &Config, demo: bool) -> Result<Db, Fail> {
    let db = storage::open(&cfg.database)?;
    if demo {
        if db.read_blocking(storage::seed::is_empty)? {
            storage::seed::demo(&db)?;
            log::info!("loaded the demo data");
        }
        let (info, plain) = auth::create_key(&db, "demo", &Scope::ALL, Some(30), None)?;
        let login = if cfg.console.enabled {
            Some(
                invois::console::accounts::demo_login(&db)
                    .map_err(|e| Fail::Other(format!("cannot create the demo operator: {e}")))?,
            )
        } else {
            None
        };
        // The banner is for whoever watches; if nobody reads stdout, serve all the same.
        let _ = demo_banner(cfg, &info, &plain, login.as_deref());
    }
    Ok(db)
}

fn demo_banner(
    cfg: &Config,
    info: &invois::storage::records::KeyInfo,
    plain: &auth::PlainKey,
    console_password: Option<&str>,
) -> Result<(), Fail> {
    let bind = &cfg.server.bind;
    say!(
        "invois sandbox on http://{bind}  (database {})",
        location(&cfg.database)
    )?;
    say!("API key ({}, all scopes, expires in 30 days):", info.id)?;
    say!("")?;
    say!("  {}", plain.0)?;
    say!("")?;
    say!(
        "Try:  curl -H 'X-Invois-Key: {}' http://{bind}/api/integrations/organizations",
        plain.0
    )?;
    say!("Docs: http://{bind}/docs/")?;
    if let Some(p) = console_password {
        say!(
            "Console: http://{bind}/console/  (login {} / {p})",
            invois::console::accounts::DEMO_EMAIL
        )?;
    }
    Ok(())
}
