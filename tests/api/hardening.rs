//! What an attacker, a slow client or a swapped file can do, and the bounded, JSON,
//! nothing-lost outcome each gets (issue 11). Each test reproduces the attack or fault.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::start_binary;

const BIN: &str = env!("CARGO_BIN_EXE_invois");

/// A key made by the CLI on `db`: (plaintext, id part as it appears in the key).
fn cli_key(db: &Path) -> String {
    let out = Command::new(BIN)
        .args(["keys", "create", "--name", "hardening", "--json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["key"].as_str().unwrap().to_owned()
}

/// The peak resident set (`VmHWM`) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn guessing_secrets_of_a_real_key_id_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guess.db");
    let key = cli_key(&db);
    // Wrong secrets for the key's real id: each one costs a full argon2 verification.
    let prefix = &key[..key.rfind('_').unwrap() + 1];
    let (mut child, base) = start_binary(
        &db,
        &[
            // The throttle out of the way, so that every guess reaches argon2.
            ("INVOIS_RATE_LIMIT__AUTH_PER_SECOND", "100000"),
            ("INVOIS_RATE_LIMIT__AUTH_BURST", "100000"),
            ("INVOIS_AUTH__MAX_CONCURRENT_VERIFICATIONS", "2"),
            ("INVOIS_LOG__LEVEL", "error"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let mut rounds = Vec::new();
    for round in 0..6u32 {
        let tasks: Vec<_> = (0..20u32)
            .map(|i| {
                let client = client.clone();
                let url = format!("{base}/api/integrations/users");
                let guess = format!("{prefix}{:064x}", u64::from(round * 100 + i));
                tokio::spawn(async move {
                    client
                        .get(url)
                        .header("X-Invois-Key", guess)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 401);
        }
        rounds.push(peak_rss_kib(child.id()));
    }
    let _ = child.kill();
    let _ = child.wait();
    let peak = *rounds.iter().max().unwrap();
    eprintln!("peak RSS per round of 20 wrong secrets: {rounds:?} KiB");
    assert!(
        peak < 128 * 1024,
        "peak RSS {} MiB after 120 wrong secrets (per round: {:?} KiB)",
        peak / 1024,
        rounds
    );
}
