//! The API-key format (`src/domain/key_format.rs`): `PREFIX` + base62 body + a 6-character
//! base62 CRC32 of everything before it. `parse` must agree with that definition on any input.

use super::any_text;
use gatekey::domain::key_format::{
    CHECKSUM_LEN, Environment, KeyKind, MAX_KEY_LEN, RANDOM_LEN, START_LEN, generate, looks_like_key, parse,
};
use proptest::prelude::*;
use secrecy::ExposeSecret;

const PREFIXES: [(&str, KeyKind, Environment); 4] = [
    ("sk_live_", KeyKind::Secret, Environment::Live),
    ("sk_test_", KeyKind::Secret, Environment::Test),
    ("pk_live_", KeyKind::Publishable, Environment::Live),
    ("pk_test_", KeyKind::Publishable, Environment::Test),
];
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum as the format documents it, written independently of the parser.
fn documented_checksum(signed: &str) -> String {
    let mut n = u64::from(crc32fast::hash(signed.as_bytes()));
    let mut digits = vec![b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits).unwrap()
}

/// Whether `raw` is a key by the format's definition.
fn is_a_key(raw: &str) -> bool {
    let Some((prefix, _, _)) = PREFIXES.iter().find(|(p, _, _)| raw.starts_with(p)) else {
        return false;
    };
    let body = &raw[prefix.len()..];
    raw.len() <= MAX_KEY_LEN
        && body.len() >= RANDOM_LEN + CHECKSUM_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
        && raw[raw.len() - CHECKSUM_LEN..] == documented_checksum(&raw[..raw.len() - CHECKSUM_LEN])
}

fn prefix() -> impl Strategy<Value = (&'static str, KeyKind, Environment)> {
    proptest::sample::select(PREFIXES.to_vec())
}

fn base62(len: impl Into<proptest::collection::SizeRange>) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(BASE62.to_vec()), len)
        .prop_map(|b| String::from_utf8(b).unwrap())
}

/// Keys of the right shape with a correct checksum, with any prefix and body length.
fn well_formed_key() -> impl Strategy<Value = String> {
    (prefix(), base62(RANDOM_LEN..=RANDOM_LEN + 40)).prop_map(|((p, _, _), body)| {
        let signed = format!("{p}{body}");
        let checksum = documented_checksum(&signed);
        format!("{signed}{checksum}")
    })
}

/// Inputs around the grammar: anything at all, key-shaped strings with any checksum, real
/// keys, and real keys with junk appended or cut short.
fn candidate() -> impl Strategy<Value = String> {
    prop_oneof![
        any_text(80),
        (prefix(), base62(0..60)).prop_map(|((p, _, _), body)| format!("{p}{body}")),
        (prefix(), any_text(60)).prop_map(|((p, _, _), rest)| format!("{p}{rest}")),
        well_formed_key(),
        (well_formed_key(), any_text(8)).prop_map(|(k, junk)| format!("{k}{junk}")),
        (well_formed_key(), 1..10usize).prop_map(|(k, cut)| k[..k.len() - cut].to_owned()),
        (prefix(), base62(500..520)).prop_map(|((p, _, _), body)| {
            let signed = format!("{p}{body}");
            let checksum = documented_checksum(&signed);
            format!("{signed}{checksum}")
        }),
    ]
}

fn generated_key(kind: KeyKind, environment: Environment) -> String {
    generate(kind, environment).secret().expose_secret().to_owned()
}

fn kind_and_environment() -> impl Strategy<Value = (KeyKind, Environment)> {
    prefix().prop_map(|(_, k, e)| (k, e))
}

proptest! {
    #[test]
    fn parse_accepts_exactly_the_strings_the_format_defines(raw in candidate()) {
        let parsed = parse(&raw);
        prop_assert_eq!(parsed.is_some(), is_a_key(&raw), "{:?}", raw);
        if let Some(key) = parsed {
            let (prefix, kind, environment) = PREFIXES.iter().find(|(p, _, _)| raw.starts_with(p)).copied().unwrap();
            prop_assert_eq!((key.prefix, key.kind, key.environment), (prefix, kind, environment));
            prop_assert_eq!(&key.start, &raw[prefix.len()..prefix.len() + START_LEN]);
            prop_assert_eq!(key.secret().expose_secret(), raw.as_str());
            prop_assert!(looks_like_key(&raw));
        }
    }

    #[test]
    fn a_generated_key_parses_back_to_its_kind_environment_and_start(
        (kind, environment) in kind_and_environment(),
    ) {
        let issued = generate(kind, environment);
        let raw = issued.secret().expose_secret();
        prop_assert_eq!(raw.len(), issued.prefix.len() + RANDOM_LEN + CHECKSUM_LEN);
        prop_assert!(is_a_key(raw), "the checksum is the documented one: {}", raw);
        let parsed = parse(raw).expect("a generated key parses");
        prop_assert_eq!((parsed.kind, parsed.environment, parsed.prefix), (kind, environment, issued.prefix));
        prop_assert_eq!(&parsed.start, &issued.start);
        prop_assert_eq!(parsed.secret().expose_secret(), raw);
    }

    #[test]
    fn any_single_character_substitution_is_refused(
        (kind, environment) in kind_and_environment(),
        at in any::<proptest::sample::Index>(),
        replacement in any::<char>(),
        printable in proptest::sample::select(BASE62.to_vec()),
        use_printable in any::<bool>(),
    ) {
        let raw = generated_key(kind, environment);
        let mut chars: Vec<char> = raw.chars().collect();
        let i = at.index(chars.len());
        // Half the time a base62 character, the typo a checksum exists for.
        let replacement = if use_printable { char::from(printable) } else { replacement };
        prop_assume!(chars[i] != replacement);
        chars[i] = replacement;
        let typo: String = chars.into_iter().collect();
        prop_assert!(parse(&typo).is_none(), "{:?} (position {}) was accepted", typo, i);
    }

    #[test]
    fn swapping_two_adjacent_characters_is_refused(
        (kind, environment) in kind_and_environment(),
        at in any::<proptest::sample::Index>(),
    ) {
        let raw = generated_key(kind, environment);
        let mut bytes = raw.clone().into_bytes();
        let i = at.index(bytes.len() - 1);
        // CRC32 catches every swap inside the signed part, and a swap inside the checksum
        // changes the checksum; one that straddles the two is caught only by chance (2^-32).
        prop_assume!(i + 1 != bytes.len() - CHECKSUM_LEN);
        prop_assume!(bytes[i] != bytes[i + 1]);
        bytes.swap(i, i + 1);
        let typo = String::from_utf8(bytes).unwrap();
        prop_assert!(parse(&typo).is_none(), "{:?} (positions {} and {}) was accepted", typo, i, i + 1);
    }
}
