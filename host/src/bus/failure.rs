//! What could not be handled: the message or event, why, and where to put it back.

use ruvuma_plugin_api::message::Payload;
use ruvuma_plugin_api::Timestamp;

/// A message or event that could not be handled, with the reason.
#[derive(Debug, Clone)]
pub struct Failure {
    pub id: String,
    /// The component that gave up on it (its name in the config).
    pub component: String,
    /// The endpoint whose `<endpoint>.failures` keeps it on RabbitMQ.
    pub endpoint: String,
    /// The routing key it came from: where a replay puts it back.
    pub origin: String,
    pub payload: Payload,
    pub reason: String,
    /// Microseconds since 1970.
    pub at: i64,
}

impl Failure {
    pub fn new(component: &str, endpoint: &str, origin: String, payload: Payload, reason: String) -> Self {
        Self {
            id: ruvuma_plugin_api::message::new_message_id().into(),
            component: component.to_owned(),
            endpoint: endpoint.to_owned(),
            origin,
            payload,
            reason,
            at: Timestamp::now().micros(),
        }
    }

    /// `<endpoint>.failures`, as Vumi names it.
    pub fn routing_key(&self) -> String {
        format!("{}.failures", self.endpoint)
    }

    /// As the store keeps it.
    pub fn dead_letter(&self) -> crate::store::failures::DeadLetter {
        crate::store::failures::DeadLetter {
            failure_id: self.id.clone(),
            component: self.component.clone(),
            origin: self.origin.clone(),
            message_id: self.payload.message_id().to_owned(),
            reason: self.reason.clone(),
            failed_at: self.at,
            body: ruvuma_plugin_api::vumi_json::encode(&self.payload),
        }
    }
}
