//! `--read-only` (or `read_only = true`, `WINDFLOW_READ_ONLY`) for the
//! headless commands: the one list of the commands that change state,
//! checked before any of them runs. The matches are exhaustive, so a new
//! command does not build until it is placed on one side or the other.
//! (The console enforces read-only on its own actions.)

use super::audit::{AlertsCommand, AuditCommand};
use super::auth::{CryptoCommand, MfaCommand, OperatorsCommand};
use super::scans::ScanCommand;
use super::secrets::SecretsCommand;
use super::sessions::SessionsCommand;
use super::{AgentCommand, CliError, Command, ConfigCommand};

/// Refuses (exit 3) a command that changes state while read-only is on.
pub fn check(read_only: bool, command: &Command) -> Result<(), CliError> {
    match changes(command) {
        Some((name, what)) if read_only => Err(CliError::Refused(format!(
            "read-only mode: `windflow {name}` {what}; run without --read-only \
             (and without read_only in windflow.toml or WINDFLOW_READ_ONLY)"
        ))),
        _ => Ok(()),
    }
}

/// The command's name and what it changes, or `None` for a command that
/// only reads.
pub fn changes(command: &Command) -> Option<(&'static str, &'static str)> {
    match command {
        Command::Config {
            command: ConfigCommand::Show { .. },
        }
        | Command::Completions { .. } => None,
        Command::Mfa { command } => mfa(command),
        Command::Operators { command } => match command {
            OperatorsCommand::List { .. } => None,
            OperatorsCommand::Add { .. } => Some(("operators add", "adds an operator")),
            OperatorsCommand::Remove { .. } => Some(("operators remove", "removes an operator")),
            OperatorsCommand::SetRole { .. } => {
                Some(("operators set-role", "changes an operator's role"))
            }
        },
        Command::Login(_) => Some(("login", "opens a step-up grant")),
        Command::Logout(_) => Some(("logout", "closes the step-up grant")),
        Command::Audit { command } => match command {
            AuditCommand::Log(_) => Some(("audit log", "records an event in the audit log")),
            AuditCommand::Tail(_)
            | AuditCommand::Search(_)
            | AuditCommand::Verify { .. }
            | AuditCommand::Alerts {
                command: AlertsCommand::List { .. } | AlertsCommand::Test { .. },
            } => None,
        },
        Command::Alerts { command } => command.changes(),
        Command::Crypto { command } => match command {
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
        },
        Command::Scan { command } => match command {
            ScanCommand::Report { .. }
            | ScanCommand::Image { .. }
            | ScanCommand::Manifests { .. } => None,
        },
        Command::Secrets(args) => secrets(&args.command),
        Command::Sessions { command } => sessions(command),
        Command::Init { .. } => Some(("init", "prepares the data dir (store and master key)")),
        Command::Agent { command: None, .. } => Some((
            "agent",
            "delivers alerts, ships events and finishes rotations",
        )),
        Command::Agent {
            command: Some(AgentCommand::Status { .. }),
            ..
        } => None,
        Command::Deployments { .. } => None,
        Command::Anomaly { command } => match command {
            super::anomaly::AnomalyCommand::Score(_) => None,
            super::anomaly::AnomalyCommand::Train { .. } => {
                Some(("anomaly train", "stores a new version of the sign-in model"))
            }
        },
        Command::Compliance { command } => compliance(command),
        Command::Isolate { command } => match command {
            super::isolate::IsolateCommand::Plan { .. } => Some((
                "isolate plan",
                "writes the deployments' manifests into the cluster folder",
            )),
            super::isolate::IsolateCommand::Apply { .. } => Some((
                "isolate apply",
                "applies the deployment's objects to the cluster",
            )),
            super::isolate::IsolateCommand::Status { .. }
            | super::isolate::IsolateCommand::Matrix { .. }
            | super::isolate::IsolateCommand::CanReach { .. }
            | super::isolate::IsolateCommand::Diff { .. } => None,
        },
    }
}

fn mfa(command: &MfaCommand) -> Option<(&'static str, &'static str)> {
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

fn secrets(command: &SecretsCommand) -> Option<(&'static str, &'static str)> {
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

fn sessions(command: &SessionsCommand) -> Option<(&'static str, &'static str)> {
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

fn compliance(
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
