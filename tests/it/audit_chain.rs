//! The audit log across months and files, through the real binary's
//! `audit verify`: each month chains from the one before (a deleted month is
//! named), every damaged record is named (not only the first), a long-lived
//! writer whose month file is removed or replaced reopens it and records the
//! loss, and logs written before months chained still verify.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use windflow::audit::local::{file_name, head_path};
use windflow::audit::{Audit, AuditSink, LocalLog, SecurityEvent};
use windflow::crypto::{Keyring, MasterKey};

use crate::support::cli::CliEnv;

/// Months long past: their records are written in-process with backdated
/// timestamps, before the binary writes the current month.
const FIRST: &str = "2025-05";
const EARLIER: &str = "2025-06";

/// An env whose master key file the test also holds.
fn keyed_env() -> (CliEnv, Arc<Keyring>) {
    let env = CliEnv::new().recording_as("ops");
    let key = MasterKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(env.data().join("master.key"))
        .unwrap();
    std::io::Write::write_all(
        &mut file,
        format!("{}\n", key.to_base64().as_str()).as_bytes(),
    )
    .unwrap();
    (env, Arc::new(Keyring::new(key)))
}

fn audit_dir(env: &CliEnv) -> PathBuf {
    env.data().join("audit")
}

/// `n` records in `month`, written as the product writes them.
fn backdated(env: &CliEnv, ring: &Arc<Keyring>, month: &str, n: usize) {
    let log = LocalLog::with_keyring(audit_dir(env), ring.clone());
    for i in 0..n {
        let mut ev = SecurityEvent::new("secret_read", Some("bob"), serde_json::json!({ "n": i }));
        ev.timestamp = format!("{month}-{:02}T08:00:00.000Z", i + 1);
        log.record(&ev).unwrap();
    }
}

fn log_current(env: &CliEnv, user: &str) -> String {
    let ev = env.json(&["audit", "log", "--type", "probe", "--user", user, "--json"]);
    ev["timestamp"].as_str().unwrap()[..7].to_owned()
}

/// `audit verify` in text and JSON: exit code, text, document.
fn verify(env: &CliEnv) -> (i32, String, Value) {
    let out = env.run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = env.run(&["audit", "verify", "--json"]);
    assert_eq!(json.status.code(), out.status.code(), "{text}");
    let doc = serde_json::from_slice(&json.stdout).unwrap();
    (out.status.code().unwrap(), text, doc)
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    std::fs::write(p, lines.join("\n") + "\n").unwrap();
}

#[test]
fn months_deleted_with_their_heads_are_each_named_missing() {
    let (env, ring) = keyed_env();
    backdated(&env, &ring, FIRST, 2);
    backdated(&env, &ring, EARLIER, 3);
    let now = log_current(&env, "alice");
    log_current(&env, "carol");
    let current = audit_dir(&env).join(file_name(&now));
    // The current month's first record chains from the earlier month's last,
    // and names the months before it.
    let first = lines(&current).remove(0);
    assert!(
        first.contains(&format!("\"prev\":{{\"month\":\"{EARLIER}\",\"seq\":3,")),
        "{first}"
    );
    assert!(
        first.contains(&format!("\"earlier\":[\"{FIRST}\"]")),
        "{first}"
    );
    let (code, text, doc) = verify(&env);
    assert_eq!(code, 0, "{text}");
    assert_eq!(doc["records"], 7);

    let delete = |month: &str| {
        let log = audit_dir(&env).join(file_name(month));
        std::fs::remove_file(&log).unwrap();
        std::fs::remove_file(head_path(&log)).unwrap();
    };
    let missing = |doc: &Value| -> Vec<String> {
        doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["file"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    delete(EARLIER);
    let (code, text, doc) = verify(&env);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("TAMPERED"), "{text}");
    assert!(
        text.contains(&format!("the log of {EARLIER} is missing")),
        "{text}"
    );
    assert_eq!(missing(&doc), [file_name(EARLIER)], "{doc}");

    // Two months in a row: each is named.
    delete(FIRST);
    let (code, text, doc) = verify(&env);
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        missing(&doc),
        [file_name(FIRST), file_name(EARLIER)],
        "{doc}"
    );
    assert!(
        text.contains(&format!("the log of {FIRST} is missing")),
        "{text}"
    );
}

#[test]
fn every_damaged_record_is_named_in_each_month() {
    let (env, ring) = keyed_env();
    backdated(&env, &ring, EARLIER, 4);
    let now = log_current(&env, "alice");
    for u in ["bob", "carol", "dave"] {
        log_current(&env, u);
    }
    assert_eq!(verify(&env).0, 0);
    let earlier = audit_dir(&env).join(file_name(EARLIER));
    let current = audit_dir(&env).join(file_name(&now));

    // Record 2 of the earlier month edited; in the current month record 3
    // edited and a line of garbage put before the last record.
    let mut old = lines(&earlier);
    old[1] = old[1].replace("\"bob\"", "\"eve\"");
    write_lines(&earlier, &old);
    let mut cur = lines(&current);
    cur[2] = cur[2].replace("\"carol\"", "\"mallory\"");
    cur.insert(3, "{\"seq\":9,\"kid\":\"x\"}".into());
    write_lines(&current, &cur);

    let (code, text, doc) = verify(&env);
    assert_eq!(code, 1, "{text}");
    let found: Vec<(String, u64)> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let file = p["file"].as_str().unwrap();
            (
                file.rsplit('/').next().unwrap().to_owned(),
                p["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (file_name(EARLIER), 2),
            (file_name(&now), 3),
            (file_name(&now), 4),
        ],
        "{doc}"
    );
    assert_eq!(text.matches("TAMPERED").count(), 3, "{text}");
    assert!(
        text.contains(&format!("{}:2 (record 2", file_name(EARLIER))),
        "{text}"
    );
    assert!(text.contains(":3 (record 3"), "{text}");
    assert!(text.contains(":4: not a chained record"), "{text}");
    // The records after each damage still check.
    assert_eq!(doc["records"], 6, "{doc}");
}

#[test]
fn a_long_lived_writer_reopens_a_removed_or_replaced_month_and_records_the_loss() {
    for how in ["log removed", "log and head removed", "log replaced"] {
        let (env, ring) = keyed_env();
        let log = Arc::new(LocalLog::with_keyring(audit_dir(&env), ring.clone()));
        let audit = Audit::new(log.clone());
        let first = audit
            .emit("probe", Some("a"), serde_json::json!({}))
            .unwrap();
        audit
            .emit("probe", Some("b"), serde_json::json!({}))
            .unwrap();
        let path = log.file_for(&first.month());
        match how {
            "log removed" => std::fs::remove_file(&path).unwrap(),
            "log and head removed" => {
                std::fs::remove_file(&path).unwrap();
                std::fs::remove_file(head_path(&path)).unwrap();
            }
            _ => {
                // A copy without its last record put in its place.
                let kept = &lines(&path)[..1];
                let tmp = path.with_extension("tmp");
                write_lines(&tmp, kept);
                std::fs::rename(&tmp, &path).unwrap();
            }
        }
        audit
            .emit("probe", Some("c"), serde_json::json!({}))
            .unwrap();

        // The next record is in the file at the path, after a gap record
        // naming the loss.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"user_id\":\"c\""), "{how}: {text}");
        let types: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<SecurityEvent>(l).unwrap().event_type)
            .collect();
        let gap = types.iter().position(|t| t == "audit_gap");
        assert!(gap.is_some(), "{how}: {types:?}");
        assert_eq!(types.last().unwrap(), "probe", "{how}");
        let (code, out, doc) = verify(&env);
        assert_eq!(code, 1, "{how}: {out}");
        assert!(out.contains("records were lost"), "{how}: {out}");
        assert!(
            out.contains("removed or replaced while this process was writing it"),
            "{how}: {out}"
        );
        assert_eq!(
            doc["gaps"].as_array().map(Vec::len),
            Some(1),
            "{how}: {doc}"
        );
    }
}

#[test]
fn a_log_file_restored_whole_under_a_long_lived_writer_needs_no_gap() {
    let (env, ring) = keyed_env();
    let log = Arc::new(LocalLog::with_keyring(audit_dir(&env), ring.clone()));
    let audit = Audit::new(log.clone());
    let ev = audit
        .emit("probe", Some("a"), serde_json::json!({}))
        .unwrap();
    let path = log.file_for(&ev.month());
    // The same bytes under a new inode (a restore from backup, a copy).
    let tmp = path.with_extension("tmp");
    std::fs::copy(&path, &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    audit
        .emit("probe", Some("b"), serde_json::json!({}))
        .unwrap();
    let (code, text, doc) = verify(&env);
    assert_eq!(code, 0, "{text}");
    assert_eq!(doc["records"], 2, "{doc}");
}

#[test]
fn logs_written_before_months_chained_still_verify_and_the_next_month_links_to_them() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/legacy-months");
    let key = std::fs::read_to_string(fixture.join("master.key")).unwrap();
    let env = CliEnv::new()
        .recording_as("ops")
        .with_var("WINDFLOW_MASTER_KEY", key.trim());
    let dir = audit_dir(&env);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture.join("audit")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let (code, text, doc) = verify(&env);
    assert_eq!(code, 0, "{text}");
    assert_eq!(doc["records"], 6, "{doc}");

    let now = log_current(&env, "alice");
    assert!(
        now.as_str() > "2026-11",
        "the clock is before the fixture: {now}"
    );
    let first = lines(&dir.join(file_name(&now))).remove(0);
    assert!(
        first.contains("\"prev\":{\"month\":\"2026-11\",\"seq\":3,"),
        "{first}"
    );
    let (code, text, doc) = verify(&env);
    assert_eq!(code, 0, "{text}");
    assert_eq!(doc["records"], 7, "{doc}");

    // The old month the new one links to is now protected.
    let nov = dir.join(file_name("2026-11"));
    std::fs::remove_file(&nov).unwrap();
    std::fs::remove_file(head_path(&nov)).unwrap();
    let (code, text, _) = verify(&env);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("the log of 2026-11 is missing"), "{text}");
}

/// The newest month's log deleted with its head anchor while no writer runs,
/// or its last records deleted with the head: the store's copy of the head
/// anchor names what is missing, and `audit verify` fails.
#[test]
fn the_store_copy_of_the_head_anchor_names_a_newest_month_deleted_whole() {
    for cut in ["whole month", "end and head"] {
        let (env, _ring) = keyed_env();
        // The store exists before the first record (as it does for any
        // operator's data dir).
        env.expect(&["operators", "list"], 0);
        let month = log_current(&env, "a");
        log_current(&env, "b");
        log_current(&env, "c");
        let log = audit_dir(&env).join(file_name(&month));
        let (code, text, _) = verify(&env);
        assert_eq!(code, 0, "{text}");
        std::fs::remove_file(head_path(&log)).unwrap();
        match cut {
            "whole month" => std::fs::remove_file(&log).unwrap(),
            _ => {
                let all = lines(&log);
                write_lines(&log, &all[..all.len() - 1]);
            }
        }
        let (code, text, doc) = verify(&env);
        assert_eq!(code, 1, "{cut}: {text}");
        let want = match cut {
            "whole month" => format!(
                "the log of {month} is missing (deleted with its head anchor; the store's copy of the head anchor names"
            ),
            _ => "were removed from the end (the store's copy of the head anchor names".to_owned(),
        };
        assert!(text.contains(&want), "{cut}: {text}");
        assert!(doc.to_string().contains("store's copy"), "{cut}: {doc}");
    }
}
