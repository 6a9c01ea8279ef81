//! Sessions as data: the [`Session`] record, its [`SessionType`], session
//! ids, the device [`Fingerprint`], and what a validation can conclude. Pure
//! logic: no IO, no async.
//!
//! # The device fingerprint
//!
//! A fingerprint is the lowercase hex SHA-256 of these lines, in this order,
//! each ended by `\n`:
//!
//! 1. `wf-device-v1` (the format version);
//! 2. the user agent, trimmed, runs of whitespace collapsed to one space;
//! 3. the accept-language header, trimmed, lowercased, spaces removed;
//! 4. the platform hint (e.g. `Sec-CH-UA-Platform`), trimmed, lowercased,
//!    double quotes removed;
//! 5. the client network: the IPv4 /24 (`203.0.113.0/24`) or the IPv6 /48
//!    (`2001:db8:7::/48`). An IPv4-mapped IPv6 address counts as IPv4.
//!
//! The network, not the address, goes in so that a DHCP renewal or a
//! privacy-address rotation inside the same network is not a hijack, while
//! the same session id presented from another network or another browser is.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of randomness in a session id (256 bits).
pub const ID_BYTES: usize = 32;
/// Length of an id as URL-safe base64 without padding.
pub const ID_LEN: usize = 43;
/// The default lifetime without activity.
pub const DEFAULT_TTL_MS: i64 = 3_600_000;
/// The default absolute lifetime: however active, a session ends this long
/// after it was created.
pub const DEFAULT_MAX_LIFETIME_MS: i64 = 12 * 3_600_000;

/// How long sessions live: `idle_ms` without activity (the sliding TTL
/// every validation renews), and `max_ms` at most from their creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub idle_ms: i64,
    pub max_ms: i64,
}

impl Default for Lifetime {
    fn default() -> Self {
        Self {
            idle_ms: DEFAULT_TTL_MS,
            max_ms: DEFAULT_MAX_LIFETIME_MS,
        }
    }
}

impl Lifetime {
    /// Whether a session created at `created_at` is past its absolute
    /// lifetime at `now` (unix ms).
    pub fn over(&self, created_at: i64, now: i64) -> bool {
        now >= created_at.saturating_add(self.max_ms)
    }

    /// The TTL to give at `now` a session created at `created_at`: the idle
    /// TTL, cut at the absolute deadline (0 or less: it is over).
    pub fn ttl_at(&self, created_at: i64, now: i64) -> i64 {
        self.idle_ms
            .min(created_at.saturating_add(self.max_ms).saturating_sub(now))
    }
}

/// What kind of client holds the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionType {
    Web,
    Api,
    Cli,
}

impl SessionType {
    pub const ALL: [SessionType; 3] = [SessionType::Web, SessionType::Api, SessionType::Cli];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::Web => "web",
            SessionType::Api => "api",
            SessionType::Cli => "cli",
        }
    }
}

impl std::fmt::Display for SessionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SessionType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown session type {s:?}: use web, api or cli"))
    }
}

/// A fresh 256-bit random id, URL-safe base64 without padding (43 characters).
pub fn new_id() -> String {
    let bytes: [u8; ID_BYTES] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `id` has the shape of a session id (so that no other text, such
/// as a SCAN pattern, ever reaches a store key).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && URL_SAFE_NO_PAD
            .decode(id)
            .is_ok_and(|b| b.len() == ID_BYTES)
}

/// Checks a user id: 1 to 128 visible characters without spaces or `:`/`*`
/// (it is part of the per-user index key).
pub fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > 128 {
        return Err(format!("user id {user:?} must be 1 to 128 characters long"));
    }
    if let Some(c) = user
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, ':' | '*' | '?' | '[' | ']'))
    {
        return Err(format!(
            "user id {user:?} holds {c:?}; use letters, digits and . _ - @"
        ));
    }
    Ok(())
}

/// The device attributes a fingerprint is computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub ip: IpAddr,
    pub user_agent: String,
    #[serde(default)]
    pub accept_language: String,
    #[serde(default)]
    pub platform: String,
}

impl Device {
    pub fn new(ip: IpAddr, user_agent: &str) -> Self {
        Self {
            ip,
            user_agent: user_agent.to_string(),
            accept_language: String::new(),
            platform: String::new(),
        }
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self)
    }
}

/// The client network of an address: IPv4 /24, IPv6 /48.
pub fn network(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{net}/48")
        }
    }
}

/// SHA-256 over the normalised device attributes (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    pub fn of(d: &Device) -> Self {
        Fingerprint(hex::encode(Sha256::digest(canonical(d).as_bytes())))
    }

    /// The first 8 hex digits, for tables.
    pub fn short(&self) -> &str {
        self.0.get(..8).unwrap_or(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The exact text hashed into a fingerprint.
pub fn canonical(d: &Device) -> String {
    let ua = d
        .user_agent
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let lang: String = d
        .accept_language
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let platform = d.platform.trim().to_lowercase().replace('"', "");
    format!(
        "wf-device-v1\n{ua}\n{lang}\n{platform}\n{}\n",
        network(d.ip)
    )
}

/// One session. Serialized as JSON, sealed in an envelope (context
/// `session:<id>`) before it reaches any store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    #[serde(rename = "type")]
    pub session_type: SessionType,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last successful validation.
    pub last_activity: i64,
    pub fingerprint: Fingerprint,
    pub ip_address: IpAddr,
    pub user_agent: String,
    pub permissions: Vec<String>,
}

impl Session {
    pub fn new(
        user_id: &str,
        session_type: SessionType,
        device: &Device,
        permissions: Vec<String>,
        now_ms: i64,
    ) -> Self {
        Self {
            id: new_id(),
            user_id: user_id.to_string(),
            session_type,
            created_at: now_ms,
            last_activity: now_ms,
            fingerprint: device.fingerprint(),
            ip_address: device.ip,
            user_agent: device.user_agent.clone(),
            permissions,
        }
    }
}

/// A fingerprint mismatch: the session id presented by another device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HijackAttempt {
    /// Unix milliseconds.
    pub at: i64,
    pub ip_address: IpAddr,
    pub user_agent: String,
    pub fingerprint: Fingerprint,
}

/// What a store holds about a session: the session, when it expires, and
/// whether it was revoked for a hijack attempt (kept visible for a while).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub session: Session,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub hijack: Option<HijackAttempt>,
}

impl Listed {
    /// 0 for an ordinary session; higher is worse (sort by risk).
    pub fn risk(&self) -> u8 {
        u8::from(self.hijack.is_some()) * 100
    }
}

/// Why a validation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invalid {
    /// Not a session id, or no such session (never created; in Redis also
    /// expired, as the key is gone).
    Unknown,
    /// Its lifetime ran out.
    Expired,
    /// The stored payload cannot be opened (sealed for another session id,
    /// under another master key, or tampered with).
    Undecryptable,
    /// The stored payload is another session's (it names another id):
    /// copied under this id, refused.
    Misplaced,
    /// Revoked for a hijack attempt: a different device presented it (now,
    /// or before while the record is kept).
    Hijack,
    /// Revoked by an operator.
    Revoked,
}

impl Invalid {
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::Unknown => "unknown",
            Invalid::Expired => "expired",
            Invalid::Undecryptable => "undecryptable",
            Invalid::Misplaced => "misplaced",
            Invalid::Hijack => "hijack_attempt",
            Invalid::Revoked => "revoked",
        }
    }

    /// What it means, for people.
    pub fn explain(self) -> &'static str {
        match self {
            Invalid::Unknown => {
                "no such session: never created, or expired and removed by the store"
            }
            Invalid::Expired => {
                "its lifetime ran out (idle too long, or older than the absolute max_lifetime)"
            }
            Invalid::Undecryptable => {
                "the stored session cannot be opened (sealed for another session id or under \
                 another master key, or tampered with); refused and recorded"
            }
            Invalid::Misplaced => {
                "the stored session is another session's, copied under this id; refused and recorded"
            }
            Invalid::Hijack => "revoked after a hijack attempt: a different device presented it",
            Invalid::Revoked => "an operator revoked it",
        }
    }
}

/// The outcome of a validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Valid; activity and TTL were refreshed.
    Valid(Listed),
    Invalid(Invalid),
    /// The fingerprint did not match: the session was revoked.
    Hijack {
        session: Box<Session>,
        attempt: HijackAttempt,
    },
}

/// Seconds as `1h02m`, `3m05s`, `12s` (negative counts as 0).
pub fn human(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Serializes a session for sealing.
pub fn to_json(s: &Session) -> Vec<u8> {
    serde_json::to_vec(s).expect("a session always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ip: &str, ua: &str) -> Device {
        Device::new(ip.parse().unwrap(), ua)
    }

    #[test]
    fn ids_are_256_bit_url_safe() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), ID_LEN);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(is_valid_id(&a));
        assert!(!is_valid_id("session:*"));
        assert!(!is_valid_id(&a[..42]));
        assert!(!is_valid_id(&format!("{}=", &a[..42])));
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(network("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(
            network("2001:db8:7:1::5".parse().unwrap()),
            "2001:db8:7::/48"
        );
        assert_eq!(
            network("::ffff:198.51.100.9".parse().unwrap()),
            "198.51.100.0/24"
        );
    }

    #[test]
    fn fingerprint_is_stable_within_a_network_and_changes_outside() {
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0";
        let a = dev("203.0.113.10", ua).fingerprint();
        // DHCP renewal inside the /24, and whitespace noise: same device.
        assert_eq!(a, dev("203.0.113.200", &format!("  {ua} ")).fingerprint());
        assert_ne!(a, dev("203.0.114.10", ua).fingerprint());
        assert_ne!(a, dev("203.0.113.10", "curl/8.5").fingerprint());
        let mut lang = dev("203.0.113.10", ua);
        lang.accept_language = "de-DE".into();
        assert_ne!(a, lang.fingerprint());
        let v6 = dev("2001:db8:7:1::5", ua).fingerprint();
        assert_eq!(v6, dev("2001:db8:7:ffff::9", ua).fingerprint());
        assert_ne!(v6, dev("2001:db8:8::5", ua).fingerprint());
        assert_eq!(a.0.len(), 64);
        assert_eq!(a.short().len(), 8);
    }

    #[test]
    fn canonical_text_is_documented() {
        let mut d = dev("10.1.2.3", " curl/8.5   (x) ");
        d.accept_language = "en-US, en;q=0.9".into();
        d.platform = "\"Linux\"".into();
        assert_eq!(
            canonical(&d),
            "wf-device-v1\ncurl/8.5 (x)\nen-us,en;q=0.9\nlinux\n10.1.2.0/24\n"
        );
        // The hash is SHA-256 of exactly that text.
        assert_eq!(
            d.fingerprint().0,
            hex::encode(Sha256::digest(canonical(&d).as_bytes()))
        );
    }

    #[test]
    fn the_absolute_lifetime_cuts_the_sliding_ttl() {
        let l = Lifetime {
            idle_ms: 3_600_000,
            max_ms: 12 * 3_600_000,
        };
        let born = 1_000_000;
        assert!(!l.over(born, born));
        assert_eq!(l.ttl_at(born, born), 3_600_000);
        // Half an hour before the deadline: the TTL ends at the deadline.
        let late = born + 11 * 3_600_000 + 1_800_000;
        assert_eq!(l.ttl_at(born, late), 1_800_000);
        assert!(l.over(born, born + 12 * 3_600_000));
        assert!(l.ttl_at(born, born + 12 * 3_600_000) <= 0);
        assert_eq!(Lifetime::default().max_ms, DEFAULT_MAX_LIFETIME_MS);
    }

    #[test]
    fn users_and_types_parse() {
        assert!(check_user("alice@example.com").is_ok());
        assert!(check_user("").is_err());
        assert!(check_user("a b").unwrap_err().contains("' '"));
        assert!(check_user("a*").is_err());
        assert_eq!("API".parse::<SessionType>(), Ok(SessionType::Api));
        assert!(
            "ssh"
                .parse::<SessionType>()
                .unwrap_err()
                .contains("web, api or cli")
        );
        let s = Session::new("u", SessionType::Cli, &dev("10.0.0.1", "x"), vec![], 5);
        let json: serde_json::Value = serde_json::from_slice(&to_json(&s)).unwrap();
        assert_eq!(json["type"], "cli");
        assert_eq!(json["ip_address"], "10.0.0.1");
    }
}
