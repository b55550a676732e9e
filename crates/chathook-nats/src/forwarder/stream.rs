//! The JetStream stream chathook publishes into: created or checked at start-up (and again
//! should it be deleted under a running chathook), with what is wrong with it in words.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::stream;

use super::Forwarder;

/// The stream chathook publishes into, as configured.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Its name.
    pub name: String,
    /// `<prefix>.>`: every subject chathook publishes.
    pub subjects: String,
    /// Create it (or accept it as it is) rather than only check it.
    pub create: bool,
    /// How long messages are kept; zero keeps them until removed otherwise.
    pub max_age: Duration,
    /// How long JetStream remembers a `Nats-Msg-Id`.
    pub duplicate_window: Duration,
    /// Copies in a JetStream cluster.
    pub replicas: usize,
}

impl Forwarder {
    /// Creates or checks the stream; an error says what is wrong with it, and whether
    /// waiting could help.
    pub async fn ensure_stream(&self) -> Result<(), StreamProblem> {
        self.set_up_stream().await.map_err(|problem| {
            let connected =
                self.client.connection_state() == async_nats::connection::State::Connected;
            if !connected || problem.contains("timed out") {
                StreamProblem::Unreachable(problem)
            } else {
                StreamProblem::Misconfigured(problem)
            }
        })
    }

    async fn set_up_stream(&self) -> Result<(), String> {
        if self.stream_ready() {
            return Ok(());
        }
        let settings = &self.stream;
        let info =
            if settings.create {
                let config = stream::Config {
                    name: settings.name.clone(),
                    subjects: vec![settings.subjects.clone()],
                    storage: stream::StorageType::File,
                    max_age: settings.max_age,
                    duplicate_window: settings.duplicate_window,
                    num_replicas: settings.replicas,
                    ..Default::default()
                };
                let mut created = self
                    .jetstream
                    .get_or_create_stream(config)
                    .await
                    .map_err(|error| format!("cannot create stream {}: {error}", settings.name))?;
                created
                    .info()
                    .await
                    .map_err(|error| format!("cannot read stream {}: {error}", settings.name))?
                    .clone()
            } else {
                let mut found = self.jetstream.get_stream(&settings.name).await.map_err(|error| {
                format!(
                    "stream {} is not usable ({error}); create it with subjects [{:?}], or set \
                     stream_setup = \"create\"",
                    settings.name, settings.subjects
                )
            })?;
                found
                    .info()
                    .await
                    .map_err(|error| format!("cannot read stream {}: {error}", settings.name))?
                    .clone()
            };
        let covered = info
            .config
            .subjects
            .iter()
            .any(|subject| subject == &settings.subjects || subject == ">");
        if !covered {
            return Err(format!(
                "stream {} takes subjects {:?}, which do not include {:?}: chathook's messages \
                 would not be stored; add it to the stream's subjects or change subject_prefix",
                settings.name, info.config.subjects, settings.subjects
            ));
        }
        if info.config.storage != stream::StorageType::File {
            tracing::warn!(
                stream = %settings.name,
                "the stream keeps messages in memory: what it holds is lost when NATS restarts"
            );
        }
        if info.config.duplicate_window != settings.duplicate_window {
            tracing::warn!(
                stream = %settings.name,
                configured_secs = settings.duplicate_window.as_secs(),
                actual_secs = info.config.duplicate_window.as_secs(),
                "the stream's duplicate window differs from duplicate_window_secs; the stream's \
                 own applies"
            );
        }
        self.stream_ready.store(true, Ordering::Release);
        Ok(())
    }
}

/// Why the stream is not ready.
#[derive(Debug, thiserror::Error)]
pub enum StreamProblem {
    /// NATS or JetStream did not answer: waiting may help.
    #[error("{0}")]
    Unreachable(String),
    /// NATS answered, and the stream cannot be used as configured.
    #[error("{0}")]
    Misconfigured(String),
}
