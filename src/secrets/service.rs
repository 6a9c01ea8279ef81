//! The secrets service.
