//! The in-test Kubernetes API server (`kube_api_server.py`, a fake: no
//! kube-apiserver installs here; its docstring says what it implements),
//! with a kubeconfig for it and the real `kubectl` pointed at it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use windflow::isolation::cluster::{Cluster, ClusterTarget};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/kube_api_server.py")
}

/// A running server on a loopback port: its request log, killed on drop.
pub struct KubeApi {
    child: Child,
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
    barriers: AtomicUsize,
    dir: tempfile::TempDir,
}

impl KubeApi {
    /// A server that lets anyone do anything.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server that needs a bearer token: `(token, user, may_write)`.
    pub fn with_tokens(tokens: &[(&str, &str, bool)]) -> Self {
        let args: Vec<String> = tokens
            .iter()
            .flat_map(|(t, u, w)| {
                [
                    "--token".to_owned(),
                    format!("{t}:{u}:{}", if *w { "rw" } else { "ro" }),
                ]
            })
            .collect();
        Self::start_with(&args)
    }

    fn start_with(args: &[String]) -> Self {
        let py = super::python_with("kubernetes_validate");
        let mut child = Command::new(&py)
            .arg("-u")
            .arg(script())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start the test API server with {}: {e}", py.display()));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("READY ") {
                    let _ = ready_tx.send(port.parse::<u16>().unwrap());
                } else if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        let Ok(port) = ready_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("the test API server did not start ({})", script().display());
        };
        Self {
            child,
            port,
            lines,
            barriers: AtomicUsize::new(0),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request answered so far (method, path, query, content_type,
    /// code, ...), oldest first. The server logs each before it answers;
    /// a barrier request then shows when the log has caught up.
    pub fn requests(&self) -> Vec<Value> {
        use std::io::{Read, Write};
        let id = format!("b{}", self.barriers.fetch_add(1, Ordering::SeqCst));
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET /windflow-test/barrier?{id} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .unwrap();
        stream.read_to_end(&mut Vec::new()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if let Some(at) = lines
                    .iter()
                    .position(|v| v["event"] == "barrier" && v["id"] == id.as_str())
                {
                    return lines[..at]
                        .iter()
                        .filter(|v| v["event"] == "request")
                        .cloned()
                        .collect();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the test API server's log did not catch up"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A kubeconfig with one context, `fake`, for this server (with `token`).
    pub fn kubeconfig(&self, token: Option<&str>) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("kubeconfig-{}", token.unwrap_or("anonymous")));
        let user = token.map_or("{}".to_owned(), |t| format!("{{token: {t}}}"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
                 clusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
                 users:\n- name: fake\n  user: {user}\n\
                 contexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\n",
                self.url()
            ),
        )
        .unwrap();
        path
    }

    /// The target for [`Cluster::connect`]: this server through a kubeconfig file.
    pub fn target(&self, token: Option<&str>) -> ClusterTarget {
        ClusterTarget {
            kubeconfig: Some(self.kubeconfig(token)),
            context: Some("fake".into()),
        }
    }

    pub async fn cluster(&self) -> Cluster {
        Cluster::connect(&self.target(None)).await.unwrap()
    }

    /// The real kubectl with `--server` pointed here (no kubeconfig of the
    /// developer's, a private discovery cache).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// [`KubeApi::kubectl`] with `input` on stdin (`-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: Option<&str>) -> Output {
        use std::io::Write;
        let home = self.dir.path().join("home");
        let mut child = Command::new(kubectl_bin())
            .args(["--server", &self.url()])
            .args(args)
            .env("HOME", &home)
            .env("KUBECONFIG", home.join("no-kubeconfig"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).unwrap();
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// kubectl that must exit `code`; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str], input: Option<&str>, code: i32) -> String {
        let out = self.kubectl_stdin(args, input);
        assert_eq!(
            out.status.code(),
            Some(code),
            "kubectl {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl get ... -o json` parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all, None, 0)).unwrap()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kubectl: on the PATH (Debian package `kubectl`, which scripts/test installs).
pub fn kubectl_bin() -> &'static Path {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let path = Path::new("kubectl");
    let found = *FOUND.get_or_init(|| {
        Command::new(path)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        found,
        "kubectl is missing: run scripts/test (it installs the Debian package kubectl)"
    );
    path
}
