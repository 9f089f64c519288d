//! Callbacks that fail or are slow, users over their rate, bodies over the limit.

use super::*;
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;
use std::time::Duration;

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
fn a_user_over_its_rate_and_a_body_over_the_limit_are_refused_in_each_dialect() {
    let smsc = Smsc::start(SmscConfig::default());
    let gw = gateway(&smsc, "");
    let base = format!("http://127.0.0.1:{}", gw.port);
    // Two a second for user "slow": the third in the same instant is refused, not queued.
    let kannel = format!("{base}/cgi-bin/sendsms?username=slow&password=slow-pw&from=a&to=1&text=x");
    let answers: Vec<(u16, String)> = (0..3).map(|_| get(&kannel)).map(|(s, _, b)| (s, b)).collect();
    assert_eq!(
        answers[2],
        (503, "Temporal failure, try again later.".to_owned()),
        "{answers:?}"
    );
    let jasmin = format!("{base}/send?username=slow&password=slow-pw&to=1&content=x");
    assert_eq!(get(&jasmin).2, "Error \"User throughput exceeded\"");
    let (s, a) = http_post(
        &format!("{base}/channels/sms/messages/"),
        "application/json",
        r#"{"to": "1", "content": "x"}"#,
        Some("Basic c2xvdzpzbG93LXB3"),
    );
    assert_eq!(s, 429, "{a}");
    // max_body is 4096 here.
    let big = format!(r#"{{"to": "1", "content": "{}"}}"#, "x".repeat(5000));
    let (s, a) = http_post(
        &format!("{base}/channels/sms/messages/"),
        "application/json",
        &big,
        Some("Basic YXBwOnMzY3JldC1wdw=="),
    );
    assert_eq!(s, 413, "{a}");
    let (s, a) = http_post(
        &format!("{base}/send"),
        "application/x-www-form-urlencoded",
        &format!("content={}", "x".repeat(5000)),
        None,
    );
    assert_eq!(s, 413, "{a}");
    // A callback URL is kept with its message: 2048 characters at most.
    let long = format!("http://h/{}", "a".repeat(2100));
    let (s, _, b) = get(&format!(
        "{base}/cgi-bin/sendsms?username=app&password=s3cret-pw&from=a&to=1&text=x&dlr-mask=1&dlr-url={long}"
    ));
    assert_eq!((s, b.as_str()), (400, "DLR-URL field misformed, rejected"));
    let (s, _, b) = get(&format!(
        "{base}/send?username=app&password=s3cret-pw&to=1&content=x&dlr-url={long}"
    ));
    assert_eq!(
        (s, b.as_str()),
        (400, "Error \"Argument [dlr-url] is longer than 2048 characters.\"")
    );
    let body = format!(r#"{{"to": "1", "content": "x", "event_url": "{long}"}}"#);
    let (s, a) = http_post(
        &format!("{base}/channels/sms/messages/"),
        "application/json",
        &body,
        Some("Basic YXBwOnMzY3JldC1wdw=="),
    );
    assert_eq!(s, 400, "{a}");
    assert!(a.contains("'event_url' is longer than 2048 characters"), "{a}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smsc.submit_count(), 2, "only what was within the rate went out");
}
