//! Opaque refresh tokens: random, shown to the client once, stored as a keyed hash.

use crate::domain::key_format::hmac_sha256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

/// Prefix of every refresh token, so scanners can recognise a leaked one.
pub const PREFIX: &str = "gkr_";
/// Longest accepted refresh token; anything longer is rejected before hashing.
pub const MAX_LEN: usize = 128;

/// `prefix` + 256 random bits, base64url.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A new refresh token.
pub fn generate() -> SecretString {
    SecretString::from(random_token(PREFIX))
}

/// The keyed hash the store keeps, under a domain-separated key so it can never collide
/// with an API-key hash.
pub fn hash(pepper: &SecretString, token: &SecretString) -> [u8; 32] {
    let mut key = b"gatekey/refresh/".to_vec();
    key.extend_from_slice(pepper.expose_secret().as_bytes());
    hmac_sha256(&key, token.expose_secret().as_bytes())
}
