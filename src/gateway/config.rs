//! What a gateway is told by gatekey's own configuration: the route table, the trusted
//! proxies, and how credentials travel. Validated once at start; a bad entry stops the start.

use super::path;
use crate::domain::FieldViolation;
use crate::domain::verify::RequiredScopes;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;

/// Most rate-limit units one call may claim, on every transport.
pub const MAX_COST: u32 = 1_000_000;

/// One `[[routes]]` entry as written in the config file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// An HTTP method (`GET`) or `*` for any.
    #[serde(default = "any_method")]
    pub method: String,
    /// A path pattern: `*` matches within one segment, `**` matches the rest, e.g.
    /// `/v1/cameras/*/feed` or `/v1/admin/**`.
    pub path: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "one")]
    pub cost: u32,
}

fn any_method() -> String {
    "*".into()
}

fn one() -> u32 {
    1
}

/// What a matched route requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteRequirement {
    pub scopes: RequiredScopes,
    pub cost: u32,
}

#[derive(Debug, Clone)]
struct Route {
    /// `None` matches every method.
    method: Option<String>,
    pattern: String,
    requirement: RouteRequirement,
}

/// The `[[routes]]` table: the first entry whose method and path match wins.
#[derive(Debug, Clone, Default)]
pub struct RouteTable(Vec<Route>);

impl RouteTable {
    pub fn parse(entries: &[RouteConfig]) -> Result<Self, FieldViolation> {
        let mut routes = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let field = |name: &str| format!("routes[{i}].{name}");
            let method = match e.method.trim() {
                "*" => None,
                m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => Some(m.to_ascii_uppercase()),
                _ => return Err(FieldViolation::new(field("method"), "must be an HTTP method or `*`")),
            };
            if !e.path.starts_with('/') {
                return Err(FieldViolation::new(field("path"), "must start with `/`"));
            }
            if e.path.matches("**").count() > 1 {
                return Err(FieldViolation::new(field("path"), "may hold `**` once"));
            }
            let scopes = RequiredScopes::parse(&field("scopes"), &e.scopes)?;
            let cost = check_cost(&field("cost"), e.cost)?;
            routes.push(Route {
                method,
                pattern: e.path.clone(),
                requirement: RouteRequirement { scopes, cost },
            });
        }
        Ok(Self(routes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What a request needs: under each reading of its path (see [`path::readings`]) the
    /// first matching route, and of those every scope and the highest cost. `None` when no
    /// route matches any reading.
    pub fn find(&self, method: &str, uri: &str) -> Option<RouteRequirement> {
        if self.0.is_empty() {
            return None;
        }
        let mut found: Option<RouteRequirement> = None;
        for reading in path::readings(uri) {
            let Some(route) = self.0.iter().find(|r| {
                r.method.as_deref().is_none_or(|m| method_matches(m, method)) && path::matches(&r.pattern, &reading)
            }) else {
                continue;
            };
            let req = &route.requirement;
            found = Some(match found {
                None => req.clone(),
                Some(f) => RouteRequirement {
                    scopes: f.scopes.union(&req.scopes),
                    cost: f.cost.max(req.cost),
                },
            });
        }
        found
    }
}

/// A rule for `GET` covers `HEAD`, which servers answer as a `GET` without the body.
fn method_matches(rule: &str, method: &str) -> bool {
    rule.eq_ignore_ascii_case(method) || (rule == "GET" && method.eq_ignore_ascii_case("HEAD"))
}

/// A cost within `1..=MAX_COST`.
pub fn check_cost(field: &str, cost: u32) -> Result<u32, FieldViolation> {
    if cost == 0 || cost > MAX_COST {
        return Err(FieldViolation::new(field, format!("must be between 1 and {MAX_COST}")));
    }
    Ok(cost)
}

/// Peers whose `X-Forwarded-For` / `X-Real-IP` are believed.
#[derive(Debug, Clone)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn parse(raw: &[String]) -> Result<Self, FieldViolation> {
        raw.iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| FieldViolation::new("trusted_proxies", format!("{s:?} is not a CIDR or an address")))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Loopback by default: a proxy on the same host.
pub fn default_trusted_proxies() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket reports it) is
/// the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Everything the gateway adapters are configured with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub routes: RouteTable,
    pub trusted_proxies: TrustedProxies,
    /// Remove the credential header (and query parameter) before the upstream sees it, where
    /// the protocol lets gatekey do so (Envoy); forward-auth proxies do it in their own config.
    pub hide_credentials: bool,
    /// The query parameter a credential may come in; `None` (the default) accepts none, as a
    /// URL ends up in access logs and browser histories.
    pub query_credential: Option<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            routes: RouteTable::default(),
            trusted_proxies: TrustedProxies(Vec::new()),
            hide_credentials: false,
            query_credential: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, scopes: &[&str], cost: u32) -> RouteConfig {
        RouteConfig {
            method: method.into(),
            path: path.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            cost,
        }
    }

    #[test]
    fn the_first_matching_route_wins() {
        let table = RouteTable::parse(&[
            route("POST", "/v1/cameras/**", &["cameras.write"], 5),
            route("*", "/v1/cameras/**", &["cameras.read"], 1),
        ])
        .expect("valid");
        assert_eq!(table.find("post", "/v1/cameras/7").map(|r| r.cost), Some(5));
        assert_eq!(table.find("GET", "/v1/cameras/7").map(|r| r.cost), Some(1));
        assert!(table.find("GET", "/v1/leads").is_none());
    }

    #[test]
    fn every_reading_of_a_path_is_held_to_its_rules() {
        let table = RouteTable::parse(&[
            route("GET", "/v1/cameras/**", &["cameras.read"], 2),
            route("*", "/v1/leads/**", &["leads.read"], 1),
        ])
        .expect("valid");
        let scopes = |s: &[&str]| {
            RequiredScopes::parse("s", &s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).expect("valid")
        };
        for sneaky in ["/v1/cameras/%2e%2e/leads/1", "/v1/cameras/7/..%2F..%2Fleads/1"] {
            let got = table.find("GET", sneaky).expect("matched");
            assert_eq!(got.scopes, scopes(&["cameras.read", "leads.read"]), "{sneaky}");
            assert_eq!(got.cost, 2);
        }
        for sneaky in ["/V1/CAMERAS/7", "/v1/cameras;x/7", "/v1//cameras/7"] {
            assert_eq!(
                table.find("GET", sneaky).map(|r| r.scopes),
                Some(scopes(&["cameras.read"])),
                "{sneaky}"
            );
        }
        assert!(table.find("HEAD", "/v1/cameras/7").is_some(), "a GET rule covers HEAD");
        assert!(
            RouteTable::parse(&[route("*", "/a/**/b/**", &[], 1)]).is_err(),
            "one `**` at most"
        );
    }

    #[test]
    fn bad_routes_name_their_field() {
        let err = RouteTable::parse(&[route("*", "/a", &["Bad Scope"], 1)]).expect_err("bad scope");
        assert_eq!(err.field, "routes[0].scopes");
        let err = RouteTable::parse(&[route("G T", "/a", &[], 1)]).expect_err("bad method");
        assert_eq!(err.field, "routes[0].method");
        let err = RouteTable::parse(&[route("*", "a", &[], 1)]).expect_err("relative path");
        assert_eq!(err.field, "routes[0].path");
        let err = RouteTable::parse(&[route("*", "/a", &[], 0)]).expect_err("zero cost");
        assert_eq!(err.field, "routes[0].cost");
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_addresses() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).expect("valid");
        assert!(t.trusts("10.1.2.3".parse().expect("ip")));
        assert!(t.trusts("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(t.trusts("192.0.2.1".parse().expect("ip")));
        assert!(!t.trusts("192.0.2.2".parse().expect("ip")));
        assert!(TrustedProxies::parse(&["nonsense".into()]).is_err());
    }
}
