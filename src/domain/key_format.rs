//! The API-key format: `PREFIX` + 32 base62 random characters + a 6-character base62 CRC32
//! of everything before it.
//!
//! The checksum lets scanners and Verify reject a mistyped or made-up key offline, before
//! any hashing or lookup. 32 base62 characters carry 190.5 bits from the OS CSPRNG.

use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Number of random base62 characters in a newly issued key.
pub const RANDOM_LEN: usize = 32;
/// Length of the base62 checksum suffix.
pub const CHECKSUM_LEN: usize = 6;
/// Longer credentials are rejected before any other work.
pub const MAX_KEY_LEN: usize = 512;
/// Length of the displayed `start` (the first random characters).
pub const START_LEN: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Secret keys may carry any scope; publishable keys only read scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Secret,
    Publishable,
}

/// Live keys act on production data, test keys on test data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    Live,
    Test,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [KeyKind::Secret, KeyKind::Publishable]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Environment::Live, Environment::Test]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

/// The display prefix of a kind and environment, e.g. `sk_live_`.
pub fn prefix_of(kind: KeyKind, env: Environment) -> &'static str {
    match (kind, env) {
        (KeyKind::Secret, Environment::Live) => "sk_live_",
        (KeyKind::Secret, Environment::Test) => "sk_test_",
        (KeyKind::Publishable, Environment::Live) => "pk_live_",
        (KeyKind::Publishable, Environment::Test) => "pk_test_",
    }
}

const PREFIXES: [(&str, KeyKind, Environment); 4] = [
    ("sk_live_", KeyKind::Secret, Environment::Live),
    ("sk_test_", KeyKind::Secret, Environment::Test),
    ("pk_live_", KeyKind::Publishable, Environment::Live),
    ("pk_test_", KeyKind::Publishable, Environment::Test),
];

/// A key that passed the offline checks. Its `Debug` shows the prefix and start only.
pub struct ParsedKey {
    pub kind: KeyKind,
    pub environment: Environment,
    pub prefix: &'static str,
    pub start: String,
    secret: SecretString,
}

impl std::fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParsedKey({}{}…)", self.prefix, self.start)
    }
}

impl ParsedKey {
    /// The whole key, for hashing and for showing once at issue time.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }
}

/// Whether `s` starts like an API key (as opposed to a JWT).
pub fn looks_like_key(s: &str) -> bool {
    PREFIXES.iter().any(|(p, _, _)| s.starts_with(p))
}

/// Checks length, prefix, alphabet and checksum without touching any store.
pub fn parse(raw: &str) -> Option<ParsedKey> {
    if raw.len() > MAX_KEY_LEN {
        return None;
    }
    let &(prefix, kind, environment) = PREFIXES.iter().find(|(p, _, _)| raw.starts_with(p))?;
    let body = &raw[prefix.len()..];
    if body.len() < RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (signed, checksum) = raw.split_at(raw.len() - CHECKSUM_LEN);
    if checksum_of(signed).as_bytes() != checksum.as_bytes() {
        return None;
    }
    Some(ParsedKey {
        kind,
        environment,
        prefix,
        start: body[..START_LEN].to_owned(),
        secret: SecretString::from(raw.to_owned()),
    })
}

/// A fresh key of the given kind and environment.
pub fn generate(kind: KeyKind, environment: Environment) -> ParsedKey {
    let prefix = prefix_of(kind, environment);
    let random: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let mut raw = String::with_capacity(prefix.len() + RANDOM_LEN + CHECKSUM_LEN);
    raw.push_str(prefix);
    raw.push_str(&random);
    let checksum = checksum_of(&raw);
    raw.push_str(&checksum);
    ParsedKey {
        kind,
        environment,
        prefix,
        start: random[..START_LEN].to_owned(),
        secret: SecretString::from(raw),
    }
}

fn checksum_of(signed: &str) -> String {
    let mut n = u64::from(crc32fast::hash(signed.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The keyed hash stored instead of a key: HMAC-SHA256 under the server pepper.
pub fn keyed_hash(pepper: &SecretString, key: &SecretString) -> [u8; 32] {
    hmac_sha256(pepper.expose_secret().as_bytes(), key.expose_secret().as_bytes())
}

/// [`keyed_hash`] with the pepper's HMAC state computed once: a hash then clones it instead
/// of re-deriving the inner and outer keys (two of the four SHA-256 blocks per call).
#[derive(Clone)]
pub struct KeyHasher(Hmac<Sha256>);

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(<pepper>)")
    }
}

impl KeyHasher {
    pub fn new(pepper: &SecretString) -> Option<Self> {
        Hmac::<Sha256>::new_from_slice(pepper.expose_secret().as_bytes())
            .ok()
            .map(Self)
    }

    pub fn hash(&self, key: &SecretString) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(key.expose_secret().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        for (kind, env) in [
            (KeyKind::Secret, Environment::Live),
            (KeyKind::Publishable, Environment::Test),
        ] {
            let key = generate(kind, env);
            let raw = key.secret().expose_secret().to_owned();
            assert_eq!(raw.len(), 8 + RANDOM_LEN + CHECKSUM_LEN);
            let parsed = parse(&raw).expect("a generated key parses");
            assert_eq!((parsed.kind, parsed.environment), (kind, env));
            assert_eq!(parsed.start, key.start);
        }
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let raw = generate(KeyKind::Secret, Environment::Live)
            .secret()
            .expose_secret()
            .to_owned();
        let mut bytes = raw.into_bytes();
        bytes[12] = if bytes[12] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).expect("ascii");
        assert!(parse(&typo).is_none());
    }

    #[test]
    fn unknown_prefix_short_and_oversized_keys_are_rejected() {
        assert!(parse("xk_live_abc").is_none());
        assert!(parse("sk_live_short").is_none());
        assert!(parse(&format!("sk_live_{}", "a".repeat(600))).is_none());
        assert!(parse("sk_live_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!").is_none());
    }

    #[test]
    fn the_prepared_hasher_agrees_with_keyed_hash() {
        let pepper = SecretString::from("pepper-0123456789abcdef0123456789abcdef");
        let key = generate(KeyKind::Secret, Environment::Live);
        let hasher = KeyHasher::new(&pepper).expect("any key length");
        assert_eq!(hasher.hash(key.secret()), keyed_hash(&pepper, key.secret()));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = generate(KeyKind::Secret, Environment::Live);
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.secret().expose_secret()));
        assert!(shown.starts_with("ParsedKey(sk_live_"));
    }
}
