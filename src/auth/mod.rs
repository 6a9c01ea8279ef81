//! Operators, roles, second factor persistence, step-up grants, and the one
//! authorisation check ([`Auth::authorize`]) every console action and CLI
//! command goes through.
//!
//! Storage: operators as JSON in namespace `operators`; MFA records
//! ([`mfa::MfaRecord`]) encrypted whole under `totp:<user>` in `mfa`; grants
//! encrypted under `grant:<operator>` in `grants`. Every outcome a security
//! team cares about is emitted through the [`Audit`] handle.

mod enrolment;
mod error;
mod grant;
mod operators;
pub mod pane;
mod role;
pub mod sealed;
pub mod service;
mod tty;

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::{Value, json};

pub use enrolment::{ENROLMENT_NS, ENROLMENT_TOKEN_TTL_SECS, EnrolmentToken, TokenRejection};
pub use error::AuthError;
pub use grant::{DEFAULT_GRANT_TTL_SECS, Grant};
pub use operators::{
    MAX_NAME_LEN, MfaState, OPERATORS_NS, Operator, OperatorStatus, validate_name,
};
pub use role::{ACTIONS, Requirement, Role, requirement};
pub use sealed::{GRANTS_NS, MFA_NS, RewrapCount};
pub use tty::Tty;

use crate::audit::Audit;
use crate::crypto::Keyring;
use crate::mfa::{self, MfaError, MfaRecord};
use crate::store::Store;
use operators::{BINDING_NS, Bound, StoredOperator};

/// Operators, their second factors and grants, over the local store.
/// Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    store: Arc<Store>,
    keyring: Arc<Keyring>,
    audit: Audit,
    policy: mfa::Policy,
    grant_ttl_secs: u64,
    /// Grants are bound to the terminal that opens them, and only such
    /// grants are honoured (`tty_grants` in windflow.toml).
    tty_grants: bool,
    /// Who is acting (recorded in events), when known.
    actor: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("store", &self.store)
            .field("keyring", &self.keyring)
            .field("policy", &self.policy)
            .field("grant_ttl_secs", &self.grant_ttl_secs)
            .field("tty_grants", &self.tty_grants)
            .field("actor", &self.actor)
            .finish()
    }
}

impl Auth {
    pub fn new(
        store: Arc<Store>,
        keyring: Arc<Keyring>,
        audit: Audit,
        policy: mfa::Policy,
    ) -> Self {
        Self {
            store,
            keyring,
            audit,
            policy,
            grant_ttl_secs: DEFAULT_GRANT_TTL_SECS,
            tty_grants: false,
            actor: None,
        }
    }

    /// Every grant is bound to the terminal that opens it, and a grant
    /// that is not bound is not honoured.
    pub fn with_tty_grants(mut self, on: bool) -> Self {
        self.tty_grants = on;
        self
    }

    pub fn tty_grants(&self) -> bool {
        self.tty_grants
    }

    /// Grants last `secs` (default [`DEFAULT_GRANT_TTL_SECS`]).
    pub fn with_grant_ttl(mut self, secs: u64) -> Self {
        self.grant_ttl_secs = secs;
        self
    }

    /// Records `operator` as the actor of every event emitted through this handle.
    pub fn with_actor(mut self, operator: &str) -> Self {
        self.actor = Some(operator.to_owned());
        self
    }

    /// The acting operator, when one is set.
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    pub fn policy(&self) -> &mfa::Policy {
        &self.policy
    }

    pub fn grant_ttl_secs(&self) -> u64 {
        self.grant_ttl_secs
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    // ------------------------------------------------------------ operators

    /// Every operator, by name.
    pub fn operators(&self) -> Result<Vec<Operator>, AuthError> {
        let legacy_ok = self.operators_legacy_ok()?;
        self.store
            .list(OPERATORS_NS, "")?
            .into_iter()
            .map(|(key, bytes)| {
                let stored = self.decode_operator(&key, &bytes, legacy_ok)?;
                // One record that does not open costs its own row, not the list.
                Ok(match self.is_enrolled(&stored.name) {
                    Ok(enrolled) => stored.with_enrolled(enrolled),
                    Err(e) => Operator {
                        problem: Some(format!("second factor unreadable: {e}")),
                        ..stored.with_enrolled(false)
                    },
                })
            })
            .collect()
    }

    /// Every operator with the state of their second factor, by name.
    pub fn operator_statuses(&self) -> Result<Vec<OperatorStatus>, AuthError> {
        let legacy_ok = self.operators_legacy_ok()?;
        self.store
            .list(OPERATORS_NS, "")?
            .into_iter()
            .map(|(key, bytes)| {
                let stored = self.decode_operator(&key, &bytes, legacy_ok)?;
                let (record, unreadable) = match self.mfa_record(&stored.name) {
                    Ok(r) => (r, false),
                    Err(_) => (None, true),
                };
                let mfa = match &record {
                    _ if unreadable => MfaState::Unreadable,
                    Some(r) if r.is_active() => MfaState::Active,
                    Some(r) if r.pending_key().is_some() => MfaState::Pending,
                    _ => MfaState::None,
                };
                Ok(OperatorStatus {
                    name: stored.name,
                    role: stored.role,
                    created_at: stored.created_at,
                    mfa,
                    backup_codes_left: record.as_ref().map_or(0, |r| r.backup_codes_remaining()),
                    failures: record.as_ref().map_or(0, |r| r.failures()),
                    locked_until: record.as_ref().and_then(|r| r.locked_until()),
                })
            })
            .collect()
    }

    pub fn operator(&self, name: &str) -> Result<Option<Operator>, AuthError> {
        match self.stored_operator(name)? {
            Some(stored) => {
                let enrolled = self.is_enrolled(name)?;
                Ok(Some(stored.with_enrolled(enrolled)))
            }
            None => Ok(None),
        }
    }

    pub fn has_operators(&self) -> Result<bool, AuthError> {
        Ok(self.store.count(OPERATORS_NS)? > 0)
    }

    /// Adds an operator. No authorisation here: callers check
    /// `authorize(actor, "operators.manage", ..)` first.
    pub fn add_operator(&self, name: &str, role: Role) -> Result<Operator, AuthError> {
        self.insert_operator(name, role, false)
    }

    /// Adds the first operator of an empty store (the first-run wizard and
    /// `windflow operators add` on an empty store). Fails with
    /// [`AuthError::Forbidden`] once any operator exists, atomically, so two
    /// racing first-runs cannot both succeed. The first operator must be an admin.
    pub fn add_first_operator(&self, name: &str, role: Role) -> Result<Operator, AuthError> {
        if role != Role::Admin {
            return Err(AuthError::Invalid(format!(
                "the first operator must be an admin (nobody could manage operators otherwise): use --role admin for {name}"
            )));
        }
        self.insert_operator(name, role, true)
    }

    fn insert_operator(
        &self,
        name: &str,
        role: Role,
        only_if_empty: bool,
    ) -> Result<Operator, AuthError> {
        validate_name(name)?;
        let stored =
            StoredOperator::new(name, role, mfa::unix_seconds(std::time::SystemTime::now()));
        let value = stored.encode(&self.keyring);
        // 0 inserted, 1 name taken, 2 store not empty.
        let outcome = self.store.transaction(|tx| {
            if only_if_empty {
                let n: i64 = tx.query_row(
                    "SELECT count(*) FROM kv WHERE ns = ?1",
                    [OPERATORS_NS],
                    |r| r.get(0),
                )?;
                if n > 0 {
                    return Ok(2);
                }
            }
            let empty: i64 = tx.query_row(
                "SELECT count(*) FROM kv WHERE ns = ?1",
                [OPERATORS_NS],
                |r| r.get(0),
            )?;
            if empty == 0 {
                // A new store: every operator record is bound from the start.
                write_marker(tx)?;
            }
            let inserted = tx.execute(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, unixepoch())
                 ON CONFLICT (ns, key) DO NOTHING",
                rusqlite::params![OPERATORS_NS, name, value],
            )?;
            Ok(if inserted == 1 { 0 } else { 1 })
        })?;
        match outcome {
            0 => {}
            1 => {
                return Err(AuthError::Invalid(format!(
                    "operator {name:?} already exists (see `windflow operators list`)"
                )));
            }
            _ => {
                return Err(AuthError::Forbidden {
                    operator: self.actor.clone().unwrap_or_else(|| "(nobody)".into()),
                    role: Role::Viewer,
                    needed: Role::Admin,
                    action: "operators.manage".into(),
                });
            }
        }
        self.emit(
            "operator_added",
            Some(name),
            json!({ "operator": name, "role": role }),
        );
        Ok(stored.with_enrolled(self.is_enrolled(name)?))
    }

    /// Removes an operator with their second factor and grant. The last
    /// admin stays: the check and the removal are one transaction.
    pub fn remove_operator(&self, name: &str) -> Result<(), AuthError> {
        let role = self.change_operator(name, |tx, target, admins| {
            if target.role == Role::Admin && admins <= 1 {
                return Ok(Err(AuthError::LastAdmin {
                    operator: name.to_owned(),
                }));
            }
            for ns in [OPERATORS_NS, MFA_NS, GRANTS_NS, ENROLMENT_NS] {
                tx.execute(
                    "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
                    rusqlite::params![ns, name],
                )?;
            }
            Ok(Ok(target.role))
        })?;
        self.emit(
            "operator_removed",
            Some(name),
            json!({ "operator": name, "role": role }),
        );
        Ok(())
    }

    /// Changes an operator's role. The last admin cannot be demoted: the
    /// check and the change are one transaction, so two admins demoting
    /// each other at once leave one.
    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AuthError> {
        let from = self.change_operator(name, |tx, target, admins| {
            // A record without a MAC (refused, or from before) is written anew.
            if target.role == role && target.mac.is_some() {
                return Ok(Ok(None));
            }
            if target.role == Role::Admin && admins <= 1 {
                return Ok(Err(AuthError::LastAdmin {
                    operator: name.to_owned(),
                }));
            }
            let changed = StoredOperator {
                role,
                ..target.clone()
            };
            let changed = StoredOperator {
                created_at: if target.created_at == 0 {
                    mfa::unix_seconds(std::time::SystemTime::now())
                } else {
                    target.created_at
                },
                ..changed
            };
            tx.execute(
                "UPDATE kv SET value = ?3, updated_at = unixepoch() WHERE ns = ?1 AND key = ?2",
                rusqlite::params![OPERATORS_NS, name, changed.encode(&self.keyring)],
            )?;
            Ok(Ok(Some(target.role)))
        })?;
        if let Some(from) = from {
            self.emit(
                "operator_role_changed",
                Some(name),
                json!({ "operator": name, "from": from, "to": role }),
            );
        }
        Ok(())
    }

    /// Runs `change` on operator `name` with the number of admins, inside
    /// one store transaction (an IMMEDIATE one: no other writer runs between
    /// the count and the change). The acting operator, when known, must
    /// still be allowed `operators.manage` at that moment: a demotion that
    /// committed since their authorisation wins. Records that fail their
    /// check count for nothing (not as admins, not as the actor); the target
    /// may be one, so that an admin can rewrite or remove it.
    fn change_operator<T>(
        &self,
        name: &str,
        change: impl FnOnce(
            &rusqlite::Transaction<'_>,
            &StoredOperator,
            usize,
        ) -> rusqlite::Result<Result<T, AuthError>>,
    ) -> Result<T, AuthError> {
        let mut refused = Vec::new();
        let out = self.store.transaction(|tx| {
            let legacy_ok = !has_marker(tx)?;
            let mut st = tx.prepare_cached("SELECT key, value FROM kv WHERE ns = ?1")?;
            let rows = st.query_map([OPERATORS_NS], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut ops = Vec::new();
            let mut target = None;
            for row in rows {
                let (key, bytes) = row?;
                match StoredOperator::decode(&key, &bytes, &self.keyring, legacy_ok) {
                    Ok((op, _)) => ops.push(op),
                    Err(e @ AuthError::Tampered { .. }) => {
                        if key == name {
                            // Rewritten or removed whole: nothing of it is
                            // trusted, its role counts as the lowest.
                            target = Some(StoredOperator::new(name, Role::Viewer, 0));
                        }
                        refused.push(e);
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            if let Some(actor) = &self.actor {
                let role = ops.iter().find(|o| &o.name == actor).map(|o| o.role);
                let Some(role) = role else {
                    return Ok(Err(AuthError::UnknownOperator(actor.clone())));
                };
                if let Err(e) = at_least(actor, role, "operators.manage") {
                    return Ok(Err(e));
                }
            }
            let Some(target) = ops.iter().find(|o| o.name == name).or(target.as_ref()) else {
                return Ok(Err(AuthError::UnknownOperator(name.to_owned())));
            };
            let admins = ops.iter().filter(|o| o.role == Role::Admin).count();
            change(tx, target, admins)
        })?;
        for e in &refused {
            self.note_tampered(e);
        }
        out
    }

    /// Whether operator records without a MAC are still accepted (a store
    /// written before records were bound, not yet rewrapped).
    fn operators_legacy_ok(&self) -> Result<bool, AuthError> {
        Ok(self.store.get(BINDING_NS, OPERATORS_NS)?.is_none())
    }

    /// Checks a stored operator record; a tampered one is recorded and refused.
    fn decode_operator(
        &self,
        key: &str,
        bytes: &[u8],
        legacy_ok: bool,
    ) -> Result<StoredOperator, AuthError> {
        StoredOperator::decode(key, bytes, &self.keyring, legacy_ok)
            .map(|(op, _)| op)
            .inspect_err(|e| self.note_tampered(e))
    }

    /// Records a tampered record (any other error passes).
    fn note_tampered(&self, e: &AuthError) {
        if let AuthError::Tampered { record, reason } = e {
            tracing::error!(%record, "tampered record refused");
            self.emit(
                "record_tampered",
                None,
                json!({ "record": record, "reason": reason }),
            );
        }
    }

    fn stored_operator(&self, name: &str) -> Result<Option<StoredOperator>, AuthError> {
        let legacy_ok = self.operators_legacy_ok()?;
        self.store
            .get(OPERATORS_NS, name)?
            .map(|bytes| self.decode_operator(name, &bytes, legacy_ok))
            .transpose()
    }

    fn require_operator(&self, name: &str) -> Result<StoredOperator, AuthError> {
        self.stored_operator(name)?
            .ok_or_else(|| AuthError::UnknownOperator(name.to_owned()))
    }

    // ------------------------------------------------------------ second factor

    /// The user's MFA record (decrypted; its `Debug` shows no secret).
    pub fn mfa_record(&self, user: &str) -> Result<Option<MfaRecord>, AuthError> {
        sealed::load(&self.store, &self.keyring, MFA_NS, user)
    }

    /// Whether `user` has a confirmed second factor.
    pub fn is_enrolled(&self, user: &str) -> Result<bool, AuthError> {
        Ok(self.mfa_record(user)?.is_some_and(|r| r.is_active()))
    }

    /// Starts a TOTP enrolment for `user` (replacing an unconfirmed one; an
    /// active key stays active until the new one is confirmed). Show the
    /// returned secret, QR and backup codes once; only the encrypted record is kept.
    pub fn begin_enrollment(&self, user: &str, now: u64) -> Result<mfa::Enrollment, AuthError> {
        validate_name(user)?;
        let enrollment = self.update_mfa(user, |record| {
            let record = match record.take() {
                Some(existing) => record.insert(existing),
                None => record.insert(MfaRecord::new(user)?),
            };
            record.begin_enrollment(now)
        })?;
        let enrollment = enrollment.map_err(|e| AuthError::from_mfa(user, e))?;
        self.emit(
            "mfa_enrollment_started",
            Some(user),
            json!({ "expires_at": now.saturating_add(self.policy.pending_ttl_secs) }),
        );
        Ok(enrollment)
    }

    /// Issues a one-time enrolment token for `user` (replacing any earlier
    /// one) and returns it with its expiry: show it once; only its hash is kept.
    pub fn issue_enrolment_token(
        &self,
        user: &str,
        now: u64,
    ) -> Result<(EnrolmentToken, u64), AuthError> {
        self.require_operator(user)?;
        let token = EnrolmentToken::generate();
        let stored = enrolment::StoredToken::new(&token, now);
        self.store.put(ENROLMENT_NS, user, &stored.encode())?;
        self.emit(
            "enrolment_token_issued",
            Some(user),
            json!({ "expires_at": stored.expires_at }),
        );
        Ok((token, stored.expires_at))
    }

    /// Starts the enrolment of `user`, who has no active second factor, with
    /// the one-time token issued for them (spent here, even if the enrolment
    /// is never confirmed). No token, or a wrong, used or expired one, is
    /// refused with [`AuthError::EnrolmentRefused`] and recorded as
    /// `enrolment_refused`.
    pub fn begin_enrollment_with_token(
        &self,
        user: &str,
        token: Option<&EnrolmentToken>,
        now: u64,
    ) -> Result<mfa::Enrollment, AuthError> {
        self.require_operator(user)?;
        let outcome = match token {
            None => Err(TokenRejection::Missing),
            Some(token) => self.spend_token(user, token.expose(), now)?,
        };
        if let Err(reason) = outcome {
            self.emit(
                "enrolment_refused",
                Some(user),
                json!({ "reason": reason.as_str() }),
            );
            return Err(AuthError::EnrolmentRefused {
                user: user.to_owned(),
                reason,
            });
        }
        self.emit("enrolment_token_used", Some(user), json!({}));
        self.begin_enrollment(user, now)
    }

    /// Checks and marks the token used, in one transaction (two processes
    /// never both spend it).
    fn spend_token(
        &self,
        user: &str,
        token: &str,
        now: u64,
    ) -> Result<Result<(), TokenRejection>, AuthError> {
        use rusqlite::OptionalExtension;
        Ok(self.store.transaction(|tx| {
            let Some(bytes) = tx
                .query_row(
                    "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                    rusqlite::params![ENROLMENT_NS, user],
                    |r| r.get::<_, Vec<u8>>(0),
                )
                .optional()?
            else {
                return Ok(Err(TokenRejection::NotIssued));
            };
            let Some(mut stored) = enrolment::StoredToken::decode(&bytes) else {
                return Ok(Err(TokenRejection::NotIssued));
            };
            if let Err(reason) = stored.check(token, now) {
                return Ok(Err(reason));
            }
            stored.used_at = Some(now);
            tx.execute(
                "UPDATE kv SET value = ?3, updated_at = unixepoch() WHERE ns = ?1 AND key = ?2",
                rusqlite::params![ENROLMENT_NS, user, stored.encode()],
            )?;
            Ok(Ok(()))
        })?)
    }

    /// Confirms the pending enrolment with a code from the new key.
    pub fn confirm_enrollment(&self, user: &str, code: &str, now: u64) -> Result<(), AuthError> {
        let policy = &self.policy;
        let outcome = self.update_mfa(user, |record| match record {
            Some(record) => record.confirm(code, now, policy),
            None => Err(MfaError::NoPendingEnrollment),
        })?;
        match outcome {
            Ok(()) => {
                // Enrolled: an outstanding token has nothing left to open.
                if let Err(e) = self.store.delete(ENROLMENT_NS, user) {
                    tracing::warn!(user, error = %e, "enrolment token not deleted");
                }
                self.emit("mfa_enrolled", Some(user), json!({}));
                Ok(())
            }
            Err(e) => {
                self.emit_rejection(user, "confirm", &e);
                Err(AuthError::from_mfa(user, e))
            }
        }
    }

    /// Checks a TOTP code or a backup code. The record is persisted after
    /// success and failure alike; emits `mfa_success`, `mfa_failure` or `mfa_lockout`.
    pub fn verify(&self, user: &str, code: &str, now: u64) -> Result<mfa::Verified, AuthError> {
        let policy = &self.policy;
        let outcome = self.update_mfa(user, |record| match record {
            Some(record) => record.verify(code, now, policy),
            None => Err(MfaError::NotEnrolled),
        })?;
        match outcome {
            Ok(verified) => {
                self.emit("mfa_success", Some(user), json!(verified));
                Ok(verified)
            }
            Err(e) => {
                self.emit_rejection(user, "verify", &e);
                Err(AuthError::from_mfa(user, e))
            }
        }
    }

    /// Signs an operator in (console): the operator must exist, then the code
    /// is verified. Emits `signin_success` or `signin_failure` as well.
    pub fn sign_in(&self, operator: &str, code: &str, now: u64) -> Result<Operator, AuthError> {
        let result = self
            .operator(operator)?
            .ok_or_else(|| AuthError::UnknownOperator(operator.to_owned()))
            .and_then(|op| at_least(&op.name, op.role, "console.open").map(|()| op))
            .and_then(|op| self.verify(operator, code, now).map(|v| (op, v)));
        match result {
            Ok((op, verified)) => {
                self.emit("signin_success", Some(operator), json!(verified));
                Ok(op)
            }
            Err(e) => {
                self.emit(
                    "signin_failure",
                    Some(operator),
                    json!({ "reason": reason(&e) }),
                );
                Err(e)
            }
        }
    }

    /// Replaces the user's backup codes; returns the new ones (show them once).
    pub fn regenerate_backup_codes(&self, user: &str) -> Result<Vec<SecretString>, AuthError> {
        let codes = self
            .update_mfa(user, |record| match record {
                Some(record) => record.regenerate_backup_codes(),
                None => Err(MfaError::NotEnrolled),
            })?
            .map_err(|e| AuthError::from_mfa(user, e))?;
        self.emit(
            "backup_codes_regenerated",
            Some(user),
            json!({ "count": codes.len() }),
        );
        Ok(codes)
    }

    /// Deletes the user's second factor, grant and enrolment token: they
    /// must enrol again (with a token from [`Auth::issue_enrolment_token`]).
    pub fn reset_mfa(&self, user: &str) -> Result<(), AuthError> {
        let existed = self.store.delete(MFA_NS, user)?;
        self.store.delete(GRANTS_NS, user)?;
        self.store.delete(ENROLMENT_NS, user)?;
        self.emit("mfa_reset", Some(user), json!({ "had_record": existed }));
        Ok(())
    }

    fn update_mfa<R>(
        &self,
        user: &str,
        f: impl FnOnce(&mut Option<MfaRecord>) -> R,
    ) -> Result<R, AuthError> {
        sealed::update(&self.store, &self.keyring, MFA_NS, user, f)
    }

    // ------------------------------------------------------------ grants

    /// Verifies `code` and opens a step-up grant for the operator, bound to
    /// the terminal on stdin when grants are ([`Auth::with_tty_grants`]).
    pub fn open_grant(&self, operator: &str, code: &str, now: u64) -> Result<Grant, AuthError> {
        self.open_grant_with(operator, code, now, self.tty_grants)
    }

    /// [`Auth::open_grant`], bound to the terminal on stdin when `bind`
    /// (`login --tty`); refused before the code is checked when stdin is
    /// not a terminal.
    pub fn open_grant_with(
        &self,
        operator: &str,
        code: &str,
        now: u64,
        bind: bool,
    ) -> Result<Grant, AuthError> {
        let op = self.require_operator(operator)?;
        // A grant stands in for a second factor, which only actions of a
        // viewer and above ask for: an ingest identity has no use for one.
        at_least(operator, op.role, "console.open")?;
        let tty = match bind {
            true => Some(Tty::current().ok_or_else(|| {
                AuthError::Invalid(
                    "a grant bound to the terminal needs one: stdin is not a terminal \
                     (run `windflow login` in the terminal the commands will run in)"
                        .into(),
                )
            })?),
            false => None,
        };
        self.verify(operator, code, now)?;
        let grant = Grant::new(operator, now, self.grant_ttl_secs, tty);
        sealed::save(&self.store, &self.keyring, GRANTS_NS, operator, &grant)?;
        self.emit(
            "login_grant_opened",
            Some(operator),
            json!({
                "opened_at": grant.opened_at,
                "expires_at": grant.expires_at,
                "tty": grant.tty.as_ref().map(|t| &t.device),
            }),
        );
        Ok(grant)
    }

    /// The operator's open grant; `None` when there is none, it expired, or
    /// it is not honoured here (see [`GrantState`]).
    pub fn grant(&self, operator: &str, now: u64) -> Result<Option<Grant>, AuthError> {
        Ok(match self.grant_state(operator, now)? {
            GrantState::Open(grant) => Some(grant),
            _ => None,
        })
    }

    /// The operator's grant as this process sees it.
    pub fn grant_state(&self, operator: &str, now: u64) -> Result<GrantState, AuthError> {
        let Some(grant) = sealed::load::<Grant>(&self.store, &self.keyring, GRANTS_NS, operator)?
        else {
            return Ok(GrantState::None);
        };
        if !grant.is_valid(operator, now, self.grant_ttl_secs) {
            if now >= grant.expires_at {
                // Tidy up; a failure here changes nothing for the caller.
                let _ = self.store.delete(GRANTS_NS, operator);
            }
            return Ok(GrantState::None);
        }
        Ok(match &grant.tty {
            Some(bound) if Tty::current().as_ref() != Some(bound) => {
                GrantState::OtherTerminal(bound.device.clone())
            }
            None if self.tty_grants => GrantState::Unbound,
            _ => GrantState::Open(grant),
        })
    }

    /// Ends the operator's grant, if any.
    pub fn close_grant(&self, operator: &str) -> Result<(), AuthError> {
        if self.store.delete(GRANTS_NS, operator)? {
            self.emit("login_grant_closed", Some(operator), json!({}));
        }
        Ok(())
    }

    // ------------------------------------------------------------ the check

    /// The role half of the one check: the operator's role as stored now
    /// (not as it was at sign-in) against [`requirement`]`(action)`. The
    /// console runs it on every guarded request it routes, after the step-up
    /// it asked for itself; a refusal is recorded.
    pub fn check_role(&self, operator: &str, action: &str) -> Result<Role, AuthError> {
        let need = requirement(action);
        let op = self.require_operator(operator)?;
        if op.role < need.role {
            self.emit(
                "authorization_denied",
                Some(operator),
                json!({ "action": action, "role": op.role, "needed": need.role }),
            );
            return Err(AuthError::Forbidden {
                operator: operator.to_owned(),
                role: op.role,
                needed: need.role,
                action: action.to_owned(),
            });
        }
        Ok(op.role)
    }

    /// The one check: the operator's role against [`requirement`]`(action)`,
    /// then, when the action needs step-up, a fresh second factor: `code`
    /// verified now (it is consumed), or else an open grant.
    pub fn authorize(
        &self,
        operator: &str,
        action: &str,
        code: Option<&str>,
        now: u64,
    ) -> Result<(), AuthError> {
        self.check_role(operator, action)?;
        if !requirement(action).step_up {
            return Ok(());
        }
        let via = match code {
            Some(code) => {
                self.verify(operator, code, now)?;
                "code"
            }
            None => match self.grant_state(operator, now)? {
                GrantState::Open(_) => "grant",
                state => {
                    let (reason, err) = match state {
                        GrantState::OtherTerminal(tty) => (
                            "grant_on_another_terminal",
                            AuthError::GrantNotHonoured {
                                action: action.to_owned(),
                                why: format!(
                                    "is bound to the terminal {tty} (login --tty), and this \
                                     command does not run on it"
                                ),
                            },
                        ),
                        GrantState::Unbound => (
                            "grant_not_bound_to_a_terminal",
                            AuthError::GrantNotHonoured {
                                action: action.to_owned(),
                                why: "is not bound to a terminal, and tty_grants is on".into(),
                            },
                        ),
                        _ => (
                            "step_up_required",
                            AuthError::StepUpRequired {
                                action: action.to_owned(),
                            },
                        ),
                    };
                    self.emit(
                        "authorization_denied",
                        Some(operator),
                        json!({ "action": action, "reason": reason }),
                    );
                    return Err(err);
                }
            },
        };
        self.emit(
            "step_up",
            Some(operator),
            json!({ "action": action, "via": via }),
        );
        Ok(())
    }

    /// Re-encrypts every stored MFA record and grant under the newest key
    /// (the caller records the event, with the other kinds of record).
    pub fn rewrap(&self) -> Result<Vec<RewrapCount>, AuthError> {
        let mut report = sealed::rewrap_all(&self.store, &self.keyring)?;
        report.push(self.bind_operators()?);
        Ok(report)
    }

    /// MACs every operator record under the primary key (those without a
    /// MAC counted as unbound), each in its own transaction and only if
    /// unchanged since read; once all are, operator records without a MAC
    /// are refused from then on (the binding marker).
    fn bind_operators(&self) -> Result<RewrapCount, AuthError> {
        let mut count = RewrapCount::new(OPERATORS_NS);
        let legacy_ok = self.operators_legacy_ok()?;
        for (key, bytes) in self.store.list(OPERATORS_NS, "")? {
            count.total += 1;
            let (op, bound) = match StoredOperator::decode(&key, &bytes, &self.keyring, legacy_ok) {
                Ok(decoded) => decoded,
                Err(e) => {
                    self.note_tampered(&e);
                    count.failed.push(format!("{key}: {e}"));
                    continue;
                }
            };
            let current = bound == Bound::Yes
                && !op
                    .mac
                    .as_deref()
                    .is_some_and(|t| self.keyring.mac_needs_rewrap(t));
            if current {
                count.unchanged += 1;
                continue;
            }
            let value = op.encode(&self.keyring);
            let written = self.store.transaction(|tx| {
                tx.execute(
                    "UPDATE kv SET value = ?3, updated_at = unixepoch() \
                     WHERE ns = ?1 AND key = ?2 AND value = ?4",
                    rusqlite::params![OPERATORS_NS, key, value, bytes],
                )
            })?;
            if written == 1 {
                count.rewrapped += 1;
                count.unbound += usize::from(bound == Bound::Legacy);
            } else {
                count
                    .failed
                    .push(format!("{key}: changed meanwhile; run rewrap again"));
            }
        }
        if count.failed.is_empty() {
            self.store.transaction(write_marker)?;
        }
        Ok(count)
    }

    /// How many records each master key sealed or MAC'd, by kind.
    pub fn kid_counts(&self) -> Result<Vec<(&'static str, sealed::KidCounts)>, AuthError> {
        Ok(vec![
            ("MFA records", sealed::kid_counts(&self.store, MFA_NS, "")?),
            (
                "step-up grants",
                sealed::kid_counts(&self.store, GRANTS_NS, "")?,
            ),
            ("operator role MACs", self.operator_mac_kids()?),
        ])
    }

    fn operator_mac_kids(&self) -> Result<sealed::KidCounts, AuthError> {
        let mut counts = sealed::KidCounts::new();
        for (_, bytes) in self.store.list(OPERATORS_NS, "")? {
            let kid = serde_json::from_slice::<StoredOperator>(&bytes)
                .ok()
                .and_then(|op| op.mac)
                .and_then(|tag| crate::crypto::mac_kid(&tag).map(str::to_owned))
                .unwrap_or_else(|| "none".into());
            *counts.entry(kid).or_default() += 1;
        }
        Ok(counts)
    }

    // ------------------------------------------------------------ events

    /// Records an event through the audit handle, adding the actor. An audit
    /// failure is logged and does not undo or refuse the action.
    pub fn emit(&self, event_type: &str, user: Option<&str>, mut details: Value) {
        if let (Some(actor), Value::Object(map)) = (&self.actor, &mut details) {
            map.insert("actor".into(), Value::String(actor.clone()));
        }
        if let Err(e) = self.audit.emit(event_type, user, details) {
            tracing::error!(event_type, error = %e, "security event not recorded");
        }
    }

    fn emit_rejection(&self, user: &str, stage: &str, e: &MfaError) {
        match e {
            MfaError::LockedOut {
                until,
                started: true,
            } => self.emit(
                "mfa_lockout",
                Some(user),
                json!({ "stage": stage, "until": until }),
            ),
            _ => self.emit(
                "mfa_failure",
                Some(user),
                json!({ "stage": stage, "reason": mfa_reason(e) }),
            ),
        }
    }
}

/// An operator's grant as one process sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantState {
    /// Open, and honoured here.
    Open(Grant),
    /// None, or expired.
    None,
    /// Bound to another terminal (its device).
    OtherTerminal(String),
    /// Not bound to a terminal while `tty_grants` wants every grant to be.
    Unbound,
}

/// Whether `role` meets what `action` needs (the role alone).
fn at_least(operator: &str, role: Role, action: &str) -> Result<(), AuthError> {
    let needed = requirement(action).role;
    if role < needed {
        return Err(AuthError::Forbidden {
            operator: operator.to_owned(),
            role,
            needed,
            action: action.to_owned(),
        });
    }
    Ok(())
}

/// Whether operator records are bound as a whole (see [`operators`]).
fn has_marker(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT count(*) FROM kv WHERE ns = ?1 AND key = ?2",
        [BINDING_NS, OPERATORS_NS],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn write_marker(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, x'31', unixepoch())
         ON CONFLICT (ns, key) DO NOTHING",
        [BINDING_NS, OPERATORS_NS],
    )
    .map(|_| ())
}

/// A short machine-readable reason (for events and `--json`), never a secret.
pub fn reason(e: &AuthError) -> &'static str {
    match e {
        AuthError::UnknownOperator(_) => "unknown_operator",
        AuthError::NotEnrolled(_) => "not_enrolled",
        AuthError::Mfa(e) => mfa_reason(e),
        AuthError::Forbidden { .. } => "forbidden",
        AuthError::StepUpRequired { .. } => "step_up_required",
        AuthError::GrantNotHonoured { .. } => "grant_not_honoured",
        AuthError::LastAdmin { .. } => "last_admin",
        AuthError::Crypto(_) => "crypto",
        AuthError::Store(_) => "store",
        AuthError::Corrupt(_) => "corrupt_record",
        AuthError::Tampered { .. } => "tampered_record",
        AuthError::Invalid(_) => "invalid",
        AuthError::EnrolmentRefused { reason, .. } => reason.as_str(),
    }
}

fn mfa_reason(e: &MfaError) -> &'static str {
    match e {
        MfaError::NotEnrolled => "not_enrolled",
        MfaError::NoPendingEnrollment => "no_pending_enrollment",
        MfaError::PendingExpired => "pending_expired",
        MfaError::InvalidCode { .. } => "invalid_code",
        MfaError::Replayed => "replayed",
        MfaError::LockedOut { .. } => "locked_out",
        MfaError::Malformed(_) => "malformed",
        MfaError::Qr(_) => "qr",
        MfaError::Hashing(_) => "hashing",
    }
}
