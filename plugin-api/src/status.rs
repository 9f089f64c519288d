//! Component status reports (Vumi's `TransportStatus`), published on `<endpoint>.status`.

use serde_json::{Map, Value};

/// How well a component is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLevel {
    Ok,
    Degraded,
    Down,
}

impl StatusLevel {
    pub fn as_vumi(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// One status report: which part of the component (`component`), its level, a short machine
/// name for what happened (`kind`, Vumi's `type`), a sentence for people and any details.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub component: String,
    pub level: StatusLevel,
    pub kind: String,
    pub message: String,
    pub details: Map<String, Value>,
}

impl Status {
    pub fn new(component: &str, level: StatusLevel, kind: &str, message: impl Into<String>) -> Self {
        Self {
            component: component.to_owned(),
            level,
            kind: kind.to_owned(),
            message: message.into(),
            details: Map::new(),
        }
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The Vumi JSON form, as published on the bus.
    pub fn to_vumi_json(&self, transport_name: &str) -> String {
        serde_json::json!({
            "message_version": "20110921",
            "message_type": "status",
            "message_id": crate::message::new_message_id().as_str(),
            "timestamp": crate::timestamp::Timestamp::now().to_string(),
            "transport_name": transport_name,
            "component": self.component,
            "status": self.level.as_vumi(),
            "type": self.kind,
            "message": self.message,
            "details": self.details,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vumi_fields() {
        let s = Status::new("smpp", StatusLevel::Down, "connection_lost", "lost").detail("attempt", 3);
        let v: Value = serde_json::from_str(&s.to_vumi_json("sms")).unwrap();
        assert_eq!(v["message_type"], "status");
        assert_eq!(v["status"], "down");
        assert_eq!(v["type"], "connection_lost");
        assert_eq!(v["component"], "smpp");
        assert_eq!(v["transport_name"], "sms");
        assert_eq!(v["details"]["attempt"], 3);
    }
}
