//! README.md as a test: its fenced blocks, the commands of its shell blocks,
//! and a runner that runs them as written (see `tests/it/readme.rs` for the
//! conventions).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use regex::Regex;

/// A fenced block of README.md.
#[derive(Debug, Clone)]
pub struct Block {
    /// The README line of the opening fence (1-based).
    pub line: usize,
    /// The info string's first word (`sh`, `toml`, `text`, ...).
    pub lang: String,
    /// The rest of the info string (`screenshot`, ...).
    pub attrs: Vec<String>,
    pub body: String,
}

impl Block {
    /// Whether the block holds commands to run.
    pub fn is_shell(&self) -> bool {
        matches!(self.lang.as_str(), "sh" | "bash" | "console")
    }
}

/// Every fenced block of `markdown`; an indented code block or a fence
/// without an info string is refused (the harness must know what it is).
pub fn blocks(markdown: &str) -> Vec<Block> {
    let line_of = |offset: usize| markdown[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let line = line_of(range.start);
                let CodeBlockKind::Fenced(info) = kind else {
                    panic!(
                        "README.md:{line}: an indented code block: fence it with its kind (```sh, ```text, ...)"
                    );
                };
                let mut words = info.split_whitespace().map(str::to_owned);
                let lang = words.next().unwrap_or_else(|| {
                    panic!(
                        "README.md:{line}: a fence without an info string: say what it holds \
                         (```sh for commands to run, ```text for output or usage, ```toml ...)"
                    )
                });
                current = Some(Block {
                    line,
                    lang,
                    attrs: words.collect(),
                    body: String::new(),
                });
            }
            Event::Text(text) => {
                if let Some(b) = current.as_mut() {
                    b.body.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

/// How a command is expected to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Runs to its end and exits with this code.
    Exits(i32),
    /// Runs until the block ends, then gets this signal and exits with the code.
    RunsUntil(libc::c_int, i32),
}

/// One command of a shell block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// README line where the command starts.
    pub line: usize,
    /// As written, continuation lines included, comment included.
    pub text: String,
    /// The trailing comment, without `#`.
    pub comment: String,
    pub ending: Ending,
}

impl Cmd {
    /// The command without its comment, trimmed.
    pub fn code(&self) -> &str {
        let cut = self.text.len() - self.comment.len();
        let code = &self.text[..cut];
        code.strip_suffix('#').unwrap_or(code).trim()
    }
}

/// Where an unquoted `#` that starts a comment is, if any.
fn comment_start(text: &str) -> Option<usize> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return Some(i),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// The commands of a shell block, each with its README line.
/// A `console` block's commands are its `$ ` lines (the others are output).
pub fn commands(block: &Block) -> Vec<Cmd> {
    let console = block.lang == "console";
    let exits = Regex::new(r"^exits (\d+)\b").unwrap();
    let runs_until = Regex::new(r"^runs until (SIGTERM|SIGINT|Ctrl-C)").unwrap();
    let exits_after = Regex::new(r"\bexits (\d+)\b").unwrap();
    let mut out = Vec::new();
    let mut lines = block.body.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let line_no = block.line + 1 + i;
        let mut text = if console {
            match line.strip_prefix("$ ") {
                Some(cmd) => cmd.to_owned(),
                None => continue,
            }
        } else {
            line.to_owned()
        };
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        while text.ends_with('\\') {
            let Some((_, next)) = lines.next() else { break };
            text.push('\n');
            text.push_str(next);
        }
        let comment = comment_start(&text)
            .map_or("", |at| &text[at + 1..])
            .to_owned();
        let said = comment.trim();
        let code = |re: &Regex| re.captures(said).map(|c| c[1].to_owned());
        let ending = if let Some(signal) = code(&runs_until) {
            let sig = if signal == "SIGTERM" {
                libc::SIGTERM
            } else {
                libc::SIGINT
            };
            let exit = code(&exits_after).map_or(0, |n| n.parse().unwrap());
            Ending::RunsUntil(sig, exit)
        } else {
            Ending::Exits(code(&exits).map_or(0, |n| n.parse().unwrap()))
        };
        out.push(Cmd {
            line: line_no,
            text,
            comment,
            ending,
        });
    }
    out
}

/// What the harness does with a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Not run, with the reason (said in the test output).
    Skip(&'static str),
    /// Opens the console: run in a pseudo-terminal, quit with `q`.
    Console(String),
    /// Run by bash as written (without its comment), placeholders filled in.
    Shell(String),
}

/// `cargo run --release --` in the README is the freshly built binary here.
const CARGO_RUN: &str = "cargo run --release --";

pub fn plan(cmd: &Cmd) -> Plan {
    let code = cmd.code();
    if code == "scripts/test" || code.starts_with("scripts/test ") {
        return Plan::Skip("the test runner itself: it runs this test");
    }
    let text = match code.strip_prefix(CARGO_RUN) {
        Some(rest) => format!("windflow{rest}"),
        None => code.to_owned(),
    };
    let words = shlex::split(&text).unwrap_or_default();
    let console = words.first().is_some_and(|w| w == "windflow")
        && <windflow::cli::Cli as clap::Parser>::try_parse_from(&words)
            .is_ok_and(|cli| cli.command.is_none());
    if console {
        Plan::Console(text)
    } else {
        Plan::Shell(text)
    }
}

/// The operator a `<code>` of this command is for: `--operator NAME`, else
/// the user of `mfa confirm|verify NAME`.
pub fn code_owner(words: &[String]) -> Option<String> {
    if let Some(i) = words.iter().position(|w| w == "--operator") {
        return words.get(i + 1).cloned();
    }
    if let Some(v) = words.iter().find_map(|w| w.strip_prefix("--operator=")) {
        return Some(v.to_owned());
    }
    subject(words, "mfa", &["confirm", "verify"])
}

/// The NAME of `GROUP VERB NAME` among `words` (`operators add bob`).
fn subject(words: &[String], group: &str, verbs: &[&str]) -> Option<String> {
    words
        .windows(3)
        .find(|w| w[0] == group && verbs.contains(&w[1].as_str()))
        .map(|w| w[2].clone())
}

/// The servers the placeholders point at, each started the first time a
/// command needs it and kept for the rest of the run.
#[derive(Default)]
pub struct Servers {
    redis: Option<crate::support::sessions_redis::RedisServer>,
    bao: Option<crate::support::secrets_bao::Bao>,
    osmem: Option<crate::support::audit_servers::Server>,
    receiver: Option<crate::support::audit_servers::Receiver>,
    alertmanager: Option<crate::support::alertmanager::Alertmanager>,
}

impl Servers {
    /// The value of a backend placeholder, if `name` is one.
    fn fill(&mut self, name: &str) -> Option<String> {
        use crate::support::{audit_servers, secrets_bao, sessions_redis};
        let receiver = |s: &mut Self| s.receiver.get_or_insert_with(audit_servers::receiver).port;
        Some(match name {
            "redis-url" => self
                .redis
                .get_or_insert_with(sessions_redis::RedisServer::start)
                .url(),
            "vault-addr" => self
                .bao
                .get_or_insert_with(secrets_bao::Bao::start)
                .addr
                .clone(),
            "vault-token" => {
                self.bao.get_or_insert_with(secrets_bao::Bao::start);
                secrets_bao::TOKEN.to_owned()
            }
            "elasticsearch-url" => self
                .osmem
                .get_or_insert_with(|| audit_servers::osmem(0))
                .url(),
            "webhook-url" => format!("http://127.0.0.1:{}/webhook", receiver(self)),
            "slack-url" => format!("http://127.0.0.1:{}/slack", receiver(self)),
            "alertmanager-url" => self
                .alertmanager
                .get_or_insert_with(|| crate::support::alertmanager::start(&["alertname"]))
                .url(),
            _ => return None,
        })
    }

    /// What the HTTP receiver got (webhook and Slack payloads).
    pub fn received(&self) -> Vec<crate::support::audit_servers::Received> {
        self.receiver
            .as_ref()
            .map(|r| r.got.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

/// The next TOTP codes of each operator, from the secret their enrolment
/// printed, computed by `oathtool` (as an authenticator app would).
#[derive(Default)]
pub struct Codes {
    secrets: HashMap<String, String>,
    /// The newest time step used per operator: a code is accepted once, and
    /// only a newer step's after it.
    last: HashMap<String, u64>,
}

const STEP: u64 = 30;
/// The time a command may take to check its code: the step chosen stays
/// within the server's window (one step either side) for this long.
const MARGIN: u64 = 3;

impl Codes {
    /// Reads the enrolment secret from the output of `operators add NAME`
    /// or `mfa enroll NAME`.
    fn learn(&mut self, words: &[String], output: &str) {
        let secret = Regex::new(r#"(?m)(?:^Secret:\s+|"secret":\s*")([A-Z2-7]{16,})"#).unwrap();
        let name =
            subject(words, "operators", &["add"]).or_else(|| subject(words, "mfa", &["enroll"]));
        if let (Some(name), Some(c)) = (name, secret.captures(output)) {
            self.secrets.insert(name.clone(), c[1].to_owned());
            self.last.remove(&name);
        }
    }

    /// A code of `who` not used before, valid for the next few seconds.
    fn next(&mut self, who: &str, at: &str) -> String {
        let secret = self.secrets.get(who).unwrap_or_else(|| {
            panic!("{at}: <code> of {who}, whose enrolment secret no earlier command printed")
        });
        let now = || windflow::mfa::unix_seconds(std::time::SystemTime::now());
        let step = loop {
            let t = now();
            let lowest = (t + MARGIN) / STEP - 1;
            let step = self.last.get(who).map_or(lowest, |l| lowest.max(l + 1));
            if step <= t / STEP + 1 {
                break step;
            }
            // Every code valid now was used: wait for the next time step.
            std::thread::sleep(Duration::from_secs((step - 1) * STEP - t));
        };
        self.last.insert(who.to_owned(), step);
        let out = Process::new("oathtool")
            .args(["--totp", "-b", secret, "-N", &format!("@{}", step * STEP)])
            .output()
            .unwrap_or_else(|e| panic!("oathtool (scripts/test installs it): {e}"));
        assert!(
            out.status.success(),
            "oathtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// A command running in the background until its block ends.
struct Background {
    cmd: Cmd,
    child: Child,
    output: Arc<Mutex<String>>,
}

/// Runs README commands in order: one private HOME, XDG config, data and
/// state dir and working dir for the whole README; a fresh shell per block
/// whose variables carry from one command to the next.
pub struct Runner {
    root: tempfile::TempDir,
    pub servers: Servers,
    codes: Codes,
    /// The newest enrolment token any command printed.
    token: Option<String>,
    /// The shell variables of the current block (`export -p` after each command).
    state: PathBuf,
    background: Vec<Background>,
    /// What each command did, for the report at the end.
    pub log: Vec<String>,
}

/// How long a background command may take to say its first line; a guard
/// against a hang, not a measurement.
const READY: Duration = Duration::from_secs(30);

impl Runner {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "config", "data", "state", "work"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
        let copied = Process::new("cp")
            .args(["-R", assets])
            .arg(root.path().join("work"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(copied, "copy {assets} into the working dir");
        let state = root.path().join("shell-state");
        Self {
            root,
            servers: Servers::default(),
            codes: Codes::default(),
            token: None,
            state,
            background: Vec::new(),
            log: Vec::new(),
        }
    }

    /// The variables every command gets; nothing from the test's own
    /// environment but PATH, with the built binary's folder first.
    pub fn env(&self) -> Vec<(String, String)> {
        let bin = crate::support::windflow_bin();
        let bin_dir = std::fs::canonicalize(&bin)
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
            .parent()
            .unwrap()
            .to_owned();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        let dir = |d: &str| self.root.path().join(d).display().to_string();
        vec![
            ("PATH".into(), path),
            ("HOME".into(), dir("home")),
            ("XDG_CONFIG_HOME".into(), dir("config")),
            ("XDG_DATA_HOME".into(), dir("data")),
            ("XDG_STATE_HOME".into(), dir("state")),
            ("LANG".into(), "C.UTF-8".into()),
        ]
    }

    fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// Starts a block: a fresh shell, no variables from the block before.
    pub fn start_block(&mut self) {
        std::fs::write(&self.state, "").unwrap();
    }

    /// Ends a block: its background commands get their signal and must
    /// exit as the README says.
    pub fn end_block(&mut self) {
        for mut bg in std::mem::take(&mut self.background) {
            let Ending::RunsUntil(sig, expected) = bg.cmd.ending else {
                unreachable!()
            };
            let pid = bg.child.id() as libc::pid_t;
            assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "signal {pid}");
            let status = bg.child.wait().unwrap();
            let out = bg.output.lock().unwrap().clone();
            // Ended by the signal itself (its default action, as for Ctrl-C)
            // or exited as the README says.
            use std::os::unix::process::ExitStatusExt;
            assert!(
                status.signal() == Some(sig) || status.code() == Some(expected),
                "README.md:{}: `{}` after signal {sig}: {status} (the README says exit {expected})\n{out}",
                bg.cmd.line,
                bg.cmd.code()
            );
            self.log.push(format!(
                "README.md:{} ran until signal {sig}: {}",
                bg.cmd.line,
                bg.cmd.code()
            ));
        }
    }

    /// `text` with its placeholders filled in for the command `cmd`.
    fn fill(&mut self, cmd: &Cmd, text: &str) -> String {
        let at = format!("README.md:{}", cmd.line);
        let words = shlex::split(cmd.code()).unwrap_or_default();
        let re = Regex::new(r"<([a-z][a-z0-9-]*)>").unwrap();
        re.replace_all(text, |c: &regex::Captures| match &c[1] {
            "code" => {
                let who = code_owner(&words).unwrap_or_else(|| {
                    panic!("{at}: <code> without --operator NAME or `mfa confirm|verify NAME`")
                });
                self.codes.next(&who, &at)
            }
            "token" => self.token.clone().unwrap_or_else(|| {
                panic!("{at}: <token>, but no earlier command printed an enrolment token")
            }),
            other => self
                .servers
                .fill(other)
                .unwrap_or_else(|| panic!("{at}: unknown placeholder <{other}>")),
        })
        .into_owned()
    }

    /// The bash script that runs `body` in the block's shell.
    fn script(&self, body: &str, exec: bool) -> Vec<String> {
        let state = self.state.display().to_string();
        let script = if exec {
            format!("set -a -o pipefail\n. \"$1\"\nexec {body}\n")
        } else {
            format!(
                "set -a -o pipefail\n. \"$1\"\n{body}\n__rc=$?\nexport -p > \"$1\"\nexit $__rc\n"
            )
        };
        vec!["-c".into(), script, "bash".into(), state]
    }

    /// Runs a command in the block's shell and checks how it ends.
    pub fn run(&mut self, cmd: &Cmd, text: &str) {
        let filled = self.fill(cmd, text);
        let background = matches!(cmd.ending, Ending::RunsUntil(..));
        let mut p = Process::new("bash");
        p.args(self.script(&filled, background))
            .env_clear()
            .envs(self.env())
            .current_dir(self.work())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if background {
            // As in a terminal: Ctrl-C's signal at its default action, even
            // where the suite itself was started in the background (which
            // leaves SIGINT and SIGQUIT ignored, and inherited so).
            use std::os::unix::process::CommandExt;
            unsafe {
                p.pre_exec(|| {
                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                    libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                    Ok(())
                });
            }
            let mut child = p.spawn().expect("bash");
            let output = Arc::new(Mutex::new(String::new()));
            for pipe in [
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                Box::new(child.stderr.take().unwrap()),
            ] {
                let sink = output.clone();
                std::thread::spawn(move || copy(pipe, &sink));
            }
            let start = Instant::now();
            while output.lock().unwrap().is_empty() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "README.md:{}: `{}` ended at once ({status})",
                        cmd.line,
                        cmd.code()
                    );
                }
                assert!(
                    start.elapsed() < READY,
                    "README.md:{}: `{}` said nothing",
                    cmd.line,
                    cmd.code()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            self.background.push(Background {
                cmd: cmd.clone(),
                child,
                output,
            });
            return;
        }
        let out = p.output().expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let Ending::Exits(expected) = cmd.ending else {
            unreachable!()
        };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "README.md:{}: `{}` exited {} (the README says {expected})\nran: {filled}\nstdout: {stdout}\nstderr: {stderr}",
            cmd.line,
            cmd.code(),
            out.status
        );
        let words = shlex::split(cmd.code()).unwrap_or_default();
        let all = format!("{stdout}\n{stderr}");
        self.codes.learn(&words, &all);
        let token = Regex::new(r#"(?:--token |"enrolment_token":\s*")([0-9a-f]{64})\b"#).unwrap();
        if let Some(c) = token.captures(&all) {
            self.token = Some(c[1].to_owned());
        }
        self.log.push(format!(
            "README.md:{} exit {expected}: {}",
            cmd.line,
            cmd.code()
        ));
    }

    /// Opens the console in a pseudo-terminal of `cols` x `rows` through the
    /// block's shell, signs in if it asks (as the `--operator` of the
    /// command), waits for the pane bar `bar` and quits with `q`. Returns
    /// the screen it showed.
    pub fn console(&mut self, cmd: &Cmd, text: &str, bar: &str, cols: u16, rows: u16) -> String {
        use crate::support::pty::Pty;
        const T: Duration = Duration::from_secs(30);
        let filled = self.fill(cmd, text);
        let mut b = Pty::builder("bash")
            .args(self.script(&filled, true))
            .size(cols, rows)
            .cwd(self.work());
        for (k, v) in self.env() {
            b = b.env(k, v);
        }
        let mut pty = b.spawn();
        let at = format!("README.md:{}: `{}`", cmd.line, cmd.code());
        const SIGN_IN: &str = "Enter signs in";
        const SIGNED_OUT: &str = "not signed in";
        let open = |s: &str| s.contains("Services (") && !s.contains(SIGNED_OUT);
        pty.wait_until(|s| s.contains(SIGN_IN) || open(s), T)
            .unwrap_or_else(|e| panic!("{at}: no console: {e}"));
        if pty.contains(SIGN_IN) {
            let words = shlex::split(&filled).unwrap_or_default();
            let who = code_owner(&words)
                .unwrap_or_else(|| panic!("{at}: signs in as whom? (--operator)"));
            let code = self.codes.next(&who, &at);
            pty.keys(&code);
            pty.keys("\r");
        }
        pty.wait_until(
            |s| open(s) && s.lines().next().is_some_and(|l| l.trim_end() == bar),
            T,
        )
        .unwrap_or_else(|e| panic!("{at}: the console's pane bar is not\n{bar}\n{e}"));
        let screen = pty.screen_text();
        pty.keys("q");
        let status = pty
            .wait_exit(T)
            .unwrap_or_else(|| panic!("{at}: still running after q"));
        assert!(
            status.success(),
            "{at}: exited {status:?} after q\n{screen}"
        );
        self.log.push(format!(
            "{} opened the console (pty {cols}x{rows}), quit with q",
            at
        ));
        screen
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data/windflow")
    }
}

fn copy(mut from: Box<dyn Read + Send>, to: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        to.lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        for bg in &mut self.background {
            let _ = bg.child.kill();
            let _ = bg.child.wait();
        }
    }
}
