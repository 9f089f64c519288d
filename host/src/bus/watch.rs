//! What a publisher or consumer counts for its component, and the per-message events it
//! tells the observers of.

use crate::events::{Events, HostEvent, Meter, Tally};
use ruvuma_plugin_api::message::Payload;
use std::sync::Arc;

/// What a publisher or consumer counts, and for whom.
#[derive(Clone)]
pub(super) struct Watch {
    pub meter: Arc<Meter>,
    pub tally: Tally,
    /// Told of each message's outcome, when an observer wants it.
    pub events: Option<Arc<Events>>,
}

impl Watch {
    #[inline]
    pub fn see(&self, payload: &Payload) {
        self.meter.tally(self.tally, payload);
        if let (Some(events), Payload::Event(e)) = (&self.events, payload) {
            let name = match e.kind {
                ruvuma_plugin_api::EventKind::Nack { .. } => "message_failed",
                _ => "message_finished",
            };
            events.emit_with(name, || finished(e, &self.meter.name));
        }
    }
}

/// The host event for a transport's event about one of its messages.
fn finished(e: &ruvuma_plugin_api::Event, transport: &str) -> HostEvent {
    use ruvuma_plugin_api::EventKind;
    let message_id = e.user_message_id.to_string();
    let transport = transport.to_owned();
    let outcome = match &e.kind {
        EventKind::Ack { .. } => "acked".to_owned(),
        EventKind::Nack { nack_reason } => {
            return HostEvent::MessageFailed {
                message_id,
                transport,
                reason: nack_reason.to_string(),
            }
        }
        EventKind::DeliveryReport { delivery_status } => delivery_status.as_vumi().to_owned(),
    };
    HostEvent::MessageFinished {
        message_id,
        transport,
        outcome,
    }
}
