//! The embedded store shared by many processes at once: the console, CLI
//! scripts and the agent all open the same data dir, so concurrency is the
//! normal case. Every acknowledged write must be there afterwards.

use std::collections::BTreeSet;
use std::process::{Child, Output, Stdio};

use serde_json::Value;

use crate::support::cli::CliEnv;

/// One write of the mixed load, and how to find it afterwards.
enum Write {
    Secret(String),
    Operator(String),
    Session(String),
    Event(String),
}

fn spawn(env: &CliEnv, args: &[String]) -> Child {
    env.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn windflow")
}

/// The `i`th process of round `round`: secrets, operators, sessions and
/// audit events in turn, each naming what it writes uniquely.
fn write_of(round: usize, i: usize) -> (Write, Vec<String>) {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let tag = format!("r{round}n{i}");
    match i % 4 {
        0 => {
            let path = format!("deployments/{tag}");
            let kv = format!("k=v{tag}");
            let args = s(&["--operator", "ops", "secrets", "put", &path, &kv]);
            (Write::Secret(path), args)
        }
        1 => {
            let name = format!("op{tag}");
            let args = s(&[
                "--operator",
                "ops",
                "operators",
                "add",
                &name,
                "--role",
                "viewer",
            ]);
            (Write::Operator(name), args)
        }
        2 => {
            let user = format!("user{tag}");
            let args = s(&[
                "--operator",
                "ops",
                "sessions",
                "create",
                "--user",
                &user,
                "--ip",
                "192.0.2.7",
                "--user-agent",
                "curl/8.5",
            ]);
            (Write::Session(user), args)
        }
        _ => {
            let user = format!("audited{tag}");
            let args = s(&[
                "--operator",
                "ops",
                "audit",
                "log",
                "--type",
                "custom_probe",
                "--user",
                &user,
            ]);
            (Write::Event(user), args)
        }
    }
}

fn names(v: &Value, field: &str) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .filter_map(|x| x[field].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn fifty_processes_of_mixed_writes_lose_nothing_and_keep_the_store_whole() {
    let env = CliEnv::new();
    env.operator_with_grant("ops");
    for round in 0..4 {
        let children: Vec<(Write, Child)> = (0..50)
            .map(|i| {
                let (w, args) = write_of(round, i);
                (w, spawn(&env, &args))
            })
            .collect();
        let done: Vec<(Write, Output)> = children
            .into_iter()
            .map(|(w, c)| (w, c.wait_with_output().unwrap()))
            .collect();

        let secrets = env.json(&["secrets", "list", "--json"]);
        let secrets = names(&secrets["secrets"], "path");
        let operators = names(&env.json(&["operators", "list", "--json"]), "name");
        let sessions = names(
            &env.json(&["sessions", "list", "--json"])["sessions"],
            "user_id",
        );
        let audited: BTreeSet<String> =
            env.events().into_iter().filter_map(|e| e.user_id).collect();

        let mut acknowledged = 0;
        for (w, out) in &done {
            let why = || {
                format!(
                    "round {round}: exit {:?}\nstdout: {}\nstderr: {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            };
            // Under this load every write must also succeed: a busy store waits.
            assert!(out.status.success(), "a write failed: {}", why());
            acknowledged += 1;
            match w {
                Write::Secret(p) => assert!(secrets.contains(p), "secret {p} lost: {}", why()),
                Write::Operator(n) => {
                    assert!(operators.contains(n), "operator {n} lost: {}", why())
                }
                Write::Session(u) => {
                    assert!(sessions.contains(u), "session of {u} lost: {}", why())
                }
                Write::Event(u) => assert!(audited.contains(u), "event of {u} lost: {}", why()),
            }
        }
        assert_eq!(acknowledged, 50);
        let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        env.expect(&["audit", "verify"], 0);
    }
}

#[test]
fn a_master_key_set_but_empty_or_malformed_is_bad_input_and_makes_no_key() {
    for (value, says) in [
        ("", "set but empty"),
        ("  ", "set but empty"),
        ("not-base64!", "base64"),
    ] {
        let env = CliEnv::new()
            .with_var("WINDFLOW_MASTER_KEY", value)
            .recording_as("ops");
        let out = env.run(&["audit", "log", "--type", "probe", "--user", "u"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value:?}: {err}");
        assert!(err.contains(says), "{value:?}: {err}");
        assert!(!env.data().join("master.key").exists(), "no key file made");
        assert!(env.events().is_empty(), "nothing recorded");
    }
}

#[test]
fn a_lost_key_file_beside_history_is_not_replaced_by_a_new_key() {
    let env = CliEnv::new().recording_as("ops");
    env.expect(&["audit", "log", "--type", "probe", "--user", "u"], 0);
    std::fs::remove_file(env.data().join("master.key")).unwrap();
    let out = env.run(&["audit", "log", "--type", "probe", "--user", "v"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("holds records sealed under a master key"),
        "{err}"
    );
    assert!(!env.data().join("master.key").exists(), "no new key made");
    assert_eq!(env.events().len(), 1, "nothing appended under another key");
}

#[test]
fn processes_racing_on_first_use_share_one_new_key() {
    for _ in 0..5 {
        let env = CliEnv::new().recording_as("ops");
        let children: Vec<Child> = (0..20)
            .map(|i| {
                let user = format!("u{i}");
                spawn(
                    &env,
                    &["audit", "log", "--type", "probe", "--user", &user].map(String::from),
                )
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let key = std::fs::read_to_string(env.data().join("master.key")).unwrap();
        assert_eq!(key.lines().count(), 1, "one key: {key:?}");
        assert_eq!(env.events().len(), 20);
        env.expect(&["audit", "verify"], 0);
    }
}

#[test]
fn a_lost_store_beside_history_is_not_taken_for_a_first_run() {
    let env = CliEnv::new();
    env.operator_with_grant("ops");
    env.expect(&["operators", "list"], 0);
    let db = env.data().join("windflow.db");
    for lose in ["delete", "empty"] {
        match lose {
            "delete" => std::fs::remove_file(&db).unwrap(),
            _ => std::fs::write(&db, b"").unwrap(),
        }
        let out = env.run(&["operators", "add", "mallory", "--role", "admin"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lose}: {err}");
        assert!(err.contains("has history"), "{lose}: {err}");
        assert!(
            err.contains("windflow-security-"),
            "names what was found: {err}"
        );
        assert!(
            err.contains("windflow init --force"),
            "names the way out: {err}"
        );
        assert!(
            std::fs::metadata(&db).map_or(0, |m| m.len()) == 0,
            "{lose}: no store was made"
        );
    }
    // Starting anew takes the data dir's path typed back, and is audited.
    let wrong = env.run_stdin(&["init", "--force"], b"yes\n");
    assert_eq!(wrong.status.code(), Some(3));
    let typed = format!("{}\n", env.data().display());
    let out = env.run_stdin(&["init", "--force"], typed.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = env.events().into_iter().last().unwrap();
    assert_eq!(ev.event_type, "store_started_anew");
    assert_eq!(ev.severity.as_str(), "critical");
    env.expect(&["operators", "add", "newadmin"], 0);
    env.expect(&["audit", "verify"], 0);
}

#[test]
fn audit_verify_without_the_sealing_key_says_it_cannot_verify_not_tampered() {
    let env = CliEnv::new().recording_as("ops");
    env.expect(&["audit", "log", "--type", "probe", "--user", "u"], 0);
    let other = windflow::crypto::MasterKey::generate();
    let verify = |args: &[&str]| {
        env.cmd(args)
            .env("WINDFLOW_MASTER_KEY", other.to_base64().as_str())
            .output()
            .unwrap()
    };
    let out = verify(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("cannot verify: key"), "{text}");
    assert!(text.contains("is not loaded"), "{text}");
    assert!(!text.contains("TAMPERED"), "{text}");
    let out = verify(&["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["cannot_verify"]["key_not_loaded"].is_string(), "{v}");
    // With the key that sealed it: intact.
    env.expect(&["audit", "verify"], 0);
}

fn audit_log_file(env: &CliEnv) -> std::path::PathBuf {
    let dir = env.data().join("audit");
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a log file")
}

#[test]
fn an_append_after_a_cut_or_a_lost_head_records_the_gap_and_alerts_it() {
    let hook = crate::support::audit_servers::receiver();
    let url = format!("http://127.0.0.1:{}/hook", hook.port);
    // The store keeps a copy of the head anchor: removing the head file with
    // the records it names, or the whole month, is a gap too.
    for cut in [
        "last line",
        "head anchor",
        "last line and head anchor",
        "log and head anchor",
    ] {
        let env = CliEnv::new()
            .with_var("WINDFLOW_ALERT_WEBHOOK_URL", &url)
            .recording_as("ops");
        for u in ["a", "b", "c"] {
            env.expect(&["audit", "log", "--type", "probe", "--user", u], 0);
        }
        let log = audit_log_file(&env);
        match cut {
            "last line" => {
                let text = std::fs::read_to_string(&log).unwrap();
                let kept: Vec<&str> = text.lines().take(2).collect();
                std::fs::write(&log, format!("{}\n", kept.join("\n"))).unwrap();
            }
            "head anchor" => std::fs::remove_file(windflow::audit::local::head_path(&log)).unwrap(),
            "last line and head anchor" => {
                let text = std::fs::read_to_string(&log).unwrap();
                let kept: Vec<&str> = text.lines().take(2).collect();
                std::fs::write(&log, format!("{}\n", kept.join("\n"))).unwrap();
                std::fs::remove_file(windflow::audit::local::head_path(&log)).unwrap();
            }
            _ => {
                std::fs::remove_file(&log).unwrap();
                std::fs::remove_file(windflow::audit::local::head_path(&log)).unwrap();
            }
        }
        env.expect(&["audit", "log", "--type", "probe", "--user", "d"], 0);
        let types = env.event_types();
        let gap = types.iter().position(|t| t == "audit_gap");
        assert!(gap.is_some(), "{cut}: {types:?}");
        assert_eq!(types.last().map(String::as_str), Some("probe"), "{cut}");
        let out = env.run(&["audit", "verify"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{cut}: {text}");
        assert!(text.contains("records were lost"), "{cut}: {text}");
        let v = env.json_code(&["audit", "verify", "--json"], 1);
        assert_eq!(v["gaps"].as_array().map(Vec::len), Some(1), "{cut}: {v}");
        // Critical: alerted like any critical event.
        let got = hook.got.lock().unwrap().clone();
        assert!(
            got.iter()
                .any(|r| r.body["event"]["event_type"] == "audit_gap"),
            "{cut}: {got:?}"
        );
    }
}

#[test]
fn audit_files_behind_symlinks_and_shared_data_dirs_are_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    // The month's log, then its head anchor, linked to a file elsewhere.
    for which in ["log", "head"] {
        let env = CliEnv::new().recording_as("ops");
        env.expect(&["audit", "log", "--type", "probe", "--user", "a"], 0);
        let log = audit_log_file(&env);
        let file = match which {
            "log" => log.clone(),
            _ => windflow::audit::local::head_path(&log),
        };
        let elsewhere = env.root.path().join("elsewhere");
        std::fs::write(&elsewhere, b"precious\n").unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
        let out = env.run(&["audit", "log", "--type", "probe", "--user", "b"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{which}: {err}");
        assert!(err.contains("is a symbolic link"), "{which}: {err}");
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            b"precious\n",
            "{which}: the link's target is untouched"
        );
    }
    // A data dir others may write to.
    let env = CliEnv::new().recording_as("ops");
    env.expect(&["audit", "log", "--type", "probe", "--user", "a"], 0);
    std::fs::set_permissions(env.data(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.run(&["audit", "log", "--type", "probe", "--user", "b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("writable by everyone") && err.contains("chmod 700"),
        "{err}"
    );
    assert_eq!(env.events().len(), 1, "nothing appended");
}

#[test]
fn a_master_key_file_of_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a file to another user needs root (CI runs as root)");
        return;
    }
    let env = CliEnv::new().recording_as("ops");
    env.expect(&["audit", "log", "--type", "probe", "--user", "a"], 0);
    let key = env.data().join("master.key");
    std::os::unix::fs::chown(&key, Some(65534), Some(65534)).unwrap();
    let out = env.run(&["audit", "log", "--type", "probe", "--user", "b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("is owned by uid 65534"), "{err}");
    assert_eq!(env.events().len(), 1, "nothing appended");
}

#[test]
fn operators_list_shows_everyone_when_one_second_factor_does_not_open() {
    let env = CliEnv::new();
    env.operator_with_grant("ops");
    let added = env.json(&["--operator", "ops", "operators", "add", "bob", "--json"]);
    let token = added["enrolment_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let enrolled = env.json(&["mfa", "enroll", "bob", "--token", &token, "--json"]);
    let key = windflow::mfa::TotpKey::from_base32(
        enrolled["secret"].as_str().expect("a secret"),
        windflow::mfa::Algorithm::Sha1,
        6,
        30,
    )
    .unwrap();
    let now = windflow::mfa::unix_seconds(std::time::SystemTime::now());
    use secrecy::ExposeSecret;
    env.expect(
        &["mfa", "confirm", "bob", key.code_at(now).expose_secret()],
        0,
    );
    // bob's sealed second-factor record damaged behind the product's back.
    let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
    let n = db
        .execute(
            "UPDATE kv SET value = CAST('v1.damaged' AS BLOB) WHERE ns = 'mfa' AND key = 'bob'",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let out = env.run(&["operators", "list", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = names(&list, "name");
    assert_eq!(names, BTreeSet::from(["ops".to_owned(), "bob".to_owned()]));
    let bob = list
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "bob")
        .unwrap();
    assert!(
        bob["problem"]
            .as_str()
            .is_some_and(|p| p.contains("unreadable")),
        "{bob}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("operator bob"), "the bad one is named: {err}");
    let text = env.expect(&["operators", "list"], 0);
    assert!(text.contains("UNREADABLE"), "{text}");
}

#[test]
fn oversized_or_endless_inputs_are_refused_at_once_with_the_cap() {
    let env = CliEnv::new();
    let dir = env.root.path();
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let big = dir.join("big.toml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    for (config, says) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than 1 MiB"),
    ] {
        let out = env.run(&["--config", config, "config", "show"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {err}");
        assert!(err.contains(says), "{config}: {err}");
    }
    env.operator_with_grant("ops");
    let put = |from: &str| {
        env.run(&[
            "--operator",
            "ops",
            "secrets",
            "put",
            "deployments/x",
            "--from-file",
            from,
        ])
    };
    for (from, says) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than 1 MiB"),
    ] {
        let out = put(from);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{from}: {err}");
        assert!(err.contains(says), "{from}: {err}");
    }
    let huge = vec![b'a'; (1 << 20) + 10];
    let out = env.run_stdin(
        &[
            "--operator",
            "ops",
            "secrets",
            "put",
            "deployments/x",
            "--from-file",
            "-",
        ],
        &huge,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 1 MiB"), "{err}");
    env.expect(&["secrets", "list"], 0);
    assert!(
        !env.expect(&["secrets", "list"], 0)
            .contains("deployments/x"),
        "nothing written"
    );
}

/// Scanner reports and manifest files have caps too: a file past them is
/// refused at once, naming the cap (exit 2), before anything is read.
#[test]
fn oversized_reports_and_manifests_are_refused_with_their_cap() {
    let env = CliEnv::new();
    let dir = env.root.path();
    // Sparse: the size without the disk.
    let sparse = |name: &str, len: u64| {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(len).unwrap();
        path
    };
    let report = sparse("trivy.json", (512 << 20) + 1);
    let out = env.run(&["scan", "report", report.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 512 MiB"), "{err}");
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::rename(
        sparse("huge.yaml", (256 << 20) + 1),
        manifests.join("huge.yaml"),
    )
    .unwrap();
    let out = env.run(&["scan", "manifests", manifests.to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("larger than 256 MiB"), "{text}");
}
