//! Servers that demand a sign-in, run from `audit_auth_server.py` with the
//! venv's Python: aiosmtpd with an authenticator (STARTTLS first, or plain
//! loopback), and an HTTP front that requires basic auth or an API key before
//! forwarding to a real osmem-server.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::audit_servers::free_port;
use super::tls::TestCerts;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/audit_auth_server.py")
}

/// A running helper: its JSON lines, killed on drop.
pub struct AuthServer {
    child: Child,
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl AuthServer {
    fn start(what: &str, args: &[String]) -> Self {
        let py = super::python_with("aiosmtpd");
        let port = free_port();
        let mut child = Command::new(&py)
            .arg("-u")
            .arg(script())
            .args(args)
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what} with {}: {e}", py.display()));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "READY" {
                    let _ = ready_tx.send(());
                } else if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!(
                "{what} did not start (ran {} {})",
                py.display(),
                script().display()
            );
        }
        Self { child, port, lines }
    }

    /// Every line with `"event": kind` so far.
    pub fn seen(&self, kind: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["event"] == kind)
            .cloned()
            .collect()
    }

    /// Waits up to 20 s for a line with `"event": kind` matching `f`.
    pub fn wait(&self, kind: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.seen(kind).into_iter().find(&f) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} line came: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until `n` lines of `kind` pass `f` (the server logs after it
    /// answers, so a client can be told before the line is written); returns them.
    pub fn wait_count(&self, kind: &str, n: usize, f: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<Value> = self.seen(kind).into_iter().filter(&f).collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} {kind} lines came: {:?}",
                found.len(),
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd accepting only `user`/`password`: after STARTTLS on `certs`'
/// certificate when given, else over plain loopback.
pub fn smtp_auth(user: &str, password: &str, certs: Option<&TestCerts>) -> AuthServer {
    let mut args: Vec<String> = vec![
        "smtp".into(),
        "--user".into(),
        user.into(),
        "--password".into(),
        password.into(),
    ];
    if let Some(c) = certs {
        args.extend([
            "--cert".into(),
            c.cert.display().to_string(),
            "--key".into(),
            c.key.display().to_string(),
        ]);
    }
    AuthServer::start("aiosmtpd with AUTH", &args)
}

/// An HTTP front on loopback for the OpenSearch-compatible server on
/// `upstream_port`, accepting basic auth `user`/`password` or the API key.
pub fn es_front(
    upstream_port: u16,
    basic: Option<(&str, &str)>,
    api_key: Option<&str>,
) -> AuthServer {
    es_front_with(upstream_port, basic, api_key, None)
}

/// [`es_front`], with an API key that may search but gets 403 on writes.
pub fn es_front_with(
    upstream_port: u16,
    basic: Option<(&str, &str)>,
    api_key: Option<&str>,
    read_only_key: Option<&str>,
) -> AuthServer {
    let mut args: Vec<String> = vec![
        "esproxy".into(),
        "--upstream".into(),
        format!("127.0.0.1:{upstream_port}"),
    ];
    if let Some(k) = read_only_key {
        args.extend(["--read-only-key".into(), k.into()]);
    }
    if let Some((u, p)) = basic {
        args.extend(["--user".into(), u.into(), "--password".into(), p.into()]);
    }
    if let Some(k) = api_key {
        args.extend(["--api-key".into(), k.into()]);
    }
    AuthServer::start("the Elasticsearch auth front", &args)
}
