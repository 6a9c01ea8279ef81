//! Tests of the pseudo-terminal harness itself, against ordinary programs.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::pty::{Key, Pty};

const WAIT: Duration = Duration::from_secs(10);

/// Runs `script` with bash on an 80x24 terminal.
fn bash(script: &str) -> Pty {
    Pty::spawn(Path::new("bash"), &["-c", script], &[], 80, 24)
}

fn ok(result: Result<(), String>) {
    if let Err(message) = result {
        panic!("{message}");
    }
}

fn exit_code(pty: &mut Pty) -> u32 {
    let status = pty
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("the program did not exit\n{}", pty.screen_text()));
    status.exit_code()
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[test]
fn reads_text_and_colours_and_types_a_line() {
    let mut pty = bash(r#"printf '\033[1;31mred\033[0m plain\n'; read -r line; echo "got:$line""#);
    ok(pty.wait_for("red plain", WAIT));
    assert_eq!(pty.row(0), "red plain");
    pty.with_screen(|screen| {
        let red = screen.cell(0, 0).expect("a cell at 0,0");
        assert_eq!(red.fgcolor(), vt100::Color::Idx(1));
        assert!(red.bold());
        let plain = screen.cell(0, 4).expect("a cell at 0,4");
        assert_eq!(plain.fgcolor(), vt100::Color::Default);
    });
    pty.keys("hello world");
    pty.key(Key::Enter);
    ok(pty.wait_for("got:hello world", WAIT));
    assert_eq!(exit_code(&mut pty), 0);
}

#[test]
fn starts_with_a_clean_environment_and_private_dirs() {
    let mut pty = Pty::spawn(
        Path::new("bash"),
        &["-c", "env | sort; read -r _"],
        &[("WINDFLOW_TEST", "yes"), ("COLORTERM", "24bit")],
        200,
        40,
    );
    ok(pty.wait_for("XDG_STATE_HOME=", WAIT));
    let text = pty.screen_text();
    let vars: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_once('=').map(|(key, _)| key))
        .collect();
    for key in &vars {
        assert!(
            [
                "PATH",
                "TERM",
                "COLORTERM",
                "HOME",
                "XDG_CONFIG_HOME",
                "XDG_DATA_HOME",
                "XDG_STATE_HOME",
                "WINDFLOW_TEST",
                // Added by portable-pty and by bash itself.
                "SHELL",
                "PWD",
                "SHLVL",
                "_",
            ]
            .contains(key),
            "unexpected variable {key} leaked into the program's environment:\n{text}"
        );
    }
    assert!(text.contains("TERM=xterm-256color"), "{text}");
    assert!(text.contains("COLORTERM=24bit"), "{text}");
    assert!(text.contains("WINDFLOW_TEST=yes"), "{text}");
    for key in ["HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
        let dir = pty.env(key).expect("set by the harness").to_owned();
        assert!(Path::new(&dir).is_dir(), "{key}={dir} is not a directory");
        assert!(text.contains(&format!("{key}={dir}")), "{text}");
    }
    let home = pty.env("HOME").expect("HOME").to_owned();
    pty.key(Key::Enter);
    assert_eq!(exit_code(&mut pty), 0);
    drop(pty);
    assert!(!Path::new(&home).exists(), "{home} outlived the Pty");
}

#[test]
fn runs_a_relative_program_path_from_the_working_directory() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let script = bin.join("hello");
    std::fs::write(&script, "#!/bin/sh\necho hello from $0\n").expect("script");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&script)
        .status()
        .expect("chmod");
    let mut pty = Pty::builder("bin/hello").cwd(dir.path()).spawn();
    ok(pty.wait_for("hello from", WAIT));
    assert_eq!(exit_code(&mut pty), 0);
}

#[test]
fn alternate_screen_and_hidden_cursor_are_seen_and_restored() {
    let mut pty = bash(
        "echo before; tput smcup; tput civis; echo inside; read -r _; \
         tput cnorm; tput rmcup; echo after",
    );
    ok(pty.wait_for("inside", WAIT));
    assert!(pty.alternate_screen());
    assert!(pty.cursor_hidden());
    assert!(!pty.contains("before"), "{}", pty.screen_text());
    pty.key(Key::Enter);
    assert_eq!(exit_code(&mut pty), 0);
    assert!(!pty.alternate_screen());
    assert!(!pty.cursor_hidden());
    let text = pty.screen_text();
    assert!(text.contains("before") && text.contains("after"), "{text}");
    assert!(!text.contains("inside"), "{text}");
    let raw = pty.raw_output();
    assert!(
        raw.windows(8).any(|w| w == b"\x1b[?1049h"),
        "smcup not in the raw output"
    );
}

#[test]
fn a_killed_program_leaves_the_terminal_unrestored() {
    // The harness must be able to tell a program that did not restore the
    // terminal from one that did.
    let mut pty = bash("tput smcup; tput civis; echo inside; sleep 30");
    ok(pty.wait_for("inside", WAIT));
    pty.kill();
    assert!(!pty.is_running());
    assert!(pty.alternate_screen());
    assert!(pty.cursor_hidden());
}

#[test]
fn named_keys_send_xterm_sequences() {
    let mut pty =
        bash("stty -icanon -echo -isig; echo ready; head -c 22 | od -An -tx1 -v; read -r _");
    ok(pty.wait_for("ready", WAIT));
    pty.key(Key::Up);
    pty.key(Key::F(5));
    pty.key(Key::Ctrl('a'));
    pty.key(Key::BackTab);
    pty.key(Key::CtrlC);
    pty.key(Key::F(1));
    pty.key(Key::Alt('x'));
    pty.key(Key::Delete);
    ok(pty.wait_for(
        "1b 5b 41 1b 5b 31 35 7e 01 1b 5b 5a 03 1b 4f 50\n 1b 78 1b 5b 33 7e",
        WAIT,
    ));
    pty.key(Key::Enter);
    assert_eq!(exit_code(&mut pty), 0);
}

#[test]
fn arrows_follow_application_cursor_mode() {
    let mut pty = bash(
        r"printf '\033[?1h'; stty -icanon -echo; echo ready; head -c 6 | od -An -tx1; read -r _",
    );
    ok(pty.wait_for("ready", WAIT));
    pty.key(Key::Up);
    pty.key(Key::Left);
    ok(pty.wait_for("1b 4f 41 1b 4f 44", WAIT));
}

#[test]
fn a_lone_escape_is_kept_apart_from_the_next_key() {
    // A program reading ESC and the next key in one read() would see Alt+key;
    // the harness leaves a gap after a lone ESC.
    let mut pty = bash("stty -icanon -echo; echo ready; head -c 2 | od -An -tx1; read -r _");
    ok(pty.wait_for("ready", WAIT));
    let started = Instant::now();
    pty.key(Key::Esc);
    assert!(pty.gap_pending());
    pty.keys("q");
    assert!(started.elapsed() >= Duration::from_millis(25));
    assert!(!pty.gap_pending());
    ok(pty.wait_for("1b 71", WAIT));
    // No gap after keys that do not end in ESC.
    pty.key(Key::Up);
    assert!(!pty.gap_pending());
    pty.key(Key::Down);
    assert!(!pty.gap_pending());
}

#[test]
fn answers_cursor_position_and_device_attribute_queries() {
    let mut pty = bash(
        r"stty -icanon -echo; printf 'abc\033[6n'; head -c 6 | od -An -c; \
          printf '\033[c'; head -c 9 | od -An -c; read -r _",
    );
    ok(pty.wait_for("033   [   1   ;   4   R", WAIT));
    ok(pty.wait_for("033   [   ?   6   2   ;   2   2   c", WAIT));
    pty.key(Key::Enter);
    assert_eq!(exit_code(&mut pty), 0);
}

#[test]
fn ctrl_c_interrupts() {
    let mut pty =
        bash(r#"trap 'echo caught INT; exit 3' INT; echo ready; while :; do sleep 0.05; done"#);
    ok(pty.wait_for("ready", WAIT));
    pty.key(Key::CtrlC);
    ok(pty.wait_for("caught INT", WAIT));
    assert_eq!(exit_code(&mut pty), 3);
}

#[test]
fn signals_reach_the_program() {
    for (signal, name, code) in [(libc::SIGTERM, "TERM", 7), (libc::SIGHUP, "HUP", 8)] {
        let mut pty = bash(&format!(
            "trap 'echo got {name}; exit {code}' {name}; echo ready; while :; do sleep 0.05; done"
        ));
        ok(pty.wait_for("ready", WAIT));
        pty.signal(signal).expect("kill(2)");
        ok(pty.wait_for(&format!("got {name}"), WAIT));
        assert_eq!(exit_code(&mut pty), code);
    }
}

#[test]
fn resize_reaches_the_program_and_the_screen() {
    let mut pty = bash(
        r#"trap 'echo "size $(stty size)"' WINCH; echo "start $(stty size)"; while :; do sleep 0.05; done"#,
    );
    ok(pty.wait_for("start 24 80", WAIT));
    pty.resize(100, 30);
    ok(pty.wait_for("size 30 100", WAIT));
    assert_eq!(pty.size(), (100, 30));
    pty.resize(40, 10);
    ok(pty.wait_for("size 10 40", WAIT));
    assert_eq!(pty.size(), (40, 10));
}

#[test]
fn wait_for_fails_with_the_screen_in_its_message() {
    let pty = bash("echo visible-text; sleep 30");
    ok(pty.wait_for("visible-text", WAIT));
    let started = Instant::now();
    let message = pty
        .wait_for("never-there", Duration::from_millis(300))
        .expect_err("the text is not on screen");
    // Well before the program's 30 s sleep ends, however loaded the machine.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(message.contains("timed out"), "{message}");
    assert!(message.contains("\"never-there\""), "{message}");
    assert!(message.contains("  0|visible-text"), "{message}");
    assert!(message.contains("80x24"), "{message}");
}

#[test]
fn waits_end_early_when_the_program_exits() {
    let mut pty = bash("echo bye; exit 4");
    let started = Instant::now();
    let message = pty
        .wait_for("nope", Duration::from_secs(30))
        .expect_err("the program exits without it");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?} of 30 s",
        started.elapsed()
    );
    assert!(message.contains("closed the terminal"), "{message}");
    assert!(message.contains("bye"), "{message}");
    assert_eq!(exit_code(&mut pty), 4);
}

#[test]
fn wait_until_and_wait_for_gone() {
    let mut pty = bash("echo first; read -r _; clear; echo second; read -r _");
    ok(pty.wait_until(|text| text.lines().next() == Some("first"), WAIT));
    pty.key(Key::Enter);
    ok(pty.wait_for_gone("first", WAIT));
    ok(pty.wait_for("second", WAIT));
    ok(pty.wait_screen(|screen| screen.cursor_position() == (1, 0), WAIT));
    ok(pty.wait_idle(Duration::from_millis(100), WAIT));
}

#[test]
fn dropping_kills_the_program_and_its_children() {
    let pty = bash("sleep 30 & echo \"pids $$ $!\"; wait");
    ok(pty.wait_for("pids ", WAIT));
    let text = pty.screen_text();
    let pids: Vec<u32> = text
        .split_once("pids ")
        .expect("the pids line")
        .1
        .split_whitespace()
        .take(2)
        .map(|pid| pid.parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 2, "{text}");
    assert_eq!(pids[0], pty.pid());
    drop(pty);
    let deadline = Instant::now() + WAIT;
    for pid in pids {
        // Gone, or a zombie waiting for its (new) parent to reap it.
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
        {
            assert!(Instant::now() < deadline, "process {pid} outlived the Pty");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn pages_through_a_file_with_less() {
    if !have("less") {
        eprintln!("skipped: less is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("lines.txt");
    let lines: String = (1..=200).map(|n| format!("line {n}\n")).collect();
    std::fs::write(&file, lines).expect("the file");
    let file = file.to_str().expect("a UTF-8 path");
    let mut pty = Pty::spawn(Path::new("less"), &[file], &[], 80, 24);
    let has_line = |n: u32| move |text: &str| text.lines().any(|l| l == format!("line {n}"));
    ok(pty.wait_until(has_line(23), WAIT));
    assert!(pty.alternate_screen());
    pty.key(Key::PageDown);
    ok(pty.wait_until(has_line(46), WAIT));
    assert!(!has_line(1)(&pty.screen_text()), "{}", pty.screen_text());
    pty.key(Key::End);
    ok(pty.wait_until(has_line(200), WAIT));
    pty.keys("q");
    assert_eq!(exit_code(&mut pty), 0);
    assert!(!pty.alternate_screen());
}

#[test]
fn edits_a_file_with_vi() {
    if !have("vi") {
        eprintln!("skipped: vi is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("note.txt");
    let path = file.to_str().expect("a UTF-8 path");
    let mut pty = Pty::spawn(Path::new("vi"), &["-n", "-i", "NONE", path], &[], 80, 24);
    ok(pty.wait_for("note.txt", WAIT));
    assert!(pty.alternate_screen());
    pty.keys("ihello from the harness");
    ok(pty.wait_for("hello from the harness", WAIT));
    pty.key(Key::Esc);
    pty.keys(":wq");
    pty.key(Key::Enter);
    assert_eq!(exit_code(&mut pty), 0);
    assert!(!pty.alternate_screen());
    assert_eq!(
        std::fs::read_to_string(&file).expect("the file vi wrote"),
        "hello from the harness\n"
    );
}
