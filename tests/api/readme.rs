//! The README's examples are true: every shell block of its "The API" section runs, top to
//! bottom, against the sandbox that `make run` starts (`invois serve --demo` on a fresh
//! database), with the key that the sandbox prints.
//!
//! Each `curl` must answer 2xx (or 304), unless the command's trailing comment, or the
//! comment lines right above it, say `-> NNN`: then exactly NNN. Commands run under
//! `set -euo pipefail`, so a failing `jq` or a shell error fails the test too. The README's
//! `export K=…` and `export B=…` lines are the reader's; the test sets both itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::free_port;

/// The shell blocks of the section headed `## {section}`.
fn shell_blocks(readme: &str, section: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_section = false;
    let mut block: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        if line.starts_with("## ") {
            in_section = line.trim_start_matches("## ").trim() == section;
            continue;
        }
        if !in_section {
            continue;
        }
        match &mut block {
            None if line.trim_start().starts_with("```sh") => block = Some((i + 2, String::new())),
            Some(_) if line.trim_start().starts_with("```") => out.extend(block.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

/// The status a command expects, from `-> NNN` in `comment`.
fn expected_status(comment: &str) -> Option<String> {
    let at = comment.find("-> ")?;
    let code: String = comment[at + 3..].chars().take(3).collect();
    (code.len() == 3 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// The script that runs a block: continuation lines joined, and before each command that
/// calls `curl`, the status it must get and its README line.
fn instrument(first_line: usize, block: &str) -> String {
    let mut script = String::new();
    let mut pending: Option<String> = None;
    let mut logical = String::new();
    let mut start = first_line;
    for (i, line) in block.lines().enumerate() {
        if logical.is_empty() {
            start = first_line + i;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let trimmed = logical.trim();
        if trimmed.starts_with('#') {
            if let Some(code) = expected_status(trimmed) {
                pending = Some(code);
            }
        } else if trimmed.is_empty() {
            pending = None;
        } else if trimmed.starts_with("export K=") || trimmed.starts_with("export B=") {
            // The reader's own key and address: the test sets both for the sandbox it starts.
        } else if trimmed.contains("curl ") {
            let trailing = trimmed.rsplit_once(" # ").map_or("", |(_, c)| c);
            let want = expected_status(trailing)
                .or(pending.take())
                .unwrap_or_else(|| "2xx".to_owned());
            script.push_str(&format!("EXPECT={want}; LINE={start}; {trimmed}\n"));
        } else {
            script.push_str(trimmed);
            script.push('\n');
            pending = None;
        }
        logical.clear();
    }
    script
}

const PRELUDE: &str = r#"set -euo pipefail
curl() {
  local res code
  res=$(command curl -sS "$@" -w '\n@@%{http_code}')
  code=${res##*@@}
  printf '%s\n' "${res%@@*}"
  if [[ "$EXPECT" == 2xx ]]; then
    [[ "$code" == 2* || "$code" == 304 ]] && return 0
  elif [[ "$code" == "$EXPECT" ]]; then
    return 0
  fi
  echo "README line $LINE: answered $code, expected $EXPECT" >&2
  return 1
}
"#;

#[test]
fn instrument_reads_expected_statuses_from_comments() {
    let block = "# Delete -> 204\ncurl -X DELETE \"$B/x\" \\\n  -H 'k: v'\ncurl \"$B/y\"   # -> 409 taken\necho done\n";
    assert_eq!(
        instrument(10, block),
        "EXPECT=204; LINE=11; curl -X DELETE \"$B/x\"    -H 'k: v'\n\
         EXPECT=409; LINE=13; curl \"$B/y\"   # -> 409 taken\n\
         echo done\n"
    );
}

#[tokio::test]
async fn every_readme_example_runs_in_order_against_the_sandbox() {
    if Command::new("jq").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "jq is needed for the README examples (CI installs it)"
        );
        eprintln!("SKIPPED: the README examples need jq (apt-get install jq)");
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks = shell_blocks(&readme, "The API");
    assert!(blocks.len() >= 5, "the API section has its examples");

    // `make run`: serve --demo on a fresh database; it prints a ready key.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
        .args(crate::helpers::fresh_engine_args(
            &dir.path().join("invois.db"),
        ))
        .env_remove("INVOIS_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start invois");
    let stdout = child.stdout.take().unwrap();
    let key = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                let t = l.trim();
                t.starts_with("invois_").then(|| t.to_owned())
            })
    })
    .await
    .unwrap()
    .expect("the sandbox prints a key");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mut script = String::from(PRELUDE);
    for (line, block) in &blocks {
        script.push_str(&instrument(*line, block));
    }
    let script_path = dir.path().join("readme.sh");
    std::fs::write(&script_path, &script).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(&script_path)
            .env("K", &key)
            .env("B", format!("{base}/api/integrations"))
            .output()
            .expect("run bash")
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "a README example failed:\n{}\n--- stdout (last 4000 bytes) ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
            .chars()
            .rev()
            .take(4000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
}
