//! The one request model: what any gateway asks, reduced to a credential, a route
//! requirement and a client address, whatever protocol carried it.

use super::config::{GatewaySettings, RouteRequirement, TrustedProxies, canonical, check_cost};
use crate::domain::FieldViolation;
use crate::domain::credential::Authorization;
use crate::domain::verify::RequiredScopes;
use std::net::{IpAddr, SocketAddr};

/// The credential headers gatekey reads.
pub const AUTHORIZATION: &str = "authorization";
pub const API_KEY: &str = "x-api-key";

/// What a gateway sent, borrowed from its protocol's message. Header values as received.
#[derive(Default)]
pub struct GatewayRequest<'a> {
    pub authorization: Option<&'a str>,
    pub api_key: Option<&'a str>,
    /// The original request's method and URI (path and query); `None` when the gateway did
    /// not say (then only a configuration without a route table can decide).
    pub method: &'a str,
    pub uri: Option<&'a str>,
    /// The gateway's per-route settings, when it sent any.
    pub route_scopes: Option<&'a str>,
    pub route_cost: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    /// A credential header arrived more than once: which copy the upstream reads is unknown.
    pub repeated_credential: bool,
}

impl std::fmt::Debug for GatewayRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URI may carry a query credential; neither it nor the headers are shown.
        f.debug_struct("GatewayRequest")
            .field("method", &self.method)
            .field("route_scopes", &self.route_scopes)
            .field("route_cost", &self.route_cost)
            .field("client_ip", &self.client_ip)
            .finish_non_exhaustive()
    }
}

/// The credential a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    None,
    One(&'a str),
    /// Two places carry different credentials: refused, since either could be the one the
    /// upstream reads.
    Conflicting,
}

impl<'a> GatewayRequest<'a> {
    /// `Authorization: Bearer <x>` (or a bare `Authorization: <x>`), `X-API-Key: <x>`, and
    /// the configured query parameter. An `Authorization` in another scheme (`Basic ...`)
    /// belongs to the upstream and is not read.
    pub fn credential(&self, settings: &GatewaySettings) -> Credential<'a> {
        if self.repeated_credential {
            return Credential::Conflicting;
        }
        let bearer = self.authorization.and_then(|v| Authorization::parse(v).token());
        let header_key = self.api_key.map(str::trim).filter(|k| !k.is_empty());
        let query = settings
            .query_credential
            .as_deref()
            .zip(self.uri)
            .into_iter()
            .flat_map(|(name, uri)| query_params(uri, name));
        let mut found: Option<&'a str> = None;
        for candidate in [bearer, header_key].into_iter().flatten().chain(query) {
            match found {
                Some(seen) if seen != candidate => return Credential::Conflicting,
                _ => found = Some(candidate),
            }
        }
        found.map_or(Credential::None, Credential::One)
    }

    /// Scopes and cost from the gateway's per-route settings, else the route table, else
    /// none and 1. A malformed per-route setting is the gateway's misconfiguration.
    pub fn requirement(&self, settings: &GatewaySettings) -> Result<RouteRequirement, FieldViolation> {
        let from_table = || match self.uri {
            Some(uri) => Ok(settings.routes.find(self.method, uri)),
            None if settings.routes.is_empty() => Ok(None),
            None => Err(FieldViolation::new(
                "uri",
                "the route table needs the original URI (X-Forwarded-Uri or X-Original-URI)",
            )),
        };
        let (scopes, cost) = match (self.route_scopes, self.route_cost) {
            (None, None) => {
                return Ok(from_table()?.unwrap_or_else(|| RouteRequirement {
                    cost: 1,
                    ..Default::default()
                }));
            }
            (scopes, cost) => (scopes, cost),
        };
        // A gateway that sets only one of the two gets the table's (or the default) other.
        let fallback = from_table()?;
        let scopes = match scopes {
            Some(raw) => parse_scopes(raw)?,
            None => fallback.as_ref().map(|r| r.scopes.clone()).unwrap_or_default(),
        };
        let cost = match cost {
            Some(raw) => {
                let n = raw
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| FieldViolation::new("cost", "must be a whole number"))?;
                check_cost("cost", n)?
            }
            None => fallback.map_or(1, |r| r.cost),
        };
        Ok(RouteRequirement { scopes, cost })
    }
}

/// Comma- or space-separated scopes, as gateways write them in per-route settings.
pub fn parse_scopes(raw: &str) -> Result<RequiredScopes, FieldViolation> {
    let list: Vec<String> = raw
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    RequiredScopes::parse("scopes", &list)
}

/// The raw values of query parameter `name` (every one: two that differ conflict); keys and
/// JWTs need no percent-decoding.
fn query_params<'a, 'n>(uri: &'a str, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    let query = uri
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or_default());
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(move |(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// The client of a forward-auth request: the peer, unless the peer is a trusted proxy, in
/// which case the nearest untrusted address of `X-Forwarded-For` (read right to left, as
/// each proxy appends), else `X-Real-IP`, else the peer.
pub fn forwarded_client(
    peer: IpAddr,
    x_forwarded_for: Option<&str>,
    x_real_ip: Option<&str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.trusts(peer) {
        return peer;
    }
    if let Some(xff) = x_forwarded_for {
        let hops: Vec<IpAddr> = xff.split(',').filter_map(parse_hop).collect();
        if let Some(ip) = hops.iter().rev().find(|ip| !trusted.trusts(**ip)) {
            return *ip;
        }
        if let Some(first) = hops.first() {
            return *first;
        }
    }
    x_real_ip.and_then(parse_hop).unwrap_or(peer)
}

/// `203.0.113.9`, `2001:db8::1`, `203.0.113.9:443` or `[2001:db8::1]:443`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .or_else(|_| raw.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::config::{RouteConfig, RouteTable};

    fn settings() -> GatewaySettings {
        GatewaySettings {
            routes: RouteTable::parse(&[RouteConfig {
                method: "*".into(),
                path: "/v1/cameras/**".into(),
                scopes: vec!["cameras.read".into()],
                cost: 3,
            }])
            .expect("valid"),
            trusted_proxies: TrustedProxies::parse(&["127.0.0.0/8".into(), "10.0.0.0/8".into()]).expect("valid"),
            ..GatewaySettings::default()
        }
    }

    fn req<'a>(authorization: Option<&'a str>, api_key: Option<&'a str>, uri: &'a str) -> GatewayRequest<'a> {
        GatewayRequest {
            authorization,
            api_key,
            method: "GET",
            uri: Some(uri),
            ..Default::default()
        }
    }

    #[test]
    fn bearer_and_api_key_headers_are_read_and_must_agree() {
        let s = settings();
        assert_eq!(req(Some("Bearer k1"), None, "/").credential(&s), Credential::One("k1"));
        assert_eq!(
            req(Some("bearer  k1 "), None, "/").credential(&s),
            Credential::One("k1")
        );
        assert_eq!(req(Some("k1"), None, "/").credential(&s), Credential::One("k1"));
        assert_eq!(req(None, Some("k2"), "/").credential(&s), Credential::One("k2"));
        assert_eq!(
            req(Some("Bearer k1"), Some("k1"), "/").credential(&s),
            Credential::One("k1")
        );
        assert_eq!(
            req(Some("Bearer k1"), Some("k2"), "/").credential(&s),
            Credential::Conflicting
        );
        assert_eq!(
            req(Some("Basic dXNlcjpwdw=="), None, "/").credential(&s),
            Credential::None
        );
        assert_eq!(
            req(Some("Basic dXNlcjpwdw=="), Some("k2"), "/").credential(&s),
            Credential::One("k2")
        );
        assert_eq!(req(Some("Bearer"), Some(" "), "/").credential(&s), Credential::None);
    }

    #[test]
    fn query_credentials_only_when_configured() {
        let mut s = settings();
        assert_eq!(req(None, None, "/x?api_key=k1").credential(&s), Credential::None);
        s.query_credential = Some("api_key".into());
        assert_eq!(
            req(None, None, "/x?a=1&api_key=k1").credential(&s),
            Credential::One("k1")
        );
        assert_eq!(
            req(None, Some("k2"), "/x?api_key=k1").credential(&s),
            Credential::Conflicting
        );
    }

    #[test]
    fn per_route_settings_beat_the_route_table_which_beats_the_default() {
        let s = settings();
        let mut r = req(None, None, "/v1/cameras/7?x=1");
        assert_eq!(r.requirement(&s).expect("valid").cost, 3);
        r.route_scopes = Some("leads.read, leads.write");
        let got = r.requirement(&s).expect("valid");
        assert_eq!(got.scopes, parse_scopes("leads.read leads.write").expect("valid"));
        assert_eq!(got.cost, 3, "the table still supplies the cost the gateway did not set");
        r.route_cost = Some("7");
        assert_eq!(r.requirement(&s).expect("valid").cost, 7);
        let other = req(None, None, "/v1/leads");
        assert_eq!(
            other.requirement(&s).expect("valid"),
            RouteRequirement {
                cost: 1,
                ..Default::default()
            }
        );
        let sneaky = req(None, None, "/v1/leads/../cameras/7");
        assert_eq!(sneaky.requirement(&s).expect("valid").cost, 3);
    }

    #[test]
    fn malformed_per_route_settings_are_refused() {
        let s = settings();
        let mut r = req(None, None, "/");
        r.route_scopes = Some("cameras.*");
        assert_eq!(r.requirement(&s).expect_err("wildcard").field, "scopes");
        r.route_scopes = None;
        r.route_cost = Some("0");
        assert_eq!(r.requirement(&s).expect_err("zero").field, "cost");
        r.route_cost = Some("ten");
        assert_eq!(r.requirement(&s).expect_err("nan").field, "cost");
        let blind = GatewayRequest {
            uri: None,
            ..req(None, None, "/")
        };
        assert_eq!(
            blind.requirement(&s).expect_err("no uri").field,
            "uri",
            "the table cannot be skipped"
        );
        assert_eq!(
            blind.requirement(&GatewaySettings::default()).expect("no table").cost,
            1
        );
        assert_eq!(
            req(None, None, "/x?api_key=k1&api_key=k2").credential(&GatewaySettings {
                query_credential: Some("api_key".into()),
                ..GatewaySettings::default()
            }),
            Credential::Conflicting
        );
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let t = settings().trusted_proxies;
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let proxy = ip("127.0.0.1");
        let stranger = ip("198.51.100.7");
        assert_eq!(forwarded_client(stranger, Some("203.0.113.9"), None, &t), stranger);
        assert_eq!(
            forwarded_client(proxy, Some("203.0.113.9"), None, &t),
            ip("203.0.113.9")
        );
        // A client cannot pick its address by prepending one: the rightmost untrusted wins.
        assert_eq!(
            forwarded_client(proxy, Some("1.2.3.4, 203.0.113.9, 10.0.0.2"), None, &t),
            ip("203.0.113.9")
        );
        assert_eq!(
            forwarded_client(proxy, Some("[2001:db8::1]:443"), None, &t),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(proxy, None, Some("203.0.113.5"), &t),
            ip("203.0.113.5")
        );
        assert_eq!(forwarded_client(proxy, Some("garbage"), None, &t), proxy);
        assert_eq!(
            forwarded_client(ip("::ffff:127.0.0.1"), Some("203.0.113.9"), None, &t),
            ip("203.0.113.9")
        );
    }
}
