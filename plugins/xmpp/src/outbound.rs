//! What an application sends, as the chat stanza that carries it. A reply goes to the full JID
//! the question came from (its `xmpp_resource`, which a reply keeps in its transport_metadata),
//! and in the question's thread; anything else goes to `to_addr` as given, bare or full.

use ruvuma_plugin_api::Message;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::message::{Id, Lang, Message as Chat, Thread};

/// The transport_metadata keys an inbound message carries.
pub const ID: &str = "xmpp_id";
pub const RESOURCE: &str = "xmpp_resource";
pub const THREAD: &str = "xmpp_thread";

/// Where `msg` goes: `to_addr`, with the question's resource when it is a reply to a bare JID.
pub fn recipient(msg: &Message) -> Result<Jid, String> {
    let to = msg.to_addr();
    let jid = Jid::new(to.trim()).map_err(|e| format!("to_addr {to:?} is not a JID: {e}"))?;
    if jid.node().is_none() {
        return Err(format!("to_addr {to:?} is not a user's JID (user@domain)"));
    }
    if msg.in_reply_to.is_none() || jid.resource().is_some() {
        return Ok(jid);
    }
    let resource = msg.transport_metadata.get(RESOURCE);
    match resource.as_ref().and_then(|r| r.as_str()) {
        Some(r) if !r.is_empty() => {
            let full = format!("{jid}/{r}");
            Ok(Jid::new(&full).unwrap_or(jid))
        }
        _ => Ok(jid),
    }
}

/// The `<message type="chat">` that sends `msg`, with the message_id as its id.
pub fn stanza(msg: &Message) -> Result<Chat, String> {
    let mut chat = Chat::chat(Some(recipient(msg)?));
    chat.id = Some(Id(msg.message_id.to_string()));
    chat = chat.with_body(Lang::new(), msg.content().unwrap_or("").to_owned());
    if msg.in_reply_to.is_some() {
        if let Some(thread) = msg
            .transport_metadata
            .get(THREAD)
            .and_then(|t| t.as_str().map(str::to_owned))
        {
            chat.thread = Some(Thread {
                parent: None,
                id: thread,
            });
        }
    }
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvuma_plugin_api::serde_json::json;

    fn question() -> Message {
        let mut q = Message::new("alice@example.org", "bot@example.org", Some("hi"), "xmpp", "xmpp");
        q.transport_metadata.insert(RESOURCE, json!("phone"));
        q.transport_metadata.insert(THREAD, json!("t-1"));
        q
    }

    #[test]
    fn a_reply_goes_to_the_full_jid_and_thread_of_the_question() {
        let reply = question().reply(Some("hello"), true);
        let chat = stanza(&reply).unwrap();
        assert_eq!(chat.to.unwrap().to_string(), "alice@example.org/phone");
        assert_eq!(chat.bodies.get("").map(String::as_str), Some("hello"));
        assert_eq!(chat.thread.unwrap().id, "t-1");
        assert_eq!(chat.id.unwrap().0, reply.message_id.to_string());
    }

    #[test]
    fn a_push_goes_where_to_addr_says_and_bad_addresses_are_named() {
        let push = Message::new("bot@example.org", "bob@example.org", Some("news"), "xmpp", "xmpp");
        assert_eq!(recipient(&push).unwrap().to_string(), "bob@example.org");
        let bad = Message::new("bot@example.org", "not a jid@@", Some("x"), "xmpp", "xmpp");
        assert!(stanza(&bad).unwrap_err().contains("is not a JID"));
        let server = Message::new("bot@example.org", "example.org", Some("x"), "xmpp", "xmpp");
        assert!(stanza(&server).unwrap_err().contains("not a user's JID"));
    }
}
