//! MFA benchmarks: TOTP verification (target: under 5 µs median with a skew
//! of one step and a valid code) and half-block QR rendering.
//!
//! Argon2 (backup codes) is slow by design and stays out of these paths.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use secrecy::ExposeSecret;
use windflow::mfa::{MfaRecord, Policy, begin_enrollment, qr};

const T0: u64 = 1_750_000_020;

fn active_record() -> MfaRecord {
    let (mut record, _) = begin_enrollment("bench", T0).expect("enrol");
    let key = record.pending_key().expect("pending").clone();
    let code = key.code_at(T0);
    record
        .confirm(code.expose_secret(), T0, &Policy::default())
        .expect("confirm");
    record
}

fn totp(c: &mut Criterion) {
    let record = active_record();
    let policy = Policy::default();
    let now = T0 + 300;
    let key = record.active_key().expect("active").clone();
    // The newest step of the window, so every candidate step is computed.
    let code = key.code_at(now + 30).expose_secret().to_owned();

    // A fresh copy per iteration (made outside the timing): the replay guard
    // would refuse the same code twice.
    c.bench_function("totp_verify", |b| {
        b.iter_batched(
            || record.clone(),
            |mut r| {
                let outcome = r.verify(black_box(&code), black_box(now), &policy);
                (r, outcome.expect("valid code"))
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("totp_check_key", |b| {
        b.iter(|| key.check(black_box(&code), black_box(now), 1))
    });
}

fn qr_render(c: &mut Criterion) {
    let (_, enrollment) = begin_enrollment("bench", T0).expect("enrol");
    let uri = enrollment.otpauth_uri.expose_secret().to_owned();
    c.bench_function("qr_render", |b| {
        b.iter(|| qr::render_half_blocks(black_box(&uri)).expect("render"))
    });
}

criterion_group!(benches, totp, qr_render);
criterion_main!(benches);
