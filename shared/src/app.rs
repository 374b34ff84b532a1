//! What a function builds once at init and shares with every request.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::store::{self, Store};

/// The request body limit of the API (webhooks raise it).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

pub struct App {
    /// The function's name, as logged and as its health route answers to.
    pub service: &'static str,
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub body_limit: usize,
}

impl App {
    pub fn new(service: &'static str, config: Config, store: Arc<dyn Store>) -> App {
        App {
            service,
            auth: Authenticator::new(&config.jwt),
            config,
            store,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Reads the configuration and opens the store; the error names what is wrong.
    pub async fn from_env(service: &'static str) -> Result<App, lambda_http::Error> {
        let config = Config::from_env().inspect_err(|e| tracing::error!(service, "{e}"))?;
        let store = store::open(&config.store)
            .await
            .inspect_err(|e| tracing::error!(service, "cannot open the store: {e}"))?;
        Ok(App::new(service, config, store))
    }
}
