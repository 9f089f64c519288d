//! Junebug's JSON API: sends, events, status from the store, inbound messages and replies.

use super::*;
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;

#[test]
fn junebug_sends_reports_events_and_answers_status_from_the_store() {
    let smsc = Smsc::start(SmscConfig::default());
    let (url, got) = ok_receiver();
    let gw = gateway(&smsc, "");
    let base = format!("http://127.0.0.1:{}/channels/sms/messages/", gw.port);
    let basic = "Basic YXBwOnMzY3JldC1wdw=="; // app:s3cret-pw
    let body = format!(
        r#"{{"to": "+27831234567", "from": "ruvuma", "content": "Hello", "event_url": "{url}/events", "event_auth_token": "tok-123"}}"#
    );
    let (status, answer) = http_post(&base, "application/json", &body, Some(basic));
    assert_eq!(status, 201, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert!(answer.starts_with(r#"{"status": 201, "code": "Created", "description": "message submitted", "result": {"channel_data": {}, "from": "ruvuma", "channel_id": "sms", "timestamp": ""#), "{answer}");
    let id = v["result"]["message_id"].as_str().expect("message_id").to_owned();
    eventually("submitted and delivery_succeeded", WAIT, || {
        got.lock().unwrap().len() == 2
    });
    let calls = got.lock().unwrap().clone();
    let kinds: Vec<String> = calls
        .iter()
        .map(|(_, _, b)| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["submitted", "delivery_succeeded"]);
    assert!(
        calls[0].1.to_ascii_lowercase().contains("authorization: token tok-123"),
        "{}",
        calls[0].1
    );
    assert!(calls[1].2.contains(&format!(r#""message_id": "{id}""#)));
    let status_url = format!("{base}{id}");
    let lookup = || get_with(&status_url, basic).2;
    eventually("the store has both events", WAIT, || {
        lookup().contains("\"last_event_type\": \"delivery_succeeded\"")
    });
    let text = lookup();
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["result"]["id"], id.as_str());
    assert_eq!(v["result"]["events"].as_array().map(Vec::len), Some(2), "{text}");
    let (status, _, unknown) = get_with(&format!("{base}0123"), basic);
    assert_eq!(status, 404, "{unknown}");
    // Refusals in Junebug's envelope.
    let (s, a) = http_post(&base, "application/json", r#"{"to": 5, "extra": 1}"#, Some(basic));
    assert_eq!(s, 400);
    assert!(
        a.contains(r#""description": "api usage error""#)
            && a.contains("'content' is a required property")
            && a.contains("5 is not of type 'string'")
            && a.contains("(u'extra' was unexpected)"),
        "{a}"
    );
    let (s, a) = http_post(&base, "application/json", r#"{"content": "x"}"#, Some(basic));
    assert_eq!(
        (s, a.contains(r#"Either \"to\" or \"reply_to\" must be specified"#)),
        (400, true),
        "{a}"
    );
    let (s, a) = http_post(&base, "application/json", "{", Some(basic));
    assert_eq!((s, a.contains("json decode error")), (400, true), "{a}");
    let (s, _) = http_post(&base, "application/json", r#"{"to": "1", "content": "x"}"#, None);
    assert_eq!(s, 401);
    let (s, _) = http_post(
        &base,
        "application/json",
        r#"{"to": "1", "content": "x"}"#,
        Some("Basic b3RoZXI6b3RoZXItcHc="),
    );
    assert_eq!(s, 403, "user other may not use channel sms");
    let nowhere = format!("http://127.0.0.1:{}/channels/nowhere/messages/", gw.port);
    let (s, a) = http_post(
        &nowhere,
        "application/json",
        r#"{"to": "1", "content": "x"}"#,
        Some(basic),
    );
    assert_eq!((s, a.contains("channel not found")), (404, true), "{a}");
    assert_eq!(smsc.submit_count(), 1, "refused requests send nothing");
    assert!(!gw.host.log().contains("tok-123"), "no token in the log");
}

fn get_with(url: &str, authorization: &str) -> (u16, String, String) {
    match ureq::get(url).set("authorization", authorization).call() {
        Ok(r) => (r.status(), String::new(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, String::new(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn junebug_inbound_goes_to_mo_url_and_reply_to_answers_it_closing_the_session() {
    let smsc = Smsc::start(SmscConfig::default());
    let (url, got) = ok_receiver();
    let extra = format!("      channels: {{sms: {{mo_url: \"{url}/mo\", mo_auth_token: mo-tok}}, spare: {{}}}}\n");
    let gw = gateway(&smsc, &extra);
    smsc.wait_for("the bind", WAIT, |s| s.bound_sessions() == 1);
    smsc.send_deliver_sm("27830000001", "*120#", 0, 0, b"menu", &[])
        .expect("deliver_sm");
    eventually("the inbound message at mo_url", WAIT, || {
        !got.lock().unwrap().is_empty()
    });
    let (path, headers, body) = got.lock().unwrap()[0].clone();
    assert_eq!(path, "/mo");
    assert!(
        headers.to_ascii_lowercase().contains("authorization: token mo-tok"),
        "{headers}"
    );
    let mo: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (mo["from"].as_str(), mo["to"].as_str(), mo["content"].as_str()),
        (Some("27830000001"), Some("*120#"), Some("menu"))
    );
    assert!(body.starts_with(r#"{"channel_data": "#), "{body}");
    let id = mo["message_id"].as_str().expect("message_id");
    let base = format!("http://127.0.0.1:{}/channels/sms/messages", gw.port);
    let reply =
        format!(r#"{{"reply_to": "{id}", "content": "Goodbye", "channel_data": {{"continue_session": false}}}}"#);
    let (s, a) = http_post(&base, "application/json", &reply, Some("Basic YXBwOnMzY3JldC1wdw=="));
    assert_eq!(s, 201, "{a}");
    let v: serde_json::Value = serde_json::from_str(&a).expect("JSON");
    assert_eq!(v["result"]["reply_to"], id);
    assert_eq!(v["result"]["to"], "27830000001");
    assert_eq!(v["result"]["channel_data"]["session_event"], "close");
    smsc.wait_for("the reply", WAIT, |s| s.submit_count() == 1);
    let sent = &smsc.submits()[0];
    assert_eq!(
        (
            sent.destination_addr.as_str(),
            sent.source_addr.as_str(),
            &sent.short_message[..]
        ),
        ("27830000001", "*120#", &b"Goodbye"[..])
    );
    let missing = r#"{"reply_to": "0000", "content": "x"}"#;
    let (s, a) = http_post(&base, "application/json", missing, Some("Basic YXBwOnMzY3JldC1wdw=="));
    assert_eq!(s, 400);
    assert!(a.contains("Inbound message with id 0000 not found"), "{a}");
}

#[test]
fn junebug_status_without_a_store_is_a_503_naming_it_and_bad_session_events_are_refused() {
    let tmp = TempDir::new("api-nostore");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let yaml = format!(
        "transports:\n  sms:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{}\"}}\n\
         applications:\n  api:\n    plugin: messaging_api\n    endpoint: sms\n    config:\n      bind: \"127.0.0.1:{port}\"\n\
         \x20     dialects: {{kannel: false, jasmin: false}}\n      channels: {{sms: {{}}}}\n",
        free_port()
    );
    let host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().expect("utf-8 path")]);
    let (status, _, body) = get(&format!("http://127.0.0.1:{port}/channels/sms/messages/abc"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store:"), "the answer names the missing store: {body}");
    let url = format!("http://127.0.0.1:{port}/channels/sms/messages/");
    let (s, a) = http_post(
        &url,
        "application/json",
        r#"{"to": "1", "content": "x", "channel_data": {"session_event": "foo"}}"#,
        None,
    );
    assert_eq!(s, 400, "{a}");
    assert!(a.contains("Invalid session_event u'foo'"), "{a}");
    // The kannel and jasmin dialects are off: their paths are unknown here.
    assert_eq!(get(&format!("http://127.0.0.1:{port}/cgi-bin/sendsms?user=a")).0, 404);
    assert_eq!(get(&format!("http://127.0.0.1:{port}/ping")).0, 404);
    drop(host);
}

#[test]
fn a_junebug_reply_to_a_ussd_question_closes_the_session() {
    let (url, got) = ok_receiver();
    let tmp = TempDir::new("api-ussd");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let (api_port, ussd_port) = (free_port(), free_port());
    let yaml = format!(
        "transports:\n  ussd:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{ussd_port}\", mode: sync, transport_type: ussd}}\n\
         applications:\n  api:\n    plugin: messaging_api\n    endpoint: ussd\n    config:\n      bind: \"127.0.0.1:{api_port}\"\n\
         \x20     dialects: {{kannel: false, jasmin: false}}\n      channels: {{ussd: {{mo_url: \"{url}/mo\"}}}}\n"
    );
    let _host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().expect("utf-8 path")]);
    // The handset's side: the aggregator's request waits for the menu's answer.
    let dial = std::thread::spawn(move || {
        http_post(
            &format!("http://127.0.0.1:{ussd_port}/"),
            "application/json",
            r#"{"from_addr": "27830000001", "to_addr": "*120#", "content": "", "session_event": "new"}"#,
            None,
        )
    });
    eventually("the question at mo_url", WAIT, || !got.lock().unwrap().is_empty());
    let mo: serde_json::Value = serde_json::from_str(&got.lock().unwrap()[0].2).expect("JSON");
    assert_eq!(mo["channel_data"]["session_event"], "new");
    let reply = format!(
        r#"{{"reply_to": "{}", "content": "Goodbye", "channel_data": {{"continue_session": false}}}}"#,
        mo["message_id"].as_str().expect("id")
    );
    let (s, a) = http_post(
        &format!("http://127.0.0.1:{api_port}/channels/ussd/messages/"),
        "application/json",
        &reply,
        None,
    );
    assert_eq!(s, 201, "{a}");
    let (status, answer) = dial.join().expect("the dial");
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["content"], "Goodbye");
    assert_eq!(answer["continue_session"], false, "the session is closed: {answer}");
}
