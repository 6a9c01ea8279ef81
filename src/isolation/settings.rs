//! The `[isolation]` table of windflow.toml.
//!
//! ```toml
//! [isolation]
//! cluster_dir = "cluster"   # the folder backend; relative to this file's folder
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Config;
use crate::tomlpos::FileError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationFile {
    /// The folder of manifests that stands for the cluster.
    pub cluster_dir: Option<PathBuf>,
}

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
        Some(dir) => config
            .paths
            .config_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(dir),
        None => config.paths.data_dir.join("cluster"),
    })
}

/// The deployments folder: `--deployments`, else the config's `deployments_dir`.
pub fn deployments_dir(config: &Config, flag: Option<&Path>) -> PathBuf {
    flag.map_or_else(|| config.paths.deployments_dir.clone(), Path::to_path_buf)
}
