//! TOTP MFA: RFC vectors, oathtool cross-check, QR round trip through an
//! independent decoder, and the enrolment/verification state machine.

use std::process::Command;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use windflow::mfa::{
    self, Algorithm, MfaError, MfaRecord, Policy, TotpKey, Verified, begin_enrollment, qr,
};

/// A time at the start of a 30 s step.
const T0: u64 = 1_750_000_020;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/crypto/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn code(key: &TotpKey, time: u64) -> String {
    key.code_at(time).expose_secret().to_owned()
}

/// A code valid at no step within two steps of `time`.
fn wrong_code(key: &TotpKey, time: u64) -> String {
    let near: Vec<String> = (0..5).map(|i| code(key, time + i * 30 - 60)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", n * 111_111 % 1_000_000))
        .find(|c| !near.contains(c))
        .expect("some code is wrong")
}

/// An active record for `alice`, confirmed at `T0`, with its key and backup codes.
fn active_record() -> (MfaRecord, TotpKey, Vec<SecretString>) {
    let (mut record, enrollment) = begin_enrollment("alice", T0).expect("enrol");
    let key = record.pending_key().expect("pending").clone();
    record
        .confirm(&code(&key, T0), T0, &Policy::default())
        .expect("confirm");
    (record, key, enrollment.backup_codes)
}

// ---------------------------------------------------------------- vectors

#[test]
fn rfc6238_vectors_all_modes() {
    let doc = fixture("rfc6238_totp_vectors.json");
    let digits = u8::try_from(doc["digits"].as_u64().unwrap()).unwrap();
    let period = doc["time_step"].as_u64().unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 18, "RFC 6238 Appendix B has 18 rows");
    for v in vectors {
        let algorithm = match v["mode"].as_str().unwrap() {
            "SHA1" => Algorithm::Sha1,
            "SHA256" => Algorithm::Sha256,
            "SHA512" => Algorithm::Sha512,
            other => panic!("unknown mode {other}"),
        };
        let seed = hex::decode(v["secret_hex"].as_str().unwrap()).unwrap();
        let time = v["time"].as_u64().unwrap();
        let expected = v["totp"].as_str().unwrap();
        let key = TotpKey::from_bytes(seed, algorithm, digits, period).unwrap();
        assert_eq!(code(&key, time), expected, "{algorithm:?} at {time}");
        assert_eq!(
            key.check(expected, time, 0),
            Some(time / period),
            "check {algorithm:?} at {time}"
        );
    }
}

#[test]
fn rfc4226_hotp_vectors() {
    let doc = fixture("rfc4226_hotp_vectors.json");
    let secret = hex::decode(doc["secret_hex"].as_str().unwrap()).unwrap();
    let digits = u8::try_from(doc["digits"].as_u64().unwrap()).unwrap();
    // HOTP(counter) = TOTP with a 1 s period at time = counter.
    let key = TotpKey::from_bytes(secret, Algorithm::Sha1, digits, 1).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 10);
    for v in vectors {
        let counter = v["counter"].as_u64().unwrap();
        let expected = v["hotp"].as_str().unwrap();
        assert_eq!(code(&key, counter), expected, "counter {counter}");
        assert_eq!(key.check(expected, counter, 0), Some(counter));
    }
}

#[test]
fn codes_match_oathtool() {
    let probe = Command::new("oathtool").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "install oathtool: apt-get install oathtool (scripts/test does this)"
    );
    let mut keys = vec![
        TotpKey::generate(),
        TotpKey::generate(),
        TotpKey::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", Algorithm::Sha1, 6, 30).unwrap(),
        TotpKey::from_bytes(vec![0xa5; 32], Algorithm::Sha256, 8, 30).unwrap(),
        TotpKey::from_bytes(vec![0x3c; 64], Algorithm::Sha512, 7, 60).unwrap(),
    ];
    keys.push(
        mfa::begin_enrollment("oath", T0)
            .unwrap()
            .0
            .pending_key()
            .unwrap()
            .clone(),
    );
    for key in &keys {
        for time in [
            59,
            1_111_111_109,
            1_234_567_890,
            T0 + 7,
            2_000_000_000,
            20_000_000_000,
        ] {
            let mode = match key.algorithm() {
                Algorithm::Sha1 => "sha1",
                Algorithm::Sha256 => "sha256",
                Algorithm::Sha512 => "sha512",
            };
            let out = Command::new("oathtool")
                .arg(format!("--totp={mode}"))
                .args(["-b", key.to_base32().expose_secret()])
                .args(["-d", &key.digits().to_string()])
                .args(["-s", &format!("{}s", key.period())])
                .args(["-N", &format!("@{time}")])
                .output()
                .expect("run oathtool");
            assert!(
                out.status.success(),
                "oathtool: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8(out.stdout).unwrap();
            assert_eq!(code(key, time), theirs.trim(), "{key:?} at {time}");
        }
    }
}

// ---------------------------------------------------------------- QR

/// Turns half-block lines back into a greyscale image (drawn = light),
/// `scale` pixels per module, and decodes it with rqrr.
fn decode_half_blocks(lines: &[String], scale: usize) -> String {
    let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let width = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == width), "ragged QR lines");
    let light = |x: usize, y: usize| match (rows[y / 2][x], y % 2) {
        ('█', _) | ('▀', 0) | ('▄', 1) => true,
        (' ' | '▀' | '▄', _) => false,
        (c, _) => panic!("unexpected character {c:?} in QR"),
    };
    let (w, h) = (width * scale, rows.len() * 2 * scale);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if light(x / scale, y / scale) { 255 } else { 0 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decode QR").1
}

#[test]
fn qr_round_trip_through_independent_decoder() {
    let (_, enrollment) = begin_enrollment("alice", T0).unwrap();
    let uri = enrollment.otpauth_uri.expose_secret();
    assert_eq!(decode_half_blocks(&enrollment.qr, 4), uri);
    assert_eq!(*enrollment.qr, qr::render_half_blocks(uri).unwrap());

    let long = format!(
        "otpauth://totp/WindFlow:{}%40windflow?secret=ABC",
        "x".repeat(300)
    );
    assert_eq!(
        decode_half_blocks(&qr::render_half_blocks(&long).unwrap(), 3),
        long
    );
}

#[test]
fn qr_lines_match_modules_with_light_quiet_zone() {
    let data = "otpauth://totp/WindFlow:bob%40windflow?secret=JBSWY3DPEHPK3PXP&issuer=WindFlow";
    let (width, dark) = qr::modules(data).unwrap();
    assert_eq!(dark.len(), width * width);
    let lines = qr::render_half_blocks(data).unwrap();
    let size = width + 2 * qr::QUIET_ZONE;
    const { assert!(qr::QUIET_ZONE >= 2) };
    assert_eq!(lines.len(), size.div_ceil(2));
    for (y, line) in lines.iter().enumerate() {
        assert_eq!(line.chars().count(), size);
        for (x, c) in line.chars().enumerate() {
            for (half, row) in [(0, 2 * y), (1, 2 * y + 1)] {
                let drawn = matches!((c, half), ('█', _) | ('▀', 0) | ('▄', 1));
                let q = qr::QUIET_ZONE;
                let expected_light = if row >= size {
                    false // below the image: background
                } else if (q..q + width).contains(&x) && (q..q + width).contains(&row) {
                    !dark[(row - q) * width + (x - q)]
                } else {
                    true // quiet zone
                };
                assert_eq!(drawn, expected_light, "module ({x}, {row})");
            }
        }
    }
    let ansi = qr::render_ansi(data).unwrap();
    assert!(ansi[0].starts_with("\x1b[97;40m") && ansi[0].ends_with("\x1b[0m"));
}

#[test]
fn otpauth_uri_has_issuer_and_label() {
    let (record, enrollment) = begin_enrollment("alice", T0).unwrap();
    let secret = enrollment.secret_base32.expose_secret();
    assert_eq!(secret.len(), 32, "160-bit secret is 32 base32 characters");
    let uri = enrollment.otpauth_uri.expose_secret();
    assert_eq!(
        uri,
        &format!("otpauth://totp/WindFlow:alice%40windflow?secret={secret}&issuer=WindFlow")
    );
    let key = record.pending_key().unwrap();
    assert_eq!(
        (key.algorithm(), key.digits(), key.period()),
        (Algorithm::Sha1, 6, 30)
    );
    let parsed = TotpKey::from_otpauth_uri(uri).unwrap();
    assert_eq!(code(&parsed, T0), code(key, T0));
    assert_eq!(enrollment.backup_codes.len(), 10);
    assert!(matches!(
        begin_enrollment("a:b", T0),
        Err(MfaError::Malformed(_))
    ));
}

// ---------------------------------------------------------------- import

#[test]
fn import_from_uri_and_base32() {
    let uri = "otpauth://totp/Acme:carol?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&algorithm=SHA256&digits=8&period=60&issuer=Acme";
    let key = TotpKey::from_otpauth_uri(uri).unwrap();
    assert_eq!(
        (key.algorithm(), key.digits(), key.period()),
        (Algorithm::Sha256, 8, 60)
    );
    assert_eq!(
        code(&key, 60),
        "46119246",
        "RFC 6238 SHA256 seed at step 1 (of 60 s)"
    );

    let spaced = TotpKey::from_base32(
        "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp",
        Algorithm::Sha1,
        6,
        30,
    )
    .unwrap();
    let plain =
        TotpKey::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", Algorithm::Sha1, 6, 30).unwrap();
    assert_eq!(code(&spaced, T0), code(&plain, T0));

    assert!(matches!(
        TotpKey::from_base32("not base32!", Algorithm::Sha1, 6, 30),
        Err(MfaError::Malformed(_))
    ));
    let short = TotpKey::from_base32("JBSWY3DPEHPK3PXP", Algorithm::Sha1, 6, 30).unwrap_err();
    assert!(short.to_string().contains("80 bits"), "{short}");
    assert!(matches!(
        TotpKey::from_bytes(vec![1; 20], Algorithm::Sha1, 9, 30),
        Err(MfaError::Malformed(_))
    ));
    let bad_uri =
        TotpKey::from_otpauth_uri("otpauth://hotp/X:y?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
            .unwrap_err();
    assert!(
        !bad_uri.to_string().contains("JBSWY3DP"),
        "error leaks the secret: {bad_uri}"
    );

    // An imported key is enrolled like a new one, and its URI keeps its parameters.
    let mut record = MfaRecord::new("carol").unwrap();
    let enrollment = record.begin_enrollment_with_key(key.clone(), T0).unwrap();
    let uri = enrollment.otpauth_uri.expose_secret();
    assert!(
        uri.contains("digits=8") && uri.contains("algorithm=SHA256") && uri.contains("period=60"),
        "{uri}"
    );
    record
        .confirm(&code(&key, T0), T0, &Policy::default())
        .unwrap();
    let later = T0 + 120;
    assert_eq!(
        record.verify(&code(&key, later), later, &Policy::default()),
        Ok(Verified::Totp { step: later / 60 })
    );
}

// ---------------------------------------------------------------- enrolment

#[test]
fn confirm_activates_pending_and_guards_replay() {
    let policy = Policy::default();
    let (mut record, enrollment) = begin_enrollment("alice", T0).unwrap();
    assert!(!record.is_active());
    assert_eq!(record.pending_created_at(), Some(T0));
    let key = record.pending_key().unwrap().clone();
    assert_eq!(
        record.verify(&code(&key, T0), T0, &policy),
        Err(MfaError::NotEnrolled)
    );

    let wrong = wrong_code(&key, T0 + 30);
    assert_eq!(
        record.confirm(&wrong, T0 + 30, &policy),
        Err(MfaError::InvalidCode {
            failures: 1,
            failures_left: 4
        })
    );
    record
        .confirm(&code(&key, T0 + 30), T0 + 30, &policy)
        .unwrap();
    assert!(record.is_active());
    assert!(record.pending_key().is_none());
    assert_eq!(record.failures(), 0);
    assert_eq!(
        record.backup_codes_remaining(),
        enrollment.backup_codes.len()
    );
    // The confirming code cannot be used again to sign in.
    assert_eq!(
        record.verify(&code(&key, T0 + 30), T0 + 31, &policy),
        Err(MfaError::Replayed)
    );
    assert_eq!(
        record.confirm(&code(&key, T0 + 60), T0 + 60, &policy),
        Err(MfaError::NoPendingEnrollment)
    );
}

#[test]
fn pending_enrollment_expires_after_ten_minutes() {
    let policy = Policy::default();
    let (mut record, _) = begin_enrollment("alice", T0).unwrap();
    let key = record.pending_key().unwrap().clone();
    let expiry = T0 + 600;
    assert_eq!(
        record.confirm(&code(&key, expiry), expiry, &policy),
        Err(MfaError::PendingExpired)
    );
    assert!(!record.is_active());
    let just_in_time = expiry - 1;
    record
        .confirm(&code(&key, just_in_time), just_in_time, &policy)
        .unwrap();
    assert!(record.is_active());
}

#[test]
fn reenrolment_keeps_active_key_until_confirmed() {
    let policy = Policy::default();
    let (mut record, old_key, old_backup) = active_record();

    let first = record.begin_enrollment(T0 + 100).unwrap();
    let abandoned = record.pending_key().unwrap().clone();
    let second = record.begin_enrollment(T0 + 200).unwrap();
    assert_ne!(
        first.secret_base32.expose_secret(),
        second.secret_base32.expose_secret()
    );
    let new_key = record.pending_key().unwrap().clone();

    // The old key still signs in while the new one is pending.
    let t = T0 + 240;
    assert!(matches!(
        record.verify(&code(&old_key, t), t, &policy),
        Ok(Verified::Totp { .. })
    ));
    // The replaced pending key no longer confirms.
    let t = T0 + 270;
    assert!(matches!(
        record.confirm(&code(&abandoned, t), t, &policy),
        Err(MfaError::InvalidCode { .. })
    ));
    record.confirm(&code(&new_key, t), t, &policy).unwrap();

    // Now the new key and its backup codes rule; the old ones are gone.
    let t = T0 + 330;
    assert!(matches!(
        record.verify(&code(&old_key, t), t, &policy),
        Err(MfaError::InvalidCode { .. })
    ));
    assert!(matches!(
        record.verify(old_backup[0].expose_secret(), t, &policy),
        Err(MfaError::InvalidCode { .. })
    ));
    assert_eq!(
        record.verify(second.backup_codes[0].expose_secret(), t, &policy),
        Ok(Verified::BackupCode { remaining: 9 })
    );
    assert_eq!(
        record.verify(&code(&new_key, t), t, &policy),
        Ok(Verified::Totp { step: t / 30 })
    );
}

// ---------------------------------------------------------------- verification

#[test]
fn skew_of_one_step_either_way() {
    let policy = Policy::default();
    let (mut record, key, _) = active_record();
    let now = T0 + 300;
    // Oldest first: the replay guard refuses steps at or before the last accepted one.
    assert_eq!(
        record.verify(&code(&key, now - 30), now, &policy),
        Ok(Verified::Totp { step: now / 30 - 1 })
    );
    assert_eq!(
        record.verify(&code(&key, now + 30), now, &policy),
        Ok(Verified::Totp { step: now / 30 + 1 })
    );

    let (mut record, key, _) = active_record();
    for far in [now - 60, now + 60] {
        assert!(
            matches!(
                record.verify(&code(&key, far), now, &policy),
                Err(MfaError::InvalidCode { .. })
            ),
            "code from {far} accepted at {now}"
        );
    }
    let strict = Policy {
        skew_steps: 0,
        ..Policy::default()
    };
    assert!(matches!(
        record.verify(&code(&key, now - 30), now, &strict),
        Err(MfaError::InvalidCode { .. })
    ));
    assert!(matches!(
        record.verify(&code(&key, now), now, &strict),
        Ok(Verified::Totp { .. })
    ));
}

#[test]
fn replayed_code_and_older_steps_are_refused() {
    let policy = Policy::default();
    let (mut record, key, _) = active_record();
    let now = T0 + 600;
    let current = code(&key, now);
    assert!(record.verify(&current, now, &policy).is_ok());
    assert_eq!(
        record.verify(&current, now + 5, &policy),
        Err(MfaError::Replayed)
    );
    assert_eq!(
        record.verify(&code(&key, now - 30), now + 5, &policy),
        Err(MfaError::Replayed)
    );
    assert_eq!(record.last_step(), Some(now / 30));
    assert_eq!(
        record.failures(),
        0,
        "a replay is not counted as a wrong code"
    );
    assert!(MfaError::Replayed.is_rejection());
    // The next step's code works.
    assert!(
        record
            .verify(&code(&key, now + 30), now + 30, &policy)
            .is_ok()
    );
}

#[test]
fn lockout_after_five_failures_with_growing_backoff() {
    let policy = Policy::default();
    let (mut record, key, _) = active_record();
    let mut now = T0 + 1000;
    for (round, expected_secs) in [30u64, 60, 120].into_iter().enumerate() {
        for failure in 1..=4 {
            assert_eq!(
                record.verify(&wrong_code(&key, now), now, &policy),
                Err(MfaError::InvalidCode {
                    failures: failure,
                    failures_left: 5 - failure
                }),
                "round {round}"
            );
        }
        let until = now + expected_secs;
        assert_eq!(
            record.verify(&wrong_code(&key, now), now, &policy),
            Err(MfaError::LockedOut {
                until,
                started: true
            })
        );
        assert_eq!(record.lockouts(), u32::try_from(round).unwrap() + 1);
        assert!(record.is_locked(until - 1));
        // While locked, even a valid code is refused and nothing is counted.
        now = until - 1;
        assert_eq!(
            record.verify(&code(&key, now), now, &policy),
            Err(MfaError::LockedOut {
                until,
                started: false
            })
        );
        now = until;
        assert!(!record.is_locked(now));
    }
    assert_eq!(policy.lockout_secs(7), 1920);
    assert_eq!(policy.lockout_secs(8), 3600, "capped at an hour");
    assert_eq!(policy.lockout_secs(60), 3600);

    // A success resets the failure count and the back-off.
    record.verify(&code(&key, now), now, &policy).unwrap();
    assert_eq!((record.failures(), record.lockouts()), (0, 0));
}

#[test]
fn success_resets_failure_count() {
    let policy = Policy::default();
    let (mut record, key, _) = active_record();
    let now = T0 + 90;
    for _ in 0..4 {
        let _ = record.verify(&wrong_code(&key, now), now, &policy);
    }
    assert_eq!(record.failures(), 4);
    record.verify(&code(&key, now), now, &policy).unwrap();
    assert_eq!(record.failures(), 0);
    for _ in 0..4 {
        assert!(matches!(
            record.verify(&wrong_code(&key, now), now, &policy),
            Err(MfaError::InvalidCode { .. })
        ));
    }
    assert!(!record.is_locked(now));
}

#[test]
fn malformed_input_is_refused_without_counting() {
    let policy = Policy::default();
    let (mut record, _, _) = active_record();
    for input in [
        "",
        "12345",
        "1234567",
        "hello",
        "abcde-fghj1",
        "abcdi-fghjk",
    ] {
        assert!(
            matches!(
                record.verify(input, T0 + 60, &policy),
                Err(MfaError::Malformed(_))
            ),
            "{input:?}"
        );
    }
    assert_eq!(record.failures(), 0);
}

// ---------------------------------------------------------------- backup codes

#[test]
fn backup_codes_single_use_case_and_dash_tolerant() {
    let policy = Policy::default();
    let (mut record, _, codes) = active_record();
    assert_eq!(codes.len(), 10);
    for c in &codes {
        let c = c.expose_secret();
        assert_eq!(c.len(), 11);
        assert_eq!(c.as_bytes()[5], b'-');
    }
    assert!(
        record
            .backup_codes()
            .iter()
            .all(|h| h.phc().starts_with("$argon2id$"))
    );
    let now = T0 + 60;
    let first = codes[0].expose_secret();
    assert_eq!(
        record.verify(first, now, &policy),
        Ok(Verified::BackupCode { remaining: 9 })
    );
    assert!(
        matches!(
            record.verify(first, now, &policy),
            Err(MfaError::InvalidCode { .. })
        ),
        "reused"
    );

    let shouted = codes[1].expose_secret().replace('-', "").to_uppercase();
    assert_eq!(
        record.verify(&shouted, now, &policy),
        Ok(Verified::BackupCode { remaining: 8 })
    );
    let spaced = codes[2].expose_secret().replace('-', " ");
    assert_eq!(
        record.verify(&spaced, now, &policy),
        Ok(Verified::BackupCode { remaining: 7 })
    );
    assert_eq!(record.failures(), 0);
}

#[test]
fn regenerating_backup_codes_invalidates_old_set() {
    let policy = Policy::default();
    let (mut record, _, old) = active_record();
    let now = T0 + 60;
    record.verify(old[0].expose_secret(), now, &policy).unwrap();
    let new = record.regenerate_backup_codes().unwrap();
    assert_eq!(new.len(), 10);
    assert_eq!(record.backup_codes_remaining(), 10);
    assert!(matches!(
        record.verify(old[1].expose_secret(), now, &policy),
        Err(MfaError::InvalidCode { .. })
    ));
    assert_eq!(
        record.verify(new[9].expose_secret(), now, &policy),
        Ok(Verified::BackupCode { remaining: 9 })
    );

    let (mut pending_only, _) = begin_enrollment("dave", T0).unwrap();
    assert_eq!(
        pending_only.regenerate_backup_codes().unwrap_err(),
        MfaError::NotEnrolled
    );
}

// ---------------------------------------------------------------- persistence and redaction

#[test]
fn record_survives_json_round_trip() {
    let policy = Policy::default();
    let (mut record, key, codes) = active_record();
    let now = T0 + 60;
    record.verify(&code(&key, now), now, &policy).unwrap();
    let _ = record.verify(&wrong_code(&key, now), now, &policy);
    record
        .verify(codes[3].expose_secret(), now, &policy)
        .unwrap();
    let _ = record.verify(&wrong_code(&key, now), now, &policy);
    let json = serde_json::to_string(&record).unwrap();
    let mut restored: MfaRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(restored.user(), "alice");
    assert_eq!(restored.failures(), 1);
    assert_eq!(restored.backup_codes_remaining(), 9);
    assert_eq!(restored.last_step(), record.last_step());
    assert_eq!(
        restored.verify(&code(&key, now), now, &policy),
        Err(MfaError::Replayed)
    );
    assert!(matches!(
        restored.verify(codes[3].expose_secret(), now, &policy),
        Err(MfaError::InvalidCode { .. })
    ));
    assert!(
        restored
            .verify(&code(&key, now + 30), now + 30, &policy)
            .is_ok()
    );
    let policy_json = serde_json::to_string(&Policy::default()).unwrap();
    assert_eq!(
        serde_json::from_str::<Policy>(&policy_json).unwrap(),
        Policy::default()
    );
    assert_eq!(
        serde_json::from_str::<Policy>("{\"skew_steps\":2}")
            .unwrap()
            .max_failures,
        5
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let (record, enrollment) = begin_enrollment("alice", T0).unwrap();
    let secret = enrollment.secret_base32.expose_secret().to_owned();
    let key = record.pending_key().unwrap();
    let shown = [
        format!("{record:?}"),
        format!("{enrollment:?}"),
        format!("{key:?}"),
        format!("{:?}", enrollment.backup_codes),
        format!("{:?}", record.backup_codes()),
    ];
    // The JSON the caller encrypts does hold the secret, as base32.
    assert_eq!(
        serde_json::to_value(key).unwrap()["secret"],
        secret.as_str()
    );
    for text in &shown {
        assert!(!text.contains(&secret), "secret in {text}");
        assert!(!text.contains("$argon2"), "hash in {text}");
        assert!(!text.contains("otpauth://"), "URI in {text}");
        for c in &enrollment.backup_codes {
            assert!(!text.contains(c.expose_secret()), "backup code in {text}");
        }
    }
    assert!(shown[0].contains("alice"));
}
