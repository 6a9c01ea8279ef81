//! Evaluation: each check of each control against the facts, then the
//! control (`pass`, `fail`, `manual`, `waived`), the framework (`compliant`,
//! `non_compliant`, `incomplete`, `not_applicable`) and the deployment
//! (compliant only when every framework that applies is).
//!
//! A check that has nothing to read (no secret stored, no gate verdict
//! kept, a folder not read whole) is undecided: its control turns `manual`
//! with the reason, and only evidence or a waiver settles it. Nothing here
//! passes what nothing computed.

use serde::Serialize;

use super::facts::{DeploymentFacts, Facts, Read};
use super::framework::{Check, Framework, How, Rules};
use super::records::{self, Evidence, Records, Waiver};
use crate::auth::MfaState;
use crate::isolation::plan::Action;

const DAY: i64 = 86_400;

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Pass {
        detail: String,
    },
    Fail {
        issues: Vec<String>,
        recommendation: String,
    },
    /// Nothing to decide from: evidence is needed.
    Undecided {
        reason: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What it read.
    pub read: String,
    /// When (RFC 3339, UTC).
    pub read_at: String,
    /// The pane where it is fixed, if one is.
    pub pane: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    Pass,
    Fail,
    Manual,
    Waived,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "fail",
            ControlStatus::Manual => "manual",
            ControlStatus::Waived => "waived",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub reference: String,
    pub status: ControlStatus,
    /// A manual control with current evidence, or a pass, or a current waiver.
    pub satisfied: bool,
    pub issues: Vec<String>,
    pub recommendation: Option<String>,
    /// For a manual control: the evidence it needs.
    pub needs: Option<String>,
    pub checks: Vec<CheckResult>,
    pub evidence: Option<Shown<Evidence>>,
    pub waiver: Option<Shown<Waiver>>,
}

impl ControlResult {
    /// The pane that fixes its first failing check.
    pub fn fix_pane(&self) -> Option<&'static str> {
        self.checks
            .iter()
            .filter(|c| !matches!(c.outcome, Outcome::Pass { .. }))
            .find_map(|c| c.pane)
    }
}

/// A record with whether it is current at the time of the check.
#[derive(Clone, Debug, Serialize)]
pub struct Shown<T> {
    #[serde(flatten)]
    pub record: T,
    pub expires: String,
    pub expired: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameworkStatus {
    Compliant,
    NonCompliant,
    Incomplete,
    NotApplicable,
}

impl FrameworkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameworkStatus::Compliant => "compliant",
            FrameworkStatus::NonCompliant => "non_compliant",
            FrameworkStatus::Incomplete => "incomplete",
            FrameworkStatus::NotApplicable => "not_applicable",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FrameworkResult {
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub name: String,
    pub status: FrameworkStatus,
    /// Why it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub controls: Vec<ControlResult>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeploymentResult {
    pub deployment: String,
    pub compliant: bool,
    #[serde(serialize_with = "by_name")]
    pub frameworks: Vec<FrameworkResult>,
    pub recommendations: Vec<String>,
    pub checked_at: String,
    /// The images its services run (what the deploy gate judges).
    #[serde(skip)]
    pub images: Vec<String>,
}

fn by_name<S: serde::Serializer>(f: &[FrameworkResult], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(f.len()))?;
    for r in f {
        map.serialize_entry(&r.name, r)?;
    }
    map.end()
}

pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix.to_string())
}

fn pass(detail: impl Into<String>) -> Outcome {
    Outcome::Pass {
        detail: detail.into(),
    }
}

fn fail(issues: Vec<String>, recommendation: impl Into<String>) -> Outcome {
    Outcome::Fail {
        issues,
        recommendation: recommendation.into(),
    }
}

fn undecided(reason: impl Into<String>) -> Outcome {
    Outcome::Undecided {
        reason: reason.into(),
    }
}

/// Runs one check for one deployment.
pub fn run_check(
    check: Check,
    d: &DeploymentFacts,
    facts: &Facts,
    rules: &Rules,
    now: i64,
) -> CheckResult {
    let id = &d.spec.id;
    let (outcome, read): (Outcome, &Read) = match check {
        Check::SecretsSealed | Check::SecretsRotated => {
            let outcome = match &d.secrets {
                Err(e) => undecided(e.clone()),
                Ok(list) if list.is_empty() => undecided(format!(
                    "no secret under deployments/{id} in the secrets store: nothing to check"
                )),
                Ok(list) if check == Check::SecretsSealed => {
                    let bad: Vec<String> = list
                        .iter()
                        .filter_map(|s| s.sealed.as_ref().err().map(|e| format!("{}: {e}", s.path)))
                        .collect();
                    if bad.is_empty() {
                        pass(format!(
                            "{} secrets, every value opens only with the keyring for deployment:{id}",
                            list.len()
                        ))
                    } else {
                        fail(
                            bad,
                            "write the secret again through windflow (`windflow secrets put`) so that the envelope seals it",
                        )
                    }
                }
                Ok(list) => {
                    let max = i64::from(rules.secret_max_age_days);
                    let old: Vec<String> = list
                        .iter()
                        .filter(|s| s.sealed.is_ok() && now - s.written_at > max * DAY)
                        .map(|s| {
                            format!(
                                "{} was last changed {} days ago (version {}, {}): more than {max}",
                                s.path,
                                (now - s.written_at) / DAY,
                                s.version,
                                rfc3339(s.written_at)
                            )
                        })
                        .collect();
                    let unreadable = list.iter().filter(|s| s.sealed.is_err()).count();
                    if !old.is_empty() {
                        fail(
                            old,
                            format!(
                                "rotate them (`windflow secrets rotate PATH`, or a [[secrets.rotation]] rule) at least every {max} days"
                            ),
                        )
                    } else if unreadable > 0 {
                        undecided(format!(
                            "{unreadable} secrets could not be read: their age is unknown"
                        ))
                    } else {
                        let newest_oldest = list.iter().map(|s| s.written_at).min().unwrap_or(now);
                        pass(format!(
                            "{} secrets, the oldest changed {} days ago (at most {max})",
                            list.len(),
                            (now - newest_oldest) / DAY
                        ))
                    }
                }
            };
            (outcome, &d.secrets_read)
        }
        Check::OperatorsMfa => {
            let outcome = match &facts.operators {
                Err(e) => undecided(format!("the operators could not be read: {e}")),
                Ok(ops) if ops.is_empty() => undecided("no operator in the store: nobody to check"),
                Ok(ops) => {
                    let bad: Vec<String> = ops
                        .iter()
                        .filter(|o| o.mfa != MfaState::Active)
                        .map(|o| {
                            format!(
                                "operator {} ({}) has no active second factor ({})",
                                o.name,
                                o.role,
                                o.mfa.as_str()
                            )
                        })
                        .collect();
                    if bad.is_empty() {
                        pass(format!(
                            "{} operators, each with an active second factor",
                            ops.len()
                        ))
                    } else {
                        fail(
                            bad,
                            "enrol their second factor (`windflow mfa enroll NAME`) or remove them (`windflow operators remove NAME`)",
                        )
                    }
                }
            };
            (outcome, &facts.operators_read)
        }
        Check::StepUp => {
            let m = facts.settings.step_up_minutes;
            let max = u64::from(rules.step_up_max_minutes);
            let outcome = if m == 0 || m > max {
                fail(
                    vec![format!("a step-up grant lasts {m} minutes (at most {max})")],
                    format!("set step_up_minutes to {max} or less in windflow.toml"),
                )
            } else {
                pass(format!(
                    "sensitive actions need a fresh code or a grant of at most {m} minutes"
                ))
            };
            (outcome, &facts.settings.read)
        }
        Check::AutoLock => {
            let m = facts.settings.auto_lock_minutes;
            let max = u64::from(rules.auto_lock_max_minutes);
            let outcome = if m == 0 {
                fail(
                    vec!["the console never locks itself (auto_lock_minutes = 0)".into()],
                    format!("set auto_lock_minutes to {max} or less in windflow.toml"),
                )
            } else if m > max {
                fail(
                    vec![format!(
                        "the console locks after {m} idle minutes (at most {max})"
                    )],
                    format!("set auto_lock_minutes to {max} or less in windflow.toml"),
                )
            } else {
                pass(format!("the console locks after {m} idle minutes"))
            };
            (outcome, &facts.settings.read)
        }
        Check::AuditLog | Check::AuditChain | Check::AuditRetention => {
            let a = &facts.audit;
            let outcome = match (&a.log, check) {
                (Err(e), _) => undecided(e.clone()),
                (Ok((_, months)), Check::AuditLog) if months.is_empty() => fail(
                    vec![format!(
                        "the audit log in {} holds no record",
                        a.dir.display()
                    )],
                    "record security events: every windflow command and the console write to the log of the data dir",
                ),
                (Ok((_, months)), Check::AuditLog) => pass(format!(
                    "the local log records events ({} months){}",
                    months.len(),
                    a.elasticsearch
                        .as_ref()
                        .map(|e| format!(", shipped to {e}"))
                        .unwrap_or_default()
                )),
                (Ok((_, months)), _) if months.is_empty() => {
                    undecided("the audit log holds no record to check")
                }
                (Ok((records, months)), Check::AuditChain) => match &a.chain {
                    Ok(()) => pass(format!(
                        "{records} records in {} months verified against the chain and its heads",
                        months.len()
                    )),
                    Err((reason, true)) => undecided(format!("cannot verify: {reason}")),
                    Err((reason, false)) => fail(
                        vec![format!("the chain breaks: {reason}")],
                        "investigate with `windflow audit verify`: a record was changed, removed or added",
                    ),
                },
                (Ok((_, months)), _) => {
                    if a.chain.is_err() {
                        fail(
                            vec![
                                "the log's chain does not verify: what it keeps cannot be trusted"
                                    .into(),
                            ],
                            "investigate with `windflow audit verify`",
                        )
                    } else {
                        pass(format!(
                            "windflow deletes no month of the log; the oldest kept is {} (at least {} days are to be kept)",
                            months.first().map_or("-", |m| m.as_str()),
                            rules.audit_retention_days
                        ))
                    }
                }
            };
            (outcome, &a.read)
        }
        Check::AuditAlerting => {
            let a = &facts.audit;
            let outcome = if a.channels.is_empty() {
                fail(
                    vec!["no alert channel is configured: nobody hears of a critical event".into()],
                    "add an [[audit.channels]] entry (webhook, slack or email) to windflow.toml",
                )
            } else {
                pass(format!(
                    "{} alert channels ({}), {} rules",
                    a.channels.len(),
                    a.channels.join(", "),
                    a.rules.max(1)
                ))
            };
            (outcome, &a.read)
        }
        Check::IsolationDefaultDeny | Check::IsolationPsa | Check::IsolationQuota => {
            let s = &d.isolation;
            let outcome = if !facts.cluster_problems.is_empty() {
                undecided(format!(
                    "the cluster folder could not be read whole: {}",
                    facts.cluster_problems[0]
                ))
            } else if !s.namespace_present {
                fail(
                    vec![format!(
                        "namespace {} does not exist: the isolation plan is not applied",
                        s.namespace
                    )],
                    format!(
                        "apply the plan: `windflow isolate plan {id}` (folder) or `windflow isolate apply {id}`"
                    ),
                )
            } else {
                isolation_outcome(check, d)
            };
            (outcome, &d.cluster_read)
        }
        Check::DeployGate => (gate_outcome(d), &d.gate_read),
        Check::ManifestScore => {
            let m = &d.manifests;
            let min = rules.min_manifest_score;
            let outcome = if !facts.cluster_problems.is_empty() {
                undecided(format!(
                    "the cluster folder could not be read whole: {}",
                    facts.cluster_problems[0]
                ))
            } else {
                match m.score {
                    None => undecided(format!(
                        "no workload manifest in namespace {} of the cluster folder: nothing scored",
                        d.isolation.namespace
                    )),
                    Some(score) if score < min => fail(
                        vec![format!(
                            "the manifests of {} score {score} (at least {min}): {} findings",
                            d.isolation.namespace,
                            m.findings.len()
                        )],
                        "fix the findings of `windflow scan manifests` on the deployment's manifests",
                    ),
                    Some(score) => pass(format!(
                        "{} objects score {score} (at least {min})",
                        m.objects.len()
                    )),
                }
            };
            (outcome, &d.cluster_read)
        }
        Check::SessionLifetime => {
            let st = &facts.settings;
            let idle_max = u64::from(rules.session_idle_max_minutes);
            let life_max = u64::from(rules.session_max_lifetime_hours) * 60;
            let outcome = match &st.session_max_lifetime {
                Err(e) => undecided(e.clone()),
                Ok(life) => {
                    let mut issues = Vec::new();
                    if st.session_idle_minutes > idle_max {
                        issues.push(format!(
                            "sessions live {} idle minutes (at most {idle_max})",
                            st.session_idle_minutes
                        ));
                    }
                    if *life > life_max {
                        issues.push(format!(
                            "sessions may last {} hours however active (at most {})",
                            life / 60,
                            life_max / 60
                        ));
                    }
                    if issues.is_empty() {
                        pass(format!(
                            "sessions end after {} idle minutes, and {} minutes after they begin",
                            st.session_idle_minutes, life
                        ))
                    } else {
                        fail(
                            issues,
                            format!(
                                "set [sessions] max_lifetime to {}h or less in windflow.toml",
                                life_max / 60
                            ),
                        )
                    }
                }
            };
            (outcome, &st.read)
        }
        Check::BackendsTls => {
            let st = &facts.settings;
            let plain: Vec<String> = st
                .remotes
                .iter()
                .filter(|r| !r.tls)
                .map(|r| format!("{} is reached without TLS: {}", r.what, r.target))
                .collect();
            let outcome = if !plain.is_empty() {
                fail(
                    plain,
                    "use https://, rediss:// or smtps:// addresses for every backend",
                )
            } else if st.remotes.is_empty() {
                pass("every backend is embedded in the data dir: nothing crosses a network")
            } else {
                pass(format!("{} backends, each over TLS", st.remotes.len()))
            };
            (outcome, &st.read)
        }
        Check::DataProtection | Check::DataConsent | Check::DataRetention => {
            (data_outcome(check, d), &d.cluster_read)
        }
    };
    let read = match check {
        Check::DataProtection | Check::DataConsent | Check::DataRetention => Read {
            what: format!("[data] of {}", d.file.display()),
            at: read.at,
        },
        _ => read.clone(),
    };
    CheckResult {
        check: check.name(),
        outcome,
        read: read.what,
        read_at: rfc3339(read.at),
        pane: check.pane(),
    }
}

fn isolation_outcome(check: Check, d: &DeploymentFacts) -> Outcome {
    let s = &d.isolation;
    let id = &d.spec.id;
    let apply = format!(
        "apply the plan: `windflow isolate plan {id}` (folder) or `windflow isolate apply {id}`"
    );
    match check {
        Check::IsolationDefaultDeny => {
            let mut issues = Vec::new();
            for (denied, dir) in [(s.ingress_denied, "ingress"), (s.egress_denied, "egress")] {
                if !denied {
                    issues.push(format!(
                        "{dir} is not denied by default in {}: no policy denies it to every pod",
                        s.namespace
                    ));
                }
            }
            if issues.is_empty() {
                pass(format!(
                    "{}: ingress and egress denied by default",
                    s.namespace
                ))
            } else {
                fail(issues, apply)
            }
        }
        Check::IsolationPsa => {
            let levels: Vec<String> = s
                .psa
                .levels
                .iter()
                .map(|(m, l)| format!("{m} {}", l.as_deref().unwrap_or("unset")))
                .collect();
            if s.psa.lowered {
                fail(
                    vec![format!(
                        "Pod Security in {} is below restricted: {}",
                        s.namespace,
                        levels.join(", ")
                    )],
                    apply,
                )
            } else {
                pass(format!("Pod Security: {}", levels.join(", ")))
            }
        }
        _ => {
            let missing = s
                .diff
                .changes
                .iter()
                .any(|c| c.kind == "ResourceQuota" && c.action == Action::Create);
            if missing {
                fail(
                    vec![format!("namespace {} has no ResourceQuota", s.namespace)],
                    apply,
                )
            } else {
                pass(format!(
                    "{} has its quota{}",
                    s.namespace,
                    if s.quota_warnings.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} resources over 80 % used)", s.quota_warnings.len())
                    }
                ))
            }
        }
    }
}

/// The seed's GDPR rules on the spec's `[data]`.
fn data_outcome(check: Check, d: &DeploymentFacts) -> Outcome {
    let data = &d.spec.data;
    let file = d.file.display();
    let holds = if data.phi {
        "health data (PHI)"
    } else if data.personal_data {
        "personal data"
    } else {
        "data"
    };
    match check {
        Check::DataProtection => {
            if data.protection_measures.is_empty() {
                fail(
                    vec![format!("{holds} without protection measures")],
                    format!(
                        "list the measures in [data] protection_measures of {file} (encryption-at-rest, pseudonymisation, ...)"
                    ),
                )
            } else {
                pass(format!(
                    "protection measures: {}",
                    data.protection_measures.join(", ")
                ))
            }
        }
        Check::DataConsent => {
            if data.consent_management {
                pass("consent management: yes")
            } else {
                fail(
                    vec![format!("{holds} without consent management")],
                    format!("manage consent, then set [data] consent_management = true in {file}"),
                )
            }
        }
        _ => match data.retention_days {
            Some(days) => pass(format!("retention policy: {days} days")),
            None => fail(
                vec![format!("{holds} without a retention policy")],
                format!("set [data] retention_days in {file}"),
            ),
        },
    }
}

fn shown<T>(record: T, expires_at: i64, now: i64) -> Shown<T> {
    Shown {
        record,
        expires: rfc3339(expires_at),
        expired: !records::current(expires_at, now),
    }
}

/// One control for one deployment.
pub fn control(
    c: &super::framework::Control,
    d: &DeploymentFacts,
    facts: &Facts,
    rules: &Rules,
    recs: &Records,
    now: i64,
) -> ControlResult {
    let id = &d.spec.id;
    let mut out = ControlResult {
        id: c.id.clone(),
        title: c.title.clone(),
        reference: c.reference.clone(),
        status: ControlStatus::Pass,
        satisfied: true,
        issues: Vec::new(),
        recommendation: None,
        needs: None,
        checks: Vec::new(),
        evidence: recs
            .evidence_for(id, &c.id)
            .map(|e| shown(e.clone(), e.expires_at, now)),
        waiver: recs
            .waiver_for(id, &c.id)
            .map(|w| shown(w.clone(), w.expires_at, now)),
    };
    match &c.how {
        How::Manual(needs) => {
            out.status = ControlStatus::Manual;
            out.needs = Some(needs.clone());
        }
        How::Checks(checks) => {
            out.checks = checks
                .iter()
                .map(|ch| run_check(*ch, d, facts, rules, now))
                .collect();
            let mut recs_text = Vec::new();
            for r in &out.checks {
                if let Outcome::Fail {
                    issues,
                    recommendation,
                } = &r.outcome
                {
                    out.status = ControlStatus::Fail;
                    out.issues.extend(issues.iter().cloned());
                    recs_text.push(recommendation.clone());
                }
            }
            if out.status != ControlStatus::Fail {
                let mut reasons: Vec<String> = Vec::new();
                for r in &out.checks {
                    if let Outcome::Undecided { reason } = &r.outcome
                        && !reasons.contains(reason)
                    {
                        reasons.push(reason.clone());
                    }
                }
                if !reasons.is_empty() {
                    out.status = ControlStatus::Manual;
                    out.needs = Some(format!(
                        "evidence for what no check could decide: {}",
                        reasons.join("; ")
                    ));
                }
            }
            if !recs_text.is_empty() {
                out.recommendation = Some(recs_text.join("; "));
            }
        }
    }
    if out.status == ControlStatus::Manual {
        match &out.evidence {
            Some(e) if !e.expired => {}
            Some(e) => {
                out.satisfied = false;
                out.issues
                    .push(format!("the evidence expired on {}", e.expires));
            }
            None => {
                out.satisfied = false;
                out.issues.push("no evidence attached".into());
            }
        }
        if !out.satisfied && out.recommendation.is_none() {
            out.recommendation = Some(format!(
                "attach evidence: `windflow compliance evidence add {id} {} --link URL --note TEXT --expires 365d`",
                c.id
            ));
        }
    }
    if out.status == ControlStatus::Fail {
        out.satisfied = false;
    }
    if !out.satisfied
        && let Some(w) = &out.waiver
    {
        if w.expired {
            out.issues
                .push(format!("the waiver expired on {}", w.expires));
        } else {
            out.status = ControlStatus::Waived;
            out.satisfied = true;
        }
    }
    out
}

/// One framework for one deployment.
pub fn framework(
    f: &Framework,
    d: &DeploymentFacts,
    facts: &Facts,
    recs: &Records,
    now: i64,
) -> FrameworkResult {
    if !f.applies_to.applies(&d.spec.data) {
        return FrameworkResult {
            id: f.id.clone(),
            name: f.name.clone(),
            status: FrameworkStatus::NotApplicable,
            reason: Some(f.applies_to.missing().to_string()),
            controls: Vec::new(),
        };
    }
    let controls: Vec<ControlResult> = f
        .controls
        .iter()
        .map(|c| control(c, d, facts, &f.rules, recs, now))
        .collect();
    let status = if controls.iter().any(|c| c.status == ControlStatus::Fail) {
        FrameworkStatus::NonCompliant
    } else if controls.iter().any(|c| !c.satisfied) {
        FrameworkStatus::Incomplete
    } else {
        FrameworkStatus::Compliant
    };
    FrameworkResult {
        id: f.id.clone(),
        name: f.name.clone(),
        status,
        reason: None,
        controls,
    }
}

/// One deployment against `frameworks`.
pub fn deployment(
    frameworks: &[Framework],
    d: &DeploymentFacts,
    facts: &Facts,
    recs: &Records,
    now: i64,
) -> DeploymentResult {
    let results: Vec<FrameworkResult> = frameworks
        .iter()
        .map(|f| framework(f, d, facts, recs, now))
        .collect();
    let compliant = results
        .iter()
        .any(|r| r.status != FrameworkStatus::NotApplicable)
        && results.iter().all(|r| {
            matches!(
                r.status,
                FrameworkStatus::Compliant | FrameworkStatus::NotApplicable
            )
        });
    let mut recommendations: Vec<String> = Vec::new();
    for r in &results {
        for c in &r.controls {
            if let (false, Some(rec)) = (c.satisfied, &c.recommendation)
                && c.status == ControlStatus::Fail
                && !recommendations.contains(rec)
            {
                recommendations.push(rec.clone());
            }
        }
    }
    let manual = results
        .iter()
        .flat_map(|r| &r.controls)
        .filter(|c| c.status == ControlStatus::Manual && !c.satisfied)
        .count();
    if manual > 0 {
        recommendations.push(format!(
            "attach evidence (or a waiver) for {manual} manual controls: `windflow compliance evidence add {} CONTROL --link URL --note TEXT --expires 365d`",
            d.spec.id
        ));
    }
    DeploymentResult {
        deployment: d.spec.id.clone(),
        compliant,
        frameworks: results,
        recommendations,
        checked_at: rfc3339(now),
        images: d.gate.iter().map(|(image, _)| image.clone()).collect(),
    }
}

/// The deploy gate over the latest verdict of each image the deployment
/// runs: a block fails it; an image never judged, judged with no verdict or
/// judged on part of its scans leaves it undecided; all allowed passes.
fn gate_outcome(d: &DeploymentFacts) -> Outcome {
    let id = &d.spec.id;
    if d.gate.is_empty() {
        return undecided(format!("{id} names no image: nothing to judge"));
    }
    let mut blocked = Vec::new();
    let mut open = Vec::new();
    for (image, kept) in &d.gate {
        match kept {
            Err(e) => open.push(format!("{image}: {e}")),
            Ok(None) => open.push(format!("{image}: never judged by the deploy gate")),
            Ok(Some(k)) if k.decision == "blocked" => blocked.push(format!(
                "{image} is blocked by the deploy gate ({} critical, {} high; {})",
                k.critical, k.high, k.at
            )),
            Ok(Some(k)) if k.decision != "allowed" => open.push(format!(
                "{image}: no verdict at {} (every scan failed)",
                k.at
            )),
            Ok(Some(k)) if k.partial => open.push(format!(
                "{image}: allowed at {} on part of its scans ({} failed)",
                k.at,
                k.failed.join(", ")
            )),
            Ok(Some(_)) => {}
        }
    }
    if !blocked.is_empty() {
        return fail(
            blocked,
            "fix or waive the findings, then scan again: `windflow scan image IMAGE`",
        );
    }
    if !open.is_empty() {
        return undecided(format!(
            "{}; scan each image: `windflow scan image IMAGE` (or `scan report` in the pipeline)",
            open.join("; ")
        ));
    }
    let oldest = d
        .gate
        .iter()
        .filter_map(|(_, k)| {
            k.as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|k| k.at.as_str())
        })
        .min()
        .unwrap_or_default();
    pass(format!(
        "every image allowed by the deploy gate: {} (oldest verdict {oldest})",
        d.gate
            .iter()
            .map(|(i, _)| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::facts::{AuditFacts, SettingsFacts};
    use crate::compliance::framework::built_in;
    use crate::isolation::{plan, state::ClusterState, status};

    const NOW: i64 = 1_800_000_000;

    fn spec(data: &str) -> crate::deployments::Deployment {
        let src = format!(
            "id = \"shop\"\nowner = \"t\"\nenvironment = \"prod\"\n[data]\n{data}\n\
             [resources]\ncpu = \"1\"\nmemory = \"1Gi\"\npods = 2\n"
        );
        crate::deployments::parse(std::path::Path::new("/specs/shop.toml"), &src).unwrap()
    }

    fn read() -> Read {
        Read {
            what: "test".into(),
            at: NOW,
        }
    }

    fn facts(data: &str) -> Facts {
        let spec = spec(data);
        let d = DeploymentFacts {
            isolation: status::status(&plan::plan(&spec), &ClusterState::default()),
            spec,
            file: "/specs/shop.toml".into(),
            secrets: Ok(Vec::new()),
            secrets_read: read(),
            manifests: Default::default(),
            cluster_read: read(),
            gate: Vec::new(),
            gate_read: read(),
        };
        Facts {
            deployments: vec![d],
            operators: Ok(Vec::new()),
            operators_read: read(),
            audit: AuditFacts {
                dir: "/data/audit".into(),
                log: Ok((0, Vec::new())),
                chain: Ok(()),
                channels: Vec::new(),
                rules: 0,
                elasticsearch: None,
                read: read(),
            },
            settings: SettingsFacts {
                step_up_minutes: 5,
                auto_lock_minutes: 15,
                session_idle_minutes: 60,
                session_max_lifetime: Ok(720),
                remotes: Vec::new(),
                read: read(),
            },
            cluster_problems: Vec::new(),
        }
    }

    fn gdpr(f: &Facts, recs: &Records) -> FrameworkResult {
        let fw = built_in().into_iter().find(|f| f.id == "gdpr").unwrap();
        framework(&fw, &f.deployments[0], f, recs, NOW)
    }

    fn control_of<'a>(r: &'a FrameworkResult, id: &str) -> &'a ControlResult {
        r.controls.iter().find(|c| c.id == id).unwrap()
    }

    const FULL: &str = "personal_data = true\nphi = false\ncard_data = false\nretention_days = 30\n\
                        consent_management = true\nprotection_measures = [\"encryption-at-rest\"]";

    #[test]
    fn the_seed_gdpr_cases_each_produce_their_issue() {
        let ok = gdpr(&facts(FULL), &Records::default());
        for id in [
            "gdpr-art32-measures",
            "gdpr-art7-consent",
            "gdpr-art5-retention",
        ] {
            assert_eq!(control_of(&ok, id).status, ControlStatus::Pass, "{id}");
        }
        for (data, id, issue) in [
            (
                FULL.replace("[\"encryption-at-rest\"]", "[]"),
                "gdpr-art32-measures",
                "personal data without protection measures",
            ),
            (
                FULL.replace("consent_management = true", "consent_management = false"),
                "gdpr-art7-consent",
                "personal data without consent management",
            ),
            (
                FULL.replace("retention_days = 30\n", ""),
                "gdpr-art5-retention",
                "personal data without a retention policy",
            ),
        ] {
            let r = gdpr(&facts(&data), &Records::default());
            let c = control_of(&r, id);
            assert_eq!(c.status, ControlStatus::Fail, "{id}");
            assert_eq!(c.issues, [issue]);
            assert!(c.recommendation.as_deref().unwrap().contains("[data]"));
            assert_eq!(r.status, FrameworkStatus::NonCompliant);
            // Only that control fails of the three.
            let failing: Vec<&str> = r
                .controls
                .iter()
                .filter(|c| c.checks.iter().any(|k| k.check.starts_with("data.")))
                .filter(|c| c.status == ControlStatus::Fail)
                .map(|c| c.id.as_str())
                .collect();
            assert_eq!(failing, [id]);
        }
    }

    #[test]
    fn applicability_follows_the_data_classes() {
        let all = built_in();
        let status_of = |data: &str| -> Vec<(String, FrameworkStatus)> {
            let f = facts(data);
            deployment(&all, &f.deployments[0], &f, &Records::default(), NOW)
                .frameworks
                .into_iter()
                .map(|r| (r.id, r.status))
                .collect()
        };
        let na = |v: &[(String, FrameworkStatus)], id: &str| {
            v.iter()
                .any(|(i, s)| i == id && *s == FrameworkStatus::NotApplicable)
        };
        let none = status_of("personal_data = false\nphi = false\ncard_data = false");
        assert!(
            !na(&none, "soc2") && na(&none, "gdpr") && na(&none, "hipaa") && na(&none, "pci-dss")
        );
        let phi = status_of("personal_data = false\nphi = true\ncard_data = false");
        assert!(!na(&phi, "hipaa") && na(&phi, "gdpr") && na(&phi, "pci-dss"));
        let card = status_of("personal_data = true\nphi = false\ncard_data = true");
        assert!(!na(&card, "pci-dss") && !na(&card, "gdpr") && na(&card, "hipaa"));
        // A framework that does not apply has no controls and says why.
        let f = facts("personal_data = false\nphi = false\ncard_data = false");
        let r = gdpr(&f, &Records::default());
        assert!(r.controls.is_empty());
        assert!(r.reason.unwrap().contains("personal_data = false"));
    }

    #[test]
    fn evidence_and_waivers_count_only_until_they_expire() {
        let f = facts(FULL);
        let mut recs = Records::default();
        let id = "gdpr-art30-records";
        assert!(!control_of(&gdpr(&f, &recs), id).satisfied);
        recs.evidence.push(Evidence {
            deployment: "shop".into(),
            control: id.into(),
            link: "https://wiki.example/ropa".into(),
            note: "RoPA 2026".into(),
            by: "alice".into(),
            added_at: NOW - 10,
            expires_at: NOW + 10,
        });
        let c = control_of(&gdpr(&f, &recs), id).clone();
        assert_eq!((c.status, c.satisfied), (ControlStatus::Manual, true));
        recs.evidence[0].expires_at = NOW;
        let c = control_of(&gdpr(&f, &recs), id).clone();
        assert!(!c.satisfied && c.evidence.unwrap().expired);
        assert!(c.issues.iter().any(|i| i.contains("evidence expired")));

        // A waiver turns a failing control `waived` until it expires.
        let failing =
            facts(&FULL.replace("consent_management = true", "consent_management = false"));
        recs.waivers.push(Waiver {
            deployment: "shop".into(),
            control: "gdpr-art7-consent".into(),
            reason: "consent handled by the shop".into(),
            by: "alice".into(),
            granted_at: NOW - 10,
            expires_at: NOW + 1,
        });
        let c = control_of(&gdpr(&failing, &recs), "gdpr-art7-consent").clone();
        assert_eq!((c.status, c.satisfied), (ControlStatus::Waived, true));
        assert_eq!(c.issues, ["personal data without consent management"]);
        recs.waivers[0].expires_at = NOW - 1;
        let c = control_of(&gdpr(&failing, &recs), "gdpr-art7-consent").clone();
        assert_eq!(c.status, ControlStatus::Fail);
        assert!(c.issues.iter().any(|i| i.contains("waiver expired")));
    }

    #[test]
    fn nothing_to_read_is_never_a_pass() {
        let f = facts(FULL);
        let r = gdpr(&f, &Records::default());
        // No secret, no operator, no audit record: undecided, so manual.
        let enc = control_of(&r, "gdpr-art32-encryption");
        assert_eq!(enc.status, ControlStatus::Manual);
        assert!(
            enc.needs
                .as_deref()
                .unwrap()
                .contains("no secret under deployments/shop")
        );
        assert_ne!(r.status, FrameworkStatus::Compliant);
        // The empty audit log fails outright.
        let det = control_of(&r, "gdpr-art33-detection");
        assert_eq!(det.status, ControlStatus::Fail);
    }

    #[test]
    fn the_deploy_gate_reads_the_latest_verdict_of_each_image() {
        use crate::scans::verdicts::Kept;
        let kept = |image: &str, decision: &str, partial: bool| Kept {
            image: image.into(),
            decision: decision.into(),
            partial,
            critical: usize::from(decision == "blocked"),
            high: 0,
            failed: if partial {
                vec!["grype".into()]
            } else {
                Vec::new()
            },
            at: "2026-12-04T10:00:00Z".into(),
            by: None,
        };
        let mut f = facts("personal_data = false\nphi = false\ncard_data = false");
        let d = &mut f.deployments[0];
        let pass_all = vec![
            ("a:1".to_owned(), Ok(Some(kept("a:1", "allowed", false)))),
            ("b:1".to_owned(), Ok(Some(kept("b:1", "allowed", false)))),
        ];
        d.gate = pass_all.clone();
        assert!(matches!(gate_outcome(d), Outcome::Pass { .. }));
        for (second, want) in [
            (Ok(Some(kept("b:1", "blocked", false))), "fail"),
            (Ok(Some(kept("b:1", "no_verdict", false))), "undecided"),
            (Ok(Some(kept("b:1", "allowed", true))), "undecided"),
            (Ok(None), "undecided"),
            (Err("unreadable".to_owned()), "undecided"),
        ] {
            d.gate = vec![pass_all[0].clone(), ("b:1".to_owned(), second)];
            let got = match gate_outcome(d) {
                Outcome::Pass { .. } => "pass",
                Outcome::Fail { issues, .. } => {
                    assert!(issues[0].contains("b:1"), "{issues:?}");
                    "fail"
                }
                Outcome::Undecided { reason } => {
                    assert!(reason.contains("b:1"), "{reason}");
                    "undecided"
                }
            };
            assert_eq!(got, want, "{:?}", d.gate[1]);
        }
        d.gate = Vec::new();
        assert!(matches!(gate_outcome(d), Outcome::Undecided { .. }));
    }
}
