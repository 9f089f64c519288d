//! What a component gets from the host: its names, publishing, the state store, and a way to
//! spawn tasks that stay tagged with the component.

use crate::abi::{Flow, Kind, ServicesBox};
use crate::message::{Event, Message, Payload};
use crate::runtime::{runtime, Guarded};
use crate::scope::Scope;
use abi_stable::std_types::{ROption, RString};
use std::{future::Future, sync::Arc, time::Duration};

/// A component's context: its name, endpoint and kind, and the host's services to it
/// (publishing, state, status, tagged tasks). Cheap to clone.
#[derive(Clone)]
pub struct Context {
    scope: Arc<Scope>,
    endpoint: Arc<str>,
    kind: Kind,
}

impl Context {
    pub(crate) fn new(kind: Kind, name: &str, endpoint: &str, services: ServicesBox) -> Self {
        Self {
            scope: Arc::new(Scope {
                name: name.to_owned(),
                services,
            }),
            endpoint: endpoint.into(),
            kind,
        }
    }

    pub(crate) fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }

    /// The name the config gives this component.
    pub fn name(&self) -> &str {
        &self.scope.name
    }

    /// The endpoint this component publishes and consumes on.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Publishes on `<endpoint>.<flow>`; waits while the queue is full.
    pub async fn publish(&self, flow: Flow, payload: impl Into<Payload>) -> Result<(), String> {
        self.scope
            .services
            .publish(flow, payload.into())
            .await
            .into_result()
            .map_err(String::from)
    }

    /// A transport hands a message from the outside world to the applications.
    pub async fn publish_inbound(&self, msg: Message) -> Result<(), String> {
        self.publish(Flow::Inbound, msg).await
    }

    /// A transport reports what happened to a message it was given.
    pub async fn publish_event(&self, event: Event) -> Result<(), String> {
        self.publish(Flow::Event, event).await
    }

    /// An application sends a message out.
    pub async fn publish_outbound(&self, msg: Message) -> Result<(), String> {
        self.publish(Flow::Outbound, msg).await
    }

    /// An application answers `msg`; `continue_session == false` closes the session.
    pub async fn reply_to(&self, msg: &Message, content: Option<&str>, continue_session: bool) -> Result<(), String> {
        self.publish_outbound(msg.reply(content, continue_session)).await
    }

    /// Reports how the component is doing on `<endpoint>.status` (Vumi's transport status).
    pub async fn publish_status(&self, status: &crate::status::Status) -> Result<(), String> {
        let json = status.to_vumi_json(self.name());
        self.scope
            .services
            .publish_status(RString::from(json))
            .await
            .into_result()
            .map_err(String::from)
    }

    /// A message and its events from the host's message store (`store:`), as the JSON that
    /// `ruvuma messages get --json` prints; `Ok(None)` for an id it does not have (yet: the
    /// store is written in batches, a fraction of a second behind the traffic).
    pub async fn find_message(&self, id: &str) -> Result<Option<serde_json::Value>, String> {
        match self.scope.services.store_find(id.into()).await.into_result() {
            Ok(ROption::RSome(text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("the store answered with text that is not JSON: {e}")),
            Ok(ROption::RNone) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Counts of what the message store holds for `endpoint` since `since_micros`
    /// (microseconds since 1970; 0 for everything): see `ServicesFfi::store_counts`.
    pub async fn store_counts(&self, endpoint: &str, since_micros: i64) -> Result<serde_json::Value, String> {
        let text = self
            .scope
            .services
            .store_counts(endpoint.into(), since_micros)
            .await
            .into_result()
            .map_err(String::from)?;
        serde_json::from_str(&text).map_err(|e| format!("the store answered with text that is not JSON: {e}"))
    }

    /// Takes a value of one of this component's own metrics (`sum`, `avg`, `min`, `max` or
    /// `last`), shown on the host's `/metrics` as `ruvuma_app_metric`.
    pub fn fire_metric(&self, name: &str, agg: &str, value: f64) -> Result<(), String> {
        self.scope
            .services
            .fire_metric(name.into(), agg.into(), value)
            .into_result()
            .map_err(String::from)
    }

    /// Keeps a message or event this component could not deal with on `<name>.failures`, with
    /// the reason (an operator lists and replays them there); the host logs it.
    pub fn keep_failure(&self, payload: impl Into<Payload>, reason: &str) {
        self.scope.services.keep_failure(payload.into(), reason.into());
    }

    /// The state store, with keys private to this component.
    pub fn state(&self) -> State<'_> {
        State {
            services: &self.scope.services,
        }
    }

    /// Spawns a task on this library's runtime; its logs stay tagged with this component and a
    /// panic in it is logged instead of tearing anything down.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        runtime().spawn(Guarded::new(self.scope.clone(), fut, |_| ()))
    }
}

/// Key/value state with lifetimes, shared by every instance of the component (and, on a shared
/// store, by every process).
pub struct State<'a> {
    services: &'a ServicesBox,
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl State<'_> {
    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        match self.services.state_get(key.into()).await.into_result() {
            Ok(ROption::RSome(v)) => Ok(Some(v.into())),
            Ok(ROption::RNone) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), String> {
        self.services
            .state_set(key.into(), RString::from(value), ttl_ms(ttl))
            .await
            .into_result()
            .map_err(String::from)
    }

    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, String> {
        self.services
            .state_incr(key.into(), by, ttl_ms(ttl))
            .await
            .into_result()
            .map_err(String::from)
    }

    pub async fn delete(&self, key: &str) -> Result<bool, String> {
        self.services
            .state_delete(key.into())
            .await
            .into_result()
            .map_err(String::from)
    }
}
