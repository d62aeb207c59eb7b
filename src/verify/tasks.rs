//! The engine's own background work: following the change feed and writing usage marks.
//! The engine starts and stops it, so the application only says when.

use super::Verifier;
use super::feed;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running background tasks of one [`Verifier`].
pub struct VerifierTasks {
    verifier: Arc<Verifier>,
    follower: JoinHandle<()>,
    flusher: JoinHandle<()>,
}

impl Verifier {
    /// Starts following the change feed and flushing usage every `flush_every`, until `stop`
    /// turns true or [`VerifierTasks::shutdown`] is called.
    pub fn start(self: &Arc<Self>, stop: watch::Receiver<bool>) -> VerifierTasks {
        let follower = tokio::spawn(feed::follow(self.clone(), stop.clone()));
        let flusher = tokio::spawn(flush_usage(self.clone(), stop));
        VerifierTasks {
            verifier: self.clone(),
            follower,
            flusher,
        }
    }
}

impl VerifierTasks {
    /// Stops the tasks and writes the last usage marks: nothing Verify accepted is lost.
    pub async fn shutdown(self) {
        self.follower.abort();
        self.flusher.abort();
        self.verifier
            .usage
            .flush(&*self.verifier.store, self.verifier.settings.lookup_timeout)
            .await;
    }
}

async fn flush_usage(verifier: Arc<Verifier>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(verifier.settings.flush_every);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {
                verifier.usage.flush(&*verifier.store, verifier.settings.lookup_timeout).await;
            }
        }
    }
}
