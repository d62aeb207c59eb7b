//! Gateways' own protocols (Envoy ext_authz, Envoy's rate-limit service, HTTP forward-auth
//! for nginx, Caddy and Traefik) on one request model: each transport turns what its
//! gateway sends into a [`GatewayRequest`], [`Gateway::check`] asks the Verify engine, and
//! the transport turns the [`Answer`] back into its protocol. The transports stay thin:
//! `grpc/ext_authz.rs`, `grpc/rate_limit_service.rs`, `http/forward_auth.rs`.

pub mod answer;
pub mod config;
pub mod descriptors;
pub mod identity;
pub mod path;
pub mod request;

pub use answer::Answer;
pub use config::GatewaySettings;
pub use identity::Identity;
pub use request::{Credential, GatewayRequest};

use crate::domain::ids::KeyId;
use crate::domain::verify::VerifyReason;
use crate::ratelimit::Bucket;
use crate::verify::{Decision, Principal, RateLimitOutcome, Verifier, VerifyError, VerifyInput};
use descriptors::{DescriptorRules, Target};
use moka::sync::Cache;
use std::sync::Arc;

/// The gateway side of gatekey: settings and the engine they ask.
pub struct Gateway {
    verifier: Arc<Verifier>,
    pub settings: GatewaySettings,
    descriptors: DescriptorRules,
    identities: Cache<KeyId, Arc<Identity>>,
}

impl Gateway {
    pub fn new(verifier: Arc<Verifier>, settings: GatewaySettings, descriptors: DescriptorRules) -> Self {
        Self {
            verifier,
            settings,
            descriptors,
            identities: Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(std::time::Duration::from_secs(3600))
                .build(),
        }
    }

    /// Decides one gateway request. Never an error: a misconfigured route and an engine that
    /// cannot answer are answers too, which each transport maps to its protocol.
    pub async fn check(&self, req: &GatewayRequest<'_>) -> Answer {
        let requirement = match req.requirement(&self.settings) {
            Ok(r) => r,
            Err(v) => {
                tracing::warn!(field = %v.field, problem = %v.description, "gateway sent malformed per-route settings");
                return Answer::misconfigured(&v.field, &v.description);
            }
        };
        let credential = match req.credential(&self.settings) {
            Credential::None => "",
            Credential::One(c) => c,
            Credential::Conflicting => {
                return Answer::of(
                    &Decision::deny(VerifyReason::InvalidCredential),
                    true,
                    &requirement.scopes,
                    req.client_ip,
                );
            }
        };
        let input = VerifyInput {
            credential,
            required: requirement.scopes,
            client_ip: req.client_ip,
            cost: requirement.cost,
        };
        match self.verifier.verify(&input).await {
            Ok(decision) => {
                let mut answer = Answer::of(&decision, !credential.is_empty(), &input.required, req.client_ip);
                if answer.allowed() {
                    answer.identity = decision.principal.as_ref().map(|p| self.identity(p));
                }
                answer
            }
            Err(_) => Answer::unavailable(),
        }
    }

    /// Who `p` is, as the upstream sees it. A key's identity never changes (rotation makes a
    /// new key), so it is formatted once per key and shared; a user's follows their role.
    fn identity(&self, p: &Principal) -> Arc<Identity> {
        match p {
            Principal::Key(k) => self.identities.get_with(k.key.id, || Arc::new(Identity::of(p))),
            Principal::User { .. } => Arc::new(Identity::of(p)),
        }
    }
}

/// One descriptor of a rate-limit-service request: its entries and the units it claims.
pub struct DescriptorRequest<'a> {
    pub entries: Vec<(&'a str, &'a str)>,
    pub cost: u32,
}

impl Gateway {
    /// Charges each descriptor to its bucket; `None` for a descriptor nothing limits. Every
    /// matching bucket is charged, over limit or not, as Envoy's reference service does.
    pub async fn rate_limit(
        &self,
        domain: &str,
        descriptors: &[DescriptorRequest<'_>],
    ) -> Result<Vec<Option<RateLimitOutcome>>, VerifyError> {
        let mut outcomes = Vec::with_capacity(descriptors.len());
        for d in descriptors {
            // An org or key that does not exist limits nothing, and makes no bucket.
            let target = match self.descriptors.target(domain, &d.entries) {
                None => None,
                Some(Target::Rule { bucket, policy }) => Some((Bucket::Descriptor(bucket), policy)),
                Some(Target::Org(org)) => self.verifier.org_limit(org).await?.map(|p| (Bucket::Org(org), p)),
                Some(Target::Key(org, key)) => self.verifier.key_limit(org, key).await?,
            };
            outcomes.push(match target {
                Some((bucket, policy)) => Some(self.verifier.charge(bucket, policy, d.cost).await),
                None => None,
            });
        }
        Ok(outcomes)
    }
}
