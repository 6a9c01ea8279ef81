//! The terminal a command runs on, for grants bound to it (`windflow login
//! --tty`, like sudo's tty tickets). A terminal is told apart by the device
//! of stdin, the session the process belongs to and when that session's
//! leader started: a terminal closed and its `/dev/pts/N` handed to a new
//! session later is another terminal. Read from `/proc` (Linux).

use std::io::IsTerminal;

use serde::{Deserialize, Serialize};

/// A terminal as a grant records it. Nothing here is secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tty {
    /// The device of stdin, e.g. `/dev/pts/3` (for people).
    pub device: String,
    /// Its device number.
    pub rdev: u64,
    /// The session id of the process.
    pub sid: u32,
    /// When the session leader started (clock ticks after boot).
    pub leader_start: u64,
}

impl Tty {
    /// The terminal on stdin, or `None` when stdin is not a terminal.
    pub fn current() -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        if !std::io::stdin().is_terminal() {
            return None;
        }
        let device = std::fs::read_link("/proc/self/fd/0").ok()?;
        let rdev = std::fs::metadata("/proc/self/fd/0").ok()?.rdev();
        let sid: u32 = stat_field(&std::fs::read_to_string("/proc/self/stat").ok()?, 6)?
            .parse()
            .ok()?;
        // A leader outside this PID namespace (sid 0) is not visible: the
        // device and session number alone tell the terminal then.
        let leader_start = std::fs::read_to_string(format!("/proc/{sid}/stat"))
            .ok()
            .and_then(|l| stat_field(&l, 22)?.parse().ok())
            .unwrap_or(0);
        Some(Self {
            device: device.display().to_string(),
            rdev,
            sid,
            leader_start,
        })
    }
}

/// Field `n` (1-based, as proc(5) numbers them) of a `/proc/PID/stat` line.
/// The command name (field 2) may hold spaces and parentheses: fields after
/// it are counted from its last `)`.
fn stat_field(line: &str, n: usize) -> Option<&str> {
    let (_, rest) = line.rsplit_once(')')?;
    rest.split_whitespace().nth(n.checked_sub(3)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line =
            "4242 (a (b) c) S 1 4240 4200 34816 4242 4194304 1 2 3 4 5 6 7 8 20 0 1 0 987654 1";
        assert_eq!(stat_field(line, 3), Some("S"));
        assert_eq!(stat_field(line, 6), Some("4200"));
        assert_eq!(stat_field(line, 22), Some("987654"));
        assert_eq!(stat_field(line, 2), None);
        assert_eq!(stat_field("garbage", 6), None);
    }
}
