//! A real Prometheus Alertmanager (Debian `prometheus-alertmanager`) on a
//! loopback port, routing every alert to a webhook receiver of the test
//! after one second (`group_wait: 1s`), without clustering.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::audit_servers::{Receiver, Server, free_port, receiver};

const BIN: &str = "prometheus-alertmanager";

pub struct Alertmanager {
    pub server: Server,
    /// Where Alertmanager's notifications arrive.
    pub receiver: Receiver,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The webhook notifications received so far (Alertmanager's JSON).
    pub fn notifications(&self) -> Vec<serde_json::Value> {
        self.receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every alert of every notification received so far.
    pub fn notified_alerts(&self) -> Vec<serde_json::Value> {
        self.notifications()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits (at most a minute) for an alert whose labels hold `label=value`.
    pub fn wait_for_alert(&self, label: &str, value: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(a) = self
                .notified_alerts()
                .into_iter()
                .find(|a| a["labels"][label] == value)
            {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "no alert with {label}={value} reached the receiver; got {:?}",
                self.notifications()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` of its API, as JSON.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.url());
        http_get(&url)
            .and_then(|(code, body)| {
                (code == 200)
                    .then_some(body)
                    .ok_or_else(|| format!("answered {code}"))
            })
            .map(|body| serde_json::from_str(&body).unwrap())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }
}

/// Whether the Debian package is installed (scripts/test installs it).
fn check_installed() {
    let ok = Command::new(BIN)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{BIN} is missing: run scripts/test (it installs the Debian package prometheus-alertmanager)"
    );
}

/// Alertmanager grouping by `group_by` and sending every group to a fresh
/// receiver of the test.
pub fn start(group_by: &[&str]) -> Alertmanager {
    check_installed();
    let receiver = receiver();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: test\n  group_by: {group_by:?}\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    \
             webhook_configs:\n      - url: http://127.0.0.1:{}/am\n        send_resolved: false\n",
            receiver.port
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(BIN)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-alertmanager");
    let server = Server { child, port };
    // Ready when its API answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = http_get(&format!("http://127.0.0.1:{port}/-/ready"));
        if up.is_ok_and(|(code, _)| code == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Alertmanager {
        server,
        receiver,
        _dir: dir,
    }
}

/// A GET of `url`: the status code and the body (on a thread of its own,
/// so that async tests may call it too).
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    let url = url.to_owned();
    std::thread::spawn(move || get_on_own_runtime(&url))
        .join()
        .unwrap()
}

fn get_on_own_runtime(url: &str) -> Result<(u16, String), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let resp = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap()
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let code = resp.status().as_u16();
            Ok((code, resp.text().await.map_err(|e| e.to_string())?))
        })
}
