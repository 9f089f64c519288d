//! The `smpp` transport against the step-driven SMSC simulator (tests/support/smsc.rs), with the
//! misbehaviours real SMSCs have.

use ruvuma_tests::smsc::{Action, IdFormat, Smsc, SmscConfig};
use ruvuma_tests::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// An `smpp` transport bound to `smsc` (system_id test, password secret) with `extra` config
/// keys, and `mt_source` sending `messages` (a YAML list) plus `count` generated ones.
fn smpp_host(smsc: &Smsc, extra: &str, concurrency: usize, messages: &str, count: u64) -> (Host, TempDir) {
    let tmp = TempDir::new("smpp");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let yaml = format!(
        "transports:\n  sms:\n    plugin: smpp\n    concurrency: {concurrency}\n    config: {{host: 127.0.0.1, port: {}, \
         system_id: test, password: secret, reconnect_delay: 0.2, reconnect_max_delay: 1{extra}}}\n\
         applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{messages: {messages}, count: {count}}}}}\n",
        smsc.port()
    );
    let host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    (host, tmp)
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn receipts_find_their_message_whatever_the_order_format_or_repeats() {
    let smsc = Smsc::start(SmscConfig {
        id_format: IdFormat::Hex,
        receipt_id_format: IdFormat::DecimalZeroPadded(12),
        ..SmscConfig::default()
    });
    smsc.script([
        Action::Ok,
        Action::ReceiptFirst,
        Action::DuplicateReceipt(3),
        Action::ReceiptStat("UNDELIV".into()),
        Action::ReceiptStat("ENROUTE".into()),
    ]);
    let (mut host, _tmp) = smpp_host(&smsc, "", 1, "[m1, m2, m3, m4, m5]", 0);
    host.wait_for_log("mt_source delivery_report \"m1\" delivered", WAIT);
    host.wait_for_log("mt_source delivery_report \"m2\" delivered", WAIT);
    host.wait_for_log("mt_source delivery_report \"m3\" delivered", WAIT);
    host.wait_for_log("mt_source delivery_report \"m4\" failed", WAIT);
    host.wait_for_log("mt_source delivery_report \"m5\" pending", WAIT);
    // A late ENROUTE after the final report says nothing new.
    let m1_id = smsc.submits()[0].message_id.clone().expect("m1 answered");
    let n = u64::from_str_radix(&m1_id, 16).unwrap();
    smsc.send_receipt(&format!("{n:012}"), "ENROUTE", true).unwrap();
    smsc.send_receipt(&format!("{n:012}"), "DELIVRD", false).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let log = host.log();
    for m in ["m1", "m2", "m3"] {
        assert_eq!(
            count(&log, &format!("delivery_report \"{m}\" delivered")),
            1,
            "{m}:\n{log}"
        );
    }
    assert_eq!(count(&log, "delivery_report \"m1\" pending"), 0, "{log}");
    assert_eq!(count(&log, "for a message it did not send"), 0, "{log}");
    for (i, m) in ["m1", "m2", "m3", "m4", "m5"].iter().enumerate() {
        let id = smsc.submits()[i].message_id.clone().unwrap();
        assert!(
            log.contains(&format!("mt_source ack \"{m}\" id={id}")),
            "{m} acked with the SMSC's id {id}"
        );
    }
}

#[test]
fn refusals_nack_with_the_status_name_and_throttling_only_delays() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([
        Action::Status(0x0B),
        Action::Status(0x58),
        Action::Ok,
        Action::GenericNack(0x14),
        Action::Ok,
        Action::GenericNack(0x03),
    ]);
    let (mut host, _tmp) = smpp_host(&smsc, ", throttle_delay: 0.2", 1, "[bad, slow, full, broken]", 0);
    host.wait_for_log("mt_source nack \"bad\": ESME_RINVDSTADR", WAIT);
    host.wait_for_log("mt_source ack \"slow\"", WAIT);
    host.wait_for_log("mt_source ack \"full\"", WAIT);
    host.wait_for_log("mt_source nack \"broken\": ESME_RINVCMDID", WAIT);
    let log = host.log();
    assert!(
        log.contains("\"status\":\"degraded\"") && log.contains("\"type\":\"throttled\""),
        "{log}"
    );
    assert!(log.contains("\"type\":\"throttle_end\""), "{log}");
    let contents: Vec<Vec<u8>> = smsc.submits().into_iter().map(|s| s.short_message).collect();
    assert_eq!(
        contents,
        [&b"bad"[..], b"slow", b"slow", b"full", b"full", b"broken"].map(|c| c.to_vec()),
        "a throttled or queue-full submit is sent again; a refused one is not"
    );
    let slow = smsc.submits();
    assert!(
        slow[2].at.duration_since(slow[1].at) >= Duration::from_millis(150),
        "the resend waits for throttle_delay: {:?}\n{}",
        slow.iter().map(|s| s.at.duration_since(slow[0].at)).collect::<Vec<_>>(),
        host.log()
    );
}

#[test]
fn a_submit_without_response_is_sent_again_then_nacked() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([Action::NoResponse, Action::Ok, Action::NoResponse, Action::NoResponse]);
    let (mut host, _tmp) = smpp_host(
        &smsc,
        ", submit_timeout: 0.3, submit_attempts: 2",
        1,
        "[retried, given_up]",
        0,
    );
    host.wait_for_log("mt_source ack \"retried\"", WAIT);
    host.wait_for_log(
        "mt_source nack \"given_up\": no submit_sm_resp within 300ms, 2 attempt(s)",
        WAIT,
    );
    assert_eq!(smsc.submit_count(), 4);
}

#[test]
fn a_refused_bind_is_retried_and_queued_messages_then_go_out() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.refuse_binds(2, 0x0D);
    let (mut host, _tmp) = smpp_host(
        &smsc,
        ", system_type: vma, addr_ton: 1, addr_npi: 1, address_range: \"^2782\"",
        1,
        "[queued]",
        0,
    );
    host.wait_for_log("mt_source ack \"queued\"", WAIT);
    let log = host.log();
    assert_eq!(count(&log, "\"type\":\"bind_failed\""), 2, "{log}");
    assert!(
        log.contains("refused by 127.0.0.1") && log.contains("ESME_RBINDFAIL"),
        "{log}"
    );
    assert!(
        log.contains("\"status\":\"ok\"") && log.contains("\"type\":\"bound\""),
        "{log}"
    );
    let binds = smsc.binds();
    assert_eq!(binds.len(), 1);
    let b = &binds[0];
    assert_eq!(
        (
            b.kind,
            b.system_id.as_str(),
            b.system_type.as_str(),
            b.interface_version
        ),
        ("transceiver", "test", "vma", 0x34)
    );
    assert_eq!((b.addr_ton, b.addr_npi, b.address_range.as_str()), (1, 1, "^2782"));
}

#[test]
fn keepalive_and_an_unbind_from_the_smsc() {
    let smsc = Smsc::start(SmscConfig::default());
    let (mut host, _tmp) = smpp_host(&smsc, ", enquire_link_interval: 0.2", 1, "[]", 0);
    smsc.wait_for("enquire_link", WAIT, |s| s.enquire_links() >= 2);
    smsc.send_unbind();
    smsc.wait_for("a second bind", WAIT, |s| {
        s.binds().len() == 2 && s.bound_sessions() == 1
    });
    host.wait_for_log("the SMSC unbound", WAIT);
    host.signal("TERM");
    assert!(host.wait(WAIT).success());
    smsc.wait_for("our unbind", WAIT, |s| s.unbinds_received() == 1);
}

#[test]
fn mt_tps_holds_in_every_second() {
    let smsc = Smsc::start(SmscConfig {
        receipts: false,
        ..SmscConfig::default()
    });
    let (mut host, _tmp) = smpp_host(
        &smsc,
        ", mt_tps: 20, window: 10, registered_delivery: false",
        10,
        "[]",
        50,
    );
    host.wait_for_log("mt_source done: sent=50 acks=50", WAIT);
    let at: Vec<_> = smsc.submits().into_iter().map(|s| s.at).collect();
    assert_eq!(at.len(), 50);
    // Measured at the SMSC, a little inside the second to allow for the network's jitter.
    for (i, start) in at.iter().enumerate() {
        let within = at[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_millis(950))
            .count();
        assert!(within <= 20, "{within} submits within 950 ms from submit {i}");
    }
    assert!(at[49].duration_since(at[0]) >= Duration::from_millis(1900));
}

#[test]
fn long_messages_split_by_udh_sar_or_payload_and_ack_once() {
    let long = "x".repeat(200);
    for (split, parts) in [("udh", 2), ("sar", 2), ("message_payload", 1)] {
        let smsc = Smsc::start(SmscConfig::default());
        let (mut host, _tmp) = smpp_host(&smsc, &format!(", split: {split}"), 1, &format!("[{long}]"), 0);
        host.wait_for_log(&format!("mt_source delivery_report \"{long}\" delivered"), WAIT);
        let submits = smsc.submits();
        assert_eq!(submits.len(), parts, "{split}");
        let log = host.log();
        assert_eq!(count(&log, "mt_source ack"), 1, "{split}: one ack for the message");
        match split {
            "udh" => {
                let (a, b) = (&submits[0], &submits[1]);
                assert_eq!(a.esm_class & 0x40, 0x40);
                assert_eq!(&a.short_message[..3], &[5, 0, 3]);
                assert_eq!((a.short_message[4], a.short_message[5]), (2, 1));
                assert_eq!((b.short_message[4], b.short_message[5]), (2, 2));
                assert_eq!(a.short_message[3], b.short_message[3], "one reference");
                assert_eq!(a.short_message.len() - 6 + b.short_message.len() - 6, 200);
            }
            "sar" => {
                let (ra, ta, sa) = submits[0].sar.unwrap();
                let (rb, tb, sb) = submits[1].sar.unwrap();
                assert_eq!((ra, ta, sa, tb, sb), (rb, 2, 1, 2, 2));
                assert_eq!(submits[0].short_message.len() + submits[1].short_message.len(), 200);
            }
            _ => {
                assert_eq!(submits[0].message_payload.as_deref(), Some(long.as_bytes()));
                assert!(submits[0].short_message.is_empty());
            }
        }
    }
}

#[test]
fn text_goes_in_the_coding_it_needs() {
    let smsc = Smsc::start(SmscConfig::default());
    let (mut host, _tmp) = smpp_host(&smsc, "", 1, "[\"plain\", \"naïve\", \"Привет\"]", 0);
    host.wait_for_log("mt_source ack \"Привет\"", WAIT);
    let s = smsc.submits();
    assert_eq!((s[0].data_coding, s[0].short_message.clone()), (0, b"plain".to_vec()));
    assert_eq!(
        (s[1].data_coding, s[1].short_message.clone()),
        (3, b"na\xefve".to_vec())
    );
    let utf16: Vec<u8> = "Привет".encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!((s[2].data_coding, s[2].short_message.clone()), (8, utf16));
}

#[test]
fn mo_messages_arrive_whole() {
    let smsc = Smsc::start(SmscConfig::default());
    let (mut host, _tmp) = smpp_host(&smsc, ", multipart_timeout: 1", 1, "[]", 0);
    smsc.wait_for("bind", WAIT, |s| s.bound_sessions() == 1);
    assert_eq!(smsc.send_deliver_sm("27821", "1234", 0, 0, b"single", &[]).unwrap(), 0);
    host.wait_for_log("mt_source got \"single\" from 27821 to 1234", WAIT);
    // UDH parts, the second first.
    let two = [&[5u8, 0, 3, 9, 2, 2][..], b" world"].concat();
    let one = [&[5u8, 0, 3, 9, 2, 1][..], b"hello"].concat();
    assert_eq!(smsc.send_deliver_sm("27822", "1234", 0x40, 0, &two, &[]).unwrap(), 0);
    assert_eq!(smsc.send_deliver_sm("27822", "1234", 0x40, 0, &one, &[]).unwrap(), 0);
    host.wait_for_log("mt_source got \"hello world\" from 27822 to 1234", WAIT);
    // SAR TLVs: sar_msg_ref_num 0x020C, sar_total_segments 0x020E, sar_segment_seqnum 0x020F.
    let sar = |seq: u8| vec![(0x020C, vec![1, 44]), (0x020E, vec![2]), (0x020F, vec![seq])];
    smsc.send_deliver_sm("27823", "1234", 0, 8, &[0, b'A'], &sar(1))
        .unwrap();
    smsc.send_deliver_sm("27823", "1234", 0, 8, &[0, b'B'], &sar(2))
        .unwrap();
    host.wait_for_log("mt_source got \"AB\" from 27823 to 1234", WAIT);
    // Only part 1 of 3: passed on after multipart_timeout, marked incomplete.
    let lone = [&[5u8, 0, 3, 7, 3, 1][..], b"lonely"].concat();
    smsc.send_deliver_sm("27824", "1234", 0x40, 0, &lone, &[]).unwrap();
    host.wait_for_log("mt_source got \"lonely\" from 27824 to 1234", WAIT);
    assert!(host.log().contains("\"multipart_incomplete\":true"), "{}", host.log());
    // Bytes that are not text in their data_coding still arrive, with the reason.
    smsc.send_deliver_sm("27825", "1234", 0, 8, &[0, 65, 0], &[]).unwrap();
    host.wait_for_log("mt_source got \"\" from 27825 to 1234", WAIT);
    assert!(host.log().contains("odd number of octets"), "{}", host.log());
}

#[test]
fn ten_thousand_mt_through_a_disconnect_each_end_once() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script(std::iter::repeat_n(Action::Ok, 5000).chain([Action::Disconnect]));
    let (mut host, _tmp) = smpp_host(&smsc, ", window: 64", 64, "[]", 10_000);
    host.wait_for_log(
        "mt_source done: sent=10000 acks=10000 nacks=0 duplicates=0",
        Duration::from_secs(120),
    );
    host.wait_for_log(
        "mt_source reports: final=10000 report_duplicates=0 unknown=0 mismatched=0 before_ack=0",
        Duration::from_secs(60),
    );
    assert!(smsc.binds().len() >= 2, "the link was cut and bound again");
    assert!(
        host.log().contains("will be sent again after the next bind"),
        "the window was full when the link went"
    );
}

#[test]
fn a_transmitter_and_a_receiver_work_as_one_through_the_redirect_router() {
    let smsc = Smsc::start(SmscConfig::default());
    let tmp = TempDir::new("smpp-pair");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let common = format!(
        "host: 127.0.0.1, port: {}, system_id: test, password: secret, reconnect_delay: 0.2",
        smsc.port()
    );
    let yaml = format!(
        "transports:\n  tx: {{plugin: smpp, state_namespace: pair, config: {{{common}, bind_type: transmitter}}}}\n  \
         rx: {{plugin: smpp, state_namespace: pair, config: {{{common}, bind_type: receiver}}}}\n\
         applications:\n  app: {{plugin: mt_source, endpoint: app, config: {{messages: [paired]}}}}\n\
         dispatchers:\n  main:\n    router_class: redirect\n    transport_names: [tx, rx]\n    exposed_names: [app]\n    \
         redirect_inbound: {{tx: app, rx: app}}\n    redirect_outbound: {{app: tx}}\n"
    );
    let mut host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    host.wait_for_log("mt_source ack \"paired\"", WAIT);
    host.wait_for_log("mt_source delivery_report \"paired\" delivered", WAIT);
    let kinds: Vec<_> = smsc.binds().into_iter().map(|b| b.kind).collect();
    assert!(
        kinds.contains(&"transmitter") && kinds.contains(&"receiver"),
        "{kinds:?}"
    );
    smsc.send_deliver_sm("27826", "1234", 0, 0, b"to the receiver", &[])
        .unwrap();
    host.wait_for_log("mt_source got \"to the receiver\" from 27826 to 1234", WAIT);
}

#[test]
fn binds_over_tls_and_refuses_a_certificate_it_does_not_trust() {
    let smsc = Smsc::start(SmscConfig::default());
    let tmp = TempDir::new("smpp-tls");
    let proxy = ruvuma_tests::tls_proxy::TlsProxy::start(smsc.port(), tmp.path());
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let config = |extra: &str| {
        format!(
            "transports:\n  sms:\n    plugin: smpp\n    config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret, \
             tls: true, tls_server_name: localhost, reconnect_delay: 0.2{extra}}}\n\
             applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{messages: [sealed]}}}}\n",
            proxy.port
        )
    };
    let trusted = format!(", tls_ca_file: {:?}", proxy.ca_file.to_str().unwrap());
    let mut host = Host::start(&config(&trusted), &["--plugin-dir", plugins.to_str().unwrap()]);
    host.wait_for_log("mt_source ack \"sealed\"", WAIT);
    host.wait_for_log("mt_source delivery_report \"sealed\" delivered", WAIT);
    drop(host);

    let mut untrusted = Host::start(&config(""), &["--plugin-dir", plugins.to_str().unwrap()]);
    untrusted.wait_for_log("\"type\":\"bind_failed\"", WAIT);
    assert!(untrusted.log().contains("TLS handshake"), "{}", untrusted.log());
    assert!(!untrusted.log().contains("mt_source ack"));
}

#[test]
fn the_example_config_is_valid() {
    let out = std::process::Command::new(&built().ruvuma)
        .args(["validate", "-c"])
        .arg(built().root.join("config/smpp.yaml"))
        .arg("--plugin-dir")
        .arg(&built().out)
        .env("SMSC_SYSTEM_ID", "acme")
        .env("SMSC_PASSWORD", "secret")
        .output()
        .expect("run ruvuma validate");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A transmitter in one process and a receiver in another, sharing Redis: the receipt that comes
/// in on the receiver finds the message the transmitter sent.
#[test]
fn receipts_find_messages_sent_by_another_process_through_redis() {
    let smsc = Smsc::start(SmscConfig::default());
    let prefix = format!("ruvuma-smpp-{}-{}", std::process::id(), free_port());
    let tmp = TempDir::new("smpp-redis");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let args = ["--plugin-dir", plugins.to_str().unwrap()];
    let process = |name: &str, bind: &str, messages: &str| {
        format!(
            "state: {{redis: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}}}\n\
             transports:\n  {name}: {{plugin: smpp, state_namespace: operator_a, config: {{host: 127.0.0.1, port: {}, \
             system_id: test, password: secret, bind_type: {bind}}}}}\n\
             applications:\n  app: {{plugin: mt_source, endpoint: {name}, config: {{messages: {messages}}}}}\n",
            smsc.port()
        )
    };
    let receiver = Host::start(&process("rx", "receiver", "[]"), &args);
    smsc.wait_for("the receiver's bind", WAIT, |s| s.bound_sessions() == 1);
    let mut sender = Host::start(&process("tx", "transmitter", "[far]"), &args);
    sender.wait_for_log("mt_source ack \"far\"", WAIT);
    let log = sender.log();
    let message_id = log
        .lines()
        .find_map(|l| l.split("mt_source ack \"far\" id=").nth(1))
        .and_then(|rest| rest.split(" for ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the ack names the message")
        .to_owned();
    // The receipt comes in on the receiver. If the transmitter filed the message's ids first,
    // the receiver reports it (to its own application, which did not send it); if the receipt
    // came first, the receiver keeps it in Redis and the transmitter, filing the ids, finds it
    // there and reports it. Either way it crossed processes, and it is reported once.
    let on_rx = format!("mt_source delivery_report for a message it did not send: {message_id}");
    let on_tx = "mt_source delivery_report \"far\" delivered";
    let reports = || count(&receiver.log(), &on_rx) + count(&sender.log(), on_tx);
    eventually("the delivery report, in either process", WAIT, || reports() > 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reports(), 1, "rx:\n{}\ntx:\n{}", receiver.log(), sender.log());
}

#[test]
fn a_malformed_pdu_from_the_smsc_gets_a_generic_nack_and_the_link_stays() {
    let smsc = Smsc::start(SmscConfig::default());
    let (mut host, _tmp) = smpp_host(&smsc, "", 1, "[]", 0);
    smsc.wait_for("bind", WAIT, |s| s.bound_sessions() == 1);
    // A deliver_sm (0x00000005), sequence 4242, whose body stops in the middle of source_addr.
    let body = b"\0\x01\x0127";
    let mut pdu = ((16 + body.len()) as u32).to_be_bytes().to_vec();
    pdu.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0x10, 0x92]);
    pdu.extend_from_slice(body);
    smsc.send_raw(&pdu).unwrap();
    smsc.wait_for("a generic_nack", WAIT, |s| !s.generic_nacks().is_empty());
    assert_eq!(
        smsc.generic_nacks()[0].0,
        4242,
        "it answers the PDU's own sequence number"
    );
    host.wait_for_log("undecodable PDU (command_id 0x00000005, sequence 4242)", WAIT);
    let answer = smsc.send_deliver_sm("27821", "1234", 0, 0, b"still here", &[]);
    assert_eq!(answer, Ok(0), "{}", host.log());
    host.wait_for_log("mt_source got \"still here\"", WAIT);
    assert_eq!(smsc.binds().len(), 1, "the same bind carried on");
}

#[test]
fn the_window_fills_without_a_concurrency_key_and_holds() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script(std::iter::repeat_n(Action::NoResponse, 12));
    let tmp = TempDir::new("smpp-window");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let yaml = format!(
        "transports:\n  sms: {{plugin: smpp, config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret, \
         window: 5, submit_timeout: 60}}}}\n\
         applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{count: 12}}}}\n",
        smsc.port()
    );
    let _host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    smsc.wait_for("a full window", WAIT, |s| s.submit_count() == 5);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(smsc.submit_count(), 5, "no more than the window awaits an answer");
}

/// `ruvuma validate` lists every mistake in an smpp transport's config, each naming its key.
#[test]
fn a_bad_smpp_config_gets_every_problem_named() {
    let tmp = TempDir::new("smpp-bad");
    let yaml = "transports:\n  sms:\n    plugin: smpp\n    config:\n      host: 127.0.0.1\n      \
                system_id: a_system_id_too_long\n      password: ninechars\n      window: 0\n      \
                mt_tps: 0\n      submit_timeout: -1\n      data_coding: klingon\n      split: halves\n      \
                tls_ca_file: /nowhere/ca.pem\n\
                applications:\n  app: {plugin: mt_source, endpoint: sms}\n";
    let (code, _, stderr) = validate_with(&tmp.write("bad.yaml", yaml), &plugin_dir(&tmp, ALL_PLUGINS));
    assert_eq!(code, Some(1), "{stderr}");
    for e in [
        "transport \"sms\": key \"system_id\": must be 1 to 15 characters, found 20",
        "transport \"sms\": key \"password\": SMPP 3.4 allows at most 8 characters",
        "transport \"sms\": key \"window\": must be at least 1",
        "transport \"sms\": key \"mt_tps\": must be at least 1",
        "transport \"sms\": key \"submit_timeout\": must be a positive number of seconds, found -1",
        "transport \"sms\": key \"data_coding\":",
        "transport \"sms\": key \"split\":",
        "transport \"sms\": key \"tls_ca_file\": needs \"tls: true\"",
        "transport \"sms\": key \"tls_ca_file\": \"/nowhere/ca.pem\" is not a readable file",
    ] {
        assert!(stderr.contains(e), "missing {e:?} in:\n{stderr}");
    }
    let (code, _, stderr) = validate_with(
        &tmp.write("typo.yaml", &yaml.replace("window: 0", "windw: 10")),
        &plugin_dir(&tmp, ALL_PLUGINS),
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("key \"windw\": unknown field `windw`"), "{stderr}");
}

/// A receipt that no message ever claims is logged as a warning before it expires; one that a
/// message claims later is not.
#[test]
fn a_receipt_that_matches_no_message_is_logged_before_it_expires() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([Action::ReceiptFirst]);
    let (mut host, _tmp) = smpp_host(&smsc, ", early_receipt_ttl: 5", 1, "[claimed]", 0);
    host.wait_for_log("mt_source delivery_report \"claimed\" delivered", WAIT);
    assert_eq!(smsc.send_receipt("7fffffff", "DELIVRD", false), Ok(0));
    host.wait_for_log("a delivery receipt matched no message sent within 3s", WAIT);
    let log = host.log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("matched no message")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    // The claimed receipt was kept first, so its check came first, and found it gone.
    assert!(warnings[0].contains("smsc_id=7fffffff"), "{}", warnings[0]);
}
