//! The `messaging_api` application against the real binary, the SMSC simulator and local
//! receivers: Kannel's sendsms, Jasmin's /send and Junebug's JSON API, each with its callbacks,
//! refusals and bounds. Requests are sent the way each project's documentation sends them.

use ruvuma_tests::smsc::{Action, Smsc, SmscConfig};
use ruvuma_tests::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A gateway: an smpp transceiver to `smsc`, the messaging API on a free port with user
/// `app`/`s3cret-pw` (and `other`, who may use no channel here), `extra` keys in its config.
struct Gateway {
    host: Host,
    port: u16,
    tmp: TempDir,
}

fn gateway(smsc: &Smsc, extra: &str) -> Gateway {
    let channels = "      channels: {sms: {}, spare: {}}\n";
    let extra = if extra.contains("channels:") {
        extra.to_owned()
    } else {
        format!("{channels}{extra}")
    };
    let tmp = TempDir::new("api");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let db = tmp.path().join("store.db");
    let yaml = format!(
        "store: {{sqlite: {{path: {db:?}}}}}\n\
         transports:\n  sms:\n    plugin: smpp\n    config: {{host: 127.0.0.1, port: {smsc}, system_id: test, \
         password: secret, registered_delivery: false}}\n  spare:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{spare}\"}}\n\
         applications:\n  api:\n    plugin: messaging_api\n    endpoint: api\n    config:\n      bind: \"127.0.0.1:{port}\"\n\
         \x20     default_channel: sms\n      users:\n        - {{username: app, password: s3cret-pw}}\n\
         \x20       - {{username: other, password: other-pw, channels: [spare]}}\n\
         \x20     callbacks: {{retries: 3, backoff_ms: 20, timeout_ms: 2000}}\n{extra}\
         dispatchers:\n  gw:\n    router_class: simple\n    transport_names: [sms, spare]\n    exposed_names: [api]\n\
         \x20   route_mappings: {{sms: [api], spare: [api]}}\n",
        smsc = smsc.port(),
        spare = free_port(),
    );
    let config = tmp.write("gateway.yaml", &yaml);
    let host = Host::start(
        &std::fs::read_to_string(&config).expect("config"),
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
    );
    Gateway { host, port, tmp }
}

/// GETs `url`: status, `name: value` header lines, body.
fn get(url: &str) -> (u16, String, String) {
    let answer = match ureq::get(url).timeout(Duration::from_secs(15)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let headers: Vec<String> = answer
        .headers_names()
        .iter()
        .map(|h| format!("{h}: {}", answer.header(h).unwrap_or("")))
        .collect();
    (
        answer.status(),
        headers.join("\n"),
        answer.into_string().unwrap_or_default(),
    )
}

/// Percent-encodes every byte but letters and digits.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn ok_receiver() -> (String, Received) {
    receiver(|_, _, _| (200, vec![], "ACK/Jasmin".into()))
}

fn paths(got: &Received) -> Vec<String> {
    got.lock()
        .expect("received")
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect()
}

#[test]
fn kannel_sendsms_sends_to_each_receiver_and_calls_dlr_url_for_each_kind_asked() {
    let smsc = Smsc::start(SmscConfig::default());
    let (url, got) = ok_receiver();
    let gw = gateway(&smsc, "");
    let dlr = format!("{url}/dlr?type=%d&to=%p&from=%P&id=%F&user=%n&smsc=%i&answer=%A&at=%t");
    // As Kannel's user guide writes it: several receivers separated by '+', the dlr-url encoded.
    let (status, headers, body) = get(&format!(
        "http://127.0.0.1:{}/cgi-bin/sendsms?username=app&password=s3cret-pw&from=ruvuma&to=0831234567+0839876543\
         &text=Hello+world&dlr-mask=31&dlr-url={}",
        gw.port,
        enc(&dlr)
    ));
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert!(headers.contains("pragma: no-cache"), "{headers}");
    smsc.wait_for("two submits", WAIT, |s| s.submit_count() == 2);
    eventually("an ack and a delivery report for each", WAIT, || {
        got.lock().unwrap().len() == 4
    });
    let submits = smsc.submits();
    let calls = paths(&got);
    for s in &submits {
        assert_eq!(s.source_addr, "ruvuma");
        assert_eq!(s.short_message, b"Hello world");
        assert_eq!(s.registered_delivery & 1, 1, "a receipt is asked for");
        let id = s.message_id.clone().expect("answered");
        let to = &s.destination_addr;
        let mine: Vec<&String> = calls.iter().filter(|c| c.contains(&format!("to={to}&"))).collect();
        assert_eq!(mine.len(), 2, "{calls:?}");
        assert!(
            mine[0].starts_with(&format!(
                "/dlr?type=8&to={to}&from=ruvuma&id={id}&user=app&smsc=sms&answer=ACK%2F&at="
            )),
            "{mine:?}"
        );
        assert!(
            mine[1].starts_with(&format!(
                "/dlr?type=1&to={to}&from=ruvuma&id={id}&user=app&smsc=sms&answer=id%3A"
            )),
            "{mine:?}"
        );
        assert!(mine[1].contains("stat%3ADELIVRD"), "{mine:?}");
    }
    drop(gw);
}

#[test]
fn kannel_dlr_mask_picks_the_reports_and_a_refusal_is_reported_as_16() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([
        Action::ReceiptStat("UNDELIV".into()),
        Action::Status(0x0B),
        Action::Status(0x0B),
        Action::Ok,
    ]);
    let (url, got) = ok_receiver();
    let gw = gateway(&smsc, "");
    let send = |mask: u32, to: &str| {
        let dlr = enc(&format!("{url}/{to}?d=%d&a=%A"));
        let (status, _, body) = get(&format!(
            "http://127.0.0.1:{}/cgi-bin/sendsms?user=app&pass=s3cret-pw&from=ruvuma&to={to}&text=x&dlr-mask={mask}&dlr-url={dlr}",
            gw.port
        ));
        assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
        smsc.wait_for("the submit", WAIT, |s| {
            s.submits().iter().any(|x| x.destination_addr == to)
        });
    };
    send(2, "100"); // undelivered: reported as 2, its ack (8) not asked for
    send(2, "200"); // refused by the SMSC: reported as 16, as Kannel does for mask 2
    send(1, "300"); // refused, but only delivery asked for: nothing
    send(4, "400"); // delivered, only buffered asked for: nothing
    eventually("two reports", WAIT, || got.lock().unwrap().len() >= 2);
    std::thread::sleep(Duration::from_millis(700));
    let mut calls = paths(&got);
    calls.sort();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1], "/200?d=16&a=NACK%2FESME_RINVDSTADR");
    assert!(
        calls[0].starts_with("/100?d=2&a=id%3A") && calls[0].contains("stat%3AUNDELIV"),
        "{calls:?}"
    );
    drop(gw);
}

#[test]
fn kannel_refusals_use_kannels_words_and_send_nothing() {
    let smsc = Smsc::start(SmscConfig::default());
    let gw = gateway(&smsc, "");
    let base = format!("http://127.0.0.1:{}/cgi-bin/sendsms", gw.port);
    let ok = "username=app&password=s3cret-pw&from=ruvuma";
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("{base}?username=app&password=wrong-pw&to=1&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        (format!("{base}?to=1&text=x"), 403, "Authorization failed for sendsms"),
        (format!("{base}?{ok}&text=x"), 400, "Missing receiver number, rejected"),
        (
            format!("{base}?{ok}&to=&text=x"),
            400,
            "Empty receiver number not allowed, rejected",
        ),
        (
            format!("{base}?{ok}&to=12ab&text=x"),
            400,
            "Number(s) has/have been denied by white- and/or black-lists.",
        ),
        (
            format!("{base}?username=app&password=s3cret-pw&to=1&text=x"),
            400,
            "Sender missing and no global set, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&dlr-mask=64"),
            400,
            "DLR-Mask field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&dlr-url=ftp://h/"),
            400,
            "DLR-URL field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&mclass=4"),
            400,
            "MClass field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&coding=3"),
            400,
            "Coding field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&priority=9"),
            400,
            "Priority field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&validity=-5"),
            400,
            "Validity field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&udh=%05%00"),
            400,
            "UDH field misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=na%C3%AFve"),
            400,
            "Charset or body misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=%FF%FE&charset=utf-8"),
            400,
            "Charset or body misformed, rejected",
        ),
        (
            format!("{base}?{ok}&to=1&text=x&smsc=nowhere"),
            403,
            "Not routable. Do not try again.",
        ),
        (
            format!("{base}?username=other&password=other-pw&from=a&to=1&text=x&smsc=sms"),
            403,
            "Not routable. Do not try again.",
        ),
        (
            format!(
                "{base}?{ok}&to={}&text=x",
                vec!["1"; 101]
                    .iter()
                    .enumerate()
                    .map(|(i, _)| i.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            ),
            400,
            "Too many receivers (101; at most 100), rejected",
        ),
    ];
    for (url, status, body) in &cases {
        let (got_status, _, got_body) = get(url);
        assert_eq!((got_status, got_body.as_str()), (*status, *body), "{url}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smsc.submit_count(), 0, "nothing is sent for a refused request");
    let log = gw.host.log();
    assert!(
        log.contains("sendsms: authorization failed for user \\\"app\\\"")
            || log.contains("authorization failed for user"),
        "{log}"
    );
    assert!(
        !log.contains("wrong-pw") && !log.contains("s3cret-pw"),
        "no password in the log:\n{log}"
    );
}

#[test]
fn kannel_post_with_x_kannel_headers_carries_coding_udh_and_class() {
    let smsc = Smsc::start(SmscConfig::default());
    let gw = gateway(&smsc, "");
    let url = format!("http://127.0.0.1:{}/cgi-bin/sendsms", gw.port);
    let post = |content_type: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut r = ureq::post(&url).set("content-type", content_type);
        for (k, v) in headers {
            r = r.set(k, v);
        }
        match r.send_bytes(body) {
            Ok(a) => (a.status(), a.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(c, a)) => (c, a.into_string().unwrap_or_default()),
            Err(e) => panic!("{e}"),
        }
    };
    let auth = [
        ("X-Kannel-Username", "app"),
        ("X-Kannel-Password", "s3cret-pw"),
        ("X-Kannel-From", "ruvuma"),
    ];
    // UCS-2 text given as UTF-8, class 1 (to the handset's display... as Kannel numbers them).
    let mut h = auth.to_vec();
    h.extend([
        ("X-Kannel-To", "111"),
        ("X-Kannel-Coding", "2"),
        ("X-Kannel-MClass", "1"),
    ]);
    assert_eq!(
        post("text/plain; charset=utf-8", &h, "naïve ☺".as_bytes()),
        (202, "0: Accepted for delivery".into())
    );
    // Binary with a UDH (a WAP push port header), as octets.
    let mut h = auth.to_vec();
    h.extend([("X-Kannel-To", "222"), ("X-Kannel-UDH", "0605040b8423f0")]);
    assert_eq!(
        post("application/octet-stream", &h, &[1, 2, 3, 255]),
        (202, "0: Accepted for delivery".into())
    );
    let mut h = auth.to_vec();
    h.push(("X-Kannel-To", "333"));
    assert_eq!(
        post("multipart/form-data", &h, b"x"),
        (400, "Invalid content-type".into())
    );
    assert_eq!(
        post("text/plain", &auth, b"x"),
        (400, "Missing receiver(s) number(s), rejected".into())
    );
    smsc.wait_for("two submits", WAIT, |s| s.submit_count() == 2);
    let s = smsc.submits();
    let ucs2 = s.iter().find(|x| x.destination_addr == "111").expect("111");
    assert_eq!(ucs2.data_coding, 0x19, "UCS-2 with message class 1");
    let want: Vec<u8> = "naïve ☺".encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!(ucs2.short_message, want);
    let bin = s.iter().find(|x| x.destination_addr == "222").expect("222");
    assert_eq!(bin.data_coding, 0x04);
    assert_eq!(bin.esm_class & 0x40, 0x40, "UDHI set");
    assert_eq!(bin.short_message, [6, 5, 4, 0x0b, 0x84, 0x23, 0xf0, 1, 2, 3, 255]);
    drop(gw);
}

#[test]
fn jasmin_send_answers_as_jasmin_and_throws_dlrs_until_acknowledged() {
    let smsc = Smsc::start(SmscConfig::default());
    // The receiver acknowledges the second try of each call only.
    let (url, got) = receiver(|n, _, _| {
        let body = if n % 2 == 0 { "not yet" } else { "ACK/Jasmin" };
        (200, vec![], body.into())
    });
    let gw = gateway(&smsc, "");
    let base = format!("http://127.0.0.1:{}", gw.port);
    assert_eq!(get(&format!("{base}/ping")).2, "Jasmin/PONG");
    // As Jasmin's Python example sends it: urlencode of a dict, with dlr-level 3 by GET.
    let (status, headers, body) = get(&format!(
        "{base}/send?username=app&password=s3cret-pw&to=%2B336222172&content=Hello&from=Jasmin+GW\
         &dlr-url={}&dlr-level=3&dlr-method=GET",
        enc(&format!("{url}/ack"))
    ));
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains("content-type: text/plain"), "{headers}");
    let id = body
        .strip_prefix("Success \"")
        .and_then(|b| b.strip_suffix('"'))
        .expect("Success \"<id>\"")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID with dashes: {id}");
    eventually("two callbacks, each tried twice", WAIT, || {
        got.lock().unwrap().len() >= 4
    });
    let calls = paths(&got);
    let smsc_id = smsc.submits()[0].message_id.clone().expect("answered");
    assert_eq!(calls[0], calls[1], "retried until ACK/Jasmin");
    assert_eq!(
        calls[0],
        format!("/ack?id={id}&message_status=ESME_ROK&level=1&connector=sms")
    );
    assert!(
        calls[2].starts_with(&format!(
            "/ack?id={id}&message_status=DELIVRD&level=2&connector={smsc_id}&id_smsc="
        )),
        "{calls:?}"
    );
    assert_eq!(smsc.submits()[0].source_addr, "Jasmin GW");
    let refusals = [
        (
            "to=1&content=x",
            400,
            "Error \"Mandatory argument [username] is not found.\"",
        ),
        (
            "username=app&password=s3cret-pw&content=x",
            400,
            "Error \"Mandatory argument [to] is not found.\"",
        ),
        (
            "username=app&password=s3cret-pw&to=1",
            400,
            "Error \"content or hex-content not present.\"",
        ),
        (
            "username=app&password=s3cret-pw&to=1&content=x&dlr-level=4",
            400,
            "Error \"Argument [dlr-level] has an invalid value: [4].\"",
        ),
        (
            "username=app&password=s3cret-pw&to=1&content=x&bogus=1",
            400,
            "Error \"Argument [bogus] is unknown.\"",
        ),
        (
            "username=app&password=nope&to=1&content=x",
            403,
            "Error \"Authentication failure for username:app\"",
        ),
        (
            "username=app&password=s3cret-pw&to=1&content=na%C3%AFve",
            400,
            "Error \"Content cannot be encoded in coding 0: character 'ï' (U+00EF).\"",
        ),
    ];
    for (query, status, body) in refusals {
        let (s, _, b) = get(&format!("{base}/send?{query}"));
        assert_eq!((s, b.as_str()), (status, body), "{query}");
    }
    assert_eq!(smsc.submit_count(), 1, "refused requests send nothing");
}

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
fn callbacks_are_retried_then_kept_as_failures_and_a_slow_receiver_holds_up_no_other() {
    let smsc = Smsc::start(SmscConfig::default());
    let (failing, failed_calls) = receiver(|_, _, _| (503, vec![], "down".into()));
    let (slow, _) = receiver(|_, _, _| {
        std::thread::sleep(Duration::from_secs(3));
        (200, vec![], "ok".into())
    });
    let (fast, fast_calls) = ok_receiver();
    let gw = gateway(&smsc, "");
    let send = |to: &str, url: &str| {
        let dlr = enc(&format!("{url}/{to}?d=%d"));
        let (status, _, _) = get(&format!(
            "http://127.0.0.1:{}/cgi-bin/sendsms?username=app&password=s3cret-pw&from=a&to={to}&text=x&dlr-mask=1&dlr-url={dlr}",
            gw.port
        ));
        assert_eq!(status, 202);
    };
    for n in 0..5 {
        send(&format!("90{n}"), &slow);
    }
    send("100", &failing);
    send("200", &fast);
    eventually("the fast receiver's report", Duration::from_secs(2), || {
        fast_calls.lock().unwrap().len() == 1
    });
    let mut host = gw.host;
    host.wait_for_log("api.failures", WAIT);
    assert_eq!(failed_calls.lock().unwrap().len(), 4, "the first try and 3 retries");
    let log = host.log();
    assert!(
        log.contains("dlr-url") && log.contains("not delivered: HTTP 503"),
        "{log}"
    );
    drop(gw.tmp);
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
