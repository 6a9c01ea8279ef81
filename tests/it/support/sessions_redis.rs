//! A real `redis-server` on a free loopback port, for the session tests.
//! Stopped (killed) when dropped; `restart` keeps the port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Extra server arguments (TLS, password).
    extra: Vec<String>,
    tls: bool,
    /// The TLS files, kept for restarts.
    _certs: Option<crate::support::tls::TestCerts>,
}

fn binary() -> &'static str {
    "redis-server"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// Starts a server; panics with how to install it when it is missing.
    pub fn start() -> Self {
        for _ in 0..5 {
            let mut s = Self {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().unwrap(),
                extra: Vec::new(),
                tls: false,
                _certs: None,
            };
            if s.spawn() {
                return s;
            }
        }
        panic!("redis-server did not start on a free port after 5 tries");
    }

    /// A plain server that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Self {
        let mut s = Self {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
            extra: vec!["--requirepass".into(), password.into()],
            tls: false,
            _certs: None,
        };
        assert!(s.spawn(), "redis-server with a password did not start");
        s
    }

    /// A TLS-only server (certificate for 127.0.0.1 signed by a fresh CA,
    /// made with the `openssl` command) that requires `password`. Returns
    /// the server and the CA certificate (PEM).
    pub fn start_tls(password: &str) -> (Self, Vec<u8>) {
        let s = Self::start_tls_inner(password, false);
        let ca = std::fs::read(&s.certs().ca).unwrap();
        (s, ca)
    }

    /// Like [`RedisServer::start_tls`], and clients must also present a
    /// certificate signed by the server's CA (`--tls-auth-clients yes`):
    /// [`RedisServer::certs`] makes them.
    pub fn start_mtls(password: &str) -> Self {
        Self::start_tls_inner(password, true)
    }

    /// The CA and server certificates of a TLS server.
    pub fn certs(&self) -> &crate::support::tls::TestCerts {
        self._certs.as_ref().expect("a TLS server")
    }

    fn start_tls_inner(password: &str, auth_clients: bool) -> Self {
        let certs = crate::support::tls::TestCerts::new();
        let dir = tempfile::tempdir().unwrap();
        let path = |p: &std::path::Path| p.display().to_string();
        let mut s = Self {
            port: free_port(),
            child: None,
            dir,
            extra: Vec::new(),
            tls: true,
            _certs: None,
        };
        s.extra = vec![
            "--tls-cert-file".into(),
            path(&certs.cert),
            "--tls-key-file".into(),
            path(&certs.key),
            "--tls-ca-cert-file".into(),
            path(&certs.ca),
            "--tls-auth-clients".into(),
            if auth_clients { "yes" } else { "no" }.into(),
            "--requirepass".into(),
            password.into(),
        ];
        assert!(s.spawn(), "redis-server with TLS did not start");
        s._certs = Some(certs);
        s
    }

    fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let ports: [&str; 4] = if self.tls {
            ["--port", "0", "--tls-port", &port]
        } else {
            ["--port", &port, "--tls-port", "0"]
        };
        let child = Command::new(binary())
            .args(ports)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: run scripts/test (it installs it) or `apt-get install -y redis-server`"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                self.child = None;
                return false;
            }
            // A server with a password answers PING with NOAUTH: a connection will do.
            let up = if self.tls || !self.extra.is_empty() {
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                self.ping()
            };
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: it saves nothing).
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "redis-server did not come back on port {}",
            self.port
        );
    }

    /// A plain synchronous client for checks the application does not offer.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
