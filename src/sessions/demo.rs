//! The demo population (`windflow --demo`): several users on several
//! devices (mostly their usual ones) open sessions, use them (validations
//! slide their TTL), sign out of some and leave others to expire, and now and then a session id is replayed from another
//! device: a hijack attempt the pane shows. It drives [`Sessions`] like a
//! real client would; nothing is painted.

use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;

use super::model::{Device, SessionType};
use super::service::Sessions;
use crate::service::{EventTx, Level, activity};

pub const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
const AGENTS: [&str; 5] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/128.0 Safari/537.36",
    "windflow-cli/0.1.0",
    "python-requests/2.32",
];
/// Sessions kept alive (validated now and then); others are left to expire.
pub const TARGET: usize = 24;
/// Demo sessions live two minutes without activity, so expiry shows.
const DEMO_TTL: Duration = Duration::from_secs(120);

pub fn spawn(sessions: Sessions, events: EventTx) {
    tokio::spawn(run(sessions.with_ttl(DEMO_TTL), events));
}

fn session_type(ua: &str) -> SessionType {
    if ua.starts_with("windflow") {
        SessionType::Cli
    } else if ua.starts_with("python") {
        SessionType::Api
    } else {
        SessionType::Web
    }
}

/// A device anywhere: a thief's, or now and then a user's new one.
fn device(rng: &mut impl Rng) -> (Device, SessionType) {
    let ua = *AGENTS.choose(rng).expect("agents");
    let ip = format!(
        "{}.{}.{}.{}",
        [10, 172, 192, 203][rng.random_range(0..4)],
        rng.random_range(0..30),
        rng.random_range(0..50),
        rng.random_range(1..255)
    );
    (
        Device::new(ip.parse().expect("an address"), ua),
        session_type(ua),
    )
}

/// An address on the home network (a /24 of its own) of `USERS[user]`.
pub fn usual_ip(user: usize, rng: &mut impl Rng) -> String {
    format!("10.{}.{}.{}", 40 + user, user, rng.random_range(1..255))
}

/// A user's own devices: one of their two usual ones on their home
/// network, and now and then (3 %) a device never seen before.
fn usual_device(user: usize, rng: &mut impl Rng) -> (Device, SessionType) {
    if rng.random_bool(0.03) {
        return device(rng);
    }
    let ua = AGENTS[(user + rng.random_range(0..2)) % AGENTS.len()];
    let ip = usual_ip(user, rng);
    (
        Device::new(ip.parse().expect("an address"), ua),
        session_type(ua),
    )
}

async fn run(sessions: Sessions, events: EventTx) {
    // (id, device) of the sessions the demo keeps using.
    let mut live: Vec<(String, Device)> = Vec::new();
    let mut step: u64 = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        step += 1;
        let action = {
            let mut rng = rand::rng();
            if live.len() < TARGET && rng.random_bool(0.7) {
                let u = rng.random_range(0..USERS.len());
                let (d, t) = usual_device(u, &mut rng);
                let user = USERS[u];
                Some((0u8, user.to_string(), d, t))
            } else {
                None
            }
        };
        if let Some((_, user, d, t)) = action {
            let perms = vec!["read".to_string()];
            match sessions.create(&user, t, &d, perms).await {
                Ok(l) => live.push((l.session.id, d)),
                Err(e) => {
                    activity(&events, "demo", Level::Warn, format!("demo sessions: {e}")).await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            }
        }
        if live.is_empty() {
            continue;
        }
        let (pick, drop_one, hijack) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..live.len()),
                rng.random_bool(0.04),
                step % 50 == 15,
            )
        };
        if hijack {
            // Replay the id from another device.
            let (id, _) = live.swap_remove(pick);
            let (thief, _) = device(&mut rand::rng());
            let _ = sessions.validate(&id, &thief).await;
            activity(
                &events,
                "demo",
                Level::Warn,
                format!("demo: replayed a session id from {}", thief.ip),
            )
            .await;
        } else if drop_one {
            // The client goes away: mostly it signs out, sometimes the
            // session is left to expire on its own.
            let (id, _) = live.swap_remove(pick);
            if rand::rng().random_bool(0.9) {
                let _ = sessions.revoke(&id, "demo").await;
            }
        } else {
            let (id, d) = live[pick].clone();
            if !matches!(
                sessions.validate(&id, &d).await,
                Ok(super::model::Validation::Valid(_))
            ) {
                live.swap_remove(pick);
            }
        }
    }
}
