//! Real servers for the audit tests: osmem-server (OpenSearch-compatible),
//! aiosmtpd (SMTP), and a small HTTP receiver for webhook and Slack payloads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The venv `scripts/test` installs the Python tools into.
pub fn venv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port that refuses every connection for as long as this lives:
/// bound, so no other test's server can take it, but not listening.
pub struct DeadPort {
    _socket: socket2::Socket,
    pub port: u16,
}

pub fn dead_port() -> DeadPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    DeadPort {
        _socket: socket,
        port,
    }
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running server, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn osmem_bin() -> PathBuf {
    let lib = venv().join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|d| {
        d.filter_map(Result::ok)
            .map(|e| e.path().join("site-packages/osmem_server/bin/osmem-server"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "osmem-server is not installed: run scripts/test (it runs `{}/bin/pip install osmem-server`)",
            venv().display()
        )
    })
}

/// osmem-server on `port` (0: a free one).
pub fn osmem(port: u16) -> Server {
    let port = if port == 0 { free_port() } else { port };
    let child = Command::new(osmem_bin())
        .args(["-addr", &format!("127.0.0.1:{port}"), "-no-stdin-watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start osmem-server");
    wait_port(port, "osmem-server");
    Server { child, port }
}

/// aiosmtpd printing every message to its stdout, which we collect.
pub struct Smtp {
    pub server: Server,
    pub output: Arc<Mutex<String>>,
}

pub fn smtp() -> Smtp {
    smtp_with(&[])
}

/// aiosmtpd with STARTTLS required (`implicit` false) or SMTPS (`implicit`
/// true), on the certificate of `certs`.
pub fn smtp_tls(certs: &crate::support::tls::TestCerts, implicit: bool) -> Smtp {
    let (cert, key) = if implicit {
        ("--smtpscert", "--smtpskey")
    } else {
        ("--tlscert", "--tlskey")
    };
    smtp_with(&[
        cert.into(),
        certs.cert.display().to_string(),
        key.into(),
        certs.key.display().to_string(),
    ])
}

fn smtp_with(extra: &[String]) -> Smtp {
    let python = super::python_with("aiosmtpd");
    let port = free_port();
    let mut child = Command::new(python)
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Debugging",
            "-l",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let output = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = output.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    wait_port(port, "aiosmtpd");
    Smtp {
        server: Server { child, port },
        output,
    }
}

/// A request the HTTP receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub body: serde_json::Value,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
}

/// An HTTP/1.1 receiver on loopback: answers `status` to every POST and
/// keeps what it got.
pub struct Receiver {
    pub port: u16,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<Mutex<u16>>,
}

pub fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(Mutex::new(200u16));
    let (g, s) = (got.clone(), status.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (g, s) = (g.clone(), s.clone());
            std::thread::spawn(move || serve(conn, &g, &s));
        }
    });
    Receiver { port, got, status }
}

fn serve(conn: TcpStream, got: &Mutex<Vec<Received>>, status: &Mutex<u16>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let mut len = 0usize;
        let mut idempotency_key = None;
        let mut authorization = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("idempotency-key")
            {
                idempotency_key = Some(v.trim().to_owned());
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(v.trim().to_owned());
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let code = *status.lock().unwrap();
        if code == 200 {
            got.lock().unwrap().push(Received {
                path,
                body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                idempotency_key,
                authorization,
            });
        }
        let reply =
            format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok");
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
