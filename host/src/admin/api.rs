//! The JSON API under `/api/` (documented in the README), `/health` and `/ready`. Every answer
//! is an object with the `system_alias` in it; an error is `{"error": ...}` with its status.

use super::{config_edit, failures, view, Admin};
use crate::store::query::{self, Cursor, Filter};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::sync::Arc;

type Shared = State<Arc<Admin>>;

/// Ids and names taken from a URL at most this long.
const MAX_ID: usize = 200;
/// Log lines answered at most.
const MAX_LOG_LINES: usize = 1000;

/// `value` (an object) with the alias added, as JSON with `status`.
pub(super) fn answer(admin: &Admin, status: StatusCode, mut value: Json) -> Response {
    if let Json::Object(m) = &mut value {
        m.insert("system_alias".into(), admin.alias.clone().into());
    }
    (status, axum::Json(value)).into_response()
}

pub(super) fn error(admin: &Admin, status: StatusCode, message: impl std::fmt::Display) -> Response {
    answer(admin, status, json!({"error": message.to_string()}))
}

fn failures_status(e: &failures::FailuresError) -> StatusCode {
    match e {
        failures::FailuresError::NotFound(_) => StatusCode::NOT_FOUND,
        failures::FailuresError::Unreadable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn too_long(admin: &Admin, id: &str) -> Option<Response> {
    (id.len() > MAX_ID).then(|| {
        error(
            admin,
            StatusCode::BAD_REQUEST,
            format!("an id is at most {MAX_ID} bytes"),
        )
    })
}

pub async fn overview(State(a): Shared) -> Response {
    answer(&a, StatusCode::OK, view::overview(&a))
}

pub async fn components(State(a): Shared) -> Response {
    let (depths, bus_error) = match view::depths(&a).await {
        Ok(d) => (d, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let rows = view::components(&a, &depths);
    answer(
        &a,
        StatusCode::OK,
        json!({"components": rows, "queues": depths, "bus_error": bus_error}),
    )
}

#[derive(Deserialize)]
pub struct RatesQuery {
    seconds: Option<usize>,
}

pub async fn rates(State(a): Shared, Query(q): Query<RatesQuery>) -> Response {
    let seconds = q.seconds.unwrap_or(3600).clamp(1, 3600);
    answer(&a, StatusCode::OK, json!({"samples": a.events.metrics.rates(seconds)}))
}

/// `/api/messages` and the messages page's search.
#[derive(Deserialize, Default)]
pub struct MessagesQuery {
    pub endpoint: Option<String>,
    pub addr: Option<String>,
    pub direction: Option<String>,
    pub status: Option<String>,
    pub batch: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

impl MessagesQuery {
    fn filter(&self) -> Filter {
        let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Filter {
            endpoint: given(&self.endpoint),
            addr: given(&self.addr),
            direction: given(&self.direction),
            status: given(&self.status),
            batch: given(&self.batch),
            since: None,
            until: None,
        }
    }
}

/// A page of stored messages and the cursor of the next, or what is wrong.
pub(super) async fn search(
    a: &Admin,
    q: &MessagesQuery,
) -> Result<(Vec<query::Stored>, Option<String>), (StatusCode, String)> {
    let Some(store) = &a.store else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "no message store: the config has no `store:` section".into(),
        ));
    };
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(Cursor::parse(c).map_err(|e| (StatusCode::BAD_REQUEST, format!("cursor: {e}")))?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, query::MAX_PAGE);
    let filter = q.filter();
    let page = store
        .with_db(move |db| query::list(db, &filter, cursor.as_ref(), limit))
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|s| Cursor::after(s).to_string()))
        .flatten();
    Ok((page, next))
}

pub async fn messages(State(a): Shared, Query(q): Query<MessagesQuery>) -> Response {
    match search(&a, &q).await {
        Ok((page, next)) => {
            let messages: Vec<Json> = page.iter().map(query::Stored::to_json).collect();
            answer(&a, StatusCode::OK, json!({"messages": messages, "next": next}))
        }
        Err((status, message)) => error(&a, status, message),
    }
}

/// One message and its events, or what is wrong.
pub(super) async fn find(a: &Admin, id: &str) -> Result<Option<query::Found>, (StatusCode, String)> {
    let Some(store) = &a.store else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "no message store: the config has no `store:` section".into(),
        ));
    };
    store
        .find(id)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

pub async fn message(State(a): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = too_long(&a, &id) {
        return r;
    }
    match find(&a, &id).await {
        Ok(Some(found)) => answer(&a, StatusCode::OK, found.to_json()),
        Ok(None) => error(&a, StatusCode::NOT_FOUND, format!("no message {id:?} in the store")),
        Err((status, message)) => error(&a, status, message),
    }
}

#[derive(Deserialize)]
pub struct FailuresQuery {
    pub component: Option<String>,
    pub limit: Option<usize>,
}

pub async fn failures(State(a): Shared, Query(q): Query<FailuresQuery>) -> Response {
    let component = q.component.filter(|c| !c.is_empty());
    let limit = q.limit.unwrap_or(100).clamp(1, query::MAX_PAGE);
    match failures::list(&a, component, limit).await {
        Ok(list) => {
            let list: Vec<Json> = list.iter().map(|f| f.to_json()).collect();
            answer(&a, StatusCode::OK, json!({"failures": list}))
        }
        Err(e) => error(&a, failures_status(&e), e),
    }
}

pub async fn failure(State(a): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = too_long(&a, &id) {
        return r;
    }
    match failures::get(&a, &id).await {
        Ok(f) => answer(&a, StatusCode::OK, f.to_json()),
        Err(e) => error(&a, failures_status(&e), e),
    }
}

pub async fn replay(State(a): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = too_long(&a, &id) {
        return r;
    }
    match failures::replay(&a, &id).await {
        Ok(f) => answer(
            &a,
            StatusCode::OK,
            json!({"replayed": f.failure_id, "on": f.origin, "message_id": f.message_id}),
        ),
        Err(e) => error(&a, failures_status(&e), e),
    }
}

pub async fn purge(State(a): Shared, Query(q): Query<FailuresQuery>) -> Response {
    match failures::purge(&a, q.component.filter(|c| !c.is_empty())).await {
        Ok(n) => answer(&a, StatusCode::OK, json!({"purged": n})),
        Err(e) => error(&a, failures_status(&e), e),
    }
}

pub async fn config(State(a): Shared) -> Response {
    match config_edit::read(&a) {
        Ok(text) => answer(
            &a,
            StatusCode::OK,
            json!({"path": a.config_path.display().to_string(), "text": text}),
        ),
        Err(e) => error(&a, StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn config_validate(State(a): Shared, body: String) -> Response {
    match config_edit::check(&a, body).await {
        Ok(problems) => answer(
            &a,
            StatusCode::OK,
            json!({"valid": problems.is_empty(), "problems": problems}),
        ),
        Err(e) => error(&a, StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

/// Saves a new config text once it has no problem; with problems, 422 and every one of them.
pub async fn config_save(State(a): Shared, body: String) -> Response {
    match config_edit::check(&a, body.clone()).await {
        Ok(problems) if problems.is_empty() => match config_edit::save(&a, &body) {
            Ok(saved) => answer(&a, StatusCode::OK, json!({"saved": saved})),
            Err(e) => error(&a, StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Ok(problems) => answer(
            &a,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "the config has problems; nothing was saved", "problems": problems}),
        ),
        Err(e) => error(&a, StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Deserialize, Default)]
pub struct ApplyBody {
    #[serde(default)]
    full_restart: bool,
}

/// Applies the saved config (a reload): what it did, with a status for its outcome.
pub async fn config_apply(State(a): Shared, body: String) -> Response {
    let ask: ApplyBody = match body.trim() {
        "" => ApplyBody::default(),
        text => match serde_json::from_str(text) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    &a,
                    StatusCode::BAD_REQUEST,
                    format!("body: expected {{\"full_restart\": true|false}}: {e}"),
                )
            }
        },
    };
    match config_edit::apply(&a, ask.full_restart).await {
        Ok(report) => {
            use crate::reload::Outcome;
            let status = match report.outcome {
                Outcome::Applied | Outcome::Unchanged | Outcome::Restarting => StatusCode::OK,
                Outcome::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                Outcome::Refused => StatusCode::CONFLICT,
                Outcome::RolledBack | Outcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            };
            answer(&a, status, json!({"reload": report}))
        }
        Err(e) => error(&a, StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
pub struct LogsQuery {
    pub limit: Option<usize>,
    pub level: Option<String>,
}

/// The minimum level a `level=` names (none: every line).
pub(super) fn level_of(text: Option<&str>) -> Result<Option<tracing::Level>, String> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse::<tracing::Level>()
            .map(Some)
            .map_err(|_| format!("level: {t:?} is not one of error, warn, info, debug, trace")),
    }
}

pub async fn logs(State(a): Shared, Query(q): Query<LogsQuery>) -> Response {
    let level = match level_of(q.level.as_deref()) {
        Ok(l) => l,
        Err(e) => return error(&a, StatusCode::BAD_REQUEST, e),
    };
    let lines = crate::logging::recent(q.limit.unwrap_or(200).clamp(1, MAX_LOG_LINES), level);
    answer(&a, StatusCode::OK, json!({"lines": lines}))
}

pub async fn observers(State(a): Shared) -> Response {
    answer(&a, StatusCode::OK, json!({"observers": a.events.observers()}))
}

/// The process answers.
pub async fn health(State(a): Shared) -> Response {
    answer(&a, StatusCode::OK, json!({"status": "ok"}))
}

/// The bus, the state store, the message store and every required transport are up.
pub async fn ready(State(a): Shared) -> Response {
    let problems = view::not_ready(&a).await;
    if problems.is_empty() {
        answer(&a, StatusCode::OK, json!({"status": "ready"}))
    } else {
        answer(
            &a,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not ready", "problems": problems}),
        )
    }
}

pub async fn not_found(State(a): Shared, uri: axum::http::Uri) -> Response {
    let path: String = uri.path().chars().take(MAX_ID).collect();
    error(&a, StatusCode::NOT_FOUND, format!("no such page: {path}"))
}
