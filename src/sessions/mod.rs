//! Sessions: who is logged in, from which device, and is any session stolen.
//!
//! - [`model`]: the session, its id, the device fingerprint, validation outcomes;
//! - [`backend`]: the [`backend::SessionStore`] trait, the embedded store and Redis;
//! - [`service`]: operations with their security events, and the console's task;
//! - [`settings`]: the Redis TLS files (CA, client certificate and key);
//! - [`pane`]: the live table;
//! - [`demo`]: the demo population.

pub mod backend;
pub mod demo;
pub mod model;
pub mod pane;
pub mod service;
pub mod settings;

pub use backend::{LocalStore, RedisStore, SessionError, SessionStore};
pub use model::{Device, Fingerprint, Listed, Session, SessionType, Validation};
pub use service::Sessions;
