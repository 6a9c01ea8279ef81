//! The real `windflow` binary in a pseudo-terminal: keys typed, the screen
//! read back through a vt100 parser, the terminal checked after exit.

use std::time::Duration;

use crate::support::pty::{Key, Pty};
use crate::support::windflow_bin;

// Generous: a loaded 2-core machine can take seconds per screen in a debug build.
const T: Duration = Duration::from_secs(20);

/// Starts the console in demo mode (it enrols a demo operator and signs in).
fn start(args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Pty {
    let mut all = vec!["--demo"];
    all.extend_from_slice(args);
    let pty = Pty::spawn(&windflow_bin(), &all, env, cols, rows);
    pty.wait_for("WindFlow", T).unwrap();
    pty.wait_for("Overview", T).unwrap();
    pty
}

fn exited_cleanly(pty: &mut Pty) -> i32 {
    let status = pty.wait_exit(T).expect("windflow did not exit");
    assert!(!pty.alternate_screen(), "the alternate screen was left");
    assert!(!pty.cursor_hidden(), "the cursor is visible again");
    status.exit_code() as i32
}

#[test]
fn start_switch_help_theme_resize_quit() {
    // A scanner on PATH, so that the scans service is connected too.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(crate::scans::trivy::trivy(), bin.path().join("trivy")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut pty = start(&[], &[("PATH", &path)], 80, 24);
    pty.wait_for("demo (demo sign-in)", T).unwrap();
    assert!(pty.alternate_screen() && pty.cursor_hidden());
    pty.wait_for("DEMO", T).unwrap();
    // Every service connected: at 80 columns the status bar counts them.
    pty.wait_until(
        |s| s.lines().nth(23).is_some_and(|l| l.contains(" 7 up ●")),
        T,
    )
    .unwrap();
    pty.wait_until(
        |s| {
            s.lines()
                .any(|l| l.contains("store") && l.contains("● connected"))
        },
        T,
    )
    .unwrap();

    // Activity is the last pane: Shift-Tab from the first reaches it, Tab wraps back.
    pty.key(Key::BackTab);
    pty.wait_for("Activity (", T).unwrap();
    pty.wait_for("demo workload generator started", T).unwrap();
    pty.key(Key::Tab);
    pty.wait_for("Services (", T).unwrap();

    pty.keys("?");
    pty.wait_for("Probe every backend now", T).unwrap();
    pty.key(Key::Esc);
    pty.wait_for_gone("Probe every backend now", T).unwrap();

    pty.keys(":theme light");
    pty.key(Key::Enter);
    pty.wait_for("theme light", T).unwrap();

    pty.resize(150, 40);
    // The status bar moves to the new last row and the pane widens.
    pty.wait_until(|s| s.lines().nth(39).is_some_and(|l| l.contains("UTC")), T)
        .unwrap();
    // With room, every service is named with its state.
    pty.wait_until(
        |s| {
            s.lines()
                .nth(39)
                .is_some_and(|l| l.contains("store ●") && l.contains("audit ●"))
        },
        T,
    )
    .unwrap();
    pty.wait_until(
        |s| s.lines().nth(1).is_some_and(|l| l.chars().count() == 150),
        T,
    )
    .unwrap();
    pty.resize(80, 24);
    pty.wait_until(|s| s.lines().nth(23).is_some_and(|l| l.contains("UTC")), T)
        .unwrap();

    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let mut pty = start(&[], &[], 80, 24);
        pty.signal(sig).unwrap();
        assert_eq!(exited_cleanly(&mut pty), code);
    }
}

#[test]
fn ctrl_z_suspends_to_the_shell_and_fg_redraws() {
    // A real interactive shell with job control, as over SSH.
    let mut pty = Pty::spawn(
        std::path::Path::new("/bin/bash"),
        &["--norc", "--noprofile", "-i"],
        &[("PS1", "prompt$ ")],
        80,
        24,
    );
    pty.wait_for("prompt$", T).unwrap();
    pty.keys(&format!("{} --demo\r", windflow_bin().display()));
    pty.wait_for("Overview", T).unwrap();
    pty.key(Key::Ctrl('z'));
    pty.wait_for("Stopped", T).unwrap();
    pty.wait_screen(|s| !s.alternate_screen() && !s.hide_cursor(), T)
        .unwrap();
    let before = pty.output_len();
    pty.keys("fg\r");
    pty.wait_screen(|s| s.alternate_screen(), T).unwrap();
    pty.wait_for("Services (", T).unwrap();
    assert!(pty.output_len() > before + 500, "a full redraw after fg");
    pty.keys("q");
    pty.wait_screen(|s| !s.alternate_screen() && !s.hide_cursor(), T)
        .unwrap();
    pty.keys("echo rc=$?\r");
    pty.wait_for("rc=0", T).unwrap();
    pty.keys("exit\r");
    pty.wait_exit(T).expect("the shell exits");
}

#[test]
fn no_color_means_no_colour_escapes() {
    let mut pty = start(&[], &[("NO_COLOR", "1")], 80, 24);
    pty.keys(":pane activity\r");
    pty.wait_for("Activity (", T).unwrap();
    pty.keys("q");
    exited_cleanly(&mut pty);
    let raw = String::from_utf8_lossy(&pty.raw_output()).into_owned();
    for sgr in sgr_params(&raw) {
        for p in sgr.split(';') {
            let n: u32 = p.parse().unwrap_or(0);
            assert!(
                !(30..=49).contains(&n) && !(90..=107).contains(&n) && n != 58 && n != 59,
                "colour escape `\\e[{sgr}m` with NO_COLOR"
            );
        }
    }
    // Without NO_COLOR the same screen has colours (the check can fail).
    let mut pty = start(&[], &[], 80, 24);
    pty.keys("q");
    exited_cleanly(&mut pty);
    let raw = String::from_utf8_lossy(&pty.raw_output()).into_owned();
    assert!(
        sgr_params(&raw).iter().any(|s| s.starts_with("38;2;")),
        "truecolor escapes expected"
    );
}

/// The parameter strings of every SGR (`ESC [ ... m`) sequence.
fn sgr_params(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find("\x1b[") {
        rest = &rest[i + 2..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        if rest[end..].starts_with('m') {
            out.push(rest[..end].to_string());
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn invalid_config_exits_2_without_touching_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("windflow.toml");
    std::fs::write(&cfg, "theme = \"dark\"\nread_only = \"sometimes\"\n").unwrap();
    let mut pty = Pty::spawn(
        &windflow_bin(),
        &["--config", cfg.to_str().unwrap()],
        &[],
        80,
        24,
    );
    let status = pty.wait_exit(T).expect("exits");
    assert_eq!(status.exit_code(), 2);
    let raw = String::from_utf8_lossy(&pty.raw_output()).into_owned();
    assert!(
        !raw.contains("\x1b[?1049h"),
        "never entered the alternate screen"
    );
    assert!(raw.contains("line 2") && raw.contains("read_only"), "{raw}");
}

#[test]
fn read_only_badge_and_refusal() {
    let mut pty = start(&["--read-only", "--env", "prod"], &[], 80, 24);
    pty.wait_for("READ-ONLY", T).unwrap();
    pty.wait_for("PROD", T).unwrap();
    pty.keys(":compact");
    pty.key(Key::Enter);
    pty.wait_for("read-only", T).unwrap();
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);
}

/// The first run enrols the first operator (QR, secret, backup codes, a
/// confirming code); the next start asks for operator and code.
#[test]
fn first_run_wizard_then_sign_in() {
    use secrecy::ExposeSecret;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut pty = Pty::spawn(
        &windflow_bin(),
        &["--data-dir", dir],
        &[("USER", "alice")],
        100,
        30,
    );
    pty.wait_for("first run", T).unwrap();
    pty.wait_for("alice", T).unwrap();
    pty.key(Key::Enter);
    pty.wait_for("Backup codes", T).unwrap();
    // The whole frame: a read can stop in the middle of one.
    let backup_codes = |screen: &str| -> Vec<String> {
        screen
            .lines()
            .flat_map(|l| l.split_whitespace())
            .filter(|w| w.len() == 11 && w.as_bytes()[5] == b'-')
            .map(str::to_string)
            .collect()
    };
    pty.wait_until(|s| backup_codes(s).len() == 10, T).unwrap();
    let screen = pty.screen_text();
    // The QR code is drawn with half blocks; the secret is shown as text.
    assert!(screen.contains('▀') || screen.contains('▄'), "{screen}");
    let secret = screen
        .lines()
        .find_map(|l| {
            l.split_whitespace().find(|w| {
                w.len() == 32
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
            })
        })
        .unwrap_or_else(|| panic!("no base32 secret on screen:\n{screen}"))
        .to_string();
    let backups = backup_codes(&screen);
    assert_eq!(backups.len(), 10, "{screen}");
    let backup = backups[0].clone();
    let key = windflow::mfa::TotpKey::from_base32(&secret, windflow::mfa::Algorithm::Sha1, 6, 30)
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A wrong code first: refused, the wizard stays.
    let wrong = format!(
        "{:06}",
        (key.code_at(now).expose_secret().parse::<u32>().unwrap() + 1) % 1_000_000
    );
    pty.keys(&wrong);
    pty.key(Key::Enter);
    pty.wait_for("invalid", T).unwrap();
    pty.keys(key.code_at(now).expose_secret());
    pty.key(Key::Enter);
    pty.wait_for("Services (", T).unwrap();
    pty.wait_for("alice · admin", T).unwrap();
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);

    // Second start: the sign-in screen; the TOTP code was used, a backup code works.
    // Every change asks for a fresh code (a step-up window of 0 minutes).
    let mut pty = Pty::spawn(
        &windflow_bin(),
        &["--data-dir", dir],
        &[("USER", "alice"), ("WINDFLOW_STEP_UP_MINUTES", "0")],
        100,
        30,
    );
    pty.wait_for("sign in", T).unwrap();
    assert!(
        !pty.contains("Services ("),
        "nothing is shown before sign-in"
    );
    // No operator configured: the screen starts in the Operator field.
    pty.keys("alice\r");
    pty.keys(key.code_at(now).expose_secret());
    pty.key(Key::Enter);
    pty.wait_for("already used", T)
        .unwrap_or_else(|_| pty.wait_for("replay", T).unwrap());
    pty.keys(&backup);
    pty.key(Key::Enter);
    pty.wait_for("Services (", T).unwrap();

    // Replacing the backup codes from the Operators pane: step-up, confirm, shown once.
    pty.keys(":pane operators\r");
    pty.wait_for("alice (you)", T).unwrap();
    pty.wait_for("9", T).unwrap();
    pty.keys("B");
    pty.wait_for("needs a fresh code", T).unwrap();
    pty.keys(&backups[0]);
    pty.key(Key::Enter);
    pty.wait_for("invalid code", T).unwrap();
    pty.keys(&backups[1]);
    pty.key(Key::Enter);
    pty.wait_for("Replace your backup codes?", T).unwrap();
    pty.key(Key::Enter);
    pty.wait_for("shown this once", T).unwrap();
    pty.wait_until(|s| backup_codes(s).len() == 10, T).unwrap();
    let fresh = backup_codes(&pty.screen_text());
    assert_eq!(fresh.len(), 10, "{}", pty.screen_text());
    pty.key(Key::Esc);
    pty.wait_for_gone("shown this once", T).unwrap();
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);

    // The old set is gone, the new one works (once).
    let verify = |code: &str| {
        std::process::Command::new(windflow_bin())
            .args(["--data-dir", dir, "mfa", "verify", "alice", code])
            .env("HOME", data.path())
            .env("XDG_CONFIG_HOME", data.path().join("config"))
            .env_remove("WINDFLOW_MASTER_KEY")
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(verify(&backups[2]), Some(1), "an old backup code");
    assert_eq!(verify(&fresh[0]), Some(0), "a new backup code");
    assert_eq!(verify(&fresh[0]), Some(1), "used once already");
}

/// While the first-run wizard shows the first admin's QR code, nobody else at
/// the CLI can start another enrolment for that admin (which replaced the
/// wizard's pending key, and so took the admin over): the wizard's code still
/// confirms, and the attempt is refused (exit 3) and audited.
#[test]
fn first_run_wizard_enrolment_cannot_be_taken_over_from_the_cli() {
    use secrecy::ExposeSecret;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let home = data.path().join("home");
    let mut pty = Pty::spawn(
        &windflow_bin(),
        &["--data-dir", dir],
        &[("USER", "alice")],
        100,
        30,
    );
    pty.wait_for("first run", T).unwrap();
    pty.wait_for("alice", T).unwrap();
    pty.key(Key::Enter);
    pty.wait_for("Backup codes", T).unwrap();
    let secret_on = |screen: &str| -> Option<String> {
        screen.lines().find_map(|l| {
            l.split_whitespace()
                .find(|w| {
                    w.len() == 32
                        && w.chars()
                            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
                })
                .map(str::to_string)
        })
    };
    pty.wait_until(|s| secret_on(s).is_some(), T).unwrap();
    let secret = secret_on(&pty.screen_text()).unwrap();

    // Another user of the machine, at the CLI, while the wizard waits.
    let cli = |args: &[&str]| {
        std::process::Command::new(windflow_bin())
            .args(["--data-dir", dir])
            .args(args)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", data.path().join("config"))
            .env("XDG_STATE_HOME", data.path().join("state"))
            .env_remove("WINDFLOW_MASTER_KEY")
            .env_remove("WINDFLOW_OPERATOR")
            .env_remove("WINDFLOW_ENROLMENT_TOKEN")
            .output()
            .unwrap()
    };
    let out = cli(&["mfa", "enroll", "alice", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("enrolment token"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("otpauth"),
        "no secret handed out"
    );
    let out = cli(&["mfa", "enroll", "alice", "--token", &"f".repeat(64)]);
    assert_eq!(out.status.code(), Some(3));

    // The wizard's own key still confirms: alice is signed in.
    let key = windflow::mfa::TotpKey::from_base32(&secret, windflow::mfa::Algorithm::Sha1, 6, 30)
        .unwrap();
    let now = windflow::mfa::unix_seconds(std::time::SystemTime::now());
    pty.keys(key.code_at(now).expose_secret());
    pty.key(Key::Enter);
    pty.wait_for("Services (", T).unwrap();
    pty.wait_for("alice · admin", T).unwrap();
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);
    let refused: Vec<_> = crate::support::audit_events(data.path())
        .into_iter()
        .filter(|e| e.event_type == "enrolment_refused")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|e| e.user_id.as_deref() == Some("alice"))
    );
}

/// The wizard also shows the first admin's one-time enrolment token: left
/// unconfirmed (the wizard quit), the admin starts a new enrolment with it
/// at the CLI, and only with it.
#[test]
fn first_run_wizard_left_unconfirmed_enrols_again_with_its_token() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut pty = Pty::spawn(
        &windflow_bin(),
        &["--data-dir", dir],
        &[("USER", "alice")],
        160,
        40,
    );
    pty.wait_for("first run", T).unwrap();
    pty.wait_for("alice", T).unwrap();
    pty.key(Key::Enter);
    pty.wait_for("Not now?", T).unwrap();
    let token_on = |screen: &str| -> Option<String> {
        screen.lines().find_map(|l| {
            l.split_whitespace()
                .find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_string)
        })
    };
    pty.wait_until(|s| token_on(s).is_some(), T).unwrap();
    let token = token_on(&pty.screen_text()).unwrap();
    pty.key(Key::Esc);
    assert_eq!(exited_cleanly(&mut pty), 0);

    let cli = |args: &[&str]| {
        std::process::Command::new(windflow_bin())
            .args(["--data-dir", dir])
            .args(args)
            .env("HOME", data.path().join("home"))
            .env("XDG_CONFIG_HOME", data.path().join("config"))
            .env("XDG_STATE_HOME", data.path().join("state"))
            .env_remove("WINDFLOW_MASTER_KEY")
            .env_remove("WINDFLOW_OPERATOR")
            .env_remove("WINDFLOW_ENROLMENT_TOKEN")
            .output()
            .unwrap()
    };
    assert_eq!(cli(&["mfa", "enroll", "alice"]).status.code(), Some(3));
    let out = cli(&["mfa", "enroll", "alice", "--token", &token, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(started["secret"].as_str().is_some_and(|s| s.len() == 32));
    assert_eq!(
        cli(&["mfa", "enroll", "alice", "--token", &token])
            .status
            .code(),
        Some(3),
        "the token works once"
    );
}

/// An admin resets an operator's second factor in the Operators pane: the
/// pane shows the operator's one-time enrolment token once, and with it (and
/// only with it) the operator enrols again at the CLI.
#[test]
fn operators_pane_reset_shows_the_one_time_enrolment_token() {
    use secrecy::ExposeSecret;
    let env = crate::support::cli::CliEnv::new();
    let added = env.json(&["operators", "add", "admin", "--json"]);
    let secret = added["enrollment"]["secret"].as_str().unwrap();
    let backup: Vec<String> = added["enrollment"]["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let key =
        windflow::mfa::TotpKey::from_base32(secret, windflow::mfa::Algorithm::Sha1, 6, 30).unwrap();
    let now = windflow::mfa::unix_seconds(std::time::SystemTime::now());
    env.expect(
        &["mfa", "confirm", "admin", key.code_at(now).expose_secret()],
        0,
    );
    let bob = env.json(&[
        "operators",
        "add",
        "bob",
        "--operator",
        "admin",
        "--code",
        &backup[0],
        "--json",
    ]);
    let first = bob["enrolment_token"].as_str().unwrap().to_owned();

    let root = env.root.path();
    let path = |p: &str| root.join(p).display().to_string();
    let data = env.data().display().to_string();
    let vars = [
        ("HOME", path("home")),
        ("XDG_CONFIG_HOME", path("config")),
        ("XDG_DATA_HOME", path("xdg-data")),
        ("XDG_STATE_HOME", path("state")),
        ("USER", "admin".to_owned()),
        ("WINDFLOW_OPERATOR", "admin".to_owned()),
        ("WINDFLOW_STEP_UP_MINUTES", "0".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut pty = Pty::spawn(&windflow_bin(), &["--data-dir", &data], &vars, 120, 30);
    pty.wait_for("sign in", T).unwrap();
    pty.keys(key.code_at(now + 30).expose_secret());
    pty.key(Key::Enter);
    pty.wait_for("Services (", T).unwrap();
    pty.keys(":pane operators\r");
    pty.wait_for("admin (you)", T).unwrap();
    pty.wait_for("bob", T).unwrap();
    pty.keys("j");
    pty.keys("X");
    pty.wait_for("needs a fresh code", T).unwrap();
    pty.keys(&backup[1]);
    pty.key(Key::Enter);
    pty.wait_for("Reset the second factor of bob?", T).unwrap();
    pty.keys("bob");
    pty.key(Key::Enter);
    pty.wait_for("Enrolment token", T).unwrap();
    let token_on = |screen: &str| -> Option<String> {
        screen.lines().find_map(|l| {
            l.split(|c: char| !c.is_ascii_hexdigit())
                .find(|w| w.len() == 64)
                .map(str::to_string)
        })
    };
    pty.wait_until(|s| token_on(s).is_some(), T).unwrap();
    let token = token_on(&pty.screen_text()).unwrap();
    assert_ne!(token, first);
    pty.key(Key::Esc);
    pty.wait_for_gone("Enrolment token", T).unwrap();
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);

    env.expect(&["mfa", "enroll", "bob"], 3);
    env.expect(&["mfa", "enroll", "bob", "--token", &first], 3);
    env.expect(&["mfa", "enroll", "bob", "--token", &token], 0);
    env.expect(&["mfa", "enroll", "bob", "--token", &token], 3);
}

/// The headless basics: version, effective config as JSON, completions.
#[test]
fn version_config_show_and_completions() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(windflow_bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", home.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("windflow "));

    let out = run(
        &["--theme", "light", "config", "show", "--json"],
        &[
            ("WINDFLOW_ENV", "prod"),
            (
                "WINDFLOW_MASTER_KEY",
                "c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcy1sb25n",
            ),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("c2VjcmV0"), "no secret in config show");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["theme"], "light");
    assert_eq!(v["sources"]["theme"], "flag");
    assert_eq!(v["environment"], "prod");
    assert_eq!(v["sources"]["environment"], "env");
    assert_eq!(v["environment_color"], "red");
    let data_dir = v["paths"]["data_dir"].as_str().unwrap();
    assert!(
        data_dir.starts_with(home.path().to_str().unwrap()) && data_dir.ends_with("windflow"),
        "{data_dir}"
    );
    for key in [
        "config_file",
        "state_dir",
        "log_file",
        "themes_dir",
        "keymaps_dir",
        "keymap_overrides",
    ] {
        assert!(v["paths"][key].is_string(), "{key} missing");
    }

    // Where each domain's data lives, with every credential hidden.
    let backends_env = [
        ("WINDFLOW_REDIS_URL", "rediss://:redis-pw-1@10.0.0.7:6380"),
        ("WINDFLOW_SECRETS_BACKEND", "vault"),
        ("VAULT_ADDR", "https://vault.internal:8200"),
        ("VAULT_TOKEN", "hvs.vault-token-2"),
        ("ELASTICSEARCH_URL", "https://ops:es-pw-3@es.internal:9200"),
        ("ELASTICSEARCH_API_KEY", "es-api-key-4"),
        (
            "WINDFLOW_ALERT_SLACK_URL",
            "https://hooks.slack.com/services/T0/B0/slack-token-5",
        ),
    ];
    for json in [true, false] {
        let args: &[&str] = if json {
            &["config", "show", "--json"]
        } else {
            &["config", "show"]
        };
        let out = run(args, &backends_env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for secret in [
            "redis-pw-1",
            "vault-token-2",
            "es-pw-3",
            "es-api-key-4",
            "slack-token-5",
        ] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        if json {
            let b = &serde_json::from_str::<serde_json::Value>(&text).unwrap()["backends"];
            assert_eq!(b["sessions"]["backend"], "redis");
            assert_eq!(b["sessions"]["url"], "rediss://:****@10.0.0.7:6380");
            assert_eq!(b["secrets"]["backend"], "vault");
            assert_eq!(b["secrets"]["addr"], "https://vault.internal:8200");
            assert_eq!(
                b["audit"]["elasticsearch"]["url"],
                "https://ops:****@es.internal:9200"
            );
            assert_eq!(b["audit"]["elasticsearch"]["api_key"], "set");
            assert_eq!(
                b["audit"]["alert_channels"][0]["to"],
                "https://hooks.slack.com"
            );
        } else {
            assert!(
                text.contains("sessions.url") && text.contains("10.0.0.7:6380"),
                "{text}"
            );
            assert!(
                text.contains("secrets.backend") && text.contains("vault"),
                "{text}"
            );
        }
    }
    // A domain whose settings are wrong shows why, and the rest still shows.
    let file = home.path().join("windflow.toml");
    std::fs::write(
        &file,
        "[sessions]\nredis_client_key = \"k.pem\"\n\
         [isolation]\ncontext = \"prod\"\ndrift_every = \"10m\"\n",
    )
    .unwrap();
    let out = run(
        &[
            "config",
            "show",
            "--json",
            "--config",
            file.to_str().unwrap(),
        ],
        &[("WINDFLOW_REDIS_URL", "rediss://10.0.0.7:6380")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = v["backends"]["sessions"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("redis_client_key"), "{v}");
    assert_eq!(v["backends"]["secrets"]["backend"], "embedded");
    // Each domain with settings has its section (from the domain list).
    let isolation = &v["backends"]["isolation"];
    assert_eq!(isolation["cluster"]["backend"], "kubernetes", "{v}");
    assert_eq!(isolation["cluster"]["context"], "prod");
    assert_eq!(isolation["drift_every_secs"], 600);

    let out = run(&["config", "show", "--log-level", "loud"], &[]);
    assert_eq!(out.status.code(), Some(2), "bad input exits 2");
    let out = run(&["no-such-command"], &[]);
    assert_eq!(out.status.code(), Some(2), "bad usage exits 2");

    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[]);
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        // The domains' subcommands are completed with the console's own.
        for sub in ["windflow", "isolate", "compliance", "config", "agent"] {
            assert!(script.contains(sub), "{shell}: no {sub}");
        }
    }
}

#[test]
fn every_pane_with_demo_data_survives_any_terminal_size() {
    let mut pty = start(&[], &[], 80, 24);
    pty.wait_for("demo (demo sign-in)", T).unwrap();
    let sizes = [
        (20, 5),
        (40, 10),
        (41, 11),
        (33, 30),
        (60, 12),
        (200, 8),
        (80, 24),
    ];
    for pane in [
        "sessions",
        "secrets",
        "scans",
        "audit",
        "operators",
        "activity",
        "overview",
    ] {
        pty.keys(&format!(":pane {pane}\r"));
        // Open the selected row's detail, where the pane has one.
        pty.key(Key::Enter);
        for (cols, rows) in sizes {
            pty.resize(cols, rows);
            // Redrawn at the new size: the status bar on the last row, or
            // the notice naming the size.
            let small = cols < 40 || rows < 10;
            pty.wait_until(
                |s| {
                    if small {
                        s.contains("WindFlow needs") && s.contains(&format!("{cols}x{rows}"))
                    } else {
                        s.lines()
                            .nth(rows as usize - 1)
                            .is_some_and(|l| l.contains("UTC"))
                    }
                },
                T,
            )
            .unwrap_or_else(|e| panic!("{pane} at {cols}x{rows}: {e}"));
        }
        pty.key(Key::Esc);
    }
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);
}

/// Inside tmux with `set-clipboard off`, a copy says how to let it through
/// instead of claiming success (a real tmux server on its own socket).
#[test]
fn copy_inside_tmux_with_set_clipboard_off_says_how_to_enable_it() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .env("HOME", dir.path())
            .output()
            .expect("tmux (Debian package tmux; scripts/test installs it)")
    };
    let bin = crate::support::windflow_bin();
    let cmd = format!(
        "env -u COLORTERM HOME={h} XDG_CONFIG_HOME={h}/c XDG_STATE_HOME={h}/s {} --demo",
        bin.display(),
        h = dir.path().display()
    );
    let conf = dir.path().join("tmux.conf");
    std::fs::write(&conf, "set -g set-clipboard off\n").unwrap();
    let conf = conf.to_str().unwrap().to_owned();
    let started = tmux(&[
        "-f",
        &conf,
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    assert!(started.status.success(), "{started:?}");
    struct Kill<F: Fn()>(F);
    impl<F: Fn()> Drop for Kill<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _kill = Kill(|| {
        let _ = tmux(&["kill-server"]);
    });
    let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).into_owned();
    let wait = |what: &str| {
        let start = std::time::Instant::now();
        while !screen().contains(what) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "no {what:?} on\n{}",
                screen()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait("demo (demo sign-in)");
    assert!(tmux(&["send-keys", "y"]).status.success());
    wait("set-clipboard is off");
}

/// An unknown theme or keymap is refused by `config show` (and so by the
/// console and every command) with exit 2, naming where it came from and
/// the ones that exist; a theme file in the config dir's `themes/` counts.
#[test]
fn unknown_theme_or_keymap_is_refused_naming_those_that_exist() {
    let env = crate::support::cli::CliEnv::new();
    let config_dir = env.data().parent().unwrap().join("config/windflow");
    std::fs::create_dir_all(config_dir.join("themes")).unwrap();
    std::fs::write(config_dir.join("windflow.toml"), "theme = \"nope\"\n").unwrap();
    let out = env.run(&["config", "show"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("theme `nope`") && err.contains("windflow.toml"),
        "{err}"
    );
    assert!(err.contains("dark") && err.contains("light"), "{err}");

    let out = env.run(&["--keymap", "emacs", "config", "show"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");

    // The user's own theme file makes the name known.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/themes/dark.toml"),
        config_dir.join("themes/nope.toml"),
    )
    .unwrap();
    let v = env.json(&["config", "show", "--json"]);
    assert_eq!(v["theme"], "nope");
}

/// The demo runs on its own: the sample deployments in its own folder, and
/// none of the config file's tables (the cluster folder and deployments a
/// user configured are neither read nor written).
#[test]
fn the_demo_keeps_to_its_own_deployments_and_cluster() {
    let home = tempfile::tempdir().unwrap();
    let specs = home.path().join("my-specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(specs.join("broken.toml"), "id = \n").unwrap();
    let cluster = home.path().join("my-cluster");
    let config = home.path().join("windflow.toml");
    std::fs::write(
        &config,
        format!(
            "deployments_dir = \"{}\"\n[isolation]\ncluster_dir = \"{}\"\n",
            specs.display(),
            cluster.display()
        ),
    )
    .unwrap();
    let h = home.path().display().to_string();
    let env = [
        ("HOME", h.as_str()),
        ("XDG_CONFIG_HOME", &format!("{h}/config")),
        ("XDG_DATA_HOME", &format!("{h}/data")),
        ("XDG_STATE_HOME", &format!("{h}/state")),
        ("WINDFLOW_CONFIG", config.to_str().unwrap()),
    ];
    let mut pty = start(&[], &env, 120, 30);
    pty.wait_for("demo (demo sign-in)", T).unwrap();
    pty.keys(":pane compliance\r");
    pty.wait_for("Compliance (4 deployments", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", pty.screen_text()));
    // The rows fill in as each deployment's status is computed.
    for id in ["payments", "storefront", "clinical-analytics", "mailer"] {
        pty.wait_for(id, T)
            .unwrap_or_else(|e| panic!("{id}: {e}\n{}", pty.screen_text()));
    }
    assert!(!pty.contains("broken.toml"), "{}", pty.screen_text());
    pty.keys(":pane isolation\r");
    pty.wait_for("payments", T).unwrap();
    pty.keys("q");
    assert_eq!(exited_cleanly(&mut pty), 0);
    assert!(
        !cluster.exists(),
        "the demo touched the configured cluster folder"
    );
    // No master key or store was made in the real data dir.
    assert!(
        !home
            .path()
            .join("data/windflow")
            .join("master.key")
            .exists()
    );
}
