//! Envelope encryption: published test vectors, envelope behaviour, key files,
//! and interoperability with Python's `cryptography`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use serde_json::Value;
use windflow::crypto::primitives::{aes256gcm_open, aes256gcm_seal, hkdf_sha256};
use windflow::crypto::{
    CryptoError, Envelope, KeyError, KeySource, Keyring, MasterKey, derive_key, open, seal_with,
};

const MASTER: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/crypto/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

/// Runs HKDF-SHA256 on a vector's ikm/salt/info, returning the result and the output.
fn hkdf_case(case: &Value, size: u64) -> (Result<(), CryptoError>, Vec<u8>) {
    let mut okm = vec![0; size as usize];
    let (ikm, salt, info) = (
        unhex(&case["ikm"]),
        unhex(&case["salt"]),
        unhex(&case["info"]),
    );
    (hkdf_sha256(&ikm, &salt, &[&info], &mut okm), okm)
}

fn cases(doc: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    let groups = doc["testGroups"].as_array().unwrap();
    groups
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap().iter().map(move |t| (g, t)))
}

#[test]
fn wycheproof_aes_256_gcm_through_the_envelope_primitive() {
    let doc = fixture("wycheproof_aes_gcm_test.json");
    let (mut valid, mut invalid) = (0, 0);
    for (group, case) in cases(&doc) {
        if (
            group["keySize"].as_u64(),
            group["ivSize"].as_u64(),
            group["tagSize"].as_u64(),
        ) != (Some(256), Some(96), Some(128))
        {
            continue;
        }
        let id = &case["tcId"];
        let key: [u8; 32] = unhex(&case["key"]).try_into().unwrap();
        let nonce: [u8; 12] = unhex(&case["iv"]).try_into().unwrap();
        let (aad, msg) = (unhex(&case["aad"]), unhex(&case["msg"]));
        let sealed = [unhex(&case["ct"]), unhex(&case["tag"])].concat();
        match case["result"].as_str().unwrap() {
            "valid" => {
                valid += 1;
                assert_eq!(
                    aes256gcm_seal(&key, &nonce, &aad, &msg).unwrap(),
                    sealed,
                    "tcId {id}"
                );
                let opened = aes256gcm_open(&key, &nonce, &aad, &sealed).unwrap();
                assert_eq!(&opened[..], &msg[..], "tcId {id}");
            }
            "invalid" => {
                invalid += 1;
                let opened = aes256gcm_open(&key, &nonce, &aad, &sealed);
                assert_eq!(opened, Err(CryptoError::AuthenticationFailed), "tcId {id}");
            }
            other => panic!("tcId {id}: unexpected result {other}"),
        }
    }
    // keySize 256, ivSize 96, tagSize 128 in the pinned file: 39 valid, 27 invalid.
    assert_eq!((valid, invalid), (39, 27));
}

/// The aes-gcm crate (RustCrypto, independent of ring's assembly) agrees with our
/// AES-256-GCM on random keys, nonces, AADs and every length around the block and
/// SIMD stride boundaries, both ways, and rejects what we reject.
#[test]
fn aes_256_gcm_agrees_with_an_independent_implementation() {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let mut rng = rand::rng();
    for len in (0..=300).chain([1023, 1024, 1025, 4096, 16 * 1024 + 7]) {
        let key: [u8; 32] = rng.random();
        let nonce: [u8; 12] = rng.random();
        let aad: Vec<u8> = (0..len % 37).map(|_| rng.random()).collect();
        let msg: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let oracle = aes_gcm::Aes256Gcm::new(&key.into());
        let ours = aes256gcm_seal(&key, &nonce, &aad, &msg).unwrap();
        let theirs = oracle
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &msg,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(ours, theirs, "length {len}");
        assert_eq!(
            &aes256gcm_open(&key, &nonce, &aad, &theirs).unwrap()[..],
            &msg[..]
        );
        let mut forged = theirs.clone();
        let at = rng.random_range(0..forged.len());
        forged[at] ^= 1 << rng.random_range(0..8);
        assert_eq!(
            aes256gcm_open(&key, &nonce, &aad, &forged),
            Err(CryptoError::AuthenticationFailed)
        );
        assert!(
            oracle
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: &forged,
                        aad: &aad
                    }
                )
                .is_err()
        );
    }
}

#[test]
fn rfc5869_hkdf_sha256_vectors() {
    let doc = fixture("rfc5869_hkdf_sha256_vectors.json");
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let (result, okm) = hkdf_case(case, case["L"].as_u64().unwrap());
        assert_eq!(
            (result, okm),
            (Ok(()), unhex(&case["okm"])),
            "{}",
            case["tc"]
        );
    }
    assert_eq!(cases.len(), 3);
}

#[test]
fn wycheproof_hkdf_sha256() {
    let doc = fixture("wycheproof_hkdf_sha256_test.json");
    let (mut valid, mut invalid) = (0, 0);
    for (_, case) in cases(&doc) {
        let id = &case["tcId"];
        let size = case["size"].as_u64().unwrap();
        let (result, okm) = hkdf_case(case, size);
        match case["result"].as_str().unwrap() {
            "valid" => {
                valid += 1;
                assert_eq!(result, Ok(()), "tcId {id}");
                assert_eq!(okm, unhex(&case["okm"]), "tcId {id}");
            }
            "invalid" => {
                invalid += 1;
                let too_long = CryptoError::KdfOutputTooLong { len: size as usize };
                assert_eq!(result, Err(too_long), "tcId {id}");
            }
            other => panic!("tcId {id}: unexpected result {other}"),
        }
    }
    assert_eq!((valid, invalid), (83, 3));
}

#[test]
fn known_answer_envelope_matches_the_format() {
    // Computed independently with Python `cryptography` (HKDF + AESGCM).
    let salt: [u8; 16] = std::array::from_fn(|i| 0xa0 + i as u8);
    let nonce: [u8; 12] = std::array::from_fn(|i| 0xc0 + i as u8);
    let expected = "wf1.630dcd29.oKGio6SlpqeoqaqrrK2urw.wMHCw8TFxsfIycrL.\
                    d24TkYdbEQNh5TKl9Szs4VkDEnAJZDlrqQr__KokGMA";
    let sealed = seal_with(&MASTER, "totp:alice", &salt, &nonce, b"JBSWY3DPEHPK3PXP").unwrap();
    assert_eq!(sealed, expected);
    assert_eq!(
        hex::encode(*derive_key(&MASTER, &salt, "totp:alice")),
        "74cef018adc4f79c005ba1802e3b3c730f062124172261541fb8e4ff5f28eaae"
    );
    assert_eq!(
        &open(&MASTER, "totp:alice", expected).unwrap()[..],
        b"JBSWY3DPEHPK3PXP"
    );
    assert_eq!(MasterKey::from_bytes(&MASTER).kid(), "630dcd29");
}

#[test]
fn round_trip_with_fresh_salt_and_nonce() {
    let ring = Keyring::new(MasterKey::generate());
    for plaintext in [&b""[..], b"x", &[0xffu8; 16384][..]] {
        let sealed = ring.encrypt("session", plaintext).unwrap();
        let parts: Vec<&str> = sealed.split('.').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!((parts[0], parts[1]), ("wf1", ring.primary_kid().as_str()));
        let env = Envelope::parse(&sealed).unwrap();
        assert_eq!(env.ciphertext.len(), plaintext.len() + 16);
        assert_eq!(&ring.decrypt("session", &sealed).unwrap()[..], plaintext);
        assert_ne!(sealed, ring.encrypt("session", plaintext).unwrap());
    }
}

#[test]
fn wrong_context_and_wrong_key_give_distinct_errors() {
    let ring = Keyring::new(MasterKey::generate());
    let other = Keyring::new(MasterKey::generate());
    let sealed = ring.encrypt("totp:alice", b"secret").unwrap();
    let failed = ring.decrypt("totp:bob", &sealed).unwrap_err();
    assert_eq!(failed, CryptoError::AuthenticationFailed);
    assert!(
        failed
            .to_string()
            .contains("wrong context or tampered/corrupted data")
    );
    let unknown = CryptoError::UnknownKey {
        kid: ring.primary_kid(),
    };
    assert_eq!(other.decrypt("totp:alice", &sealed), Err(unknown.clone()));
    let other_master = other.primary().expose_bytes();
    assert_eq!(open(other_master, "totp:alice", &sealed), Err(unknown));
}

#[test]
fn tampering_with_each_part_is_detected() {
    let ring = Keyring::new(MasterKey::generate());
    let sealed = ring
        .encrypt("deployment:api-7", b"database password")
        .unwrap();
    let good = Envelope::parse(&sealed).unwrap();
    let attempt = |change: &dyn Fn(&mut Envelope)| {
        let mut env = good.clone();
        change(&mut env);
        ring.decrypt("deployment:api-7", &env.to_string())
    };
    let auth = Err(CryptoError::AuthenticationFailed);
    assert_eq!(attempt(&|e| e.salt[0] ^= 1), auth);
    assert_eq!(attempt(&|e| e.nonce[11] ^= 0x80), auth);
    assert_eq!(attempt(&|e| e.ciphertext[0] ^= 1), auth);
    assert_eq!(attempt(&|e| *e.ciphertext.last_mut().unwrap() ^= 1), auth);
    assert_eq!(attempt(&|e| e.ciphertext.truncate(20)), auth);
    let unknown = attempt(&|e| e.kid = "00000000".into());
    assert_eq!(
        unknown,
        Err(CryptoError::UnknownKey {
            kid: "00000000".into()
        })
    );
    let renamed = sealed.replacen("wf1", "wf2", 1);
    let malformed = ring.decrypt("deployment:api-7", &renamed);
    assert!(
        matches!(malformed, Err(CryptoError::Malformed { .. })),
        "{malformed:?}"
    );
}

#[test]
fn truncated_envelopes_fail_cleanly() {
    let ring = Keyring::new(MasterKey::generate());
    let sealed = ring.encrypt("session", b"0123456789abcdef0123").unwrap();
    for cut in 0..sealed.len() {
        assert!(
            ring.decrypt("session", &sealed[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let short_tag = &sealed[..sealed.rfind('.').unwrap() + 17]; // 16 chars: 12 bytes
    let err = ring.decrypt("session", short_tag).unwrap_err();
    assert!(
        err.to_string().contains("shorter than the 16-byte tag"),
        "{err}"
    );
    let err = ring
        .decrypt("session", &sealed[..sealed.rfind('.').unwrap()])
        .unwrap_err();
    assert!(
        err.to_string().contains("expected 5 dot-separated parts"),
        "{err}"
    );
}

#[test]
fn empty_context_is_refused() {
    let ring = Keyring::new(MasterKey::generate());
    let sealed = ring.encrypt("session", b"x").unwrap();
    assert_eq!(ring.encrypt("", b"x"), Err(CryptoError::EmptyContext));
    assert_eq!(ring.decrypt("", &sealed), Err(CryptoError::EmptyContext));
    assert_eq!(
        seal_with(&MASTER, "", &[0; 16], &[0; 12], b"x"),
        Err(CryptoError::EmptyContext)
    );
}

#[test]
fn garbage_never_panics_and_is_malformed() {
    let ring = Keyring::new(MasterKey::from_bytes(&MASTER));
    let long = "A".repeat(100_000);
    let garbage = [
        "",
        ".",
        "....",
        "wf1",
        "wf1.....",
        "hello world",
        "wf1.630dcd29.AA.AA.AA",
        "wf1.630DCD29.oKGio6SlpqeoqaqrrK2urw.wMHCw8TFxsfIycrL.d24TkYdbEQNh5TKl9Szs4VkDEnAJ",
        "wf1.630dcd29.oKGio6SlpqeoqaqrrK2urw==.wMHCw8TFxsfIycrL.d24TkYdbEQNh5TKl9Szs4VkDEnAJ",
        "wf1.630dcd29.oKGio6SlpqeoqaqrrK2u.wMHCw8TFxsfIycrL.d24TkYdbEQNh5TKl9Szs4VkDEnAJ",
        "wf1.630dcd29.oKGio6SlpqeoqaqrrK2urw.wMHCw8TFxsfIycrL.d24Tk+dbEQNh5TKl9Szs4VkDEnAJ",
        "wf1.630dcd29.ééé.wMHCw8TFxsfIycrL.d24TkYdbEQNh5TKl9Szs4VkDEnAJ",
        &long,
    ];
    for text in garbage {
        let result = ring.decrypt("totp:alice", text);
        assert!(
            matches!(result, Err(CryptoError::Malformed { .. })),
            "{text:.40}: {result:?}"
        );
    }
    // Random single-character mutations of a valid envelope.
    let sealed = ring.encrypt("totp:alice", b"JBSWY3DPEHPK3PXP").unwrap();
    let alphabet = b"ABCabc019-_.=+/ \n";
    let mut rng = rand::rng();
    for _ in 0..2000 {
        let mut bytes = sealed.clone().into_bytes();
        let at = rng.random_range(0..bytes.len());
        bytes[at] = alphabet[rng.random_range(0..alphabet.len())];
        let text = String::from_utf8(bytes).unwrap();
        if ring.decrypt("totp:alice", &text).is_ok() {
            // Only whitespace at the ends, or an unchanged character, may still open.
            assert!(text.trim() == sealed || text == sealed, "{text}");
        }
    }
}

#[test]
fn keyring_decrypts_by_kid_and_rewraps_under_the_primary() {
    let keys: Vec<MasterKey> = (0..3).map(|_| MasterKey::generate()).collect();
    let sealed: Vec<String> = keys
        .iter()
        .map(|k| {
            Keyring::new(k.clone())
                .encrypt("secret:db", k.kid().as_bytes())
                .unwrap()
        })
        .collect();
    let ring = Keyring::from_keys(keys.iter().cloned()).unwrap();
    assert_eq!(
        ring.kids(),
        keys.iter().map(MasterKey::kid).collect::<Vec<_>>()
    );
    assert_eq!(ring.primary_kid(), keys[2].kid());
    for (key, env) in keys.iter().zip(&sealed) {
        assert_eq!(
            &ring.decrypt("secret:db", env).unwrap()[..],
            key.kid().as_bytes()
        );
    }
    assert!(ring.needs_rewrap(&sealed[0]) && !ring.needs_rewrap(&sealed[2]));
    assert!(ring.needs_rewrap("not an envelope"));
    let rewrapped = ring.rewrap("secret:db", &sealed[0]).unwrap();
    assert!(!ring.needs_rewrap(&rewrapped));
    let newest_only = Keyring::new(keys[2].clone());
    assert_eq!(
        &newest_only.decrypt("secret:db", &rewrapped).unwrap()[..],
        keys[0].kid().as_bytes()
    );
    assert_eq!(
        ring.rewrap("other", &sealed[0]),
        Err(CryptoError::AuthenticationFailed)
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn key_file_is_created_private_and_refused_when_open_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("data/windflow/master.key");
    assert!(matches!(
        Keyring::load(&KeySource::File(path.clone())),
        Err(KeyError::Missing { .. })
    ));
    let created = Keyring::load(&KeySource::FileOrCreate(path.clone())).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let reloaded = Keyring::load(&KeySource::File(path.clone())).unwrap();
    assert_eq!(reloaded.kids(), created.kids());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    for source in [
        KeySource::File(path.clone()),
        KeySource::FileOrCreate(path.clone()),
    ] {
        let err = Keyring::load(&source).unwrap_err();
        assert!(matches!(
            err,
            KeyError::InsecurePermissions { mode: 0o644, .. }
        ));
        let shown = path.display();
        let expected = format!(
            "key file {shown} is readable by group/others (mode 0644); run chmod 600 {shown}"
        );
        assert_eq!(err.to_string(), expected);
    }
    let mut ring = created;
    assert!(matches!(
        ring.add_key(&path),
        Err(KeyError::InsecurePermissions { .. })
    ));
}

#[test]
fn add_key_appends_and_becomes_primary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let first = MasterKey::generate();
    let text = format!(
        "# windflow master keys, newest last\n\n{}",
        first.to_base64().as_str()
    );
    std::fs::write(&path, text).unwrap(); // no trailing newline on purpose
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut ring = Keyring::load(&KeySource::File(path.clone())).unwrap();
    let old = ring.encrypt("session", b"old").unwrap();
    let kid = ring.add_key(&path).unwrap();
    assert_eq!(
        (ring.primary_kid(), ring.kids()),
        (kid.clone(), vec![first.kid(), kid.clone()])
    );
    let reloaded = Keyring::load(&KeySource::File(path.clone())).unwrap();
    assert_eq!(reloaded.kids(), vec![first.kid(), kid]);
    assert_eq!(&reloaded.decrypt("session", &old).unwrap()[..], b"old");
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn bad_keys_are_reported_without_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let good = MasterKey::generate();
    let short = STANDARD.encode([7u8; 16]);
    for (line, expected) in [
        ("not base64!", "not valid standard base64"),
        (&*short, "is 16 bytes long"),
    ] {
        std::fs::write(&path, format!("{}\n{line}\n", good.to_base64().as_str())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let message = Keyring::load(&KeySource::File(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(expected) && message.contains("line 2 of"),
            "{message}"
        );
        assert!(!message.contains(line) && !message.contains(good.to_base64().as_str()));
    }
    let two = format!(
        "{},{}",
        good.to_base64().as_str(),
        MasterKey::generate().to_base64().as_str()
    );
    assert_eq!(
        Keyring::load(&KeySource::Env(two.clone())).unwrap().kids()[0],
        good.kid()
    );
    assert!(matches!(
        Keyring::load(&KeySource::Env(" ".into())),
        Err(KeyError::Empty { .. })
    ));
    let err = Keyring::load(&KeySource::Env("abc,".into())).unwrap_err();
    assert!(matches!(err, KeyError::BadBase64 { .. }) && err.to_string().contains("entry 1"));
    assert!(!format!("{:?}", KeySource::Env(two.clone())).contains(&two[..10]));
}

#[test]
fn debug_output_never_shows_key_material() {
    let key = MasterKey::from_bytes(&MASTER);
    let ring = Keyring::from_keys([MasterKey::generate(), key.clone()]).unwrap();
    let b64 = key.to_base64();
    for shown in [
        format!("{key:?}"),
        format!("{ring:?}"),
        format!("{ring:#?}"),
    ] {
        assert!(shown.contains("630dcd29"), "{shown}");
        assert!(!shown.contains(&b64[..8]) && !shown.contains(&hex::encode(&MASTER[..4])));
        assert!(
            !shown.contains("[0, 1, 2") && !shown.contains("0, 1, 2, 3"),
            "{shown}"
        );
    }
}

const INTEROP_SCRIPT: &str = r#"
import base64, hashlib, os, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

mode, master, context = sys.argv[1], base64.b64decode(sys.argv[2]), sys.argv[3].encode()
kid = hashlib.sha256(master).digest()[:4].hex()
def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def b64e(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def key(salt):
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"windflow/v1/" + context)
    return AESGCM(hkdf.derive(master))
if mode == "open":
    prefix, their_kid, salt, nonce, ct = sys.stdin.read().strip().split(".")
    assert prefix == "wf1" and their_kid == kid, "wrong prefix or kid"
    sys.stdout.buffer.write(key(b64d(salt)).decrypt(b64d(nonce), b64d(ct), context))
else:
    salt, nonce = os.urandom(16), os.urandom(12)
    ct = key(salt).encrypt(nonce, sys.stdin.buffer.read(), context)
    print(".".join(["wf1", kid, b64e(salt), b64e(nonce), b64e(ct)]))
"#;

fn run_python(python: &Path, script: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn python_cryptography_interoperates() {
    let python = crate::support::python_with("cryptography");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("interop.py");
    std::fs::write(&script, INTEROP_SCRIPT).unwrap();
    let ring = Keyring::from_keys([MasterKey::generate(), MasterKey::generate()]).unwrap();
    let b64 = ring.primary().to_base64();
    let short = "pässwörd \u{1F511} with a newline\n and 0 bytes \0".as_bytes();
    // Long enough for many whole base64 blocks, whichever code path encodes them.
    let long: Vec<u8> = (0..20_011u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let cases = [
        ("session", short),
        ("totp:alice", short),
        ("deployment:api-7", &long[..]),
    ];
    for (context, plaintext) in cases {
        // (a) Python opens what we sealed.
        let sealed = ring.encrypt(context, plaintext).unwrap();
        let opened = run_python(
            &python,
            &script,
            &["open", &b64, context],
            sealed.as_bytes(),
        );
        assert_eq!(opened, plaintext);
        // (b) we open what Python sealed.
        let theirs = run_python(&python, &script, &["seal", &b64, context], plaintext);
        let theirs = String::from_utf8(theirs).unwrap();
        assert_eq!(&ring.decrypt(context, &theirs).unwrap()[..], plaintext);
        assert_eq!(
            ring.decrypt("other", &theirs),
            Err(CryptoError::AuthenticationFailed)
        );
    }
}
