//! What every handler shares: the Airbyte client, the definition cache, remembered idempotent
//! answers, the metrics and the token clients must present. Built once at start-up.

use std::sync::Arc;

use crate::airbyte::{self, Airbyte};
use crate::config::{Config, Secret};
use crate::definitions::Directory;
use crate::idempotency;
use crate::metrics::Metrics;

/// What the handlers share: the Airbyte client, the definition cache, remembered idempotent
/// answers, the metrics and the token clients must present.
pub struct App {
    pub airbyte: Arc<dyn Airbyte>,
    pub directory: Directory,
    pub idempotency: idempotency::Store,
    pub metrics: Arc<Metrics>,
    pub api_token: Option<Secret>,
    /// The longest (and default) `?wait=` on a job.
    pub max_wait: std::time::Duration,
    /// Most bytes of an attempt's log answered.
    pub max_log_bytes: usize,
}

impl App {
    pub fn new(config: &Config) -> App {
        let metrics = Arc::new(Metrics::default());
        App {
            airbyte: airbyte::connect(config, metrics.clone()),
            directory: Directory::new(config.workspace_id, config.definitions_ttl),
            idempotency: idempotency::Store::new(
                config.idempotency_ttl,
                config.idempotency_max_keys,
            ),
            metrics,
            api_token: config.api_token.clone(),
            max_wait: config.max_wait,
            max_log_bytes: config.max_log_bytes,
        }
    }
}
