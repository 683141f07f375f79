//! Sample data (`--demo`) and bulk synthetic data for benchmarks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};

use crate::domain::{fold, new_id};
use crate::error::Result;
use crate::storage::users::search_text;
use crate::storage::Db;

/// Whether the database holds no organizations and no users yet.
pub fn is_empty(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM users)",
        [],
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
    db.write_blocking(|tx| {
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

/// Bulk synthetic data: `orgs` organizations, `users` users, each in `per_user` organizations.
/// Triggers are lifted for the load (the FTS index is rebuilt and member counts recomputed
/// once at the end), all in one transaction with prepared statements.
pub fn bulk(
    db: &Db,
    orgs: u64,
    users: u64,
    per_user: u64,
    progress: &dyn Fn(&str, u64, u64),
) -> Result<()> {
    let started = std::time::Instant::now();
    db.write_blocking(|tx| {
        // A cache large enough that the load does not spill pages to the WAL mid-transaction.
        tx.execute_batch("PRAGMA cache_size = -1000000")?;
        // Triggers and secondary indexes are lifted for the load and put back at the end:
        // building an index once over sorted data beats millions of random insertions.
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
        let mut rng = StdRng::seed_from_u64(7);
        let tiers: Vec<String> = tx.prepare("SELECT id FROM premium_tiers")?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        let mut org_ids: Vec<String> = Vec::with_capacity(usize::try_from(orgs).unwrap_or(0));
        {
            let mut ins = tx.prepare(
                "INSERT INTO organizations (id, name, name_fold, slug, logo, premium_tier_id, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?;
            let now = crate::domain::now();
            for i in 0..orgs {
                let mut name = format!("{} {} {}", pick(&mut rng, ADJ), pick(&mut rng, NOUN), pick(&mut rng, SUFFIX));
                if i % 10 == 0 {
                    // A rare word: six characters of an id's random part.
                    let token = crate::domain::new_id("x");
                    name = format!("{name} {}", token[token.len() - 6..].to_ascii_uppercase());
                }
                let id = new_id("org");
                let slug = format!("{}-{}", crate::domain::slugify(&name), &id[id.len() - 10..]);
                let tier = if !tiers.is_empty() && i % 5 == 0 { Some(&tiers[(i as usize / 5) % tiers.len()]) } else { None };
                let logo = (i % 3 == 0).then(|| format!("https://example.com/logos/{slug}.png"));
                ins.execute(params![id, name, fold(&name), slug, logo, tier, now])?;
                org_ids.push(id);
                if i % 10_000 == 0 {
                    progress("organizations", i, orgs);
                }
            }
            progress("organizations", orgs, orgs);
            log::info!("seed: organizations inserted after {:.1}s", started.elapsed().as_secs_f64());
        }
        {
            let mut ins_user = tx.prepare(
                "INSERT INTO users (id, name, first_name, last_name, email, email_fold, search_fold, phone, dob, role, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, 'customer', ?8, ?8)",
            )?;
            let mut ins_mem = tx.prepare("INSERT OR IGNORE INTO memberships (id, user_id, organization_id, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            let now = crate::domain::now();
            let total = users;
            for i in 0..users {
                let (f, l) = (pick(&mut rng, FIRST), pick(&mut rng, LAST));
                let name = format!("{f} {l}");
                let id = new_id("user");
                let email = format!("{}.{}.{}@example.com", fold(f), fold(l).replace('\'', ""), &id[id.len() - 12..]);
                ins_user.execute(params![id, name, f, l, email, fold(&email), search_text(&name, &email), now])?;
                if !org_ids.is_empty() {
                    for _ in 0..per_user {
                        let org = &org_ids[rng.gen_range(0..org_ids.len())];
                        let role = if rng.gen_range(0..10) == 0 { "admin" } else { "customer" };
                        ins_mem.execute(params![new_id("member"), id, org, role, now])?;
                    }
                }
                if i % 10_000 == 0 {
                    progress("users", i, total);
                }
            }
            progress("users", total, total);
            log::info!("seed: users and memberships inserted after {:.1}s", started.elapsed().as_secs_f64());
        }
        progress("indexes", 0, 1);
        tx.execute_batch(
            "INSERT INTO organizations_fts (organizations_fts) VALUES ('rebuild'); \
             INSERT INTO users_fts (users_fts) VALUES ('rebuild');",
        )?;
        log::info!("seed: search indexes rebuilt after {:.1}s", started.elapsed().as_secs_f64());
        for (_, _, sql) in lifted.iter().filter(|(kind, _, _)| kind == "index") {
            tx.execute_batch(sql)?;
        }
        log::info!("seed: secondary indexes built after {:.1}s", started.elapsed().as_secs_f64());
        // Recounted for every organization: cheaper than a trigger per membership row.
        tx.execute_batch(
            "UPDATE organizations SET member_count = (SELECT count(*) FROM memberships m WHERE m.organization_id = organizations.id)",
        )?;
        tx.execute_batch(
            "UPDATE counters SET value = (SELECT count(*) FROM organizations) WHERE name = 'organizations'; \
             UPDATE counters SET value = (SELECT count(*) FROM users) WHERE name = 'users'; \
             UPDATE counters SET value = value + 1 WHERE name = 'organizations_version';",
        )?;
        for (_, _, sql) in lifted.iter().filter(|(kind, _, _)| kind == "trigger") {
            tx.execute_batch(sql)?;
        }
        progress("indexes", 1, 1);
        log::info!("seed: member counts done after {:.1}s", started.elapsed().as_secs_f64());
        Ok(())
    })?;
    db.write_untracked(|tx| Ok(tx.execute_batch("PRAGMA cache_size = -16000; PRAGMA optimize;")?))
}
