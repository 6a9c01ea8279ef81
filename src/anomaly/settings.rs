//! The `[anomaly]` table of windflow.toml.
//!
//! ```toml
//! [anomaly]
//! retrain_every = "24h"   # how often the agent trains every kind again
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::Config;
use crate::tomlpos::FileError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyFile {
    /// How often the agent retrains every kind's model (`12h`, `7d`, ...).
    pub retrain_every: Option<String>,
}

/// How often the agent retrains unless `retrain_every` says otherwise.
pub const RETRAIN_EVERY: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize)]
struct Wrapper {
    anomaly: Option<AnomalyFile>,
}

/// Strict check of the `[anomaly]` table at start-up (file, line, key).
pub fn check_table(src: &str, path: &Path) -> Result<(), FileError> {
    crate::tomlpos::table::<AnomalyFile>(src, path, "anomaly").map(drop)
}

/// The `[anomaly]` table; empty when there is no config file.
pub fn read(config: &Config) -> Result<AnomalyFile, FileError> {
    let file = &config.paths.config_file;
    if !config.paths.config_file_exists {
        return Ok(AnomalyFile::default());
    }
    let bytes = crate::fsutil::read_capped(file, crate::fsutil::CONFIG_CAP, "a config file")
        .map_err(|e| FileError::new(file, e.to_string()))?;
    let src = zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    let wrapper: Wrapper =
        toml::from_str(&src).map_err(|e| FileError::from_toml(file, &src, &e))?;
    Ok(wrapper.anomaly.unwrap_or_default())
}

/// `retrain_every` under `[anomaly]`, else [`RETRAIN_EVERY`]; zero is refused.
pub fn retrain_every(config: &Config) -> Result<Duration, FileError> {
    let Some(text) = read(config)?.retrain_every else {
        return Ok(RETRAIN_EVERY);
    };
    let bad = |m: String| {
        FileError::new(
            &config.paths.config_file,
            format!("[anomaly] retrain_every: {m}"),
        )
    };
    match crate::secrets::model::parse_duration(&text).map_err(bad)? {
        n if n > 0 => Ok(Duration::from_secs(n as u64)),
        _ => Err(bad(format!(
            "{text:?} must be longer than zero (e.g. \"24h\")"
        ))),
    }
}

/// The `config show` section: the retraining period.
pub fn config_section(
    config: &Config,
    _redis: &crate::domains::RedisChoice,
) -> Result<serde_json::Value, String> {
    Ok(serde_json::json!({
        "retrain_every_secs": retrain_every(config).map_err(|e| e.to_string())?.as_secs(),
    }))
}
