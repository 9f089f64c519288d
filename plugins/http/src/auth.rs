//! Credentials: HTTP basic auth or a bearer token, checked on requests and added to requests.

use axum::http::{header, HeaderMap};
use base64::Engine;
use ruvuma_plugin_api::prelude::ConfigProblem;
use serde::Deserialize;

/// `{username, password}` for basic auth, or `{token}` for a bearer token. Put secrets in the
/// environment: `password: "${AGGREGATOR_PASSWORD}"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Given")]
pub enum Auth {
    Basic { username: String, password: String },
    Bearer { token: String },
}

/// The keys as written, before deciding which shape they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Given {
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

impl TryFrom<Given> for Auth {
    type Error = String;

    fn try_from(given: Given) -> Result<Self, String> {
        match given {
            Given {
                username: Some(username),
                password: Some(password),
                token: None,
            } => Ok(Self::Basic { username, password }),
            Given {
                username: None,
                password: None,
                token: Some(token),
            } => Ok(Self::Bearer { token }),
            Given {
                username,
                password,
                token,
            } => {
                let mut named: Vec<&str> = Vec::new();
                for (key, given) in [
                    ("username", username.is_some()),
                    ("password", password.is_some()),
                    ("token", token.is_some()),
                ] {
                    if given {
                        named.push(key);
                    }
                }
                Err(format!(
                    "expected {{username, password}} (basic) or {{token}} (bearer), found {{{}}}",
                    named.join(", ")
                ))
            }
        }
    }
}

/// Compares without stopping at the first difference.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl Auth {
    /// Every empty secret, named under `prefix` (`auth`, `outbound_auth`).
    pub fn check(&self, prefix: &str) -> Vec<ConfigProblem> {
        let secrets: Vec<(&str, &str)> = match self {
            Self::Basic { username, password } => vec![("username", username), ("password", password)],
            Self::Bearer { token } => vec![("token", token)],
        };
        secrets
            .into_iter()
            .filter(|(_, value)| value.trim().is_empty())
            .map(|(key, _)| {
                ConfigProblem::at(
                    &format!("{prefix}.{key}"),
                    "is empty (an unset environment variable?); an empty secret lets anyone in",
                )
            })
            .collect()
    }

    /// The scheme (matched without regard to case, RFC 7235) and the credentials after it.
    fn expected(&self) -> (&'static str, String) {
        match self {
            Self::Basic { username, password } => (
                "basic",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            ),
            Self::Bearer { token } => ("bearer", token.clone()),
        }
    }

    /// Whether a request carries these credentials.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let (scheme, credentials) = self.expected();
        let Some(given) = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) else {
            return false;
        };
        let Some(space) = given.iter().position(|b| *b == b' ') else {
            return false;
        };
        let (given_scheme, rest) = given.split_at(space);
        let rest = rest.trim_ascii_start();
        given_scheme.eq_ignore_ascii_case(scheme.as_bytes()) & same(rest, credentials.as_bytes())
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

/// The user and password of a request's basic credentials, if it carries them.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let given = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = given.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().expect("header"));
        h
    }

    #[test]
    fn schemes_match_without_regard_to_case() {
        let basic = Auth::Basic {
            username: "ops".into(),
            password: "s3cret".into(),
        };
        for given in [
            "Basic b3BzOnMzY3JldA==",
            "basic b3BzOnMzY3JldA==",
            "BASIC  b3BzOnMzY3JldA==",
        ] {
            assert!(basic.allows(&headers(given)), "{given}");
        }
        assert!(!basic.allows(&headers("Basic b3BzOndyb25n")));
        assert!(!basic.allows(&headers("Bearer b3BzOnMzY3JldA==")));
        let bearer = Auth::Bearer { token: "t0ken".into() };
        assert!(bearer.allows(&headers("bearer t0ken")));
        assert!(!bearer.allows(&headers("bearer t0ke")));
    }
}
