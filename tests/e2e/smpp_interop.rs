//! The `smpp` transport against an SMSC we did not write: the one built on the npm `smpp`
//! package (node-smpp), in tests/interop/node-smsc.

use ruvuma_tests::node_smsc::NodeSmsc;
use ruvuma_tests::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn binds_sends_with_receipt_and_takes_mo_from_node_smpp() {
    let mut smsc = NodeSmsc::start("interop", "pw");
    let tmp = TempDir::new("smpp-interop");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let yaml = format!(
        "transports:\n  sms:\n    plugin: smpp\n    concurrency: 1\n    config: {{host: 127.0.0.1, port: {}, system_id: interop, \
         password: \"${{SMPP_TEST_PASSWORD}}\", system_type: ruvuma}}\n\
         applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{messages: [\"hello interop\", \"€ and {{braces}}\"], from: \"1234\", to: \"27820001111\"}}}}\n",
        smsc.port
    );
    let mut host = Host::start_with_env(
        &yaml,
        &["--plugin-dir", plugins.to_str().unwrap()],
        &[("SMPP_TEST_PASSWORD", "pw")],
    );

    let bind = smsc.wait_event("bind", WAIT, |v| v["event"] == "bind");
    assert_eq!(bind["kind"], "transceiver");
    assert_eq!(bind["system_id"], "interop");
    assert_eq!(bind["interface_version"], 0x34);

    host.wait_for_log("mt_source ack \"hello interop\" id=1a2b3c", WAIT);
    host.wait_for_log("mt_source delivery_report \"hello interop\" delivered", WAIT);
    let submit = smsc.wait_event("first submit", WAIT, |v| {
        v["event"] == "submit" && v["message_id"] == "1a2b3c"
    });
    assert_eq!(submit["short_message_hex"], hex(b"hello interop"));
    assert_eq!(submit["source_addr"], "1234");
    assert_eq!(submit["destination_addr"], "27820001111");
    assert_eq!(submit["data_coding"], 0);
    assert_eq!(submit["registered_delivery"], 1);

    // GSM 03.38 with the extension table: € is ESC 0x65, { is ESC 0x28, } is ESC 0x29.
    host.wait_for_log("mt_source delivery_report \"€ and {braces}\" delivered", WAIT);
    let second = smsc.wait_event("second submit", WAIT, |v| {
        v["event"] == "submit" && v["message_id"] == "1a2b3d"
    });
    let mut gsm = vec![0x1b, 0x65];
    gsm.extend_from_slice(b" and ");
    gsm.extend_from_slice(&[0x1b, 0x28]);
    gsm.extend_from_slice(b"braces");
    gsm.extend_from_slice(&[0x1b, 0x29]);
    assert_eq!(second["short_message_hex"], hex(&gsm));

    smsc.command(json!({"cmd": "mo", "from": "27820001111", "to": "1234", "text": "hello from node"}));
    host.wait_for_log("mt_source got \"hello from node\" from 27820001111 to 1234", WAIT);
    smsc.wait_event("MO answered", WAIT, |v| v["event"] == "mo_resp" && v["status"] == 0);

    smsc.command(json!({"cmd": "mo_ucs2", "from": "27820001111", "to": "1234", "text": "Привет"}));
    host.wait_for_log("mt_source got \"Привет\" from 27820001111 to 1234", WAIT);

    host.signal("TERM");
    assert!(host.wait(WAIT).success(), "{}", host.log());
    smsc.wait_event("unbind on shutdown", WAIT, |v| v["event"] == "unbind");
}
