//! Records the product trusts are bound to their place, through the real
//! binary with the SQLite store edited underneath it: an operator's role
//! (MAC'd), a secret's metadata (MAC'd) and its values (sealed for path,
//! key and version). Each edit is refused with an error naming the record,
//! and recorded; records written before binding are accepted as unbound
//! until `crypto rewrap` binds them, and refused once stripped after that.

use serde_json::Value;

use crate::support::cli::CliEnv;

fn db(env: &CliEnv) -> rusqlite::Connection {
    rusqlite::Connection::open(env.data().join("windflow.db")).unwrap()
}

fn read_record(env: &CliEnv, ns: &str, key: &str) -> Value {
    let bytes: Vec<u8> = db(env)
        .query_row(
            "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
            [ns, key],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn write_record(env: &CliEnv, ns: &str, key: &str, value: &Value) {
    let n = db(env)
        .execute(
            "UPDATE kv SET value = ?3 WHERE ns = ?1 AND key = ?2",
            rusqlite::params![ns, key, serde_json::to_vec(value).unwrap()],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn edit(env: &CliEnv, ns: &str, key: &str, f: impl FnOnce(&mut Value)) {
    let mut v = read_record(env, ns, key);
    f(&mut v);
    write_record(env, ns, key, &v);
}

fn tampered_events(env: &CliEnv) -> Vec<String> {
    env.events()
        .into_iter()
        .filter(|e| e.event_type == "record_tampered")
        .map(|e| e.details["record"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `args`, expecting a refusal (exit 1) that names `record`.
fn refused(env: &CliEnv, args: &[&str], record: &str) {
    let out = env.run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.contains(record) && err.contains("changed outside windflow"),
        "{args:?}: {err}"
    );
}

/// bob: an admin demoted to viewer, holding an open grant.
fn demoted_bob() -> CliEnv {
    let env = CliEnv::new().acting_as("admin");
    env.operator_with_grant("bob");
    env.expect(&["operators", "set-role", "bob", "viewer"], 0);
    env.expect(
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "x1",
            "--role",
            "admin",
        ],
        3,
    );
    env
}

#[test]
fn a_role_edited_in_the_database_is_refused_and_recorded() {
    let env = demoted_bob();
    edit(&env, "operators", "bob", |v| v["role"] = "admin".into());
    refused(
        &env,
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "mallory",
            "--role",
            "admin",
        ],
        "operators/bob",
    );
    assert_eq!(tampered_events(&env), vec!["operators/bob".to_owned()]);
    // Nobody was added, and the others are untouched.
    let db = db(&env);
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM kv WHERE ns = 'operators' AND key = 'mallory'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    env.expect(&["operators", "add", "carol", "--role", "viewer"], 0);

    // Stripping the MAC as well is no way around it.
    edit(&env, "operators", "bob", |v| {
        v.as_object_mut().unwrap().remove("mac");
    });
    refused(
        &env,
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "mallory",
            "--role",
            "admin",
        ],
        "operators/bob",
    );
    // Nor is copying the admin's record under bob's name.
    let admin = read_record(&env, "operators", "admin");
    write_record(&env, "operators", "bob", &admin);
    refused(
        &env,
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "mallory",
            "--role",
            "admin",
        ],
        "operators/bob",
    );

    // An admin rewrites the record: bob is a viewer again, and bound.
    env.expect(&["operators", "set-role", "bob", "viewer"], 0);
    env.expect(
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "mallory",
            "--role",
            "admin",
        ],
        3,
    );
    let listed = env.json(&["operators", "list", "--json"]);
    let bob = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "bob")
        .unwrap();
    assert_eq!(bob["role"], "viewer");
}

#[test]
fn records_from_before_binding_are_accepted_until_rewrap_binds_them() {
    let env = demoted_bob();
    // As the previous version wrote them: no MAC, no binding marker.
    for key in ["admin", "bob"] {
        edit(&env, "operators", key, |v| {
            v.as_object_mut().unwrap().remove("mac");
        });
    }
    db(&env)
        .execute("DELETE FROM kv WHERE ns = 'binding'", [])
        .unwrap();
    env.expect(
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "x2",
            "--role",
            "admin",
        ],
        3,
    );
    let report = env.json(&["crypto", "rewrap", "--json"]);
    let ops = report["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["namespace"] == "operators")
        .unwrap();
    assert_eq!(
        (ops["rewrapped"].as_u64(), ops["unbound"].as_u64()),
        (Some(2), Some(2)),
        "{report}"
    );
    let text = env.expect(&["crypto", "rewrap"], 0);
    assert!(!text.contains("unbound"), "nothing is left unbound: {text}");
    // Bound now: stripping the MAC again is refused.
    edit(&env, "operators", "bob", |v| {
        v.as_object_mut().unwrap().remove("mac");
        v["role"] = "admin".into();
    });
    refused(
        &env,
        &[
            "--operator",
            "bob",
            "operators",
            "add",
            "mallory",
            "--role",
            "admin",
        ],
        "operators/bob",
    );
}

fn doc(env: &CliEnv, path: &str) -> Value {
    read_record(env, "secrets.kv", path)
}

#[test]
fn secret_values_and_metadata_are_bound_to_their_place() {
    let env = CliEnv::new().acting_as("admin");
    let path = "deployments/api-7";
    env.expect(
        &[
            "secrets",
            "put",
            path,
            "db_password=old-pass",
            "api_key=old-key",
        ],
        0,
    );
    env.expect(
        &[
            "secrets",
            "put",
            path,
            "db_password=new-pass",
            "api_key=new-key",
        ],
        0,
    );
    let get = |v: &str| env.run(&["secrets", "get", path, "--version", v, "--reveal", "--json"]);
    assert_eq!(get("2").status.code(), Some(0));
    let original = doc(&env, path);

    // Two keys' ciphertexts swapped.
    edit(&env, "secrets.kv", path, |d| {
        let data = &mut d["versions"]["2"]["data"];
        let (a, b) = (data["db_password"].clone(), data["api_key"].clone());
        data["db_password"] = b;
        data["api_key"] = a;
    });
    refused(
        &env,
        &["secrets", "get", path, "--reveal", "--json"],
        "of version 2 of secret deployments/api-7",
    );

    // Version 1's value grafted into version 2 (a rotation undone).
    write_record(&env, "secrets.kv", path, &original);
    edit(&env, "secrets.kv", path, |d| {
        d["versions"]["2"]["data"]["db_password"] =
            d["versions"]["1"]["data"]["db_password"].clone();
    });
    refused(
        &env,
        &["secrets", "get", path, "--reveal", "--json"],
        "key db_password of version 2 of secret deployments/api-7",
    );

    // Metadata edited: expiry pushed out, another creator, or the MAC stripped too.
    type Edit = (&'static str, fn(&mut Value));
    let edits: [Edit; 3] = [
        ("expires_at", |d| {
            d["custom"]["expires_at"] = "2099-01-01T00:00:00Z".into()
        }),
        ("created_by", |d| {
            d["custom"]["created_by"] = "mallory".into()
        }),
        ("stripped", |d| {
            let c = d["custom"].as_object_mut().unwrap();
            c.remove("windflow_mac");
            c.insert("expires_at".into(), "2099-01-01T00:00:00Z".into());
        }),
    ];
    for (what, f) in edits {
        write_record(&env, "secrets.kv", path, &original);
        edit(&env, "secrets.kv", path, f);
        for args in [
            &["secrets", "get", path, "--json"][..],
            &["secrets", "put", path, "db_password=x"][..],
        ] {
            let out = env.run(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what} {args:?}: {err}");
            assert!(
                err.contains("the metadata of secret deployments/api-7"),
                "{what}: {err}"
            );
        }
        let listed = env.expect(&["secrets", "list", "--json"], 0);
        assert!(
            !listed.contains("2099"),
            "{what}: the edited expiry is shown: {listed}"
        );
    }
    let events = tampered_events(&env);
    assert!(
        events
            .iter()
            .any(|r| r.contains("key db_password of version 2")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|r| r == "the metadata of secret deployments/api-7"),
        "{events:?}"
    );

    // Put back as written, everything reads again.
    write_record(&env, "secrets.kv", path, &original);
    let got: Value = serde_json::from_slice(&get("1").stdout).unwrap();
    assert_eq!(got["keys"]["db_password"]["value"], "old-pass");
    let got: Value = serde_json::from_slice(&get("2").stdout).unwrap();
    assert_eq!(got["keys"]["api_key"]["value"], "new-key");
}

#[test]
fn secrets_written_before_binding_are_read_then_bound_by_rewrap() {
    use windflow::crypto::contexts;
    let env = CliEnv::new().acting_as("admin");
    let path = "deployments/api-7";
    env.expect(
        &["secrets", "put", path, "db_password=one", "api_key=k1"],
        0,
    );
    env.expect(
        &["secrets", "put", path, "db_password=two", "api_key=k2"],
        0,
    );
    // Made into what the previous version wrote: values sealed for the
    // deployment alone, metadata without MAC, no binding marker.
    let keys =
        windflow::crypto::Keyring::from_env_or_file(&env.data().join("master.key"), false).unwrap();
    edit(&env, "secrets.kv", path, |d| {
        for v in ["1", "2"] {
            let data = d["versions"][v]["data"].as_object_mut().unwrap();
            for (k, env) in data.iter_mut() {
                let version: u64 = v.parse().unwrap();
                let plain = keys
                    .decrypt(
                        &contexts::secret_value(path, k, version),
                        env.as_str().unwrap(),
                    )
                    .unwrap();
                *env = keys
                    .encrypt(&contexts::deployment("api-7"), &plain)
                    .unwrap()
                    .into();
            }
        }
        let c = d["custom"].as_object_mut().unwrap();
        c.remove("windflow_mac");
        c.remove("windflow_bound_from");
    });
    db(&env)
        .execute("DELETE FROM kv WHERE ns = 'binding'", [])
        .unwrap();
    let before = doc(&env, path);

    let got = env.json(&[
        "secrets",
        "get",
        path,
        "--version",
        "1",
        "--reveal",
        "--json",
    ]);
    assert_eq!(got["keys"]["db_password"]["value"], "one");
    let report = env.json(&["crypto", "rewrap", "--json"]);
    let secrets = report["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["namespace"] == "secrets")
        .unwrap();
    assert_eq!(
        (secrets["rewrapped"].as_u64(), secrets["unbound"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let after = doc(&env, path);
    assert!(
        after["custom"]["windflow_mac"]
            .as_str()
            .unwrap()
            .starts_with("m1.")
    );
    assert_eq!(after["custom"]["windflow_bound_from"], "1");
    for v in ["1", "2"] {
        let got = env.json(&["secrets", "get", path, "--version", v, "--reveal", "--json"]);
        assert_eq!(got["keys"]["api_key"]["value"], format!("k{v}"));
    }

    // Once bound, the old-format values are refused where they were accepted.
    edit(&env, "secrets.kv", path, |d| {
        d["versions"]["2"]["data"] = before["versions"]["2"]["data"].clone();
    });
    refused(
        &env,
        &["secrets", "get", path, "--reveal", "--json"],
        "of version 2 of secret deployments/api-7",
    );
}

/// The same on a real OpenBao, edited with its own CLI: metadata put back
/// with another expiry, and a version written with two keys' values swapped.
#[test]
fn vault_metadata_and_values_edited_with_the_bao_cli_are_refused() {
    use crate::support::secrets_bao::{Bao, TOKEN};
    let bao = Bao::start();
    let env = CliEnv::new()
        .with_var("WINDFLOW_SECRETS_BACKEND", "vault")
        .with_var("VAULT_ADDR", &bao.addr)
        .with_var("VAULT_TOKEN", TOKEN)
        .acting_as("admin");
    let path = "deployments/api-7";
    env.expect(
        &["secrets", "put", path, "db_password=pass", "api_key=key"],
        0,
    );
    let kv = |args: &[&str]| {
        let out = bao.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    let meta = kv(&[
        "kv",
        "metadata",
        "get",
        "-format=json",
        "secret/deployments/api-7",
    ]);
    let custom = meta["data"]["custom_metadata"].as_object().unwrap().clone();

    // Every entry kept, the MAC included, but the expiry pushed out.
    let mut args = vec!["kv".to_owned(), "metadata".into(), "patch".into()];
    for (k, v) in &custom {
        let v = if k == "expires_at" {
            "2099-01-01T00:00:00Z"
        } else {
            v.as_str().unwrap()
        };
        args.push(format!("-custom-metadata={k}={v}"));
    }
    args.push("secret/deployments/api-7".into());
    kv(&args.iter().map(String::as_str).collect::<Vec<_>>());
    refused(
        &env,
        &["secrets", "get", path, "--json"],
        "the metadata of secret deployments/api-7",
    );

    // Put back; then version 2 written with version 1's values swapped between the keys.
    let mut args = vec!["kv".to_owned(), "metadata".into(), "patch".into()];
    for (k, v) in &custom {
        args.push(format!("-custom-metadata={k}={}", v.as_str().unwrap()));
    }
    args.push("secret/deployments/api-7".into());
    kv(&args.iter().map(String::as_str).collect::<Vec<_>>());
    env.expect(&["secrets", "get", path, "--json"], 0);
    let v1 = kv(&["kv", "get", "-format=json", "secret/deployments/api-7"]);
    let data = &v1["data"]["data"];
    kv(&[
        "kv",
        "put",
        "-cas=1",
        "secret/deployments/api-7",
        &format!("db_password={}", data["api_key"].as_str().unwrap()),
        &format!("api_key={}", data["db_password"].as_str().unwrap()),
    ]);
    refused(
        &env,
        &["secrets", "get", path, "--reveal", "--json"],
        "of version 2 of secret deployments/api-7",
    );
    let events = tampered_events(&env);
    assert_eq!(events.len(), 2, "{events:?}");
}
