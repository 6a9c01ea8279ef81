//! Run a program in a pseudo-terminal, type at it and read its screen.
//!
//! [`Pty`] starts a program on a fresh pseudo-terminal with a clean
//! environment. A reader thread feeds everything the program writes into a
//! [`vt100::Parser`] (the emulated screen) and keeps the raw bytes too. The
//! emulated terminal answers the queries a terminal library sends on start-up
//! (cursor position, device attributes, colours), so programs that ask do not
//! stall waiting for a reply.
//!
//! Every wait takes a timeout and fails with the whole current screen in its
//! message, and a wait stops early when the program has closed the terminal,
//! so a test never hangs and a failing one shows what the user would have
//! seen.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};
use tempfile::TempDir;

/// How often waits look at the screen again.
const POLL: Duration = Duration::from_millis(10);
/// Pause kept after a write that ends in a lone ESC, so that the program
/// reads the ESC on its own and not as the start of an Alt- or escape
/// sequence together with the next key.
const ESC_GAP: Duration = Duration::from_millis(30);
/// How long [`Pty::wait_exit`] waits, after the program exited, for the
/// reader to take in the last bytes the program wrote.
const DRAIN: Duration = Duration::from_secs(1);
/// How much of the raw output a failure message shows.
const OUTPUT_TAIL: usize = 400;

/// A key on an xterm keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Esc,
    Enter,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    Insert,
    Delete,
    CtrlC,
    /// Control plus a letter or one of `@ [ \ ] ^ _ ? space`.
    Ctrl(char),
    /// Alt (Meta) plus a character: ESC followed by the character.
    Alt(char),
    Char(char),
    /// Function keys F1 to F12.
    F(u8),
}

impl Key {
    /// The bytes xterm sends for this key. With `application_cursor` (DECCKM
    /// set by the program) the arrows, Home and End use SS3 instead of CSI.
    pub fn bytes(self, application_cursor: bool) -> Vec<u8> {
        let cursor = |final_byte: u8| {
            let intro = if application_cursor { b'O' } else { b'[' };
            vec![0x1b, intro, final_byte]
        };
        match self {
            Key::Esc => vec![0x1b],
            Key::Enter => vec![b'\r'],
            Key::Tab => vec![b'\t'],
            Key::BackTab => b"\x1b[Z".to_vec(),
            Key::Backspace => vec![0x7f],
            Key::Up => cursor(b'A'),
            Key::Down => cursor(b'B'),
            Key::Right => cursor(b'C'),
            Key::Left => cursor(b'D'),
            Key::Home => cursor(b'H'),
            Key::End => cursor(b'F'),
            Key::PageUp => b"\x1b[5~".to_vec(),
            Key::PageDown => b"\x1b[6~".to_vec(),
            Key::Insert => b"\x1b[2~".to_vec(),
            Key::Delete => b"\x1b[3~".to_vec(),
            Key::CtrlC => vec![0x03],
            Key::Ctrl(c) => vec![ctrl_byte(c)],
            Key::Alt(c) => {
                let mut bytes = vec![0x1b];
                bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                bytes
            }
            Key::Char(c) => c.encode_utf8(&mut [0; 4]).as_bytes().to_vec(),
            Key::F(n @ 1..=4) => vec![0x1b, b'O', b'P' + (n - 1)],
            Key::F(n) => {
                let code = match n {
                    5 => 15,
                    6 => 17,
                    7 => 18,
                    8 => 19,
                    9 => 20,
                    10 => 21,
                    11 => 23,
                    12 => 24,
                    _ => panic!("there is no F{n} key on an xterm keyboard (F1 to F12)"),
                };
                format!("\x1b[{code}~").into_bytes()
            }
        }
    }
}

fn ctrl_byte(c: char) -> u8 {
    match c.to_ascii_lowercase() {
        letter @ 'a'..='z' => letter as u8 - b'a' + 1,
        '@' | ' ' | '2' => 0x00,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '/' | '7' => 0x1f,
        '?' | '8' => 0x7f,
        other => panic!("Ctrl+{other:?} has no control code on an xterm keyboard"),
    }
}

/// The part of the emulated terminal that talks back: answers queries and
/// records what the screen itself does not keep.
#[derive(Default)]
struct Responder {
    /// Bytes to send back to the program (answers to its queries).
    replies: Vec<u8>,
    title: String,
    bells: usize,
}

impl vt100::Callbacks for Responder {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }

    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = String::from_utf8_lossy(title).into_owned();
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        let reply = match (i1, i2, c, first) {
            // Device status report: "OK".
            (None, None, 'n', 5) => "\x1b[0n".to_owned(),
            // Cursor position report, 1-based.
            (None, None, 'n', 6) => {
                let (row, col) = screen.cursor_position();
                format!("\x1b[{};{}R", row + 1, col + 1)
            }
            // Primary device attributes: a VT220 with ANSI colour.
            (None, None, 'c', 0) => "\x1b[?62;22c".to_owned(),
            // Text area size in characters.
            (None, None, 't', 18) => {
                let (rows, cols) = screen.size();
                format!("\x1b[8;{rows};{cols}t")
            }
            _ => return,
        };
        self.replies.extend_from_slice(reply.as_bytes());
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        // Default foreground (10) and background (11) colour queries: a
        // light-on-dark terminal.
        let colour = match params {
            [b"10", b"?"] => "rgb:ffff/ffff/ffff",
            [b"11", b"?"] => "rgb:0000/0000/0000",
            _ => return,
        };
        let which = String::from_utf8_lossy(params[0]);
        let reply = format!("\x1b]{which};{colour}\x1b\\");
        self.replies.extend_from_slice(reply.as_bytes());
    }
}

/// What the reader thread shares with the test.
struct Shared {
    parser: vt100::Parser<Responder>,
    raw: Vec<u8>,
    /// The program side of the terminal is closed: no more output will come.
    eof: bool,
}

type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Options for starting a program in a pseudo-terminal; see [`Pty::builder`].
#[derive(Debug, Clone)]
pub struct PtyBuilder {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    cols: u16,
    rows: u16,
    cwd: Option<PathBuf>,
}

impl PtyBuilder {
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable; it wins over the harness defaults.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Terminal size in columns and rows (default 80x24).
    pub fn size(mut self, cols: u16, rows: u16) -> Self {
        self.cols = cols;
        self.rows = rows;
        self
    }

    /// Working directory of the program (default: the test's own).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Starts the program. Panics, saying what failed, when it cannot.
    pub fn spawn(self) -> Pty {
        let cwd = match self.cwd {
            Some(dir) => dir,
            None => std::env::current_dir().expect("the test's working directory"),
        };
        // portable-pty looks a relative program up on PATH unless it starts
        // with `./`; resolve paths like `target/debug/windflow` here.
        let program = if self.program.is_relative() && self.program.components().count() > 1 {
            cwd.join(&self.program)
        } else {
            self.program
        };

        let given = |key: &str| self.env.iter().any(|(k, _)| k == key);
        let needs_dirs = ["HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"]
            .iter()
            .any(|key| !given(key));
        let temp = needs_dirs.then(|| {
            tempfile::Builder::new()
                .prefix("pty-home-")
                .tempdir()
                .expect("a temporary directory for the program's HOME")
        });
        let temp_dir = |name: &str| {
            let dir = temp.as_ref().expect("created above").path().join(name);
            std::fs::create_dir_all(&dir).expect("a directory in the temporary HOME");
            dir.to_string_lossy().into_owned()
        };

        let mut defaults: Vec<(&str, String)> = vec![
            ("TERM", "xterm-256color".to_owned()),
            ("COLORTERM", "truecolor".to_owned()),
        ];
        for (key, dir) in [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
        ] {
            if !given(key) {
                defaults.push((key, temp_dir(dir)));
            }
        }

        let mut cmd = CommandBuilder::new(&program);
        cmd.args(&self.args);
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for (key, value) in &defaults {
            cmd.env(key, value);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.cwd(&cwd);
        let env: Vec<(String, String)> = defaults
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .chain(self.env.iter().cloned())
            .collect();

        let size = PtySize {
            rows: self.rows,
            cols: self.cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system()
            .openpty(size)
            .unwrap_or_else(|e| panic!("cannot open a pseudo-terminal: {e:#}"));
        let child = pair
            .slave
            .spawn_command(cmd)
            .unwrap_or_else(|e| panic!("cannot start {} in a pty: {e:#}", program.display()));
        // Keep no handle on the program's side, so that reading ends when
        // the program (and whatever it started) closes the terminal.
        drop(pair.slave);

        let reader = pair
            .master
            .try_clone_reader()
            .expect("a reader for the pty");
        let writer: Writer = Arc::new(Mutex::new(
            pair.master.take_writer().expect("a writer for the pty"),
        ));
        let shared = Arc::new(Mutex::new(Shared {
            parser: vt100::Parser::new_with_callbacks(
                self.rows,
                self.cols,
                0,
                Responder::default(),
            ),
            raw: Vec::new(),
            eof: false,
        }));
        {
            let shared = Arc::clone(&shared);
            let writer = Arc::clone(&writer);
            thread::Builder::new()
                .name("pty-reader".to_owned())
                .spawn(move || pump(reader, &shared, &writer))
                .expect("the pty reader thread");
        }

        Pty {
            program,
            pid: child.process_id(),
            master: pair.master,
            writer,
            child,
            shared,
            exit: None,
            esc_sent_at: None,
            env,
            _temp: temp,
        }
    }
}

/// Copies the program's output into the shared screen until the terminal
/// closes, and sends back the answers to the program's queries.
fn pump(mut reader: Box<dyn Read + Send>, shared: &Mutex<Shared>, writer: &Writer) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let replies = {
                    let mut shared = lock(shared);
                    shared.raw.extend_from_slice(&buf[..n]);
                    shared.parser.process(&buf[..n]);
                    std::mem::take(&mut shared.parser.callbacks_mut().replies)
                };
                if !replies.is_empty() {
                    let mut writer = lock(writer);
                    // The program may be gone already; nothing to do then.
                    let _ = writer.write_all(&replies).and_then(|()| writer.flush());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EIO once the program side is closed.
            Err(_) => break,
        }
    }
    lock(shared).eof = true;
}

/// A program running in a pseudo-terminal. Dropping it kills the program
/// and everything it started.
pub struct Pty {
    program: PathBuf,
    pid: Option<u32>,
    master: Box<dyn MasterPty + Send>,
    writer: Writer,
    child: Box<dyn Child + Send + Sync>,
    shared: Arc<Mutex<Shared>>,
    exit: Option<ExitStatus>,
    esc_sent_at: Option<Instant>,
    env: Vec<(String, String)>,
    _temp: Option<TempDir>,
}

impl Pty {
    /// Starts `program` with `args` on a `cols` x `rows` terminal.
    ///
    /// The environment is cleared except for PATH; TERM=xterm-256color and
    /// COLORTERM=truecolor are set, and HOME, XDG_CONFIG_HOME, XDG_DATA_HOME
    /// and XDG_STATE_HOME point to fresh temporary directories (removed when
    /// the `Pty` is dropped). Anything in `env` wins over these defaults.
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Pty {
        let mut builder = Pty::builder(program).args(args).size(cols, rows);
        for (key, value) in env {
            builder = builder.env(*key, *value);
        }
        builder.spawn()
    }

    /// More options than [`Pty::spawn`] takes, such as the working directory.
    pub fn builder(program: impl Into<PathBuf>) -> PtyBuilder {
        PtyBuilder {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cols: 80,
            rows: 24,
            cwd: None,
        }
    }

    // ----- input -------------------------------------------------------

    /// Writes `bytes` to the terminal as if typed.
    ///
    /// Write errors (the program has gone) are ignored: the next wait
    /// reports that the program closed the terminal, with its screen.
    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(sent_at) = self.esc_sent_at.take() {
            let since = sent_at.elapsed();
            if since < ESC_GAP {
                thread::sleep(ESC_GAP - since);
            }
        }
        {
            let mut writer = lock(&self.writer);
            let _ = writer.write_all(bytes).and_then(|()| writer.flush());
        }
        if bytes.last() == Some(&0x1b) {
            self.esc_sent_at = Some(Instant::now());
        }
    }

    /// Whether the next key waits for the gap that keeps a lone ESC apart.
    pub fn gap_pending(&self) -> bool {
        self.esc_sent_at.is_some()
    }

    /// Types plain text.
    pub fn keys(&mut self, text: &str) {
        self.send(text.as_bytes());
    }

    /// Presses one key, as xterm would send it in the program's current
    /// cursor-key mode.
    pub fn key(&mut self, key: Key) {
        let application_cursor = self.with_screen(vt100::Screen::application_cursor);
        self.send(&key.bytes(application_cursor));
    }

    /// Resizes the terminal: the emulated screen and the pty, so that the
    /// program gets SIGWINCH.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let mut shared = lock(&self.shared);
        shared.parser.screen_mut().set_size(rows, cols);
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap_or_else(|e| panic!("cannot resize the pty to {cols}x{rows}: {e:#}"));
    }

    // ----- the screen --------------------------------------------------

    /// Runs `f` on the emulated screen (for colours, attributes, cells).
    pub fn with_screen<R>(&self, f: impl FnOnce(&vt100::Screen) -> R) -> R {
        f(lock(&self.shared).parser.screen())
    }

    /// The screen's text: one line per row, trailing spaces trimmed.
    pub fn screen_text(&self) -> String {
        self.with_screen(screen_text)
    }

    /// Row `n` (0-based) with trailing spaces trimmed; empty past the end.
    pub fn row(&self, n: u16) -> String {
        self.with_screen(|screen| {
            let (_, cols) = screen.size();
            screen
                .rows(0, cols)
                .nth(usize::from(n))
                .map(|row| row.trim_end().to_owned())
                .unwrap_or_default()
        })
    }

    /// Whether `needle` appears on the screen (within a row).
    pub fn contains(&self, needle: &str) -> bool {
        self.screen_text().contains(needle)
    }

    /// The terminal size as (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.with_screen(vt100::Screen::size);
        (cols, rows)
    }

    /// The cursor position as (row, column), 0-based.
    pub fn cursor_position(&self) -> (u16, u16) {
        self.with_screen(vt100::Screen::cursor_position)
    }

    /// Whether the program has switched to the alternate screen.
    pub fn alternate_screen(&self) -> bool {
        self.with_screen(vt100::Screen::alternate_screen)
    }

    /// Whether the program has hidden the cursor.
    pub fn cursor_hidden(&self) -> bool {
        self.with_screen(vt100::Screen::hide_cursor)
    }

    /// The last window title the program set.
    pub fn title(&self) -> String {
        lock(&self.shared).parser.callbacks().title.clone()
    }

    /// How many times the program rang the bell.
    pub fn bells(&self) -> usize {
        lock(&self.shared).parser.callbacks().bells
    }

    /// Every byte the program has written so far.
    pub fn raw_output(&self) -> Vec<u8> {
        lock(&self.shared).raw.clone()
    }

    /// How many bytes the program has written so far.
    pub fn output_len(&self) -> usize {
        lock(&self.shared).raw.len()
    }

    /// The environment the program was started with, beyond PATH.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    // ----- waiting -----------------------------------------------------

    /// Waits until `needle` is on the screen.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        self.wait_text(&format!("{needle:?} to appear"), timeout, |text| {
            text.contains(needle)
        })
    }

    /// Waits until `needle` is no longer on the screen.
    pub fn wait_for_gone(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        let what = format!("{needle:?} to go away");
        // A closed terminal does not change any more: that is fine here.
        self.wait_screen_inner(&what, timeout, false, |screen| {
            !screen_text(screen).contains(needle)
        })
    }

    /// Waits until `ready` holds for the screen's text (as [`Pty::screen_text`]).
    pub fn wait_until(
        &self,
        ready: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        self.wait_text("the condition", timeout, ready)
    }

    /// Waits until `ready` holds for the emulated screen itself (attributes,
    /// colours, modes).
    pub fn wait_screen(
        &self,
        ready: impl FnMut(&vt100::Screen) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        self.wait_screen_inner("the screen condition", timeout, true, ready)
    }

    /// Waits until the program has written nothing for `quiet` (for example
    /// until it has finished redrawing after a resize).
    pub fn wait_idle(&self, quiet: Duration, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut seen = self.output_len();
        let mut since = Instant::now();
        loop {
            thread::sleep(POLL);
            let now_len = self.output_len();
            if now_len != seen {
                seen = now_len;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "timed out after {timeout:?} waiting for {quiet:?} without output"
                )));
            }
        }
    }

    fn wait_text(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&str) -> bool,
    ) -> Result<(), String> {
        self.wait_screen_inner(what, timeout, true, |screen| ready(&screen_text(screen)))
    }

    fn wait_screen_inner(
        &self,
        what: &str,
        timeout: Duration,
        fail_on_eof: bool,
        mut ready: impl FnMut(&vt100::Screen) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let (done, eof) = {
                let shared = lock(&self.shared);
                (ready(shared.parser.screen()), shared.eof)
            };
            if done {
                return Ok(());
            }
            if eof && fail_on_eof {
                return Err(self.failure(&format!(
                    "waiting for {what}: the program closed the terminal"
                )));
            }
            if Instant::now() >= deadline {
                return Err(
                    self.failure(&format!("timed out after {timeout:?} waiting for {what}"))
                );
            }
            thread::sleep(POLL);
        }
    }

    /// A failure message: what failed, then the screen and the end of the
    /// raw output.
    fn failure(&self, headline: &str) -> String {
        let shared = lock(&self.shared);
        let screen = shared.parser.screen();
        let (rows, cols) = screen.size();
        let mut out = format!("{headline}\n");
        let _ = writeln!(
            out,
            "--- screen of {} ({cols}x{rows}, {}, cursor {}{}) ---",
            self.program.display(),
            if screen.alternate_screen() {
                "alternate screen"
            } else {
                "main screen"
            },
            if screen.hide_cursor() {
                "hidden"
            } else {
                "shown"
            },
            if shared.eof { ", terminal closed" } else { "" },
        );
        let text: Vec<String> = screen
            .rows(0, cols)
            .map(|row| row.trim_end().to_owned())
            .collect();
        let used = text
            .iter()
            .rposition(|row| !row.is_empty())
            .map_or(0, |n| n + 1);
        for (n, row) in text.iter().take(used).enumerate() {
            let _ = writeln!(out, "{n:>3}|{row}");
        }
        if used < text.len() {
            let _ = writeln!(out, "   (rows {used} to {} empty)", text.len() - 1);
        }
        let tail_start = shared.raw.len().saturating_sub(OUTPUT_TAIL);
        let _ = writeln!(
            out,
            "--- last {} of {} bytes written ---\n{}",
            shared.raw.len() - tail_start,
            shared.raw.len(),
            String::from_utf8_lossy(&shared.raw[tail_start..]).escape_debug(),
        );
        out
    }

    // ----- the process -------------------------------------------------

    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.pid.expect("the program's process id")
    }

    /// The exit status if the program has exited, without waiting.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exit = Some(status);
        }
        self.exit.clone()
    }

    /// Whether the program is still running.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Waits for the program to exit, then (briefly) for the reader to take
    /// in everything it wrote, so the screen shows its last state.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.exit_status() {
                break status;
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        };
        let drained_by = Instant::now() + DRAIN;
        while !lock(&self.shared).eof && Instant::now() < drained_by {
            thread::sleep(POLL);
        }
        Some(status)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`, `libc::SIGHUP`) to the program.
    pub fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid fits in pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Kills the program and everything it started (SIGKILL to its process
    /// group) and reaps it.
    pub fn kill(&mut self) {
        self.kill_group();
        // Reaping after SIGKILL does not take long.
        self.wait_exit(Duration::from_secs(5));
    }

    fn kill_group(&self) {
        let Some(pid) = self.pid.and_then(|pid| libc::pid_t::try_from(pid).ok()) else {
            return;
        };
        // The program is a session and process group leader (portable-pty
        // calls setsid), so -pid reaches its children too.
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Also reaches whatever the program left running after it exited.
        self.kill_group();
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.exit_status().is_none() && Instant::now() < deadline {
            thread::sleep(POLL);
        }
    }
}

fn screen_text(screen: &vt100::Screen) -> String {
    let (_, cols) = screen.size();
    screen
        .rows(0, cols)
        .map(|row| row.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
