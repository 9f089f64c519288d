//! A transport's retry policy against the SMSC simulator's refusals: temporary ones are sent
//! again with growing delays, permanent ones are not, what is given up on is dead-lettered and
//! replayed, and the schedule kept in the store survives a kill -9.

use ruvuma_tests::smsc::{Action, Smsc, SmscConfig};
use ruvuma_tests::*;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const RSYSERR: u32 = 0x08;
const RINVDSTADR: u32 = 0x0B;

/// An `smpp` transport with `retry`, bound to `smsc`, and `mt_source` sending `messages`;
/// `top` adds top-level keys (a store).
fn config(smsc: &Smsc, retry: &str, messages: &str, top: &str) -> String {
    format!(
        "{top}transports:\n  sms:\n    plugin: smpp\n    retry: {retry}\n    config: {{host: 127.0.0.1, port: {}, \
         system_id: test, password: secret, reconnect_delay: 0.2, reconnect_max_delay: 1}}\n\
         applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{messages: {messages}, count: 0}}}}\n",
        smsc.port()
    )
}

fn start(tmp: &TempDir, yaml: &str) -> Host {
    let plugins = plugin_dir(tmp, ALL_PLUGINS);
    Host::start(yaml, &["--plugin-dir", plugins.to_str().unwrap()])
}

fn contents(smsc: &Smsc) -> Vec<String> {
    smsc.submits()
        .into_iter()
        .map(|s| String::from_utf8_lossy(&s.short_message).into_owned())
        .collect()
}

#[test]
fn a_temporary_refusal_is_sent_again_with_growing_delays_and_the_app_sees_only_the_ack() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([Action::Status(RSYSERR), Action::Status(RSYSERR), Action::Ok]);
    let tmp = TempDir::new("retry");
    let yaml = config(&smsc, "{initial_delay: 0.3, factor: 2, max_attempts: 5}", "[again]", "");
    let mut host = start(&tmp, &yaml);
    host.wait_for_log("mt_source ack \"again\"", WAIT);
    assert_eq!(contents(&smsc), ["again", "again", "again"], "{}", host.log());
    let log = host.log();
    assert!(
        !log.contains("mt_source nack"),
        "a retried nack reaches no application:\n{log}"
    );
    let at: Vec<_> = smsc.submits().iter().map(|s| s.at).collect();
    let (first, second) = (at[1].duration_since(at[0]), at[2].duration_since(at[1]));
    assert!(
        first >= Duration::from_millis(250) && second >= Duration::from_millis(550),
        "the waits follow initial_delay 0.3 s and factor 2: {first:?}, {second:?}"
    );
}

#[test]
fn a_permanent_refusal_is_not_sent_again() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([Action::Status(RINVDSTADR)]);
    let tmp = TempDir::new("retry");
    let yaml = config(&smsc, "{initial_delay: 0.2}", "[bad]", "");
    let mut host = start(&tmp, &yaml);
    host.wait_for_log("mt_source nack \"bad\": ESME_RINVDSTADR", WAIT);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(contents(&smsc), ["bad"], "{}", host.log());
}

/// What the `sqlite3` tool prints for `sql` on the store file `db`.
fn sqlite(db: &Path, sql: &str) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3");
    text(&out.stdout).trim().to_owned()
}

fn failures(config: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["failures"];
    all.extend_from_slice(args);
    let c = config.to_str().unwrap();
    all.extend_from_slice(&["-c", c]);
    let out = ruvuma(&all);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn what_is_given_up_on_is_dead_lettered_listed_and_replayed() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([Action::Status(RSYSERR), Action::Status(RSYSERR)]);
    let tmp = TempDir::new("retry");
    let port = free_port();
    let db = tmp.path().join("store.db");
    let top = format!(
        "store: {{sqlite: {{path: {}}}}}\nadmin: {{bind: \"127.0.0.1:{port}\"}}\n",
        db.display()
    );
    let yaml = config(&smsc, "{initial_delay: 0.2, max_attempts: 2}", "[doomed]", &top);
    let path = tmp.write("host.yaml", &yaml);
    let mut host = start(&tmp, &yaml);
    host.wait_for_log("mt_source nack \"doomed\": ESME_RSYSERR", WAIT);
    let log = host.log();
    assert!(log.contains("given up after 2 attempts"), "{log}");
    assert_eq!(contents(&smsc), ["doomed", "doomed"]);

    let mut listed = String::new();
    eventually("the dead letter is listed", WAIT, || {
        listed = failures(&path, &["list"]).1;
        listed.contains("doomed")
    });
    let letter: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(letter["component"], "sms");
    assert_eq!(letter["origin"], "sms.outbound");
    assert!(letter["reason"].as_str().unwrap().contains("ESME_RSYSERR"), "{letter}");
    let id = letter["failure_id"].as_str().unwrap().to_owned();

    let (ok, out, err) = failures(&path, &["replay", &id]);
    assert!(ok, "replay: {out}\n{err}");
    eventually("the replayed message is submitted again", WAIT, || {
        contents(&smsc).len() == 3
    });
    host.wait_for_log("mt_source ack \"doomed\"", WAIT);
    let (_, after, _) = failures(&path, &["list"]);
    assert!(!after.contains(&id), "a replayed failure is forgotten: {after}");
    let (ok, out, err) = failures(&path, &["replay", &id]);
    assert!(!ok && err.contains("no failure"), "{out}\n{err}");
}

#[test]
fn the_schedule_in_the_store_survives_a_kill_and_is_sent_after_the_restart() {
    let smsc = Smsc::start(SmscConfig::default());
    smsc.script([Action::Status(RSYSERR)]);
    let tmp = TempDir::new("retry");
    let db = tmp.path().join("store.db");
    let top = format!("store: {{sqlite: {{path: {}}}}}\n", db.display());
    let retry = "{initial_delay: 2s, max_attempts: 3}";
    let mut host = start(&tmp, &config(&smsc, retry, "[later]", &top));
    host.wait_for_log("attempt 2 in", WAIT);
    eventually("the retry is kept in the store", WAIT, || {
        sqlite(&db, "SELECT COUNT(*) FROM retries WHERE transport = 'sms'") == "1"
    });
    host.kill();
    assert_eq!(contents(&smsc), ["later"]);
    let again = start(&tmp, &config(&smsc, retry, "[]", &top));
    eventually("the retry is sent after the restart", WAIT, || {
        contents(&smsc).len() == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        contents(&smsc),
        ["later", "later"],
        "sent once more, not twice:\n{}",
        again.log()
    );
    eventually("a sent retry leaves the store", WAIT, || {
        sqlite(&db, "SELECT COUNT(*) FROM retries") == "0"
    });
}

#[test]
fn two_hosts_sharing_a_store_send_each_retry_once_and_keep_counting_attempts() {
    use ruvuma_tests::stores::{TestStore, POSTGRES};
    const MESSAGES: u64 = 20;
    let smsc = Smsc::start(SmscConfig::default());
    // Every first attempt and every retry is refused: with max_attempts 2 each message is sent
    // twice and then given up on, whichever host sent its retry. A retry sent by both hosts, or
    // a count of attempts that started again in the other host, would send more (and those
    // would be accepted: the script ends).
    smsc.script(std::iter::repeat_n(Action::Status(RSYSERR), 2 * MESSAGES as usize));
    let store = TestStore::postgres("retry2", POSTGRES);
    let sms = format!("sms_r{}", std::process::id());
    let transport = format!(
        "bus: {{amqp: {{url: \"amqp://guest:guest@127.0.0.1:5672/%2f\"}}}}\n{}\
         transports:\n  {sms}:\n    plugin: smpp\n    retry: {{initial_delay: 2s, max_attempts: 2}}\n    \
         config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret, reconnect_delay: 0.2}}\n",
        store.yaml(),
        smsc.port()
    );
    let with_app = format!(
        "{transport}applications:\n  app: {{plugin: mt_source, endpoint: {sms}, config: {{messages: [], count: {MESSAGES}}}}}\n"
    );
    let tmp = TempDir::new("retry2");
    let _b = start(&tmp, &transport);
    smsc.wait_for("the first host's bind", WAIT, |s| s.bound_sessions() == 1);
    let _a = start(&tmp, &with_app);
    eventually("every message given up on", WAIT, || {
        store.sql("SELECT COUNT(*) FROM failures") == MESSAGES.to_string()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smsc.submit_count(), 2 * MESSAGES, "each message sent twice, no more");
    let mut per: std::collections::BTreeMap<String, usize> = Default::default();
    for c in contents(&smsc) {
        *per.entry(c).or_default() += 1;
    }
    assert!(
        per.len() == MESSAGES as usize && per.values().all(|n| *n == 2),
        "{per:?}"
    );
    let reasons = store.sql("SELECT DISTINCT reason FROM failures");
    assert!(
        reasons
            .lines()
            .all(|r| r.contains("ESME_RSYSERR") && r.contains("given up after 2 attempts")),
        "{reasons}"
    );
    assert_eq!(
        store.sql("SELECT COUNT(*) FROM retries"),
        "0",
        "a sent retry leaves the store"
    );
}
