//! `http`: get, post, put, delete, head and patch to the hosts in `http_allow` only, without
//! following redirects, within `http_timeout`, with a response body of at most
//! `http_body_limit` bytes. A reply is `success: true` with `code` and `body` whatever the
//! status; a request that cannot be made is `success: false` with the reason.

use super::{ok, text};
use crate::config::Config;
use crate::App;
use serde_json::{json, Value};

pub fn client(config: &Config) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.http_timeout())
        .build()
        .map_err(|e| format!("the http resource: {e}"))
}

pub async fn handle(app: &App, req: &Value, command: &str) -> Value {
    match request(app, req, command).await {
        Ok((code, body)) => ok(req, json!({ "code": code, "body": body })),
        Err(why) => super::refused(req, why),
    }
}

/// Whether `http_allow` names the URL's host (`host`, any port) or host and port.
fn allowed(allow: &[String], url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let port = url.port_or_known_default().unwrap_or(0);
    allow
        .iter()
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(&format!("{host}:{port}")))
}

async fn request(app: &App, req: &Value, command: &str) -> Result<(u16, String), String> {
    let method = match command {
        "get" => reqwest::Method::GET,
        "post" => reqwest::Method::POST,
        "put" => reqwest::Method::PUT,
        "delete" => reqwest::Method::DELETE,
        "head" => reqwest::Method::HEAD,
        "patch" => reqwest::Method::PATCH,
        _ => return Err(format!("unknown command \"http.{command}\"")),
    };
    let url = text(req, "url").map_err(|_| "No URL given".to_string())?;
    let url = reqwest::Url::parse(url).map_err(|e| format!("URL {url:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("URL {url}: only http and https"));
    }
    if !allowed(&app.config.http_allow, &url) {
        return Err(format!("host {:?} is not in http_allow", url.host_str().unwrap_or("")));
    }
    let mut builder = app.http.request(method, url);
    if let Some(Value::Object(headers)) = req.get("headers") {
        for (name, values) in headers {
            let values = match values {
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                Value::String(one) => vec![one.as_str()],
                _ => Vec::new(),
            };
            for v in values {
                builder = builder.header(name.as_str(), v);
            }
        }
    }
    if let Some(data) = req.get("data").and_then(Value::as_str) {
        builder = builder.body(data.to_owned());
    }
    let mut response = builder.send().await.map_err(|e| describe(&e))?;
    let code = response.status().as_u16();
    let limit = app.config.http_body_limit;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!(
                "Received {} bytes, maximum of {limit} bytes allowed.",
                body.len() + chunk.len()
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out (http_timeout)".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hosts_named_are_reached() {
        let allow = vec!["api.example.org".to_string(), "127.0.0.1:8080".to_string()];
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(allowed(&allow, &url("https://api.example.org/x")));
        assert!(allowed(&allow, &url("http://API.example.org:9000/x")));
        assert!(allowed(&allow, &url("http://127.0.0.1:8080/")));
        assert!(!allowed(&allow, &url("http://127.0.0.1:8081/")));
        assert!(!allowed(&allow, &url("http://api.example.org.evil.net/")));
        assert!(!allowed(&[], &url("http://localhost/")));
    }
}
