//! Envelope encryption benchmarks. `bench/openssl-compare.sh` puts the 16 KiB
//! figure next to `openssl speed -evp aes-256-gcm`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use windflow::crypto::primitives::aes256gcm_seal;
use windflow::crypto::{Keyring, MasterKey};

fn envelope_16k(c: &mut Criterion) {
    let ring = Keyring::new(MasterKey::generate());
    let plaintext = vec![0x5a; 16 * 1024];
    let mut group = c.benchmark_group("envelope_16k");
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.bench_function("roundtrip", |b| {
        b.iter(|| {
            let sealed = ring.encrypt("session", black_box(&plaintext)).unwrap();
            ring.decrypt("session", &sealed).unwrap()
        })
    });
    group.bench_function("encrypt", |b| {
        b.iter(|| ring.encrypt("session", black_box(&plaintext)).unwrap())
    });
    let sealed = ring.encrypt("session", &plaintext).unwrap();
    group.bench_function("decrypt", |b| {
        b.iter(|| ring.decrypt("session", black_box(&sealed)).unwrap())
    });
    // The bare AEAD, the same operation `openssl speed` times: ours (ring) and
    // the aes-gcm crate the tests check it against.
    let (key, nonce) = ([7u8; 32], [9u8; 12]);
    group.bench_function("aes256gcm_seal", |b| {
        b.iter(|| aes256gcm_seal(&key, &nonce, b"session", black_box(&plaintext)).unwrap())
    });
    group.bench_function("aes_gcm_crate_seal", |b| {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        b.iter(|| {
            let payload = Payload {
                msg: black_box(&plaintext[..]),
                aad: b"session",
            };
            aes_gcm::Aes256Gcm::new(&key.into())
                .encrypt(&nonce.into(), payload)
                .unwrap()
        })
    });
    group.finish();
}

fn envelope_64b(c: &mut Criterion) {
    let ring = Keyring::new(MasterKey::generate());
    let value = [0x42u8; 64];
    let sealed = ring.encrypt("totp:alice", &value).unwrap();
    let mut group = c.benchmark_group("envelope_64b");
    group.bench_function("encrypt", |b| {
        b.iter(|| ring.encrypt("totp:alice", black_box(&value)).unwrap())
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| ring.decrypt("totp:alice", black_box(&sealed)).unwrap())
    });
    group.finish();
}

/// The envelope's base64url text at 16 KiB: ours (AVX-512 VBMI where the CPU
/// has it) next to base64-simd, which it falls back to.
fn base64_16k(c: &mut Criterion) {
    use base64_simd::URL_SAFE_NO_PAD as SIMD;
    use windflow::crypto::b64;
    let bytes: Vec<u8> = (0..16 * 1024u32).map(|i| (i * 31) as u8).collect();
    let text = SIMD.encode_to_string(&bytes);
    let mut group = c.benchmark_group("base64_16k");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(text.len());
            b64::encode_append(black_box(&bytes), &mut out);
            out
        })
    });
    group.bench_function("encode_base64_simd", |b| {
        b.iter(|| SIMD.encode_to_string(black_box(&bytes)))
    });
    group.bench_function("decode", |b| {
        b.iter(|| b64::decode_to_vec(black_box(text.as_bytes())).unwrap())
    });
    group.bench_function("decode_base64_simd", |b| {
        b.iter(|| SIMD.decode_to_vec(black_box(text.as_bytes())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, envelope_16k, envelope_64b, base64_16k);
criterion_main!(benches);
