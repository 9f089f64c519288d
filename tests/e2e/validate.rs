use ruvuma_tests::*;

fn validate(tmp: &TempDir, name: &str, yaml: &str) -> (Option<i32>, String, String) {
    validate_with(&tmp.write(name, yaml), &plugin_dir(tmp, ALL_PLUGINS))
}

#[test]
fn a_good_config_gets_a_one_line_summary() {
    let tmp = TempDir::new("good");
    let (code, stdout, stderr) = validate(&tmp, "good.yaml", &telnet_config(9999, "    plugin: echo"));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("good.yaml is valid: 1 transport, 1 application, 1 dispatcher"),
        "{stdout}"
    );
}

#[test]
fn every_problem_is_listed_with_component_key_and_line() {
    let tmp = TempDir::new("bad");
    let yaml = r#"transports:
  telnet:
    plugin: telnet
    config:
      bind: "nowhere"
  sms:
    plugin: smpp_from_nowhere
  orphan:
    plugin: telnet
    config: {bind: "127.0.0.1:1"}
applications:
  echo:
    plugin: echo
    endpoint: telnet
  lonely:
    plugin: echo
    endpoint: lonely_ep
  twin:
    plugin: echo
    endpoint: lonely_ep
  slow:
    plugin: slow_echo
    endpoint: slow_ep
    config: {delay: 5}
dispatchers:
  main:
    router_class: simple
    transport_names: [telnet, ghost_transport]
    exposed_names: [slow_ep, ghost_app]
    route_mappings:
      telnet: slow_ep
      nowhere: slow_ep
"#;
    let (code, _, stderr) = validate(&tmp, "bad.yaml", yaml);
    assert_eq!(code, Some(1), "{stderr}");
    let expect = [
        // a plugin's own config check
        "bad.yaml:5: transport \"telnet\": key \"bind\": \"nowhere\" is not an address",
        // unknown plugin component
        "bad.yaml:7: transport \"sms\": unknown transport plugin \"smpp_from_nowhere\"; known transports: http, loadgen, recorder, smpp, ssmi, telnet, xmpp",
        // duplicate names
        "application \"twin\" (endpoint \"lonely_ep\"): duplicate name \"lonely_ep\", already used by application \"lonely\"",
        // unknown endpoints in transport_names / exposed_names / route_mappings
        "dispatcher \"main\": key \"transport_names\": unknown endpoint \"ghost_transport\"",
        "dispatcher \"main\": key \"exposed_names\": unknown endpoint \"ghost_app\"",
        "bad.yaml:30: dispatcher \"main\": key \"route_mappings\": unknown endpoint \"nowhere\"",
        // endpoints nothing consumes
        "bad.yaml:8: transport \"orphan\": nothing consumes orphan.inbound",
        "application \"lonely\": nothing consumes lonely_ep.outbound",
        // a plugin config with a key it does not know
        "bad.yaml:24: application \"slow\": key \"delay\": unknown field `delay`, expected `delay_ms`",
        // an endpoint consumed twice
        "transport \"telnet\": dispatcher \"main\" and application \"echo\" all consume telnet.inbound",
    ];
    for e in expect {
        assert!(stderr.contains(e), "missing {e:?} in:\n{stderr}");
    }
    assert!(
        stderr.starts_with(&format!("{} problems found:", stderr.lines().count() - 1)),
        "{stderr}"
    );
}

#[test]
fn bad_yaml_names_file_and_line() {
    let tmp = TempDir::new("yaml");
    let (code, _, stderr) = validate(&tmp, "broken.yaml", "transports:\n  telnet:\n    plugin: [telnet\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    assert!(stderr.contains("bad YAML"), "{stderr}");
    let (code, _, stderr) = validate(
        &tmp,
        "types.yaml",
        "transports:\n  telnet:\n    plugin: telnet\n    instances: many\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("types.yaml:4: transport \"telnet\": key \"instances\""),
        "{stderr}"
    );
}

#[test]
fn unknown_and_missing_keys() {
    let tmp = TempDir::new("keys");
    let yaml = "colour: blue\ndispatchers:\n  d1:\n    transport_names: [a]\n";
    let (code, _, stderr) = validate(&tmp, "keys.yaml", yaml);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("keys.yaml:1: config: unknown key \"colour\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("dispatcher \"d1\": key \"router_class\" is missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dispatcher \"d1\": key \"exposed_names\" is missing"),
        "{stderr}"
    );
}

/// The dispatcher config of Vumi's documentation (seeds/000), exactly as printed there:
/// config/vumi-dispatcher.yaml is that example, and is checked against the seed document.
#[test]
fn the_vumi_dispatcher_config_validates_as_it_is() {
    let yaml = std::fs::read_to_string(built().root.join("config/vumi-dispatcher.yaml")).expect("committed copy");
    assert!(
        yaml.contains("router_class: vumi.dispatchers.SimpleDispatchRouter"),
        "{yaml}"
    );
    assert!(
        yaml.contains("smpp_transport: my_application"),
        "scalar route_mappings value: {yaml}"
    );
    let seed = built().root.join("../shared/seeds/000_7d8d019902b39ee0.txt");
    match std::fs::read_to_string(&seed) {
        Ok(doc) => {
            let start = doc.find("might look like::").expect("the example in the seed") + "might look like::".len();
            let end = doc[start..].find("The `router_class`").expect("end of the example") + start;
            let example: Vec<&str> = doc[start..end]
                .lines()
                .map(|l| l.strip_prefix("  ").unwrap_or(l))
                .collect();
            assert_eq!(
                yaml.trim(),
                example.join("\n").trim(),
                "config/vumi-dispatcher.yaml is the seed's example"
            );
        }
        // Under CI the seeds sit beside the clone; elsewhere the committed copy stands alone.
        Err(e) if std::env::var_os("CI").is_some() => panic!("{}: {e}", seed.display()),
        Err(e) => eprintln!("note: not comparing with the seed document {}: {e}", seed.display()),
    }

    let tmp = TempDir::new("vumi");
    let (code, stdout, stderr) = validate(&tmp, "vumi.yaml", &yaml);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("1 dispatcher"), "{stdout}");
    assert!(
        stdout.contains("endpoints expected on the bus from other processes: transports smpp_transport, xmpp_transport; applications my_application"),
        "{stdout}"
    );

    // On the memory bus there are no other processes: run says so instead of waiting forever.
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let cfg = tmp.write("run.yaml", &yaml);
    let out = ruvuma(&[
        "run",
        "-c",
        cfg.to_str().unwrap(),
        "--plugin-dir",
        plugins.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the memory bus cannot reach other processes"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_scalar_or_list_route_mapping_both_work() {
    let tmp = TempDir::new("scalar");
    let (code, _, stderr) = validate(
        &tmp,
        "list.yaml",
        &telnet_config(9999, "    plugin: echo").replace("{telnet: app_ep}", "{telnet: [app_ep]}"),
    );
    assert_eq!(code, Some(0), "{stderr}");
}

/// A router's unknown keys and wrong types are validation errors naming the dispatcher and key.
#[test]
fn router_config_errors_name_dispatcher_and_key() {
    let tmp = TempDir::new("routerkeys");
    let yaml = "transports:\n  telnet: {plugin: telnet}\napplications:\n  a: {plugin: echo, endpoint: a_ep}\n\
        dispatchers:\n  main:\n    router_class: vumi.dispatchers.ToAddrRouter\n    transport_names: [telnet]\n    \
        exposed_names: [a_ep]\n    toaddr_mapings: {a_ep: x}\n  second:\n    router_class: content_keyword\n    \
        transport_names: [telnet]\n    exposed_names: [a_ep]\n    rules: [{app: a_ep, keyword: hi, prefix: 27}]\n    \
        fallback_application: [a_ep]\n";
    let (code, _, stderr) = validate(&tmp, "routers.yaml", yaml);
    assert_eq!(code, Some(1), "{stderr}");
    for e in [
        "routers.yaml:10: dispatcher \"main\": key \"toaddr_mapings\": unknown field `toaddr_mapings`, expected one of",
        "routers.yaml:16: dispatcher \"second\": key \"fallback_application\": invalid type: sequence, expected a string",
        "transport \"telnet\": dispatcher \"main\" and dispatcher \"second\" all consume telnet.inbound",
    ] {
        assert!(stderr.contains(e), "missing {e:?} in:\n{stderr}");
    }
}

/// A Vumi worker's config with the keys every Vumi worker takes, a class named by its module
/// path, and a router's inherited keys: accepted, and the keys ruvuma does not use named once.
#[test]
fn vumi_worker_keys_are_accepted_and_named_in_the_summary() {
    let tmp = TempDir::new("vumi-keys");
    let config = tmp.write(
        "grouping.yaml",
        "router_class: vumi.dispatchers.base.UserGroupingRouter\ntransport_names: [sms]\nexposed_names: [app1, app2]\n\
         group_mappings: {group1: app1, group2: app2}\nroute_mappings: {sms: app1}\ntransport_mappings: {sms: sms}\n\
         amqp_prefetch_count: 20\nworker_name: grouping_dispatcher\nredis_manager: {key_prefix: grouping}\n",
    );
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let (code, stdout, stderr) = validate_with(&config, &plugins);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "Vumi keys taken and not used: grouping.amqp_prefetch_count, grouping.worker_name, grouping.redis_manager"
        ),
        "{stdout}"
    );
}
