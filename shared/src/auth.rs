//! Who is calling: a JWT (HS256, Supabase-compatible claims) or an API key. What each
//! role may do is declared per route (`crate::http::Access`).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::config::JwtConfig;
use crate::domain::account::ApiKey;
use crate::domain::CompanyId;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Agent,
    Viewer,
}

impl Role {
    /// Unknown roles (Supabase's `authenticated`, say) are agents.
    pub fn parse(s: &str) -> Role {
        match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "viewer" => Role::Viewer,
            _ => Role::Agent,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }
}

/// The authenticated caller. Every store call is scoped by its `company_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: String,
    pub company_id: CompanyId,
    pub role: Role,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    role: Option<String>,
    company_id: Option<String>,
    app_metadata: Option<AppMetadata>,
}

#[derive(Debug, Deserialize)]
struct AppMetadata {
    company_id: Option<String>,
    role: Option<String>,
}

/// What a request authenticates with.
pub enum Credential {
    Jwt(Principal),
    /// A verified JWT that names its user but no company, as Supabase's do: the company is
    /// the user's (`users.company_id` of the seed's schema); `company_id` is still empty.
    UserJwt(Principal),
    /// A key as sent; [`crate::App::authenticate`] looks it up.
    ApiKey(String),
}

impl Principal {
    /// The caller behind an API key: its scopes give its role.
    pub fn from_api_key(key: &ApiKey) -> Principal {
        let has = |s: &str| key.scopes.iter().any(|k| k == s);
        Principal {
            user_id: format!("apikey:{}", key.id),
            company_id: key.company_id.clone(),
            role: if has("admin") {
                Role::Admin
            } else if has("write") {
                Role::Agent
            } else {
                Role::Viewer
            },
            email: None,
        }
    }
}

pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(config: &JwtConfig) -> Self {
        // Only HS256 is accepted: `alg: none` and any other algorithm fail verification.
        let mut validation = Validation::new(Algorithm::HS256);
        // A configured issuer or audience is required, not merely checked when present.
        let mut required = vec!["exp", "sub"];
        required.extend(config.issuer.as_ref().map(|_| "iss"));
        required.extend(config.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        validation.leeway = 30;
        match &config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
        }
        Authenticator {
            key: DecodingKey::from_secret(config.secret.as_bytes()),
            validation,
        }
    }

    /// Reads a request's credential: a verified JWT's principal, or an API key still to
    /// be looked up.
    pub fn credential(&self, headers: &HeaderMap) -> Result<Credential, ApiError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        if let Some(auth) = header("authorization") {
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "The Authorization header must be `Bearer <token>`".into(),
                    )
                })?;
            return if looks_like_jwt(token) {
                self.verify(token)
            } else {
                Ok(Credential::ApiKey(token.to_string()))
            };
        }
        if let Some(key) = header("x-api-key").or_else(|| header("apikey")) {
            return Ok(Credential::ApiKey(key.to_string()));
        }
        Err(ApiError::Unauthorized(
            "Authentication required: send `Authorization: Bearer <token>`".into(),
        ))
    }

    fn verify(&self, token: &str) -> Result<Credential, ApiError> {
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            ApiError::Unauthorized(
                match e.kind() {
                    ErrorKind::ExpiredSignature => "The token has expired",
                    ErrorKind::ImmatureSignature => "The token is not valid yet",
                    ErrorKind::InvalidAudience => "The token is for another audience",
                    ErrorKind::InvalidIssuer => "The token is from another issuer",
                    ErrorKind::MissingRequiredClaim(_) => "The token lacks a required claim",
                    _ => "The token is invalid",
                }
                .into(),
            )
        })?;
        let claims = data.claims;
        let meta = claims.app_metadata.as_ref();
        let company_id = claims
            .company_id
            .clone()
            .or_else(|| meta.and_then(|m| m.company_id.clone()))
            .filter(|c| !c.trim().is_empty());
        // Ids become parts of store keys, whose size is bounded.
        let sane = |id: &str, max: usize| id.len() <= max && !id.chars().any(char::is_control);
        if !company_id.as_deref().is_none_or(|c| sane(c, 128)) || !sane(&claims.sub, 255) {
            return Err(ApiError::Unauthorized(
                "The token's subject or company id is malformed".into(),
            ));
        }
        let role = meta
            .and_then(|m| m.role.as_deref())
            .or(claims.role.as_deref())
            .map(Role::parse)
            .unwrap_or(Role::Agent);
        let principal = |company_id| Principal {
            user_id: claims.sub.clone(),
            company_id,
            role,
            email: claims.email.clone(),
        };
        Ok(match company_id {
            Some(c) => Credential::Jwt(principal(CompanyId::new(c))),
            None => Credential::UserJwt(principal(CompanyId::new(""))),
        })
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

/// The claims of a token this project mints (the CLI's `token`, and tests).
#[derive(Debug, Clone, Serialize)]
pub struct TokenClaims {
    pub sub: String,
    pub company_id: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

impl TokenClaims {
    pub fn new(sub: &str, company: &CompanyId, role: Role, ttl_secs: i64) -> Self {
        let now = chrono::Utc::now().timestamp();
        TokenClaims {
            sub: sub.to_string(),
            company_id: company.as_str().to_string(),
            role,
            email: None,
            iat: now,
            exp: now + ttl_secs,
        }
    }
}

/// Signs `claims` with HS256.
pub fn mint(secret: &str, claims: &TokenClaims) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}
