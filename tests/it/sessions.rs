//! Sessions: one behavioural suite run against the embedded store and a real
//! `redis-server` (started here on a free loopback port), Redis specifics
//! (envelopes at rest, the per-user index, the revoke/validate race, a
//! restart mid-run), the service's health, and the CLI through the binary.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Commands;
use windflow::audit::{Audit, MemorySink};
use windflow::crypto::{Keyring, MasterKey};
use windflow::service::{HealthState, ServiceEvent};
use windflow::sessions::backend::{HIJACK_PREFIX, SESSION_PREFIX, USER_PREFIX};
use windflow::sessions::model::Invalid;
use windflow::sessions::settings::{FileSetting, RedisTls};
use windflow::sessions::{
    Device, LocalStore, RedisStore, SessionStore, SessionType, Sessions, Validation,
};
use windflow::store::Store;

use crate::support::sessions_redis::RedisServer;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0";
const CURL: &str = "curl/8.5.0";

fn dev(ip: &str, ua: &str) -> Device {
    Device::new(ip.parse::<IpAddr>().unwrap(), ua)
}

/// Makes a store over the same backend with the given keyring.
type Factory = Box<dyn Fn(Arc<Keyring>) -> Arc<dyn SessionStore> + Send + Sync>;

fn local_factory() -> (tempfile::TempDir, Factory) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let f: Factory = Box::new(move |keys| {
        Arc::new(LocalStore::open(store.clone(), keys).unwrap()) as Arc<dyn SessionStore>
    });
    (dir, f)
}

fn redis_factory(url: String) -> Factory {
    Box::new(move |keys| {
        Arc::new(RedisStore::connect(&url, keys).unwrap()) as Arc<dyn SessionStore>
    })
}

fn is_valid(v: &Validation) -> bool {
    matches!(v, Validation::Valid(_))
}

// ------------------------------------------------------------------ the suite

/// What every backend must do.
async fn behaviour(make: Factory) {
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let sink = Arc::new(MemorySink::default());
    let store = make(keys.clone());
    let s = Sessions::new(store.clone(), Audit::new(sink.clone()));

    // Create, list, get.
    let laptop = dev("203.0.113.10", FIREFOX);
    let a = s
        .create("alice", SessionType::Web, &laptop, vec!["read".into()])
        .await
        .unwrap();
    let id = a.session.id.clone();
    assert_eq!(id.len(), 43);
    assert!(a.expires_at > a.session.created_at + 3_500_000);
    let got = s.get(&id).await.unwrap().expect("created session is found");
    assert_eq!(got.session, a.session);
    assert!(s.get("not-a-session-id").await.unwrap().is_none());
    assert_eq!(s.list(None).await.unwrap().len(), 1);

    // Valid from the same device, and after a DHCP renewal inside the /24.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let v = s
        .validate(&id, &dev("203.0.113.77", FIREFOX))
        .await
        .unwrap();
    let Validation::Valid(l) = v else {
        panic!("same device, new address in the /24: {v:?}")
    };
    assert!(l.session.last_activity > a.session.last_activity);
    assert!(l.expires_at >= a.expires_at);
    let stored = s.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.session.last_activity, l.session.last_activity);

    // Unknown and malformed ids are invalid, not errors.
    let unknown = windflow::sessions::model::new_id();
    assert_eq!(
        s.validate(&unknown, &laptop).await.unwrap(),
        Validation::Invalid(Invalid::Unknown)
    );
    assert_eq!(
        s.validate("session:*", &laptop).await.unwrap(),
        Validation::Invalid(Invalid::Unknown)
    );

    // Another keyring cannot open it: undecryptable, and nothing changes.
    let other = Sessions::new(
        make(Arc::new(Keyring::new(MasterKey::generate()))),
        Audit::discard(),
    );
    assert_eq!(
        other.validate(&id, &laptop).await.unwrap(),
        Validation::Invalid(Invalid::Undecryptable)
    );
    assert!(is_valid(&s.validate(&id, &laptop).await.unwrap()));

    // Hijack: the id replayed from another network is revoked and recorded.
    let thief = dev("198.51.100.9", CURL);
    let v = s.validate(&id, &thief).await.unwrap();
    let Validation::Hijack { session, attempt } = v else {
        panic!("replay from another device must be a hijack: {v:?}")
    };
    assert_eq!(session.user_id, "alice");
    assert_eq!(attempt.ip_address.to_string(), "198.51.100.9");
    let ev = sink
        .events()
        .into_iter()
        .find(|e| e.event_type == "session_hijack_attempt")
        .expect("a hijack event");
    assert_eq!(ev.user_id.as_deref(), Some("alice"));
    assert_eq!(ev.details["attempt_ip"], "198.51.100.9");
    assert!(
        !ev.details.to_string().contains(&id),
        "no full id in events"
    );
    // The session is gone, even for the rightful device, and says why.
    assert_eq!(
        s.validate(&id, &laptop).await.unwrap(),
        Validation::Invalid(Invalid::Hijack)
    );
    // The hijack record stays visible for the console.
    let listed = s.list(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].hijack.is_some());
    assert!(s.list(Some("alice")).await.unwrap().is_empty());

    // Revoke one.
    let b = s
        .create("alice", SessionType::Cli, &laptop, vec![])
        .await
        .unwrap();
    let removed = s.revoke(&b.session.id, "op").await.unwrap();
    assert_eq!(removed.map(|r| r.user_id).as_deref(), Some("alice"));
    assert_eq!(
        s.validate(&b.session.id, &laptop).await.unwrap(),
        Validation::Invalid(Invalid::Revoked)
    );
    assert!(s.revoke(&b.session.id, "op").await.unwrap().is_none());
    assert!(sink.types().contains(&"session_revoked".to_string()));

    // Revoke all of a user's, leaving others alone.
    let mut bobs = Vec::new();
    for (ip, ua) in [
        ("10.0.0.5", FIREFOX),
        ("10.0.1.5", CURL),
        ("2001:db8:7::1", FIREFOX),
    ] {
        let l = s
            .create("bob", SessionType::Api, &dev(ip, ua), vec![])
            .await
            .unwrap();
        bobs.push((l.session.id, dev(ip, ua)));
    }
    let carol = s
        .create("carol", SessionType::Web, &laptop, vec![])
        .await
        .unwrap();
    assert_eq!(s.list(Some("bob")).await.unwrap().len(), 3);
    let mut gone = s.revoke_user("bob", "op").await.unwrap();
    gone.sort();
    let mut want: Vec<_> = bobs.iter().map(|(i, _)| i.clone()).collect();
    want.sort();
    assert_eq!(gone, want);
    for (i, d) in &bobs {
        assert_eq!(
            s.validate(i, d).await.unwrap(),
            Validation::Invalid(Invalid::Revoked)
        );
    }
    assert!(s.list(Some("bob")).await.unwrap().is_empty());
    assert!(is_valid(
        &s.validate(&carol.session.id, &laptop).await.unwrap()
    ));
    assert!(s.revoke_user("bob", "op").await.unwrap().is_empty());
    assert!(sink.types().contains(&"sessions_revoked_user".to_string()));
    assert!(s.revoke_user("bad user", "op").await.is_err());

    // Sliding expiry: each validation buys another full TTL.
    let short =
        Sessions::new(store.clone(), Audit::discard()).with_ttl(Duration::from_millis(1500));
    let t = short
        .create("dave", SessionType::Web, &laptop, vec![])
        .await
        .unwrap();
    let tid = t.session.id;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(is_valid(&short.validate(&tid, &laptop).await.unwrap()));
    tokio::time::sleep(Duration::from_millis(900)).await;
    // 1.8 s after creation: alive only because the TTL slid.
    assert!(is_valid(&short.validate(&tid, &laptop).await.unwrap()));
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(matches!(
        short.validate(&tid, &laptop).await.unwrap(),
        Validation::Invalid(Invalid::Unknown | Invalid::Expired)
    ));
    assert!(short.get(&tid).await.unwrap().is_none());
    assert!(short.list(Some("dave")).await.unwrap().is_empty());
}

/// Validations racing a revocation never bring the session back.
async fn revoke_validate_race(store: Arc<dyn SessionStore>, rounds: usize) {
    let s = Sessions::new(store, Audit::discard());
    let laptop = dev("203.0.113.10", FIREFOX);
    for round in 0..rounds {
        let id = s
            .create("eve", SessionType::Web, &laptop, vec![])
            .await
            .unwrap()
            .session
            .id;
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (s, id, d) = (s.clone(), id.clone(), laptop.clone());
            tasks.push(tokio::spawn(async move {
                // (started, valid) of every validation until one fails.
                let mut log = Vec::new();
                for _ in 0..500 {
                    let started = Instant::now();
                    let ok = is_valid(&s.validate(&id, &d).await.unwrap());
                    log.push((started, ok));
                    if !ok {
                        break;
                    }
                }
                log
            }));
        }
        tokio::time::sleep(Duration::from_micros(200 * (round as u64 % 10))).await;
        assert!(s.revoke(&id, "op").await.unwrap().is_some());
        let revoked_at = Instant::now();
        for t in tasks {
            for (started, ok) in t.await.unwrap() {
                assert!(
                    !(ok && started > revoked_at),
                    "round {round}: a validation started after the revocation succeeded"
                );
            }
        }
        assert!(
            s.get(&id).await.unwrap().is_none(),
            "round {round}: resurrected"
        );
        assert!(!is_valid(&s.validate(&id, &laptop).await.unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_embedded_store() {
    let (_dir, make) = local_factory();
    behaviour(make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_redis() {
    let redis = RedisServer::start();
    behaviour(redis_factory(redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn race_redis_revoke_wins_over_validate() {
    let redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let store = redis_factory(redis.url())(keys);
    revoke_validate_race(store, 150).await;
    // Nothing is left behind: no session keys, no index members.
    let mut c = redis.client();
    let left: Vec<String> = c.keys(format!("{SESSION_PREFIX}*")).unwrap();
    assert!(left.is_empty(), "{left:?}");
    let n: usize = c.zcard(format!("{USER_PREFIX}eve")).unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn race_embedded_revoke_wins_over_validate() {
    let (_dir, make) = local_factory();
    let store = make(Arc::new(Keyring::new(MasterKey::generate())));
    revoke_validate_race(store, 40).await;
}

// ------------------------------------------------------------------ redis specifics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holds_envelopes_with_ttl_and_a_clean_index() {
    let redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let store: Arc<dyn SessionStore> = Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
    let s = Sessions::new(store.clone(), Audit::discard());
    let a = s
        .create(
            "frank@example.com",
            SessionType::Web,
            &dev("203.0.113.10", FIREFOX),
            vec!["admin".into()],
        )
        .await
        .unwrap();
    let mut c = redis.client();
    let key = format!("{SESSION_PREFIX}{}", a.session.id);
    let raw: String = c.get(&key).unwrap();
    assert!(raw.starts_with("wf1."), "an envelope: {raw}");
    for plain in [
        "frank",
        "203.0.113",
        "Firefox",
        "admin",
        &a.session.fingerprint.0[..16],
    ] {
        assert!(!raw.contains(plain), "{plain} in clear in Redis");
    }
    let ttl: i64 = c.pttl(&key).unwrap();
    assert!((3_590_000..=3_600_000).contains(&ttl), "ttl {ttl}");

    // Validation slides the TTL back to the full hour.
    let _: () = c.pexpire(&key, 10_000).unwrap();
    assert!(is_valid(
        &s.validate(&a.session.id, &dev("203.0.113.10", FIREFOX))
            .await
            .unwrap()
    ));
    let ttl: i64 = c.pttl(&key).unwrap();
    assert!(ttl > 3_590_000, "slid: {ttl}");

    // The index drops ids of sessions that expired.
    let short = Sessions::new(store.clone(), Audit::discard()).with_ttl(Duration::from_millis(300));
    let d = dev("203.0.113.10", FIREFOX);
    short
        .create("gina", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    short
        .create("gina", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    let index = format!("{USER_PREFIX}gina");
    assert_eq!(c.zcard::<_, usize>(&index).unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = s
        .create("gina", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    let members: Vec<String> = c.zrange(&index, 0, -1).unwrap();
    assert_eq!(members, std::slice::from_ref(&fresh.session.id));
    assert!(c.pttl::<_, i64>(&index).unwrap() > 3_500_000);

    // A hijack record is an envelope too, and revoking clears it.
    let v = s
        .validate(&fresh.session.id, &dev("192.0.2.1", CURL))
        .await
        .unwrap();
    assert!(matches!(v, Validation::Hijack { .. }));
    let rec: String = c
        .get(format!("{HIJACK_PREFIX}{}", fresh.session.id))
        .unwrap();
    assert!(rec.starts_with("wf1.") && !rec.contains("gina") && !rec.contains("192.0.2"));
    assert_eq!(c.zcard::<_, usize>(&index).unwrap(), 0);
    s.revoke(&fresh.session.id, "op").await.unwrap();
    assert!(
        !c.exists::<_, bool>(format!("{HIJACK_PREFIX}{}", fresh.session.id))
            .unwrap()
    );

    // Listing crosses SCAN batches (pipelined reads) and finds every session.
    let d2 = dev("10.9.9.9", CURL);
    let mut tasks = Vec::new();
    for i in 0..2500 {
        let s = s.clone();
        let d = d2.clone();
        tasks.push(tokio::spawn(async move {
            s.create(&format!("bulk{}", i % 7), SessionType::Api, &d, vec![])
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.list(None).await.unwrap();
    assert_eq!(all.len(), 2500 + 1);
    assert_eq!(s.list(Some("bulk3")).await.unwrap().len(), 357);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_run() {
    let mut redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let store: Arc<dyn SessionStore> = Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
    let s = Sessions::new(store.clone(), Audit::discard());
    let (tx, mut rx, _domain) = windflow::service::detached();
    let handle = windflow::sessions::service::spawn(s.clone(), tx);
    let d = dev("203.0.113.10", FIREFOX);
    let a = s
        .create("hana", SessionType::Web, &d, vec![])
        .await
        .unwrap();

    // Wait for a health event of `state` (and the latest snapshot size).
    async fn wait_for(
        rx: &mut windflow::service::EventRx,
        state: HealthState,
        within: Duration,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ev = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {state:?} health within {within:?}"))
                .expect("service alive");
            if let ServiceEvent::Health { health, .. } = ev
                && health.state == state
            {
                return health.last_error;
            }
        }
    }
    wait_for(&mut rx, HealthState::Connected, Duration::from_secs(20)).await;

    redis.stop();
    let err = s
        .create("hana", SessionType::Web, &d, vec![])
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert!(s.revoke(&a.session.id, "op").await.is_err());
    let last = wait_for(&mut rx, HealthState::Reconnecting, Duration::from_secs(8)).await;
    assert!(last.unwrap().contains("unreachable"));
    // The service still answers requests (and says why nothing happened).
    assert!(handle.try_send(windflow::sessions::service::SessionsRequest::Refresh));

    redis.restart();
    wait_for(&mut rx, HealthState::Connected, Duration::from_secs(10)).await;
    // Redis came back empty (it saves nothing): the old session is unknown,
    // and new ones work again.
    assert!(!is_valid(&s.validate(&a.session.id, &d).await.unwrap()));
    let b = s
        .create("hana", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    assert!(is_valid(&s.validate(&b.session.id, &d).await.unwrap()));
}

/// `:probe` (a Refresh) reconnects at once after a long outage, instead of
/// waiting out the service's backoff (8 s and growing by then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_reconnects_to_redis_now_not_after_the_backoff() {
    use windflow::service::Handle;
    let mut redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let store: Arc<dyn SessionStore> = Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
    let s = Sessions::new(store, Audit::discard());
    let (tx, mut rx, _domain) = windflow::service::detached();
    let handle = windflow::sessions::service::spawn(s, tx);
    // Every health event of the service until `done` (within `secs`).
    async fn until(
        rx: &mut windflow::service::EventRx,
        secs: u64,
        done: impl Fn(HealthState) -> bool,
    ) -> std::time::Instant {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let ev = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no such health within {secs} s"))
                .expect("service alive");
            if let ServiceEvent::Health { health, .. } = ev
                && done(health.state)
            {
                return std::time::Instant::now();
            }
        }
    }
    until(&mut rx, 20, |s| s == HealthState::Connected).await;
    redis.stop();
    until(&mut rx, 8, |s| s == HealthState::Reconnecting).await;
    // Failed polls at 1, 2 and 4 s: the next one waits 8 s.
    tokio::time::sleep(Duration::from_secs(7)).await;
    redis.restart();
    let asked = std::time::Instant::now();
    handle.probe();
    let back = until(&mut rx, 20, |s| s == HealthState::Connected).await;
    let took = back - asked;
    assert!(
        took < Duration::from_secs(4),
        "the probe reconnected after {took:?}: it waited out the backoff"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_with_a_password() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (redis, ca) = RedisServer::start_tls("s3cret-pw");
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let url = format!("rediss://:s3cret-pw@127.0.0.1:{}", redis.port);
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisStore::connect_with_ca(&url, Some(ca.clone()), keys.clone()).unwrap());
    assert_eq!(
        store.target(),
        format!("rediss://:****@127.0.0.1:{}", redis.port)
    );
    let s = Sessions::new(store, Audit::discard());
    let d = dev("203.0.113.10", FIREFOX);
    let a = s
        .create("tls-user", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    assert!(is_valid(&s.validate(&a.session.id, &d).await.unwrap()));
    assert_eq!(s.list(None).await.unwrap().len(), 1);

    // A wrong password, plain text, or an untrusted certificate: refused.
    let wrong = format!("rediss://:nope@127.0.0.1:{}", redis.port);
    let plain = format!("redis://:s3cret-pw@127.0.0.1:{}", redis.port);
    for (url, ca) in [(wrong, Some(ca)), (plain, None), (url, None)] {
        let store = RedisStore::connect_with_ca(&url, ca, keys.clone()).unwrap();
        let err = store.ping().await.expect_err(&url);
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

/// The TLS files named as the environment would name them.
fn tls_files(
    ca: Option<&std::path::Path>,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> RedisTls {
    let named = |p: Option<&std::path::Path>, origin: &str| {
        p.map(|p| FileSetting {
            path: p.to_path_buf(),
            origin: origin.into(),
        })
    };
    RedisTls {
        ca_file: named(ca, "WINDFLOW_REDIS_CA_FILE"),
        client_cert: named(cert, "WINDFLOW_REDIS_CLIENT_CERT"),
        client_key: named(key, "WINDFLOW_REDIS_CLIENT_KEY"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_mutual_tls_with_a_client_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = RedisServer::start_mtls("s3cret-pw");
    let ca = redis.certs().ca.clone();
    let (cert, key) = redis.certs().client("windflow-console");
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let url = format!("rediss://:s3cret-pw@127.0.0.1:{}", redis.port);
    let tls = tls_files(Some(&ca), Some(&cert), Some(&key));
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisStore::connect_with_tls(&url, &tls, keys.clone()).unwrap());
    let s = Sessions::new(store, Audit::discard());
    let d = dev("203.0.113.10", FIREFOX);
    let a = s
        .create("mtls-user", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    assert!(is_valid(&s.validate(&a.session.id, &d).await.unwrap()));
    assert_eq!(s.list(None).await.unwrap().len(), 1);

    // No client certificate, one from another CA, or the server's own
    // certificate not trusted: refused, with an error that says what to fix
    // (and no password), not as a passing outage.
    let other = crate::support::tls::TestCerts::new();
    let (other_cert, other_key) = other.client("intruder");
    for (tls, says) in [
        (
            tls_files(Some(&ca), None, None),
            "requires a client certificate (tls-auth-clients) and none was sent; set WINDFLOW_REDIS_CLIENT_CERT and WINDFLOW_REDIS_CLIENT_KEY",
        ),
        (
            tls_files(Some(&ca), Some(&other_cert), Some(&other_key)),
            "did not accept the client certificate (alert UnknownCA)",
        ),
        (
            tls_files(None, Some(&cert), Some(&key)),
            "the Redis server's certificate is not trusted (UnknownIssuer); set WINDFLOW_REDIS_CA_FILE",
        ),
    ] {
        let store = RedisStore::connect_with_tls(&url, &tls, keys.clone()).unwrap();
        let err = store.ping().await.expect_err(says);
        assert!(!err.is_unavailable(), "{err}");
        let text = err.to_string();
        assert!(text.contains(says), "{text}");
        assert!(text.contains("rediss://:****@127.0.0.1"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
    // The first store still works alongside.
    assert!(is_valid(&s.validate(&a.session.id, &d).await.unwrap()));

    // The console's service on a store without the certificate stays up
    // and shows why in its health (degraded: retrying will not fix it).
    let store = RedisStore::connect_with_tls(&url, &tls_files(Some(&ca), None, None), keys.clone())
        .unwrap();
    let (tx, mut rx, _domain) = windflow::service::detached();
    let handle =
        windflow::sessions::service::spawn(Sessions::new(Arc::new(store), Audit::discard()), tx);
    let last_error = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(ServiceEvent::Health { health, .. }) = rx.recv().await
                && health.state == HealthState::Degraded
            {
                return health.last_error.unwrap_or_default();
            }
        }
    })
    .await
    .expect("a degraded health within 5 s");
    assert!(
        last_error.contains("requires a client certificate") && !last_error.contains("s3cret"),
        "{last_error}"
    );
    assert!(handle.try_send(windflow::sessions::service::SessionsRequest::Refresh));
}

/// Bad client TLS files are refused before any connection, naming the file
/// and the setting, never showing the key.
#[tokio::test]
async fn redis_client_certificate_files_are_checked_before_connecting() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    use std::os::unix::fs::PermissionsExt;
    let certs = crate::support::tls::TestCerts::new();
    let (cert, key) = certs.client("console");
    let (_, other_key) = certs.client("someone-else");
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let url = "rediss://:pw@127.0.0.1:1";
    let refused =
        |tls: RedisTls, url: &str| match RedisStore::connect_with_tls(url, &tls, keys.clone()) {
            Ok(_) => panic!("accepted {tls:?}"),
            Err(e) => {
                assert!(
                    matches!(e, windflow::sessions::SessionError::Input(_)),
                    "{e}"
                );
                e.to_string()
            }
        };
    let key_text = std::fs::read_to_string(&key).unwrap();
    let body = key_text.lines().nth(1).unwrap();

    // Both files, matching: accepted (the connection is made on first use).
    assert!(
        RedisStore::connect_with_tls(url, &tls_files(None, Some(&cert), Some(&key)), keys.clone())
            .is_ok()
    );

    // Only one of the two.
    let e = refused(tls_files(None, Some(&cert), None), url);
    assert!(
        e.contains("is set without its key")
            && e.contains("WINDFLOW_REDIS_CLIENT_KEY")
            && e.contains(&cert.display().to_string()),
        "{e}"
    );
    let e = refused(tls_files(None, None, Some(&key)), url);
    assert!(
        e.contains("is set without its certificate") && e.contains("WINDFLOW_REDIS_CLIENT_CERT"),
        "{e}"
    );

    // A key that is not the certificate's.
    let e = refused(tls_files(None, Some(&cert), Some(&other_key)), url);
    assert!(
        e.contains("do not match") && e.contains(&other_key.display().to_string()),
        "{e}"
    );

    // A key readable by group or others, as the master key file.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = refused(tls_files(None, Some(&cert), Some(&key)), url);
    assert!(
        e.contains("readable by group/others (mode 0640); run chmod 600")
            && e.contains("WINDFLOW_REDIS_CLIENT_KEY"),
        "{e}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Certificate and key swapped, a missing file, a CA file without a certificate.
    let e = refused(tls_files(None, Some(&key), Some(&cert)), url);
    assert!(e.contains("no PEM certificate"), "{e}");
    let missing = certs.ca.with_file_name("missing.pem");
    let e = refused(tls_files(None, Some(&missing), Some(&key)), url);
    assert!(
        e.contains("cannot read the Redis client certificate") && e.contains("missing.pem"),
        "{e}"
    );
    let e = refused(tls_files(Some(&key), None, None), url);
    assert!(
        e.contains("no PEM certificate") && e.contains("CA file"),
        "{e}"
    );

    // A client certificate with a plain-text URL.
    let e = refused(
        tls_files(None, Some(&cert), Some(&key)),
        "redis://127.0.0.1:1",
    );
    assert!(
        e.contains("use rediss://") && e.contains("WINDFLOW_REDIS_CLIENT_CERT"),
        "{e}"
    );
    // A CA file with one: the traffic would not be encrypted as the file suggests.
    let e = refused(
        tls_files(Some(&certs.ca), None, None),
        "redis://127.0.0.1:1",
    );
    // Named: the file and the setting it came from.
    assert!(
        e.contains("the CA file")
            && e.contains(&certs.ca.display().to_string())
            && e.contains("WINDFLOW_REDIS_CA_FILE")
            && e.contains("use rediss://"),
        "{e}"
    );

    // No error text shows the key.
    for tls in [
        tls_files(None, Some(&cert), Some(&other_key)),
        tls_files(None, Some(&key), Some(&cert)),
    ] {
        let e = refused(tls, url);
        assert!(
            !e.contains(body) && !e.contains("PRIVATE KEY-----\n"),
            "{e}"
        );
    }
}

/// The service's snapshots follow creates, validations, hijacks and
/// revocations within about a second.
async fn snapshots_follow(store: Arc<dyn SessionStore>) {
    use windflow::sessions::service::SessionsEvent;
    let s = Sessions::new(store, Audit::discard());
    let (tx, _common, mut rx) = windflow::service::detached();
    // The service runs as long as its handle lives.
    let _handle = windflow::sessions::service::spawn(s.clone(), tx);
    let d = dev("203.0.113.10", FIREFOX);
    // Waits for a snapshot that satisfies `ok`; returns how long it took.
    async fn until(
        rx: &mut windflow::service::DomainRx<SessionsEvent>,
        what: &str,
        ok: impl Fn(&[Arc<windflow::sessions::Listed>]) -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no snapshot with {what} within 3 s"))
                .expect("service alive");
            let SessionsEvent::Snapshot(snap) = ev;
            if ok(&snap.rows) {
                return started.elapsed();
            }
        }
    }
    until(&mut rx, "the first poll", |_| true).await;
    let a = s
        .create("ivan", SessionType::Web, &d, vec![])
        .await
        .unwrap();
    let id = a.session.id.clone();
    let took = until(&mut rx, "the new session", |r| {
        r.iter().any(|l| l.session.id == id)
    })
    .await;
    assert!(took <= Duration::from_millis(1500), "{took:?}");

    tokio::time::sleep(Duration::from_millis(50)).await;
    let Validation::Valid(v) = s.validate(&id, &d).await.unwrap() else {
        panic!("valid")
    };
    let seen = v.session.last_activity;
    until(&mut rx, "the refreshed activity", |r| {
        r.iter()
            .any(|l| l.session.id == id && l.session.last_activity == seen)
    })
    .await;

    s.validate(&id, &dev("198.51.100.7", CURL)).await.unwrap();
    until(&mut rx, "the hijack record", |r| {
        r.iter().any(|l| l.session.id == id && l.hijack.is_some())
            && !r.iter().any(|l| l.session.id == id && l.hijack.is_none())
    })
    .await;
    s.revoke(&id, "op").await.unwrap();
    let took = until(&mut rx, "the revocation", |r| {
        !r.iter().any(|l| l.session.id == id)
    })
    .await;
    assert!(took <= Duration::from_millis(1500), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_snapshots_follow_changes_embedded() {
    let (_dir, make) = local_factory();
    snapshots_follow(make(Arc::new(Keyring::new(MasterKey::generate())))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_snapshots_follow_changes_redis() {
    let redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    snapshots_follow(Arc::new(RedisStore::connect(&redis.url(), keys).unwrap())).await;
}

// ------------------------------------------------------------------ CLI

use crate::support::cli::CliEnv as Cli;

/// The binary on a private data dir, on Redis at `redis` or the embedded
/// store, acting as an admin with an open grant (creating sessions needs one).
fn new_cli(redis: Option<String>) -> Cli {
    let cli = Cli::new().acting_as("ops");
    match redis {
        Some(url) => cli.with_var("WINDFLOW_REDIS_URL", &url),
        None => cli,
    }
}

fn cli_flow(cli: &Cli) {
    let created = cli.json_code(
        &[
            "sessions",
            "create",
            "--user",
            "alice",
            "--ip",
            "203.0.113.10",
            "--user-agent",
            FIREFOX,
            "--json",
        ],
        0,
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["user_id"], "alice");
    assert_eq!(created["type"], "web");
    assert!(created["expires_at"].as_str().unwrap().ends_with('Z'));

    // Text output names the session.
    let text = cli.expect(&["sessions", "list"], 0);
    assert!(text.contains("alice") && text.contains(&id[..8]), "{text}");
    let listed = cli.json_code(&["sessions", "list", "--user", "alice", "--json"], 0);
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    let shown = cli.json_code(&["sessions", "show", &id, "--json"], 0);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["ip_address"], "203.0.113.10");
    assert_eq!(shown["fingerprint"].as_str().unwrap().len(), 64);

    // validate: 0 valid, 1 invalid.
    let ok = cli.json_code(
        &[
            "sessions",
            "validate",
            &id,
            "--ip",
            "203.0.113.99",
            "--user-agent",
            FIREFOX,
            "--json",
        ],
        0,
    );
    assert_eq!(ok["valid"], true);
    let bad = cli.json_code(
        &[
            "sessions",
            "validate",
            &id,
            "--ip",
            "198.51.100.1",
            "--user-agent",
            CURL,
            "--json",
        ],
        1,
    );
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["reason"], "hijack_attempt");
    cli.expect(
        &[
            "sessions",
            "validate",
            &id,
            "--ip",
            "203.0.113.10",
            "--user-agent",
            FIREFOX,
        ],
        1,
    );
    // The hijack reached the audit log.
    let log = std::fs::read_dir(cli.root.path().join("data/audit"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("session_hijack_attempt"), "{log}");

    // revoke and revoke-user.
    let b = cli.json_code(
        &[
            "sessions",
            "create",
            "--user",
            "bob",
            "--ip",
            "10.0.0.1",
            "--user-agent",
            CURL,
            "--type",
            "api",
            "--json",
        ],
        0,
    );
    let bid = b["id"].as_str().unwrap();
    let r = cli.json_code(&["sessions", "revoke", bid, "--json"], 0);
    assert_eq!(r["revoked"], true);
    cli.expect(&["sessions", "revoke", bid], 1);
    cli.expect(&["sessions", "show", bid], 1);
    for _ in 0..2 {
        cli.expect(
            &[
                "sessions",
                "create",
                "--user",
                "bob",
                "--ip",
                "10.0.0.1",
                "--user-agent",
                CURL,
            ],
            0,
        );
    }
    let r = cli.json_code(&["sessions", "revoke-user", "bob", "--json"], 0);
    assert_eq!(r["revoked"], 2);
    assert_eq!(
        cli.json_code(&["sessions", "list", "--user", "bob", "--json"], 0)["sessions"],
        serde_json::json!([])
    );

    // Bad input: exit 2 with what and where.
    let out = cli.run(&[
        "sessions",
        "create",
        "--user",
        "x",
        "--ip",
        "300.1.1.1",
        "--user-agent",
        "u",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ip"));
    let out = cli.run(&[
        "sessions",
        "create",
        "--user",
        "x",
        "--ip",
        "10.0.0.1",
        "--user-agent",
        "u",
        "--type",
        "ssh",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli.run(&["sessions", "show", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("session id"));
}

/// Ids are URL-safe base64, so one in 64 starts with `-`: still an id.
#[test]
fn cli_session_ids_may_start_with_a_hyphen() {
    let cli = new_cli(None);
    for id in [
        "-Tkd4mSxhH-xi0RrcEdmDchR8FnJxFw-eRIQ_v_r-KM",
        "--kd4mSxhH-xi0RrcEdmDchR8FnJxFw-eRIQ_v_r-KM",
    ] {
        for args in [
            vec!["sessions", "show", id, "--json"],
            vec![
                "sessions",
                "validate",
                id,
                "--ip",
                "203.0.113.10",
                "--user-agent",
                FIREFOX,
            ],
        ] {
            let out = cli.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(!err.contains("unexpected argument"), "{err}");
        }
    }
}

#[test]
fn cli_embedded_store() {
    cli_flow(&new_cli(None));
}

#[test]
fn cli_redis() {
    let redis = RedisServer::start();
    let cli = new_cli(Some(redis.url()));
    cli_flow(&cli);
    // The sessions really are in Redis.
    let keys: Vec<String> = redis.client().keys(format!("{SESSION_PREFIX}*")).unwrap();
    assert!(keys.is_empty(), "every session was revoked: {keys:?}");
    let records: Vec<String> = redis.client().keys(format!("{HIJACK_PREFIX}*")).unwrap();
    assert_eq!(
        records.len(),
        1,
        "alice's hijacked session is kept as a record"
    );
}

#[test]
fn cli_redis_down_fails_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cli = new_cli(Some(format!("redis://:hunter2@127.0.0.1:{port}")));
    let out = cli.run(&["sessions", "list"]);
    assert_eq!(out.status.code(), Some(4), "backend unavailable");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unreachable") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}

/// `sessions validate` tells an invalid session (unknown, revoked, hijack
/// attempt: exit 1, the reason in words) from a session store that does not
/// answer (exit 4, and with `--json` an error object, never empty output).
#[test]
fn cli_validate_tells_invalid_sessions_from_an_unreachable_store() {
    let mut redis = RedisServer::start();
    let cli = new_cli(Some(redis.url()));
    let create = |user: &str| {
        let v = cli.json_code(
            &[
                "sessions",
                "create",
                "--user",
                user,
                "--ip",
                "203.0.113.10",
                "--user-agent",
                FIREFOX,
                "--json",
            ],
            0,
        );
        v["id"].as_str().unwrap().to_string()
    };
    let validate = |id: &str, ip: &str, ua: &str, json: bool| {
        let mut args = vec!["sessions", "validate", id, "--ip", ip, "--user-agent", ua];
        if json {
            args.push("--json");
        }
        cli.run(&args)
    };
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).trim().to_string();
    let json = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&o.stdout)))
    };

    let a = create("alice");
    let o = validate(&a, "203.0.113.10", FIREFOX, false);
    assert_eq!((o.status.code(), text(&o)), (Some(0), "valid".to_string()));

    // Unknown.
    let unknown = windflow::sessions::model::new_id();
    let o = validate(&unknown, "203.0.113.10", FIREFOX, false);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).starts_with("invalid (unknown): no such session"),
        "{}",
        text(&o)
    );

    // Revoked by an operator.
    cli.expect(&["sessions", "revoke", &a], 0);
    let o = validate(&a, "203.0.113.10", FIREFOX, false);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o), "invalid (revoked): an operator revoked it");
    let o = validate(&a, "203.0.113.10", FIREFOX, true);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["reason"], "revoked");

    // A hijack attempt, then the rightful device.
    let b = create("bob");
    let o = validate(&b, "198.51.100.1", CURL, false);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).starts_with("invalid (hijack_attempt): a different device"),
        "{}",
        text(&o)
    );
    let o = validate(&b, "203.0.113.10", FIREFOX, false);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o),
        "invalid (hijack_attempt): revoked after a hijack attempt: a different device presented it"
    );

    // Every user's sessions revoked at once: revoked too.
    let c = create("carol");
    cli.expect(&["sessions", "revoke-user", "carol"], 0);
    let o = validate(&c, "203.0.113.10", FIREFOX, true);
    assert_eq!(json(&o)["reason"], "revoked");

    // The store does not answer: exit 4, nothing claimed about the session.
    redis.stop();
    let o = validate(&c, "203.0.113.10", FIREFOX, false);
    assert_eq!(o.status.code(), Some(4));
    assert!(text(&o).is_empty(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unreachable"), "{err}");
    let o = validate(&c, "203.0.113.10", FIREFOX, true);
    assert_eq!(o.status.code(), Some(4));
    let e = json(&o);
    assert_eq!(e["error"]["kind"], "backend_unavailable", "{e}");
    assert_eq!(e["error"]["exit_code"], 4);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{e}"
    );
    assert!(e.get("valid").is_none(), "{e}");
}

/// `windflow sessions` against Redis requiring client certificates: the
/// files from the environment or from `[sessions]` in windflow.toml.
#[test]
fn cli_redis_mutual_tls() {
    use std::os::unix::fs::PermissionsExt;
    let redis = RedisServer::start_mtls("s3cret-pw");
    let certs = redis.certs();
    let (cert, key) = certs.client("windflow-cli");
    let url = format!("rediss://:s3cret-pw@127.0.0.1:{}", redis.port);
    let path = |p: &std::path::Path| p.display().to_string();

    // From the environment: the whole CLI flow works over mutual TLS.
    let cli = new_cli(Some(url.clone()))
        .with_var("WINDFLOW_REDIS_CA_FILE", &path(&certs.ca))
        .with_var("WINDFLOW_REDIS_CLIENT_CERT", &path(&cert))
        .with_var("WINDFLOW_REDIS_CLIENT_KEY", &path(&key));
    cli_flow(&cli);

    // From windflow.toml, with paths relative to it.
    let cli = new_cli(Some(url.clone()));
    let conf = cli.root.path().join("config/windflow");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::copy(&certs.ca, conf.join("redis-ca.pem")).unwrap();
    std::fs::copy(&cert, conf.join("client.pem")).unwrap();
    std::fs::copy(&key, conf.join("client.key")).unwrap();
    std::fs::set_permissions(
        conf.join("client.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        conf.join("windflow.toml"),
        "[sessions]\nredis_ca_file = \"redis-ca.pem\"\nredis_client_cert = \"client.pem\"\nredis_client_key = \"client.key\"\n",
    )
    .unwrap();
    let created = cli.json(&[
        "sessions",
        "create",
        "--user",
        "bob",
        "--ip",
        "203.0.113.7",
        "--user-agent",
        FIREFOX,
        "--json",
    ]);
    let listed = cli.json(&["sessions", "list", "--json"]);
    assert_eq!(listed["sessions"][0]["id"], created["id"]);

    // A key open to others is refused (exit 2), naming the file and the fix.
    std::fs::set_permissions(
        conf.join("client.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = cli.run(&["sessions", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("readable by group/others (mode 0644); run chmod 600")
            && err.contains("[sessions] redis_client_key"),
        "{err}"
    );

    // Without a client certificate: exit 1, saying one is required.
    let cli = new_cli(Some(url.clone())).with_var("WINDFLOW_REDIS_CA_FILE", &path(&certs.ca));
    let out = cli.run(&["sessions", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("requires a client certificate") && err.contains("WINDFLOW_REDIS_CLIENT_CERT"),
        "{err}"
    );
    assert!(
        !err.contains("s3cret") && !err.contains("panicked"),
        "{err}"
    );

    // A certificate without its key: exit 2 before connecting.
    let cli = cli.with_var("WINDFLOW_REDIS_CLIENT_CERT", &path(&cert));
    let out = cli.run(&["sessions", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("set without its key"), "{err}");
}

/// The console stops on a bad Redis TLS file before it takes the terminal
/// (exit 2, naming the file), as it does for a bad config file.
#[test]
fn console_refuses_bad_redis_tls_files_before_the_terminal() {
    use crate::support::pty::Pty;
    let certs = crate::support::tls::TestCerts::new();
    let (cert, _key) = certs.client("console");
    let cert = cert.display().to_string();
    let mut pty = Pty::spawn(
        &crate::support::windflow_bin(),
        &[],
        &[
            ("WINDFLOW_REDIS_URL", "rediss://:s3cret-pw@127.0.0.1:1"),
            ("WINDFLOW_REDIS_CLIENT_CERT", &cert),
        ],
        80,
        24,
    );
    let status = pty
        .wait_exit(Duration::from_secs(10))
        .expect("the console exits");
    let screen = pty.screen_text();
    assert_eq!(status.exit_code(), 2, "{screen}");
    assert!(!pty.alternate_screen(), "{screen}");
    assert!(
        screen.contains("set without its key") && screen.contains("WINDFLOW_REDIS_CLIENT_KEY"),
        "{screen}"
    );
    assert!(!screen.contains("s3cret"), "{screen}");
}

// ------------------------------------------------------------------ pane

mod pane {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use crossterm::event::KeyCode;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use windflow::console::app::{App, Mode, Msg};
    use windflow::console::filter::Filter;
    use windflow::console::panes::{Pane, RenderCtx, Shared};
    use windflow::console::theme::{ColorMode, Role, Theme};
    use windflow::service::ServiceEvent;
    use windflow::sessions::model::{Device, HijackAttempt, Listed, Session, SessionType};
    use windflow::sessions::pane::{Column, SessionsPane};
    use windflow::sessions::service::{SessionsEvent, SessionsRequest, Snapshot};

    use crate::console::{press, settings, typed};

    /// 2026-11-25 12:00:00 UTC.
    const NOW: i64 = 1_795_608_000_000;

    fn row(n: u8, user: &str, ip: &str, ua: &str, age_s: i64, idle_s: i64, ttl_s: i64) -> Listed {
        let d = Device::new(ip.parse().unwrap(), ua);
        let mut s = Session::new(
            user,
            SessionType::Web,
            &d,
            vec!["read".into()],
            NOW - age_s * 1000,
        );
        // Fixed ids, for stable snapshots.
        s.id = format!("{}{}", (b'A' + n) as char, "x".repeat(42));
        s.last_activity = NOW - idle_s * 1000;
        if ua.starts_with("curl") {
            s.session_type = SessionType::Api;
        }
        Listed {
            session: s,
            expires_at: NOW + ttl_s * 1000,
            hijack: None,
        }
    }

    fn rows() -> Vec<Listed> {
        let mut hijacked = row(3, "carol", "192.0.2.10", super::FIREFOX, 7300, 60, 3540);
        hijacked.hijack = Some(HijackAttempt {
            at: NOW - 60_000,
            ip_address: "198.51.100.23".parse().unwrap(),
            user_agent: super::CURL.into(),
            fingerprint: Device::new("198.51.100.23".parse().unwrap(), super::CURL).fingerprint(),
        });
        vec![
            row(0, "alice", "203.0.113.10", super::FIREFOX, 3723, 12, 3588),
            row(1, "bob", "10.0.0.5", super::CURL, 600, 240, 200),
            row(2, "alice", "2001:db8:7::1", super::FIREFOX, 90, 90, 3510),
            hijacked,
            row(4, "dave", "172.16.4.4", super::FIREFOX, 5000, 30, 3570),
        ]
    }

    /// The console's shared state and a snapshot of `rows`.
    fn shared_with(rows: Vec<Listed>, generation: u64) -> (Shared, Arc<Snapshot>) {
        let snap = Arc::new(Snapshot {
            rows: rows.into_iter().map(Arc::new).collect(),
            at: NOW,
            generation,
            ..Default::default()
        });
        (Shared::default(), snap)
    }

    fn draw(pane: &mut SessionsPane, shared: &Shared, mode: ColorMode) -> Terminal<TestBackend> {
        let theme = Theme::bundled("dark", mode).unwrap();
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        term.draw(|f| {
            let ctx = RenderCtx {
                theme: &theme,
                shared,
                now: std::time::Instant::now(),
                wall: UNIX_EPOCH + Duration::from_millis(NOW as u64),
                focused: true,
                utc: true,
            };
            pane.render(f, f.area(), &ctx)
        })
        .unwrap();
        term
    }

    fn text(term: &Terminal<TestBackend>) -> String {
        let buf = term.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn pane_with(snap: &Arc<Snapshot>) -> SessionsPane {
        let mut p = SessionsPane::default();
        p.set_snapshot(snap.clone());
        p
    }

    fn users(p: &mut SessionsPane) -> Vec<String> {
        p.rows().iter().map(|r| r.session.user_id.clone()).collect()
    }

    #[test]
    fn sessions_pane_80x24() {
        let (shared, snap) = shared_with(rows(), 1);
        let mut p = pane_with(&snap);
        insta::assert_snapshot!(text(&draw(&mut p, &shared, ColorMode::TrueColor)));
    }

    #[test]
    fn sessions_detail_80x24() {
        let (shared, snap) = shared_with(rows(), 1);
        let mut p = pane_with(&snap);
        let mut fx = Vec::new();
        p.handle("select", &shared, &mut fx);
        assert!(p.detail_open());
        insta::assert_snapshot!(text(&draw(&mut p, &shared, ColorMode::TrueColor)));
    }

    #[test]
    fn hijacks_come_first_by_risk_in_the_danger_role() {
        let (shared, snap) = shared_with(rows(), 1);
        let mut p = pane_with(&snap);
        assert_eq!(p.sorting(), (Column::Risk, true));
        assert_eq!(users(&mut p)[0], "carol");
        let theme = Theme::bundled("dark", ColorMode::TrueColor).unwrap();
        let danger = theme.role(Role::Danger).fg;
        let term = draw(&mut p, &shared, ColorMode::TrueColor);
        let buf = term.backend().buffer();
        // Line 2 is the first body row.
        assert!(text(&term).lines().nth(2).unwrap().contains("carol"));
        assert!(text(&term).lines().nth(2).unwrap().contains("HIJACK"));
        // Ordinary sessions are not in the danger colour.
        let cell_fg = |y: u16| buf[(1, y)].fg;
        assert_ne!(Some(cell_fg(3)), danger);
        // Without the selection the hijack row is in the danger colour.
        let mut p2 = pane_with(&snap);
        let mut fx = Vec::new();
        p2.handle("down", &shared, &mut fx);
        let term = draw(&mut p2, &shared, ColorMode::TrueColor);
        assert_eq!(Some(term.backend().buffer()[(1, 2)].fg), danger);
        // NO_COLOR: still first, still flagged in words.
        let term = draw(&mut p2, &shared, ColorMode::None);
        assert!(text(&term).lines().nth(2).unwrap().contains("HIJACK"));
    }

    /// An alert names a session id: `/` finds it (whole or its first
    /// characters, as the ID column shows them); `u` keeps exactly the
    /// selected row's user, not every user whose name contains it.
    #[test]
    fn search_by_id_and_only_the_selected_user() {
        let mut all = rows();
        all.push(row(
            5,
            "alicex",
            "203.0.113.11",
            super::FIREFOX,
            50,
            5,
            3000,
        ));
        let (shared, snap) = shared_with(all, 1);
        let mut p = pane_with(&snap);
        let mut fx = Vec::new();
        let bob = p
            .rows()
            .iter()
            .find(|r| r.session.user_id == "bob")
            .unwrap()
            .session
            .id
            .clone();
        p.set_filter(Filter::new(&bob));
        assert_eq!(users(&mut p), ["bob"]);
        p.set_filter(Filter::new(&bob[..8]));
        assert_eq!(users(&mut p), ["bob"]);
        assert!(text(&draw(&mut p, &shared, ColorMode::None)).contains(&bob[..8]));
        p.set_filter(None);

        p.handle("sort", &shared, &mut fx); // by user: alice, alice, alicex, …
        assert_eq!(users(&mut p)[..3], ["alice", "alice", "alicex"]);
        p.handle("top", &shared, &mut fx);
        p.handle("user", &shared, &mut fx);
        assert_eq!(users(&mut p), ["alice", "alice"]);
        assert!(text(&draw(&mut p, &shared, ColorMode::None)).contains("user=alice (2 of 6)"));
        p.handle("user", &shared, &mut fx);
        assert_eq!(users(&mut p).len(), 6);
    }

    #[test]
    fn sort_by_any_column_filter_and_keep_selection() {
        let (shared, snap) = shared_with(rows(), 1);
        let mut p = pane_with(&snap);
        let mut fx = Vec::new();
        p.handle("sort", &shared, &mut fx);
        assert_eq!(p.sorting(), (Column::User, false));
        assert_eq!(users(&mut p), ["alice", "alice", "bob", "carol", "dave"]);
        p.handle("reverse", &shared, &mut fx);
        assert_eq!(users(&mut p)[0], "dave");
        for _ in 0..5 {
            p.handle("sort", &shared, &mut fx);
        }
        assert_eq!(p.sorting().0, Column::Idle);
        let idle: Vec<i64> = p
            .rows()
            .iter()
            .map(|r| NOW - r.session.last_activity)
            .collect();
        assert!(idle.windows(2).all(|w| w[0] <= w[1]), "{idle:?}");
        p.handle("sort", &shared, &mut fx);
        assert_eq!(p.sorting().0, Column::Ttl);
        assert_eq!(users(&mut p)[0], "bob", "shortest TTL first");
        p.handle("sort_risk", &shared, &mut fx);
        assert_eq!(users(&mut p)[0], "carol");

        // The filter matches user, type, IP, device and flags.
        p.set_filter(Filter::new("^alice"));
        assert_eq!(users(&mut p), ["alice", "alice"]);
        p.set_filter(Filter::new("api"));
        assert_eq!(users(&mut p), ["bob"]);
        p.set_filter(Filter::new("hijack"));
        assert_eq!(users(&mut p), ["carol"]);
        p.set_filter(None);

        // A new snapshot keeps the selected session selected.
        p.handle("bottom", &shared, &mut fx);
        let chosen = p.rows().last().unwrap().session.id.clone();
        let mut more = rows();
        more.push(row(9, "zed", "10.9.9.9", super::CURL, 1, 1, 3600));
        let (shared2, snap2) = shared_with(more, 2);
        p.set_snapshot(snap2);
        assert_eq!(p.rows().len(), 6);
        assert_eq!(
            p.selected_text(&shared2)
                .unwrap()
                .split(' ')
                .next()
                .unwrap(),
            chosen
        );
    }

    thread_local! {
        /// The channel of the Sessions pane of the app this test built.
        static FEED: std::cell::RefCell<Option<windflow::service::DomainTx<SessionsEvent>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Sends a snapshot to the pane as the service would; the message wakes the app.
    fn snapshot_msg(snap: Snapshot) -> Msg {
        FEED.with(|f| {
            let f = f.borrow();
            let tx = f.as_ref().expect("the app was built by `app_on_sessions`");
            assert!(tx.try_send(SessionsEvent::Snapshot(Arc::new(snap))));
        });
        Msg::Wake
    }

    fn app_on_sessions(step_up_window: Duration) -> App {
        let mut s = settings();
        s.step_up_window = step_up_window;
        let (tx, rx) = windflow::service::Wake::default().channel();
        FEED.with(|f| *f.borrow_mut() = Some(tx));
        let panes = crate::support::panes_with(Box::new(SessionsPane::new(rx)));
        let mut app = App::new(s, panes, "dark", "vim").unwrap();
        let i = app.panes.iter().position(|p| p.id() == "sessions").unwrap();
        app.focus_pane(i);
        app.update(snapshot_msg(Snapshot {
            rows: rows().into_iter().map(Arc::new).collect(),
            at: NOW,
            generation: 1,
            ..Default::default()
        }));
        app
    }

    /// The audit pane's jump: a session is selected with its detail open,
    /// through a filter that hid it; an unknown id is refused.
    #[test]
    fn show_selects_a_session_and_opens_its_detail() {
        let mut app = app_on_sessions(Duration::from_secs(300));
        let ids: Vec<String> = rows().iter().map(|l| l.session.id.clone()).collect();
        let last = ids.last().unwrap().clone();
        typed(&mut app, "/nomatch-at-all\r");
        let i = app.panes.iter().position(|p| p.id() == "sessions").unwrap();
        assert!(app.panes[i].show(&last));
        assert!(
            app.pane().filter().is_none(),
            "the filter that hid it is cleared"
        );
        let screen = crate::console::screen(&mut app, 80, 24);
        assert!(screen.contains("Enter closes"), "{screen}");
        assert!(
            app.pane()
                .selected_text(&app.shared)
                .unwrap()
                .contains(&last)
        );
        assert!(!app.panes[i].show("no-such-session"));
    }

    #[test]
    fn enter_opens_and_closes_the_detail_view() {
        let mut app = app_on_sessions(Duration::from_secs(300));
        press(&mut app, KeyCode::Enter);
        let screen = crate::console::screen(&mut app, 80, 24);
        assert!(screen.contains("Enter closes"), "{screen}");
        assert!(screen.contains("HIJACK"), "{screen}");
        press(&mut app, KeyCode::Enter);
        let screen = crate::console::screen(&mut app, 80, 24);
        assert!(!screen.contains("Enter closes"), "{screen}");
        // Right after a revocation, as the next snapshot drops the row.
        typed(&mut app, "d");
        typed(&mut app, "y");
        let mut fewer = rows();
        fewer.remove(3);
        app.update(snapshot_msg(Snapshot {
            rows: fewer.into_iter().map(Arc::new).collect(),
            at: NOW,
            generation: 2,
            ..Default::default()
        }));
        press(&mut app, KeyCode::Enter);
        let screen = crate::console::screen(&mut app, 80, 24);
        assert!(screen.contains("Enter closes"), "{screen}");
        press(&mut app, KeyCode::Enter);
        // After a revocation and a trip to another pane.
        typed(&mut app, "d");
        typed(&mut app, "y");
        crate::console::focus(&mut app, "activity");
        crate::console::focus(&mut app, "sessions");
        press(&mut app, KeyCode::Enter);
        let screen = crate::console::screen(&mut app, 80, 24);
        assert!(screen.contains("Enter closes"), "{screen}");
    }

    #[test]
    fn revoke_one_asks_then_sends_the_request() {
        let mut app = app_on_sessions(Duration::from_secs(300));
        typed(&mut app, "j"); // past the hijack record, to alice's newest
        assert!(typed(&mut app, "d").is_empty());
        let Mode::Confirm(c) = &app.mode else {
            panic!("revoke asks first")
        };
        assert!(c.spec.title.starts_with("Revoke session"));
        assert!(typed(&mut app, "n").is_empty(), "no cancels");
        typed(&mut app, "d");
        let reqs = typed(&mut app, "y");
        let [Some(SessionsRequest::Revoke { id, .. })] =
            &crate::support::gets::<SessionsRequest>(&reqs)[..]
        else {
            panic!("{reqs:?}")
        };
        assert_eq!(id.len(), 43);
    }

    #[test]
    fn revoke_user_needs_step_up_then_y_on_a_dialog_naming_the_effect() {
        let mut app = app_on_sessions(Duration::ZERO);
        typed(&mut app, "j");
        assert!(typed(&mut app, "D").is_empty());
        assert!(matches!(app.mode, Mode::StepUp(_)), "a fresh code first");
        app.update(Msg::Service(ServiceEvent::Auth(
            windflow::auth::service::AuthEvent::SteppedUp {
                action: "sessions.revoke_user",
            },
        )));
        let Mode::Confirm(c) = &app.mode else {
            panic!("then the confirmation")
        };
        // Undone by signing in again: `y` confirms, on a dialog that names
        // the target and the effect, counted from the list.
        assert_eq!(c.spec.typed, None);
        let user = c
            .spec
            .title
            .trim_start_matches("Revoke every session of ")
            .trim_end_matches('?')
            .to_string();
        let rows = rows();
        let mine: Vec<_> = rows
            .iter()
            .filter(|l| l.session.user_id == user && l.hijack.is_none())
            .collect();
        let mut devices: Vec<&str> = mine
            .iter()
            .map(|l| l.session.fingerprint.as_str())
            .collect();
        devices.sort_unstable();
        devices.dedup();
        let n = mine.len();
        assert!(
            c.spec.body.starts_with(&format!(
                "End {n} session{} of {user} on {} device",
                if n == 1 { "" } else { "s" },
                devices.len()
            )),
            "{}",
            c.spec.body
        );
        assert!(typed(&mut app, "n").is_empty(), "n cancels");
        assert!(matches!(app.mode, Mode::Normal));
        app.update(Msg::Service(ServiceEvent::Auth(
            windflow::auth::service::AuthEvent::SteppedUp {
                action: "sessions.revoke_user",
            },
        )));
        typed(&mut app, "D");
        app.update(Msg::Service(ServiceEvent::Auth(
            windflow::auth::service::AuthEvent::SteppedUp {
                action: "sessions.revoke_user",
            },
        )));
        let reqs = typed(&mut app, "y");
        let [Some(SessionsRequest::RevokeUser { user: u, .. })] =
            &crate::support::gets::<SessionsRequest>(&reqs)[..]
        else {
            panic!("{reqs:?}")
        };
        assert_eq!(u, &user);

        // Read-only refuses both.
        let mut s = settings();
        s.read_only = true;
        let mut app = App::new(s, windflow::console::panes(), "dark", "vim").unwrap();
        crate::console::focus(&mut app, "sessions");
        assert!(typed(&mut app, "d").is_empty());
        assert!(matches!(app.mode, Mode::Normal));
    }

    #[test]
    fn only_visible_rows_are_built_at_100k() {
        let base = rows();
        let mut many = Vec::with_capacity(100_000);
        for i in 0..100_000u32 {
            let mut r = base[(i % 5) as usize].clone();
            r.session.id = format!("{i:043}");
            r.session.user_id = format!("user{:05}", i % 5000);
            many.push(r);
        }
        let (shared, snap) = shared_with(many, 1);
        let mut p = pane_with(&snap);
        let mut fx = Vec::new();
        p.handle("sort", &shared, &mut fx);
        p.handle("bottom", &shared, &mut fx);
        let screen = text(&draw(&mut p, &shared, ColorMode::TrueColor));
        assert!(screen.contains("Sessions (100000)"), "{screen}");
        assert!(screen.contains("user04999"), "the last rows show: {screen}");
    }
}

// ------------------------------------------------------------------ the console

/// The console's update loop over the real sessions service and a real
/// `redis-server`: once confirmed, the status line says only that the
/// revocation is under way; then what was revoked, or, with Redis stopped,
/// that nothing was done and why. Never a success for a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_status_line_tells_how_a_revocation_ended() {
    use windflow::console::app::{App, Mode, Msg, Request};
    use windflow::service::Level;
    use windflow::sessions::service::{SessionsEvent, SessionsHandle, Snapshot};

    use crate::console::{focus, settings, typed};

    let mut redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let store: Arc<dyn SessionStore> = Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
    let s = Sessions::new(store, Audit::discard());
    let d = dev("203.0.113.10", FIREFOX);
    for user in ["kim", "kim", "lee", "lee", "mo", "mo"] {
        s.create(user, SessionType::Web, &d, vec![]).await.unwrap();
    }
    let (relay, sink, pane_rx) = crate::support::Relay::new();
    let handle = windflow::sessions::service::spawn(s.clone(), sink);
    let panes = crate::support::panes_with(Box::new(windflow::sessions::pane::SessionsPane::new(
        pane_rx,
    )));
    let mut app = App::new(settings(), panes, "dark", "vim").unwrap();
    focus(&mut app, "sessions");
    // The service's channels, and the last snapshot it sent the pane.
    let mut rx = (relay, None::<Arc<Snapshot>>);

    fn status(app: &App) -> (Level, String) {
        app.message
            .as_ref()
            .map(|(l, m, _)| (*l, m.clone()))
            .unwrap_or((Level::Info, String::new()))
    }
    // Sends the console's requests to the service, then feeds its events to
    // the console until `done` (given the rows of the last snapshot) holds.
    async fn drive(
        app: &mut App,
        handle: &SessionsHandle,
        rx: &mut (crate::support::Relay<SessionsEvent>, Option<Arc<Snapshot>>),
        reqs: Vec<Request>,
        what: &str,
        done: impl Fn(&App, usize) -> bool,
    ) {
        for r in reqs {
            let Request::Domain(r) = r else {
                panic!("{r:?}")
            };
            assert!(windflow::service::Handle::send(handle, r));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let live = |rx: &(_, Option<Arc<Snapshot>>)| rx.1.as_ref().map_or(0, |s| s.rows.len());
        while !done(app, live(rx)) {
            let (relay, last) = rx;
            let msg = tokio::time::timeout_at(deadline, async {
                match relay.next_any().await {
                    crate::support::Next::Common(ev) => Msg::Service(ev),
                    crate::support::Next::Domain(ev) => {
                        let SessionsEvent::Snapshot(snap) = &ev;
                        *last = Some(snap.clone());
                        relay.pass(ev);
                        Msg::Wake
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{what}: not within 15 s; status: {:?}", status(app)));
            app.update(msg);
        }
    }
    // The selected row: (short id, user), as drawn.
    fn selected(app: &mut App) -> (String, String) {
        crate::console::screen(app, 80, 24);
        let text = app.pane().selected_text(&app.shared).expect("a selection");
        let mut words = text.split(' ');
        let id = words.next().unwrap()[..8].to_string();
        (id, words.next().unwrap().to_string())
    }
    // Revokes every session of the selected user: `D`, then `y`.
    fn revoke_user(app: &mut App) -> (String, Vec<Request>) {
        let (_, user) = selected(app);
        typed(app, "D");
        assert!(matches!(&app.mode, Mode::Confirm(_)), "a confirmation");
        (user, typed(app, "y"))
    }

    drive(
        &mut app,
        &handle,
        &mut rx,
        vec![],
        "six sessions",
        |_, live| live == 6,
    )
    .await;

    // Redis up: revoke one, then every session of a user.
    let (id, user) = selected(&mut app);
    typed(&mut app, "d");
    let reqs = typed(&mut app, "y");
    let pending = format!("revoking session {id} of {user}…");
    assert_eq!(status(&app).1, pending);
    drive(
        &mut app,
        &handle,
        &mut rx,
        reqs,
        "the revocation",
        |a, _| status(a).1 != pending,
    )
    .await;
    assert_eq!(
        status(&app),
        (Level::Info, format!("revoked session {id} of {user}"))
    );
    drive(
        &mut app,
        &handle,
        &mut rx,
        vec![],
        "five sessions",
        |_, live| live == 5,
    )
    .await;
    let (user, reqs) = revoke_user(&mut app);
    let n =
        rx.1.as_ref()
            .unwrap()
            .rows
            .iter()
            .filter(|r| r.session.user_id == user)
            .count();
    let pending = format!("revoking every session of {user}…");
    assert_eq!(status(&app).1, pending);
    drive(
        &mut app,
        &handle,
        &mut rx,
        reqs,
        "the user's revocation",
        |a, _| status(a).1 != pending,
    )
    .await;
    let plural = if n == 1 { "" } else { "s" };
    assert_eq!(
        status(&app),
        (
            Level::Info,
            format!("revoked {n} session{plural} of {user}")
        )
    );
    drive(
        &mut app,
        &handle,
        &mut rx,
        vec![],
        "the rows left",
        |_, live| live == 5 - n,
    )
    .await;

    // Redis stopped: the rows stay on screen; each revocation says nothing was done.
    redis.stop();
    let (id, user) = selected(&mut app);
    typed(&mut app, "d");
    let reqs = typed(&mut app, "y");
    let pending = format!("revoking session {id} of {user}…");
    assert_eq!(status(&app).1, pending);
    drive(
        &mut app,
        &handle,
        &mut rx,
        reqs,
        "the failed revocation",
        |a, _| status(a).1 != pending,
    )
    .await;
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Error);
    assert!(
        msg.starts_with("nothing was done: session store unreachable (")
            && !msg.contains("revoked"),
        "{msg}"
    );
    let (user, reqs) = revoke_user(&mut app);
    let pending = format!("revoking every session of {user}…");
    assert_eq!(status(&app).1, pending);
    drive(
        &mut app,
        &handle,
        &mut rx,
        reqs,
        "the failed user revocation",
        |a, _| status(a).1 != pending,
    )
    .await;
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Error);
    assert!(
        msg.starts_with("nothing was done: session store unreachable (")
            && !msg.contains("revoked"),
        "{msg}"
    );
    // The activity log has the same lines, from the sessions service.
    let log: Vec<String> = app
        .shared
        .activity
        .iter()
        .filter(|e| e.source == "sessions")
        .map(|e| e.message.clone())
        .collect();
    assert!(
        log.iter()
            .filter(|m| m.starts_with("nothing was done"))
            .count()
            == 2,
        "{log:?}"
    );
}

/// With the real sessions service and a `redis-server` that is stopped, the
/// Sessions pane shows the store's state and last error where the list would
/// be, never "No sessions"; rows kept from before an outage say how old they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_pane_says_the_store_is_down_instead_of_no_sessions() {
    use windflow::console::app::{App, Msg};

    use crate::console::{focus, screen, settings};

    let mut redis = RedisServer::start();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let store: Arc<dyn SessionStore> = Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
    let s = Sessions::new(store, Audit::discard());
    redis.stop();
    let (tx, rx) = windflow::service::channel();
    let wake = windflow::service::Wake::default();
    let (dtx, drx) = wake.channel();
    let _handle =
        windflow::sessions::service::spawn(s.clone(), windflow::service::Sink::new(tx, dtx));
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
            .unwrap_or_else(|_| panic!("{what}: not within 15 s:\n{}", screen(app, 100, 30)));
            app.update(msg);
        }
    }
    // The screen with its lines joined, as wrapped text breaks anywhere.
    fn flat(app: &mut App) -> String {
        screen(app, 100, 30)
            .lines()
            .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    until(&mut app, &mut rx, "the store's state", |a| {
        flat(a).contains("reconnecting")
    })
    .await;
    let text = flat(&mut app);
    assert!(!text.contains("No sessions"), "{text}");
    assert!(
        text.contains("The session store is reconnecting")
            && text.contains(&format!("127.0.0.1:{}", redis.port))
            && text.contains("unreachable")
            && text.contains("this is not an empty list"),
        "{text}"
    );

    // Back (empty: redis-server saves nothing): now the list is known to be empty.
    redis.restart();
    until(&mut app, &mut rx, "the empty list", |a| {
        flat(a).contains("No sessions")
    })
    .await;
    assert!(!flat(&mut app).contains("reconnecting"));

    // Rows kept from before an outage are marked with their age.
    let d = dev("203.0.113.10", FIREFOX);
    s.create("kim", SessionType::Web, &d, vec![]).await.unwrap();
    until(&mut app, &mut rx, "the new session", |a| {
        flat(a).contains("kim")
    })
    .await;
    redis.stop();
    until(&mut app, &mut rx, "the outage", |a| {
        flat(a).contains("store reconnecting: as of")
    })
    .await;
    assert!(flat(&mut app).contains("kim"));
}

#[test]
fn demo_console_shows_sessions_and_revokes_one() {
    use crate::support::pty::{Key, Pty};
    const T: Duration = Duration::from_secs(15);
    let mut pty = Pty::spawn(&crate::support::windflow_bin(), &["--demo"], &[], 80, 24);
    pty.wait_for("Overview", T).unwrap();
    pty.keys(":pane sessions\r");
    pty.wait_for("sort risk", T).unwrap();
    // The demo population arrives within a few polls: a table row, not a
    // notice that names a demo user before the first snapshot is listed.
    pty.wait_until(
        |s| {
            s.lines()
                .any(|l| l.contains("┌ Sessions (") && !l.contains("(0)"))
                && s.lines().any(|l| {
                    l.starts_with('│')
                        && ["alice", "bob", "carol", "dave", "erin", "frank"]
                            .iter()
                            .any(|u| l.contains(u))
                        && [" web ", " api ", " cli "].iter().any(|t| l.contains(t))
                })
        },
        T,
    )
    .unwrap();
    // The detail view opens and closes with Enter.
    pty.key(Key::Enter);
    pty.wait_for("Enter closes", T).unwrap();
    pty.key(Key::Enter);
    pty.wait_for_gone("Enter closes", T).unwrap();
    pty.keys("d");
    pty.wait_for("Revoke session", T).unwrap();
    pty.keys("y");
    // The status line says how it ended.
    pty.wait_for("revoked session", T).unwrap();
    // The service's report is in the activity log.
    pty.keys(":pane activity\r");
    pty.wait_for("revoked session", T).unwrap();
    pty.keys("q");
    let status = pty.wait_exit(T).expect("windflow exits");
    assert_eq!(status.exit_code(), 0);
}

/// Ids as `sessions list` prints them work like git's short hashes: a
/// unique prefix of at least six characters names the session for `show`,
/// `validate` and `revoke`; one that starts several is refused with the
/// matches (exit 2); a shorter one is refused before anything is read.
#[test]
fn cli_takes_a_unique_id_prefix() {
    use windflow::sessions::backend::{LocalStore, SessionStore};
    use windflow::sessions::model::{Device, Session, SessionType};
    let cli = new_cli(None);
    // Two sessions whose ids share their first six characters.
    let twins = [
        format!("wfTEST{}", "A".repeat(37)),
        format!("wfTESTB{}", "A".repeat(36)),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let keys = Keyring::from_env_or_file(&cli.data().join("master.key"), true).unwrap();
        let store = LocalStore::open(Store::open(&cli.data()).unwrap(), Arc::new(keys)).unwrap();
        for (id, user) in twins.iter().zip(["erin", "frank"]) {
            let mut s = Session::new(
                user,
                SessionType::Web,
                &Device::new("203.0.113.10".parse().unwrap(), FIREFOX),
                vec![],
                windflow::sessions::backend::now_ms(),
            );
            s.id = id.clone();
            store.create(&s, 3_600_000).await.unwrap();
        }
    });
    let created = cli.json(&[
        "sessions",
        "create",
        "--user",
        "alice",
        "--ip",
        "203.0.113.10",
        "--user-agent",
        FIREFOX,
        "--json",
    ]);
    let id = created["id"].as_str().unwrap();
    let listed = cli.expect(&["sessions", "list"], 0);
    assert!(listed.contains(&id[..8]), "{listed}");

    // The 8 characters of the list, for each command.
    let shown = cli.json(&["sessions", "show", &id[..8], "--json"]);
    assert_eq!(shown["id"], id);
    let valid = cli.json(&[
        "sessions",
        "validate",
        &id[..8],
        "--ip",
        "203.0.113.10",
        "--user-agent",
        FIREFOX,
        "--json",
    ]);
    assert_eq!(valid["valid"], true, "{valid}");

    // Ambiguous: both matches named, nothing done.
    let out = cli.run(&["sessions", "revoke", "wfTEST"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&twins[0]) && err.contains(&twins[1]), "{err}");
    assert_eq!(
        cli.json(&["sessions", "show", "wfTESTB", "--json"])["user_id"],
        "frank"
    );

    // Unique: revoked by its prefix, then gone.
    let revoked = cli.json(&["sessions", "revoke", "wfTESTB", "--json"]);
    assert_eq!(
        (revoked["id"].as_str(), revoked["revoked"].as_bool()),
        (Some(twins[1].as_str()), Some(true))
    );
    let out = cli.run(&["sessions", "show", "wfTESTB"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no live session id starts with wfTESTB")
    );

    // Too short to name one: refused as input.
    let out = cli.run(&["sessions", "show", &id[..5]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 6"));
}

/// A wrong Redis password is named as such, with the setting to fix, and
/// never promised to heal by itself (also `NOAUTH`: no password at all).
#[test]
fn cli_names_a_refused_redis_password() {
    let redis = RedisServer::start_with_password("right-pass");
    let port = redis.url().rsplit(':').next().unwrap().to_string();
    for url in [
        format!("redis://:wrong-pass@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        let cli = new_cli(Some(url.clone()));
        let out = cli.run(&["sessions", "list"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{url}: {err}");
        assert!(err.contains("authentication failed"), "{url}: {err}");
        assert!(err.contains("WINDFLOW_REDIS_URL"), "{url}: {err}");
        assert!(!err.contains("reconnects by itself"), "{url}: {err}");
        assert!(!err.contains("wrong-pass"), "the password is shown: {err}");
    }
    let ok = new_cli(Some(format!("redis://:right-pass@127.0.0.1:{port}")));
    ok.expect(&["sessions", "list"], 0);
}
