//! Record MACs: what binds a record the product trusts (an operator's role,
//! a secret's metadata) to its place, under a key derived from a master key.
//!
//! A tag looks like `m1.<kid>.<64 hex>`: HMAC-SHA256 under the key derived
//! from master key `kid` for the record kind's context
//! ([`contexts::record_mac`](super::contexts::record_mac)), over the record's
//! fields, each prefixed with its length (so no two field lists MAC alike).
//! The kid lets records tagged under an older key verify while it is
//! loaded; `crypto rewrap` tags them again under the primary key.

use hmac::{KeyInit, Mac};

use super::{CryptoError, Keyring, MasterKey};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const PREFIX: &str = "m1";

fn tag_under(key: &MasterKey, context: &str, fields: &[&[u8]]) -> String {
    let derived = super::envelope::derive_key(key.expose_bytes(), &[], context);
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&derived[..])
        .expect("HMAC takes keys of any length");
    for field in fields {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    format!(
        "{PREFIX}.{}.{}",
        key.kid_str(),
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The kid a record MAC was made under, when `tag` is one.
pub fn mac_kid(tag: &str) -> Option<&str> {
    let mut parts = tag.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(kid), Some(hex), None) if kid.len() == 8 && hex.len() == 64 => {
            Some(kid)
        }
        _ => None,
    }
}

impl Keyring {
    /// The MAC of `fields` for records of `context`, under the primary key.
    pub fn mac(&self, context: &str, fields: &[&[u8]]) -> String {
        tag_under(self.primary(), context, fields)
    }

    /// Checks `tag` against `fields` with the key it names: `UnknownKey`
    /// when that key is not loaded, `AuthenticationFailed` when the record
    /// (or the tag) was changed, `Malformed` when `tag` is not a MAC.
    pub fn check_mac(&self, context: &str, fields: &[&[u8]], tag: &str) -> Result<(), CryptoError> {
        let kid = mac_kid(tag).ok_or_else(|| CryptoError::Malformed {
            reason: "the record MAC is not `m1.<kid>.<64 hex>`".into(),
        })?;
        let key = self.get(kid).ok_or_else(|| CryptoError::UnknownKey {
            kid: kid.to_owned(),
        })?;
        let expected = tag_under(key, context, fields);
        if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), tag.as_bytes()).into() {
            Ok(())
        } else {
            Err(CryptoError::AuthenticationFailed)
        }
    }

    /// True when `tag` was made under another key than the primary.
    pub fn mac_needs_rewrap(&self, tag: &str) -> bool {
        mac_kid(tag) != Some(self.primary().kid_str())
    }
}

/// The kid of a sealed value: an envelope's or a record MAC's.
pub fn sealed_kid(text: &str) -> Option<String> {
    mac_kid(text)
        .map(str::to_owned)
        .or_else(|| super::Envelope::parse(text).ok().map(|e| e.kid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_checks_its_fields_context_and_key() {
        let old = MasterKey::generate();
        let mut ring = Keyring::new(old.clone());
        let tag = ring.mac("record-mac:operators", &[b"bob", b"viewer"]);
        assert_eq!(mac_kid(&tag), Some(old.kid_str()));
        assert!(
            ring.check_mac("record-mac:operators", &[b"bob", b"viewer"], &tag)
                .is_ok()
        );
        for (ctx, fields) in [
            ("record-mac:operators", &[&b"bob"[..], b"admin"][..]),
            ("record-mac:operators", &[b"bobv", b"iewer"]),
            ("record-mac:secrets", &[b"bob", b"viewer"]),
        ] {
            assert_eq!(
                ring.check_mac(ctx, fields, &tag),
                Err(CryptoError::AuthenticationFailed)
            );
        }
        ring.push(MasterKey::generate());
        assert!(ring.mac_needs_rewrap(&tag));
        assert!(
            ring.check_mac("record-mac:operators", &[b"bob", b"viewer"], &tag)
                .is_ok()
        );
        let stranger = Keyring::new(MasterKey::generate());
        assert!(matches!(
            stranger.check_mac("record-mac:operators", &[b"bob", b"viewer"], &tag),
            Err(CryptoError::UnknownKey { .. })
        ));
        assert!(ring.check_mac("x", &[], "garbage").is_err());
        assert_eq!(sealed_kid(&tag).as_deref(), Some(old.kid_str()));
    }
}
