//! Kannel's sendsms: sends, delivery reports by mask with the escapes, refusals, POST.

use super::*;
use ruvuma_tests::smsc::{Action, Smsc, SmscConfig};
use ruvuma_tests::*;
use std::time::Duration;

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
fn the_user_guides_example_request_is_accepted_as_written() {
    let smsc = Smsc::start(SmscConfig::default());
    let gw = gateway(&smsc, "");
    // Kannel's user guide, word for word but for the credentials: no sender, so the configured
    // default_sender (Kannel's global-sender) is used.
    let (status, _, body) = get(&format!(
        "http://127.0.0.1:{}/cgi-bin/sendsms?username=app&password=s3cret-pw&to=0123456&text=Hello+world",
        gw.port
    ));
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    smsc.wait_for("the submit", WAIT, |s| s.submit_count() == 1);
    let s = &smsc.submits()[0];
    assert_eq!(
        (
            s.source_addr.as_str(),
            s.destination_addr.as_str(),
            &s.short_message[..]
        ),
        ("ruvuma", "0123456", &b"Hello world"[..])
    );
}

/// config/sendsms.yaml as committed (its port and store file moved to free ones): a Kannel client
/// sends through it and gets its delivery report, and an inbound message reaches MO_URL.
#[test]
fn the_sendsms_config_runs_as_it_is() {
    let b = built();
    let text = std::fs::read_to_string(b.root.join("config/sendsms.yaml")).expect("sendsms config");
    assert!(text.contains("127.0.0.1:13013") && text.contains("path: data/sendsms.db"));
    let smsc = Smsc::start(SmscConfig::default());
    let (url, got) = ok_receiver();
    let port = free_port();
    let tmp = TempDir::new("sendsms");
    let store = tmp.path().join("data/sendsms.db");
    let text = text
        .replace("127.0.0.1:13013", &format!("127.0.0.1:{port}"))
        .replace("data/sendsms.db", store.to_str().expect("utf-8 path"));
    let smsc_port = smsc.port().to_string();
    let mo_url = format!("{url}/mo");
    let env = [
        ("SMSC_PORT", smsc_port.as_str()),
        ("SMSC_SYSTEM_ID", "test"),
        ("SMSC_PASSWORD", "secret"),
        ("SENDSMS_USER", "kannel-client"),
        ("SENDSMS_PASSWORD", "its-pw"),
        ("MO_URL", mo_url.as_str()),
    ];
    let _host = Host::start_with_env(&text, &[], &env);
    smsc.wait_for("the bind", WAIT, |s| s.bound_sessions() == 1);
    let dlr = enc(&format!("{url}/dlr?s=%d&id=%F"));
    let (status, _, body) = get(&format!(
        "http://127.0.0.1:{port}/cgi-bin/sendsms?username=kannel-client&password=its-pw&to=0831234567&text=Hi&dlr-mask=1&dlr-url={dlr}"
    ));
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    smsc.wait_for("the submit", WAIT, |s| s.submit_count() == 1);
    let id = smsc.submits()[0].message_id.clone().expect("answered");
    assert_eq!(smsc.submits()[0].source_addr, "ruvuma", "the default source address");
    eventually("the delivery report", WAIT, || {
        paths(&got).contains(&format!("/dlr?s=1&id={id}"))
    });
    smsc.send_deliver_sm("0831234567", "ruvuma", 0, 0, b"Thanks", &[])
        .expect("deliver_sm");
    eventually("the inbound message at MO_URL", WAIT, || {
        paths(&got).iter().any(|p| p == "/mo")
    });
}
