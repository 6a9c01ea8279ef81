//! The findings of the security review (issue 13), each through the real
//! binary and the real servers involved: who may mint sessions, read-only
//! for every state-changing command, audit ingestion, the last admin, tty
//! grants, scanner arguments, the rotation probe, sessions bound to their
//! id, and secret values in manifests.

use std::process::Stdio;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::Value;
use windflow::mfa::{Algorithm, TotpKey, unix_seconds};

use crate::support::cli::CliEnv;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0";

/// `name` added as the first operator (an admin) and confirmed: its key and
/// backup codes.
fn first_admin(env: &CliEnv, name: &str) -> (TotpKey, Vec<String>) {
    let added = env.json(&["operators", "add", name, "--json"]);
    let e = &added["enrollment"];
    let key = TotpKey::from_base32(e["secret"].as_str().unwrap(), Algorithm::Sha1, 6, 30).unwrap();
    let now = unix_seconds(std::time::SystemTime::now());
    env.expect(
        &["mfa", "confirm", name, key.code_at(now).expose_secret()],
        0,
    );
    let codes = e["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (key, codes)
}

fn create_args<'a>(user: &'a str, ip: &'a str) -> Vec<&'a str> {
    vec![
        "sessions",
        "create",
        "--user",
        user,
        "--ip",
        ip,
        "--user-agent",
        UA,
        "--json",
    ]
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ------------------------------------------------------------------ item 4

/// `sessions create` mints a credential: it needs an operator whose role
/// allows `sessions.create`, with a fresh second factor, and records who.
#[test]
fn sessions_create_needs_an_operator_with_the_role() {
    let env = CliEnv::new();
    // No operator at all (an empty store included): refused.
    let out = env.run(&create_args("alice", "203.0.113.10"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("sessions.create needs an operator"));

    env.operator_with_grant("boss");
    env.expect(
        &[
            "--operator",
            "boss",
            "operators",
            "add",
            "vic",
            "--role",
            "viewer",
        ],
        0,
    );
    // Operators exist, none named: refused.
    let out = env.run(&create_args("alice", "203.0.113.10"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs an operator"),
        "{}",
        stderr(&out)
    );
    // A viewer: refused by role.
    let mut args = vec!["--operator", "vic"];
    args.extend(create_args("alice", "203.0.113.10"));
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"vic\" is viewer, but sessions.create needs operator"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.json(&["sessions", "list", "--json"])["sessions"],
        serde_json::json!([])
    );

    // An admin with an open grant: created, and the event names who.
    let mut args = vec!["--operator", "boss"];
    args.extend(create_args("alice", "203.0.113.10"));
    let created = env.json(&args);
    assert_eq!(created["user_id"], "alice");
    let ev = env
        .events()
        .into_iter()
        .find(|e| e.event_type == "session_created")
        .expect("session_created recorded");
    assert_eq!(ev.details["by"], "boss");
    let denied: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "authorization_denied")
        .collect();
    assert_eq!(denied.len(), 1, "the viewer's refusal is recorded");
}

/// Every state-changing command refuses under read-only (exit 3, naming
/// read-only and the command), and changes nothing: a session presented by
/// another device stays live, a backup code stays unspent, no grant opens
/// or closes.
#[test]
fn every_state_changing_command_honours_read_only() {
    let env = CliEnv::new();
    let (_key, codes) = first_admin(&env, "boss");
    env.expect(&["--operator", "boss", "login", "--code", &codes[0]], 0);
    let mut args = vec!["--operator", "boss"];
    args.extend(create_args("alice", "203.0.113.10"));
    let created = env.json(&args);
    let id = created["id"].as_str().unwrap().to_owned();
    let before = env.json(&["sessions", "show", &id, "--json"]);

    let refused = |args: &[&str], name: &str| {
        let mut all = vec!["--read-only"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("read-only mode") && err.contains(&format!("`windflow {name}`")),
            "{args:?}: {err}"
        );
    };
    // Another device: without read-only this would revoke the session.
    refused(
        &[
            "sessions",
            "validate",
            &id,
            "--ip",
            "198.51.100.1",
            "--user-agent",
            "curl/8",
        ],
        "sessions validate",
    );
    refused(&["mfa", "verify", "boss", &codes[1]], "mfa verify");
    refused(
        &["--operator", "boss", "login", "--code", &codes[2]],
        "login",
    );
    refused(&["--operator", "boss", "logout"], "logout");
    refused(&["init"], "init");
    refused(&["audit", "log", "--type", "probe"], "audit log");
    refused(&args, "sessions create");
    refused(&["sessions", "revoke", &id], "sessions revoke");
    refused(
        &["sessions", "revoke-user", "alice"],
        "sessions revoke-user",
    );
    refused(&["operators", "add", "zed"], "operators add");
    refused(
        &["operators", "set-role", "boss", "viewer"],
        "operators set-role",
    );
    refused(&["operators", "remove", "boss"], "operators remove");
    refused(&["mfa", "reset", "boss"], "mfa reset");
    refused(&["mfa", "enroll", "boss"], "mfa enroll");
    refused(&["mfa", "confirm", "boss", "123456"], "mfa confirm");
    refused(
        &["mfa", "backup-codes", "boss", "--regenerate"],
        "mfa backup-codes --regenerate",
    );
    refused(&["crypto", "rewrap"], "crypto rewrap");
    refused(&["crypto", "add-key"], "crypto add-key");
    refused(&["secrets", "put", "app/db", "k=v"], "secrets put");
    refused(&["secrets", "recover"], "secrets recover");

    // The agent refuses at once instead of running.
    let mut agent = env
        .cmd(&["--read-only", "agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = agent.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = agent.kill();
            panic!("`--read-only agent` runs instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));

    // The same through the environment.
    let ro = CliEnv::new().with_var("WINDFLOW_READ_ONLY", "1");
    let out = ro.run(&["audit", "log", "--type", "probe"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // Nothing changed: the session is live and untouched ...
    let after = env.json(&["sessions", "show", &id, "--json"]);
    assert_eq!(after["state"], "active");
    assert_eq!(after["last_activity"], before["last_activity"]);
    // ... the backup code was not spent ...
    let out = env.expect(&["mfa", "verify", "boss", &codes[1]], 0);
    assert!(out.contains("backup code; 8 left"), "{out}");
    // ... and no grant was opened or closed.
    let types = env.event_types();
    let count = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(count("login_grant_opened"), 1, "{types:?}");
    assert_eq!(count("login_grant_closed"), 0, "{types:?}");
    assert_eq!(count("session_hijack_attempt"), 0, "{types:?}");
    assert_eq!(count("session_revoked"), 0, "{types:?}");
    // Reading still works.
    env.expect(&["--read-only", "sessions", "list"], 0);
    env.expect(&["--read-only", "operators", "list"], 0);
    env.expect(&["--read-only", "audit", "verify"], 0);
}

// ------------------------------------------------------------------ item 5

/// `audit log` records as an operator (required), written into the event
/// whatever the caller claims; a script's identity has the role ingest,
/// which records events and can do nothing else.
#[test]
fn audit_log_records_the_operator_and_ingest_may_only_record() {
    let env = CliEnv::new();
    let log = ["audit", "log", "--type", "deployment", "--user", "alice"];
    let out = env.run(&log);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("audit log needs an operator"));
    assert!(env.events().is_empty(), "nothing recorded");

    env.operator_with_grant("boss");
    let added = env.json(&[
        "--operator",
        "boss",
        "operators",
        "add",
        "ci",
        "--role",
        "ingest",
        "--json",
    ]);
    assert_eq!(added["operator"]["role"], "ingest");
    assert!(
        added["enrolment_token"].is_null(),
        "no second factor: {added}"
    );

    // Unknown operator: bad input; an operator: recorded, with the actor.
    let mut as_nobody = vec!["--operator", "nobody"];
    as_nobody.extend(log);
    assert_eq!(env.run(&as_nobody).status.code(), Some(2));
    let ev = env.json(&[
        "--operator",
        "ci",
        "audit",
        "log",
        "--type",
        "deployment",
        "--user",
        "alice",
        "--details",
        r#"{"service":"ledger","actor":"mallory"}"#,
        "--json",
    ]);
    assert_eq!(ev["details"]["actor"], "ci", "{ev}");
    assert_eq!(ev["details"]["service"], "ledger");
    assert!(ev["tags"].as_array().unwrap().contains(&"ingested".into()));
    let stored = env.events().into_iter().last().unwrap();
    assert_eq!(stored.details["actor"], "ci");
    env.expect(&["audit", "verify"], 0);

    // Nothing else: no session, secret, operator change, grant or enrolment.
    let as_ci = |args: &[&str]| {
        let mut all = vec!["--operator", "ci"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        stderr(&out)
    };
    let err = as_ci(&create_args("alice", "203.0.113.10"));
    assert!(err.contains("\"ci\" is ingest"), "{err}");
    as_ci(&["secrets", "put", "app/db", "k=v", "--code", "123456"]);
    as_ci(&["secrets", "get", "app/db", "--reveal", "--code", "123456"]);
    as_ci(&[
        "operators",
        "add",
        "eve",
        "--role",
        "admin",
        "--code",
        "123456",
    ]);
    as_ci(&["operators", "set-role", "ci", "admin", "--code", "123456"]);
    as_ci(&["sessions", "revoke-user", "alice", "--code", "123456"]);
    let err = as_ci(&["login", "--code", "123456"]);
    assert!(err.contains("needs viewer"), "{err}");
    as_ci(&["mfa", "enroll", "ci"]);
    assert_eq!(
        env.json(&["sessions", "list", "--json"])["sessions"],
        serde_json::json!([])
    );

    // Nor the console: signing in is refused for the role alone.
    let auth = windflow::auth::Auth::new(
        windflow::store::Store::open(&env.data()).unwrap(),
        std::sync::Arc::new(
            windflow::crypto::Keyring::from_env_or_file(&env.data().join("master.key"), false)
                .unwrap(),
        ),
        windflow::audit::Audit::new(std::sync::Arc::new(windflow::audit::Discard)),
        windflow::mfa::Policy::default(),
    );
    let err = auth.sign_in("ci", "123456", unix_seconds(std::time::SystemTime::now()));
    assert!(
        matches!(err, Err(windflow::auth::AuthError::Forbidden { .. })),
        "{err:?}"
    );
}

// ------------------------------------------------------------------ item 6

/// `name` added as an admin by `by` (who holds a grant), enrolled with the
/// token and holding a grant of its own.
fn second_admin(env: &CliEnv, by: &str, name: &str) {
    let added = env.json(&[
        "--operator",
        by,
        "operators",
        "add",
        name,
        "--role",
        "admin",
        "--json",
    ]);
    let token = added["enrolment_token"].as_str().unwrap();
    let e = env.json(&["mfa", "enroll", name, "--token", token, "--json"]);
    let key = TotpKey::from_base32(e["secret"].as_str().unwrap(), Algorithm::Sha1, 6, 30).unwrap();
    let now = unix_seconds(std::time::SystemTime::now());
    env.expect(
        &["mfa", "confirm", name, key.code_at(now).expose_secret()],
        0,
    );
    let code = key.code_at(now + 30);
    env.expect(
        &["--operator", name, "login", "--code", code.expose_secret()],
        0,
    );
}

fn admins(env: &CliEnv) -> Vec<String> {
    env.json(&["operators", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["role"] == "admin")
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Two admins demoting each other at the same moment, as two processes,
/// round after round: one of them always stays admin.
#[test]
fn two_admins_demoting_each_other_at_once_leave_one() {
    let env = CliEnv::new().with_var("WINDFLOW_STEP_UP_MINUTES", "60");
    env.operator_with_grant("ann");
    second_admin(&env, "ann", "ben");
    let demote = |by: &str, whom: &str| {
        env.cmd(&["--operator", by, "operators", "set-role", whom, "viewer"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut refused = 0;
    for round in 0..40 {
        let (a, b) = (demote("ann", "ben"), demote("ben", "ann"));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => {}
                // Refused: the last admin, or no longer an admin by then.
                Some(3) => refused += 1,
                code => panic!("round {round}: exit {code:?}: {}", stderr(&out)),
            }
        }
        let left = admins(&env);
        assert_eq!(left.len(), 1, "round {round}: admins {left:?}");
        let (by, whom) = if left[0] == "ann" {
            ("ann", "ben")
        } else {
            ("ben", "ann")
        };
        env.expect(
            &["--operator", by, "operators", "set-role", whom, "admin"],
            0,
        );
    }
    assert_eq!(refused, 40, "exactly one demotion per round is refused");
}

/// An image name starting with `-` never reaches a scanner: the CLI
/// refuses it (exit 2) and so does the runner the console uses; a real
/// trivy would have taken `--output=FILE` as its option.
#[test]
fn option_like_image_names_never_reach_the_scanner() {
    let trivy = crate::scans::trivy::trivy();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&trivy, bin.path().join("trivy")).unwrap();
    let env = CliEnv::new().with_var("PATH", &bin.path().display().to_string());
    let pwned = env.root.path().join("pwned");
    let image = format!("--output={}", pwned.display());
    let out = env.run(&["scan", "image", "--scanner", "trivy", "--", &image]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("starts with '-'"), "{}", stderr(&out));
    assert!(!pwned.exists());

    // The runner (the console's path) fails the job the same way.
    use windflow::scans::runner::{Job, Progress, Runner, RunnerConfig, Target, Tool};
    let runner = Runner::new(RunnerConfig {
        programs: [(Tool::Trivy, trivy)].into(),
        ..RunnerConfig::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (_cancel, cancel) = tokio::sync::watch::channel(false);
    let job = Job {
        target: Target::Image(image),
        tool: Tool::Trivy,
    };
    let results = rt.block_on(runner.run(vec![job], tx, cancel));
    let reason = results[0].outcome.as_ref().unwrap_err();
    assert!(reason.contains("starts with '-'"), "{reason}");
    let mut progress = Vec::new();
    while let Ok(p) = rx.try_recv() {
        progress.push(p);
    }
    assert!(
        !progress
            .iter()
            .any(|p| matches!(p, Progress::Running { .. })),
        "no scanner was started: {progress:?}"
    );
    assert!(!pwned.exists());
}

/// `script` run by sh in a new terminal (its own session), with `env`'s
/// HOME, XDG dirs and variables; `W` is the binary and `D` the data dir.
fn in_terminal(env: &CliEnv, script: &str) -> crate::support::pty::Pty {
    let root = env.root.path();
    let mut b = crate::support::pty::Pty::builder("/bin/sh")
        .args(["-c", script])
        .size(200, 50)
        .env("W", crate::support::windflow_bin().display().to_string())
        .env("D", env.data().display().to_string());
    for (k, dir) in [
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_STATE_HOME", "state"),
    ] {
        b = b.env(k, root.join(dir).display().to_string());
    }
    b.spawn()
}

/// A grant opened with `login --tty` is honoured from that terminal only:
/// not from a command without a terminal, nor from another terminal.
/// `tty_grants = true` binds every login and honours no unbound grant;
/// `config show` says which.
#[test]
fn tty_bound_grants_are_honoured_only_on_their_terminal() {
    const T: Duration = Duration::from_secs(30);
    let env = CliEnv::new();
    let (key, backup) = first_admin(&env, "ann");
    let now = unix_seconds(std::time::SystemTime::now());
    let code = key.code_at(now + 30).expose_secret().to_owned();

    // Without a terminal, a tty-bound login is refused before the code is spent.
    let out = env.run(&["--operator", "ann", "login", "--tty", "--code", &code]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin is not a terminal"));

    let term = in_terminal(
        &env,
        &format!(
            "\"$W\" --data-dir \"$D\" --operator ann login --tty --code {code}; echo LOGIN=$?; \
             \"$W\" --data-dir \"$D\" --operator ann operators add a1; echo SAME=$?; \
             read _"
        ),
    );
    term.wait_for("SAME=", T)
        .unwrap_or_else(|e| panic!("{e}: {}", term.screen_text()));
    let screen = term.screen_text();
    assert!(
        screen.contains("LOGIN=0") && screen.contains("SAME=0"),
        "{screen}"
    );
    assert!(
        screen.contains("only from the terminal /dev/pts/"),
        "{screen}"
    );

    // No terminal: refused, naming the terminal the grant is bound to.
    let out = env.run(&["--operator", "ann", "operators", "add", "a2"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is bound to the terminal /dev/pts/"),
        "{}",
        stderr(&out)
    );
    // Another terminal: refused too.
    let other = in_terminal(
        &env,
        "\"$W\" --data-dir \"$D\" --operator ann operators add a3; echo OTHER=$?; read _",
    );
    other
        .wait_for("OTHER=", T)
        .unwrap_or_else(|e| panic!("{e}: {}", other.screen_text()));
    assert!(
        other.screen_text().contains("OTHER=3"),
        "{}",
        other.screen_text()
    );
    drop(term);
    let names = env.json(&["operators", "list", "--json"]).to_string();
    assert!(names.contains("a1") && !names.contains("a2") && !names.contains("a3"));

    // An unbound grant (no --tty) works from anywhere ...
    env.expect(&["--operator", "ann", "login", "--code", &backup[0]], 0);
    env.expect(&["--operator", "ann", "operators", "add", "a4"], 0);
    // ... but not once tty_grants is on; `config show` says which.
    let env = env.with_var("WINDFLOW_TTY_GRANTS", "1");
    let shown = env.expect(&["config", "show"], 0);
    assert!(shown.contains("tty_grants        = true  (env)"), "{shown}");
    assert_eq!(env.json(&["config", "show", "--json"])["tty_grants"], true);
    let out = env.run(&["--operator", "ann", "operators", "add", "a5"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not bound to a terminal, and tty_grants is on"),
        "{}",
        stderr(&out)
    );
    // Every login is bound then: without a terminal it is refused.
    let out = env.run(&["--operator", "ann", "login", "--code", &backup[1]]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

// ------------------------------------------------------------------ item 7

/// The redirecting server of `support/redirecting_server.py`, its requests
/// collected; killed on drop.
struct ProbeServer {
    child: std::process::Child,
    port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl ProbeServer {
    fn start() -> Self {
        use std::io::BufRead;
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/support/redirecting_server.py");
        let mut child = std::process::Command::new(crate::support::python_with("http.server"))
            .arg("-u")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the probe server");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        let port = first["port"].as_u64().unwrap() as u16;
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Self { child, port, got }
    }

    fn paths(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for ProbeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Words that may be in the probe's URL or its redirect, never shown.
const PROBE_SECRETS: &[&str] = &["probe-pw", "probe-tok", "stolen-pw", "loc-secret"];

fn assert_no_probe_secret(what: &str, text: &str) {
    for s in PROBE_SECRETS {
        assert!(!text.contains(s), "{what} shows {s:?}: {text}");
    }
}

/// The rotation's HTTP probe: a 307 or 308 is not followed (the new values
/// reach the probe once and never the address it points to), the rotation
/// rolls back saying why, and the URL's password and token appear in no
/// output, event, alert or journal; plain http:// is refused unless to
/// loopback (exit 2, nothing rotated).
#[test]
fn the_rotation_probe_follows_no_redirect_and_shows_no_url_secret() {
    let hook = crate::support::audit_servers::receiver();
    let env = CliEnv::new()
        .with_var(
            "WINDFLOW_ALERT_WEBHOOK_URL",
            &format!("http://127.0.0.1:{}/hook", hook.port),
        )
        .acting_as("ops");
    let conf = env.root.path().join("config/windflow");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("windflow.toml"),
        "[[audit.rules]]\nmin_severity = \"high\"\n",
    )
    .unwrap();
    env.expect(&["secrets", "put", "app/db", "password=old-value"], 0);
    let server = ProbeServer::start();

    for redirect in [307, 308] {
        let url = format!(
            "http://probe:probe-pw@127.0.0.1:{}/probe/{redirect}?token=probe-tok",
            server.port
        );
        let out = env.run(&["secrets", "rotate", "app/db", "--validate-url", &url]);
        let (so, se) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{so}{se}");
        assert!(
            se.contains(&format!("answered {redirect}"))
                && se.contains("not followed")
                && se.contains("http://thief:****@127.0.0.1"),
            "{se}"
        );
        assert_no_probe_secret("stdout", &so);
        assert_no_probe_secret("stderr", &se);
    }
    // The values went to the probe once per rotation, never on to /steal.
    let paths = server.paths();
    assert_eq!(
        paths,
        ["/probe/307?token=probe-tok", "/probe/308?token=probe-tok"],
        "{paths:?}"
    );
    let got = server.got.lock().unwrap().clone();
    let sent: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_ne!(sent["password"], "old-value", "the probe got the new value");
    // Rolled back: the old value is current.
    let current = env.json(&["secrets", "get", "app/db", "--reveal", "--json"]);
    assert_eq!(
        current["keys"]["password"]["value"], "old-value",
        "{current}"
    );

    // Events and the alerts they raised.
    let events = serde_json::to_string(&env.events()).unwrap();
    assert!(events.contains("secret_rotation_failed"), "{events}");
    assert_no_probe_secret("the audit log", &events);
    // (Repeats of a type and user fold into one alert.)
    let start = Instant::now();
    let alerts = loop {
        let got: Vec<Value> = hook
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect();
        let text = serde_json::to_string(&got).unwrap();
        if text.contains("secret_rotation_failed") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no alert came: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(alerts.contains("answered 307"), "{alerts}");
    assert_no_probe_secret("the alerts", &alerts);

    // The journal, as a rotation paused at the probe leaves it.
    let url = format!(
        "http://probe:probe-pw@127.0.0.1:{}/probe/ok?token=probe-tok",
        server.port
    );
    let mut paused = env
        .cmd(&["secrets", "rotate", "app/db", "--validate-url", &url])
        .env("WINDFLOW_SECRETS_PAUSE_AT", "validate")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let mut err = std::io::BufReader::new(paused.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("paused at validate") {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "the rotation ended");
        }
    }
    let db = rusqlite::Connection::open(env.data().join("windflow.db")).unwrap();
    let journal: Vec<u8> = db
        .query_row(
            "SELECT value FROM kv WHERE ns = 'secrets.rotation'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let journal = String::from_utf8(journal).unwrap();
    assert!(journal.contains("127.0.0.1"), "{journal}");
    assert_no_probe_secret("the journal", &journal);
    let _ = paused.kill();
    let _ = paused.wait();

    // Plain http:// to another host: refused before anything is written.
    let before = env.json(&["secrets", "history", "app/db", "--json"]);
    let out = env.run(&[
        "secrets",
        "rotate",
        "app/db",
        "--validate-url",
        "http://probe:probe-pw@probe.example:8080/check?token=probe-tok",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("use https://"), "{}", stderr(&out));
    assert_no_probe_secret("stderr", &stderr(&out));
    assert_eq!(
        env.json(&["secrets", "history", "app/db", "--json"]),
        before
    );
}

// ------------------------------------------------------------------ item 10

/// A session's JSON as windflow seals it, `born` ms ago, touched just now.
fn session_json(id: &str, user: &str, born_ago_ms: i64) -> Vec<u8> {
    use windflow::sessions::model::{Device, Session, SessionType};
    let now = windflow::sessions::backend::now_ms();
    let mut s = Session::new(
        user,
        SessionType::Web,
        &Device::new("203.0.113.10".parse().unwrap(), UA),
        vec![],
        now - born_ago_ms,
    );
    s.id = id.to_owned();
    s.last_activity = now;
    windflow::sessions::model::to_json(&s)
}

fn validate_args(id: &str) -> Vec<&str> {
    vec![
        "sessions",
        "validate",
        id,
        "--ip",
        "203.0.113.10",
        "--user-agent",
        UA,
        "--json",
    ]
}

/// Against a real redis-server: an envelope copied under another session's
/// key does not open there (sealed for its own id), an envelope of the
/// old, unbound context naming another id is refused too, and each refusal
/// is said on stderr and recorded; an old envelope under its own id still
/// works and is sealed again for its id.
#[test]
fn session_envelopes_are_bound_to_their_id() {
    use redis::Commands;
    let redis = crate::support::sessions_redis::RedisServer::start();
    let env = CliEnv::new()
        .acting_as("ops")
        .with_var("WINDFLOW_REDIS_URL", &redis.url());
    let mut r = redis.client();
    let keys =
        windflow::crypto::Keyring::from_env_or_file(&env.data().join("master.key"), false).unwrap();
    let create = |user: &str| {
        env.json(&create_args(user, "203.0.113.10"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a, b) = (create("alice"), create("bob"));

    // alice's envelope copied under bob's key: refused, not taken for bob's.
    let env_a: String = r.get(format!("session:{a}")).unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("session:{b}"))
        .arg(&env_a)
        .arg("KEEPTTL")
        .query(&mut r)
        .unwrap();
    let out = env.run(&validate_args(&b));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v} {}", stderr(&out));
    assert_eq!(v["reason"], "undecryptable", "{v}");
    assert!(
        stderr(&out).contains("1 stored session record(s) refused"),
        "{}",
        stderr(&out)
    );

    // An envelope of the old context (before sessions were bound to their
    // id) naming alice, stored under a new id: refused as another's.
    let c = windflow::sessions::model::new_id();
    let legacy = keys
        .encrypt(
            windflow::crypto::contexts::session_unbound(),
            &session_json(&a, "alice", 60_000),
        )
        .unwrap();
    let _: () = r.set_ex(format!("session:{c}"), &legacy, 3600).unwrap();
    let out = env.run(&validate_args(&c));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["reason"], "misplaced", "{v}");

    // Listing leaves both out and says so; every refusal is recorded.
    let out = env.run(&["sessions", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()], "{listed}");
    assert!(
        stderr(&out).contains("2 stored session record(s) refused"),
        "{}",
        stderr(&out)
    );
    let refused: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "session_envelope_refused")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(refused[0].severity, windflow::audit::Severity::High);
    assert!(
        !serde_json::to_string(&refused).unwrap().contains(&b),
        "no full id"
    );

    // An old envelope under its own id is valid, and sealed again for it.
    let _: () = r.set_ex(format!("session:{a}"), &legacy, 3600).unwrap();
    let out = env.run(&validate_args(&a));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let now: String = r.get(format!("session:{a}")).unwrap();
    assert_ne!(now, legacy);
    let opened = keys
        .decrypt(&windflow::crypto::contexts::session(&a), &now)
        .unwrap();
    let s: Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(s["id"], a.as_str());
}

/// Sessions have an absolute lifetime beside the sliding TTL: one created
/// longer ago than `max_lifetime` (12 h by default) is expired though it
/// was just used, and a valid one's TTL ends at that deadline.
#[test]
fn sessions_end_at_their_absolute_lifetime_however_active() {
    use redis::Commands;
    let redis = crate::support::sessions_redis::RedisServer::start();
    let env = CliEnv::new()
        .acting_as("ops")
        .with_var("WINDFLOW_REDIS_URL", &redis.url());
    let mut r = redis.client();
    // The master key exists once a session was made.
    env.json(&create_args("carol", "203.0.113.10"));
    let keys =
        windflow::crypto::Keyring::from_env_or_file(&env.data().join("master.key"), false).unwrap();
    let plant = |born_ago_ms: i64| {
        let id = windflow::sessions::model::new_id();
        let sealed = keys
            .encrypt(
                &windflow::crypto::contexts::session(&id),
                &session_json(&id, "dave", born_ago_ms),
            )
            .unwrap();
        // Touched a minute ago: the sliding TTL alone would keep it an hour.
        let _: () = redis
            .client()
            .set_ex(format!("session:{id}"), sealed, 3600)
            .unwrap();
        id
    };
    let hour = 3_600_000;

    let old = plant(13 * hour);
    let out = env.run(&validate_args(&old));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["reason"], "expired", "{v}");
    let gone: bool = r.exists(format!("session:{old}")).unwrap();
    assert!(!gone, "an expired session is removed");

    let young = plant(11 * hour + hour / 2);
    let v = env.json(&validate_args(&young));
    assert_eq!(v["valid"], true, "{v}");
    let ttl: i64 = r.pttl(format!("session:{young}")).unwrap();
    assert!(
        ttl <= hour / 2 && ttl > 0,
        "the TTL ends at the deadline: {ttl}"
    );

    // A shorter max_lifetime from windflow.toml.
    let conf = env.root.path().join("config/windflow");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("windflow.toml"),
        "[sessions]\nmax_lifetime = \"30m\"\n",
    )
    .unwrap();
    let v = env.json_code(&validate_args(&plant(40 * 60_000)), 1);
    assert_eq!(v["reason"], "expired", "{v}");
    std::fs::write(
        conf.join("windflow.toml"),
        "[sessions]\nmax_lifetime = \"soon\"\n",
    )
    .unwrap();
    let out = env.run(&validate_args(&young));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("max_lifetime"), "{}", stderr(&out));
}

// ------------------------------------------------------------------ item 13

/// `secret-in-env` looks at values: a private key or a token pasted under
/// an innocent name is found, naming the container and the variable, and
/// the value appears nowhere in the text or JSON output; ordinary values
/// (a URL, a UUID, a path, a word) are not.
#[test]
fn secret_values_in_env_are_found_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        (
            "TLS_MATERIAL",
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5owLdQbnBZLJMoAoGCCqGSM49\n-----END EC PRIVATE KEY-----",
            "a PEM private key",
        ),
        (
            "UPSTREAM",
            "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",
            "a GitHub token",
        ),
        ("CLOUD_ID", "AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        (
            "SESSION_BLOB",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "a JWT",
        ),
        (
            "BLOB",
            "q7Vn2LxK9pR4tW8zYb3Mc6Hd1Fg5Js0A",
            "a high-entropy string",
        ),
    ];
    let ordinary = [
        ("HOMEPAGE", "https://example.com/app?tab=2"),
        ("REQUEST_ID", "550e8400-e29b-41d4-a716-446655440000"),
        ("DATA_DIR", "/var/lib/app"),
        ("MODE", "production"),
    ];
    let env_yaml: String = secrets
        .iter()
        .map(|(n, v, _)| (*n, *v))
        .chain(ordinary)
        .map(|(n, v)| format!("            - name: {n}\n              value: {v:?}\n"))
        .collect();
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\n\
         spec:\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      \
         labels: {{app: api}}\n    spec:\n      containers:\n        - name: server\n          \
         image: registry.example/api:1.4.2\n          env:\n{env_yaml}"
    );
    let file = dir.path().join("api.yaml");
    std::fs::write(&file, manifest).unwrap();
    let env = CliEnv::new();
    let path = file.display().to_string();
    let text = String::from_utf8(env.run(&["scan", "manifests", &path]).stdout).unwrap();
    let out = env.run(&["scan", "manifests", &path, "--json"]);
    let json = String::from_utf8(out.stdout.clone()).unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {json}"));
    let hits: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "secret-in-env")
        .collect();
    assert_eq!(hits.len(), secrets.len(), "{hits:#?}");
    for (name, value, kind) in secrets {
        let hit = hits
            .iter()
            .find(|f| {
                f["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("env {name} "))
            })
            .unwrap_or_else(|| panic!("{name} not found: {hits:#?}"));
        assert_eq!(hit["container"], "server");
        assert!(hit["message"].as_str().unwrap().contains(kind), "{hit}");
        assert!(
            text.contains(name),
            "{name} not in the text output:\n{text}"
        );
        // No part of the value: not the whole, not a line of the key.
        for part in value.lines().filter(|l| l.len() >= 12) {
            assert!(!json.contains(part), "{name}'s value in the JSON output");
            assert!(!text.contains(part), "{name}'s value in the text output");
        }
    }
    for (name, _) in ordinary {
        assert!(
            !hits
                .iter()
                .any(|f| f["message"].as_str().unwrap().contains(name)),
            "{name} is ordinary: {hits:#?}"
        );
    }
}

// ------------------------------------------------------------------ item 3

/// Records what reaches the sessions service.
#[derive(Default)]
struct Received(std::sync::Mutex<Vec<String>>);

impl windflow::service::Handle for Received {
    fn domain(&self) -> &'static str {
        windflow::sessions::service::NAME
    }
    fn send(&self, req: windflow::service::DomainRequest) -> bool {
        self.0.lock().unwrap().push(format!("{req:?}"));
        true
    }
}

/// The console acts on the role the store holds now, not the one it saw
/// at sign-in: each guarded request is checked as it leaves for its service
/// (a demoted operator is refused and the console takes on the new role),
/// the once-a-second role read locks the console of a removed operator,
/// and the auth service refuses a change from someone no longer an admin.
#[test]
fn the_console_holds_its_operator_to_the_role_stored_now() {
    use std::sync::Arc;
    use windflow::auth::service::{AuthEvent, AuthRequest, Change, handle};
    use windflow::auth::{Auth, Role};
    use windflow::console::app::{Msg, Request};
    use windflow::service::ServiceEvent;
    use windflow::sessions::service::SessionsRequest;

    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::new(
        windflow::store::Store::open(dir.path()).unwrap(),
        Arc::new(windflow::crypto::Keyring::new(
            windflow::crypto::MasterKey::generate(),
        )),
        windflow::audit::Audit::new(Arc::new(windflow::audit::Discard)),
        windflow::mfa::Policy::default(),
    );
    auth.add_first_operator("alice", Role::Admin).unwrap();
    auth.add_operator("bob", Role::Admin).unwrap();

    let mut settings = crate::console::settings();
    settings.sign_in = true;
    let mut app =
        windflow::console::app::App::new(settings, windflow::console::panes(), "dark", "vim")
            .unwrap();
    let auth_ev = |ev| Msg::Service(ServiceEvent::Auth(ev));
    app.update(auth_ev(AuthEvent::Ready {
        has_operators: true,
    }));
    app.update(auth_ev(AuthEvent::SignedIn {
        operator: "bob".into(),
        role: Role::Admin,
    }));
    assert_eq!(app.signed().map(|s| s.role), Some(Role::Admin));

    let received = Arc::new(Received::default());
    let services = windflow::console::Services {
        auth: None,
        domains: vec![received.clone()],
        authz: Some(auth.clone()),
    };
    let revoke = || {
        Request::domain(SessionsRequest::Revoke {
            id: "3f9a2c1b".into(),
            by: String::new(),
        })
    };
    let sent = || received.0.lock().unwrap().len();

    services.send(revoke(), &mut app);
    assert_eq!(sent(), 1, "an admin's revocation goes through");

    // A step-up code gone stale while a form or question stayed open: the
    // request waits for a fresh code, then leaves.
    if let windflow::console::gate::Gate::Open(s) = &mut app.gate {
        s.mfa_at = std::time::Instant::now()
            .checked_sub(Duration::from_secs(3600))
            .unwrap();
    }
    services.send(revoke(), &mut app);
    assert_eq!(sent(), 1, "sent on a stale step-up");
    let screen = crate::console::screen(&mut app, 100, 30);
    assert!(screen.contains("needs a fresh code"), "{screen}");
    let resumed = app.update(auth_ev(AuthEvent::SteppedUp {
        action: "sessions.revoke",
    }));
    for r in resumed {
        services.send(r, &mut app);
    }
    assert_eq!(
        sent(),
        2,
        "the waiting revocation did not leave after the code"
    );

    // Demoted to viewer by alice: refused at once, and the console says so.
    auth.clone()
        .with_actor("alice")
        .set_role("bob", Role::Viewer)
        .unwrap();
    services.send(revoke(), &mut app);
    assert_eq!(sent(), 2, "a viewer's revocation reached the service");
    assert_eq!(app.signed().map(|s| s.role), Some(Role::Viewer));
    let screen = crate::console::screen(&mut app, 100, 30);
    assert!(screen.contains("needs operator"), "{screen}");

    // The auth service refuses a change asked for by a former admin.
    let ev = handle(
        &auth,
        AuthRequest::Manage {
            actor: "bob".into(),
            change: Change::Remove {
                name: "alice".into(),
            },
        },
    );
    assert!(
        matches!(&ev, AuthEvent::ManageFailed { reason } if reason.contains("needs admin")),
        "{ev:?}"
    );
    assert!(auth.operator("alice").unwrap().is_some());

    // Removed: the next tick's role read locks the console.
    auth.clone()
        .with_actor("alice")
        .remove_operator("bob")
        .unwrap();
    let reqs = app.update(Msg::Tick);
    let current = reqs
        .into_iter()
        .find_map(|r| match r {
            Request::Auth(r @ AuthRequest::Current { .. }) => Some(r),
            _ => None,
        })
        .expect("the tick asks for the operator's current role");
    app.update(auth_ev(handle(&auth, current)));
    assert!(app.signed().is_none(), "the console stayed open");
    let screen = crate::console::screen(&mut app, 100, 30);
    assert!(screen.contains("no longer exists"), "{screen}");
}

/// End to end: an admin removes the operator signed in to a console; the
/// console locks to its sign-in screen within a second or so (the role is
/// read every second).
#[test]
fn a_removed_operators_console_locks() {
    let env = CliEnv::new().acting_as("alice");
    let pty = env.signed_in_console("bob", 100, 30);
    env.expect(&["operators", "remove", "bob"], 0);
    pty.wait_for("no longer exists", std::time::Duration::from_secs(5))
        .unwrap();
    assert!(pty.contains("sign in"), "{}", pty.screen_text());
}
