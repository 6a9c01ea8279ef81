//! Key rotation through the real binary: `crypto rewrap` seals every record
//! again under the newest master key (MFA records, grants, secrets of every
//! version, rotation journals, sessions in the embedded store and in a real
//! Redis, Vault values as new versions on a real OpenBao, anomaly models);
//! the audit log keeps verifying across the key change; `crypto retire-key`
//! refuses while anything needs the key and otherwise removes it.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::Value;

use crate::support::cli::CliEnv;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn keyring(env: &CliEnv) -> windflow::crypto::Keyring {
    windflow::crypto::Keyring::from_env_or_file(
        &env.data().join(windflow::crypto::KEY_FILE_NAME),
        false,
    )
    .unwrap()
}

/// Every sealed value in the store (kv values and session envelopes) as text.
fn stored_texts(env: &CliEnv) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
    let mut out = Vec::new();
    let mut st = db.prepare("SELECT ns, key, value FROM kv").unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((
                format!("{}/{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                String::from_utf8_lossy(&r.get::<_, Vec<u8>>(2)?).into_owned(),
            ))
        })
        .unwrap();
    out.extend(rows.map(Result::unwrap));
    let mut st = db.prepare("SELECT id, envelope FROM session").unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((format!("session/{}", r.get::<_, String>(0)?), r.get(1)?))
        })
        .unwrap();
    out.extend(rows.map(Result::unwrap));
    out
}

/// The records holding anything sealed or MAC'd under `kid`.
fn sealed_under(env: &CliEnv, kid: &str) -> Vec<String> {
    stored_texts(env)
        .into_iter()
        .filter(|(_, text)| {
            text.contains(&format!("wf1.{kid}.")) || text.contains(&format!("m1.{kid}."))
        })
        .map(|(name, _)| name)
        .collect()
}

fn namespace<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["namespace"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn create_session(env: &CliEnv) -> String {
    let created = env.json(&[
        "sessions",
        "create",
        "--user",
        "alice",
        "--ip",
        "203.0.113.10",
        "--user-agent",
        UA,
        "--json",
    ]);
    created["id"].as_str().unwrap().to_owned()
}

/// A rotation of `path` killed after its new values were journaled.
fn rotation_left_journaled(env: &CliEnv, path: &str) {
    use std::io::{BufRead, BufReader};
    let mut child = env
        .cmd(&["secrets", "rotate", path, "--keys", "password", "--json"])
        .env("WINDFLOW_SECRETS_PAUSE_AT", "deploy:done")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("paused at deploy:done") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "rotate ended before pausing"
        );
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

/// 250 sign-ins in the audit log, then `anomaly train`: a sealed model.
fn train_model(env: &CliEnv) {
    let log = windflow::audit::local::LocalLog::with_keyring(
        env.data().join("audit"),
        std::sync::Arc::new(keyring(env)),
    );
    let end = chrono::Utc::now() - chrono::Duration::hours(1);
    let events: Vec<_> = (0..250)
        .map(|i| {
            let user = format!("user{}", i % 5);
            let mut e = windflow::audit::SecurityEvent::new(
                "session_created",
                Some(&user),
                serde_json::json!({"session": format!("s{i}"), "ip": format!("10.0.{}.{}", i % 5, 10 + i % 7)}),
            );
            e.timestamp = (end - chrono::Duration::minutes((249 - i) * 37))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            e.user_agent = Some(format!("browser-{}", i % 5));
            e
        })
        .collect();
    log.append(&events).unwrap();
    let trained = env.json(&["anomaly", "train", "--json"]);
    assert_eq!(trained["models"][0]["trained"], true, "{trained}");
}

#[test]
fn rewrap_seals_every_record_under_the_new_key_and_retire_key_waits_for_them() {
    let env = CliEnv::new().acting_as("admin");
    env.expect(
        &["secrets", "put", "deployments/api-7", "db_password=hunter2"],
        0,
    );
    env.expect(
        &["secrets", "put", "deployments/api-7", "db_password=hunter3"],
        0,
    );
    env.expect(&["secrets", "put", "app/x", "password=first"], 0);
    env.expect(&["secrets", "delete", "app/x", "--versions", "1"], 0);
    env.expect(&["secrets", "undelete", "app/x", "--versions", "1"], 0);
    env.expect(&["secrets", "put", "app/y", "password=p1"], 0);
    rotation_left_journaled(&env, "app/y");
    let session = create_session(&env);
    train_model(&env);
    let old = keyring(&env).primary_kid();
    let before = sealed_under(&env, &old);
    for kind in [
        "mfa/admin",
        "grants/admin",
        "secrets.kv/deployments/api-7",
        "anomaly/login/",
    ] {
        assert!(
            before.iter().any(|r| r.starts_with(kind)),
            "{kind} not in {before:?}"
        );
    }
    assert!(
        before.iter().any(|r| r.starts_with("secrets.rotation/")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|r| r.starts_with("session/")),
        "{before:?}"
    );

    let added = env.json(&["crypto", "add-key", "--json"]);
    let new = added["kid"].as_str().unwrap().to_owned();

    // Everything above still needs the old key: retiring it is refused, listing what.
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    for what in [
        "5 secret versions",
        "3 secret metadata MACs",
        "1 rotation journals",
        "1 sessions",
        "1 MFA records",
        "1 step-up grants",
        "1 anomaly models",
        "audit records in",
    ] {
        assert!(err.contains(what), "{what} missing from: {err}");
    }

    let report = env.json(&["crypto", "rewrap", "--json"]);
    assert_eq!(report["primary_kid"], new.as_str());
    let secrets = namespace(&report, "secrets");
    assert_eq!(
        (secrets["total"].as_u64(), secrets["rewrapped"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(namespace(&report, "rotation journals")["rewrapped"], 1);
    assert_eq!(namespace(&report, "sessions")["rewrapped"], 1);
    assert_eq!(namespace(&report, "anomaly models")["rewrapped"], 1);
    assert_eq!(namespace(&report, "mfa")["rewrapped"], 1);
    assert_eq!(report["failed_kinds"].as_array().unwrap().len(), 0);
    assert_eq!(sealed_under(&env, &old), Vec::<String>::new());
    assert!(!sealed_under(&env, &new).is_empty());

    // Everything still opens: the journal (the rotation finishes), every
    // version, the session, the model, the second factor.
    let journal = stored_texts(&env)
        .into_iter()
        .find(|(name, _)| name.starts_with("secrets.rotation/"))
        .unwrap()
        .1;
    let journal: Value = serde_json::from_str(&journal).unwrap();
    let sealed = journal["sealed_new"].as_str().unwrap();
    assert!(sealed.starts_with(&format!("wf1.{new}.")), "{sealed}");
    let newest_only = windflow::crypto::Keyring::new(
        windflow::crypto::MasterKey::from_base64(
            std::fs::read_to_string(env.data().join("master.key"))
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap(),
    );
    assert!(
        newest_only
            .decrypt(&windflow::crypto::contexts::rotation("app/y"), sealed)
            .is_ok()
    );
    let recovered = env.json(&["secrets", "recover", "--json"]);
    assert_eq!(
        recovered["recovered"].as_array().unwrap().len(),
        1,
        "{recovered}"
    );
    assert_eq!(
        recovered["unrecoverable"].as_array().unwrap().len(),
        0,
        "{recovered}"
    );
    for (v, want) in [("1", "hunter2"), ("2", "hunter3")] {
        let got = env.json(&[
            "secrets",
            "get",
            "deployments/api-7",
            "--version",
            v,
            "--reveal",
            "--json",
        ]);
        assert_eq!(got["keys"]["db_password"]["value"], want, "{got}");
    }
    let got = env.json(&[
        "secrets",
        "get",
        "app/x",
        "--version",
        "1",
        "--reveal",
        "--json",
    ]);
    assert_eq!(got["keys"]["password"]["value"], "first", "{got}");
    env.json(&["sessions", "show", &session, "--json"]);
    let store = windflow::store::Store::open(&env.data()).unwrap();
    assert!(
        windflow::anomaly::logins::latest(&store, &keyring(&env))
            .unwrap()
            .is_some()
    );
    // A second rewrap has nothing left to do.
    let again = env.json(&["crypto", "rewrap", "--json"]);
    for c in again["namespaces"].as_array().unwrap() {
        assert_eq!(c["rewrapped"], 0, "{again}");
    }

    // The audit log verifies across the key change: records under both keys.
    let verified = env.expect(&["audit", "verify"], 0);
    assert!(
        verified.contains("intact") || verified.contains("ok"),
        "{verified}"
    );
    let kids: std::collections::BTreeSet<String> = std::fs::read_dir(env.data().join("audit"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["kid"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(kids, [old.clone(), new.clone()].into_iter().collect());

    // Only the audit records still need the old key: kept, and said why.
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("audit records in") && err.contains("keep this key"),
        "{err}"
    );
    assert!(
        !err.contains("secret versions") && !err.contains("sessions"),
        "{err}"
    );
    assert_eq!(keyring(&env).kids().len(), 2);
}

#[test]
fn retire_key_removes_an_unused_key_after_a_typed_confirmation() {
    let env = CliEnv::new().acting_as("admin");
    env.expect(&["secrets", "put", "app/x", "k=v"], 0);
    let key_file = env.data().join("master.key");
    let primary = keyring(&env).primary_kid();
    // An older key that never sealed anything, first in the file.
    let unused = windflow::crypto::MasterKey::generate();
    let text = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(
        &key_file,
        format!("{}\n{text}", unused.to_base64().as_str()),
    )
    .unwrap();
    let kid = unused.kid();
    let before = std::fs::read(&key_file).unwrap();

    env.expect(&["--read-only", "crypto", "retire-key", &kid, "--yes"], 3);
    let out = env.run_stdin(&["crypto", "retire-key", &kid], b"deadbeef\n");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not confirmed"));
    env.expect(&["crypto", "retire-key", &primary, "--yes"], 2);
    env.expect(&["crypto", "retire-key", "0badc0de", "--yes"], 2);
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        before,
        "a refusal changed the key file"
    );
    assert!(!env.event_types().contains(&"master_key_retired".to_owned()));

    let out = env.run_stdin(
        &["crypto", "retire-key", &kid, "--json"],
        format!("{kid}\n").as_bytes(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["retired"], true);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), text);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(keyring(&env).kids(), vec![primary]);
    let event = env
        .events()
        .into_iter()
        .find(|e| e.event_type == "master_key_retired")
        .expect("the retirement is recorded");
    assert_eq!(event.details["kid"], kid.as_str());
    // Nothing was lost.
    let got = env.json(&["secrets", "get", "app/x", "--reveal", "--json"]);
    assert_eq!(got["keys"]["k"]["value"], "v");
    env.expect(&["audit", "verify"], 0);
}

#[test]
fn vault_values_are_written_again_as_new_versions_with_a_note() {
    use crate::support::secrets_bao::{Bao, TOKEN};
    let bao = Bao::start();
    let env = CliEnv::new()
        .with_var("WINDFLOW_SECRETS_BACKEND", "vault")
        .with_var("VAULT_ADDR", &bao.addr)
        .with_var("VAULT_TOKEN", TOKEN)
        .acting_as("admin");
    env.expect(
        &["secrets", "put", "deployments/api-7", "db_password=hunter2"],
        0,
    );
    env.expect(
        &["secrets", "put", "deployments/api-7", "db_password=hunter3"],
        0,
    );
    let old = keyring(&env).primary_kid();
    let new = env.json(&["crypto", "add-key", "--json"])["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let report = env.json(&["crypto", "rewrap", "--json"]);
    let secrets = namespace(&report, "secrets");
    assert_eq!(secrets["rewrapped"], 1, "{report}");
    let notes = secrets["notes"].to_string();
    assert!(notes.contains("2 older version(s)"), "{report}");
    assert!(notes.contains("(vault)"), "{report}");

    // Version 3 is version 2 sealed under the new key, with the note; Vault says so itself.
    let out = bao.cli(&["kv", "get", "-format=json", "secret/deployments/api-7"]);
    let raw: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(raw["data"]["metadata"]["version"], 3, "{raw}");
    let value = raw["data"]["data"]["db_password"].as_str().unwrap();
    assert!(value.starts_with(&format!("wf1.{new}.")), "{value}");
    let out = bao.cli(&[
        "kv",
        "metadata",
        "get",
        "-format=json",
        "secret/deployments/api-7",
    ]);
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let note = meta["data"]["custom_metadata"]["windflow_rewrapped"]
        .as_str()
        .unwrap();
    assert!(
        note.contains("version 2 written again as version 3") && note.contains(&new),
        "{note}"
    );
    let got = env.json(&["secrets", "get", "deployments/api-7", "--reveal", "--json"]);
    assert_eq!(got["keys"]["db_password"]["value"], "hunter3");
    let got = env.json(&[
        "secrets",
        "get",
        "deployments/api-7",
        "--version",
        "1",
        "--reveal",
        "--json",
    ]);
    assert_eq!(got["keys"]["db_password"]["value"], "hunter2");

    // The older versions still need the old key.
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 secret versions"), "{err}");
    env.expect(
        &[
            "secrets",
            "destroy",
            "deployments/api-7",
            "--versions",
            "1,2",
        ],
        0,
    );
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("secret versions") && err.contains("audit records in"),
        "{err}"
    );
    // Nothing left to write again.
    let again = env.json(&["crypto", "rewrap", "--json"]);
    assert_eq!(namespace(&again, "secrets")["rewrapped"], 0, "{again}");
}

#[test]
fn redis_sessions_are_sealed_again_keeping_their_ttl() {
    use crate::support::sessions_redis::RedisServer;
    let redis = RedisServer::start();
    let env = CliEnv::new()
        .with_var("WINDFLOW_REDIS_URL", &redis.url())
        .acting_as("admin");
    let id = create_session(&env);
    let old = keyring(&env).primary_kid();
    let new = env.json(&["crypto", "add-key", "--json"])["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 sessions"), "{err}");

    let mut c = redis.client();
    let key = format!("session:{id}");
    let ttl_before: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
    let report = env.json(&["crypto", "rewrap", "--json"]);
    assert_eq!(namespace(&report, "sessions")["rewrapped"], 1, "{report}");
    let stored: String = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
    assert!(stored.starts_with(&format!("wf1.{new}.")), "{stored}");
    let ttl_after: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert!(
        ttl_after > 0 && ttl_after <= ttl_before,
        "{ttl_before} then {ttl_after}"
    );
    // Still valid for the same device.
    env.expect(
        &[
            "sessions",
            "validate",
            &id,
            "--ip",
            "203.0.113.10",
            "--user-agent",
            UA,
        ],
        0,
    );
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sessions"));
}

/// Records cut off the log just before a key change are not chained over
/// silently by the first record under the new key: the head anchor, sealed
/// under the old key, is still checked, and the writer records the gap.
#[test]
fn records_cut_before_a_key_change_are_not_healed_by_the_new_key() {
    let env = CliEnv::new().acting_as("admin");
    env.expect(&["secrets", "put", "app/x", "k=v1"], 0);
    env.expect(&["secrets", "put", "app/x", "k=v2"], 0);
    // The key change is recorded under the old key, the last record before the cut.
    env.expect(&["crypto", "add-key"], 0);
    let log = std::fs::read_dir(env.data().join("audit"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .max()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&log, format!("{}\n", kept[..kept.len() - 2].join("\n"))).unwrap();
    env.expect(&["secrets", "put", "app/x", "k=v3"], 0);
    let gaps: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "audit_gap")
        .collect();
    assert_eq!(gaps.len(), 1, "the cut went unnoticed");
    assert!(
        gaps[0].details["what"]
            .as_str()
            .unwrap()
            .contains("were removed"),
        "{:?}",
        gaps[0]
    );
}
