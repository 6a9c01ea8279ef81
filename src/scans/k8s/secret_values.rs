//! Does an environment value look like a secret? For the `secret-in-env`
//! check: a private key or token pasted as a literal value is a secret
//! whatever the variable is called. What is returned names the kind, never
//! the value.
//!
//! Three tests, the first that matches wins:
//!
//! 1. a PEM private key header (`-----BEGIN ... PRIVATE KEY-----`);
//! 2. a well-known token format: AWS access key ids (`AKIA`, `ASIA`, ...),
//!    GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab
//!    (`glpat-`), Slack (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`), Google API keys
//!    (`AIza`), Stripe live keys (`sk_live_`, `rk_live_`) and JWTs
//!    (`eyJ...eyJ...`);
//! 3. a long random-looking word: at least [`MIN_LEN`] characters of the
//!    base64 and token alphabet, with upper case, lower case and digits,
//!    a Shannon entropy of at least [`MIN_ENTROPY`] bits per character, and
//!    the character class changing at [`MIN_SWITCHES`] of the positions or
//!    more (random text switches between upper, lower and digit about two
//!    times in three; `CamelCaseWords2024` rarely). Words are split at
//!    blanks and at `:@?&=,;"'()`, so a password inside a URL counts.
//!
//! Left alone on purpose: URLs, paths, host and image names, UUIDs and other
//! hex strings (commit ids and digests are common and not secrets; a hex key
//! under a secret-sounding name is still caught by the name), camel-case
//! identifiers, and anything shorter than [`MIN_LEN`].

use std::sync::LazyLock;

use regex::RegexSet;

/// Shortest word the entropy test looks at.
pub const MIN_LEN: usize = 20;
/// Bits per character a word needs to look random.
pub const MIN_ENTROPY: f64 = 3.8;
/// Share of neighbouring characters of different classes a word needs.
pub const MIN_SWITCHES: f64 = 0.4;

/// The token formats, with what each is called in a finding.
const TOKENS: &[(&str, &str)] = &[
    (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        "a PEM private key",
    ),
    (
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b",
        "an AWS access key id",
    ),
    (r"\bgh[pousr]_[A-Za-z0-9]{36,}", "a GitHub token"),
    (r"\bgithub_pat_[A-Za-z0-9_]{22,}", "a GitHub token"),
    (r"\bglpat-[A-Za-z0-9_-]{20,}", "a GitLab token"),
    (r"\bxox[abpr]-[A-Za-z0-9-]{10,}", "a Slack token"),
    (r"\bAIza[0-9A-Za-z_-]{35}", "a Google API key"),
    (r"\b[rs]k_live_[0-9A-Za-z]{20,}", "a Stripe live key"),
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        "a JWT",
    ),
];

static TOKEN_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(TOKENS.iter().map(|(re, _)| re)).expect("the token patterns compile")
});

/// What kind of secret `value` looks like, if any (never the value).
pub fn kind(value: &str) -> Option<&'static str> {
    if let Some(i) = TOKEN_SET.matches(value).iter().next() {
        return Some(TOKENS[i].1);
    }
    value
        .split(|c: char| c.is_whitespace() || ":@?&=,;\"'()".contains(c))
        .any(looks_random)
        .then_some("a high-entropy string")
}

/// The entropy test (3. in the module docs) on one word.
fn looks_random(word: &str) -> bool {
    let token_alphabet = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '_' | '-');
    if word.len() < MIN_LEN || !word.chars().all(token_alphabet) {
        return false;
    }
    let has = |f: fn(&char) -> bool| word.chars().any(|c| f(&c));
    if !(has(char::is_ascii_uppercase)
        && has(char::is_ascii_lowercase)
        && has(char::is_ascii_digit))
    {
        return false;
    }
    entropy(word) >= MIN_ENTROPY && switches(word) >= MIN_SWITCHES
}

/// Shannon entropy in bits per character.
pub fn entropy(word: &str) -> f64 {
    let mut counts = [0u32; 128];
    let mut n = 0u32;
    for b in word.bytes().filter(u8::is_ascii) {
        counts[usize::from(b)] += 1;
        n += 1;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The share of neighbouring characters whose class (upper, lower, digit,
/// other) differs.
fn switches(word: &str) -> f64 {
    let class = |b: u8| match b {
        b'A'..=b'Z' => 0,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    let bytes = word.as_bytes();
    let changes = bytes
        .windows(2)
        .filter(|w| class(w[0]) != class(w[1]))
        .count();
    changes as f64 / (bytes.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_formats_and_keys_are_named() {
        for (value, named) in [
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...",
                "a PEM private key",
            ),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "a PEM private key"),
            ("-----BEGIN PRIVATE KEY-----", "a PEM private key"),
            ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "a PEM private key"),
            ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
            ("ASIAY34FZKBOKMUTVV7A", "an AWS access key id"),
            ("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", "a GitHub token"),
            ("gho_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token"),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
                "a GitHub token",
            ),
            ("glpat-xxxxxxxxxxxxxxxxxxxx", "a GitLab token"),
            (
                "xoxb-2631234567890-2631234567890-abcdefGHIJKL",
                "a Slack token",
            ),
            (
                "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
                "a Google API key",
            ),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc12345", "a Stripe live key"),
            (
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "a JWT",
            ),
            (
                "Bearer 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",
                "a GitHub token",
            ),
            (
                "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpL",
                "a high-entropy string",
            ),
            ("q7Vn2LxK9pR4tW8zYb3Mc6Hd1Fg5Js0A", "a high-entropy string"),
            (
                "postgres://app:q7Vn2LxK9pR4tW8zYb3Mc6Hd1Fg5@db:5432/app",
                "a high-entropy string",
            ),
        ] {
            assert_eq!(kind(value), Some(named), "{value}");
        }
    }

    /// Ordinary values do not trip it. Decided: UUIDs and other hex
    /// (commit ids, digests) are not secrets by their look.
    #[test]
    fn ordinary_values_pass() {
        for value in [
            "https://api.example.com/v1/users?limit=100&region=eu-west-1",
            "postgres://db.internal:5432/app",
            "amqp://rabbitmq.default.svc.cluster.local:5672",
            "/var/lib/postgresql/data",
            "/usr/local/bin:/usr/bin:/bin",
            "projects/my-project/locations/us-central1/keyRings/Main2024",
            "550e8400-e29b-41d4-a716-446655440000",
            "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
            "sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1",
            "registry.example.com/team/app:v1.2.3",
            "MyApplicationName2024",
            "CamelCaseIdentifierWithNumbers123",
            "ThisIsMyConfigValueForProduction",
            "SPRING_PROFILES_ACTIVE_PRODUCTION_EU",
            "org.springframework.boot.Application",
            "-Xmx512m -XX:+UseG1GC -Dfile.encoding=UTF-8",
            "production-eu-west-1-cluster",
            "redis-master.cache.svc.cluster.local",
            "alice@example.com",
            "de_DE.UTF-8",
            "info",
            "true",
            "2048m",
            "30s",
            "0.0.0.0:8080",
            "$(POD_NAME).headless.default.svc",
            "The quick brown fox jumps over the lazy dog 42 times",
        ] {
            assert_eq!(kind(value), None, "{value}");
        }
    }

    /// Random tokens of the base64url alphabet (a fixed seed): nearly all
    /// from 24 characters on.
    #[test]
    fn random_tokens_are_caught() {
        use rand::{Rng, SeedableRng};
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        for (len, at_least) in [(24, 0.9), (32, 0.97), (40, 0.98)] {
            let caught = (0..1000)
                .filter(|_| {
                    let token: String = (0..len)
                        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                        .collect();
                    kind(&token).is_some()
                })
                .count();
            assert!(
                caught as f64 >= at_least * 1000.0,
                "{len}: {caught} of 1000"
            );
        }
    }

    #[test]
    fn entropy_is_in_bits_per_character() {
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert!((switches("aA1") - 1.0).abs() < 1e-9);
    }
}
