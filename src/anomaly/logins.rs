//! The sign-in detector: an isolation forest fitted on the sign-ins'
//! [features](super::features), kept sealed in the store in numbered
//! versions (see [`super::models`], which keeps every kind's models).
//! These are the sign-in kind's shorthands.

use super::features::Login;
pub use super::history::{Replay, replay};
use super::models::{self, Kind, Trained};
pub use super::models::{Assessment, COLD_START, ColdStart, NS, Risk};
use crate::crypto::Keyring;
use crate::store::Store;

/// A trained sign-in model.
pub type LoginModel = Trained;

/// Fits the sign-in model on `logins` (at least [`COLD_START`]).
pub fn train(logins: &[Login], seed: u64, version: u64) -> Result<LoginModel, ColdStart> {
    Trained::train(Kind::Login, logins, seed, version)
}

/// The newest stored sign-in model's version, if any (without opening it).
pub fn latest_version(store: &Store) -> anyhow::Result<Option<u64>> {
    models::latest_version(store, Kind::Login)
}

/// The version the next trained sign-in model gets.
pub fn next_version(store: &Store) -> anyhow::Result<u64> {
    models::next_version(store, Kind::Login)
}

/// Seals a sign-in model under its version.
pub fn save(store: &Store, keys: &Keyring, model: &LoginModel) -> anyhow::Result<()> {
    models::save(store, keys, Kind::Login, model)
}

/// Seals every stored model (every kind) again under the primary key.
pub fn rewrap(store: &Store, keys: &Keyring) -> anyhow::Result<crate::auth::RewrapCount> {
    models::rewrap(store, keys)
}

/// How many stored models (every kind) each master key sealed.
pub fn kid_counts(store: &Store) -> anyhow::Result<crate::auth::sealed::KidCounts> {
    models::kid_counts(store)
}

/// The newest sign-in model, if one was trained.
pub fn latest(store: &Store, keys: &Keyring) -> anyhow::Result<Option<LoginModel>> {
    models::latest(store, keys, Kind::Login)
}
