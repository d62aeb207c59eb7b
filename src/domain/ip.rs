//! IP allowlists: addresses and CIDR networks, IPv4 and IPv6.

use super::FieldViolation;
use ipnet::{IpNet, Ipv4Net};
use std::net::IpAddr;

/// Most entries one allowlist may hold.
pub const MAX_ENTRIES: usize = 64;

/// A validated allowlist; empty means any address is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Accepts `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`; host bits are cleared (`10.1.2.3/8`
    /// becomes `10.0.0.0/8`) so what is stored is what is matched.
    pub fn parse(field: &str, raw: &[String]) -> Result<Self, FieldViolation> {
        if raw.len() > MAX_ENTRIES {
            return Err(FieldViolation::new(field, format!("at most {MAX_ENTRIES} entries")));
        }
        let mut nets = Vec::with_capacity(raw.len());
        for entry in raw {
            let entry = entry.trim();
            let net = match entry.parse::<IpNet>() {
                Ok(net) => unmapped(net.trunc()),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(addr) => unmapped(IpNet::from(addr)),
                    Err(_) => {
                        return Err(FieldViolation::new(
                            field,
                            format!("{entry:?} is not an IP address or CIDR network"),
                        ));
                    }
                },
            };
            nets.push(net);
        }
        nets.sort();
        nets.dedup();
        Ok(IpAllowlist(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An empty list allows every address; otherwise the address must fall in one entry.
    pub fn allows(&self, addr: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(addr) = addr else { return false };
        // An IPv4-mapped IPv6 address is the IPv4 client it maps.
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&addr))
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`, as a dual-stack socket and so a log
/// line shows an IPv4 client) is the IPv4 network it maps: `allows` sees a mapped client as
/// its IPv4 address, so a mapped entry kept as IPv6 would never match anyone.
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .network()
            .to_ipv4_mapped()
            .and_then(|v4| Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, IpNet::V4),
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> IpAllowlist {
        let raw: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        IpAllowlist::parse("ip_allowlist", &raw).expect("valid")
    }

    #[test]
    fn matches_addresses_and_networks_of_both_families() {
        let l = list(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
        assert!(l.allows(Some("10.9.9.9".parse().expect("ip"))));
        assert!(l.allows(Some("192.168.1.7".parse().expect("ip"))));
        assert!(!l.allows(Some("192.168.1.8".parse().expect("ip"))));
        assert!(l.allows(Some("2001:db8::1".parse().expect("ip"))));
        assert!(l.allows(Some("::ffff:10.1.1.1".parse().expect("ip"))));
        assert!(!l.allows(None));
        assert!(IpAllowlist::default().allows(None));
    }

    #[test]
    fn rejects_garbage_and_normalises_host_bits() {
        assert!(IpAllowlist::parse("ip_allowlist", &["10.0.0.0/33".into()]).is_err());
        assert!(IpAllowlist::parse("ip_allowlist", &["nope".into()]).is_err());
        assert_eq!(list(&["10.1.2.3/8"]).to_strings(), vec!["10.0.0.0/8"]);
    }

    #[test]
    fn ipv4_mapped_entries_are_the_ipv4_networks_they_map() {
        let l = list(&["::ffff:192.0.2.7", "::ffff:10.0.0.0/104"]);
        assert_eq!(l.to_strings(), vec!["10.0.0.0/8", "192.0.2.7/32"]);
        assert!(l.allows(Some("::ffff:192.0.2.7".parse().expect("ip"))));
        assert!(l.allows(Some("10.1.2.3".parse().expect("ip"))));
        assert!(!l.allows(Some("192.0.2.8".parse().expect("ip"))));
    }
}
