//! Sign-in histories written straight into a data dir's audit log (with
//! the times a test needs), for the anomaly tests.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use windflow::audit::SecurityEvent;
use windflow::audit::local::LocalLog;

/// The data dir's audit log, chained under its master key (as the binary writes it).
pub fn audit_log(data: &std::path::Path) -> LocalLog {
    let keys = windflow::crypto::Keyring::from_env_or_file(
        &data.join(windflow::crypto::KEY_FILE_NAME),
        false,
    )
    .unwrap();
    LocalLog::with_keyring(data.join("audit"), std::sync::Arc::new(keys))
}

/// A `kind` event about `user` at `at`, from `ip` with `device`.
pub fn event(
    kind: &str,
    user: &str,
    at: DateTime<Utc>,
    ip: Option<&str>,
    device: Option<&str>,
) -> SecurityEvent {
    let mut e = SecurityEvent::new(kind, Some(user), serde_json::json!({}));
    e.timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    e.ip_address = ip.map(Into::into);
    e.user_agent = device.map(Into::into);
    e
}

fn weekday(d: NaiveDate) -> bool {
    d.weekday().num_days_from_monday() < 5
}

/// The last weekday before today: the day the tests' new sign-ins happen.
pub fn last_weekday() -> NaiveDate {
    let mut d = Utc::now().date_naive() - Duration::days(1);
    while !weekday(d) {
        d -= Duration::days(1);
    }
    d
}

/// `days` weekdays before `before` of office hours: users `user0`..`user4`
/// each sign in once a day between 09:00 and 17:00 UTC, from their own /24
/// (`10.0.N.x`) with their own browser. In time order.
pub fn office_history(before: NaiveDate, days: usize) -> Vec<SecurityEvent> {
    let mut dates = Vec::new();
    let mut d = before - Duration::days(1);
    while dates.len() < days {
        if weekday(d) {
            dates.push(d);
        }
        d -= Duration::days(1);
    }
    dates.reverse();
    let mut events = Vec::new();
    for (i, day) in dates.iter().enumerate() {
        let mut today: Vec<SecurityEvent> = (0..5)
            .map(|u| {
                let minute = (u * 53 + i * 31) % 480;
                let at =
                    day.and_hms_opt(9, 0, 0).unwrap().and_utc() + Duration::minutes(minute as i64);
                let ip = format!("10.0.{u}.{}", 10 + i % 7);
                event(
                    "signin_success",
                    &format!("user{u}"),
                    at,
                    Some(&ip),
                    Some(&format!("browser-{u}")),
                )
            })
            .collect();
        today.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
        events.extend(today);
    }
    events
}

/// `user` fails to sign in four times, then signs in at `at` from a network
/// never seen (`203.0.113.N`).
pub fn odd_sign_in(user: &str, at: DateTime<Utc>, n: u8) -> Vec<SecurityEvent> {
    let device = format!("browser-{}", user.trim_start_matches("user"));
    let mut events: Vec<SecurityEvent> = (1..=4)
        .rev()
        .map(|m| {
            event(
                "signin_failure",
                user,
                at - Duration::minutes(m),
                None,
                None,
            )
        })
        .collect();
    events.push(event(
        "signin_success",
        user,
        at,
        Some(&format!("203.0.113.{n}")),
        Some(&device),
    ));
    events
}

/// A `login_anomaly_detected` event about `user` as the agent records it
/// (every field of the details), detected `minutes_ago`, scored `score`.
pub fn detected(user: &str, score: f64, risk: &str, minutes_ago: i64) -> SecurityEvent {
    let at = Utc::now() - Duration::minutes(minutes_ago);
    let mut e = SecurityEvent::new(
        "login_anomaly_detected",
        Some(user),
        serde_json::json!({
            "kind": "login",
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "detector": "iforest",
            "model_version": 1,
            "score": score,
            "percentile": 99.6,
            "risk": risk,
            "features": {
                "hour_sin": 0.6, "hour_cos": 0.8, "weekday": 2.0,
                "new_device": 0.0, "new_network": 1.0, "failures_10m": 4.0,
                "since_last": 4.58, "concurrent": 0.0,
            },
            "explanation": format!("{user} signed in at 03:00 UTC, an unusual hour, from a new network after 4 failures in 10 minutes"),
            "user": user,
            "threshold": 0.5,
            "signin_event": format!("signin-of-{user}"),
        }),
    );
    e.timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    e
}
