//! `Authorization` values (`src/domain/credential.rs`), read the same way by admin calls,
//! Verify and every gateway.

use super::any_text;
use gatekey::domain::credential::Authorization;
use proptest::prelude::*;

/// A credential as clients send them: no spaces inside (keys, JWTs, anything opaque).
fn token() -> impl Strategy<Value = String> {
    "[!-~]{1,60}"
}

/// `bearer` in any letter case.
fn bearer_scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer"
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

proptest! {
    #[test]
    fn any_token_read_is_a_trimmed_non_empty_part_of_the_value(value in any_text(80)) {
        let parsed = Authorization::parse(&value);
        if let Some(token) = parsed.token() {
            prop_assert!(!token.is_empty());
            prop_assert_eq!(token, token.trim());
            prop_assert!(value.contains(token));
        }
        match parsed {
            Authorization::Empty => prop_assert!(
                value.trim().is_empty() || value.trim().eq_ignore_ascii_case("bearer")
                    || value.trim().split_once(' ').is_some_and(|(s, t)| s.eq_ignore_ascii_case("bearer") && t.trim().is_empty()),
                "{:?} read as empty", value
            ),
            Authorization::Bare(t) => prop_assert!(!t.contains(' '), "a bare credential is one word: {:?}", value),
            Authorization::Bearer(_) | Authorization::Other => {}
        }
    }

    #[test]
    fn bearer_in_any_case_and_spacing_yields_the_token(
        scheme in bearer_scheme(),
        token in token(),
        before in " {0,3}",
        between in " {1,3}",
        after in " {0,3}",
    ) {
        let value = format!("{before}{scheme}{between}{token}{after}");
        prop_assert_eq!(Authorization::parse(&value), Authorization::Bearer(&token));
    }

    #[test]
    fn a_single_word_is_the_credential_itself(before in " {0,3}", token in token(), after in " {0,3}") {
        prop_assume!(!token.eq_ignore_ascii_case("bearer"));
        let value = format!("{before}{token}{after}");
        prop_assert_eq!(Authorization::parse(&value), Authorization::Bare(&token));
    }

    #[test]
    fn another_scheme_never_yields_a_credential(scheme in "[A-Za-z][A-Za-z0-9-]{0,12}", rest in token()) {
        prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
        let value = format!("{scheme} {rest}");
        let parsed = Authorization::parse(&value);
        prop_assert_eq!(parsed, Authorization::Other);
        prop_assert_eq!(parsed.token(), None);
    }
}
