//! The task that owns [`Auth`] for the console: sign-in, the first-run
//! enrolment and step-up codes are verified here, off the UI loop (backup
//! codes cost an Argon2 hash each), and the outcome comes back as an event.

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use super::{Auth, OperatorStatus, Role, reason};
use crate::mfa;
use crate::service::{EventTx, ServiceEvent};

#[derive(Debug)]
pub enum AuthRequest {
    /// Is there any operator yet? (first run or sign-in)
    Status,
    /// Demo mode: enrol the demo operator and sign in for the user.
    DemoSignIn,
    SignIn {
        operator: String,
        code: SecretString,
    },
    /// First run: create the first operator (an admin) and start enrolment.
    CreateFirst { operator: String },
    /// First run: confirm the enrolment with a code from the app.
    Confirm {
        operator: String,
        code: SecretString,
    },
    /// A fresh code before a sensitive action.
    StepUp {
        operator: String,
        code: SecretString,
        action: &'static str,
    },
    /// The operators and their second factors (the Operators pane).
    Operators,
    /// A change to an operator, already authorised by the console's one check.
    Manage { actor: String, change: Change },
    /// New backup codes for the operator's own second factor (shown once).
    RegenerateBackupCodes { operator: String },
    /// The signed-in operator's role as stored now (asked every second).
    Current { operator: String },
}

impl AuthRequest {
    /// The action of the role table this request carries out, if guarded
    /// (see `DomainRequestKind::permission`).
    pub fn permission(&self) -> Option<&'static str> {
        match self {
            AuthRequest::Manage { change, .. } => Some(change.permission()),
            AuthRequest::RegenerateBackupCodes { .. } => Some("mfa.self"),
            _ => None,
        }
    }
}

/// What an admin changes from the Operators pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    SetRole {
        name: String,
        role: Role,
    },
    Remove {
        name: String,
    },
    /// Deletes the second factor: the operator must enrol again.
    ResetMfa {
        name: String,
    },
}

impl Change {
    pub fn permission(&self) -> &'static str {
        match self {
            Change::SetRole { .. } | Change::Remove { .. } => "operators.manage",
            Change::ResetMfa { .. } => "mfa.reset",
        }
    }

    /// What was done, for the status bar.
    fn done(&self) -> String {
        match self {
            Change::SetRole { name, role } => format!("{name} is now {role}"),
            Change::Remove { name } => format!("removed operator {name}"),
            Change::ResetMfa { name } => {
                format!(
                    "reset the second factor of {name}: they enrol again with the one-time token shown"
                )
            }
        }
    }
}

#[derive(Clone, Debug)]
pub enum AuthEvent {
    Ready {
        has_operators: bool,
    },
    SignedIn {
        operator: String,
        role: Role,
    },
    /// Demo mode signed in for the user.
    DemoSignedIn {
        operator: String,
    },
    Rejected {
        reason: String,
    },
    /// Shown once: the QR code, the URI, the secret and the backup codes,
    /// with the one-time token that starts another enrolment should this
    /// one lapse unconfirmed.
    Enrollment {
        operator: String,
        uri: SecretString,
        secret: SecretString,
        backup_codes: Vec<SecretString>,
        token: Option<super::EnrolmentToken>,
    },
    SteppedUp {
        action: &'static str,
    },
    StepUpRejected {
        action: &'static str,
        reason: String,
    },
    Operators(Vec<OperatorStatus>),
    /// A change was made; the fresh list follows it.
    Managed {
        message: String,
        operators: Vec<OperatorStatus>,
        /// After a reset: the operator's one-time enrolment token (shown once).
        token: Option<(String, super::EnrolmentToken)>,
    },
    ManageFailed {
        reason: String,
    },
    /// Shown once, then dropped (wiped).
    BackupCodes {
        operator: String,
        codes: Vec<SecretString>,
    },
    /// The operator's role as stored now; `Ok(None)` when removed. A store
    /// that cannot be read changes nothing in the console (the store's
    /// health says why, and every guarded request is refused meanwhile).
    Current {
        operator: String,
        role: Result<Option<Role>, String>,
    },
}

#[derive(Clone)]
pub struct AuthHandle {
    tx: mpsc::Sender<AuthRequest>,
}

impl AuthHandle {
    pub fn try_send(&self, req: AuthRequest) -> bool {
        self.tx.try_send(req).is_ok()
    }
}

/// The operators' pane. The sign-in service itself starts with the console
/// (its gate needs it before any domain's pane shows).
pub fn console(_ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::Operators::default())),
        handle: None,
    })
}

/// The domain's id (its pane is the Operators pane).
pub const NAME: &str = super::pane::ID;

pub fn spawn(auth: Auth, events: EventTx) -> AuthHandle {
    let (tx, mut rx) = mpsc::channel::<AuthRequest>(16);
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            let auth = auth.clone();
            let ev = tokio::task::spawn_blocking(move || {
                let ev = handle(&auth, req);
                release_memory();
                ev
            })
            .await
            .unwrap_or_else(|e| AuthEvent::Rejected {
                reason: format!("the sign-in task failed: {e}"),
            });
            if events.send(ServiceEvent::Auth(ev)).await.is_err() {
                break;
            }
        }
    });
    AuthHandle { tx }
}

/// Argon2 (backup codes) allocates tens of MiB per hash; glibc keeps freed
/// heap pages, so give them back to keep an idle console small.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn now() -> u64 {
    mfa::unix_seconds(std::time::SystemTime::now())
}

/// One request, synchronously (also what tests call).
pub fn handle(auth: &Auth, req: AuthRequest) -> AuthEvent {
    let rejected = |e: super::AuthError| AuthEvent::Rejected {
        reason: e.to_string(),
    };
    match req {
        AuthRequest::Status => match auth.has_operators() {
            Ok(has_operators) => AuthEvent::Ready { has_operators },
            Err(e) => rejected(e),
        },
        AuthRequest::DemoSignIn => match demo_sign_in(auth) {
            Ok(operator) => AuthEvent::DemoSignedIn { operator },
            Err(e) => rejected(e),
        },
        AuthRequest::SignIn { operator, code } => {
            match auth.sign_in(&operator, code.expose_secret(), now()) {
                Ok(op) => AuthEvent::SignedIn {
                    operator: op.name,
                    role: op.role,
                },
                Err(e) => rejected(e),
            }
        }
        AuthRequest::CreateFirst { operator } => {
            let now = now();
            let res = auth
                .add_first_operator(&operator, Role::Admin)
                .and_then(|_| auth.begin_enrollment(&operator, now))
                .and_then(|en| {
                    let (token, _) = auth.issue_enrolment_token(&operator, now)?;
                    Ok((en, token))
                });
            match res {
                Ok((en, token)) => AuthEvent::Enrollment {
                    operator,
                    uri: en.otpauth_uri.clone(),
                    secret: en.secret_base32.clone(),
                    backup_codes: en.backup_codes.clone(),
                    token: Some(token),
                },
                Err(e) => rejected(e),
            }
        }
        AuthRequest::Confirm { operator, code } => {
            match auth.confirm_enrollment(&operator, code.expose_secret(), now()) {
                Ok(()) => match auth.operator(&operator) {
                    Ok(Some(op)) => AuthEvent::SignedIn {
                        operator: op.name,
                        role: op.role,
                    },
                    Ok(None) => AuthEvent::Rejected {
                        reason: format!("operator {operator} vanished during enrolment"),
                    },
                    Err(e) => rejected(e),
                },
                Err(e) => rejected(e),
            }
        }
        AuthRequest::StepUp {
            operator,
            code,
            action,
        } => match auth.authorize(&operator, action, Some(code.expose_secret()), now()) {
            Ok(()) => AuthEvent::SteppedUp { action },
            Err(e) => AuthEvent::StepUpRejected {
                action,
                reason: format!("{} ({})", e, reason(&e)),
            },
        },
        AuthRequest::Operators => match auth.operator_statuses() {
            Ok(list) => AuthEvent::Operators(list),
            Err(e) => AuthEvent::ManageFailed {
                reason: format!("cannot list operators: {e}"),
            },
        },
        AuthRequest::Manage { actor, change } => {
            let auth = auth.clone().with_actor(&actor);
            let res = auth
                .check_role(&actor, change.permission())
                .and_then(|_| match &change {
                    Change::SetRole { name, role } => auth.set_role(name, *role).map(|()| None),
                    Change::Remove { name } => auth.remove_operator(name).map(|()| None),
                    Change::ResetMfa { name } => auth
                        .reset_mfa(name)
                        .and_then(|()| auth.issue_enrolment_token(name, now()))
                        .map(|(token, _)| Some((name.clone(), token))),
                });
            match res.and_then(|token| Ok((token, auth.operator_statuses()?))) {
                Ok((token, operators)) => AuthEvent::Managed {
                    message: change.done(),
                    operators,
                    token,
                },
                Err(e) => AuthEvent::ManageFailed {
                    reason: e.to_string(),
                },
            }
        }
        AuthRequest::Current { operator } => AuthEvent::Current {
            role: auth
                .operator(&operator)
                .map(|op| op.map(|o| o.role))
                .map_err(|e| e.to_string()),
            operator,
        },
        AuthRequest::RegenerateBackupCodes { operator } => {
            match auth
                .check_role(&operator, "mfa.self")
                .and_then(|_| auth.regenerate_backup_codes(&operator))
            {
                Ok(codes) => AuthEvent::BackupCodes { operator, codes },
                Err(e) => AuthEvent::ManageFailed {
                    reason: e.to_string(),
                },
            }
        }
    }
}

/// Demo mode: enrol a `demo` admin and sign in for the user, through the
/// same calls as a person would (the code is computed from the secret).
pub fn demo_sign_in(auth: &Auth) -> Result<String, super::AuthError> {
    const DEMO: &str = "demo";
    if auth.operator(DEMO)?.is_none() {
        auth.add_first_operator(DEMO, Role::Admin)?;
    }
    let t = now();
    let en = auth.begin_enrollment(DEMO, t)?;
    let key = mfa::TotpKey::from_base32(
        en.secret_base32.expose_secret(),
        mfa::Algorithm::Sha1,
        6,
        30,
    )
    .map_err(super::AuthError::Mfa)?;
    auth.confirm_enrollment(DEMO, key.code_at(t).expose_secret(), t)?;
    Ok(DEMO.to_string())
}
