//! README.md is tested: its commands run here as written, and what it says
//! about the panes is what the console draws.
//!
//! Conventions of README.md's fenced blocks (also summed up in a comment at
//! the top of the README):
//!
//! - Every fence says what it holds. ```` ```sh ```` (or `bash`) holds
//!   commands, run in order; ```` ```console ```` too, where the commands are
//!   the `$ ` lines and the rest is their output. Anything else is not run:
//!   ```` ```toml ```` for configuration, ```` ```text ```` for output and
//!   usage synopses (`[--json]`, `A|B`), ```` ```text screenshot 100x24 ````
//!   for the console's picture at that size, whose pane bar must be the
//!   console's.
//! - The commands run by bash, one process each, in a private HOME and XDG
//!   config, data and state dir shared by the whole README, in a private
//!   working dir holding a copy of `assets/`, with the freshly built
//!   `windflow` first on PATH and nothing else from the test's environment.
//!   A block is one shell: its variables (`ID=$(...)`, `export ...`) carry
//!   to its later commands, not to the next block. `pipefail` is on, so a
//!   failing `windflow` in a pipe fails its command.
//! - A command must exit 0, unless its comment starts with `exits N`.
//! - A command whose comment starts with `runs until SIGTERM` (or `SIGINT`,
//!   `Ctrl-C`) runs in the background from its first line of output until
//!   the block's end, then gets that signal and must exit 0 (or the `exits
//!   N` its comment names), or end by the signal itself (Ctrl-C's default).
//! - Placeholders, filled in by the test: `<code>` a fresh TOTP code
//!   (computed by `oathtool` from the secret the operator's enrolment
//!   printed, never one used before) of the operator the command names with
//!   `--operator NAME`, or of NAME in `mfa confirm|verify NAME`; `<token>`
//!   the latest enrolment token a command printed; `<redis-url>`,
//!   `<vault-addr>` and `<vault-token>` (OpenBao), `<elasticsearch-url>`
//!   (osmem-server), `<webhook-url>` and `<slack-url>` (an HTTP receiver),
//!   `<alertmanager-url>` (Prometheus Alertmanager):
//!   real servers, each started the first time a command names it. Any
//!   other `<name>` fails the test (a new backend gets its placeholder in
//!   `support::readme::Servers::fill`); comments are not run, so they may
//!   say `<id>`. A code is accepted once and only a newer one after it, so an
//!   operator has about three codes per 30 s: after that the test waits for
//!   the next step. Prefer a grant (`login`) for a series of commands.
//! - Handled apart, and said in the test's output: `scripts/test` (this
//!   suite's runner) is not run; a command that opens the console (no
//!   subcommand; `cargo run --release --` stands for the built binary)
//!   runs in a pseudo-terminal the size of the screenshot, signs in with
//!   `<code>` of its `--operator` when asked, must draw the screenshot's
//!   pane bar and quit on `q` with exit 0.

use crate::support::readme::{self, Block, Ending, Plan, Runner};

fn readme_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The screenshot block (```` ```text screenshot COLSxROWS ````): its lines
/// (trailing spaces trimmed) and the size it states, checked against them.
fn screenshot(blocks: &[Block]) -> (Vec<String>, u16, u16) {
    let shot = blocks
        .iter()
        .find(|b| b.lang == "text" && b.attrs.first().is_some_and(|a| a == "screenshot"))
        .expect("README.md has a ```text screenshot COLSxROWS block");
    let size = shot.attrs.get(1).and_then(|s| s.split_once('x'));
    let (cols, rows): (u16, u16) = size
        .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)))
        .unwrap_or_else(|| panic!("README.md:{}: ```text screenshot COLSxROWS", shot.line));
    let lines: Vec<String> = shot.body.lines().map(|l| l.trim_end().to_owned()).collect();
    assert_eq!(
        lines.len(),
        usize::from(rows),
        "README.md:{}: the screenshot's rows",
        shot.line
    );
    let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(
        widest <= usize::from(cols),
        "README.md:{}: a line wider than {cols}",
        shot.line
    );
    (lines, cols, rows)
}

/// The pane bar the console draws at this size (the focused Overview).
fn pane_bar(cols: u16, rows: u16) -> String {
    let screen = crate::console::screen(&mut crate::console::app(), cols, rows);
    screen.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn every_readme_command_runs_as_written() {
    let blocks = readme::blocks(&readme_text());
    let (_, cols, rows) = screenshot(&blocks);
    let bar = pane_bar(cols, rows);
    let mut runner = Runner::new();
    let (mut ran, mut skipped) = (0, Vec::new());
    for block in blocks.iter().filter(|b| b.is_shell()) {
        runner.start_block();
        for cmd in readme::commands(block) {
            match readme::plan(&cmd) {
                Plan::Skip(why) => {
                    skipped.push(cmd.code().to_owned());
                    runner.log.push(format!(
                        "README.md:{} not run: `{}`: {why}",
                        cmd.line,
                        cmd.code()
                    ));
                }
                Plan::Console(text) => {
                    let screen = runner.console(&cmd, &text, &bar, cols, rows);
                    eprintln!("README.md:{}: `{text}` showed\n{screen}", cmd.line);
                }
                Plan::Shell(text) => runner.run(&cmd, &text),
            }
            ran += 1;
        }
        runner.end_block();
    }
    eprintln!("{}", runner.log.join("\n"));
    assert_eq!(skipped, ["scripts/test"], "only the test runner is not run");
    assert!(
        ran >= 40,
        "only {ran} README commands found: is the parser right?"
    );
    // What the commands did really happened, on the servers too.
    assert!(
        runner.servers.received().iter().any(|r| r.path == "/slack"),
        "`audit alerts test slack` reached the Slack URL"
    );
    let events = crate::support::audit_events(&runner.data_dir());
    for t in [
        "operator_added",
        "mfa_enrolled",
        "session_created",
        "secret_rotated",
    ] {
        assert!(events.iter().any(|e| e.event_type == t), "no {t} event");
    }
}

#[test]
fn the_screenshot_draws_the_consoles_pane_bar() {
    let (lines, cols, rows) = screenshot(&readme::blocks(&readme_text()));
    assert_eq!(
        lines[0],
        pane_bar(cols, rows),
        "README.md's screenshot is not today's console: run the README test \
         (cargo test --test it readme) and paste the demo screen it prints"
    );
}

/// `Title pane (`N`)` anywhere in the README, and the list "The panes: 1
/// Overview, 2 Sessions, ...", name the console's panes by its numbers;
/// any other "pane N" is refused (it says a number without the name).
#[test]
fn the_readme_numbers_panes_as_the_console_does() {
    let text = readme_text().replace('\n', " ");
    let console: Vec<String> = windflow::console::panes()
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", i + 1, p.title()))
        .collect();
    let list = regex::Regex::new(r"The panes: ((?:\d+ [A-Z]\w*(?:, )?)+)\.").unwrap();
    let listed: Vec<String> = list
        .captures(&text)
        .expect("README.md lists the panes: \"The panes: 1 Overview, 2 ...\"")[1]
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, console, "README.md's list of panes");

    let named = regex::Regex::new(r"\b([A-Z]\w*) pane \(`(\d+)`\)").unwrap();
    let mut checked = 0;
    for c in named.captures_iter(&text) {
        let n: usize = c[2].parse().unwrap();
        assert_eq!(
            console.get(n.wrapping_sub(1)),
            Some(&format!("{n} {}", &c[1])),
            "README.md says \"{}\"",
            &c[0]
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} `Title pane (`N`)` mentions");
    let bare = regex::Regex::new(r"(?i)\bpanes? `?\d").unwrap();
    let stray: Vec<&str> = bare.find_iter(&text).map(|m| m.as_str()).collect();
    assert!(
        stray.is_empty(),
        "README.md numbers a pane without its name (write `Title pane (`N`)`): {stray:?}"
    );
}

#[test]
fn shell_blocks_split_into_commands() {
    let block = Block {
        line: 10,
        lang: "sh".into(),
        attrs: vec![],
        body: "# a comment line\n\
               windflow a --x '#not a comment' # exits 3: refused\n\
               \n\
               windflow b \\\n    --long   # runs until SIGTERM; then exits 0\n\
               cargo run --release -- --demo   # the console\n\
               scripts/test e2e\n\
               windflow mfa confirm bob <code>\n"
            .into(),
    };
    let cmds = readme::commands(&block);
    let lines: Vec<usize> = cmds.iter().map(|c| c.line).collect();
    assert_eq!(lines, [12, 14, 16, 17, 18]);
    assert_eq!(cmds[0].code(), "windflow a --x '#not a comment'");
    assert_eq!(cmds[0].ending, Ending::Exits(3));
    assert_eq!(cmds[1].code(), "windflow b \\\n    --long");
    assert_eq!(cmds[1].ending, Ending::RunsUntil(libc::SIGTERM, 0));
    assert_eq!(cmds[2].ending, Ending::Exits(0));
    assert_eq!(
        readme::plan(&cmds[2]),
        Plan::Console("windflow --demo".into())
    );
    assert!(matches!(readme::plan(&cmds[3]), Plan::Skip(_)));
    assert_eq!(readme::plan(&cmds[4]), Plan::Shell(cmds[4].text.clone()));
    let words = shlex::split(cmds[4].code()).unwrap();
    assert_eq!(readme::code_owner(&words).as_deref(), Some("bob"));

    let console = Block {
        lang: "console".into(),
        body: "$ windflow sessions list\nno sessions\n".into(),
        ..block
    };
    let cmds = readme::commands(&console);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].code(), "windflow sessions list");
}

#[test]
fn unmarked_fences_are_refused() {
    let refused = std::panic::catch_unwind(|| readme::blocks("text\n\n```\nwindflow\n```\n"));
    assert!(refused.is_err(), "a fence without an info string");
    let blocks = readme::blocks("```text screenshot\nx\n```\n```toml\na = 1\n```\n");
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].line, blocks[0].attrs.clone()),
        (1, vec!["screenshot".to_owned()])
    );
    assert!(!blocks[1].is_shell());
}
