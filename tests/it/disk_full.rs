//! A full disk, for real: the data dir is a small tmpfs mounted for the
//! test (we run as root) and filled up. A failed audit append leaves no torn
//! line, errors name the full disk, and store reads still work. When this
//! machine cannot mount a tmpfs the tests say so and skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use windflow::audit::{AuditSink, LocalLog, SecurityEvent};
use windflow::crypto::{Keyring, MasterKey};

use crate::support::cli::CliEnv;

/// A tmpfs of a few MiB mounted on a folder until dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) when mounting is impossible here.
    fn mount(dir: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(dir.to_owned())),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here ({}): the full-disk test needs root and mount",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount ({e}): the full-disk test needs it");
                None
            }
        }
    }

    /// Fills the file system; returns the filler to delete to free it.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        for chunk in [1 << 20, 4096] {
            let block = vec![0u8; chunk];
            let err = loop {
                if let Err(e) = f.write_all(&block) {
                    break e;
                }
            };
            assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An env whose data dir is a fresh tmpfs (`None` when none can be mounted).
fn env_on_tmpfs() -> Option<(CliEnv, Tmpfs)> {
    let env = CliEnv::new();
    let fs = Tmpfs::mount(&env.data())?;
    Some((env, fs))
}

#[test]
fn a_failed_append_on_a_full_disk_is_cut_back_and_names_the_full_disk() {
    let Some((env, fs)) = env_on_tmpfs() else {
        return;
    };
    let env = env.recording_as("ops");
    let key = MasterKey::generate();
    windflow::fsutil::write_private(
        &env.data().join("master.key"),
        format!("{}\n", key.to_base64().as_str()).as_bytes(),
    )
    .unwrap();
    // A long-lived writer, as the console's and the agent's.
    let log = LocalLog::with_keyring(env.data().join("audit"), Arc::new(Keyring::new(key)));
    let event = |n: usize, size: usize| {
        SecurityEvent::new(
            "probe",
            Some("u"),
            serde_json::json!({ "n": n, "pad": "x".repeat(size) }),
        )
    };
    let path = log.file_for(&event(0, 0).month());
    // The month's first append fails: nothing is recorded and nothing
    // looks tampered.
    let filler = fs.fill();
    let err = log.record(&event(0, 10)).unwrap_err().to_string();
    assert!(err.starts_with("disk full: "), "{err}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let v = env.json(&["audit", "verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    std::fs::remove_file(filler).unwrap();

    // Some room left in the file's last page, so a long record would be
    // written in part before the disk runs out.
    let mut n = 0;
    while n < 3 || std::fs::metadata(&path).unwrap().len().is_multiple_of(4096) {
        log.record(&event(n, 10)).unwrap();
        n += 1;
    }
    let before = std::fs::read(&path).unwrap();

    let filler = fs.fill();
    let err = log.record(&event(n, 64 * 1024)).unwrap_err().to_string();
    let after = std::fs::read(&path).unwrap();
    assert!(
        after == before,
        "the failed append left {} bytes behind (a torn line)",
        after.len() as i64 - before.len() as i64
    );
    assert_eq!(
        err,
        format!("disk full: {} (free space and retry)", path.display())
    );

    // Space back: the next append goes on and the log is intact.
    std::fs::remove_file(filler).unwrap();
    log.record(&event(n + 1, 10)).unwrap();
    let v = env.json(&["audit", "verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"], n as u64 + 1, "{v}");
}

#[test]
fn on_a_full_disk_store_reads_work_and_writes_name_the_full_disk() {
    let Some((env, fs)) = env_on_tmpfs() else {
        return;
    };
    env.operator_with_grant("ops");
    env.expect(
        &["--operator", "ops", "secrets", "put", "app/db", "k=v1"],
        0,
    );

    let filler = fs.fill();
    // Reads: the store opens although its shared memory cannot be sized.
    let ops = env.json(&["operators", "list", "--json"]);
    assert_eq!(ops[0]["name"], "ops", "{ops}");
    let secrets = env.json(&["secrets", "list", "--json"]);
    assert_eq!(secrets["secrets"][0]["path"], "app/db", "{secrets}");
    let tail = env.expect(&["audit", "tail", "--json"], 0);
    assert!(tail.contains("secret_written"), "{tail}");
    // A write names the full disk, and its hint is not another data dir.
    let out = env.run(&["--operator", "ops", "secrets", "put", "app/db", "k=v2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("disk full: "), "{stderr}");
    assert!(stderr.contains("(free space and retry)"), "{stderr}");
    assert!(!stderr.contains("xShmMap"), "{stderr}");
    assert!(!stderr.contains("--data-dir"), "{stderr}");

    // Space back: writes go on, nothing of the failed one was kept.
    std::fs::remove_file(filler).unwrap();
    let v = env.json(&["--operator", "ops", "secrets", "get", "app/db", "--json"]);
    assert_eq!(v["version"], 1, "{v}");
    env.expect(
        &["--operator", "ops", "secrets", "put", "app/db", "k=v2"],
        0,
    );
    env.expect(&["audit", "verify"], 0);
}

#[test]
fn a_store_opened_read_only_on_a_full_disk_writes_again_once_space_is_back() {
    let Some((env, fs)) = env_on_tmpfs() else {
        return;
    };
    let env = env.recording_as("ops");
    let filler = fs.fill();
    // A long-lived handle (the console's) opened on the full disk.
    let store = windflow::store::Store::open(&env.data()).unwrap();
    assert!(store.is_read_only());
    assert!(store.count("operators").unwrap() > 0);
    let err = store.put("probe", "k", b"v").unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "disk full: {} (free space and retry)",
            store.path().display()
        )
    );

    std::fs::remove_file(filler).unwrap();
    store.put("probe", "k", b"v").unwrap();
    assert!(!store.is_read_only());
    // It no longer holds the store to itself: another process writes.
    env.expect(&["audit", "log", "--type", "probe", "--user", "u"], 0);
    assert_eq!(store.get("probe", "k").unwrap().as_deref(), Some(&b"v"[..]));
}
