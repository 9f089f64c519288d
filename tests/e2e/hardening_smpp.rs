//! The `smpp` transport against hostile config values and a hostile SMSC
//! (tests/support/hostile_smsc.rs): each abuse is held to a bound (memory from /proc, counts,
//! whether other traffic kept flowing), never to a time. Figures: tests/HARDENING-SMPP.md.

use ruvuma_tests::hostile_smsc::{deliver_sm, malformed_pdus, HostileSmsc, Plan};
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;
use std::time::Duration;

/// `ruvuma validate` refuses every value out of its range, naming the key, before anything runs.
#[test]
fn config_values_out_of_range_are_refused_by_validate() {
    let tmp = TempDir::new("smpp-ranges");
    let yaml =
        "transports:\n  sms:\n    plugin: smpp\n    config:\n      host: 127.0.0.1\n      system_id: test\n      \
                window: 18446744073709551615\n      mt_tps: 4294967295\n      dlr_ttl: 1e300\n      \
                early_receipt_ttl: 0\n      multipart_timeout: 2592001\n      response_timeout: 3601\n      \
                reconnect_delay: 1e-300\n      reconnect_max_delay: 0.05\n      submit_attempts: 4000000000\n      \
                mo_window: 0\n      multipart_max_pending: 18446744073709551615\n\
                applications:\n  app: {plugin: mt_source, endpoint: sms}\n";
    let (code, _, stderr) = validate_with(&tmp.write("ranges.yaml", yaml), &plugin_dir(&tmp, ALL_PLUGINS));
    assert_eq!(code, Some(1), "{stderr}");
    for e in [
        "key \"window\": must be at most 1000, found 18446744073709551615",
        "key \"mt_tps\": must be at most 100000, found 4294967295",
        "key \"dlr_ttl\": must be at most 2592000 seconds, found 1e300",
        "key \"early_receipt_ttl\": must be a positive number of seconds, found 0",
        "key \"multipart_timeout\": must be at most 2592000 seconds, found 2592001",
        "key \"response_timeout\": must be at most 3600 seconds, found 3601",
        "key \"reconnect_delay\": must be at least 0.1 seconds, found 1e-300",
        "key \"reconnect_max_delay\": must be at least 0.1 seconds, found 0.05",
        "key \"submit_attempts\": must be at most 100, found 4000000000",
        "key \"mo_window\": must be at least 1, found 0",
        "key \"multipart_max_pending\": must be at most 1000000, found 18446744073709551615",
    ] {
        assert!(
            stderr.contains(&format!("transport \"sms\": {e}")),
            "missing {e:?} in:\n{stderr}"
        );
    }
    // At the edges of their ranges the same keys are accepted.
    let edges =
        "transports:\n  sms:\n    plugin: smpp\n    config:\n      host: 127.0.0.1\n      system_id: test\n      \
                 window: 1000\n      mt_tps: 100000\n      dlr_ttl: 2592000\n      reconnect_delay: 0.1\n      \
                 response_timeout: 3600\n      mo_window: 10000\n      multipart_max_pending: 1\n\
                 applications:\n  app: {plugin: mt_source, endpoint: sms}\n";
    let (code, _, stderr) = validate_with(&tmp.write("edges.yaml", edges), &plugin_dir(&tmp, ALL_PLUGINS));
    assert_eq!(code, Some(0), "{stderr}");
}

const WAIT: Duration = Duration::from_secs(30);
/// The most memory the host may hold under any one abuse (it idles at about 20 MB).
const RSS_BOUND: u64 = 100 * 1024 * 1024;

/// A host with `transports` and `applications` (YAML bodies) and every test plugin.
fn host_with(top: &str) -> (Host, TempDir) {
    let tmp = TempDir::new("smpp-hard");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let host = Host::start(top, &["--plugin-dir", plugins.to_str().expect("utf-8 path")]);
    (host, tmp)
}

/// A hostile SMSC and a host whose `sms` transport (with `extra` keys) has bound to it, serving
/// application `app_plugin` on the transport's own endpoint.
fn bound_to_a_hostile_smsc(app_plugin: &str, extra: &str) -> (HostileSmsc, Host, TempDir) {
    let smsc = HostileSmsc::start([]);
    let yaml = format!(
        "transports:\n  sms: {}\napplications:\n  app: {{plugin: {app_plugin}, endpoint: sms}}\n",
        smpp(smsc.port(), extra)
    );
    let (host, tmp) = host_with(&yaml);
    eventually("the bind", WAIT, || smsc.polite_bound());
    (smsc, host, tmp)
}

/// The config of an smpp transport on `port` with `extra` keys.
fn smpp(port: u16, extra: &str) -> String {
    format!(
        "{{plugin: smpp, config: {{host: 127.0.0.1, port: {port}, system_id: test, password: secret, \
         reconnect_delay: 0.2, reconnect_max_delay: 0.5{extra}}}}}"
    )
}

/// An SMSC that binds, then never reads and floods enquire_link: the host's writes to it stall,
/// so it drops that link (its queue of answers is bounded) and binds again, while another
/// transport's traffic flows.
#[test]
fn an_smsc_that_floods_and_never_reads_costs_its_own_link_not_memory() {
    let flood = Duration::from_secs(8);
    let bad = HostileSmsc::start([Plan::DeafFlood(flood), Plan::DeafFlood(flood), Plan::DeafFlood(flood)]);
    let good = Smsc::start(SmscConfig::default());
    let yaml = format!(
        "transports:\n  bad: {}\n  good: {}\n\
         applications:\n  app_bad: {{plugin: mt_source, endpoint: bad}}\n  app_good: {{plugin: mt_source, endpoint: good}}\n",
        smpp(bad.port(), ", response_timeout: 2"),
        smpp(good.port(), "")
    );
    let (mut host, _tmp) = host_with(&yaml);
    good.wait_for("the good bind", WAIT, |s| s.bound_sessions() == 1);
    eventually("the first flood", WAIT, || bad.binds() >= 1);
    for i in 0..20 {
        assert_eq!(
            good.send_deliver_sm("27821", "1234", 0, 0, format!("meanwhile {i}").as_bytes(), &[]),
            Ok(0),
            "{}",
            host.log()
        );
    }
    host.wait_for_log("mt_source got \"meanwhile 19\"", WAIT);
    // Each flooding link is dropped and bound again; the fourth bind is a polite one.
    eventually("three floods and a bind after them", Duration::from_secs(60), || {
        bad.binds() >= 4
    });
    eventually("the polite link", WAIT, || bad.polite_bound());
    let peak = procfs::peak_rss(host.pid());
    assert!(
        peak < RSS_BOUND,
        "peak RSS {} MB under an SMSC that does not read",
        procfs::mb(peak)
    );
    let log = host.log();
    assert!(log.contains("\"type\":\"connection_lost\""), "{log}");
    println!("deaf flood: peak RSS {} MB, binds {}", procfs::mb(peak), bad.binds());
}

/// An SMSC that sends plenty but answers none of our enquire_links is not a live link: it is
/// dropped and bound again, though bytes keep coming.
#[test]
fn chatter_without_answers_does_not_count_as_a_live_link() {
    let bad = HostileSmsc::start([Plan::Ignores, Plan::Ignores]);
    let yaml = format!(
        "transports:\n  bad: {}\napplications:\n  app: {{plugin: mt_source, endpoint: bad}}\n",
        smpp(bad.port(), ", enquire_link_interval: 1, response_timeout: 1")
    );
    let (mut host, _tmp) = host_with(&yaml);
    eventually("a bind again after an unanswered enquire_link", WAIT, || {
        bad.binds() >= 3
    });
    host.wait_for_log("no enquire_link_resp within 1s", WAIT);
    let peak = procfs::peak_rss(host.pid());
    assert!(peak < RSS_BOUND, "peak RSS {} MB", procfs::mb(peak));
    println!("chatter: peak RSS {} MB, binds {}", procfs::mb(peak), bad.binds());
}

/// MO content of a fixed length (so that every deliver_sm has the same size): `mo-<n>` padded.
fn mo_text(n: u32) -> String {
    format!("mo-{n:06} {}", "x".repeat(150))
}

/// What became of an MO flood cut short by SIGTERM.
struct FloodReport {
    peak_rss: u64,
    /// The most deliver_sm the host had read and not answered at once.
    most_unanswered: i64,
    answers: std::collections::HashMap<u32, u32>,
    /// The sequence number of the first deliver_sm (`mo_text(seq - first)` is its text).
    first: u32,
    sent: u32,
    log: String,
}

const MO_WINDOW: i64 = 50;

/// An SMSC sends `count` deliver_sm as fast as the host reads them; behind the transport a slow
/// application; SIGTERM once `before_term` are answered.
fn mo_flood_then_sigterm(count: u32, before_term: u64) -> FloodReport {
    let smsc = HostileSmsc::start([]);
    let yaml = format!(
        "shutdown_timeout: 10\nbus: {{memory: {{capacity: 100}}}}\n\
         transports:\n  sms: {}\n  out: {{plugin: recorder}}\n\
         applications:\n  app: {{plugin: slow_echo, endpoint: app, config: {{delay_ms: 2}}}}\n\
         dispatchers:\n  main:\n    router_class: redirect\n    transport_names: [sms, out]\n    exposed_names: [app]\n    \
         redirect_inbound: {{sms: app, out: app}}\n    redirect_outbound: {{app: out}}\n",
        smpp(smsc.port(), &format!(", bind_type: receiver, mo_window: {MO_WINDOW}, enquire_link_interval: 300"))
    );
    let (mut host, _tmp) = host_with(&yaml);
    eventually("the bind", WAIT, || smsc.polite_bound());
    let first = smsc.next_seq();
    let pdus: Vec<Vec<u8>> = (0..count)
        .map(|i| deliver_sm(first + i, "27820000001", 0, mo_text(i).as_bytes(), &[]))
        .collect();
    let pdu_len = pdus[0].len() as u64;
    let flooding = smsc.flood(pdus);
    let mut most = 0;
    eventually("answers to the flood", Duration::from_secs(120), || {
        if let Some(n) = smsc.taken_unanswered(pdu_len) {
            most = most.max(n);
        }
        smsc.answered() >= before_term
    });
    let peak_rss = procfs::peak_rss(host.pid());
    host.signal("TERM");
    assert!(host.wait(Duration::from_secs(60)).success(), "{}", host.log());
    let answers = smsc.answers();
    drop(smsc);
    let sent = flooding.join().expect("flood thread") as u32;
    FloodReport {
        peak_rss,
        most_unanswered: most,
        answers,
        first,
        sent,
        log: host.log(),
    }
}

/// MO faster than the application takes it: the transport reads no more than `mo_window`
/// deliveries ahead of their answers, memory stays bounded, and SIGTERM brings no flood of errors.
#[test]
fn an_mo_flood_is_held_back_by_the_mo_window() {
    let r = mo_flood_then_sigterm(100_000, 3000);
    // What the host may hold beyond the window: its read buffer (64 KiB) and a few PDUs read ahead.
    let slack = 64 * 1024 / 180 + 16;
    assert!(
        r.most_unanswered <= MO_WINDOW + slack,
        "the host held {} deliver_sm unanswered (mo_window {MO_WINDOW})",
        r.most_unanswered
    );
    assert!(r.peak_rss < RSS_BOUND, "peak RSS {} MB", procfs::mb(r.peak_rss));
    let errors = r.log.lines().filter(|l| l.contains("ERROR")).count();
    assert!(errors <= 5, "{errors} ERROR lines at shutdown:\n{}", tail(&r.log));
    println!(
        "mo flood: peak RSS {} MB, most unanswered {}, answered {} of {} sent, ERROR lines {errors}",
        procfs::mb(r.peak_rss),
        r.most_unanswered,
        r.answers.len(),
        r.sent
    );
}

/// SIGTERM while MO flows: every deliver_sm answered OK reached the application; the others
/// were refused with ESME_RX_T_APPN (0x64) or left unanswered, so the SMSC keeps them.
#[test]
fn at_shutdown_no_acknowledged_mo_is_lost() {
    let r = mo_flood_then_sigterm(100_000, 2000);
    let mut ok = 0;
    let mut refused = 0;
    for (seq, status) in &r.answers {
        match *status {
            0 => {
                ok += 1;
                let text = mo_text(seq - r.first);
                assert!(
                    r.log.contains(&format!("recorder out sent {text:?}")),
                    "deliver_sm {seq} was answered OK but never reached the application\n{}",
                    tail(&r.log)
                );
            }
            0x64 => refused += 1,
            other => panic!("deliver_sm {seq} answered 0x{other:X}"),
        }
    }
    let unanswered = r.sent as usize - r.answers.len();
    assert!(
        refused + unanswered > 0,
        "the flood was over before SIGTERM: the test shows nothing"
    );
    println!("shutdown: {ok} answered OK and handled, {refused} refused 0x64, {unanswered} unanswered");
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Text from the SMSC reaches the log escaped: a receipt id or an address holding a newline
/// cannot forge a log line.
#[test]
fn peer_text_cannot_forge_log_lines() {
    let (smsc, mut host, _tmp) = bound_to_a_hostile_smsc("echo", ", early_receipt_ttl: 3, multipart_timeout: 1");
    // A receipt for no message we sent: receipted_message_id (0x001E) and message_state (0x0427).
    let forged_id = b"id1\nERROR forged receipt\x1b[31m\0".to_vec();
    let receipt = deliver_sm(
        smsc.next_seq(),
        "27821",
        0x04,
        b"",
        &[(0x001E, forged_id), (0x0427, vec![2])],
    );
    smsc.send(&receipt).expect("send the receipt");
    // One part of two from an address with a newline in it: passed on incomplete, with a warning.
    let part = [&[5u8, 0, 3, 9, 2, 1][..], b"half"].concat();
    smsc.send(&deliver_sm(smsc.next_seq(), "27\nERROR forged addr", 0x40, &part, &[]))
        .expect("send the part");
    host.wait_for_log("matched no message", WAIT);
    host.wait_for_log("multipart message", WAIT);
    let log = host.log();
    let forged: Vec<&str> = log
        .lines()
        .filter(|l| l.trim_start().starts_with("ERROR forged"))
        .collect();
    assert!(forged.is_empty(), "forged lines {forged:?} in:\n{log}");
    assert!(!log.contains("\x1b[31m"), "a terminal escape reached the log:\n{log}");
    assert!(log.contains("id1\\nERROR forged receipt\\u{1b}[31m"), "{log}");
    assert!(log.contains("27\\nERROR forged addr"), "{log}");
}

/// A flood of first parts of multipart messages whose other parts never come: at most
/// `multipart_max_pending` wait (the oldest are passed on as they are), and at shutdown the
/// ones still waiting are passed on too: their parts were answered, so none is lost.
#[test]
fn multipart_parts_that_never_complete_are_bounded_and_not_lost() {
    let (smsc, mut host, _tmp) =
        bound_to_a_hostile_smsc("mt_source", ", multipart_timeout: 3600, multipart_max_pending: 10");
    let n: u16 = 200;
    for r in 0..n {
        let part = [
            &[6u8, 8, 4][..],
            &r.to_be_bytes(),
            &[2, 1],
            format!("first{r}").as_bytes(),
        ]
        .concat();
        smsc.send(&deliver_sm(smsc.next_seq(), "27821", 0x40, &part, &[]))
            .expect("send");
    }
    eventually("every part answered", WAIT, || smsc.answered() == u64::from(n));
    let incomplete = |log: &str| {
        log.lines()
            .filter(|l| l.contains("mt_source got") && l.contains("multipart_incomplete"))
            .count()
    };
    eventually("the oldest passed on", WAIT, || incomplete(&host.log()) >= 190);
    assert_eq!(incomplete(&host.log()), 190, "only those over the bound, the rest wait");
    // Part numbers outside 1..=total do not count towards a whole message.
    let udh = |seq: u8, text: &str| [&[5u8, 0, 3, 77, 3, seq][..], text.as_bytes()].concat();
    for (seq, text) in [(1, "a"), (9, "X"), (0, "Y"), (2, "b"), (3, "c")] {
        smsc.send(&deliver_sm(smsc.next_seq(), "27822", 0x40, &udh(seq, text), &[]))
            .expect("send");
    }
    host.wait_for_log("mt_source got \"abc\" from 27822", WAIT);
    host.signal("TERM");
    assert!(host.wait(WAIT).success());
    let log = host.log();
    assert_eq!(incomplete(&log), 200, "the ten still waiting are passed on at shutdown");
    assert!(!log.contains("got \"aX") && !log.contains("got \"Ya"), "{log}");
}

/// A receipt whose id is longer than SMPP allows is dropped with a warning, not filed as a
/// state key of whatever length the SMSC likes.
#[test]
fn a_receipt_id_longer_than_smpp_allows_is_not_filed() {
    let (smsc, mut host, _tmp) = bound_to_a_hostile_smsc("mt_source", "");
    let id = "7".repeat(300);
    let text = format!("id:{id} sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000");
    let payload = (0x0424u16, text.into_bytes());
    smsc.send(&deliver_sm(smsc.next_seq(), "27821", 0x04, b"", &[payload]))
        .expect("send");
    host.wait_for_log("longer than SMPP allows, dropped", WAIT);
    eventually("the answer", WAIT, || smsc.answered() == 1);
    assert_eq!(
        smsc.answers().into_values().collect::<Vec<_>>(),
        vec![0],
        "answered, not retried"
    );
    assert!(!host.log().contains(&id), "the whole id reached the log");
}

/// Warnings about the SMSC's PDUs that the log held back, as its lines count them.
fn held_back(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| {
            let before = &l[..l.find(" more warnings about PDUs from the SMSC were not logged")?];
            let n = before.rsplit([' ', '(']).next()?;
            n.parse::<u64>().ok()
        })
        .sum()
}

/// An SMSC sending 5,000 PDUs the transport cannot use (undecodable, unknown, or answers to
/// nothing it sent) costs a handful of log lines, not one each: at most one warning about them
/// per 10 s on a link, and then how many were not logged. Requests among them are still
/// answered, and the link stays.
#[test]
fn malformed_pdus_from_the_smsc_are_warned_about_a_few_times_not_each_time() {
    let (smsc, mut host, _tmp) = bound_to_a_hostile_smsc("mt_source", "");
    let n = 5000;
    let sent = smsc.flood(malformed_pdus(&smsc, n)).join().expect("the flood");
    assert_eq!(sent, n);
    // Half of them are requests, each answered with a generic_nack; the last PDU is one.
    eventually("every request answered", WAIT, || smsc.answered() == n as u64 / 2);
    let kinds = [
        "undecodable PDU",
        "unexpected ",
        "submit_sm_resp for sequence",
        "generic_nack from the SMSC",
    ];
    let logged = |log: &str| log.lines().filter(|l| kinds.iter().any(|k| l.contains(k))).count() as u64;
    // What was not logged is counted in a line of its own once the 10 s are up.
    eventually("every one logged or counted", WAIT, || {
        let log = host.log();
        logged(&log) + held_back(&log) == n as u64
    });
    let log = host.log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(
        (2..=6).contains(&warnings.len()),
        "{} WARN lines for {n} malformed PDUs:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    assert_eq!(smsc.binds(), 1, "the same bind carried on");
    smsc.send(&deliver_sm(smsc.next_seq(), "27821", 0, b"still here", &[]))
        .expect("send");
    host.wait_for_log("mt_source got \"still here\"", WAIT);
    println!(
        "malformed flood: {} WARN lines, {} warnings held back",
        warnings.len(),
        held_back(&log)
    );
}
