//! The `[agent]` table of `windflow.toml`: the lease that elects one of
//! several agents when Redis is configured (`WINDFLOW_REDIS_URL`).
//!
//! ```toml
//! [agent]
//! lease = "10s"        # a leader that has not renewed within this is replaced
//! renew = "3s"         # how often the leader renews (default: a third of lease)
//! lease_key = "windflow:agent:prod"  # default: one key per store
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Default lease.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest lease: a renewal must fit in a third of it, with Redis's
/// answer bounded as every Redis request is.
pub const MIN_LEASE: Duration = Duration::from_secs(2);
const MAX_LEASE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    pub lease: Duration,
    pub renew: Duration,
    /// None: `windflow:agent:lease:<store id>`, so that agents share a lease
    /// exactly when they share a store.
    pub lease_key: Option<String>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            lease: DEFAULT_LEASE,
            renew: DEFAULT_LEASE / 3,
            lease_key: None,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentTable {
    lease: Option<String>,
    renew: Option<String>,
    lease_key: Option<String>,
}

impl AgentSettings {
    /// The `[agent]` table of `config`'s file (defaults without one).
    pub fn from_config(config: &crate::config::Config) -> Result<Self, String> {
        let table = crate::config::file_table(config, "agent")?;
        Self::load(table, &config.paths.config_file)
    }

    /// From the `[agent]` table of the file `file`; errors name the file and key.
    pub fn load(table: Option<toml::Table>, file: &Path) -> Result<Self, String> {
        let at = |key: &str, e: String| format!("{} [agent] {key}: {e}", file.display());
        let t: AgentTable = match table {
            Some(t) => t
                .try_into()
                .map_err(|e| format!("{} [agent]: {e}", file.display()))?,
            None => AgentTable::default(),
        };
        let secs = |s: &str| {
            crate::secrets::model::parse_duration(s)
                .and_then(|n| u64::try_from(n).map_err(|_| format!("{s:?} is negative")))
                .map(Duration::from_secs)
        };
        let lease = match &t.lease {
            Some(s) => secs(s).map_err(|e| at("lease", e))?,
            None => DEFAULT_LEASE,
        };
        if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
            return Err(at(
                "lease",
                format!(
                    "{:?} is out of range: give {}s to {}s",
                    t.lease.as_deref().unwrap_or(""),
                    MIN_LEASE.as_secs(),
                    MAX_LEASE.as_secs()
                ),
            ));
        }
        let renew = match &t.renew {
            Some(s) => secs(s).map_err(|e| at("renew", e))?,
            None => lease / 3,
        };
        if renew.is_zero() || renew > lease / 2 {
            return Err(at(
                "renew",
                format!(
                    "{:?}: renew at least every second and at most every half lease ({} s), \
                     so that a leader renews in time",
                    t.renew.as_deref().unwrap_or(""),
                    lease.as_secs_f64() / 2.0
                ),
            ));
        }
        if let Some(k) = &t.lease_key
            && (k.is_empty()
                || k.len() > 200
                || k.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(at(
                "lease_key",
                "give a Redis key of at most 200 characters without spaces".into(),
            ));
        }
        Ok(Self {
            lease,
            renew,
            lease_key: t.lease_key,
        })
    }
}

/// Strict check of the `[agent]` table at start-up (file, line, key).
pub fn check_table(src: &str, path: &std::path::Path) -> Result<(), crate::tomlpos::FileError> {
    crate::tomlpos::table::<AgentTable>(src, path, "agent").map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> Result<AgentSettings, String> {
        let table: toml::Table = toml::from_str(src).unwrap();
        AgentSettings::load(Some(table), Path::new("/etc/w.toml"))
    }

    #[test]
    fn defaults_and_a_third_of_the_lease() {
        assert_eq!(
            AgentSettings::load(None, Path::new("w.toml")).unwrap(),
            AgentSettings::default()
        );
        let s = load("lease = \"30s\"\nlease_key = \"wf:prod\"").unwrap();
        assert_eq!(s.lease, Duration::from_secs(30));
        assert_eq!(s.renew, Duration::from_secs(10));
        assert_eq!(s.lease_key.as_deref(), Some("wf:prod"));
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        for (src, key) in [
            ("lease = \"10x\"", "lease"),
            ("lease = \"1s\"", "lease"),
            ("lease = \"9s\"\nrenew = \"5s\"", "renew"),
            ("renew = \"0s\"", "renew"),
            ("lease_key = \"a b\"", "lease_key"),
        ] {
            let err = load(src).unwrap_err();
            assert!(
                err.contains("/etc/w.toml [agent]") && err.contains(key),
                "{src}: {err}"
            );
        }
        let err = load("leese = \"10s\"").unwrap_err();
        assert!(err.contains("[agent]") && err.contains("leese"), "{err}");
    }
}
