//! Dead letters in the store, the memory ring and on RabbitMQ: listed, replayed, purged.

use super::*;

fn failures(admin: u16) -> Vec<Value> {
    let reply = get(admin, "/api/failures");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json("/api/failures")["failures"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no failures list: {}", reply.body))
}

fn failures_until(admin: u16, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = failures(admin);
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}: {list:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where dead letters are kept in [`failures_listed_replayed_and_purged`].
#[derive(PartialEq)]
enum Kept {
    Store,
    Ring,
    /// RabbitMQ's `<endpoint>.failures` queues, with no store.
    Broker,
}

fn failures_listed_replayed_and_purged(tag: &str, kept: Kept) {
    let (admin, telnet) = (free_port(), free_port());
    let store_dir = TempDir::new(tag);
    let store = match kept {
        Kept::Store => format!(
            "store: {{sqlite: {{path: \"{}\"}}}}\n",
            store_dir.path().join("store.db").display()
        ),
        Kept::Ring => String::new(),
        Kept::Broker => "bus: {amqp: {url: \"amqp://guest:guest@127.0.0.1:5672/%2f\"}}\n".into(),
    };
    let top = format!("{store}admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let mut yaml = telnet_yaml(tag, telnet, "panicky", &top);
    // On the shared broker, queues of this run's own.
    let (transport, ep) = match kept {
        Kept::Broker => {
            let id = std::process::id();
            let (t, e) = (format!("tel_f{id}"), format!("ep_f{id}"));
            yaml = yaml
                .replace("  telnet: {", &format!("  {t}: {{"))
                .replace("[telnet]", &format!("[{t}]"))
                .replace("{telnet: app_ep}", &format!("{{{t}: {e}}}"))
                .replace("app_ep", &e)
                .replace("  main:", &format!("  main_f{id}:"));
            (t, e)
        }
        _ => ("telnet".to_owned(), "app_ep".to_owned()),
    };
    let (mut host, _tmp) = start(tag, &yaml, &[]);
    assert!(failures(admin).is_empty(), "no failure before any message");
    let mut user = Telnet::connect(telnet);
    user.send("fine");
    assert_eq!(user.read_line().expect("echo"), "fine");
    user.send("panic");
    host.wait_for_log("panicked: asked to panic by message", WAIT);

    let list = failures_until(admin, "the failure is listed", |l| !l.is_empty());
    assert_eq!(list.len(), 1, "{list:?}");
    let first = &list[0];
    // Listed under the application's name; kept on RabbitMQ on `<endpoint>.failures`.
    assert_eq!(first["component"], "app", "{first}");
    assert_eq!(first["origin"], format!("{ep}.inbound"), "{first}");
    let reason = first["reason"].as_str().unwrap_or("");
    assert!(reason.contains("asked to panic"), "{first}");
    let message_id = first["message_id"].as_str().unwrap_or("").to_owned();
    assert!(
        message_id.len() == 32 && message_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{first}"
    );
    assert!(reason.contains(&message_id), "the reason is the panic's: {first}");
    assert_eq!(first["message"]["content"], "panic", "{first}");
    let id = first["failure_id"].as_str().expect("failure_id").to_owned();
    let metrics = get(admin, "/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ruvuma_failures_total{component=\"app\"") && l.ends_with(" 1")),
        "the failure is counted under the application's name:\n{metrics}"
    );
    let mine = get(admin, "/api/failures?component=app").json("filtered");
    assert_eq!(mine["failures"][0]["failure_id"], id.as_str(), "{mine}");
    let others = get(admin, &format!("/api/failures?component={transport}")).json("filtered");
    assert_eq!(others["failures"], serde_json::json!([]), "{others}");
    let one = get(admin, &format!("/api/failures/{id}"));
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json("failure")["message_id"], message_id.as_str());
    let page = get(admin, "/failures");
    assert!(page.body.contains(&id), "the failures page lists {id}:\n{}", page.body);

    let replayed = call(admin, "POST", &format!("/api/failures/{id}/replay"), None, None);
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    let replayed = replayed.json("replay");
    assert_eq!(replayed["replayed"], id.as_str());
    assert_eq!(replayed["on"], format!("{ep}.inbound"));
    assert_eq!(replayed["message_id"], message_id.as_str());
    // The application gets it again, panics again, and a new failure of the same message appears.
    let list = failures_until(admin, "the replayed message fails again", |l| {
        l.iter()
            .any(|f| f["message_id"] == message_id.as_str() && f["failure_id"] != id.as_str())
    });
    assert!(
        list.iter().all(|f| f["failure_id"] != id.as_str()),
        "the replayed failure is gone: {list:?}"
    );
    assert_eq!(list.len(), 1, "{list:?}");
    let gone = get(admin, &format!("/api/failures/{id}"));
    assert_eq!(gone.status, 404, "{}", gone.body);
    let again = call(admin, "POST", &format!("/api/failures/{id}/replay"), None, None);
    assert_eq!(again.status, 404, "a failure replays once: {}", again.body);
    assert_eq!(
        host.log().matches("panicky got \"panic\"").count(),
        2,
        "the application handled the message twice"
    );

    user.send("panic");
    failures_until(admin, "a second failure", |l| l.len() == 2);
    let purged = call(admin, "POST", "/api/failures/purge", None, None);
    assert_eq!(purged.status, 200, "{}", purged.body);
    assert_eq!(purged.json("purge")["purged"], 2, "{}", purged.body);
    assert!(failures(admin).is_empty(), "purged");
    user.send("still fine");
    assert_eq!(user.read_line().expect("echo"), "still fine");
}

#[test]
fn failures_in_the_store_are_listed_replayed_and_purged() {
    failures_listed_replayed_and_purged("failures-store", Kept::Store);
}

#[test]
fn failures_in_the_memory_ring_are_listed_replayed_and_purged() {
    failures_listed_replayed_and_purged("failures-ring", Kept::Ring);
}

#[test]
fn failures_on_rabbitmq_without_a_store_are_listed_replayed_and_purged() {
    failures_listed_replayed_and_purged("failures-broker", Kept::Broker);
}
