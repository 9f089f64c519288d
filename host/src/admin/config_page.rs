//! The config page: the file in a form; check, save, and apply it to the running host (a
//! reload), with every problem shown at its line and what the reload did.

use super::config_edit::{self, Found};
use super::pages::{esc, failed, page};
use super::Admin;
use crate::reload::Report;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;

type Shared = State<Arc<Admin>>;

/// The config text with its lines numbered, the ones with problems marked.
fn numbered(text: &str, problems: &[Found]) -> String {
    let mut out = String::from("<pre id=\"numbered\">");
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let bad = problems.iter().any(|p| p.line == Some(n));
        let class = if bad { " class=\"problem\"" } else { "" };
        let _ = writeln!(out, "<span id=\"line-{n}\"{class}>{n:>4}  {}</span>", esc(line));
    }
    out.push_str("</pre>");
    out
}

fn config_form(text: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/config\"><textarea name=\"text\" id=\"config-text\" rows=\"30\" cols=\"100\">{}</textarea>\
         <p><button type=\"submit\" name=\"action\" value=\"save\" id=\"save\">Check and save</button> \
         <button type=\"submit\" name=\"action\" value=\"apply\" id=\"apply\">Check, save and apply</button> \
         <label><input type=\"checkbox\" name=\"full_restart\" value=\"true\" id=\"full-restart\"> \
         restart the whole process if bus, state, store, admin.bind or system_alias change</label></p>\
         <p>Applying replaces only the components that changed; a saved config is also applied by SIGHUP.</p></form>",
        esc(text)
    )
}

pub async fn config(State(a): Shared) -> Response {
    match config_edit::read(&a) {
        Ok(text) => {
            let mut body = format!("<p>{}</p>", esc(&a.config_path.display().to_string()));
            if let Some(last) = a.reloads.last() {
                body.push_str("<h2>Last reload</h2>");
                body.push_str(&report_html(&last));
            }
            body.push_str(&config_form(&text));
            page(&a, "Config", &body).into_response()
        }
        Err(e) => failed(&a, StatusCode::INTERNAL_SERVER_ERROR, "Config", &e.to_string()),
    }
}

#[derive(Deserialize)]
pub struct ConfigForm {
    text: String,
    action: Option<String>,
    full_restart: Option<String>,
}

/// What a reload did, as the config page and the overview show it.
pub fn report_html(r: &Report) -> String {
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            esc(&l.join(", "))
        }
    };
    let mut out = format!(
        "<table id=\"reload\"><tr><th>Outcome</th><td id=\"reload-outcome\">{}</td></tr>\
         <tr><th>Trigger</th><td>{:?}</td></tr><tr><th>Added</th><td>{}</td></tr>\
         <tr><th>Changed</th><td>{}</td></tr><tr><th>Removed</th><td>{}</td></tr>\
         <tr><th>Unchanged</th><td>{}</td></tr><tr><th>Took</th><td>{:.1} ms</td></tr>",
        r.outcome,
        r.trigger,
        list(&r.added),
        list(&r.changed),
        list(&r.removed),
        r.unchanged,
        r.duration_ms
    );
    if let Some(e) = &r.error {
        let _ = write!(
            out,
            "<tr><th>Error</th><td class=\"problem\" id=\"reload-error\">{}</td></tr>",
            esc(e)
        );
    }
    out.push_str("</table>");
    out
}

pub async fn config_save(State(a): Shared, Form(f): Form<ConfigForm>) -> Response {
    // A browser sends the lines of a textarea ending in CRLF; the file keeps LF.
    let text = f.text.replace("\r\n", "\n");
    let problems = match config_edit::check(&a, text.clone()).await {
        Ok(p) => p,
        Err(e) => return failed(&a, StatusCode::UNPROCESSABLE_ENTITY, "Config", &e.to_string()),
    };
    if !problems.is_empty() {
        return with_problems(&a, &text, &problems);
    }
    let saved = match config_edit::save(&a, &text) {
        Ok(saved) => saved,
        Err(e) => return failed(&a, StatusCode::INTERNAL_SERVER_ERROR, "Config", &e.to_string()),
    };
    let mut body = format!(
        "<p class=\"note\" id=\"saved\">Saved {}; the old config is kept as {}.</p>",
        esc(&saved.path),
        esc(&saved.backup),
    );
    if f.action.as_deref() == Some("apply") {
        let full_restart = f.full_restart.as_deref() == Some("true");
        match config_edit::apply(&a, full_restart).await {
            Ok(report) => {
                body.push_str("<h2>Reload</h2>");
                body.push_str(&report_html(&report));
            }
            Err(e) => return failed(&a, StatusCode::INTERNAL_SERVER_ERROR, "Config", &e.to_string()),
        }
    } else {
        body.push_str("<p>Not applied yet: apply it here, or send the host SIGHUP.</p>");
    }
    body.push_str(&config_form(&text));
    page(&a, "Config", &body).into_response()
}

fn with_problems(a: &Admin, text: &str, problems: &[Found]) -> Response {
    let mut body = String::from("<p class=\"problem\">Not saved: the config has problems.</p><ul id=\"problems\">");
    for p in problems {
        let at = p
            .line
            .map_or(String::new(), |l| format!("<a href=\"#line-{l}\">line {l}</a>: "));
        let _ = write!(
            body,
            "<li data-line=\"{}\">{at}{}</li>",
            p.line.unwrap_or(0),
            esc(&p.message)
        );
    }
    let _ = write!(body, "</ul>{}{}", numbered(text, problems), config_form(text));
    (StatusCode::UNPROCESSABLE_ENTITY, page(a, "Config", &body)).into_response()
}
