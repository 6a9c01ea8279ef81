//! Frameworks as data: `assets/compliance/*.toml`, shipped in the binary,
//! and files of the same format in `<config dir>/compliance/` that add
//! frameworks or override controls and rules of a shipped one.
//!
//! ```toml
//! id = "gdpr"                         # [a-z0-9-]
//! name = "GDPR"
//! applies_to = "personal_data"        # all, personal_data, phi or card_data
//! [rules]                             # the limits the checks use
//! secret_max_age_days = 90
//! [[controls]]
//! id = "gdpr-art7-consent"            # unique across every framework
//! title = "Consent to processing is managed"
//! reference = "GDPR Art. 7"
//! checks = ["data.consent"]           # or: manual = "the evidence it needs"
//! ```
//!
//! Read strictly: an unknown key, an unknown check, a control with both or
//! neither of `checks` and `manual`, or one id twice is an error naming the
//! file, the line and the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::deployments::DataClasses;
use crate::tomlpos::FileError;

/// The shipped frameworks, in the order they are shown.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "soc2.toml",
        include_str!("../../assets/compliance/soc2.toml"),
    ),
    (
        "gdpr.toml",
        include_str!("../../assets/compliance/gdpr.toml"),
    ),
    (
        "hipaa.toml",
        include_str!("../../assets/compliance/hipaa.toml"),
    ),
    (
        "pci-dss.toml",
        include_str!("../../assets/compliance/pci-dss.toml"),
    ),
];

/// An automated check: what it reads is in [`super::facts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Check {
    SecretsSealed,
    SecretsRotated,
    OperatorsMfa,
    StepUp,
    AutoLock,
    AuditLog,
    AuditChain,
    AuditRetention,
    AuditAlerting,
    IsolationDefaultDeny,
    IsolationPsa,
    IsolationQuota,
    DeployGate,
    ManifestScore,
    SessionLifetime,
    BackendsTls,
    DataProtection,
    DataConsent,
    DataRetention,
}

/// Every check with its name in the framework files.
pub const CHECKS: &[(Check, &str)] = &[
    (Check::SecretsSealed, "secrets.sealed"),
    (Check::SecretsRotated, "secrets.rotated"),
    (Check::OperatorsMfa, "operators.mfa"),
    (Check::StepUp, "auth.step_up"),
    (Check::AutoLock, "auth.auto_lock"),
    (Check::AuditLog, "audit.log"),
    (Check::AuditChain, "audit.chain"),
    (Check::AuditRetention, "audit.retention"),
    (Check::AuditAlerting, "audit.alerting"),
    (Check::IsolationDefaultDeny, "isolation.default_deny"),
    (Check::IsolationPsa, "isolation.psa"),
    (Check::IsolationQuota, "isolation.quota"),
    (Check::DeployGate, "scans.deploy_gate"),
    (Check::ManifestScore, "scans.manifest_score"),
    (Check::SessionLifetime, "sessions.lifetime"),
    (Check::BackendsTls, "backends.tls"),
    (Check::DataProtection, "data.protection_measures"),
    (Check::DataConsent, "data.consent"),
    (Check::DataRetention, "data.retention_policy"),
];

impl Check {
    pub fn name(self) -> &'static str {
        CHECKS
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("?", |(_, n)| n)
    }

    pub fn parse(name: &str) -> Option<Check> {
        CHECKS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The pane where what this check finds is fixed (`None`: in a file,
    /// the deployment's spec or windflow.toml).
    pub fn pane(self) -> Option<&'static str> {
        match self {
            Check::SecretsSealed | Check::SecretsRotated => Some(crate::secrets::pane::ID),
            Check::OperatorsMfa => Some(crate::auth::pane::ID),
            Check::AuditLog | Check::AuditChain | Check::AuditRetention | Check::AuditAlerting => {
                Some(crate::audit::pane::ID)
            }
            Check::IsolationDefaultDeny | Check::IsolationPsa | Check::IsolationQuota => {
                Some(crate::isolation::pane::ID)
            }
            Check::DeployGate | Check::ManifestScore => Some(crate::scans::pane::ID),
            Check::SessionLifetime => Some(crate::sessions::pane::ID),
            Check::StepUp
            | Check::AutoLock
            | Check::BackendsTls
            | Check::DataProtection
            | Check::DataConsent
            | Check::DataRetention => None,
        }
    }
}

/// Which deployments a framework applies to, from the spec's `[data]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    All,
    PersonalData,
    Phi,
    CardData,
}

impl AppliesTo {
    pub fn applies(self, data: &DataClasses) -> bool {
        match self {
            AppliesTo::All => true,
            AppliesTo::PersonalData => data.personal_data,
            AppliesTo::Phi => data.phi,
            AppliesTo::CardData => data.card_data,
        }
    }

    /// Why it does not apply, for a `not_applicable` framework.
    pub fn missing(self) -> &'static str {
        match self {
            AppliesTo::All => "",
            AppliesTo::PersonalData => "the spec's [data] says personal_data = false",
            AppliesTo::Phi => "the spec's [data] says phi = false",
            AppliesTo::CardData => "the spec's [data] says card_data = false",
        }
    }
}

/// The limits a framework's checks use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rules {
    pub secret_max_age_days: u32,
    pub min_manifest_score: u8,
    pub session_idle_max_minutes: u32,
    pub session_max_lifetime_hours: u32,
    pub step_up_max_minutes: u32,
    pub auto_lock_max_minutes: u32,
    pub audit_retention_days: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            secret_max_age_days: 90,
            min_manifest_score: 70,
            session_idle_max_minutes: 60,
            session_max_lifetime_hours: 12,
            step_up_max_minutes: 15,
            auto_lock_max_minutes: 15,
            audit_retention_days: 365,
        }
    }
}

/// How a control is decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Every check must pass.
    Checks(Vec<Check>),
    /// No machine can tell: the evidence it needs.
    Manual(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub reference: String,
    pub how: How,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Framework {
    pub id: String,
    pub name: String,
    pub applies_to: AppliesTo,
    pub rules: Rules,
    pub controls: Vec<Control>,
    /// The files it was read from (`built-in:<name>` for a shipped one).
    pub sources: Vec<String>,
}

mod raw {
    use serde::Deserialize;
    use toml::Spanned;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        pub id: Spanned<String>,
        pub name: Option<Spanned<String>>,
        pub applies_to: Option<super::AppliesTo>,
        pub rules: Option<Rules>,
        #[serde(default)]
        pub controls: Vec<Control>,
    }

    #[derive(Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rules {
        pub secret_max_age_days: Option<u32>,
        pub min_manifest_score: Option<u8>,
        pub session_idle_max_minutes: Option<u32>,
        pub session_max_lifetime_hours: Option<u32>,
        pub step_up_max_minutes: Option<u32>,
        pub auto_lock_max_minutes: Option<u32>,
        pub audit_retention_days: Option<u32>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Control {
        pub id: Spanned<String>,
        pub title: Option<Spanned<String>>,
        pub reference: Option<Spanned<String>>,
        pub checks: Option<Spanned<Vec<Spanned<String>>>>,
        pub manual: Option<Spanned<String>>,
    }
}

/// One file read: a framework, or changes to one already read.
struct Parsed {
    id: Spanned<String>,
    name: Option<Spanned<String>>,
    applies_to: Option<AppliesTo>,
    rules: raw::Rules,
    controls: Vec<(Spanned<String>, ControlParts)>,
}

#[derive(Default)]
struct ControlParts {
    title: Option<String>,
    reference: Option<String>,
    how: Option<How>,
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
        })
}

fn parse_file(path: &Path, src: &str) -> Result<Parsed, FileError> {
    let file: raw::File = toml::from_str(src).map_err(|e| FileError::from_toml(path, src, &e))?;
    let at = |span: std::ops::Range<usize>, key: &str, m: String| {
        FileError::new(path, m).key(key).at(src, span.start)
    };
    let text = |s: &Spanned<String>, key: &str| -> Result<String, FileError> {
        let v = s.get_ref().trim();
        if v.is_empty() || v.chars().any(char::is_control) {
            return Err(at(
                s.span(),
                key,
                format!("`{key}` must be non-empty text on one line"),
            ));
        }
        Ok(v.to_string())
    };
    if !is_id(file.id.get_ref()) {
        return Err(at(
            file.id.span(),
            "id",
            format!(
                "id `{}` must be 1 to 64 characters of a-z, 0-9, `-`, `.` and `_`",
                file.id.get_ref()
            ),
        ));
    }
    if let Some(name) = &file.name {
        text(name, "name")?;
    }
    let mut controls: Vec<(Spanned<String>, ControlParts)> = Vec::new();
    for c in file.controls {
        let id = c.id.get_ref();
        if !is_id(id) {
            return Err(at(
                c.id.span(),
                "controls.id",
                format!(
                    "control id `{id}` must be 1 to 64 characters of a-z, 0-9, `-`, `.` and `_`"
                ),
            ));
        }
        if controls.iter().any(|(other, _)| other.get_ref() == id) {
            return Err(at(
                c.id.span(),
                "controls.id",
                format!("control `{id}` is defined twice in this file"),
            ));
        }
        let mut parts = ControlParts {
            title: c.title.as_ref().map(|t| text(t, "title")).transpose()?,
            reference: c
                .reference
                .as_ref()
                .map(|t| text(t, "reference"))
                .transpose()?,
            how: None,
        };
        parts.how = match (c.checks, c.manual) {
            (Some(_), Some(m)) => {
                return Err(at(
                    m.span(),
                    "manual",
                    format!(
                        "control `{id}` has both `checks` and `manual`: a control is automated or manual"
                    ),
                ));
            }
            (Some(checks), None) => {
                if checks.get_ref().is_empty() {
                    return Err(at(
                        checks.span(),
                        "checks",
                        format!("control `{id}` has no checks: list some, or make it `manual`"),
                    ));
                }
                let mut list = Vec::new();
                for name in checks.get_ref() {
                    let check = Check::parse(name.get_ref()).ok_or_else(|| {
                        let known: Vec<&str> = CHECKS.iter().map(|(_, n)| *n).collect();
                        at(
                            name.span(),
                            "checks",
                            format!(
                                "unknown check `{}` (known: {})",
                                name.get_ref(),
                                known.join(", ")
                            ),
                        )
                    })?;
                    if !list.contains(&check) {
                        list.push(check);
                    }
                }
                Some(How::Checks(list))
            }
            (None, Some(m)) => Some(How::Manual(text(&m, "manual")?)),
            (None, None) => None,
        };
        controls.push((c.id, parts));
    }
    Ok(Parsed {
        id: file.id,
        name: file.name,
        applies_to: file.applies_to,
        rules: file.rules.unwrap_or_default(),
        controls,
    })
}

fn apply_rules(rules: &mut Rules, r: raw::Rules) {
    let set = |v: &mut u32, n: Option<u32>| *v = n.unwrap_or(*v);
    set(&mut rules.secret_max_age_days, r.secret_max_age_days);
    rules.min_manifest_score = r.min_manifest_score.unwrap_or(rules.min_manifest_score);
    set(
        &mut rules.session_idle_max_minutes,
        r.session_idle_max_minutes,
    );
    set(
        &mut rules.session_max_lifetime_hours,
        r.session_max_lifetime_hours,
    );
    set(&mut rules.step_up_max_minutes, r.step_up_max_minutes);
    set(&mut rules.auto_lock_max_minutes, r.auto_lock_max_minutes);
    set(&mut rules.audit_retention_days, r.audit_retention_days);
}

/// Merges one file into the frameworks read so far: a new framework, or
/// changes to the one with its id.
fn merge(
    frameworks: &mut Vec<Framework>,
    path: &Path,
    src: &str,
    source: String,
) -> Result<(), FileError> {
    let p = parse_file(path, src)?;
    let at = |span: std::ops::Range<usize>, key: &str, m: String| {
        FileError::new(path, m).key(key).at(src, span.start)
    };
    let id = p.id.get_ref().clone();
    let index = match frameworks.iter().position(|f| f.id == id) {
        Some(i) => i,
        None => {
            let (Some(name), Some(applies_to)) = (&p.name, p.applies_to) else {
                return Err(at(
                    p.id.span(),
                    "id",
                    format!(
                        "framework `{id}` is new: it needs `name` and `applies_to` \
                         (to change a shipped one, use its id: soc2, gdpr, hipaa, pci-dss)"
                    ),
                ));
            };
            frameworks.push(Framework {
                id: id.clone(),
                name: name.get_ref().trim().to_string(),
                applies_to,
                rules: Rules::default(),
                controls: Vec::new(),
                sources: Vec::new(),
            });
            frameworks.len() - 1
        }
    };
    let f = &mut frameworks[index];
    if let Some(name) = &p.name {
        f.name = name.get_ref().trim().to_string();
    }
    if let Some(a) = p.applies_to {
        f.applies_to = a;
    }
    apply_rules(&mut f.rules, p.rules);
    for (cid, parts) in p.controls {
        match f.controls.iter_mut().find(|c| c.id == *cid.get_ref()) {
            Some(c) => {
                c.title = parts.title.unwrap_or(c.title.clone());
                c.reference = parts.reference.unwrap_or(c.reference.clone());
                c.how = parts.how.unwrap_or(c.how.clone());
            }
            None => {
                let missing: Vec<&str> = [
                    ("title", parts.title.is_none()),
                    ("reference", parts.reference.is_none()),
                    ("checks or manual", parts.how.is_none()),
                ]
                .into_iter()
                .filter_map(|(k, m)| m.then_some(k))
                .collect();
                if !missing.is_empty() {
                    return Err(at(
                        cid.span(),
                        "controls.id",
                        format!(
                            "control `{}` is new to {id}: it needs {}",
                            cid.get_ref(),
                            missing.join(", ")
                        ),
                    ));
                }
                f.controls.push(Control {
                    id: cid.get_ref().clone(),
                    title: parts.title.unwrap_or_default(),
                    reference: parts.reference.unwrap_or_default(),
                    how: parts.how.unwrap_or(How::Manual(String::new())),
                });
            }
        }
    }
    f.sources.push(source);
    // A control id names one control of one framework (evidence and waivers use it).
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for fw in frameworks.iter() {
        for c in &fw.controls {
            if let Some((_, other)) = seen.iter().find(|(cid, _)| *cid == c.id) {
                return Err(FileError::new(
                    path,
                    format!(
                        "control `{}` is in both {other} and {}: control ids are unique across frameworks",
                        c.id, fw.id
                    ),
                )
                .key("controls.id"));
            }
            seen.push((&c.id, &fw.id));
        }
    }
    Ok(())
}

/// The shipped frameworks.
pub fn built_in() -> Vec<Framework> {
    let mut out = Vec::new();
    for (name, src) in BUILT_IN {
        // The shipped files are checked by a test.
        let _ = merge(&mut out, Path::new(name), src, format!("built-in:{name}"));
    }
    out
}

/// The folder of user framework files.
pub fn user_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("compliance")
}

/// The shipped frameworks with the `*.toml` files of `dir` merged in
/// (sorted by name; a missing folder is none). Every bad file is returned.
pub fn load(dir: &Path) -> Result<Vec<Framework>, Vec<FileError>> {
    let mut frameworks = built_in();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(vec![FileError::new(
                dir,
                format!("cannot read the compliance folder: {e}"),
            )]);
        }
    };
    paths.sort();
    let mut errors = Vec::new();
    for path in paths {
        let src = crate::fsutil::read_capped(&path, crate::fsutil::CONFIG_CAP, "a framework file")
            .map_err(|e| FileError::new(&path, e.to_string()))
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| FileError::new(&path, "not UTF-8 text"))
            });
        match src {
            Ok(src) => {
                if let Err(e) = merge(&mut frameworks, &path, &src, path.display().to_string()) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(frameworks)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shipped_framework_parses_and_every_control_is_automated_or_manual() {
        let mut all = Vec::new();
        for (name, src) in BUILT_IN {
            merge(&mut all, Path::new(name), src, format!("built-in:{name}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let ids: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["soc2", "gdpr", "hipaa", "pci-dss"]);
        for f in &all {
            assert!(f.controls.len() >= 8, "{} has few controls", f.id);
            let manual = f
                .controls
                .iter()
                .filter(|c| matches!(&c.how, How::Manual(m) if !m.is_empty()))
                .count();
            let automated = f
                .controls
                .iter()
                .filter(|c| matches!(&c.how, How::Checks(c) if !c.is_empty()))
                .count();
            assert_eq!(manual + automated, f.controls.len(), "{}", f.id);
            assert!(manual > 0 && automated > 0, "{}", f.id);
            for c in &f.controls {
                assert!(!c.title.is_empty() && !c.reference.is_empty(), "{}", c.id);
            }
        }
        assert_eq!(built_in(), all);
    }

    fn err(src: &str) -> String {
        let mut all = built_in();
        merge(&mut all, Path::new("/c/x.toml"), src, "x".into())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let head = "id = \"acme\"\nname = \"Acme\"\napplies_to = \"all\"\n[[controls]]\nid = \"acme-1\"\ntitle = \"T\"\nreference = \"R\"\n";
        assert_eq!(
            err(&format!(
                "{head}checks = [\"secrets.sealed\", \"secrets.saeled\"]\n"
            )),
            "/c/x.toml, line 8, key `checks`: unknown check `secrets.saeled` (known: secrets.sealed, \
             secrets.rotated, operators.mfa, auth.step_up, auth.auto_lock, audit.log, audit.chain, \
             audit.retention, audit.alerting, isolation.default_deny, isolation.psa, \
             isolation.quota, scans.deploy_gate, scans.manifest_score, sessions.lifetime, \
             backends.tls, data.protection_measures, data.consent, data.retention_policy)"
        );
        let both = err(&format!("{head}checks = [\"audit.log\"]\nmanual = \"x\"\n"));
        assert!(
            both.starts_with("/c/x.toml, line 9, key `manual`: control `acme-1` has both"),
            "{both}"
        );
        let neither = err(head);
        assert!(
            neither.contains("line 5, key `controls.id`") && neither.contains("checks or manual"),
            "{neither}"
        );
        let typo = err("id = \"gdpr\"\n[rules]\nsecret_max_age = 30\n");
        assert!(
            typo.starts_with("/c/x.toml, line 3, key `secret_max_age`: unknown field"),
            "{typo}"
        );
        let new = err("id = \"acme\"\n");
        assert!(
            new.contains("line 1, key `id`") && new.contains("needs `name`"),
            "{new}"
        );
        let twice = err(
            "id = \"gdpr\"\n[[controls]]\nid = \"soc2-cc6.1-mfa\"\ntitle = \"T\"\nreference = \"R\"\nmanual = \"m\"\n",
        );
        assert!(twice.contains("in both soc2 and gdpr"), "{twice}");
        let empty = err("id = \"gdpr\"\n[[controls]]\nid = \"gdpr-art7-consent\"\nchecks = []\n");
        assert!(empty.contains("line 4, key `checks`"), "{empty}");
    }

    #[test]
    fn a_user_file_overrides_a_shipped_control_and_adds_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gdpr.toml"),
            "id = \"gdpr\"\n[rules]\nsecret_max_age_days = 30\n\
             [[controls]]\nid = \"gdpr-art7-consent\"\nmanual = \"The consent records.\"\n\
             [[controls]]\nid = \"gdpr-dpo\"\ntitle = \"A DPO is named\"\nreference = \"GDPR Art. 37\"\nmanual = \"Who.\"\n",
        )
        .unwrap();
        let all = load(dir.path()).unwrap();
        let gdpr = all.iter().find(|f| f.id == "gdpr").unwrap();
        assert_eq!(gdpr.rules.secret_max_age_days, 30);
        let consent = gdpr
            .controls
            .iter()
            .find(|c| c.id == "gdpr-art7-consent")
            .unwrap();
        assert_eq!(consent.how, How::Manual("The consent records.".into()));
        assert_eq!(consent.reference, "GDPR Art. 7");
        assert!(gdpr.controls.iter().any(|c| c.id == "gdpr-dpo"));
        assert_eq!(gdpr.sources.len(), 2);
        // A bad file is an error, not a silently shipped framework.
        std::fs::write(dir.path().join("z.toml"), "id = \"soc2\"\nbogus = 1\n").unwrap();
        let errors = load(dir.path()).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .contains("z.toml, line 2, key `bogus`")
        );
    }
}
