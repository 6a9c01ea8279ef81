//! This host: its name, and whether a windflow process runs with a given pid.
//! Records that outlive a process (the agents' heartbeats, rotation journals)
//! name their owner by host and pid, and are taken over only when it is gone.

/// The host name (`unknown` when the system does not say).
pub fn name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok && end > 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

/// Whether a windflow process with this pid runs on this host (this process
/// included).
pub fn windflow_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    pid != 0
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("windflow"))
}
