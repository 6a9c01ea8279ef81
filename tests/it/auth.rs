//! Operators, sign-in, step-up and roles: the real binary for the CLI flows,
//! and the library for `requirement()` and `authorize()`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use secrecy::ExposeSecret;
use serde_json::Value;
use windflow::audit::{Audit, MemorySink};
use windflow::auth::{Auth, AuthError, Role, requirement};
use windflow::crypto::{Keyring, MasterKey};
use windflow::mfa::{self, Algorithm, MfaError, Policy, TotpKey, Verified};
use windflow::store::Store;

// ------------------------------------------------------------------ helpers

/// A data dir and private HOME/XDG dirs for one run of the binary.
use crate::support::cli::CliEnv as Env;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn now() -> u64 {
    mfa::unix_seconds(SystemTime::now())
}

fn key(secret: &str) -> TotpKey {
    TotpKey::from_base32(secret, Algorithm::Sha1, 6, 30).unwrap()
}

fn code(key: &TotpKey, time: u64) -> String {
    key.code_at(time).expose_secret().to_owned()
}

/// A 6-digit code valid at no step within two steps of `time`.
fn wrong_code(key: &TotpKey, time: u64) -> String {
    let near: Vec<String> = (0..5).map(|i| code(key, time + i * 30 - 60)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", n * 111_111 % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// The first operator `admin`, enrolled and confirmed. Returns its key and backup codes.
fn admin(env: &Env) -> (TotpKey, String, Vec<String>) {
    let out = env.json(&["operators", "add", "admin", "--json"]);
    assert_eq!(out["operator"]["name"], "admin");
    assert_eq!(out["operator"]["role"], "admin");
    assert_eq!(out["operator"]["enrolled"], false);
    let enrollment = &out["enrollment"];
    let secret = enrollment["secret"].as_str().unwrap().to_owned();
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/WindFlow:admin%40windflow?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(enrollment["expires_at"].as_u64().unwrap() >= now() + 590);
    let backup: Vec<String> = enrollment["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(backup.len(), 10);
    let key = key(&secret);
    env.expect(&["mfa", "confirm", "admin", &code(&key, now())], 0);
    (key, secret, backup)
}

// ------------------------------------------------------------------ CLI

#[test]
fn cli_first_operator_enrolment_verify_and_admin_gated_management() {
    let env = Env::new();
    assert_eq!(
        env.json(&["operators", "list", "--json"]),
        Value::Array(vec![])
    );

    // The first operator needs no grant and starts its enrolment at once.
    let (key, secret, backup) = admin(&env);
    let listed = env.json(&["operators", "list", "--json"]);
    assert_eq!(listed[0]["name"], "admin");
    assert_eq!(listed[0]["enrolled"], true);

    // Verify: the confirming step is spent (replay guard), the next step is accepted.
    let next = code(&key, now() + 30);
    let ok = env.json(&["mfa", "verify", "admin", &next, "--json"]);
    assert_eq!(ok["accepted"], true);
    assert_eq!(ok["method"], "totp");
    let out = env.run(&["mfa", "verify", "admin", &next, "--json"]);
    assert_eq!(out.status.code(), Some(1), "replayed code rejected");
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replay["accepted"], false);
    assert_eq!(replay["reason"], "replayed");
    let out = env.run(&["mfa", "verify", "admin", &wrong_code(&key, now())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid code"),
        "reason on stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Managing operators now needs an admin with a fresh second factor.
    let out = env.run(&["operators", "add", "bob", "--role", "operator"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--operator"));
    let out = env.run(&["operators", "add", "bob", "--operator", "admin"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fresh second factor"));
    let added = env.json(&[
        "operators",
        "add",
        "bob",
        "--role",
        "operator",
        "--operator",
        "admin",
        "--code",
        &backup[0],
        "--json",
    ]);
    assert_eq!(added["enrollment"], Value::Null);
    let bob_token = added["enrolment_token"].as_str().unwrap().to_owned();
    // A spent backup code does not work twice.
    env.expect(
        &[
            "operators",
            "add",
            "zed",
            "--operator",
            "admin",
            "--code",
            &backup[0],
        ],
        3,
    );

    // bob enrols himself with the one-time token from `operators add`;
    // text mode draws the QR code and prints URI, secret and backup codes.
    let text = env.expect(&["mfa", "enroll", "bob", "--token", &bob_token], 0);
    assert!(
        text.contains("\x1b[97;40m") && text.contains('█'),
        "QR drawn"
    );
    assert!(text.contains("otpauth://totp/WindFlow:bob%40windflow?secret="));
    assert!(text.contains("Secret: "));
    assert!(text.matches('-').count() >= 10, "backup codes shown");
    // Replacing an active second factor needs the user or an admin.
    env.expect(&["mfa", "enroll", "admin"], 3);
    env.expect(&["mfa", "enroll", "nobody"], 2);

    // bob is an operator, not an admin: refused before any code is checked.
    let out = env.run(&[
        "operators",
        "add",
        "eve",
        "--operator",
        "bob",
        "--code",
        "123456",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs admin"));

    // A grant from `login` stands in for the code, until `logout`.
    let grant = env.json(&[
        "login",
        "--operator",
        "admin",
        "--code",
        &backup[1],
        "--json",
    ]);
    assert_eq!(grant["operator"], "admin");
    assert_eq!(
        grant["expires_at"].as_u64().unwrap() - grant["opened_at"].as_u64().unwrap(),
        300
    );
    env.expect(
        &[
            "operators",
            "add",
            "carol",
            "--role",
            "viewer",
            "--operator",
            "admin",
        ],
        0,
    );
    env.expect(
        &[
            "operators",
            "set-role",
            "carol",
            "operator",
            "--operator",
            "admin",
        ],
        0,
    );
    let listed = env.json(&["operators", "list", "--json"]);
    let roles: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("admin", "admin"),
            ("bob", "operator"),
            ("carol", "operator")
        ]
    );
    env.expect(&["operators", "remove", "carol", "--operator", "admin"], 0);
    // The last admin can be neither removed nor demoted.
    env.expect(&["operators", "remove", "admin", "--operator", "admin"], 3);
    env.expect(
        &[
            "operators",
            "set-role",
            "admin",
            "viewer",
            "--operator",
            "admin",
        ],
        3,
    );
    // WINDFLOW_OPERATOR names the operator too.
    let out = env
        .cmd(&["operators", "set-role", "bob", "viewer"])
        .env("WINDFLOW_OPERATOR", "admin")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.expect(&["logout", "--operator", "admin"], 0);
    env.expect(&["operators", "add", "dave", "--operator", "admin"], 3);
    let names: Vec<String> = env
        .json(&["operators", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["admin", "bob"]);

    // Bad input exits 2.
    env.expect(
        &[
            "operators",
            "add",
            "x y",
            "--operator",
            "admin",
            "--code",
            &backup[2],
        ],
        2,
    );
    env.expect(&["operators", "add", "frank", "--role", "root"], 2);

    // Backup codes: count, then a regenerated set replaces the old one.
    let left = env.json(&["mfa", "backup-codes", "admin", "--json"]);
    assert_eq!(left["remaining"], 7);
    let fresh = env.json(&[
        "mfa",
        "backup-codes",
        "admin",
        "--regenerate",
        "--operator",
        "admin",
        "--code",
        &backup[3],
        "--json",
    ]);
    let fresh: Vec<String> = fresh["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fresh.len(), 10);
    env.expect(&["mfa", "verify", "admin", &backup[4]], 1);
    let used = env.json(&["mfa", "verify", "admin", &fresh[0], "--json"]);
    assert_eq!(used["method"], "backup_code");
    assert_eq!(used["remaining"], 9);

    // At rest: the key file is private and the MFA record is an envelope,
    // with no trace of the base32 secret in the database files.
    let data = env.data();
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert_eq!(mode(&data.join("windflow.db")), 0o600);
    for name in ["windflow.db", "windflow.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(name)) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&secret), "secret in plaintext in {name}");
            assert!(!text.contains(&secret.to_lowercase()), "secret in {name}");
        }
    }
    let db = rusqlite::Connection::open(data.join("windflow.db")).unwrap();
    let (stored, ns_count): (Vec<u8>, i64) = db
        .query_row(
            "SELECT value, (SELECT count(*) FROM kv WHERE ns = 'mfa') FROM kv WHERE ns = 'mfa' AND key = 'admin'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        ns_count, 2,
        "admin and bob (pending) have MFA records; carol was removed"
    );
    let stored = String::from_utf8(stored).unwrap();
    assert!(stored.starts_with("wf1."), "{stored}");
    assert!(!stored.contains(&secret));

    // The audit log: private file, events for what happened.
    // The log and its head anchor, both private.
    let files: Vec<PathBuf> = std::fs::read_dir(data.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&data.join("audit")), 0o700);
    let types = env.event_types();
    for expected in [
        "operator_added",
        "mfa_enrollment_started",
        "mfa_enrolled",
        "mfa_success",
        "mfa_failure",
        "step_up",
        "authorization_denied",
        "login_grant_opened",
        "login_grant_closed",
        "operator_role_changed",
        "operator_removed",
        "backup_codes_regenerated",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "no {expected} event in {types:?}"
        );
    }
    let events = env.events();
    let failure = events
        .iter()
        .find(|e| e.event_type == "mfa_failure")
        .unwrap();
    assert_eq!(failure.user_id.as_deref(), Some("admin"));
    assert_eq!(failure.severity, windflow::audit::Severity::Medium);
    assert_eq!(failure.tags, ["security", "audit", "mfa_failure"]);
    let log = std::fs::read_to_string(&files[0]).unwrap();
    assert!(!log.contains(&secret));
    for c in backup.iter().chain(&fresh) {
        assert!(!log.contains(c.as_str()), "a backup code in the audit log");
    }
}

/// Every file under `dir` (recursively) as lossy text.
fn all_text_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_text_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// A new operator's enrolment cannot be started by whoever runs the CLI:
/// it needs the one-time token printed by `operators add` (or `mfa reset`),
/// or an admin with a fresh second factor. A missing, wrong, used or expired
/// token exits 3 with the reason and is audited; the token is never logged.
#[test]
fn cli_enrolment_needs_the_one_time_token_or_an_admin() {
    let env = Env::new();
    let (_, _, backup) = admin(&env);
    let added = env.json(&[
        "operators",
        "add",
        "bob",
        "--role",
        "admin",
        "--operator",
        "admin",
        "--code",
        &backup[0],
        "--json",
    ]);
    let token = added["enrolment_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "{added}");
    assert!(added["enrolment_token_expires_at"].as_u64().unwrap() >= now() + 24 * 3600 - 60);

    // Somebody else at the CLI: no token, a wrong one, a confirm without a pending key.
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let out = env.run(&["mfa", "enroll", "bob", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--token"), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
    let wrong = "0".repeat(64);
    let out = env.run(&["mfa", "enroll", "bob", "--token", &wrong]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not the one issued"),
        "{}",
        stderr(&out)
    );
    // bob is not enrolled and has no pending key: nothing to confirm.
    assert_ne!(
        env.run(&["mfa", "confirm", "bob", "123456"]).status.code(),
        Some(0)
    );
    // Another operator's token does not open bob's enrolment.
    let carol = env.json(&[
        "operators",
        "add",
        "carol",
        "--operator",
        "admin",
        "--code",
        &backup[1],
        "--json",
    ]);
    let carol_token = carol["enrolment_token"].as_str().unwrap().to_owned();
    env.expect(&["mfa", "enroll", "bob", "--token", &carol_token], 3);

    // bob, with his token: the enrolment starts; the token works once.
    let started = env.json(&["mfa", "enroll", "bob", "--token", &token, "--json"]);
    let bob_key = key(started["secret"].as_str().unwrap());
    let out = env.run(&["mfa", "enroll", "bob", "--token", &token]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("already used"), "{}", stderr(&out));
    // ... so bob's pending key was not replaced: his code confirms it.
    env.expect(&["mfa", "confirm", "bob", &code(&bob_key, now())], 0);

    // A token past its 24 hours is refused.
    let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
    let stored: Vec<u8> = db
        .query_row(
            "SELECT value FROM kv WHERE ns = 'enrolment_tokens' AND key = 'carol'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored).contains(&carol_token),
        "stored hashed"
    );
    let mut record: Value = serde_json::from_slice(&stored).unwrap();
    record["expires_at"] = Value::from(now() - 1);
    db.execute(
        "UPDATE kv SET value = ?1 WHERE ns = 'enrolment_tokens' AND key = 'carol'",
        [serde_json::to_vec(&record).unwrap()],
    )
    .unwrap();
    drop(db);
    let out = env.run(&["mfa", "enroll", "carol", "--token", &carol_token]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    // An admin with a fresh second factor may start it without a token.
    env.expect(
        &[
            "mfa",
            "enroll",
            "carol",
            "--operator",
            "admin",
            "--code",
            &backup[2],
        ],
        0,
    );

    // After a reset, the old factor is gone and a new token is printed once.
    let reset = env.json(&[
        "mfa",
        "reset",
        "bob",
        "--operator",
        "admin",
        "--code",
        &backup[3],
        "--json",
    ]);
    let again = reset["enrolment_token"].as_str().unwrap().to_owned();
    assert_ne!(again, token);
    env.expect(&["mfa", "enroll", "bob"], 3);
    env.expect(&["mfa", "enroll", "bob", "--token", &token], 3);
    // The token may come from the environment (out of the process list).
    let out = env
        .cmd(&["mfa", "enroll", "bob", "--json"])
        .env("WINDFLOW_ENROLMENT_TOKEN", &again)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Audited, with the reasons; no token in the audit log, the logs or the store.
    let events = env.events();
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type == "enrolment_refused")
        .map(|e| e.details["reason"].as_str().unwrap())
        .collect();
    for r in [
        "token_required",
        "token_wrong",
        "token_used",
        "token_expired",
    ] {
        assert!(reasons.contains(&r), "no refusal for {r}: {reasons:?}");
    }
    assert!(events.iter().all(|e| e.event_type != "enrolment_refused"
        || e.user_id.as_deref() == Some("bob")
        || e.user_id.as_deref() == Some("carol")));
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "enrolment_token_issued")
    );
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "enrolment_token_used")
    );
    for dir in [env.data(), env.root.path().join("state")] {
        for (path, text) in all_text_under(&dir) {
            for t in [&token, &carol_token, &again] {
                assert!(!text.contains(t.as_str()), "a token in {}", path.display());
            }
        }
    }
}

#[test]
fn cli_lockout_after_five_failures_is_audited() {
    let env = Env::new();
    let (key, _, _) = admin(&env);
    let wrong = wrong_code(&key, now());
    for attempt in 1..=5 {
        let out = env.run(&["mfa", "verify", "admin", &wrong, "--json"]);
        assert_eq!(out.status.code(), Some(1), "attempt {attempt}");
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        let expected = if attempt < 5 {
            "invalid_code"
        } else {
            "locked_out"
        };
        assert_eq!(body["reason"], expected, "attempt {attempt}");
    }
    // Locked: even the right code is refused now.
    let out = env.run(&["mfa", "verify", "admin", &code(&key, now() + 30)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked out"));

    let events = env.events();
    let failures = events
        .iter()
        .filter(|e| e.event_type == "mfa_failure")
        .count();
    let lockouts: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "mfa_lockout")
        .collect();
    assert_eq!(failures, 5, "4 wrong codes and 1 attempt while locked");
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0].severity, windflow::audit::Severity::High);
    assert!(lockouts[0].details["until"].as_u64().unwrap() > now());
    assert!(events.iter().any(|e| e.event_type == "mfa_enrolled"));
}

#[test]
fn cli_crypto_round_trip_contexts_and_key_file() {
    let env = Env::new();
    let plain = b"db password: hunter2\n";
    let out = env.run_stdin(&["crypto", "encrypt", "--context", "backup:api-7"], plain);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let envelope = String::from_utf8(out.stdout).unwrap();
    assert!(envelope.starts_with("wf1."), "{envelope}");
    assert_eq!(envelope.trim().split('.').count(), 5);
    assert_eq!(mode(&env.data().join("master.key")), 0o600);

    let out = env.run_stdin(
        &["crypto", "decrypt", "--context", "backup:api-7"],
        envelope.as_bytes(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, plain);

    let out = env.run_stdin(
        &["crypto", "decrypt", "--context", "backup:api-8"],
        envelope.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong context"));
    assert!(out.stdout.is_empty());

    let out = env.run_stdin(
        &["crypto", "decrypt", "--context", "backup:api-7"],
        b"wf1.nope",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed"));

    // windflow's own contexts are not for hand use (no forged grants).
    let out = env.run_stdin(&["crypto", "encrypt", "--context", "grant:admin"], b"{}");
    assert_eq!(out.status.code(), Some(3));

    let out = env.run_stdin(&["crypto", "encrypt", "--context", "x", "--json"], b"hi");
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(body["envelope"].as_str().unwrap().starts_with("wf1."));

    // A key file open to others is refused, as ssh does.
    std::fs::set_permissions(
        env.data().join("master.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = env.run_stdin(
        &["crypto", "decrypt", "--context", "backup:api-7"],
        envelope.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

/// `crypto encrypt|decrypt` open nothing windflow sealed: not a stored
/// secret (which `secrets get --reveal` shows only to an operator with a
/// fresh second factor), nor any other context of the product.
#[test]
fn cli_crypto_refuses_every_context_windflow_seals_with() {
    let env = Env::new();
    env.operator_with_grant("admin");
    env.expect(
        &[
            "--operator",
            "admin",
            "secrets",
            "put",
            "deployments/api-7",
            "db=hunter2-xyzzy",
        ],
        0,
    );
    let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
    let doc: Vec<u8> = db
        .query_row(
            "SELECT value FROM kv WHERE ns = 'secrets.kv' AND key = 'deployments/api-7'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    let doc = String::from_utf8_lossy(&doc);
    let start = doc
        .find("wf1.")
        .expect("the value is stored as an envelope");
    let sealed: String = doc[start..].chars().take_while(|c| *c != '"').collect();

    // Today's hole: anyone at the CLI, with no operator, read the secret.
    let out = env.run_stdin(
        &["crypto", "decrypt", "--context", "deployment:api-7"],
        sealed.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing printed");
    assert!(stderr.contains("reserved"), "{stderr}");
    assert!(stderr.contains("windflow secrets get"), "{stderr}");

    for context in [
        "totp:admin",
        "grant:admin",
        "deployment:api-7",
        "secret:db/main",
        "rotation:deployments/api-7",
        "session",
        "session:abc",
        "audit-chain",
        "record:ns/key",
        " Deployment:api-7",
    ] {
        for verb in ["encrypt", "decrypt"] {
            let out = env.run_stdin(&["crypto", verb, "--context", context], sealed.as_bytes());
            assert_eq!(out.status.code(), Some(3), "{verb} {context:?}");
            assert!(out.stdout.is_empty(), "{verb} {context:?}");
        }
    }
    let out = env.run_stdin(&["crypto", "decrypt", "--context", "session"], b"wf1.x");
    assert!(String::from_utf8_lossy(&out.stderr).contains("windflow sessions"));
    // A context of one's own still works.
    env.expect(&["crypto", "encrypt", "--context", "backup:2024-06"], 0);
}

#[test]
fn cli_add_key_and_rewrap_keep_mfa_working() {
    let env = Env::new();
    let (_, secret, backup) = admin(&env);
    // The grant lasts step_up_minutes.
    let out = env
        .cmd(&[
            "login",
            "--operator",
            "admin",
            "--code",
            &backup[0],
            "--json",
        ])
        .env("WINDFLOW_STEP_UP_MINUTES", "2")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grant: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        grant["expires_at"].as_u64().unwrap() - grant["opened_at"].as_u64().unwrap(),
        120
    );
    // Rotation is an admin action: without an operator it is refused.
    env.expect(&["crypto", "add-key"], 3);
    let added = env.json(&["crypto", "add-key", "--operator", "admin", "--json"]);
    let kid = added["kid"].as_str().unwrap().to_owned();
    assert_eq!(added["kids"].as_array().unwrap().len(), 2);
    let key_file = std::fs::read_to_string(env.data().join("master.key")).unwrap();
    assert_eq!(key_file.lines().count(), 2);
    assert_eq!(mode(&env.data().join("master.key")), 0o600);

    let report = env.json(&["crypto", "rewrap", "--operator", "admin", "--json"]);
    assert_eq!(report["primary_kid"], kid.as_str());
    let ns = report["namespaces"].as_array().unwrap();
    let mfa = ns.iter().find(|c| c["namespace"] == "mfa").unwrap();
    assert_eq!(mfa["rewrapped"], 1);
    assert_eq!(mfa["failed"].as_array().unwrap().len(), 0);
    let grants = ns.iter().find(|c| c["namespace"] == "grants").unwrap();
    assert_eq!(grants["total"], 1);

    let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
    let stored: Vec<u8> = db
        .query_row(
            "SELECT value FROM kv WHERE ns = 'mfa' AND key = 'admin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stored = String::from_utf8(stored).unwrap();
    assert!(stored.starts_with(&format!("wf1.{kid}.")), "{stored}");
    assert!(!stored.contains(&secret));

    // Still readable, and a second rewrap has nothing to do.
    env.expect(&["mfa", "verify", "admin", &backup[1]], 0);
    let again = env.json(&["crypto", "rewrap", "--operator", "admin", "--json"]);
    let mfa = &again["namespaces"].as_array().unwrap()[0];
    assert_eq!(mfa["rewrapped"], 0);
}

// ------------------------------------------------------------------ library

const T0: u64 = 1_750_000_020;

struct Lib {
    _dir: tempfile::TempDir,
    auth: Auth,
    events: Arc<MemorySink>,
}

fn lib() -> Lib {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::generate()));
    let events = Arc::new(MemorySink::default());
    let auth = Auth::new(
        store,
        keyring,
        Audit::new(events.clone()),
        Policy::default(),
    );
    Lib {
        _dir: dir,
        auth,
        events,
    }
}

/// Adds and enrols `name` at `T0`; returns the TOTP key.
fn enrolled(auth: &Auth, name: &str, role: Role) -> TotpKey {
    auth.add_operator(name, role).unwrap();
    let enrollment = auth.begin_enrollment(name, T0).unwrap();
    let key = key(enrollment.secret_base32.expose_secret());
    auth.confirm_enrollment(name, &code(&key, T0), T0).unwrap();
    key
}

#[test]
fn requirement_table() {
    let r = |a| requirement(a);
    assert_eq!(
        (r("console.open").role, r("console.open").step_up),
        (Role::Viewer, false)
    );
    assert_eq!((r("view").role, r("view").step_up), (Role::Viewer, false));
    assert_eq!(
        (r("store.compact").role, r("store.compact").step_up),
        (Role::Operator, false)
    );
    for action in [
        "secrets.reveal",
        "secrets.rotate",
        "secrets.rollback",
        "sessions.revoke",
        "sessions.revoke_user",
    ] {
        assert_eq!(
            (r(action).role, r(action).step_up),
            (Role::Operator, true),
            "{action}"
        );
    }
    for action in ["operators.manage", "mfa.reset", "no.such.action", ""] {
        assert_eq!(
            (r(action).role, r(action).step_up),
            (Role::Admin, true),
            "{action}"
        );
    }
}

#[test]
fn authorize_role_then_fresh_second_factor() {
    let Lib { auth, events, _dir } = lib();
    enrolled(&auth, "root", Role::Admin);
    let viewer = enrolled(&auth, "vic", Role::Viewer);
    let op = enrolled(&auth, "olga", Role::Operator);

    // Unknown operators and roles too low are refused before any code is checked.
    assert!(matches!(
        auth.authorize("nobody", "view", None, T0),
        Err(AuthError::UnknownOperator(_))
    ));
    let e = auth
        .authorize(
            "vic",
            "secrets.reveal",
            Some(&code(&viewer, T0 + 30)),
            T0 + 30,
        )
        .unwrap_err();
    assert!(
        matches!(
            &e,
            AuthError::Forbidden {
                role: Role::Viewer,
                needed: Role::Operator,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 3);
    assert!(
        auth.mfa_record("vic").unwrap().unwrap().last_step() == Some(T0 / 30),
        "code not consumed"
    );
    auth.authorize("vic", "view", None, T0).unwrap();

    // Step-up: no code and no grant is refused; a code works once.
    let e = auth
        .authorize("olga", "secrets.reveal", None, T0 + 30)
        .unwrap_err();
    assert!(matches!(e, AuthError::StepUpRequired { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 3);
    auth.authorize("olga", "store.compact", None, T0).unwrap();
    let c = code(&op, T0 + 30);
    auth.authorize("olga", "secrets.reveal", Some(&c), T0 + 30)
        .unwrap();
    let e = auth
        .authorize("olga", "secrets.rotate", Some(&c), T0 + 30)
        .unwrap_err();
    assert!(matches!(e, AuthError::Mfa(MfaError::Replayed)), "{e:?}");

    // A grant stands in for the code until it expires or is closed.
    let grant = auth
        .open_grant("olga", &code(&op, T0 + 60), T0 + 60)
        .unwrap();
    assert_eq!(grant.expires_at, T0 + 60 + 300);
    auth.authorize("olga", "sessions.revoke", None, T0 + 100)
        .unwrap();
    assert!(auth.grant("olga", T0 + 359).unwrap().is_some());
    assert!(auth.grant("olga", T0 + 360).unwrap().is_none());
    assert!(matches!(
        auth.authorize("olga", "sessions.revoke", None, T0 + 360),
        Err(AuthError::StepUpRequired { .. })
    ));
    auth.open_grant("olga", &code(&op, T0 + 90), T0 + 90)
        .unwrap();
    auth.close_grant("olga").unwrap();
    assert!(auth.grant("olga", T0 + 91).unwrap().is_none());
    // A grant is the operator's own; the role check still applies with one.
    auth.open_grant("vic", &code(&viewer, T0 + 90), T0 + 90)
        .unwrap();
    assert!(matches!(
        auth.authorize("vic", "operators.manage", None, T0 + 91),
        Err(AuthError::Forbidden { .. })
    ));

    let types = events.types();
    for t in [
        "step_up",
        "authorization_denied",
        "login_grant_opened",
        "login_grant_closed",
        "mfa_enrolled",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }
    let step_up: Vec<_> = events
        .events()
        .into_iter()
        .filter(|e| e.event_type == "step_up")
        .map(|e| e.details["via"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(step_up, ["code", "grant"]);
}

#[test]
fn persistence_across_handles_roles_and_reset() {
    let Lib { auth, events, _dir } = lib();
    let key = enrolled(&auth, "root", Role::Admin);
    // Another handle on the same store and key sees the replay guard.
    let other = auth.clone().with_actor("root");
    assert!(matches!(
        other.verify("root", &code(&key, T0), T0 + 1),
        Err(AuthError::Mfa(MfaError::Replayed))
    ));
    assert_eq!(
        other.verify("root", &code(&key, T0 + 30), T0 + 30).unwrap(),
        Verified::Totp {
            step: (T0 + 30) / 30
        }
    );
    assert_eq!(events.events().last().unwrap().details["actor"], "root");

    // The first-operator path is closed once an operator exists.
    assert!(matches!(
        auth.add_first_operator("mallory", Role::Admin),
        Err(AuthError::Forbidden { .. })
    ));
    assert!(matches!(
        auth.add_operator("root", Role::Viewer),
        Err(AuthError::Invalid(_))
    ));

    auth.add_operator("bob", Role::Viewer).unwrap();
    auth.set_role("bob", Role::Admin).unwrap();
    auth.set_role("root", Role::Operator).unwrap();
    assert!(matches!(
        auth.set_role("bob", Role::Viewer),
        Err(AuthError::LastAdmin { .. })
    ));
    assert!(matches!(
        auth.remove_operator("bob"),
        Err(AuthError::LastAdmin { .. })
    ));
    assert_eq!(auth.operator("root").unwrap().unwrap().role, Role::Operator);
    assert!(auth.operator("root").unwrap().unwrap().enrolled);
    assert!(!auth.operator("bob").unwrap().unwrap().enrolled);

    auth.reset_mfa("root").unwrap();
    assert!(matches!(
        auth.verify("root", &code(&key, T0 + 60), T0 + 60),
        Err(AuthError::NotEnrolled(_))
    ));
    auth.remove_operator("root").unwrap();
    assert!(auth.operator("root").unwrap().is_none());
    assert_eq!(auth.operators().unwrap().len(), 1);
}

// ------------------------------------------------------------------ Operators pane requests

#[test]
fn operators_pane_requests_list_change_and_refuse_through_the_service() {
    use windflow::auth::service::{AuthEvent, AuthRequest, Change, handle};
    use windflow::auth::{MfaState, OperatorStatus};
    let lib = lib();
    let auth = &lib.auth;
    let alice = enrolled(auth, "alice", Role::Admin);
    enrolled(auth, "bob", Role::Viewer);
    auth.add_operator("carol", Role::Operator).unwrap();
    auth.begin_enrollment("carol", now()).unwrap();

    let AuthEvent::Operators(list) = handle(auth, AuthRequest::Operators) else {
        panic!("no list")
    };
    let row = |list: &[OperatorStatus], name: &str| {
        list.iter().find(|o| o.name == name).cloned().unwrap()
    };
    assert_eq!(list.len(), 3);
    assert_eq!(
        (
            row(&list, "alice").mfa,
            row(&list, "alice").backup_codes_left
        ),
        (MfaState::Active, 10)
    );
    assert_eq!(row(&list, "carol").mfa, MfaState::Pending);

    // A wrong code counts as a failure and shows in the list.
    let _ = auth.verify("bob", &wrong_code(&alice, now()), now());
    let manage = |change| {
        handle(
            auth,
            AuthRequest::Manage {
                actor: "alice".into(),
                change,
            },
        )
    };
    let AuthEvent::Managed {
        message, operators, ..
    } = manage(Change::SetRole {
        name: "bob".into(),
        role: Role::Operator,
    })
    else {
        panic!("set-role failed")
    };
    assert_eq!(message, "bob is now operator");
    assert_eq!(row(&operators, "bob").role, Role::Operator);
    assert_eq!(row(&operators, "bob").failures, 1);
    assert_eq!(auth.operator("bob").unwrap().unwrap().role, Role::Operator);

    let AuthEvent::Managed {
        operators, token, ..
    } = manage(Change::ResetMfa { name: "bob".into() })
    else {
        panic!("reset failed")
    };
    // The reset hands out bob's one-time enrolment token (shown once in the pane).
    let (who, token) = token.expect("an enrolment token after a reset");
    assert_eq!(who, "bob");
    assert!(
        auth.begin_enrollment_with_token("bob", None, now())
            .is_err()
    );
    assert!(
        auth.begin_enrollment_with_token("bob", Some(&token), now())
            .is_ok()
    );
    assert_eq!(row(&operators, "bob").mfa, MfaState::None);
    assert!(!auth.is_enrolled("bob").unwrap());

    // The last admin can be neither demoted nor removed; nothing changes.
    for change in [
        Change::SetRole {
            name: "alice".into(),
            role: Role::Viewer,
        },
        Change::Remove {
            name: "alice".into(),
        },
    ] {
        let AuthEvent::ManageFailed { reason } = manage(change) else {
            panic!("the last admin was changed")
        };
        assert!(reason.contains("alice"), "{reason}");
    }
    assert_eq!(auth.operator("alice").unwrap().unwrap().role, Role::Admin);

    let AuthEvent::Managed { operators, .. } = manage(Change::Remove {
        name: "carol".into(),
    }) else {
        panic!("remove failed")
    };
    assert_eq!(
        operators
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        ["alice", "bob"]
    );

    // New backup codes: ten, each usable, the old set gone.
    let old = auth.regenerate_backup_codes("alice").unwrap();
    let AuthEvent::BackupCodes { operator, codes } = handle(
        auth,
        AuthRequest::RegenerateBackupCodes {
            operator: "alice".into(),
        },
    ) else {
        panic!("no codes")
    };
    assert_eq!((operator.as_str(), codes.len()), ("alice", 10));
    assert!(auth.verify("alice", old[0].expose_secret(), now()).is_err());
    assert!(
        auth.verify("alice", codes[0].expose_secret(), now())
            .is_ok()
    );
    assert!(
        matches!(
            handle(
                auth,
                AuthRequest::RegenerateBackupCodes {
                    operator: "bob".into()
                }
            ),
            AuthEvent::ManageFailed { .. }
        ),
        "bob has no second factor left to attach codes to"
    );

    // Every change was audited with the admin who made it.
    let types = lib.events.types();
    for t in [
        "operator_role_changed",
        "mfa_reset",
        "operator_removed",
        "backup_codes_regenerated",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
    }
    let removed = lib
        .events
        .events()
        .into_iter()
        .find(|e| e.event_type == "operator_removed")
        .unwrap();
    assert_eq!(removed.details["actor"], "alice");
}
