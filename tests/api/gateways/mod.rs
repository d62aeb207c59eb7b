//! Real gateways in front of gatekey: Envoy (ext_authz and the rate-limit filter), nginx
//! (`auth_request`), Caddy (`forward_auth`) and Traefik (`ForwardAuth`), each running the
//! configuration shipped under `deploy/`, in front of an upstream that echoes what it received.
//!
//! A gateway binary that is missing skips its test locally; with `GATEKEY_TEST_GATEWAYS=1`
//! (CI) it fails it.

mod cases;
mod envoy;
mod forward_auth;
mod harness;
pub(crate) mod protocols;
