//! Property tests of the parsers that face the network: key format, `Authorization` values,
//! scopes, IP allowlists, JWTs, and the gateway's headers and paths.
//!
//! Each property states a rule over generated inputs (arbitrary strings and bytes, and inputs
//! built to sit near the edge of the grammar), so a parser that panics, accepts what its
//! format forbids, or refuses what it allows fails here. The run is bounded: proptest's
//! default of 256 cases per property, or `PROPTEST_CASES` (CI keeps the default; raise it
//! locally to search longer, e.g. `PROPTEST_CASES=20000 cargo test properties`).

mod credential;
mod gateway;
mod ip;
mod jwt;
mod key_format;
mod scope;

use proptest::prelude::*;

/// Any string: arbitrary Unicode, and arbitrary bytes read as UTF-8 (what a header or a
/// metadata value becomes after lossy decoding).
pub fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect()),
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        proptest::collection::vec(proptest::char::range(' ', '~'), 0..max).prop_map(|c| c.into_iter().collect()),
    ]
}
