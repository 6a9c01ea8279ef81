//! Copy to the clipboard with OSC 52: the terminal emulator on the user's
//! side does the copying, so it works over SSH. tmux takes the plain
//! sequence itself and forwards it when its `set-clipboard` option is on
//! (passthrough would need `allow-passthrough`, off by default since tmux
//! 3.3); inside screen the sequence is wrapped so it passes through.

use base64::Engine;

/// Terminals refuse very long sequences; more than this is cut.
pub const MAX_BYTES: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multiplexer {
    None,
    Tmux,
    Screen,
}

impl Multiplexer {
    pub fn detect() -> Self {
        if std::env::var_os("TMUX").is_some() {
            Self::Tmux
        } else if std::env::var("TERM").is_ok_and(|t| t.starts_with("screen"))
            && std::env::var_os("STY").is_some()
        {
            Self::Screen
        } else {
            Self::None
        }
    }
}

/// The escape sequence that puts `text` on the clipboard.
pub fn sequence(text: &str, mux: Multiplexer) -> String {
    let mut end = text.len().min(MAX_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&text.as_bytes()[..end]);
    let osc = format!("\x1b]52;c;{b64}\x07");
    match mux {
        Multiplexer::None => osc,
        Multiplexer::Tmux => osc,
        Multiplexer::Screen => format!("\x1bP{osc}\x1b\\"),
    }
}

/// What `tmux show -gv set-clipboard` printed: whether tmux forwards OSC 52
/// to the outer terminal (`on` or `external`), `None` when it said nothing
/// usable.
pub fn tmux_forwards(show: &str) -> Option<bool> {
    match show.trim() {
        "on" | "external" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// Asks the tmux server the console runs in (once, at start).
pub fn tmux_set_clipboard() -> Option<bool> {
    let out = std::process::Command::new("tmux")
        .args(["show", "-gv", "set-clipboard"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| tmux_forwards(&String::from_utf8_lossy(&out.stdout)))
        .flatten()
}

/// What the status line says about a copy inside tmux whose `set-clipboard`
/// is off, `None` elsewhere.
pub fn tmux_warning(mux: Multiplexer, forwards: Option<bool>) -> Option<&'static str> {
    (mux == Multiplexer::Tmux && forwards == Some(false)).then_some(
        "tmux's set-clipboard is off, so the copy stops at tmux: run \
         `tmux set -g set-clipboard on` (and add it to ~/.tmux.conf)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tmux_and_screen_sequences() {
        assert_eq!(sequence("hi", Multiplexer::None), "\x1b]52;c;aGk=\x07");
        // tmux forwards the plain sequence itself (set-clipboard on).
        assert_eq!(sequence("hi", Multiplexer::Tmux), "\x1b]52;c;aGk=\x07");
        assert_eq!(
            sequence("hi", Multiplexer::Screen),
            "\x1bP\x1b]52;c;aGk=\x07\x1b\\"
        );
        assert_eq!(tmux_forwards("on\n"), Some(true));
        assert_eq!(tmux_forwards("external\n"), Some(true));
        assert_eq!(tmux_forwards("off\n"), Some(false));
        assert_eq!(tmux_forwards(""), None);
        assert!(tmux_warning(Multiplexer::Tmux, Some(false)).is_some());
        assert!(tmux_warning(Multiplexer::Tmux, Some(true)).is_none());
        assert!(tmux_warning(Multiplexer::None, Some(false)).is_none());
        let long = "é".repeat(MAX_BYTES);
        let seq = sequence(&long, Multiplexer::None);
        assert!(seq.len() < MAX_BYTES * 2);
    }
}
