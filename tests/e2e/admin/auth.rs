//! Credentials on every route.

use super::*;

fn assert_refused(reply: &Reply, scheme: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    let challenge = reply
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: a 401 without WWW-Authenticate: {:?}", reply.headers));
    assert!(
        challenge.starts_with(scheme),
        "{what}: WWW-Authenticate {challenge:?} names the {scheme} scheme"
    );
}

/// Every route, and unknown paths, without, with wrong and with the right credentials.
fn every_route_asks(port: u16, scheme: &str, right: &str, wrongs: &[String]) {
    let mut asked = routes();
    asked.push(("GET", "/no/such/page".into()));
    asked.push(("POST", "/api/no-such-call".into()));
    for (method, path) in &asked {
        let body = (*method != "GET").then_some(BROKEN);
        let what = format!("{method} {path}");
        assert_refused(
            &call(port, method, path, None, body),
            scheme,
            &format!("{what} without credentials"),
        );
        for wrong in wrongs {
            assert_refused(
                &call(port, method, path, Some(wrong), body),
                scheme,
                &format!("{what} with {wrong:?}"),
            );
        }
        let allowed = call(port, method, path, Some(right), body);
        assert_ne!(
            allowed.status, 401,
            "{what} with the right credentials: {}",
            allowed.body
        );
        assert!(
            allowed.header("www-authenticate").is_none(),
            "{what} with the right credentials asks again"
        );
    }
    // The right credentials reach the real answers.
    let health = call(port, "GET", "/health", Some(right), None);
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json("/health")["status"], "ok");
    let unknown = call(port, "GET", "/no/such/page", Some(right), None);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[test]
fn every_route_asks_for_basic_credentials_and_the_password_stays_out_of_the_log() {
    const USER: &str = "ops";
    const PASSWORD: &str = "pw-Zq8xK3vR2m-admin";
    let (admin, telnet) = (free_port(), free_port());
    let top = format!(
        "admin:\n  bind: \"127.0.0.1:{admin}\"\n  auth: {{username: \"${{ADMIN_USER}}\", password: \"${{ADMIN_PASSWORD}}\"}}\n"
    );
    let yaml = telnet_yaml("auth-basic", telnet, "echo", &top);
    let (host, _tmp) = start(
        "admin-basic",
        &yaml,
        &[
            ("ADMIN_USER", USER),
            ("ADMIN_PASSWORD", PASSWORD),
            ("RUST_LOG", "debug"),
        ],
    );
    let wrongs = [
        basic(USER, "pw-Zq8xK3vR2m-admiN"),
        basic("root", PASSWORD),
        basic(USER, ""),
        format!("Bearer {PASSWORD}"),
        format!("Basic {}", base64(PASSWORD.as_bytes())),
        "Basic !!not-base64!!".to_owned(),
    ];
    every_route_asks(admin, "Basic", &basic(USER, PASSWORD), &wrongs);
    let log = host.log();
    assert!(log.contains("admin: serving http://"), "the host logged at all:\n{log}");
    assert!(
        !log.contains(PASSWORD),
        "the admin password reaches the host's stderr:\n{log}"
    );
}

#[test]
fn every_route_asks_for_the_bearer_token() {
    const TOKEN: &str = "tok-7Hc2Wq9LmN4p";
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin:\n  bind: \"127.0.0.1:{admin}\"\n  auth: {{token: \"${{ADMIN_TOKEN}}\"}}\n");
    let yaml = telnet_yaml("auth-token", telnet, "echo", &top);
    let (host, _tmp) = start("admin-token", &yaml, &[("ADMIN_TOKEN", TOKEN)]);
    let wrongs = [
        "Bearer tok-7Hc2Wq9LmN4".to_owned(),
        "Bearer tok-7Hc2Wq9LmN4pX".to_owned(),
        format!("Token {TOKEN}"),
        format!("bearer{TOKEN}"),
        basic("ops", TOKEN),
        "Bearer ".to_owned(),
    ];
    every_route_asks(admin, "Bearer", &format!("Bearer {TOKEN}"), &wrongs);
    assert!(!host.log().contains(TOKEN), "the token reaches the host's stderr");
}

#[test]
fn an_admin_server_on_a_public_address_without_auth_is_refused() {
    let tmp = TempDir::new("admin-public");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let top = format!("admin: {{bind: \"0.0.0.0:{}\"}}\n", free_port());
    let config = tmp.write("config.yaml", &telnet_yaml("public", free_port(), "echo", &top));
    let (code, out, err) = validate_with(&config, &plugins);
    assert_ne!(code, Some(0), "validate accepts it:\n{out}\n{err}");
    let said = format!("{out}\n{err}");
    assert!(said.contains("admin.auth"), "the refusal names admin.auth:\n{said}");
    assert!(said.contains("0.0.0.0"), "the refusal names the address:\n{said}");
    // On loopback the same config is fine.
    let top = format!("admin: {{bind: \"127.0.0.1:{}\"}}\n", free_port());
    let config = tmp.write("loopback.yaml", &telnet_yaml("local", free_port(), "echo", &top));
    let (code, out, err) = validate_with(&config, &plugins);
    assert_eq!(
        code,
        Some(0),
        "a loopback admin without auth is accepted:\n{out}\n{err}"
    );
}
