//! Sessions the store holds but cannot open are counted and named, never
//! dropped without a word (issue 20, item 6): `sessions list` (text and
//! `--json`) and the Sessions pane say "3 sessions are sealed under key
//! KID, which is not loaded", or "cannot be decrypted: WHY" for a damaged
//! record, on the embedded store and on a real redis-server.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use windflow::audit::Audit;
use windflow::crypto::{Keyring, MasterKey};
use windflow::sessions::backend::{LocalStore, RedisStore, SessionStore};
use windflow::sessions::model::{Device, SessionType};
use windflow::sessions::service::Sessions;
use windflow::store::Store;

use crate::support::cli::CliEnv;
use crate::support::sessions_redis::RedisServer;

fn dev(ip: &str) -> Device {
    Device::new(ip.parse().unwrap(), "curl/8.5.0")
}

/// Replaces the stored envelope of session `id` with text that is no
/// envelope; in Redis the change is logged, as every writer of the store does.
fn damage(data_dir: Option<&std::path::Path>, redis: Option<&RedisServer>, id: &str) {
    const BAD: &str = "wf1.not-an-envelope";
    match (data_dir, redis) {
        (_, Some(r)) => {
            let mut c = r.client();
            let _: () = redis::cmd("SET")
                .arg(format!("session:{id}"))
                .arg(BAD)
                .arg("KEEPTTL")
                .query(&mut c)
                .unwrap();
            let _: String = redis::cmd("XADD")
                .arg("session_changes")
                .arg("*")
                .arg("id")
                .arg(id)
                .query(&mut c)
                .unwrap();
        }
        (Some(dir), None) => {
            let db = rusqlite::Connection::open(dir.join("windflow.db")).unwrap();
            let n = db
                .execute(
                    "UPDATE session SET envelope = ?1 WHERE id = ?2",
                    rusqlite::params![BAD, id],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        (None, None) => unreachable!(),
    }
}

/// The kid of the key file of `env`'s data dir (its first key).
fn file_kid(env: &CliEnv) -> String {
    let text = std::fs::read_to_string(env.data().join("master.key")).unwrap();
    MasterKey::from_base64(text.lines().next().unwrap().trim())
        .unwrap()
        .kid()
}

fn cli_sealed(redis: Option<&RedisServer>) {
    let env = CliEnv::new().acting_as("admin");
    let env = match redis {
        Some(r) => env.with_var("WINDFLOW_REDIS_URL", &r.url()),
        None => env,
    };
    let create = |user: &str| {
        env.json(&[
            "sessions",
            "create",
            "--user",
            user,
            "--ip",
            "203.0.113.7",
            "--user-agent",
            "curl/8",
            "--json",
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ids = [create("alice"), create("alice"), create("bob")];
    let kid = file_kid(&env);
    let other = MasterKey::generate();
    let other_b64 = other.to_base64();

    // Another key only: nothing opens; all three are counted and named.
    let run = |key: &str, args: &[&str]| {
        let out = env
            .cmd(args)
            .env("WINDFLOW_MASTER_KEY", key)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, text, err) = run(&other_b64, &["sessions", "list"]);
    assert_eq!(code, Some(0), "{text}{err}");
    let line = text
        .lines()
        .find(|l| l.contains("sealed under"))
        .unwrap_or_else(|| panic!("no line says why:\n{text}"));
    assert!(
        line.starts_with(&format!(
            "3 sessions are sealed under key {kid}, which is not loaded: "
        )),
        "{line}"
    );
    for id in &ids {
        assert!(line.contains(&id[..8]), "{id} not named: {line}");
    }
    assert!(text.contains("\n0 sessions\n"), "{text}");

    let (code, out, err) = run(&other_b64, &["sessions", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sessions"], json!([]));
    let groups = v["unreadable"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{v}");
    assert_eq!(groups[0]["reason"], "key_not_loaded");
    assert_eq!(groups[0]["kid"], kid.as_str());
    assert_eq!(groups[0]["count"], 3);
    assert_eq!(
        groups[0]["message"],
        format!("3 sessions are sealed under key {kid}, which is not loaded")
    );
    let mut named: Vec<&str> = groups[0]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut short: Vec<&str> = ids.iter().map(|id| &id[..8]).collect();
    short.sort_unstable();
    assert_eq!(named, short);

    // One of them shown: said why, not "no session".
    let (code, out, err) = run(&other_b64, &["sessions", "show", &ids[0]]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains(&format!(
            "1 session is sealed under key {kid}, which is not loaded: {}",
            &ids[0][..8]
        )),
        "{err}"
    );

    // The key file replaced by another key: the same.
    let key_file = env.data().join("master.key");
    let original = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, format!("{}\n", other_b64.as_str())).unwrap();
    let listed = env.run(&["sessions", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        listed.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        text.contains(&format!(
            "3 sessions are sealed under key {kid}, which is not loaded"
        )),
        "{text}"
    );
    std::fs::write(&key_file, original).unwrap();

    // One user's: the index names them, the key does not open them.
    let (code, text, _) = run(&other_b64, &["sessions", "list", "--user", "alice"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains(&format!(
            "2 sessions are sealed under key {kid}, which is not loaded"
        )),
        "{text}"
    );

    // Both keys loaded: every session listed, nothing unreadable.
    let both = format!(
        "{},{}",
        other_b64.as_str(),
        std::fs::read_to_string(env.data().join("master.key"))
            .unwrap()
            .trim()
    );
    let (code, out, err) = run(&both, &["sessions", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sessions"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v["unreadable"], json!([]));

    // A damaged record, with the right key: the other two listed, it named.
    damage(Some(&env.data()), redis, &ids[2]);
    let out = env.expect(&["sessions", "list"], 0);
    assert!(out.contains("\n2 sessions\n"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("cannot be decrypted"))
        .unwrap_or_else(|| panic!("the damaged one is not said:\n{out}"));
    assert!(
        line.starts_with("1 session cannot be decrypted: malformed envelope: ")
            && line.ends_with(&format!(": {}", &ids[2][..8])),
        "{line}"
    );
    let v = env.json(&["sessions", "list", "--json"]);
    assert_eq!(v["unreadable"][0]["reason"], "damaged", "{v}");
    assert_eq!(v["unreadable"][0]["count"], 1, "{v}");
}

#[test]
fn cli_sessions_list_counts_and_names_sealed_sessions_embedded() {
    cli_sealed(None);
}

#[test]
fn cli_sessions_list_counts_and_names_sealed_sessions_redis() {
    let redis = RedisServer::start();
    cli_sealed(Some(&redis));
}

/// The Sessions pane over the real service: sessions sealed under a key the
/// console has not loaded are counted and named where the list is, then
/// beside the sessions it can read; a damaged record is said as such.
async fn pane_sealed(
    make: impl Fn(Arc<Keyring>) -> Arc<dyn SessionStore>,
    redis: Option<&RedisServer>,
    data: Option<&std::path::Path>,
) {
    use windflow::console::app::{App, Msg};

    use crate::console::{focus, screen, settings};

    let old = MasterKey::generate();
    let kid = old.kid();
    let before = Sessions::new(make(Arc::new(Keyring::new(old))), Audit::discard());
    let mut ids = Vec::new();
    for user in ["alice", "alice", "bob"] {
        let l = before
            .create(user, SessionType::Web, &dev("203.0.113.7"), vec![])
            .await
            .unwrap();
        ids.push(l.session.id);
    }
    let now = Sessions::new(
        make(Arc::new(Keyring::new(MasterKey::generate()))),
        Audit::discard(),
    );
    let (tx, rx) = windflow::service::channel();
    let wake = windflow::service::Wake::default();
    let (dtx, drx) = wake.channel();
    let _handle =
        windflow::sessions::service::spawn(now.clone(), windflow::service::Sink::new(tx, dtx));
    let panes =
        crate::support::panes_with(Box::new(windflow::sessions::pane::SessionsPane::new(drx)));
    let mut app = App::new(settings(), panes, "dark", "vim").unwrap();
    focus(&mut app, "sessions");
    let mut rx = (rx, wake);
    async fn until(
        app: &mut App,
        rx: &mut (windflow::service::EventRx, windflow::service::Wake),
        what: &str,
        done: impl Fn(&mut App) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !done(app) {
            let msg = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    Some(ev) = rx.0.recv() => Msg::Service(ev),
                    () = rx.1.woken() => Msg::Wake,
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{what}: not within 15 s:\n{}", screen(app, 120, 30)));
            app.update(msg);
        }
    }
    // The screen with its lines joined, as wrapped text breaks anywhere.
    fn flat(app: &mut App) -> String {
        screen(app, 120, 30)
            .lines()
            .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
            .collect::<Vec<_>>()
            .join(" ")
    }
    let sealed = format!("3 sessions are sealed under key {kid}, which is not loaded");

    until(&mut app, &mut rx, "the sealed sessions", |a| {
        flat(a).contains(&sealed)
    })
    .await;
    let text = flat(&mut app);
    assert!(text.contains("No session could be read"), "{text}");
    assert!(!text.contains("No sessions."), "{text}");

    // A session it can read: listed, and the sealed ones still said.
    now.create("carol", SessionType::Web, &dev("203.0.113.8"), vec![])
        .await
        .unwrap();
    until(&mut app, &mut rx, "carol beside the sealed ones", |a| {
        let t = flat(a);
        t.contains("carol") && t.contains(&sealed)
    })
    .await;

    // One of the three damaged: said apart, the other two still counted.
    damage(data, redis, &ids[0]);
    until(&mut app, &mut rx, "the damaged one", |a| {
        let t = flat(a);
        t.contains("1 session cannot be decrypted: malformed envelope")
            && t.contains(&format!("2 sessions are sealed under key {kid}"))
    })
    .await;
    let screen = screen(&mut app, 120, 30);
    assert!(
        screen
            .lines()
            .filter(|l| l.contains("sealed under key"))
            .count()
            == 1,
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_pane_counts_and_names_sealed_sessions_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    pane_sealed(
        move |keys| {
            Arc::new(LocalStore::open(store.clone(), keys).unwrap()) as Arc<dyn SessionStore>
        },
        None,
        Some(&data),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_pane_counts_and_names_sealed_sessions_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    pane_sealed(
        move |keys| Arc::new(RedisStore::connect(&url, keys).unwrap()) as Arc<dyn SessionStore>,
        Some(&redis),
        None,
    )
    .await;
}

/// The console (the real binary in a terminal): sessions sealed under a key
/// it has not loaded are counted and named in the Sessions pane where the
/// list is, not shown as "No sessions".
#[test]
fn console_sessions_pane_names_sessions_sealed_under_a_key_not_loaded() {
    const T: Duration = Duration::from_secs(20);
    let env = CliEnv::new().acting_as("admin");
    let file_key = std::fs::read_to_string(env.data().join("master.key")).unwrap();
    let newer = MasterKey::generate();
    // Created while a newer key was loaded too: sealed under it (the newest).
    let both = format!("{},{}", file_key.trim(), newer.to_base64().as_str());
    for user in ["alice", "bob"] {
        let out = env
            .cmd(&[
                "sessions",
                "create",
                "--user",
                user,
                "--ip",
                "203.0.113.7",
                "--user-agent",
                "curl/8",
            ])
            .env("WINDFLOW_MASTER_KEY", &both)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The console with the key file only.
    let mut pty = env.signed_in_console("ops", 140, 30);
    pty.keys(":pane sessions\r");
    let said = format!(
        "2 sessions are sealed under key {}, which is not loaded",
        newer.kid()
    );
    pty.wait_for(&said, T)
        .unwrap_or_else(|e| panic!("{e}:\n{}", pty.screen_text()));
    let screen = pty.screen_text();
    assert!(screen.contains("No session could be read"), "{screen}");
    assert!(!screen.contains("No sessions."), "{screen}");
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
}
