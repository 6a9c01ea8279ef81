//! Configuration: `windflow.toml` in the XDG config dir (or `--config`),
//! then `WINDFLOW_*` environment variables, then flags. Every value knows
//! where it came from, for `windflow config show`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tomlpos::FileError;

/// The config file as written. Unknown keys are errors (a typo must not be
/// silently ignored on a security tool).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub operator: Option<String>,
    pub environment: Option<String>,
    pub environment_color: Option<String>,
    pub read_only: Option<bool>,
    pub theme: Option<String>,
    pub keymap: Option<String>,
    pub mouse: Option<bool>,
    pub clock: Option<Clock>,
    pub data_dir: Option<PathBuf>,
    /// Deployment specs (default: `deployments/` in the config dir; a
    /// relative path is relative to the config file's folder).
    pub deployments_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    /// Lock the console after this many idle minutes (0: never).
    pub auto_lock_minutes: Option<u64>,
    /// A second factor older than this many minutes is asked again before
    /// revealing, rotating, rolling back or revoking.
    pub step_up_minutes: Option<u64>,
    /// Bind every step-up grant to the terminal that opens it (`windflow
    /// login` as `login --tty`), and honour no other grant.
    pub tty_grants: Option<bool>,
    /// The `[audit]` table (alert channels and rules, tail size), read by
    /// `audit::settings`.
    pub audit: Option<toml::Table>,
    /// The `[sessions]` table (Redis TLS files), read by `sessions::settings`.
    pub sessions: Option<toml::Table>,
    /// The `[agent]` table (the lease of several agents), read by `agent::settings`.
    pub agent: Option<toml::Table>,
    /// The `[isolation]` table (the cluster folder), read by
    /// `isolation::settings`.
    pub isolation: Option<toml::Table>,
    /// The `[anomaly]` table (the retraining period), read by
    /// `anomaly::settings`.
    pub anomaly: Option<toml::Table>,
    /// The `[secrets]` table (backend, Vault, rotation rules): checked and
    /// read by `secrets::settings`; not kept here, as it may hold a token.
    pub secrets: Option<serde::de::IgnoredAny>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    #[default]
    Utc,
    Local,
}

/// Values given on the command line (None: not given).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub read_only: bool,
    pub theme: Option<String>,
    pub keymap: Option<String>,
    pub mouse: bool,
    pub environment: Option<String>,
    pub operator: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    File,
    Env,
    Flag,
}

/// Every path the console uses.
#[derive(Clone, Debug, Serialize)]
pub struct Paths {
    pub config_file: PathBuf,
    pub config_file_exists: bool,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
    pub log_file: PathBuf,
    pub themes_dir: PathBuf,
    pub keymaps_dir: PathBuf,
    pub keymap_overrides: PathBuf,
    pub deployments_dir: PathBuf,
}

/// The effective configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub operator: String,
    pub environment: Option<String>,
    pub environment_color: String,
    pub read_only: bool,
    pub theme: String,
    pub keymap: String,
    pub mouse: bool,
    pub clock: Clock,
    pub log_level: String,
    pub auto_lock_minutes: u64,
    pub step_up_minutes: u64,
    /// Grants are bound to the terminal that opens them (sudo's tty tickets).
    pub tty_grants: bool,
    pub paths: Paths,
    /// Where each value came from.
    pub sources: BTreeMap<&'static str, Source>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid config file {0}")]
    File(#[from] FileError),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The XDG base folders for windflow.
#[derive(Clone, Debug)]
pub struct BaseDirs {
    pub config: PathBuf,
    pub data: PathBuf,
    pub state: PathBuf,
}

impl BaseDirs {
    /// `$XDG_CONFIG_HOME/windflow`, `$XDG_DATA_HOME/windflow`,
    /// `$XDG_STATE_HOME/windflow` (with the XDG defaults under `$HOME`).
    pub fn detect() -> Result<Self, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "windflow").ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find the home directory: set HOME or XDG_CONFIG_HOME".into(),
            )
        })?;
        let state = dirs
            .state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.data_local_dir().join("state"));
        Ok(Self {
            config: dirs.config_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
            state,
        })
    }
}

/// The colour an environment's badge gets when the config gives none.
pub fn default_environment_color(env: &str) -> &'static str {
    match env.to_ascii_lowercase().as_str() {
        "prod" | "production" | "live" => "red",
        "staging" | "stage" | "preprod" | "uat" => "yellow",
        "dev" | "development" | "test" | "local" => "green",
        _ => "blue",
    }
}

pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl Config {
    /// Loads the file (if any) and resolves it with the environment and the flags.
    pub fn load(
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
        base: &BaseDirs,
    ) -> Result<Self, ConfigError> {
        let explicit = flags
            .config
            .clone()
            .or_else(|| env("WINDFLOW_CONFIG").map(PathBuf::from));
        let config_file = explicit
            .clone()
            .unwrap_or_else(|| base.config.join("windflow.toml"));
        let read =
            crate::fsutil::read_capped(&config_file, crate::fsutil::CONFIG_CAP, "a config file")
                .and_then(|b| {
                    String::from_utf8(b).map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")
                    })
                });
        let file = match read {
            Ok(src) => {
                let src = zeroize::Zeroizing::new(src);
                let file = parse_file(&src, &config_file)?;
                check_tables(&src, &config_file)?;
                Some(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => None,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: config_file,
                    source,
                });
            }
        };
        let exists = file.is_some();
        Self::resolve(
            file.unwrap_or_default(),
            config_file,
            exists,
            flags,
            env,
            base,
        )
    }

    pub fn resolve(
        file: FileConfig,
        config_file: PathBuf,
        config_file_exists: bool,
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
        base: &BaseDirs,
    ) -> Result<Self, ConfigError> {
        let mut sources = BTreeMap::new();
        let mut pick =
            |key: &'static str, var: &str, flag: Option<String>, file: Option<String>| {
                let (v, s) = if let Some(v) = flag {
                    (Some(v), Source::Flag)
                } else if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                    (Some(v), Source::Env)
                } else if let Some(v) = file {
                    (Some(v), Source::File)
                } else {
                    (None, Source::Default)
                };
                sources.insert(key, s);
                v
            };
        let user = env("USER")
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "operator".into());
        let operator = pick(
            "operator",
            "WINDFLOW_OPERATOR",
            flags.operator.clone(),
            file.operator,
        )
        .unwrap_or(user);
        let environment = pick(
            "environment",
            "WINDFLOW_ENV",
            flags.environment.clone(),
            file.environment,
        );
        let environment_color = pick(
            "environment_color",
            "WINDFLOW_ENV_COLOR",
            None,
            file.environment_color,
        )
        .unwrap_or_else(|| {
            default_environment_color(environment.as_deref().unwrap_or("")).to_string()
        });
        let theme = pick("theme", "WINDFLOW_THEME", flags.theme.clone(), file.theme)
            .unwrap_or_else(|| "dark".into());
        let keymap = pick(
            "keymap",
            "WINDFLOW_KEYMAP",
            flags.keymap.clone(),
            file.keymap,
        )
        .unwrap_or_else(|| "vim".into());
        let log_level = pick(
            "log_level",
            "WINDFLOW_LOG_LEVEL",
            flags.log_level.clone(),
            file.log_level,
        )
        .unwrap_or_else(|| "info".into());
        let data_dir = pick(
            "data_dir",
            "WINDFLOW_DATA_DIR",
            flags.data_dir.as_ref().map(|p| p.display().to_string()),
            file.data_dir.map(|p| p.display().to_string()),
        )
        .map(PathBuf::from)
        .unwrap_or_else(|| base.data.clone());
        let read_only = pick_bool(
            &mut sources,
            "read_only",
            "WINDFLOW_READ_ONLY",
            flags.read_only,
            env,
            file.read_only,
        )?;
        let mouse = pick_bool(
            &mut sources,
            "mouse",
            "WINDFLOW_MOUSE",
            flags.mouse,
            env,
            file.mouse,
        )?;
        let tty_grants = pick_bool(
            &mut sources,
            "tty_grants",
            "WINDFLOW_TTY_GRANTS",
            false,
            env,
            file.tty_grants,
        )?;
        let clock = match env("WINDFLOW_CLOCK").filter(|v| !v.is_empty()) {
            Some(v) => {
                sources.insert("clock", Source::Env);
                match v.to_ascii_lowercase().as_str() {
                    "utc" => Clock::Utc,
                    "local" => Clock::Local,
                    _ => {
                        return Err(ConfigError::Env {
                            var: "WINDFLOW_CLOCK".into(),
                            value: v,
                            message: "expected utc or local".into(),
                        });
                    }
                }
            }
            None => {
                sources.insert(
                    "clock",
                    if file.clock.is_some() {
                        Source::File
                    } else {
                        Source::Default
                    },
                );
                file.clock.unwrap_or_default()
            }
        };
        // Where a refused value came from: the flag, the variable or the file.
        fn origin_of(
            sources: &BTreeMap<&'static str, Source>,
            config_file: &Path,
            key: &str,
            var: &str,
        ) -> String {
            match sources[key] {
                Source::Flag => format!("from --{}", key.replace('_', "-")),
                Source::Env => format!("from {var}"),
                Source::File => format!("in {}", config_file.display()),
                Source::Default => "the default".to_string(),
            }
        }
        let origin = |key: &str, var: &str| origin_of(&sources, &config_file, key, var);
        if !LOG_LEVELS.contains(&log_level.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "log level `{log_level}` ({}): use one of {}",
                origin("log_level", "WINDFLOW_LOG_LEVEL"),
                LOG_LEVELS.join(", ")
            )));
        }
        if let Err(e) = environment_color.parse::<crate::console::theme::ThemeColor>() {
            return Err(ConfigError::Invalid(format!(
                "environment_color ({}): {e}",
                origin("environment_color", "WINDFLOW_ENV_COLOR")
            )));
        }
        let minutes = |sources: &mut BTreeMap<&'static str, Source>,
                       key: &'static str,
                       var: &str,
                       file: Option<u64>,
                       default: u64| {
            match env(var).filter(|v| !v.is_empty()) {
                Some(v) => {
                    sources.insert(key, Source::Env);
                    v.parse::<u64>().map_err(|_| ConfigError::Env {
                        var: var.into(),
                        value: v,
                        message: "expected a whole number of minutes".into(),
                    })
                }
                None => {
                    sources.insert(
                        key,
                        if file.is_some() {
                            Source::File
                        } else {
                            Source::Default
                        },
                    );
                    Ok(file.unwrap_or(default))
                }
            }
        };
        let auto_lock_minutes = minutes(
            &mut sources,
            "auto_lock_minutes",
            "WINDFLOW_AUTO_LOCK_MINUTES",
            file.auto_lock_minutes,
            15,
        )?;
        let step_up_minutes = minutes(
            &mut sources,
            "step_up_minutes",
            "WINDFLOW_STEP_UP_MINUTES",
            file.step_up_minutes,
            5,
        )?;
        // Relative to the config file's folder, where the specs sit beside it.
        let deployments_dir = match file.deployments_dir {
            Some(d) => config_file.parent().unwrap_or(Path::new(".")).join(d),
            None => base.config.join("deployments"),
        };
        let paths = Paths {
            config_file,
            config_file_exists,
            config_dir: base.config.clone(),
            data_dir,
            state_dir: base.state.clone(),
            log_file: base.state.join("windflow.log"),
            themes_dir: base.config.join("themes"),
            keymaps_dir: base.config.join("keymaps"),
            keymap_overrides: base.config.join("keymap.toml"),
            deployments_dir,
        };
        for (key, var, name, dir, bundled) in [
            (
                "theme",
                "WINDFLOW_THEME",
                &theme,
                &paths.themes_dir,
                &crate::console::theme::BUNDLED[..],
            ),
            (
                "keymap",
                "WINDFLOW_KEYMAP",
                &keymap,
                &paths.keymaps_dir,
                &crate::console::keymap::BUNDLED[..],
            ),
        ] {
            let mut known: Vec<String> = bundled.iter().map(|(n, _)| n.to_string()).collect();
            if let Ok(entries) = std::fs::read_dir(dir) {
                known.extend(entries.flatten().filter_map(|e| {
                    let p = e.path();
                    (p.extension()? == "toml")
                        .then(|| p.file_stem()?.to_str().map(str::to_owned))?
                }));
            }
            known.sort_unstable();
            known.dedup();
            if !known.contains(name) {
                return Err(ConfigError::Invalid(format!(
                    "{key} `{name}` ({}): no such {key}; there are {} (the bundled ones and \
                     {}/*.toml)",
                    origin_of(&sources, &paths.config_file, key, var),
                    known.join(", "),
                    dir.display()
                )));
            }
        }
        Ok(Self {
            operator,
            environment,
            environment_color,
            read_only,
            theme,
            keymap,
            mouse,
            clock,
            log_level,
            auto_lock_minutes,
            step_up_minutes,
            tty_grants,
            paths,
            sources,
        })
    }
}

fn pick_bool(
    sources: &mut BTreeMap<&'static str, Source>,
    key: &'static str,
    var: &str,
    flag: bool,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<bool>,
) -> Result<bool, ConfigError> {
    if flag {
        sources.insert(key, Source::Flag);
        return Ok(true);
    }
    if let Some(v) = env(var).filter(|v| !v.is_empty()) {
        sources.insert(key, Source::Env);
        return match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::Env {
                var: var.into(),
                value: v,
                message: "expected true or false".into(),
            }),
        };
    }
    sources.insert(
        key,
        if file.is_some() {
            Source::File
        } else {
            Source::Default
        },
    );
    Ok(file.unwrap_or(false))
}

/// Parses the config file, locating any error by line and key.
pub fn parse_file(src: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(src).map_err(|e| ConfigError::File(FileError::from_toml(path, src, &e)))
}

/// The tables that domains and the agent own, each checked strictly by its
/// owner: a typo in any table stops every command and the console (exit 2),
/// naming the file, the line, the key and the keys expected.
fn check_tables(src: &str, path: &Path) -> Result<(), ConfigError> {
    let agent: crate::domains::TableCheck = crate::agent::settings::check_table;
    let owned = crate::domains::DOMAINS.iter().filter_map(|d| d.table);
    for (_, check) in owned.chain([("agent", agent)]) {
        check(src, path).map_err(ConfigError::File)?;
    }
    Ok(())
}

/// The `[name]` table of `config`'s file, for the domains that read their own
/// settings; `None` when the file or the table is missing. The file's text is
/// wiped once parsed (a `[secrets]` table may hold a token).
pub fn file_table(config: &Config, name: &str) -> Result<Option<toml::Table>, String> {
    let file = &config.paths.config_file;
    let read = crate::fsutil::read_capped(file, crate::fsutil::CONFIG_CAP, "a config file");
    let Ok(src) = read.map(|b| zeroize::Zeroizing::new(String::from_utf8_lossy(&b).into_owned()))
    else {
        return Ok(None);
    };
    Ok(toml::from_str::<toml::Table>(&src)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .remove(name)
        .and_then(|v| match v {
            toml::Value::Table(t) => Some(t),
            _ => None,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BaseDirs {
        BaseDirs {
            config: "/c/windflow".into(),
            data: "/d/windflow".into(),
            state: "/s/windflow".into(),
        }
    }

    #[test]
    fn every_owned_table_is_a_key_of_the_file_and_is_checked() {
        for (name, check) in crate::domains::DOMAINS
            .iter()
            .filter_map(|d| d.table)
            .chain([(
                "agent",
                crate::agent::settings::check_table as crate::domains::TableCheck,
            )])
        {
            let ok = format!("[{name}]\n");
            parse_file(&ok, Path::new("w.toml")).unwrap_or_else(|e| panic!("[{name}]: {e}"));
            let typo = format!("[{name}]\nno_such_key = 1\n");
            let e = check(&typo, Path::new("w.toml")).unwrap_err();
            assert_eq!(e.line, Some(2), "[{name}]: {e}");
            assert!(e.to_string().contains("no_such_key"), "{e}");
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file = parse_file(
            "theme = \"light\"\nkeymap = \"arrows\"\nread_only = true\nenvironment = \"prod\"\n",
            Path::new("f"),
        )
        .unwrap();
        let env = |k: &str| match k {
            "WINDFLOW_THEME" => Some("high-contrast".to_string()),
            "USER" => Some("alice".to_string()),
            _ => None,
        };
        let flags = Flags {
            theme: Some("terminal".into()),
            ..Flags::default()
        };
        let c = Config::resolve(file.clone(), "f".into(), true, &flags, &env, &base()).unwrap();
        assert_eq!(c.theme, "terminal");
        assert_eq!(c.sources["theme"], Source::Flag);
        assert_eq!(c.keymap, "arrows");
        assert_eq!(c.sources["keymap"], Source::File);
        assert!(c.read_only);
        assert_eq!(c.operator, "alice");
        assert_eq!(c.environment_color, "red");
        assert_eq!(c.paths.data_dir, PathBuf::from("/d/windflow"));
        let c = Config::resolve(file, "f".into(), true, &Flags::default(), &env, &base()).unwrap();
        assert_eq!(
            (c.theme.as_str(), c.sources["theme"]),
            ("high-contrast", Source::Env)
        );
    }

    #[test]
    fn bad_files_name_file_line_and_key() {
        let err = parse_file(
            "theme = \"dark\"\nread_only = \"yes\"\n",
            Path::new("/etc/w.toml"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/etc/w.toml, line 2, key `read_only`"),
            "{text}"
        );
        let err = parse_file("thme = \"dark\"\n", Path::new("w.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("thme"), "{err}");
    }

    #[test]
    fn bad_env_values_are_refused() {
        let env = |k: &str| (k == "WINDFLOW_READ_ONLY").then(|| "maybe".to_string());
        let err = Config::resolve(
            FileConfig::default(),
            "f".into(),
            false,
            &Flags::default(),
            &env,
            &base(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("WINDFLOW_READ_ONLY"), "{err}");
    }
}
