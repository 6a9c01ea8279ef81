//! `--read-only` (or `read_only = true`, `WINDFLOW_READ_ONLY`) for the
//! headless commands: what each command changes, checked before any of them
//! runs. The matches are exhaustive, so a new command does not build until
//! it is placed on one side or the other; a domain's subcommand states it
//! through [`super::plug::Subcommand::changes`].
//! (The console enforces read-only on its own actions.)

use super::audit::{AlertsCommand, AuditCommand};
use super::auth::{CryptoCommand, MfaCommand, OperatorsCommand};
use super::scans::ScanCommand;
use super::secrets::SecretsCommand;
use super::sessions::SessionsCommand;
use super::{AgentCommand, CliError, Command, ConfigCommand};

/// Refuses (exit 3) a command that changes state while read-only is on;
/// `changes` is the command's name and what it changes (see [`changes`]
/// and each domain command's `changes`).
pub fn check(read_only: bool, changes: Option<(&str, &str)>) -> Result<(), CliError> {
    match changes {
        Some((name, what)) if read_only => Err(CliError::Refused(format!(
            "read-only mode: `windflow {name}` {what}; run without --read-only \
             (and without read_only in windflow.toml or WINDFLOW_READ_ONLY)"
        ))),
        _ => Ok(()),
    }
}

/// The console's own command's name and what it changes, or `None` for a
/// command that only reads.
pub fn changes(command: &Command) -> Option<(&'static str, &'static str)> {
    match command {
        Command::Config {
            command: ConfigCommand::Show { .. },
        }
        | Command::Completions { .. }
        | Command::Deployments { .. } => None,
        Command::Init { .. } => Some(("init", "prepares the data dir (store and master key)")),
        Command::Agent { command: None, .. } => Some((
            "agent",
            "delivers alerts, ships events and finishes rotations",
        )),
        Command::Agent {
            command: Some(AgentCommand::Status { .. }),
            ..
        } => None,
    }
}

pub fn operators(command: &OperatorsCommand) -> Option<(&'static str, &'static str)> {
    match command {
        OperatorsCommand::List { .. } => None,
        OperatorsCommand::Add { .. } => Some(("operators add", "adds an operator")),
        OperatorsCommand::Remove { .. } => Some(("operators remove", "removes an operator")),
        OperatorsCommand::SetRole { .. } => {
            Some(("operators set-role", "changes an operator's role"))
        }
    }
}

pub fn audit(command: &AuditCommand) -> Option<(&'static str, &'static str)> {
    match command {
        AuditCommand::Log(_) => Some(("audit log", "records an event in the audit log")),
        AuditCommand::Tail(_)
        | AuditCommand::Search(_)
        | AuditCommand::Show { .. }
        | AuditCommand::Verify { .. }
        | AuditCommand::Alerts {
            command: AlertsCommand::List { .. } | AlertsCommand::Test { .. },
        } => None,
    }
}

pub fn crypto(command: &CryptoCommand) -> Option<(&'static str, &'static str)> {
    match command {
        CryptoCommand::Encrypt { .. } | CryptoCommand::Decrypt { .. } => None,
        CryptoCommand::Rewrap { .. } => Some((
            "crypto rewrap",
            "re-encrypts the stored records under the newest key",
        )),
        CryptoCommand::AddKey { .. } => {
            Some(("crypto add-key", "adds a master key to the key file"))
        }
        CryptoCommand::RetireKey { .. } => Some((
            "crypto retire-key",
            "removes a master key from the key file",
        )),
    }
}

pub fn scan(command: &ScanCommand) -> Option<(&'static str, &'static str)> {
    match command {
        ScanCommand::Report { .. } | ScanCommand::Image { .. } | ScanCommand::Manifests { .. } => {
            None
        }
    }
}

pub fn anomaly(command: &super::anomaly::AnomalyCommand) -> Option<(&'static str, &'static str)> {
    match command {
        super::anomaly::AnomalyCommand::Score(_)
        | super::anomaly::AnomalyCommand::List { .. }
        | super::anomaly::AnomalyCommand::Explain { .. } => None,
        super::anomaly::AnomalyCommand::Train { .. } => Some((
            "anomaly train",
            "stores a new version of each anomaly model",
        )),
        super::anomaly::AnomalyCommand::Mark { .. } => Some((
            "anomaly mark",
            "records an anomaly's status (and leaves a false positive out of training)",
        )),
    }
}

pub fn isolate(command: &super::isolate::IsolateCommand) -> Option<(&'static str, &'static str)> {
    use super::isolate::IsolateCommand;
    match command {
        IsolateCommand::Plan { .. } => Some((
            "isolate plan",
            "writes the deployments' manifests into the cluster folder",
        )),
        IsolateCommand::Apply { .. } => Some((
            "isolate apply",
            "applies the deployment's objects to the cluster",
        )),
        IsolateCommand::Status { .. }
        | IsolateCommand::Matrix { .. }
        | IsolateCommand::CanReach { .. }
        | IsolateCommand::Diff { .. } => None,
    }
}

pub fn mfa(command: &MfaCommand) -> Option<(&'static str, &'static str)> {
    match command {
        MfaCommand::Enroll { .. } => Some(("mfa enroll", "starts an enrolment")),
        MfaCommand::Confirm { .. } => Some(("mfa confirm", "activates a second factor")),
        MfaCommand::Verify { .. } => Some((
            "mfa verify",
            "spends the code (a code or backup code works once) and counts failures toward a lockout",
        )),
        MfaCommand::BackupCodes {
            regenerate: true, ..
        } => Some(("mfa backup-codes --regenerate", "replaces the backup codes")),
        MfaCommand::BackupCodes { .. } => None,
        MfaCommand::Reset { .. } => Some(("mfa reset", "deletes a second factor")),
    }
}

pub fn secrets(command: &SecretsCommand) -> Option<(&'static str, &'static str)> {
    match command {
        SecretsCommand::List { .. }
        | SecretsCommand::Get { .. }
        | SecretsCommand::History { .. }
        | SecretsCommand::Diff { .. } => None,
        SecretsCommand::Put { .. } => Some(("secrets put", "writes a new version")),
        SecretsCommand::Rotate { .. } => Some(("secrets rotate", "writes a new version")),
        SecretsCommand::Rollback { .. } => Some(("secrets rollback", "writes a new version")),
        SecretsCommand::Delete { .. } => Some(("secrets delete", "deletes versions")),
        SecretsCommand::Undelete { .. } => Some(("secrets undelete", "restores versions")),
        SecretsCommand::Destroy { .. } => Some(("secrets destroy", "destroys versions")),
        SecretsCommand::Recover { .. } => Some((
            "secrets recover",
            "finishes or rolls back unfinished rotations and deletes old versions",
        )),
    }
}

pub fn sessions(command: &SessionsCommand) -> Option<(&'static str, &'static str)> {
    match command {
        SessionsCommand::List { .. } | SessionsCommand::Show { .. } => None,
        SessionsCommand::Create { .. } => Some(("sessions create", "opens a session")),
        SessionsCommand::Validate { .. } => Some((
            "sessions validate",
            "refreshes the session's idle timeout (and revokes it when another device presents it)",
        )),
        SessionsCommand::Revoke { .. } => Some(("sessions revoke", "revokes a session")),
        SessionsCommand::RevokeUser { .. } => {
            Some(("sessions revoke-user", "revokes a user's sessions"))
        }
    }
}

pub fn compliance(
    command: &super::compliance::ComplianceCommand,
) -> Option<(&'static str, &'static str)> {
    use super::compliance::{ComplianceCommand, EvidenceCommand};
    match command {
        ComplianceCommand::Check { .. }
        | ComplianceCommand::Report { .. }
        | ComplianceCommand::Evidence {
            command: EvidenceCommand::List { .. },
        } => None,
        ComplianceCommand::Evidence {
            command: EvidenceCommand::Add { .. },
        } => Some(("compliance evidence add", "records evidence for a control")),
        ComplianceCommand::Waive { .. } => Some(("compliance waive", "waives a control")),
    }
}
