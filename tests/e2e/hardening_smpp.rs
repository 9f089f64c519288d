//! The `smpp` transport against hostile config values and a hostile SMSC
//! (tests/support/hostile_smsc.rs): each abuse is held to a bound (memory from /proc, counts,
//! whether other traffic kept flowing), never to a time. Figures: tests/HARDENING-SMPP.md.

use ruvuma_tests::*;

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
