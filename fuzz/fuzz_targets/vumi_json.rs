//! The Vumi JSON decoder: what arrives over AMQP and HTTP from other workers.
//!
//! Any input: the decoders return `Ok` or `Err`, never panic. Whatever decodes encodes to JSON
//! that decodes to the same payload, and encoding is then stable (decode → encode → decode is a
//! fixed point after the first decode, which fills in defaults such as a fresh `message_id`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruvuma_plugin_api::message::Payload;
use ruvuma_plugin_api::vumi_json::{
    decode_event, decode_message, decode_payload, encode, event_to_value, message_to_value,
};

fuzz_target!(|data: &[u8]| {
    let payload = decode_payload(data);
    let message = decode_message(data);
    let event = decode_event(data);

    // decode_payload picks one of the two typed decoders, so that one takes the input too.
    match &payload {
        Ok(Payload::Message(_)) => assert!(message.is_ok(), "a payload message that decode_message refuses"),
        Ok(Payload::Event(_)) => assert!(event.is_ok(), "a payload event that decode_event refuses"),
        Err(_) => {}
    }
    if let Ok(m) = &message {
        round_trip(&Payload::from(m.clone()));
        let again = decode_message(message_to_value(m).to_string().as_bytes()).expect("an encoded message decodes");
        assert_eq!(&again, m, "message changed in a round trip");
    }
    if let Ok(e) = &event {
        round_trip(&Payload::from(e.clone()));
        let again = decode_event(event_to_value(e).to_string().as_bytes()).expect("an encoded event decodes");
        assert_eq!(&again, e, "event changed in a round trip");
    }
    if let Ok(p) = &payload {
        round_trip(p);
    }
});

fn round_trip(p: &Payload) {
    let text = encode(p);
    let again =
        decode_payload(text.as_bytes()).unwrap_or_else(|e| panic!("encoded payload does not decode: {e}\n{text}"));
    assert_eq!(&again, p, "payload changed in a round trip through\n{text}");
    assert_eq!(encode(&again), text, "encoding is not stable");
}
