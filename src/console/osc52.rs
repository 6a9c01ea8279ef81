//! Copy to the clipboard with OSC 52: the terminal emulator on the user's
//! side does the copying, so it works over SSH; inside tmux or screen the
//! sequence is wrapped so it passes through to the outer terminal.

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
        // tmux passthrough: DCS tmux; with every ESC doubled, then ST.
        Multiplexer::Tmux => format!("\x1bPtmux;{}\x1b\\", osc.replace('\x1b', "\x1b\x1b")),
        Multiplexer::Screen => format!("\x1bP{osc}\x1b\\"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tmux_and_screen_sequences() {
        assert_eq!(sequence("hi", Multiplexer::None), "\x1b]52;c;aGk=\x07");
        assert_eq!(
            sequence("hi", Multiplexer::Tmux),
            "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
        );
        assert_eq!(
            sequence("hi", Multiplexer::Screen),
            "\x1bP\x1b]52;c;aGk=\x07\x1b\\"
        );
        let long = "é".repeat(MAX_BYTES);
        let seq = sequence(&long, Multiplexer::None);
        assert!(seq.len() < MAX_BYTES * 2);
    }
}
