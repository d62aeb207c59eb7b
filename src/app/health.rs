//! gRPC health and reflection. Health follows readiness (see `service::readiness`) for every
//! service gatekey serves, checked every second and announced only on change (Watch streams
//! see transitions, not a tick); reflection serves both protocol versions clients use (v1 and
//! the older v1alpha) and describes health and reflection too, not only gatekey's services.

use crate::service::Core;
use crate::service::readiness::Readiness;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tonic_reflection::server::{v1, v1alpha};

/// How often readiness is checked: a load balancer learns of a change within about this.
const EVERY: Duration = Duration::from_secs(1);

/// Every service name health answers for; `""` is the server as a whole.
pub const SERVICES: [&str; 6] = [
    "",
    "gatekey.v1.AuthService",
    "gatekey.v1.KeyService",
    "gatekey.v1.AdminService",
    "envoy.service.auth.v3.Authorization",
    "envoy.service.ratelimit.v3.RateLimitService",
];

/// Keeps `health` in step with readiness until `stop` turns true.
pub(super) async fn follow_readiness(core: Arc<Core>, health: HealthReporter, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut announced = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {
                let (status, why) = match core.readiness().await {
                    Readiness::Ready => (ServingStatus::Serving, None),
                    Readiness::NotReady(why) => (ServingStatus::NotServing, Some(why)),
                };
                if announced == Some(status) {
                    continue;
                }
                match (&announced, why) {
                    (None, None) => {}
                    (_, Some(why)) => tracing::warn!(reason = why, "not ready: health says NOT_SERVING"),
                    (Some(_), None) => tracing::info!("ready again: health says SERVING"),
                }
                for service in SERVICES {
                    health.set_service_status(service, status).await;
                }
                announced = Some(status);
            }
        }
    }
}

/// Reflection v1 and v1alpha over gatekey's, health's and reflection's own descriptors.
pub(super) fn reflection() -> anyhow::Result<(
    v1::ServerReflectionServer<impl v1::ServerReflection>,
    v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
)> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}
