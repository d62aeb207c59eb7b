//! Forged access tokens: every way to tamper with a real one that must be refused.

use super::app::TestApp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Tokens derived from the genuine `token`, each named by its attack.
pub async fn forged_tokens(app: &TestApp, token: &str) -> Vec<(&'static str, String)> {
    let parts: Vec<&str> = token.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
    let with = |field: &str, value: &str| {
        let mut changed = claims.clone();
        changed[field] = value.into();
        format!("{}.{}.{}", parts[0], enc(&changed), parts[2])
    };
    // HMAC keyed with the published public key: the classic algorithm-confusion attack.
    let jwks = app.jwks().await;
    let x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("b64");
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let hmac = jsonwebtoken::encode(&hs, &claims, &jsonwebtoken::EncodingKey::from_secret(&x)).expect("sign");
    vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                enc(&serde_json::json!({"alg": "none", "typ": "JWT"})),
                parts[1]
            ),
        ),
        ("hmac with the public key", hmac),
        ("another audience", with("aud", "someone-else")),
        ("refresh typ", with("typ", "refresh")),
        (
            "truncated signature",
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][..parts[2].len() - 2]),
        ),
    ]
}
