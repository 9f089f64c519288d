//! The system alias on every answer and page.

use super::*;

#[test]
fn every_answer_and_page_carries_the_system_alias() {
    const ALIAS: &str = "ops-e2e";
    let (admin, telnet) = (free_port(), free_port());
    let tmp_store = TempDir::new("alias-store");
    let db = tmp_store.path().join("store.db");
    let top = format!(
        "store: {{sqlite: {{path: \"{}\"}}}}\nadmin: {{bind: \"127.0.0.1:{admin}\"}}\n",
        db.display()
    );
    let (_host, _tmp) = start("admin-alias", &telnet_yaml(ALIAS, telnet, "echo", &top), &[]);
    let mut user = Telnet::connect(telnet);
    user.send("hello");
    assert_eq!(user.read_line().expect("echo"), "hello");

    let heading = format!("<h1 id=\"alias\">{ALIAS}</h1>");
    let mut asked = routes();
    asked.push(("GET", "/api/no-such-call".into()));
    let (mut json_answers, mut pages) = (0, 0);
    for (method, path) in &asked {
        let is_api = path.starts_with("/api/") || path == "/health" || path == "/ready";
        let reply = match *method {
            "GET" => get(admin, path),
            "POST" if !is_api && path != "/metrics" => post_form(admin, path, &[("text", BROKEN)]),
            _ => call(admin, method, path, None, Some(BROKEN)),
        };
        let what = format!("{method} {path} ({})", reply.status);
        let content_type = reply.header("content-type").unwrap_or("").to_owned();
        if is_api {
            assert!(
                content_type.starts_with("application/json"),
                "{what}: content-type {content_type:?}: {}",
                reply.body
            );
            assert_eq!(reply.json(&what)["system_alias"], ALIAS, "{what}: {}", reply.body);
            json_answers += 1;
        } else if path == "/metrics" {
            assert!(
                reply
                    .body
                    .contains(&format!("ruvuma_build_info{{version=\"{}\"", env!("CARGO_PKG_VERSION")))
                    && reply.body.contains(&format!("system_alias=\"{ALIAS}\"")),
                "{what}: the alias is a label of ruvuma_build_info:\n{}",
                reply.body
            );
        } else if *method == "GET" {
            assert!(
                content_type.starts_with("text/html"),
                "{what}: a page is HTML, not {content_type:?}: {}",
                reply.body
            );
            assert!(reply.body.contains(&heading), "{what}: no {heading}:\n{}", reply.body);
            pages += 1;
        } else if (300..400).contains(&reply.status) {
            let to = reply.header("location").unwrap_or("");
            assert!(to.starts_with('/'), "{what}: a form post leads back to a page: {to:?}");
        } else {
            assert!(
                content_type.starts_with("text/html"),
                "{what}: a form post answers a page, not {content_type:?}: {}",
                reply.body
            );
            assert!(reply.body.contains(&heading), "{what}: no {heading}:\n{}", reply.body);
            pages += 1;
        }
    }
    assert!(json_answers >= 17, "{json_answers} JSON answers checked");
    assert!(pages >= 9, "{pages} pages checked");
}
