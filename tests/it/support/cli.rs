//! The real binary on a private data dir, with private HOME and XDG dirs and
//! none of the settings a developer's shell may carry, so every CLI test sees
//! the same defaults.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use windflow::audit::SecurityEvent;

/// Variables that would change what the binary does; each test sets its own.
const CLEARED: &[&str] = &[
    "WINDFLOW_MASTER_KEY",
    "WINDFLOW_OPERATOR",
    "WINDFLOW_ENROLMENT_TOKEN",
    "WINDFLOW_CONFIG",
    "WINDFLOW_READ_ONLY",
    "WINDFLOW_STEP_UP_MINUTES",
    "WINDFLOW_REDIS_URL",
    "WINDFLOW_REDIS_CA_FILE",
    "WINDFLOW_REDIS_CLIENT_CERT",
    "WINDFLOW_REDIS_CLIENT_KEY",
    "WINDFLOW_SECRETS_BACKEND",
    "WINDFLOW_SECRETS_PAUSE_AT",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "WINDFLOW_VAULT_MOUNT",
    "ELASTICSEARCH_URL",
    "ELASTICSEARCH_USERNAME",
    "ELASTICSEARCH_PASSWORD",
    "ELASTICSEARCH_API_KEY",
    "WINDFLOW_ALERT_WEBHOOK_URL",
    "WINDFLOW_ALERT_SLACK_URL",
    "WINDFLOW_ALERT_SMTP_URL",
    "WINDFLOW_ALERT_SMTP_CA_FILE",
    "WINDFLOW_ALERT_EMAIL_TO",
    "WINDFLOW_ALERT_EMAIL_FROM",
    "WINDFLOW_ALERT_ALERTMANAGER_URL",
    "WINDFLOW_ALERT_ALERTMANAGER_USERNAME",
    "WINDFLOW_ALERT_ALERTMANAGER_PASSWORD",
    "WINDFLOW_ALERT_ALERTMANAGER_TOKEN",
    "WINDFLOW_ALERT_ALERTMANAGER_CA_FILE",
    "WINDFLOW_ALERT_ALERTMANAGER_GENERATOR_URL",
    "SSH_CONNECTION",
    "SSH_CLIENT",
];

pub struct CliEnv {
    pub root: tempfile::TempDir,
    vars: Vec<(String, String)>,
    /// The admin of [`CliEnv::acting_as`], who adds later operators.
    acting: Option<String>,
}

impl CliEnv {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
            acting: None,
        }
    }

    /// Sets `key=value` for every run (a backend address, ...).
    pub fn with_var(mut self, key: &str, value: &str) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let root = self.root.path();
        let mut cmd = Command::new(crate::support::windflow_bin());
        cmd.arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env("HOME", root.join("home"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("xdg-data"))
            .env("XDG_STATE_HOME", root.join("state"))
            .stdin(Stdio::null());
        for v in CLEARED {
            cmd.env_remove(v);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run windflow")
    }

    /// Runs with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn windflow");
        // A command refused before it reads stdin closes the pipe early: not an error here.
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().unwrap()
    }

    /// Runs and asserts the exit code; returns stdout.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "windflow {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs, asserts the exit code and parses stdout as JSON.
    pub fn json_code(&self, args: &[&str], code: i32) -> Value {
        let text = self.expect(args, code);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// [`CliEnv::json_code`] for a run that succeeds.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_code(args, 0)
    }

    /// The console in a terminal on this environment (not the demo), with
    /// `operator` added, enrolled and signed in: the Overview is showing.
    pub fn signed_in_console(
        &self,
        operator: &str,
        cols: u16,
        rows: u16,
    ) -> crate::support::pty::Pty {
        use secrecy::ExposeSecret;
        const T: std::time::Duration = std::time::Duration::from_secs(20);
        let (key, now) = self.enrolled(operator);
        let root = self.root.path();
        let path = |p: &str| root.join(p).display().to_string();
        let data = self.data().display().to_string();
        let mut vars: Vec<(String, String)> = vec![
            ("HOME".into(), path("home")),
            ("XDG_CONFIG_HOME".into(), path("config")),
            ("XDG_DATA_HOME".into(), path("xdg-data")),
            ("XDG_STATE_HOME".into(), path("state")),
            ("USER".into(), operator.into()),
            ("WINDFLOW_OPERATOR".into(), operator.into()),
        ];
        // The console signs in as `operator`, not as the acting admin.
        vars.extend(
            self.vars
                .iter()
                .filter(|(k, _)| k != "WINDFLOW_OPERATOR")
                .cloned(),
        );
        let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut pty = crate::support::pty::Pty::spawn(
            &crate::support::windflow_bin(),
            &["--data-dir", &data],
            &env,
            cols,
            rows,
        );
        pty.wait_for("sign in", T).unwrap();
        // The next 30 s step's code: the confirming one may not be used twice.
        pty.keys(key.code_at(now + 30).expose_secret());
        pty.keys("\r");
        pty.wait_for("Services (", T).unwrap();
        pty
    }

    /// `name` added as an admin (the first operator, or by the acting admin
    /// of [`CliEnv::acting_as`]) and its second factor confirmed with the
    /// code of now; returns its key and that moment.
    fn enrolled(&self, name: &str) -> (windflow::mfa::TotpKey, u64) {
        use secrecy::ExposeSecret;
        let added = self.json(&["operators", "add", name, "--role", "admin", "--json"]);
        let enrolment = match added["enrollment"]["secret"].as_str() {
            Some(_) => added["enrollment"].clone(),
            // Not the first: enrolled with the token `operators add` printed.
            None => {
                assert!(self.acting.is_some(), "{name} is not the first operator");
                let token = added["enrolment_token"].as_str().expect("a token");
                self.json(&["mfa", "enroll", name, "--token", token, "--json"])
            }
        };
        let secret = enrolment["secret"].as_str().expect("an enrolment secret");
        let key =
            windflow::mfa::TotpKey::from_base32(secret, windflow::mfa::Algorithm::Sha1, 6, 30)
                .unwrap();
        let now = windflow::mfa::unix_seconds(std::time::SystemTime::now());
        self.expect(
            &["mfa", "confirm", name, key.code_at(now).expose_secret()],
            0,
        );
        (key, now)
    }

    /// `name` added as an operator (an admin when the store is empty),
    /// enrolled, confirmed and holding an open grant from `login`, so that
    /// `--operator NAME` commands need no code. Returns the operator's key.
    pub fn operator_with_grant(&self, name: &str) -> windflow::mfa::TotpKey {
        use secrecy::ExposeSecret;
        let (key, now) = self.enrolled(name);
        let code = |t: u64| key.code_at(t).expose_secret().to_owned();
        // The next 30 s step's code: the confirming one may not be used twice.
        self.expect(&["--operator", name, "login", "--code", &code(now + 30)], 0);
        key
    }

    /// `name` added as the first operator (an admin) with an open grant,
    /// and acting in every later run (`WINDFLOW_OPERATOR`): for tests of
    /// commands that need an operator, such as `sessions create`.
    pub fn acting_as(mut self, name: &str) -> Self {
        self.operator_with_grant(name);
        self.acting = Some(name.to_owned());
        self.with_var("WINDFLOW_OPERATOR", name)
    }

    /// `name` put in the store as its first operator (an admin, without a
    /// second factor) and named in every later run (`WINDFLOW_OPERATOR`):
    /// enough for commands without step-up, such as `audit log`. Written
    /// straight into the store, so the audit log stays empty and no master
    /// key is made (the tests of the log and the key count on both).
    pub fn recording_as(self, name: &str) -> Self {
        // Written as a record from before operator records carried a MAC
        // (there is no master key to MAC it with): accepted as unbound
        // while the store is not bound as a whole.
        let store = windflow::store::Store::open(&self.data()).unwrap();
        let record =
            serde_json::json!({ "name": name, "role": "admin", "created_at": 1_750_000_000u64 });
        store
            .put(
                windflow::auth::OPERATORS_NS,
                name,
                record.to_string().as_bytes(),
            )
            .unwrap();
        self.with_var("WINDFLOW_OPERATOR", name)
    }

    /// Every security event of the local audit log so far.
    pub fn events(&self) -> Vec<SecurityEvent> {
        crate::support::audit_events(&self.data())
    }

    pub fn event_types(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.event_type).collect()
    }
}
