//! The `invois` command line: a thin shim over the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use invois::auth::{self, Scope};
use invois::config::{Config, DatabaseConfig};
use invois::startup::Application;
use invois::storage::{self, keys};

#[derive(Parser)]
#[command(
    name = "invois",
    version,
    about = "Self-hosted user- and organization-management API over one SQLite file"
)]
struct Cli {
    /// Configuration file (TOML); also INVOIS_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// SQLite database file; overrides [database] path.
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        bind: Option<String>,
        /// On an empty database load sample data; print a ready API key.
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
    /// Load sample data (--demo) or bulk synthetic data for benchmarks.
    Seed {
        #[arg(long)]
        demo: bool,
        #[arg(long, default_value_t = 0)]
        orgs: u64,
        #[arg(long, default_value_t = 0)]
        users: u64,
        #[arg(long = "memberships-per-user", default_value_t = 0)]
        memberships_per_user: u64,
    },
    /// Online, consistent copy of the database (safe while the server runs).
    Backup {
        /// Where to write the copy.
        out: PathBuf,
    },
    /// Write all tiers, organizations, users and memberships as JSON (`-` for stdout).
    Export { out: PathBuf },
    /// Load a JSON export into an empty database.
    Import { input: PathBuf },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated; default: every scope but admin.
        #[arg(long)]
        scopes: Option<String>,
        /// Days until the key expires.
        #[arg(long = "expires-in")]
        expires_in: Option<u32>,
        /// Print one JSON object and nothing else.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; a running server refuses it on its next request.
    Revoke { id: String },
    /// Issue a successor with the same name and scopes, and revoke the key.
    Rotate {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// A failure with its exit code (1 other failure; usage errors exit 2 through clap).
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

/// The server's malloc arenas: glibc gives threads that allocate at the same time arenas of
/// their own, up to eight per core, and each keeps what was freed in it. With the request
/// workers and the blocking pool that is 40 MiB more RSS at 1M organizations (bench run,
/// 120 vs 83 MiB peak) for no measurable speed. glibc reads `MALLOC_ARENA_MAX` only when a
/// process starts, so `serve` runs itself again (same pid, same arguments) with it set,
/// unless it is already set (to anything: the operator decides).
const MALLOC_ARENAS: &str = "2";

fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        use std::os::unix::process::CommandExt;
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("MALLOC_ARENA_MAX", MALLOC_ARENAS)
                .exec();
            // exec only returns when it failed; serve on as we are.
            eprintln!("invois: could not restart with MALLOC_ARENA_MAX={MALLOC_ARENAS} ({err}); serving without it");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve { .. }) {
        limit_malloc_arenas();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("invois: {msg}");
            ExitCode::from(1)
        }
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("invois: {msg}");
    std::process::exit(2)
}

fn run(cli: Cli) -> Result<(), Fail> {
    let mut cfg = Config::load(cli.config.as_deref()).map_err(Fail)?;
    if let Some(db) = cli.db {
        cfg.database.path = db;
    }
    env_logger::Builder::new()
        .parse_filters(&cfg.log.level)
        .parse_env("RUST_LOG")
        .init();
    match cli.command {
        Command::Serve { bind, demo } => {
            if let Some(b) = bind {
                cfg.server.bind = b;
            }
            serve(cfg, demo)
        }
        Command::Migrate => {
            storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
            println!(
                "database {} is at schema version {}",
                cfg.database.path.display(),
                storage::schema_version()
            );
            Ok(())
        }
        Command::Keys { command } => keys_cmd(&cfg, command),
        Command::Seed {
            demo,
            orgs,
            users,
            memberships_per_user,
        } => {
            if demo {
                let db = storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
                if !db.read_blocking(storage::seed::is_empty)? {
                    return Err(Fail("the database already has data; seed --demo needs an empty one (use another --db)".into()));
                }
                storage::seed::demo(&db)?;
                println!("loaded the demo data into {}", cfg.database.path.display());
                return Ok(());
            }
            if orgs == 0 && users == 0 {
                usage("seed needs --demo or --orgs N/--users N [--memberships-per-user K]");
            }
            seed_bulk(&cfg.database, orgs, users, memberships_per_user)
        }
        Command::Export { out } => {
            let db = storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
            let doc = db.read_blocking(storage::transfer::export)?;
            let text = serde_json::to_string_pretty(&doc)?;
            if out.as_os_str() == "-" {
                println!("{text}");
            } else {
                std::fs::write(&out, text)
                    .map_err(|e| Fail(format!("cannot write {}: {e}", out.display())))?;
                eprintln!(
                    "exported {} to {}",
                    cfg.database.path.display(),
                    out.display()
                );
            }
            Ok(())
        }
        Command::Import { input } => {
            let text = std::fs::read_to_string(&input)
                .map_err(|e| Fail(format!("cannot read {}: {e}", input.display())))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Fail(format!("{} is not JSON: {e}", input.display())))?;
            let db = storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
            let counts = db.write_blocking(None, |tx| storage::transfer::import(tx, &doc))?;
            for (t, n) in counts {
                eprintln!("imported {n} rows into {t}");
            }
            Ok(())
        }
        Command::Backup { out } => {
            if out.exists() {
                return Err(Fail(format!(
                    "{} exists; choose a new file for the backup",
                    out.display()
                )));
            }
            let db = storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
            db.backup_to(&out)?;
            println!(
                "backed up {} to {}",
                cfg.database.path.display(),
                out.display()
            );
            Ok(())
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
    let db = storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires_in,
            json,
        } => {
            let name = auth::parse_key_name(&name).unwrap_or_else(|e| usage(&e));
            let scopes = match scopes {
                Some(s) => auth::parse_scopes(&s).unwrap_or_else(|e| usage(&e)),
                None => Scope::defaults(),
            };
            if expires_in == Some(0) {
                usage("--expires-in must be at least 1 day");
            }
            let (info, plain) = auth::create_key(&db, &name, &scopes, expires_in, None)?;
            print_new_key(&info, &plain, json);
            Ok(())
        }
        KeysCommand::List { json } => {
            let list = db.read_blocking(keys::list)?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no keys; create one with: invois keys create --name NAME");
            } else {
                println!(
                    "{:<22} {:<20} {:<10} {:<21} SCOPES",
                    "ID", "NAME", "STATUS", "EXPIRES"
                );
                let now = invois::domain::now();
                for k in list {
                    let status = if k.revoked_at.is_some() {
                        "revoked"
                    } else if k.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
                        "expired"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<22} {:<20} {:<10} {:<21} {}",
                        k.id,
                        k.name,
                        status,
                        k.expires_at.as_deref().unwrap_or("never"),
                        k.scopes.join(",")
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let now = invois::domain::now();
            let target = id.clone();
            let res = db.write_blocking(None, move |tx| {
                let r = keys::revoke(tx, &target, &now)?;
                if r == Some(true) {
                    storage::events::record(tx, "key.revoked", None, &target, &[], &now)?;
                }
                Ok(r)
            })?;
            match res {
                None => Err(Fail(format!("no key {id}; see invois keys list"))),
                Some(true) => {
                    println!("revoked {id}");
                    Ok(())
                }
                Some(false) => {
                    println!("{id} was already revoked");
                    Ok(())
                }
            }
        }
        KeysCommand::Rotate { id, json } => {
            let (info, plain) = invois::routes::keys::rotate_key(&db, &id, None)?;
            print_new_key(&info, &plain, json);
            if !json {
                println!("{id} is revoked");
            }
            Ok(())
        }
    }
}

fn print_new_key(info: &keys::KeyInfo, plain: &auth::PlainKey, json: bool) {
    if json {
        let v = serde_json::json!({
            "id": info.id, "name": info.name, "key": plain.0, "scopes": info.scopes,
            "createdAt": info.created_at, "expiresAt": info.expires_at,
        });
        println!("{v}");
    } else {
        println!("created key {} ({})", info.id, info.name);
        println!("scopes:  {}", info.scopes.join(","));
        println!("expires: {}", info.expires_at.as_deref().unwrap_or("never"));
        println!();
        println!("  {}", plain.0);
        println!();
        println!("Store it now: it is shown only once. Send it as the X-Invois-Key header.");
    }
}

fn serve(cfg: Config, demo: bool) -> Result<(), Fail> {
    let db = storage::open(&cfg.database).map_err(|e| Fail(e.0))?;
    if demo {
        if db.read_blocking(storage::seed::is_empty)? {
            storage::seed::demo(&db)?;
            log::info!("loaded the demo data");
        }
        let (info, plain) = auth::create_key(&db, "demo", &Scope::ALL, Some(30), None)?;
        let bind = &cfg.server.bind;
        println!(
            "invois sandbox on http://{bind}  (database {})",
            cfg.database.path.display()
        );
        println!("API key ({}, all scopes, expires in 30 days):", info.id);
        println!();
        println!("  {}", plain.0);
        println!();
        println!(
            "Try:  curl -H 'X-Invois-Key: {}' http://{bind}/api/integrations/organizations",
            plain.0
        );
        println!("Docs: http://{bind}/docs/");
    }
    drop(db);
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        let app = Application::build(&cfg).map_err(Fail)?;
        log::info!("listening on {} (port {})", cfg.server.bind, app.port());
        app.run_until_stopped()
            .await
            .map_err(|e| Fail(e.to_string()))
    })
}
