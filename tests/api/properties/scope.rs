//! Scopes (`src/domain/scope.rs`): lowercase segments of `[a-z0-9_-]` joined by `.` or `:`,
//! only the last of which may be `*`; at most 128 characters, at most 64 per key.

use super::any_text;
use gatekey::domain::scope::{MAX_SCOPE_LEN, MAX_SCOPES, Scope, Scopes};
use proptest::prelude::*;

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,8}"
}

/// Scopes the grammar allows, wildcards included.
fn valid_scope() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((segment(), proptest::sample::select(vec!['.', ':'])), 0..5),
        prop_oneof![3 => segment(), 1 => Just("*".to_owned())],
    )
        .prop_map(|(init, last)| {
            let mut s = String::new();
            for (seg, sep) in init {
                s.push_str(&seg);
                s.push(sep);
            }
            s.push_str(&last);
            s
        })
}

/// Strings made of the scope alphabet plus the characters most likely to be mistaken for it.
fn near_scope() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:*\\- /é\\x00]{0,140}"
}

proptest! {
    #[test]
    fn an_accepted_scope_is_exactly_what_was_written_and_obeys_the_grammar(
        raw in prop_oneof![any_text(150), near_scope(), valid_scope()],
    ) {
        if let Ok(scope) = Scope::parse("scopes", &raw) {
            prop_assert_eq!(scope.as_str(), raw.as_str());
            prop_assert!(!raw.is_empty() && raw.len() <= MAX_SCOPE_LEN);
            let segments: Vec<&str> = raw.split(['.', ':']).collect();
            for (i, seg) in segments.iter().enumerate() {
                let wildcard = *seg == "*" && i == segments.len() - 1;
                let plain = !seg.is_empty()
                    && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
                prop_assert!(wildcard || plain, "segment {:?} of {:?}", seg, raw);
            }
        }
    }

    #[test]
    fn every_scope_the_grammar_allows_is_accepted_and_grants_itself(raw in valid_scope()) {
        prop_assume!(raw.len() <= MAX_SCOPE_LEN);
        let scope = Scope::parse("scopes", &raw).expect("valid by the grammar");
        prop_assert_eq!(scope.is_wildcard(), raw.ends_with('*'));
        if !scope.is_wildcard() {
            prop_assert!(scope.grants(&raw));
        }
    }

    #[test]
    fn breaking_the_grammar_anywhere_is_refused(
        raw in valid_scope(),
        at in any::<proptest::sample::Index>(),
        breakage in proptest::sample::select(vec!["A", "..", " ", "*.", "/", "\u{0}", "é", ".", ":"]),
    ) {
        let i = at.index(raw.len() + 1);
        let broken = format!("{}{}{}", &raw[..i], breakage, &raw[i..]);
        // `.`/`:` alone only break a scope at its ends or next to another separator.
        let harmless = matches!(breakage, "." | ":")
            && i > 0 && i < raw.len()
            && !raw[..i].ends_with(['.', ':']) && !raw[i..].starts_with(['.', ':', '*']);
        prop_assume!(!harmless);
        prop_assert!(Scope::parse("scopes", &broken).is_err(), "{:?} was accepted", broken);
    }

    #[test]
    fn a_wildcard_grants_what_lies_below_its_stem_and_nothing_else(
        stem in valid_scope().prop_filter("a plain stem", |s| !s.ends_with('*')),
        below in valid_scope().prop_filter("a plain scope", |s| !s.ends_with('*')),
        sibling in segment(),
    ) {
        let wildcard = Scope::parse("scopes", &format!("{stem}.*")).expect("valid");
        let under = format!("{stem}.{below}");
        let beside = format!("{stem}{sibling}.{below}");
        prop_assert!(wildcard.grants(&under), "{:?} is below the stem", under);
        prop_assert!(!wildcard.grants(&stem), "the stem itself is not below it");
        prop_assert!(!wildcard.grants(&beside), "a longer sibling is not below it");
    }

    #[test]
    fn accepted_scope_sets_round_trip_sorted_and_deduplicated(
        raw in proptest::collection::vec(valid_scope(), 0..=MAX_SCOPES),
    ) {
        let raw: Vec<String> = raw.into_iter().filter(|s| s.len() <= MAX_SCOPE_LEN).collect();
        let scopes = Scopes::parse("scopes", &raw).expect("valid scopes");
        let out = scopes.to_strings();
        let mut want = raw.clone();
        want.sort();
        want.dedup();
        prop_assert_eq!(&out, &want);
        prop_assert_eq!(Scopes::parse("scopes", &out).expect("round trip"), scopes);
    }

    #[test]
    fn more_than_the_maximum_number_of_scopes_is_refused(extra in 1..10usize) {
        let raw: Vec<String> = (0..MAX_SCOPES + extra).map(|i| format!("s{i}.read")).collect();
        prop_assert!(Scopes::parse("scopes", &raw).is_err());
    }
}
