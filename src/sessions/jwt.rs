//! JWT access tokens: EdDSA (Ed25519) signing keys shared by every replica on one store.
//!
//! Only the public half of each key is stored. The private half is derived from the configured
//! signing secret and the key id (HMAC-SHA256 as the Ed25519 seed), so replicas that share the
//! secret and the store sign with the same keys without any private key at rest. Keys rotate
//! every `rotation`; a new key is published in JWKS `publish_delay` before it signs, and old
//! keys stay published for two rotation periods so outstanding tokens keep verifying.

use crate::domain::key_format::hmac_sha256;
use crate::domain::time::{SharedClock, UnixMs};
use crate::store::{SharedStore, SigningKeyRecord};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The `typ` claim of an access token; refresh tokens are opaque and never JWTs, but the claim
/// keeps any other token type we may mint from being accepted as an access token.
pub const ACCESS_TYP: &str = "access";
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 30;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub sub: String,
    pub org: String,
    pub role: String,
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub typ: String,
    pub iat: i64,
    pub exp: i64,
    /// Not before; gatekey sets none, but honours one (RFC 8725).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
}

/// Why a token was refused. Deliberately coarse: callers learn "invalid" or "expired".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token")]
    Invalid,
    #[error("expired token")]
    Expired,
    #[error("no signing key is active")]
    NoSigningKey,
}

/// Settings of the key set.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub rotation: Duration,
    pub publish_delay: Duration,
}

struct KeySet {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

/// Signs and verifies access tokens; `sync` reloads the keys from the store.
pub struct JwtKeys {
    secret: SecretString,
    settings: JwtSettings,
    store: SharedStore,
    clock: SharedClock,
    validation: Validation,
    keys: RwLock<Arc<KeySet>>,
}

fn derive(secret: &SecretString, kid: &str) -> SigningKey {
    let seed = hmac_sha256(
        secret.expose_secret().as_bytes(),
        format!("gatekey/jwt/ed25519/{kid}").as_bytes(),
    );
    SigningKey::from_bytes(&seed)
}

impl JwtKeys {
    /// Loads the key set, creating the first key on an empty store.
    pub async fn load(
        secret: SecretString,
        settings: JwtSettings,
        store: SharedStore,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        // Only EdDSA: `none`, HMAC (including HMAC keyed with our public key) and every other
        // algorithm are refused by the validation itself.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let empty = KeySet {
            signing: None,
            verifying: HashMap::new(),
            jwks: serde_json::json!({"keys": []}),
        };
        let keys = Self {
            secret,
            settings,
            store,
            clock,
            validation,
            keys: RwLock::new(Arc::new(empty)),
        };
        keys.sync().await?;
        Ok(keys)
    }

    /// Rotates if the newest key is due, then rebuilds the in-memory set from the store.
    pub async fn sync(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut records = self.store.list_signing_keys().await?;
        // Also due when no stored key can sign: the signing secret was changed, and keys made
        // with the old one are unusable (they are skipped in `build`).
        let usable = self.build(&records, now).signing.is_some();
        let due = !usable
            || records
                .last()
                .is_none_or(|k| now >= k.created_at.plus(self.settings.rotation));
        if due {
            let mut id = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut id);
            let kid = URL_SAFE_NO_PAD.encode(id);
            // Publish-then-sign only matters when some key can sign meanwhile.
            let any_active = usable;
            let record = SigningKeyRecord {
                public_key: derive(&self.secret, &kid).verifying_key().to_bytes().to_vec(),
                kid,
                created_at: now,
                activates_at: if any_active {
                    now.plus(self.settings.publish_delay)
                } else {
                    now
                },
            };
            self.store.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, "created JWT signing key");
            records.push(record);
        }
        let set = self.build(&records, now);
        if let Ok(mut guard) = self.keys.write() {
            *guard = Arc::new(set);
        }
        Ok(())
    }

    fn build(&self, records: &[SigningKeyRecord], now: UnixMs) -> KeySet {
        let retire_before = UnixMs(now.0.saturating_sub(2 * duration_ms(self.settings.rotation)));
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        let mut signing = None;
        for record in records.iter().filter(|r| r.created_at > retire_before) {
            let private = derive(&self.secret, &record.kid);
            if private.verifying_key().to_bytes().as_slice() != record.public_key.as_slice() {
                // Another signing secret made this key; we can neither sign with it nor vouch for it.
                tracing::warn!(kid = %record.kid, "signing key does not match the configured secret; ignored");
                continue;
            }
            let x = URL_SAFE_NO_PAD.encode(&record.public_key);
            if let Ok(key) = DecodingKey::from_ed_components(&x) {
                verifying.insert(record.kid.clone(), key);
            }
            jwks.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": record.kid, "x": x,
            }));
            if record.activates_at <= now
                && let Ok(der) = private.to_pkcs8_der()
            {
                signing = Some((record.kid.clone(), EncodingKey::from_ed_der(der.as_bytes())));
            }
        }
        KeySet {
            signing,
            verifying,
            jwks: serde_json::json!({ "keys": jwks }),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether an active signing key exists.
    pub fn can_sign(&self) -> bool {
        self.current().signing.is_some()
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub fn audience(&self) -> &str {
        &self.settings.audience
    }

    /// Signs `claims` with the newest active key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        let set = self.current();
        let (kid, key) = set.signing.as_ref().ok_or(TokenError::NoSigningKey)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|_| TokenError::Invalid)
    }

    /// Checks signature (by a published key, chosen by `kid`), algorithm, issuer, audience,
    /// type, expiry, `iat` and `nbf` (each with [`LEEWAY_SECS`]), against the injected clock.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = self.verify_signed(token)?;
        let leeway_ms = i64::try_from(LEEWAY_SECS * 1000).unwrap_or(i64::MAX);
        let now = self.clock.now().0;
        if now >= claims.exp.saturating_mul(1000).saturating_add(leeway_ms) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// [`Self::verify`] without the expiry check: whose session an expired token named (the
    /// console's refresh proves its CSRF token against it). Never a credential by itself.
    pub fn verify_signed(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let set = self.current();
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = set.verifying.get(&kid).ok_or(TokenError::Invalid)?;
        // Expiry is checked by `verify` against our clock, not the library's, so tests can move time.
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if claims.typ != ACCESS_TYP {
            return Err(TokenError::Invalid);
        }
        let leeway_ms = i64::try_from(LEEWAY_SECS * 1000).unwrap_or(i64::MAX);
        let now = self.clock.now().0;
        // A token not valid yet, or issued further in the future than clocks may drift, is
        // refused (RFC 8725 3.10): it was minted by a skewed or compromised issuer.
        let future = |secs: i64| secs.saturating_mul(1000) > now.saturating_add(leeway_ms);
        if future(claims.iat) || claims.nbf.is_some_and(future) {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// The JWKS document published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        self.current().jwks.clone()
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
