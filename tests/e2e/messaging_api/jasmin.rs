//! Jasmin's /send and /ping, and its delivery reports by level.

use super::*;
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;

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
