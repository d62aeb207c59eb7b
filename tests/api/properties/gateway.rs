//! What gateways send (`src/gateway/request.rs`, `src/gateway/path.rs`): credential headers,
//! per-route settings, and request paths matched against the route table.

use super::any_text;
use gatekey::gateway::config::{MAX_COST, RouteConfig, RouteTable};
use gatekey::gateway::path::{matches, normalize, readings};
use gatekey::gateway::request::parse_scopes;
use gatekey::gateway::{Credential, GatewayRequest, GatewaySettings};
use proptest::prelude::*;

/// An opaque credential as clients send it (no spaces, no query syntax).
fn credential() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.~-]{1,40}"
}

fn settings(query: bool) -> GatewaySettings {
    GatewaySettings {
        query_credential: query.then(|| "api_key".to_owned()),
        ..GatewaySettings::default()
    }
}

proptest! {
    #[test]
    fn any_credential_read_was_sent_and_two_different_ones_conflict(
        authorization in proptest::option::of(any_text(60)),
        api_key in proptest::option::of(any_text(60)),
        uri in proptest::option::of(any_text(60)),
        query in any::<bool>(),
    ) {
        let req = GatewayRequest {
            authorization: authorization.as_deref(),
            api_key: api_key.as_deref(),
            uri: uri.as_deref(),
            ..Default::default()
        };
        if let Credential::One(c) = req.credential(&settings(query)) {
            prop_assert!(!c.is_empty());
            let sent = [&authorization, &api_key, &uri].iter().any(|h| h.as_deref().is_some_and(|v| v.contains(c)));
            prop_assert!(sent, "{:?} was never sent", c);
        }
    }

    #[test]
    fn the_same_credential_in_several_places_is_one_and_different_ones_conflict(
        in_header in credential(),
        in_api_key in credential(),
        in_query in credential(),
        places in proptest::sample::subsequence(vec![0, 1, 2], 1..=3),
        same in any::<bool>(),
    ) {
        let own = [&in_header, &in_api_key, &in_query];
        let values: Vec<(usize, String)> = places
            .iter()
            .map(|&i| (i, if same { in_header.clone() } else { own[i].clone() }))
            .collect();
        let get = |i: usize| values.iter().find(|(p, _)| *p == i).map(|(_, v)| v.clone());
        let authorization = get(0).map(|v| format!("Bearer {v}"));
        let api_key = get(1);
        let uri = format!("/v1/x?a=1&api_key={}", get(2).unwrap_or_default());
        let req = GatewayRequest {
            authorization: authorization.as_deref(),
            api_key: api_key.as_deref(),
            uri: Some(&uri),
            ..Default::default()
        };
        let distinct: std::collections::BTreeSet<&String> = values.iter().map(|(_, v)| v).collect();
        let got = req.credential(&settings(true));
        if distinct.len() == 1 {
            prop_assert_eq!(got, Credential::One(distinct.into_iter().next().unwrap()));
        } else {
            prop_assert_eq!(got, Credential::Conflicting);
        }
    }

    #[test]
    fn per_route_settings_either_parse_or_name_their_field(
        scopes in proptest::option::of(any_text(60)),
        cost in proptest::option::of(prop_oneof![any_text(12), any::<u64>().prop_map(|n| n.to_string())]),
        uri in proptest::option::of(any_text(60)),
    ) {
        let req = GatewayRequest {
            route_scopes: scopes.as_deref(),
            route_cost: cost.as_deref(),
            uri: uri.as_deref(),
            method: "GET",
            ..Default::default()
        };
        match req.requirement(&GatewaySettings::default()) {
            Ok(r) => {
                prop_assert!((1..=MAX_COST).contains(&r.cost));
                if let Some(c) = &cost {
                    prop_assert_eq!(c.trim().parse::<u32>().ok(), Some(r.cost));
                }
            }
            Err(v) => prop_assert!(v.field == "scopes" || v.field == "cost", "{:?}", v),
        }
        let _ = parse_scopes(&scopes.unwrap_or_default());
    }
}

/// Segments of the paths under test: plain names, so any variant of one is unambiguous.
fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}"
}

/// One documented way an upstream may be sent the same path.
#[derive(Debug, Clone)]
enum Disguise {
    /// `/./` and `//` between segments.
    DotOrEmptySegment(usize, bool),
    /// `x/..` before a segment: a detour that `..` undoes.
    Detour(usize, String),
    /// `;params` after a segment (servlet containers drop them), on any segment, `..` included.
    Params(usize, String),
    /// Percent-encode the n-th character (letters, digits and dots).
    Encode(usize, bool),
    /// Another letter case.
    Upper(usize),
}

fn disguise() -> impl Strategy<Value = Disguise> {
    prop_oneof![
        (any::<usize>(), any::<bool>()).prop_map(|(i, dot)| Disguise::DotOrEmptySegment(i, dot)),
        (any::<usize>(), segment()).prop_map(|(i, s)| Disguise::Detour(i, s)),
        (any::<usize>(), "[a-z0-9=]{0,5}").prop_map(|(i, p)| Disguise::Params(i, p)),
        (any::<usize>(), any::<bool>()).prop_map(|(i, upper)| Disguise::Encode(i, upper)),
        any::<usize>().prop_map(Disguise::Upper),
    ]
}

/// Applies `d` to the segments of a path.
fn apply(segments: &mut Vec<String>, d: &Disguise) {
    let at = |i: usize, n: usize| i % (n + 1);
    match d {
        Disguise::DotOrEmptySegment(i, dot) => {
            // Not last: a trailing `/` names another resource, which the module does not
            // claim to read as the same one.
            let i = *i % segments.len().max(1);
            segments.insert(i, if *dot { ".".into() } else { String::new() });
        }
        Disguise::Detour(i, s) => {
            let i = at(*i, segments.len());
            segments.insert(i, "..".into());
            segments.insert(i, s.clone());
        }
        Disguise::Params(i, p) => {
            if segments.is_empty() {
                return;
            }
            let i = *i % segments.len();
            segments[i] = format!("{};{p}", segments[i]);
        }
        Disguise::Encode(n, upper) => {
            let positions: Vec<(usize, usize)> = segments
                .iter()
                .enumerate()
                .flat_map(|(s, seg)| {
                    let params = seg.find(';').unwrap_or(seg.len());
                    let b = seg.as_bytes();
                    // Not a character of an escape made earlier: `%2e` stays one escape.
                    let escaped = move |c: usize| (c >= 1 && b[c - 1] == b'%') || (c >= 2 && b[c - 2] == b'%');
                    (0..params)
                        .filter(move |&c| (b[c].is_ascii_alphanumeric() || b[c] == b'.') && !escaped(c))
                        .map(move |c| (s, c))
                })
                .collect();
            if positions.is_empty() {
                return;
            }
            let (s, c) = positions[n % positions.len()];
            let seg = &segments[s];
            let hex = format!("%{:02x}", seg.as_bytes()[c]);
            let hex = if *upper { hex.to_uppercase() } else { hex };
            segments[s] = format!("{}{hex}{}", &seg[..c], &seg[c + 1..]);
        }
        Disguise::Upper(n) => {
            let total: usize = segments.iter().map(String::len).sum();
            if total == 0 {
                return;
            }
            let mut n = n % total;
            for seg in segments.iter_mut() {
                if n < seg.len() {
                    let mut bytes = seg.clone().into_bytes();
                    // Only a letter outside a `%xx` escape changes case.
                    let in_escape = (n >= 1 && bytes[n - 1] == b'%') || (n >= 2 && bytes[n - 2] == b'%');
                    if !in_escape {
                        bytes[n] = bytes[n].to_ascii_uppercase();
                    }
                    *seg = String::from_utf8(bytes).unwrap();
                    return;
                }
                n -= seg.len();
            }
        }
    }
}

fn table(pattern: &str) -> RouteTable {
    RouteTable::parse(&[RouteConfig {
        method: "*".into(),
        path: pattern.into(),
        scopes: vec!["guarded.read".into()],
        cost: 7,
    }])
    .unwrap()
}

proptest! {
    #[test]
    fn reading_any_path_never_panics_and_the_decoded_reading_is_normal(uri in any_text(120)) {
        let all = readings(&uri);
        prop_assert!(!all.is_empty());
        let decoded = &all[1.min(all.len() - 1)];
        prop_assert!(decoded.starts_with('/'));
        prop_assert_eq!(&normalize(decoded), decoded, "normalizing twice changes nothing");
        for r in &all {
            let _ = matches("/v1/*/x/**", r);
        }
    }

    #[test]
    fn normalized_paths_hold_no_empty_or_dot_segments(path in "[a-z./%;]{0,40}") {
        let n = normalize(&path);
        prop_assert!(n.starts_with('/'));
        prop_assert_eq!(normalize(&n), n.clone());
        let inner = n.trim_start_matches('/').trim_end_matches('/');
        if !inner.is_empty() {
            for seg in inner.split('/') {
                prop_assert!(!seg.is_empty() && seg != "." && seg != "..", "{:?} in {:?}", seg, n);
            }
        }
    }

    #[test]
    fn a_rule_holds_every_disguise_of_a_path_it_covers(
        base in proptest::collection::vec(segment(), 1..3),
        rest in proptest::collection::vec(segment(), 0..3),
        shape in 0..3usize,
        disguises in proptest::collection::vec(disguise(), 0..5),
        query in proptest::option::of("[a-z0-9=&./]{0,12}"),
    ) {
        // `/base/**`, `/base/*/leaf` or the exact path: each covers the plain path.
        let (pattern, mut segments) = match shape {
            0 => (format!("/{}/**", base.join("/")), [base.clone(), rest.clone()].concat()),
            1 => (format!("/{}/*/leaf", base.join("/")), [base.clone(), vec!["any".into(), "leaf".into()]].concat()),
            _ => (format!("/{}", base.join("/")), base.clone()),
        };
        let plain = format!("/{}", segments.join("/"));
        let t = table(&pattern);
        prop_assert!(t.find("GET", &plain).is_some(), "{} does not cover {}", pattern, plain);
        for d in &disguises {
            apply(&mut segments, d);
        }
        let mut disguised = format!("/{}", segments.join("/"));
        if let Some(q) = query {
            disguised = format!("{disguised}?{q}");
        }
        let found = t.find("GET", &disguised);
        prop_assert!(
            found.as_ref().is_some_and(|r| r.cost == 7 && !r.scopes.is_empty()),
            "{} slipped past {} (it is {}): readings {:?}", disguised, pattern, plain, readings(&disguised)
        );
    }
}
