//! The admin pages: HTML rendered by the host, readable without JavaScript; the components
//! page draws its charts from the API with a small script of its own (no CDN).

use super::api::{self, LogsQuery, MessagesQuery};
use super::{failures, view, Admin};
use crate::text::url_encode as url;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;

type Shared = State<Arc<Admin>>;

/// Text made safe for HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{background:#1d3557;color:#fff;padding:.6em 1em}header h1{margin:0;font-size:1.4em}\
nav a{color:#fff;margin-right:1em}main{padding:1em}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
.ok{color:#2a7d2a;font-weight:bold}.degraded{color:#b36b00;font-weight:bold}.down{color:#c00;font-weight:bold}\
pre{background:#f5f5f5;padding:.5em;overflow:auto}.problem{background:#fdd}.note{background:#eef;padding:.5em}\
canvas{border:1px solid #ccc;margin:.5em 0}";

/// A whole page: the alias on top, the menu, then `body`.
pub(super) fn page(admin: &Admin, title: &str, body: &str) -> Html<String> {
    let alias = esc(&admin.alias);
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{alias}: {title}</title>\
         <style>{STYLE}</style></head><body><header><h1 id=\"alias\">{alias}</h1><nav>\
         <a href=\"/\">Overview</a><a href=\"/components\">Components</a><a href=\"/messages\">Messages</a>\
         <a href=\"/failures\">Failures</a><a href=\"/config\">Config</a><a href=\"/logs\">Logs</a>\
         <a href=\"/metrics\">Metrics</a></nav></header><main><h2>{title}</h2>{body}</main></body></html>"
    ))
}

pub(super) fn failed(admin: &Admin, status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!("<p class=\"problem\" id=\"error\">{}</p>", esc(message));
    (status, page(admin, title, &body)).into_response()
}

pub async fn overview(State(a): Shared) -> Html<String> {
    let o = view::overview(&a);
    let s = |k: &str| o[k].as_str().unwrap_or("").to_owned();
    let store = match &a.store {
        Some(st) if st.health().is_down() => format!("{} <span class=\"down\">down</span>", esc(st.name())),
        Some(st) => format!(
            "{} <span class=\"ok\">up</span>, {} records pending",
            esc(st.name()),
            st.pending()
        ),
        None => "none".into(),
    };
    let mut body = format!(
        "<table><tr><th>System alias</th><td>{}</td></tr><tr><th>Version</th><td>{}</td></tr>\
         <tr><th>Uptime</th><td>{:.0} s</td></tr><tr><th>Config file</th><td>{}</td></tr>\
         <tr><th>Bus</th><td>{}</td></tr><tr><th>State store</th><td>{}</td></tr>\
         <tr><th>Message store</th><td>{store}</td></tr></table><h3>Plugin libraries</h3><table>\
         <tr><th>Library</th><th>Version</th><th>File</th></tr>",
        esc(&a.alias),
        esc(&s("version")),
        o["uptime_seconds"].as_f64().unwrap_or(0.0),
        esc(&s("config_file")),
        esc(&s("bus")),
        esc(&s("state")),
    );
    for l in &a.shown().libraries {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.name),
            esc(&l.version),
            esc(&l.path)
        );
    }
    body.push_str("</table>");
    let (applied, failed) = a.reloads.totals();
    let _ = write!(
        body,
        "<h3>Reloads</h3><p id=\"reloads\">{applied} applied, {failed} failed</p>"
    );
    if let Some(last) = a.reloads.last() {
        body.push_str(&super::config_page::report_html(&last));
    }
    body.push_str("<h3>Observers</h3><table><tr><th>Name</th><th>Events</th><th>Queued</th><th>Dropped</th></tr>");
    for ob in a.events.observers() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&ob.name),
            esc(&ob.events.join(", ")),
            ob.queued,
            ob.dropped
        );
    }
    body.push_str("</table>");
    page(&a, "Overview", &body)
}

const CHARTS: &str = include_str!("charts.js");

pub async fn components(State(a): Shared) -> Html<String> {
    let depths = view::depths(&a).await;
    let mut body = String::from(
        "<table id=\"components\"><tr><th>Kind</th><th>Name</th><th>Plugin</th><th>Status</th><th>In</th>\
         <th>Out</th><th>In/s</th><th>Out/s</th><th>Queued</th><th>Oldest (s)</th><th>Acks</th><th>Nacks</th>\
         <th>Delivered</th><th>Undelivered</th><th>Failures</th></tr>",
    );
    if let Err(e) = &depths {
        let _ = write!(body, "<p class=\"problem\">queue depths unknown: {}</p>", esc(e));
    }
    for r in view::components(&a, depths.as_deref().unwrap_or(&[])) {
        let m = r.meter.as_ref();
        let n = |f: fn(&crate::events::metrics::MeterView) -> u64| m.map_or(0, f);
        let detail = m.and_then(|m| m.status_report.as_ref()).map_or(String::new(), |s| {
            let since = ruvuma_plugin_api::Timestamp::from_micros((s.since * 1e6) as i64);
            format!(
                "<br><small>{}: {} (since {since})</small>",
                esc(&s.kind),
                esc(&s.message)
            )
        });
        let nacks: u64 = m.map_or(0, |m| m.nacks.iter().map(|(_, n)| n).sum());
        let _ = write!(
            body,
            "<tr data-name=\"{name}\"><td>{}</td><td>{name}</td><td>{}</td><td class=\"status {st}\">{st}{detail}</td>\
             <td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{nacks}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            r.info.kind,
            esc(&r.info.plugin),
            n(|m| m.messages_in),
            n(|m| m.messages_out),
            m.map_or(0.0, |m| m.rate_in),
            m.map_or(0.0, |m| m.rate_out),
            r.queue_depth,
            r.oldest_age.map_or("-".into(), |a| format!("{a:.1}")),
            n(|m| m.acks),
            n(|m| m.delivered),
            n(|m| m.undelivered),
            n(|m| m.failures),
            name = esc(&r.info.name),
            st = esc(&r.status),
        );
    }
    body.push_str(
        "</table><h3>Messages per second (last hour)</h3><canvas id=\"rates\" width=\"900\" height=\"200\"></canvas>\
         <h3>Delivery reports per second (last hour)</h3><canvas id=\"dlrs\" width=\"900\" height=\"200\"></canvas>\
         <p><small>The table is as of this page's load; the charts redraw every two seconds.</small></p>",
    );
    let _ = write!(body, "<script>{CHARTS}</script>");
    page(&a, "Components", &body)
}

pub async fn messages(State(a): Shared, Query(q): Query<MessagesQuery>) -> Response {
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or(""));
    let mut body = format!(
        "<form method=\"get\" action=\"/messages\">Endpoint <input name=\"endpoint\" value=\"{}\"> \
         Address <input name=\"addr\" value=\"{}\"> Direction <input name=\"direction\" value=\"{}\" size=\"4\"> \
         Status <input name=\"status\" value=\"{}\" size=\"9\"> <button type=\"submit\">Search</button></form>\
         <form method=\"get\" action=\"/messages/go\">Message id <input name=\"id\"> <button>Show</button></form>",
        v(&q.endpoint),
        v(&q.addr),
        v(&q.direction),
        v(&q.status)
    );
    let (list, next) = match api::search(&a, &q).await {
        Ok(found) => found,
        Err((status, message)) => return failed(&a, status, "Messages", &message),
    };
    body.push_str(
        "<table id=\"messages\"><tr><th>Stored</th><th>Id</th><th>Direction</th><th>Endpoint</th><th>Address</th>\
         <th>Status</th></tr>",
    );
    for m in &list {
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"/messages/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::store::query::time(m.stored_at),
            url(&m.message_id),
            esc(&m.message_id),
            esc(&m.direction),
            esc(&m.endpoint),
            esc(&m.addr),
            esc(&m.status)
        );
    }
    body.push_str("</table>");
    if let Some(next) = next {
        let keep = |k: &str, o: &Option<String>| format!("&{k}={}", url(o.as_deref().unwrap_or("")));
        let _ = write!(
            body,
            "<p><a href=\"/messages?cursor={}{}{}{}{}\">Older</a></p>",
            url(&next),
            keep("endpoint", &q.endpoint),
            keep("addr", &q.addr),
            keep("direction", &q.direction),
            keep("status", &q.status)
        );
    }
    page(&a, "Messages", &body).into_response()
}

#[derive(Deserialize)]
pub struct GoQuery {
    id: Option<String>,
}

pub async fn message(State(a): Shared, Path(id): Path<String>, Query(go): Query<GoQuery>) -> Response {
    if id == "go" {
        let id = go.id.unwrap_or_default();
        return Redirect::to(&format!("/messages/{}", url(id.trim()))).into_response();
    }
    let found = match api::find(&a, &id).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return failed(
                &a,
                StatusCode::NOT_FOUND,
                "Message",
                &format!("no message {id:?} in the store"),
            )
        }
        Err((status, message)) => return failed(&a, status, "Message", &message),
    };
    let m = &found.message;
    let mut body = format!(
        "<table><tr><th>Id</th><td id=\"message-id\">{}</td></tr><tr><th>Direction</th><td>{}</td></tr>\
         <tr><th>Endpoint</th><td>{}</td></tr><tr><th>Address</th><td>{}</td></tr>\
         <tr><th>Status</th><td id=\"message-status\">{}</td></tr></table><h3>Timeline</h3>\
         <ol id=\"timeline\"><li>{} stored ({})</li>",
        esc(&m.message_id),
        esc(&m.direction),
        esc(&m.endpoint),
        esc(&m.addr),
        esc(&m.status),
        crate::store::query::time(m.stored_at),
        esc(&m.direction),
    );
    for e in &found.events {
        let json = e.to_json();
        let text = |k: &str| json[k].as_str().unwrap_or("").to_owned();
        let _ = write!(
            body,
            "<li>{} <b>{}</b> {} {}</li>",
            esc(&text("stored_at")),
            esc(&text("event_type")),
            esc(&text("status")),
            esc(&text("detail"))
        );
    }
    let pretty = serde_json::to_string_pretty(&found.to_json()).unwrap_or_default();
    let _ = write!(body, "</ol><h3>As stored</h3><pre>{}</pre>", esc(&pretty));
    page(&a, "Message", &body).into_response()
}

#[derive(Deserialize)]
pub struct FailuresPage {
    component: Option<String>,
    done: Option<String>,
}

pub async fn failures(State(a): Shared, Query(q): Query<FailuresPage>) -> Response {
    let component = q.component.clone().filter(|c| !c.is_empty());
    let list = match failures::list(&a, component, 200).await {
        Ok(l) => l,
        Err(e) => return failed(&a, StatusCode::SERVICE_UNAVAILABLE, "Failures", &e.to_string()),
    };
    let mut body = String::new();
    if let Some(done) = &q.done {
        let _ = write!(body, "<p class=\"note\" id=\"done\">{}</p>", esc(done));
    }
    body.push_str(
        "<table id=\"failures\"><tr><th>When</th><th>Component</th><th>Message</th><th>Reason</th>\
         <th>Replays on</th><th></th></tr>",
    );
    for f in &list {
        let _ = write!(
            body,
            "<tr data-id=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/failures/{id}/replay\"><button type=\"submit\">Replay</button></form>\
             <a href=\"/api/failures/{id}\">JSON</a></td></tr>",
            crate::store::query::time(f.failed_at),
            esc(&f.component),
            esc(&f.message_id),
            esc(&f.reason),
            esc(&f.origin),
            id = url(&f.failure_id),
        );
    }
    body.push_str(
        "</table><form method=\"post\" action=\"/failures/purge\"><p>Purge every failure of component \
         <input name=\"component\" placeholder=\"(all)\"> <button type=\"submit\">Purge</button></p></form>",
    );
    page(&a, "Failures", &body).into_response()
}

fn back_to_failures(note: &str) -> Response {
    Redirect::to(&format!("/failures?done={}", url(note))).into_response()
}

pub async fn replay(State(a): Shared, Path(id): Path<String>) -> Response {
    match failures::replay(&a, &id).await {
        Ok(f) => back_to_failures(&format!("replayed message {} on {}", f.message_id, f.origin)),
        Err(e) => failed(&a, StatusCode::UNPROCESSABLE_ENTITY, "Failures", &e.to_string()),
    }
}

#[derive(Deserialize)]
pub struct PurgeForm {
    component: Option<String>,
}

pub async fn purge(State(a): Shared, Form(f): Form<PurgeForm>) -> Response {
    match failures::purge(&a, f.component.filter(|c| !c.is_empty())).await {
        Ok(n) => back_to_failures(&format!("{n} failures purged")),
        Err(e) => failed(&a, StatusCode::UNPROCESSABLE_ENTITY, "Failures", &e.to_string()),
    }
}

pub async fn logs(State(a): Shared, Query(q): Query<LogsQuery>) -> Response {
    let level = match api::level_of(q.level.as_deref()) {
        Ok(l) => l,
        Err(e) => return failed(&a, StatusCode::BAD_REQUEST, "Logs", &e),
    };
    let lines = crate::logging::recent(q.limit.unwrap_or(200).clamp(1, 1000), level);
    let mut body = String::from(
        "<form method=\"get\">Level at least <select name=\"level\"><option value=\"\">any</option>\
         <option>error</option><option>warn</option><option>info</option><option>debug</option></select> \
         <button>Show</button></form><table id=\"logs\"><tr><th>When</th><th>Level</th><th>Component</th><th>Line</th></tr>",
    );
    for l in lines.iter().rev() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.at),
            l.level,
            esc(&l.component),
            esc(&l.message)
        );
    }
    body.push_str("</table>");
    page(&a, "Recent log lines", &body).into_response()
}
