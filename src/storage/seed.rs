//! Sample data (`--demo`) and bulk synthetic data for benchmarks.

use crate::storage::sql::{params, Conn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::{fold, new_id};
use crate::storage::users::search_text;
use crate::storage::Db;
use crate::storage::Result;

/// The bulk seed's SQLite page cache: enough for the indexes that grow in random order
/// (slugs, emails) at a million rows; the seed's peak memory is about twice this.
const SEED_CACHE_MIB: u64 = 160;

/// The page cache while the seed builds the secondary indexes.
const SEED_INDEX_CACHE_MIB: u64 = 32;

/// Merges each search index into one segment once its rows are in. A bulk load otherwise
/// leaves FTS5 with segments on several levels, a few short of the next merge: the first
/// writes after the seed then paid for merging a million rows' worth of them, in bursts
/// of 30-50 ms inside commits (one burst per common trigram, such as those of
/// `@example.com`, whose lists are merged whole), and searches read every segment.
const OPTIMIZE_FTS: &str =
    "INSERT INTO organizations_fts (organizations_fts) VALUES ('optimize'); \
     INSERT INTO users_fts (users_fts) VALUES ('optimize');";

/// Whether the database holds no organizations and no users yet.
pub fn is_empty(conn: &Conn<'_>) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM users)",
        (),
        |r| r.get(0),
    )?;
    Ok(n == 0)
}

const ADJ: &[&str] = &[
    "Acme",
    "Global",
    "Pacific",
    "Golden",
    "Blue",
    "Green",
    "Silver",
    "Rapid",
    "Bright",
    "Prime",
    "Nusantara",
    "Sunrise",
    "Harbour",
    "Summit",
    "Urban",
    "Royal",
    "Eastern",
    "Northern",
    "Crystal",
    "Lotus",
    "Zeta",
    "Café",
    "Señor",
    "Müller",
    "Ōsaka",
    "Straße",
    "Kopi",
    "Batik",
    "Durian",
    "Orchid",
];
const NOUN: &[&str] = &[
    "Trading",
    "Foods",
    "Logistics",
    "Textiles",
    "Electronics",
    "Bakery",
    "Motors",
    "Pharmacy",
    "Books",
    "Furniture",
    "Garments",
    "Hardware",
    "Kitchen",
    "Studio",
    "Florist",
    "Apparel",
    "Cosmetics",
    "Coffee",
    "Seafood",
    "Printing",
    "Imports",
    "Crafts",
    "Optics",
    "Jewellers",
];
const SUFFIX: &[&str] = &[
    "Sdn Bhd",
    "Enterprise",
    "Inc",
    "Ltd",
    "Co",
    "Trading",
    "Bhd",
    "& Sons",
    "Group",
    "PLT",
];
const FIRST: &[&str] = &[
    "Aisha", "Ahmad", "Mei", "Wei", "Siti", "Raj", "Priya", "John", "Jane", "Nur", "Hafiz", "Li",
    "Chen", "Kumar", "Farah", "Daniel", "Sofia", "Zoë", "José", "Élodie", "Björn", "Amir", "Lina",
    "Omar",
];
const LAST: &[&str] = &[
    "Tan", "Lim", "Wong", "Abdullah", "Rahman", "Singh", "Lee", "Ng", "Ismail", "Smith", "Doe",
    "García", "Müller", "Nakamura", "Ong", "Yusof", "Chong", "Pillai", "O'Brien", "Kovač",
];

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

/// Loads the seeds' examples (with their ids, so the documented curl calls work) plus a few
/// hundred generated organizations and users.
pub fn demo(db: &Db) -> Result<()> {
    db.write_blocking(None, |tx| {
        let mut ins_tier = tx.prepare(
            "INSERT INTO premium_tiers (id, name, features, max_users, max_storage, api_calls_per_month, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )?;
        ins_tier.execute(params![
            "tier-premium", "Premium",
            r#"["advanced-reporting","priority-support","custom-integrations","unlimited-users"]"#,
            1000, "100GB", 100_000, "2024-01-01T00:00:00Z"
        ])?;
        ins_tier.execute(params![
            "tier-enterprise", "Enterprise",
            r#"["advanced-reporting","priority-support","custom-integrations","unlimited-users","advanced-security"]"#,
            Option::<i64>::None, "1TB", 1_000_000, "2024-01-01T00:00:00Z"
        ])?;
        ins_tier.execute(params!["tier-basic", "Basic", r#"["priority-support"]"#, 10, "5GB", 10_000, "2024-01-01T00:00:00Z"])?;
        let mut ins_org = tx.prepare(
            "INSERT INTO organizations (id, name, name_fold, slug, logo, premium_tier_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )?;
        ins_org.execute(params!["org-123", "Acme Corporation", fold("Acme Corporation"), "acme-corp", "https://example.com/logos/acme.png", "tier-premium", "2024-01-10T08:00:00Z"])?;
        ins_org.execute(params!["org-456", "Tech Startup Inc", fold("Tech Startup Inc"), "tech-startup", Option::<String>::None, Option::<String>::None, "2024-01-18T12:30:00Z"])?;
        let mut ins_user = tx.prepare(
            "INSERT INTO users (id, name, first_name, last_name, email, email_fold, search_fold, phone, dob, role, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        )?;
        ins_user.execute(params!["user-789", "John Doe", "John", "Doe", "john@acme.com", "john@acme.com", search_text("John Doe", "john@acme.com"), "+60123456789", "1980-05-01", "admin", "2024-01-12T09:00:00Z"])?;
        ins_user.execute(params!["user-123", "Jane Smith", "Jane", "Smith", "jane@acme.com", "jane@acme.com", search_text("Jane Smith", "jane@acme.com"), "+1234567890", "1985-03-20", "customer", "2024-01-15T14:30:00Z"])?;
        let mut ins_mem = tx.prepare("INSERT INTO memberships (id, user_id, organization_id, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        ins_mem.execute(params!["member-456", "user-789", "org-123", "admin", "2024-01-15T10:30:00Z"])?;
        ins_mem.execute(params!["member-789", "user-123", "org-123", "customer", "2024-01-20T14:15:00Z"])?;
        ins_mem.execute(params!["member-790", "user-123", "org-456", "customer", "2024-01-21T09:00:00Z"])?;

        let mut rng = StdRng::seed_from_u64(42);
        let mut org_ids = vec!["org-123".to_owned(), "org-456".to_owned()];
        let mut slugs = std::collections::HashSet::new();
        for i in 0..300 {
            let name = format!("{} {} {}", pick(&mut rng, ADJ), pick(&mut rng, NOUN), pick(&mut rng, SUFFIX));
            let mut slug = crate::domain::slugify(&name);
            if !slugs.insert(slug.clone()) || slug == "acme-corp" || slug == "tech-startup" {
                slug = format!("{slug}-{i}");
                slugs.insert(slug.clone());
            }
            let tier = match i % 7 {
                0 => Some("tier-premium"),
                1 => Some("tier-basic"),
                2 if i % 3 == 0 => Some("tier-enterprise"),
                _ => None,
            };
            let logo = (i % 4 == 0).then(|| format!("https://example.com/logos/{slug}.png"));
            let id = new_id("org");
            ins_org.execute(params![id, name, fold(&name), slug, logo, tier, crate::domain::now()])?;
            org_ids.push(id);
        }
        for i in 0..200 {
            let (f, l) = (pick(&mut rng, FIRST), pick(&mut rng, LAST));
            let name = format!("{f} {l}");
            let email = format!("{}.{}{i}@example.com", fold(f), fold(l).replace('\'', ""));
            let role = if i % 50 == 0 { "admin" } else { "customer" };
            let id = new_id("user");
            ins_user.execute(params![id, name, f, l, email, fold(&email), search_text(&name, &email), Option::<String>::None, Option::<String>::None, role, crate::domain::now()])?;
            let k = rng.gen_range(0..4);
            let mut chosen = std::collections::HashSet::new();
            for _ in 0..k {
                let org = &org_ids[rng.gen_range(0..org_ids.len())];
                if chosen.insert(org.clone()) {
                    let role = ["owner", "admin", "customer", "customer"][rng.gen_range(0..4)];
                    ins_mem.execute(params![new_id("member"), id, org, role, crate::domain::now()])?;
                }
            }
        }
        Ok(())
    })
}

/// One generated organization (`member_count`: the memberships the users will draw).
struct OrgRow {
    id: String,
    name: String,
    fold: String,
    slug: String,
    logo: Option<String>,
    tier: Option<usize>,
    member_count: u32,
}

/// One generated user with its memberships (`(membership id, organization index, role)`,
/// one per organization: a user who drew one organization twice joins it once).
struct UserRow {
    id: String,
    name: String,
    first: &'static str,
    last: &'static str,
    email: String,
    email_fold: String,
    search: String,
    /// (membership id, organization id, role)
    memberships: Vec<(String, String, &'static str)>,
}

enum Batch {
    Orgs(Vec<OrgRow>),
    Users(Vec<UserRow>),
}

const BATCH: u64 = 2_000;

/// The seed of the generated data: the same names, slugs and memberships on every run.
const SEED: u64 = 7;

/// The seeded draws of one organization's name: adjective, noun, suffix.
fn org_words(rng: &mut StdRng) -> [&'static str; 3] {
    [pick(rng, ADJ), pick(rng, NOUN), pick(rng, SUFFIX)]
}

/// The seeded draws of one user: first and last name, and into `joined` the organizations
/// (indexes into the `n_orgs` generated) with the role of the first draw of each.
fn user_draws(
    rng: &mut StdRng,
    n_orgs: usize,
    per_user: u64,
    joined: &mut Vec<(usize, &'static str)>,
) -> (&'static str, &'static str) {
    let (first, last) = (pick(rng, FIRST), pick(rng, LAST));
    joined.clear();
    if n_orgs > 0 {
        for _ in 0..per_user {
            let org = rng.gen_range(0..n_orgs);
            let role = if rng.gen_range(0..10) == 0 {
                "admin"
            } else {
                "customer"
            };
            if !joined.iter().any(|(o, _)| *o == org) {
                joined.push((org, role));
            }
        }
    }
    (first, last)
}

/// Each organization's member count, from a dry run of the draws the generator makes: the
/// counts go in with the organizations, so that nothing rewrites a million rows afterwards.
fn member_counts(orgs: u64, users: u64, per_user: u64) -> Vec<u32> {
    let n_orgs = usize::try_from(orgs).unwrap_or(0);
    let mut counts = vec![0u32; n_orgs];
    let mut rng = StdRng::seed_from_u64(SEED);
    for _ in 0..orgs {
        org_words(&mut rng);
    }
    let mut joined = Vec::new();
    for _ in 0..users {
        user_draws(&mut rng, n_orgs, per_user, &mut joined);
        for (org, _) in &joined {
            counts[*org] += 1;
        }
    }
    counts
}

/// The text of one batch of rows for a search index: (rowid, indexed text), rowids
/// counted from 1 in the order the rows are generated.
enum FtsRows {
    Orgs(Vec<(i64, String)>),
    Users(Vec<(i64, String)>),
}

/// Sends the indexed text of `rows` (generated rows `first`.. on) to the search index
/// builder, if there is one; an error if it has stopped (its own error says why).
fn send_text<R>(
    fts: Option<&std::sync::mpsc::SyncSender<FtsRows>>,
    first: u64,
    rows: &[R],
    text: impl Fn(&R) -> &String,
    wrap: fn(Vec<(i64, String)>) -> FtsRows,
) -> Result<()> {
    let Some(fts) = fts else {
        return Ok(());
    };
    let text = (first..)
        .zip(rows)
        .map(|(i, row)| (rid_of(i), text(row).clone()))
        .collect();
    fts.send(wrap(text))
        .map_err(|_| crate::storage::DbError::Internal("the search index builder stopped".into()))
}

/// The rowid of the `i`th (from 0) generated row.
fn rid_of(i: u64) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX - 1) + 1
}

/// Generates the rows (names, folds, slugs, ids) on its own thread, so that the loading
/// thread does nothing but database work; batches travel over a short bounded channel.
/// With `fts`, the text of each batch also goes to the thread that builds the search
/// indexes ([`build_fts`]).
fn generate(
    orgs: u64,
    users: u64,
    per_user: u64,
    tiers: usize,
    out: &std::sync::mpsc::SyncSender<Batch>,
    fts: Option<&std::sync::mpsc::SyncSender<FtsRows>>,
) -> Result<()> {
    let counts = member_counts(orgs, users, per_user);
    // The memberships name their organizations by id; the lookups (random, over tens of MB
    // at a million) are done here rather than on the loading thread.
    let mut org_ids = OrgIds::with_capacity(orgs);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut i = 0;
    while i < orgs {
        let n = BATCH.min(orgs - i);
        let mut batch = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for i in i..i + n {
            let [adj, noun, suffix] = org_words(&mut rng);
            let mut name = format!("{adj} {noun} {suffix}");
            if i % 10 == 0 {
                // A rare word: six characters of an id's random part.
                let token = new_id("x");
                name.push(' ');
                name.push_str(&token[token.len() - 6..].to_ascii_uppercase());
            }
            let id = new_id("org");
            org_ids.push(&id)?;
            let slug = format!("{}-{}", crate::domain::slugify(&name), &id[id.len() - 10..]);
            let tier =
                (tiers > 0 && i % 5 == 0).then(|| usize::try_from(i / 5).unwrap_or(0) % tiers);
            let logo = (i % 3 == 0).then(|| format!("https://example.com/logos/{slug}.png"));
            let member_count = counts[usize::try_from(i).unwrap_or(0)];
            batch.push(OrgRow {
                fold: fold(&name),
                id,
                name,
                slug,
                logo,
                tier,
                member_count,
            });
        }
        send_text(fts, i, &batch, |o| &o.fold, FtsRows::Orgs)?;
        if out.send(Batch::Orgs(batch)).is_err() {
            return Ok(());
        }
        i += n;
    }
    drop(counts);
    let n_orgs = usize::try_from(orgs).unwrap_or(0);
    let mut joined = Vec::new();
    let mut i = 0;
    while i < users {
        let n = BATCH.min(users - i);
        let mut batch = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for _ in 0..n {
            let (first, last) = user_draws(&mut rng, n_orgs, per_user, &mut joined);
            let name = format!("{first} {last}");
            let id = new_id("user");
            let email = format!(
                "{}.{}.{}@example.com",
                fold(first),
                fold(last).replace('\'', ""),
                &id[id.len() - 12..]
            );
            let memberships = joined
                .iter()
                .map(|&(org, role)| (new_id("member"), org_ids.get(org).to_owned(), role))
                .collect();
            batch.push(UserRow {
                email_fold: fold(&email),
                search: search_text(&name, &email),
                id,
                name,
                first,
                last,
                email,
                memberships,
            });
        }
        send_text(fts, i, &batch, |u| &u.search, FtsRows::Users)?;
        if out.send(Batch::Users(batch)).is_err() {
            return Ok(());
        }
        i += n;
    }
    Ok(())
}

/// The generated organizations' ids, in order, packed end to end (every id has the same
/// length): a few dozen MB at a million, where a `Vec<String>` took twice that.
struct OrgIds {
    packed: String,
    len: usize,
}

impl OrgIds {
    fn with_capacity(n: u64) -> Self {
        let len = new_id("org").len();
        Self {
            packed: String::with_capacity(usize::try_from(n).unwrap_or(0).saturating_mul(len)),
            len,
        }
    }

    fn push(&mut self, id: &str) -> Result<()> {
        if id.len() != self.len {
            return Err(crate::storage::DbError::Internal(format!(
                "seed: organization id {id} is not {} bytes long",
                self.len
            )));
        }
        self.packed.push_str(id);
        Ok(())
    }

    fn get(&self, i: usize) -> &str {
        &self.packed[i * self.len..(i + 1) * self.len]
    }
}

/// Bulk synthetic data: `orgs` organizations, `users` users, each in `per_user` organizations.
///
/// Runs on a connection of its own, in one transaction: triggers and secondary indexes are
/// lifted for the load (the indexes are built once at the end), the search indexes are built
/// beside the load on a thread of their own when the tables start empty ([`build_fts`]; over
/// rows already there they are rebuilt at the end instead), member counts go in with the
/// organizations (computed beforehand from the same
/// draws), foreign keys are not checked row by row (the generator only references rows it
/// made), and when no other connection has the file open the load goes through a rollback
/// journal instead of the WAL, so that gigabytes are written once rather than into the WAL
/// and again by the checkpoint. Memory stays bounded: rows stream through in batches, the
/// page cache is [`SEED_CACHE_MIB`], and index builds sort in temporary files. The file is
/// in WAL mode again when this returns.
pub fn bulk(
    cfg: &crate::config::DatabaseConfig,
    orgs: u64,
    users: u64,
    per_user: u64,
    progress: &dyn Fn(&str, u64, u64),
) -> Result<()> {
    if !cfg.url.trim().is_empty() {
        return bulk_postgres(cfg, orgs, users, per_user, progress);
    }
    let started = std::time::Instant::now();
    let mut conn =
        crate::storage::open_migrated(cfg).map_err(|e| crate::storage::DbError::Internal(e.0))?;
    let rollback_journal = conn
        .query_row("PRAGMA journal_mode = TRUNCATE", (), |r| {
            r.get::<_, String>(0)
        })
        .is_ok_and(|m| m.eq_ignore_ascii_case("truncate"));
    log::info!(
        "seed: loading through {}",
        if rollback_journal {
            "a rollback journal"
        } else {
            "the WAL (the file is open elsewhere)"
        }
    );
    // These settings are this connection's, gone when it closes. A bounded page cache: the
    // tables and most indexes grow at their end, and the sorter of an index build (which
    // takes as much memory again) spills to temporary files, not to memory.
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -{}; PRAGMA temp_store = FILE;",
        SEED_CACHE_MIB * 1024
    ))?;
    let loaded = load(&mut conn, cfg, orgs, users, per_user, progress, started);
    if loaded.is_err() {
        // (The scratch file is gone already; detached before the switch back to WAL below,
        // which applies to every attached file.)
        let _ = conn.execute_batch("DETACH DATABASE seed_fts");
    }
    // Back to WAL whether the load succeeded or not: a failed seed leaves the file as it was.
    let restored = if rollback_journal {
        conn.query_row("PRAGMA journal_mode = WAL", (), |r| r.get::<_, String>(0))
            .map_err(crate::storage::DbError::from)
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(())
                } else {
                    Err(crate::storage::DbError::Internal(format!(
                        "cannot switch the database back to WAL (got {mode})"
                    )))
                }
            })
    } else {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |_| Ok(()))
            .map_err(crate::storage::DbError::from)
    };
    loaded?;
    restored
}

/// The load of [`bulk`] on SQLite, in one transaction on `conn` (set up by [`bulk`]).
fn load(
    conn: &mut rusqlite::Connection,
    cfg: &crate::config::DatabaseConfig,
    orgs: u64,
    users: u64,
    per_user: u64,
    progress: &dyn Fn(&str, u64, u64),
    started: std::time::Instant,
) -> Result<()> {
    // The search indexes can be built beside the load (on a thread of their own, into a
    // scratch file, copied in at the end: see [`build_fts`]) when the tables start empty; over
    // rows already there they are rebuilt over all rows afterwards, as one pass. The scratch
    // file is named after this process, so that no other seed can be using it, and attached
    // before the transaction (ATTACH cannot be run inside one).
    let side = cfg.path.to_str().map(|_| SideFile::new(&cfg.path));
    if let Some(file) = &side {
        file.remove();
        let path = file.path.to_str().unwrap_or_default();
        conn.execute("ATTACH DATABASE ?1 AS seed_fts", [path])?;
    }
    // BEGIN IMMEDIATE would take a write lock on the attached file too, and the builder could
    // not write it. A write to the database alone as the first statement takes the same lock
    // on the database, waiting for it as IMMEDIATE does; whether the tables are empty is
    // decided under it.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    tx.execute_batch("UPDATE main.counters SET value = value WHERE name = 'organizations'")?;
    let empty: bool = tx.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM organizations) AND NOT EXISTS (SELECT 1 FROM users) \
         AND NOT EXISTS (SELECT 1 FROM fts_pending)",
        (),
        |r| r.get(0),
    )?;
    let beside = match &side {
        Some(file) if empty => {
            let schema: Vec<String> = tx
                .prepare(
                    "SELECT sql FROM main.sqlite_master WHERE type = 'table' \
                     AND name IN ('organizations_fts', 'users_fts') ORDER BY name",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Some((file.path.clone(), schema))
        }
        _ => None,
    };
    // Building an index once over sorted data beats millions of random insertions.
    let lifted: Vec<(String, String, String)> = tx
        .prepare(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') AND sql IS NOT NULL \
             AND tbl_name IN ('organizations', 'users', 'memberships')",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, name, _) in &lifted {
        let kind = if kind == "index" { "INDEX" } else { "TRIGGER" };
        tx.execute_batch(&format!("DROP {kind} \"{}\"", name.replace('"', "\"\"")))?;
    }
    let tiers: Vec<String> = tx
        .prepare("SELECT id FROM premium_tiers")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let n_tiers = tiers.len();
    // The threads are joined on every way out of this function, before the scratch file is
    // removed: each guard joins its thread when dropped, and locals drop in reverse order of
    // declaration (the batches' receiver, then the generator, then the builder, then the file).
    let (fts_send, builder) = match beside {
        Some((path, schema)) => {
            let (fts_send, fts_rows) = std::sync::mpsc::sync_channel(8);
            let builder = Joined::spawn("invois-seed-fts", move || {
                build_fts(&path, &schema, &fts_rows)
            })?;
            (Some(fts_send), Some(builder))
        }
        None => (None, None),
    };
    let (send, batches) = std::sync::mpsc::sync_channel(4);
    let generator = Joined::spawn("invois-seed-gen", move || {
        generate(orgs, users, per_user, n_tiers, &send, fts_send.as_ref())
    })?;
    // Dropped before the generator is joined: a generator blocked on a full channel then
    // sees the receiver gone and stops.
    let batches = batches;
    // With the search indexes built beside, each row's rowid is given: the one its text
    // was indexed under.
    let rid = |i: u64| builder.is_some().then(|| rid_of(i));
    {
        let mut ins_org = tx.prepare(
            "INSERT INTO organizations (rid, id, name, name_fold, slug, logo, premium_tier_id, member_count, created_at, updated_at) \
             VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        let mut ins_user = tx.prepare(
            "INSERT INTO users (rid, id, name, first_name, last_name, email, email_fold, search_fold, phone, dob, role, created_at, updated_at) \
             VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, 'customer', ?8, ?8)",
        )?;
        let mut ins_mem = tx.prepare("INSERT INTO memberships (id, user_id, organization_id, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let now = crate::domain::now();
        let mut orgs_done = 0;
        let mut users_done = 0;
        for batch in batches {
            match batch {
                Batch::Orgs(rows) => {
                    for o in rows {
                        let tier = o.tier.map(|t| &tiers[t]);
                        ins_org.execute(rusqlite::params![
                            o.id,
                            o.name,
                            o.fold,
                            o.slug,
                            o.logo,
                            tier,
                            o.member_count,
                            now,
                            rid(orgs_done)
                        ])?;
                        orgs_done += 1;
                    }
                    progress("organizations", orgs_done, orgs);
                    if orgs_done == orgs {
                        log::info!(
                            "seed: organizations inserted after {:.1}s",
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
                Batch::Users(rows) => {
                    for u in rows {
                        ins_user.execute(rusqlite::params![
                            u.id,
                            u.name,
                            u.first,
                            u.last,
                            u.email,
                            u.email_fold,
                            u.search,
                            now,
                            rid(users_done)
                        ])?;
                        users_done += 1;
                        for (mid, org, role) in u.memberships {
                            ins_mem.execute(rusqlite::params![mid, u.id, org, role, now])?;
                        }
                    }
                    progress("users", users_done, users);
                }
            }
        }
    }
    if let Err(e) = generator.join() {
        // A generator that stopped because the builder did: the builder's error says why.
        if let Some(builder) = builder {
            builder.join()?;
        }
        return Err(e);
    }
    log::info!(
        "seed: users and memberships inserted after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    progress("indexes", 0, 1);
    if builder.is_none() {
        // (A larger FTS5 `hashsize` than the default 1 MiB made the rebuild slower.)
        tx.execute_batch(&format!(
            "INSERT INTO organizations_fts (organizations_fts) VALUES ('rebuild'); \
             INSERT INTO users_fts (users_fts) VALUES ('rebuild'); {OPTIMIZE_FTS}"
        ))?;
        log::info!(
            "seed: search indexes rebuilt after {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    // Index builds read the tables in order and append to the new index: they need little
    // page cache, and the sorter's runs are as large as the cache (smaller runs sorted faster
    // here: 10-11 s for all the indexes at a million, against 13 s with the load's cache).
    tx.execute_batch(&format!(
        "PRAGMA main.cache_size = -{};",
        SEED_INDEX_CACHE_MIB * 1024
    ))?;
    for (_, _, sql) in lifted.iter().filter(|(kind, _, _)| kind == "index") {
        tx.execute_batch(sql)?;
    }
    log::info!(
        "seed: secondary indexes built after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    if let Some(builder) = builder {
        builder.join()?;
        // The FTS5 tables' own storage, table by table: the same tokenizer and options
        // (the schema was copied from this file) over the same rowids and text give the
        // same index. The triggers are lifted and nothing read these tables in this
        // transaction, so no cached state of theirs is left behind. The configuration
        // (`_config`) stays this file's own.
        for fts in ["organizations_fts", "users_fts"] {
            for part in ["data", "idx", "docsize"] {
                tx.execute_batch(&format!(
                    "DELETE FROM main.{fts}_{part}; \
                     INSERT INTO main.{fts}_{part} SELECT * FROM seed_fts.{fts}_{part};"
                ))?;
            }
        }
        log::info!(
            "seed: search indexes (built beside) copied in after {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    tx.execute_batch(
        "UPDATE counters SET value = (SELECT count(*) FROM organizations) WHERE name = 'organizations'; \
         UPDATE counters SET value = (SELECT count(*) FROM users) WHERE name = 'users'; \
         UPDATE counters SET value = value + 1 WHERE name IN ('organizations_version', 'org_details_version');",
    )?;
    for (_, _, sql) in lifted.iter().filter(|(kind, _, _)| kind == "trigger") {
        tx.execute_batch(sql)?;
    }
    tx.commit()?;
    log::info!(
        "seed: committed after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    progress("indexes", 1, 1);
    if let Some(file) = side {
        // (Before the switch back to WAL below, which applies to every attached file.)
        conn.execute_batch("DETACH DATABASE seed_fts")?;
        drop(file);
    }
    conn.execute_batch("PRAGMA optimize;")?;
    Ok(())
}

/// The file beside the database that the search indexes are built in during a seed:
/// removed (with its journal) when dropped, whether the seed succeeded or not.
struct SideFile {
    path: std::path::PathBuf,
}

impl SideFile {
    /// `<db>.seed-fts-<pid>`.
    fn new(db: &std::path::Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push(format!(".seed-fts-{}", std::process::id()));
        Self { path: path.into() }
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
        let mut journal = self.path.as_os_str().to_owned();
        journal.push("-journal");
        let _ = std::fs::remove_file(journal);
    }
}

impl Drop for SideFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A thread of the seed, joined when this is dropped if it was not joined before.
struct Joined<T> {
    handle: Option<std::thread::JoinHandle<Result<T>>>,
    name: &'static str,
}

impl<T: Send + 'static> Joined<T> {
    fn spawn(name: &'static str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<Self> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|e| crate::storage::DbError::Internal(format!("cannot start {name}: {e}")))?;
        Ok(Self {
            handle: Some(handle),
            name,
        })
    }

    /// The thread's result (a panic becomes an error).
    fn join(mut self) -> Result<T> {
        let handle = self.handle.take().unwrap_or_else(|| unreachable!());
        handle
            .join()
            .map_err(|_| crate::storage::DbError::Internal(format!("{} panicked", self.name)))?
    }
}

impl<T> Drop for Joined<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Builds the search indexes of the generated rows into the file at `path` (the tables
/// created by `schema`, the database's own statements): on its own connection and thread,
/// while the loading thread inserts the rows. Inserting (rowid, text) into an external-content
/// FTS5 table reads nothing of the content table, so the file needs no other table. Once the
/// rows are in, it merges each index into one segment ([`OPTIMIZE_FTS`]), while the loading
/// thread builds the secondary indexes.
fn build_fts(
    path: &std::path::Path,
    schema: &[String],
    rows: &std::sync::mpsc::Receiver<FtsRows>,
) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    // A scratch file: no journal, no syncs (the copy into the database is what is durable).
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -32768;",
    )?;
    for sql in schema {
        conn.execute_batch(sql)?;
    }
    conn.execute_batch("BEGIN")?;
    {
        let mut orgs =
            conn.prepare("INSERT INTO organizations_fts (rowid, name_fold) VALUES (?1, ?2)")?;
        let mut users =
            conn.prepare("INSERT INTO users_fts (rowid, search_fold) VALUES (?1, ?2)")?;
        for batch in rows {
            let (stmt, rows) = match batch {
                FtsRows::Orgs(rows) => (&mut orgs, rows),
                FtsRows::Users(rows) => (&mut users, rows),
            };
            for (rid, text) in rows {
                stmt.execute(rusqlite::params![rid, text])?;
            }
        }
    }
    conn.execute_batch(&format!("{OPTIMIZE_FTS} COMMIT"))?;
    Ok(())
}

/// One field of PostgreSQL's COPY text format.
fn copy_field(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn copy_row(out: &mut String, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        copy_field(out, *f);
    }
    out.push('\n');
}

/// [`bulk`] on PostgreSQL: the same generated rows, loaded with `COPY` in one transaction;
/// the row triggers and the secondary indexes (trigram GIN indexes included) are lifted for
/// the load, the indexes built once at the end, and the member counts go in with the rows.
fn bulk_postgres(
    cfg: &crate::config::DatabaseConfig,
    orgs: u64,
    users: u64,
    per_user: u64,
    progress: &dyn Fn(&str, u64, u64),
) -> Result<()> {
    let started = std::time::Instant::now();
    let db = crate::storage::open(cfg).map_err(|e| crate::storage::DbError::Internal(e.0))?;
    db.write_blocking(None, |tx| {
        tx.execute_batch(
            "ALTER TABLE organizations DISABLE TRIGGER USER; ALTER TABLE users DISABLE TRIGGER USER; \
             ALTER TABLE memberships DISABLE TRIGGER USER;",
        )?;
        // Every index that backs no constraint (unique keys stay: they check the load).
        let lifted: Vec<(String, String)> = tx
            .prepare(
                "SELECT quote_ident(ci.relname), pg_get_indexdef(i.indexrelid) FROM pg_index i \
                 JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_class ct ON ct.oid = i.indrelid \
                 WHERE ct.relname IN ('organizations', 'users', 'memberships') \
                 AND ct.relnamespace = to_regnamespace(current_schema()) \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
                 ORDER BY 1",
            )?
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_>>()?;
        for (name, _) in &lifted {
            tx.execute_batch(&format!("DROP INDEX {name}"))?;
        }
        let tiers: Vec<String> = tx
            .prepare("SELECT id FROM premium_tiers ORDER BY id")?
            .query_map((), |r| r.get(0))?
            .collect::<Result<_>>()?;
        let (send, batches) = std::sync::mpsc::sync_channel(4);
        let n_tiers = tiers.len();
        let generator = Joined::spawn("invois-seed-gen", move || {
            generate(orgs, users, per_user, n_tiers, &send, None)
        })?;
        // (Dropped before the generator is joined, as in [`bulk`].)
        let batches = batches;
        let now = crate::domain::now();
        let mut orgs_done = 0;
        let mut users_done = 0;
        for batch in batches {
            match batch {
                Batch::Orgs(rows) => {
                    let mut data = String::new();
                    for o in rows {
                        let tier = o.tier.map(|t| tiers[t].as_str());
                        let count = o.member_count.to_string();
                        copy_row(
                            &mut data,
                            &[Some(&o.id), Some(&o.name), Some(&o.fold), Some(&o.slug), o.logo.as_deref(), tier, Some(&count), Some(&now), Some(&now)],
                        );
                        orgs_done += 1;
                    }
                    tx.copy_in(
                        "COPY organizations (id, name, name_fold, slug, logo, premium_tier_id, member_count, created_at, updated_at) FROM STDIN",
                        data.as_bytes(),
                    )?;
                    progress("organizations", orgs_done, orgs);
                }
                Batch::Users(rows) => {
                    users_done += rows.len() as u64;
                    let (mut us, mut ms) = (String::new(), String::new());
                    for u in rows {
                        copy_row(
                            &mut us,
                            &[Some(&u.id), Some(&u.name), Some(u.first), Some(u.last), Some(&u.email), Some(&u.email_fold), Some(&u.search), None, None, Some("customer"), Some(&now), Some(&now)],
                        );
                        for (mid, org, role) in &u.memberships {
                            copy_row(&mut ms, &[Some(mid), Some(&u.id), Some(org), Some(role), Some(&now)]);
                        }
                    }
                    tx.copy_in(
                        "COPY users (id, name, first_name, last_name, email, email_fold, search_fold, phone, dob, role, created_at, updated_at) FROM STDIN",
                        us.as_bytes(),
                    )?;
                    tx.copy_in(
                        "COPY memberships (id, user_id, organization_id, role, created_at) FROM STDIN",
                        ms.as_bytes(),
                    )?;
                    progress("users", users_done, users);
                }
            }
        }
        generator.join()?;
        progress("indexes", 0, 1);
        tx.execute_batch("SET LOCAL maintenance_work_mem = '256MB'")?;
        for (_, sql) in &lifted {
            tx.execute_batch(sql)?;
        }
        tx.execute_batch(
            "UPDATE counters SET value = (SELECT count(*) FROM organizations) WHERE name = 'organizations'; \
             UPDATE counters SET value = (SELECT count(*) FROM users) WHERE name = 'users'; \
             UPDATE counters SET value = value + 1 WHERE name IN ('organizations_version', 'org_details_version'); \
             ALTER TABLE organizations ENABLE TRIGGER USER; ALTER TABLE users ENABLE TRIGGER USER; \
             ALTER TABLE memberships ENABLE TRIGGER USER;",
        )?;
        Ok(())
    })?;
    db.write_blocking(None, |tx| tx.execute_batch("ANALYZE"))?;
    progress("indexes", 1, 1);
    log::info!("seed: done after {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseConfig;

    fn config(dir: &tempfile::TempDir) -> DatabaseConfig {
        DatabaseConfig {
            path: dir.path().join("seed.db"),
            ..DatabaseConfig::default()
        }
    }

    /// The one integer `sql` selects.
    fn int(c: &rusqlite::Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// FTS5's own check of both search indexes, against their content tables too (rank 1),
    /// and each term's match count against a scan of the indexed text.
    fn assert_search_indexes_hold(cfg: &DatabaseConfig, terms: &[&str]) {
        let c = rusqlite::Connection::open(&cfg.path).unwrap();
        c.execute_batch(
            "INSERT INTO organizations_fts (organizations_fts, rank) VALUES ('integrity-check', 1); \
             INSERT INTO users_fts (users_fts, rank) VALUES ('integrity-check', 1);",
        )
        .unwrap();
        for (table, fts, col) in [
            ("organizations", "organizations_fts", "name_fold"),
            ("users", "users_fts", "search_fold"),
        ] {
            for term in terms {
                let count =
                    |sql: String| -> i64 { c.query_row(&sql, [term], |r| r.get(0)).unwrap() };
                let indexed = count(format!(
                    "SELECT count(*) FROM {fts} WHERE {fts} MATCH '\"' || ?1 || '\"'"
                ));
                let scanned = count(format!(
                    "SELECT count(*) FROM {table} WHERE instr({col}, ?1) > 0"
                ));
                assert_eq!(indexed, scanned, "{table}: {term}");
            }
        }
        assert_eq!(int(&c, "SELECT count(*) FROM fts_pending"), 0);
    }

    #[test]
    fn search_indexes_built_beside_the_load_equal_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&dir);
        bulk(&cfg, 3_000, 2_000, 3, &|_, _, _| {}).unwrap();
        // Terms that many, few and no rows hold, in names and in emails (one trigram each:
        // with detail=none, FTS5 takes no phrase of several).
        let terms = ["cof", "tra", "sdn", "tan", "fé ", "ōsa", "@ex", "zzz"];
        assert_search_indexes_hold(&cfg, &terms);
        let c = rusqlite::Connection::open(&cfg.path).unwrap();
        let (matched, all): (i64, i64) = c
            .query_row(
                "SELECT (SELECT count(*) FROM users_fts WHERE users_fts MATCH '\"exa\"'), \
                 (SELECT count(*) FROM users)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((matched, all), (2_000, 2_000));
        // The rowids are the ones the text was indexed under: 1.. in generated order.
        let (lo, hi): (i64, i64) = c
            .query_row("SELECT min(rid), max(rid) FROM organizations", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((lo, hi), (1, 3_000));
        // The side file is gone, and the database is in WAL mode again.
        assert_eq!(scratch_files(&dir), Vec::<String>::new());
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    /// The segments of each search index (as `storage::fts`'s tests count them).
    fn segments(c: &rusqlite::Connection) -> (i64, i64) {
        let count = |fts: &str| int(c, &format!("SELECT count(DISTINCT segid) FROM {fts}_idx"));
        (count("organizations_fts"), count("users_fts"))
    }

    /// Enough users for FTS5 to write several segments while it indexes them (three at
    /// 20,000): the seed merges each index into one.
    #[test]
    fn a_seed_leaves_each_search_index_in_one_segment() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&dir);
        bulk(&cfg, 3_000, 20_000, 1, &|_, _, _| {}).unwrap();
        let c = rusqlite::Connection::open(&cfg.path).unwrap();
        assert_eq!(segments(&c), (1, 1));
        assert_search_indexes_hold(&cfg, &["cof", "tan", "@ex", "zzz"]);
    }

    /// The seed's scratch files left in `dir`.
    fn scratch_files(dir: &tempfile::TempDir) -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".seed-fts"))
            .collect()
    }

    /// A seed that fails once its threads run (here: a unique index of the database's own that
    /// the generated names break, rebuilt after the load) joins them, removes its scratch
    /// file and leaves the database as it was, in WAL mode.
    #[test]
    fn a_seed_that_fails_midway_leaves_the_database_and_no_scratch_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&dir);
        let c = crate::storage::open_migrated(&cfg).unwrap();
        c.execute_batch("CREATE UNIQUE INDEX organizations_one_name ON organizations (name)")
            .unwrap();
        drop(c);
        let err = bulk(&cfg, 3_000, 1_000, 2, &|_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        assert_eq!(scratch_files(&dir), Vec::<String>::new());
        let c = rusqlite::Connection::open(&cfg.path).unwrap();
        let (orgs, users, indexed, mode): (i64, i64, i64, String) = c
            .query_row(
                "SELECT (SELECT count(*) FROM organizations), (SELECT count(*) FROM users), \
                 (SELECT count(*) FROM organizations_fts_docsize), \
                 (SELECT journal_mode FROM pragma_journal_mode)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((orgs, users, indexed, mode.as_str()), (0, 0, 0, "wal"));
        let kept = "SELECT count(*) FROM sqlite_master WHERE name = 'organizations_one_name'";
        assert_eq!(int(&c, kept), 1);
    }

    #[test]
    fn a_seed_over_rows_already_there_rebuilds_the_search_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&dir);
        let db = crate::storage::open(&cfg).unwrap();
        demo(&db).unwrap();
        drop(db);
        bulk(&cfg, 500, 400, 2, &|_, _, _| {}).unwrap();
        assert_search_indexes_hold(&cfg, &["acm", "n d", "cof", "tan", "zzz"]);
        assert_eq!(scratch_files(&dir), Vec::<String>::new());
        let c = rusqlite::Connection::open(&cfg.path).unwrap();
        assert_eq!(int(&c, "SELECT count(*) FROM organizations"), 2 + 300 + 500);
    }
}
