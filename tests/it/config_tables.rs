//! Every table of windflow.toml is strict, and `[sessions]` names the session
//! store's Redis, with its password kept out of the file's text.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::cli::CliEnv;
use crate::support::sessions_redis::RedisServer;

fn write_config(env: &CliEnv, text: &str) -> PathBuf {
    let path = env.root.path().join("windflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn stderr_of(env: &CliEnv, args: &[&str], code: i32) -> String {
    let out = env.run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    err
}

#[test]
fn a_typo_in_any_table_stops_every_command_naming_file_line_and_key() {
    let cases = [
        (
            "sessions",
            "redis_ur = \"redis://127.0.0.1:6379\"",
            "redis_url",
        ),
        ("secrets", "backnd = \"vault\"", "backend"),
        ("audit", "tail_capasity = 10", "tail_capacity"),
        ("isolation", "kube_config = \"k\"", "kubeconfig"),
        ("agent", "lease_secs = \"5s\"", "lease_key"),
        ("anomaly", "retrain_evry = \"1h\"", "retrain_every"),
    ];
    for (table, line, expected) in cases {
        let env = CliEnv::new();
        let path = write_config(&env, &format!("theme = \"dark\"\n\n[{table}]\n{line}\n"));
        let env = env.with_var("WINDFLOW_CONFIG", path.to_str().unwrap());
        let typo = line.split(' ').next().unwrap();
        // A command that never reads the table stops too, and so does config show.
        for args in [&["operators", "list"][..], &["config", "show"][..]] {
            let err = stderr_of(&env, args, 2);
            assert!(
                err.contains(&format!("{}, line 4, key `{typo}`", path.display())),
                "[{table}] {args:?}: {err}"
            );
            assert!(err.contains(&format!("[{table}]")), "{err}");
            // The keys the table takes are listed.
            assert!(err.contains(&format!("`{expected}`")), "{err}");
        }
    }
}

fn private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn db_size(redis: &RedisServer, password: &str) -> i64 {
    let url = redis
        .url()
        .replace("redis://", &format!("redis://:{password}@"));
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("DBSIZE").query(&mut c).unwrap()
}

#[test]
fn sessions_redis_url_and_its_password_come_from_the_file_env_and_flags_in_that_order() {
    let redis = RedisServer::start_with_password("pw-4711");
    let env = CliEnv::new().acting_as("ops");
    let pass = env.root.path().join("redis.pass");
    private(&pass, "pw-4711\n");
    let path = write_config(
        &env,
        &format!(
            "[sessions]\nredis_url = \"{}\"\nredis_password_file = \"redis.pass\"\n",
            redis.url()
        ),
    );
    let env = env.with_var("WINDFLOW_CONFIG", path.to_str().unwrap());
    let create = [
        "sessions",
        "create",
        "--user",
        "alice",
        "--ip",
        "203.0.113.10",
        "--user-agent",
        "curl/8.5",
        "--json",
    ];

    // The file's Redis is used, with the password from the private file.
    assert_eq!(db_size(&redis, "pw-4711"), 0);
    env.json_code(&create, 0);
    assert!(
        db_size(&redis, "pw-4711") > 0,
        "the session is not in Redis"
    );
    let listed = env.json_code(&["sessions", "list", "--json"], 0);
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // config show says where each came from and masks the password.
    let out = env.run(&["config", "show", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("pw-4711"), "{text}");
    let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
    let s = &shown["backends"]["sessions"];
    assert_eq!(s["backend"], "redis", "{shown}");
    assert!(
        s["url"].as_str().unwrap().contains(":****@127.0.0.1"),
        "{s}"
    );
    assert!(
        s["url_from"]
            .as_str()
            .unwrap()
            .ends_with("[sessions] redis_url"),
        "{s}"
    );
    assert!(
        s["password_from"]
            .as_str()
            .unwrap()
            .contains("redis_password_file"),
        "{s}"
    );

    // A password file others may read is refused, naming it and the fix.
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = stderr_of(&env, &["sessions", "list"], 2);
    assert!(
        err.contains("redis.pass") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(err.contains("[sessions] redis_password_file"), "{err}");
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The environment beats the file, the flag beats the environment; the
    // file's password goes to whichever URL is used.
    let dead = "redis://127.0.0.1:1";
    let path = write_config(
        &env,
        &format!("[sessions]\nredis_url = \"{dead}\"\nredis_password_file = \"redis.pass\"\n"),
    );
    let by_env = env.with_var("WINDFLOW_REDIS_URL", &redis.url());
    let listed = by_env.json_code(&["sessions", "list", "--json"], 0);
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let by_flag = CliEnv::new()
        .with_var("WINDFLOW_CONFIG", path.to_str().unwrap())
        .with_var("WINDFLOW_REDIS_URL", dead);
    let out = by_flag.run(&["--redis-url", &redis.url(), "config", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["backends"]["sessions"]["url_from"], "--redis-url",
        "{shown}"
    );
    let out = by_flag.run(&["config", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["backends"]["sessions"]["url_from"], "WINDFLOW_REDIS_URL",
        "{shown}"
    );
}

#[test]
fn sessions_redis_password_env_names_a_variable_and_the_file_holds_no_password() {
    let redis = RedisServer::start_with_password("pw-0815");
    let env = CliEnv::new().acting_as("ops");
    let path = write_config(
        &env,
        &format!(
            "[sessions]\nredis_url = \"{}\"\nredis_password_env = \"WF_TEST_REDIS_PW\"\n",
            redis.url()
        ),
    );
    let env = env.with_var("WINDFLOW_CONFIG", path.to_str().unwrap());
    // Unset: named.
    let err = stderr_of(&env, &["sessions", "list"], 2);
    assert!(
        err.contains("WF_TEST_REDIS_PW") && err.contains("not set"),
        "{err}"
    );
    let with = env.with_var("WF_TEST_REDIS_PW", "pw-0815");
    let listed = with.json_code(&["sessions", "list", "--json"], 0);
    assert_eq!(listed["sessions"], serde_json::json!([]), "{listed}");
    let shown = String::from_utf8_lossy(&with.run(&["config", "show"]).stdout).into_owned();
    assert!(
        !shown.contains("pw-0815") && shown.contains("WF_TEST_REDIS_PW"),
        "{shown}"
    );

    // A password written into the file's URL is refused, naming the key.
    let url = redis.url().replace("redis://", "redis://:pw-0815@");
    std::fs::write(&path, format!("[sessions]\nredis_url = \"{url}\"\n")).unwrap();
    let err = stderr_of(&with, &["sessions", "list"], 2);
    assert!(
        err.contains("[sessions] redis_url") && err.contains("redis_password_file"),
        "{err}"
    );
    assert!(!err.contains("pw-0815"), "{err}");
}
