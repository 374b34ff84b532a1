//! Typed configuration, read once from the environment at init.
//!
//! A missing or malformed variable stops the function before it serves anything, with an
//! error that names the variable.

use std::path::PathBuf;

/// The secret `make dev` uses; production refuses to start with it.
pub const DEV_JWT_SECRET: &str = "wiizo-local-development-secret-not-for-production";

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("configuration error: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    Sqlite {
        path: PathBuf,
    },
    /// The table's endpoint, region and credentials come from the usual AWS variables
    /// (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, …).
    Dynamodb {
        table: String,
    },
    /// A PostgreSQL database (`DATABASE_URL`), possibly the seed's own; TLS trusts
    /// `DATABASE_CA_FILE`'s certificates when given, else the public roots.
    Postgres {
        url: String,
        ca_file: Option<PathBuf>,
        /// `DATABASE_IAM_AUTH=true`: an RDS IAM token instead of the URL's password.
        iam_auth: bool,
    },
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub secret: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    /// The value of `Access-Control-Allow-Origin` for a request from `origin`, if allowed.
    pub fn allow(&self, origin: Option<&str>) -> Option<String> {
        match (self, origin) {
            (AllowedOrigins::Any, _) => Some("*".to_string()),
            (AllowedOrigins::List(list), Some(o)) if list.iter().any(|a| a == o) => {
                Some(o.to_string())
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub store: StoreConfig,
    pub jwt: JwtConfig,
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
    pub meta_graph_url: String,
    /// How long one call to Meta may take (`META_TIMEOUT_MS`, default 10 000).
    pub meta_timeout: std::time::Duration,
    pub openai_api_key: Option<String>,
    pub openai_base_url: String,
    /// How long OpenAI may take to answer, or to send a stream's first byte
    /// (`OPENAI_TIMEOUT_MS`, default 60 000).
    pub openai_timeout: std::time::Duration,
    /// How long a receiver of an outbound webhook may take (`WEBHOOK_TIMEOUT_MS`, default
    /// 10 000).
    pub webhook_timeout: std::time::Duration,
    /// The waits before each retry of a failed outbound delivery, in milliseconds
    /// (`WEBHOOK_RETRY_SCHEDULE_MS`, default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    pub webhook_retry_schedule: Vec<u64>,
    pub allowed_origins: AllowedOrigins,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get`, so tests can supply their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let environment = match var("WIIZO_ENV").as_deref() {
            None | Some("production") => Environment::Production,
            Some("development") => Environment::Development,
            Some(other) => {
                return Err(ConfigError::new(
                    "WIIZO_ENV",
                    format!("`{other}` is not one of: development, production"),
                ))
            }
        };

        let store = match var("WIIZO_STORE").as_deref() {
            None | Some("sqlite") => StoreConfig::Sqlite {
                path: var("WIIZO_SQLITE_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/tmp/wiizo.sqlite")),
            },
            Some("dynamodb") => StoreConfig::Dynamodb {
                table: var("WIIZO_TABLE").ok_or_else(|| {
                    ConfigError::new("WIIZO_TABLE", "is required when WIIZO_STORE=dynamodb")
                })?,
            },
            Some("postgres") => StoreConfig::Postgres {
                url: var("DATABASE_URL").ok_or_else(|| {
                    ConfigError::new("DATABASE_URL", "is required when WIIZO_STORE=postgres")
                })?,
                ca_file: var("DATABASE_CA_FILE").map(PathBuf::from),
                iam_auth: match var("DATABASE_IAM_AUTH").as_deref() {
                    None | Some("false") | Some("0") => false,
                    Some("true") | Some("1") => true,
                    Some(other) => {
                        return Err(ConfigError::new(
                            "DATABASE_IAM_AUTH",
                            format!("`{other}` is not one of: true, false"),
                        ))
                    }
                },
            },
            Some(other) => {
                return Err(ConfigError::new(
                    "WIIZO_STORE",
                    format!("`{other}` is not one of: sqlite, dynamodb, postgres"),
                ))
            }
        };

        let secret =
            var("JWT_SECRET").ok_or_else(|| ConfigError::new("JWT_SECRET", "is required"))?;
        if environment == Environment::Production {
            check_production_secrets(&var)?;
        }

        let allowed_origins = match var("ALLOWED_ORIGINS").as_deref() {
            None | Some("*") => AllowedOrigins::Any,
            Some(list) => {
                let origins: Vec<String> = list
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect();
                if origins.iter().any(|o| o == "*") {
                    AllowedOrigins::Any
                } else {
                    AllowedOrigins::List(origins)
                }
            }
        };

        Ok(Config {
            environment,
            store,
            jwt: JwtConfig {
                secret,
                issuer: var("JWT_ISSUER"),
                audience: var("JWT_AUDIENCE"),
            },
            meta_app_secret: var("META_APP_SECRET"),
            meta_verify_token: var("META_VERIFY_TOKEN"),
            meta_graph_url: url_var(&var, "META_GRAPH_URL", "https://graph.facebook.com/v21.0")?,
            meta_timeout: millis_var(&var, "META_TIMEOUT_MS", 10_000, 60_000)?,
            openai_api_key: var("OPENAI_API_KEY"),
            openai_base_url: url_var(&var, "OPENAI_BASE_URL", "https://api.openai.com/v1")?,
            openai_timeout: millis_var(&var, "OPENAI_TIMEOUT_MS", 60_000, 600_000)?,
            webhook_timeout: millis_var(&var, "WEBHOOK_TIMEOUT_MS", 10_000, 60_000)?,
            webhook_retry_schedule: match var("WEBHOOK_RETRY_SCHEDULE_MS") {
                None => vec![
                    5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
                ],
                Some(v) => v
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<u64>()
                            .ok()
                            .filter(|ms| (1..=86_400_000).contains(ms))
                    })
                    .collect::<Option<Vec<u64>>>()
                    .filter(|s| !s.is_empty() && s.len() <= 20)
                    .ok_or_else(|| {
                        ConfigError::new(
                            "WEBHOOK_RETRY_SCHEDULE_MS",
                            "must be 1 to 20 comma-separated waits of 1 to 86400000 milliseconds",
                        )
                    })?,
            },
            allowed_origins,
        })
    }
}

/// The secrets `dev.env` gives `make dev`: anyone who reads the repository knows them.
const DEV_ENV: &str = include_str!("../../dev.env");

/// Secrets this service chooses itself, so it can insist they are long; the others
/// (Meta's app secret, OpenAI's key) are whatever the provider issued.
const OURS_TO_CHOOSE: &[&str] = &["JWT_SECRET", "META_VERIFY_TOKEN"];
const SECRETS: &[&str] = &[
    "JWT_SECRET",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "OPENAI_API_KEY",
];

/// In production no secret may be one of `dev.env`'s values, and a secret of ours must be
/// at least 32 bytes; the error names the variable.
fn check_production_secrets(var: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let published: Vec<&str> = DEV_ENV
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(_, v)| v.trim()))
        .filter(|v| !v.is_empty())
        .collect();
    for name in SECRETS {
        let Some(value) = var(name) else { continue };
        if published.contains(&value.as_str()) {
            return Err(ConfigError::new(
                name,
                "is a published development value from dev.env; set a real secret (or WIIZO_ENV=development)",
            ));
        }
        if OURS_TO_CHOOSE.contains(name) && value.len() < 32 {
            return Err(ConfigError::new(
                name,
                "must be at least 32 bytes in production",
            ));
        }
    }
    Ok(())
}

/// A duration in milliseconds from 1 to `max`, `default` when unset.
fn millis_var(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<std::time::Duration, ConfigError> {
    let ms = match var(name) {
        None => default,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|ms| (1..=max).contains(ms))
            .ok_or_else(|| ConfigError::new(name, format!("must be 1 to {max} milliseconds")))?,
    };
    Ok(std::time::Duration::from_millis(ms))
}

fn url_var(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = var(name).unwrap_or_else(|| default.to_string());
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(ConfigError::new(name, "must be an http(s) URL"));
    }
    Ok(value.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn missing_jwt_secret_names_the_variable() {
        let err = config(&[]).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn production_refuses_the_dev_secret() {
        let err = config(&[("JWT_SECRET", DEV_JWT_SECRET)]).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
        let ok = config(&[("JWT_SECRET", DEV_JWT_SECRET), ("WIIZO_ENV", "development")]);
        assert!(ok.is_ok());
    }

    #[test]
    fn production_refuses_every_published_development_secret() {
        let strong = "0123456789abcdef0123456789abcdef-strong";
        let dev_env: Vec<(&str, &str)> =
            DEV_ENV.lines().filter_map(|l| l.split_once('=')).collect();
        let dev = |name: &str| {
            dev_env
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .expect("dev.env sets it")
        };
        for name in SECRETS {
            let mut vars = vec![("JWT_SECRET", strong)];
            vars.retain(|(k, _)| k != name);
            vars.push((name, dev(name)));
            let err = config(&vars).unwrap_err();
            assert_eq!(err.var, *name);
            assert!(err.reason.contains("dev.env"), "{}", err.reason);
            vars.push(("WIIZO_ENV", "development"));
            assert!(config(&vars).is_ok(), "{name} is fine in development");
        }
    }

    #[test]
    fn production_wants_long_secrets_where_they_are_ours() {
        let strong = ("JWT_SECRET", "0123456789abcdef0123456789abcdef-strong");
        let err = config(&[strong, ("META_VERIFY_TOKEN", "short-token")]).unwrap_err();
        assert_eq!(err.var, "META_VERIFY_TOKEN");
        let err = config(&[("JWT_SECRET", "short-but-not-published")]).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
        // Meta's app secret and OpenAI's key are what the provider issued.
        assert!(config(&[strong, ("META_APP_SECRET", "0f1e2d3c")]).is_ok());
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        assert_eq!(
            config(&[secret, ("WIIZO_STORE", "mongo")]).unwrap_err().var,
            "WIIZO_STORE"
        );
        assert_eq!(
            config(&[secret, ("WIIZO_ENV", "prod")]).unwrap_err().var,
            "WIIZO_ENV"
        );
        assert_eq!(
            config(&[secret, ("META_GRAPH_URL", "graph.local")])
                .unwrap_err()
                .var,
            "META_GRAPH_URL"
        );
    }

    #[test]
    fn allowed_origins_list() {
        let c = config(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            (
                "ALLOWED_ORIGINS",
                "https://app.wiizo.chat, http://localhost:3000/",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.allowed_origins
                .allow(Some("http://localhost:3000"))
                .as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(c.allowed_origins.allow(Some("https://evil.example")), None);
    }
}
