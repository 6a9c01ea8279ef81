//! A fresh CA and a server certificate for 127.0.0.1 signed by it, made with
//! the `openssl` command, for tests of TLS against real servers.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the `openssl` command in `dir`; panics with its error output.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("the openssl command is needed to make test certificates (apt-get install -y openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct TestCerts {
    dir: tempfile::TempDir,
    /// The CA certificate (PEM): what clients are told to trust.
    pub ca: PathBuf,
    /// The server's certificate and key (PEM), for IP 127.0.0.1.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCerts {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=windflow test CA",
            ],
        );
        let (cert, key) = issue(
            dir.path(),
            "server",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1",
        );
        Self {
            ca: dir.path().join("ca.pem"),
            cert,
            key,
            dir,
        }
    }

    /// A client certificate for `name` signed by this CA (for mutual TLS),
    /// and its key (PEM, mode 0600): (certificate, key).
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        issue(self.dir.path(), name, name, "extendedKeyUsage=clientAuth")
    }
}

/// A key and a certificate for common name `cn` with extension `ext`, signed by
/// the CA in `dir`, as `<stem>.pem` and `<stem>.key` (mode 0600): (certificate, key).
fn issue(dir: &Path, stem: &str, cn: &str, ext: &str) -> (PathBuf, PathBuf) {
    let (key, csr, cert, extfile) = (
        format!("{stem}.key"),
        format!("{stem}.csr"),
        format!("{stem}.pem"),
        format!("{stem}.ext"),
    );
    std::fs::write(dir.join(&extfile), format!("{ext}\n")).unwrap();
    let subject = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            &subject,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "1",
            "-extfile",
            &extfile,
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(&key), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    (dir.join(cert), dir.join(key))
}
