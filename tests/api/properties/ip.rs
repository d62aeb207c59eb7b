//! IP allowlists (`src/domain/ip.rs`) and the gateway's trusted proxies and forwarded
//! addresses (`src/gateway/request.rs`).

use super::any_text;
use gatekey::domain::ip::IpAllowlist;
use gatekey::gateway::config::TrustedProxies;
use gatekey::gateway::request::forwarded_client;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address and a prefix length valid for its family, IPv4-mapped IPv6 ones included (as
/// a dual-stack socket, and so a log line, shows an IPv4 client).
fn network() -> impl Strategy<Value = (IpAddr, u8)> {
    prop_oneof![
        (any::<u32>(), 0..=32u8).prop_map(|(a, p)| (IpAddr::V4(Ipv4Addr::from(a)), p)),
        (any::<u128>(), 0..=128u8).prop_map(|(a, p)| (IpAddr::V6(Ipv6Addr::from(a)), p)),
        (any::<u32>(), 96..=128u8).prop_map(|(a, p)| (IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped()), p)),
    ]
}

/// How a network is stored: an IPv4-mapped one as the IPv4 network it maps.
fn stored(net: IpAddr, prefix: u8) -> String {
    match net {
        IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
            format!("{}/{}", v6.to_ipv4_mapped().unwrap(), prefix - 96)
        }
        _ => format!("{net}/{prefix}"),
    }
}

fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn from_bits(value: u128, width: u8) -> IpAddr {
    match width {
        32 => IpAddr::V4(Ipv4Addr::from(value as u32)),
        _ => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// `addr` with its host bits (those past `prefix`) cleared.
fn network_address(addr: IpAddr, prefix: u8) -> IpAddr {
    let (value, width) = bits(addr);
    let host_bits = u32::from(width - prefix);
    let mask = if host_bits == 128 { 0 } else { u128::MAX << host_bits };
    from_bits(value & mask, width)
}

fn list(entries: &[String]) -> IpAllowlist {
    IpAllowlist::parse("ip_allowlist", entries).expect("valid allowlist")
}

/// Text shaped like the entries people write, and their typos.
fn entry_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any_text(50),
        "[0-9./]{0,24}",
        "[0-9a-fA-F:./%]{0,45}",
        (network(), 0..=200u8).prop_map(|((a, _), p)| format!("{a}/{p}")),
    ]
}

proptest! {
    #[test]
    fn an_accepted_entry_holds_the_address_it_was_written_with(
        (addr, prefix) in network(),
        padding in " {0,2}",
    ) {
        let l = list(&[format!("{padding}{addr}/{prefix}{padding}")]);
        let net = network_address(addr, prefix);
        prop_assert_eq!(l.to_strings(), vec![stored(net, prefix)], "host bits are cleared");
        prop_assert!(l.allows(Some(addr)));
        prop_assert!(l.allows(Some(net)), "the network address is in its own network");
        // The first address outside: flip the lowest bit of the network part.
        if prefix > 0 {
            let (value, width) = bits(addr);
            let outside = from_bits(value ^ (1u128 << (width - prefix)), width);
            prop_assert!(!l.allows(Some(outside)), "{} is outside {}/{}", outside, net, prefix);
        }
        prop_assert!(!l.allows(None), "a list with entries refuses a caller without an address");
        prop_assert_eq!(list(&l.to_strings()), l, "what is stored parses back to itself");
    }

    #[test]
    fn a_bare_address_allows_that_address_alone(addr in network().prop_map(|(a, _)| a), delta in 1..1000u128) {
        let l = list(&[addr.to_string()]);
        prop_assert!(l.allows(Some(addr)));
        let (value, width) = bits(addr);
        let limit = if width == 32 { u128::from(u32::MAX) } else { u128::MAX };
        let neighbour = from_bits(if value >= delta { value - delta } else { (value + delta) & limit }, width);
        prop_assert!(!l.allows(Some(neighbour)), "{} allowed by {}", neighbour, addr);
        if let IpAddr::V4(v4) = addr {
            prop_assert!(l.allows(Some(IpAddr::V6(v4.to_ipv6_mapped()))), "an IPv4-mapped client is that IPv4 client");
        }
    }

    #[test]
    fn parsing_never_panics_and_what_it_accepts_is_an_address_or_network(entries in proptest::collection::vec(entry_like(), 0..6)) {
        if let Ok(l) = IpAllowlist::parse("ip_allowlist", &entries) {
            for e in &entries {
                let e = e.trim();
                prop_assert!(
                    e.parse::<IpAddr>().is_ok() || e.parse::<ipnet::IpNet>().is_ok(),
                    "{:?} accepted", e
                );
            }
            prop_assert!(l.to_strings().len() <= entries.len());
        }
        let _ = TrustedProxies::parse(&entries);
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address_by_headers(
        peer in network().prop_map(|(a, _)| a),
        x_forwarded_for in proptest::option::of(any_text(80)),
        x_real_ip in proptest::option::of(any_text(40)),
    ) {
        let trusted = TrustedProxies::parse(&["127.0.0.0/8".into()]).unwrap();
        prop_assume!(!trusted.trusts(peer));
        let canonical = gatekey::gateway::config::canonical(peer);
        prop_assert_eq!(
            forwarded_client(peer, x_forwarded_for.as_deref(), x_real_ip.as_deref(), &trusted),
            canonical
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client_whatever_is_prepended(
        prepended in any_text(60),
        hops in proptest::collection::vec(network().prop_map(|(a, _)| a), 1..4),
        proxies in proptest::collection::vec(any::<u8>(), 0..3),
        x_real_ip in proptest::option::of(any_text(40)),
    ) {
        let trusted = TrustedProxies::parse(&["127.0.0.0/8".into()]).unwrap();
        let proxy = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let canonical: Vec<IpAddr> = hops.iter().map(|h| gatekey::gateway::config::canonical(*h)).collect();
        let Some(want) = canonical.iter().rev().find(|h| !trusted.trusts(**h)).copied() else {
            return Ok(());
        };
        // The client writes whatever it likes on the left; the hops and the proxies' own
        // addresses are appended by proxies.
        let mut listed = vec![prepended];
        listed.extend(hops.iter().map(ToString::to_string));
        listed.extend(proxies.iter().map(|p| format!("127.0.0.{p}")));
        let xff = listed.join(", ");
        prop_assert_eq!(forwarded_client(proxy, Some(&xff), x_real_ip.as_deref(), &trusted), want, "{:?}", xff);
    }
}
