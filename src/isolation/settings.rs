//! The `[isolation]` table of windflow.toml.
//!
//! ```toml
//! [isolation]
//! cluster_dir = "cluster"   # the folder backend; relative to this file's folder
//! kubeconfig = "kubeconfig" # a real cluster instead (or `context`): the
//! context = "prod"          #   console's diff and apply, the agent's drift check
//! drift_every = "5m"        # how often `windflow agent` checks drift
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::Config;
use crate::tomlpos::FileError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationFile {
    /// The folder of manifests that stands for the cluster.
    pub cluster_dir: Option<PathBuf>,
    /// A real cluster's kubeconfig (relative to this file's folder).
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig (KUBECONFIG's when `kubeconfig` is unset).
    pub context: Option<String>,
    /// How often the agent checks drift (`30s`, `5m`, `1h`).
    pub drift_every: Option<String>,
}

/// How often the agent checks drift unless `drift_every` says otherwise.
pub const DRIFT_EVERY: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct Wrapper {
    isolation: Option<IsolationFile>,
}

/// The `[isolation]` table, checked with the file's positions (a typo is an
/// error naming the line and the key); empty when there is no config file.
pub fn read(config: &Config) -> Result<IsolationFile, FileError> {
    let file = &config.paths.config_file;
    if !config.paths.config_file_exists {
        return Ok(IsolationFile::default());
    }
    let bytes = crate::fsutil::read_capped(file, crate::fsutil::CONFIG_CAP, "a config file")
        .map_err(|e| FileError::new(file, e.to_string()))?;
    // The file may hold a token elsewhere: wiped once parsed.
    let src = zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    let wrapper: Wrapper =
        toml::from_str(&src).map_err(|e| FileError::from_toml(file, &src, &e))?;
    Ok(wrapper.isolation.unwrap_or_default())
}

/// The cluster folder: `--cluster-dir`, else `cluster_dir` of `[isolation]`
/// (relative to the config file's folder), else `cluster/` in the data dir.
pub fn cluster_dir(config: &Config, flag: Option<&Path>) -> Result<PathBuf, FileError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    Ok(match read(config)?.cluster_dir {
        Some(dir) => relative(config, dir),
        None => config.paths.data_dir.join("cluster"),
    })
}

fn relative(config: &Config, path: PathBuf) -> PathBuf {
    config
        .paths
        .config_file
        .parent()
        .unwrap_or(Path::new("."))
        .join(path)
}

/// The real cluster of `kubeconfig` / `context` under `[isolation]`; `None`
/// when neither is set (the folder backend).
pub fn cluster_target(config: &Config) -> Result<Option<super::cluster::ClusterTarget>, FileError> {
    let file = read(config)?;
    if file.kubeconfig.is_none() && file.context.is_none() {
        return Ok(None);
    }
    Ok(Some(super::cluster::ClusterTarget {
        kubeconfig: file.kubeconfig.map(|k| relative(config, k)),
        context: file.context,
    }))
}

/// `drift_every` under `[isolation]`, else [`DRIFT_EVERY`]; zero is refused.
pub fn drift_every(config: &Config) -> Result<Duration, FileError> {
    let Some(text) = read(config)?.drift_every else {
        return Ok(DRIFT_EVERY);
    };
    let bad = |m: String| {
        FileError::new(
            &config.paths.config_file,
            format!("[isolation] drift_every: {m}"),
        )
    };
    match crate::secrets::model::parse_duration(&text).map_err(bad)? {
        n if n > 0 => Ok(Duration::from_secs(n as u64)),
        _ => Err(bad(format!(
            "{text:?} must be longer than zero (e.g. \"5m\")"
        ))),
    }
}

/// The deployments folder: `--deployments`, else the config's `deployments_dir`.
pub fn deployments_dir(config: &Config, flag: Option<&Path>) -> PathBuf {
    flag.map_or_else(|| config.paths.deployments_dir.clone(), Path::to_path_buf)
}
/// The `config show` section: the cluster (a folder or a kubeconfig and
/// context), the deployments folder and the drift check's period.
pub fn config_section(
    config: &Config,
    _redis: &crate::domains::RedisChoice,
) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let err = |e: FileError| e.to_string();
    let cluster = match cluster_target(config).map_err(err)? {
        None => json!({ "backend": "folder", "dir": cluster_dir(config, None).map_err(err)? }),
        Some(t) => json!({
            "backend": "kubernetes",
            "kubeconfig": t.kubeconfig.map_or_else(
                || "KUBECONFIG or ~/.kube/config".to_owned(),
                |k| k.display().to_string(),
            ),
            "context": t.context.unwrap_or_else(|| "the kubeconfig's current context".into()),
        }),
    };
    Ok(json!({
        "cluster": cluster,
        "deployments_dir": deployments_dir(config, None),
        "drift_every_secs": drift_every(config).map_err(err)?.as_secs(),
    }))
}
/// Strict check of the `[isolation]` table at start-up (file, line, key).
pub fn check_table(src: &str, path: &Path) -> Result<(), crate::tomlpos::FileError> {
    crate::tomlpos::table::<IsolationFile>(src, path, "isolation").map(drop)
}
