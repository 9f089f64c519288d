//! Credentials: HTTP basic auth or a bearer token, checked on requests and added to requests.

use axum::http::{header, HeaderMap};
use base64::Engine;
use serde::Deserialize;

/// `{username, password}` for basic auth, or `{token}` for a bearer token. Put secrets in the
/// environment: `password: "${AGGREGATOR_PASSWORD}"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Auth {
    Basic { username: String, password: String },
    Bearer { token: String },
}

impl Auth {
    fn expected(&self) -> String {
        match self {
            Self::Basic { username, password } => {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
                )
            }
            Self::Bearer { token } => format!("Bearer {token}"),
        }
    }

    /// Whether a request carries these credentials.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let expected = self.expected();
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|given| {
                // Compare without stopping at the first difference.
                given.len() == expected.len()
                    && given
                        .bytes()
                        .zip(expected.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            })
    }

    pub fn challenge(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "Basic realm=\"ruvuma\"",
            Self::Bearer { .. } => "Bearer",
        }
    }

    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::Basic { username, password } => request.basic_auth(username, Some(password)),
            Self::Bearer { token } => request.bearer_auth(token),
        }
    }
}
