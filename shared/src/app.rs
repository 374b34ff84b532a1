//! What a function builds once at init and shares with every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_http::http::HeaderMap;
use serde_json::Value;

use crate::auth::{Authenticator, Credential, Principal};
use crate::config::Config;
use crate::domain::account::hash_api_key;
use crate::domain::company::default_settings;
use crate::domain::{CompanyId, Timestamp};
use crate::error::ApiError;
use crate::store::{self, Store, StoreError};

/// How long a process trusts its copy of a company's settings (rate-limit overrides).
const SETTINGS_TTL: Duration = Duration::from_secs(30);
/// `last_used_at` of an API key is written at most this often.
const KEY_TOUCH_SECS: i64 = 60;

/// The request body limit of the API (webhooks raise it).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

pub struct App {
    /// The function's name, as logged and as its health route answers to.
    pub service: &'static str,
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub body_limit: usize,
    settings: Mutex<HashMap<CompanyId, (Instant, Value)>>,
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
    graph: std::sync::OnceLock<crate::meta::GraphClient>,
    openai: std::sync::OnceLock<crate::openai::OpenAiClient>,
}

impl App {
    pub fn new(service: &'static str, config: Config, store: Arc<dyn Store>) -> App {
        App {
            service,
            auth: Authenticator::new(&config.jwt),
            config,
            store,
            body_limit: DEFAULT_BODY_LIMIT,
            settings: Mutex::new(HashMap::new()),
            http: std::sync::OnceLock::new(),
            graph: std::sync::OnceLock::new(),
            openai: std::sync::OnceLock::new(),
        }
    }

    /// The process's one HTTP client, made on first use (only the functions that call out
    /// pay for it): no global timeout (each caller sets its own) and no redirects, so that
    /// no call can be led where its address was not checked.
    fn http(&self) -> Result<reqwest::Client, ApiError> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| ApiError::Internal(format!("cannot build the HTTP client: {e}")))
    }

    /// The Meta Graph client.
    pub fn graph(&self) -> Result<&crate::meta::GraphClient, ApiError> {
        let http = self.http()?;
        Ok(self.graph.get_or_init(|| {
            crate::meta::GraphClient::new(
                http,
                &self.config.meta_graph_url,
                self.config.meta_timeout,
            )
        }))
    }

    /// The OpenAI client.
    pub fn openai(&self) -> Result<&crate::openai::OpenAiClient, ApiError> {
        let http = self.http()?;
        Ok(self.openai.get_or_init(|| {
            crate::openai::OpenAiClient::new(
                http,
                &self.config.openai_base_url,
                self.config.openai_api_key.clone(),
                self.config.openai_timeout,
            )
        }))
    }

    /// The client outbound webhooks go out with, and the receivers' timeout.
    pub fn webhook_client(&self) -> Result<(reqwest::Client, std::time::Duration), ApiError> {
        Ok((self.http()?, self.config.webhook_timeout))
    }

    /// Raises the request body limit (webhooks take up to 3 MiB).
    pub fn with_body_limit(mut self, limit: usize) -> App {
        self.body_limit = limit;
        self
    }

    /// The caller of a request: a JWT, or an API key found active in the store.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let key = match self.auth.credential(headers)? {
            Credential::Jwt(principal) => return Ok(principal),
            Credential::UserJwt(principal) => return self.company_of_user(principal).await,
            Credential::ApiKey(key) => key,
        };
        // Keys are found by their SHA-256: how long the lookup takes says nothing about
        // the key itself, so no comparison of secrets happens here.
        let found = self
            .store
            .find_api_key(&hash_api_key(&key))
            .await?
            .filter(|k| k.active)
            .ok_or(ApiError::InvalidApiKey)?;
        let now = Timestamp::now();
        let stale = found
            .last_used_at
            .is_none_or(|t| now.inner().timestamp() - t.inner().timestamp() >= KEY_TOUCH_SECS);
        if stale {
            if let Err(e) = self
                .store
                .touch_api_key(&found.company_id, found.id, now)
                .await
            {
                tracing::warn!(error = %e, "could not record the API key's last use");
            }
        }
        Ok(Principal::from_api_key(&found))
    }

    /// Completes the principal of a token without a company with its user's company, as
    /// the seed's policies find it (`users.company_id`).
    async fn company_of_user(&self, mut principal: Principal) -> Result<Principal, ApiError> {
        principal.company_id = self
            .store
            .user_company(&principal.user_id)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("The token names no company".into()))?;
        Ok(principal)
    }

    /// A company's settings, cached for a few seconds; defaults for a company the store
    /// does not know (a token can name a company before it is set up).
    pub async fn company_settings(&self, company: &CompanyId) -> Result<Value, StoreError> {
        if let Ok(cache) = self.settings.lock() {
            if let Some((at, settings)) = cache.get(company) {
                if at.elapsed() < SETTINGS_TTL {
                    return Ok(settings.clone());
                }
            }
        }
        let settings = match self.store.get_company(company).await {
            Ok(c) => c.settings,
            Err(StoreError::NotFound) => default_settings(),
            Err(e) => return Err(e),
        };
        if let Ok(mut cache) = self.settings.lock() {
            cache.insert(company.clone(), (Instant::now(), settings.clone()));
        }
        Ok(settings)
    }

    /// Drops this process's copy of a company's settings after it changed them.
    pub fn forget_company_settings(&self, company: &CompanyId) {
        if let Ok(mut cache) = self.settings.lock() {
            cache.remove(company);
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
