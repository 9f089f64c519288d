//! The store in-process, on SQLite files in a temporary folder: statuses from events in any
//! order, the journal, lookups, paging, retention and the schema checks.

use super::query::{self, Cursor, Filter};
use super::*;
use crate::config::Retention;
use ruvuma_plugin_api::{vumi_json, DeliveryStatus, Event, Message, Payload};
use std::path::PathBuf;

fn temp_file(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ruvuma-store-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.db")
}

fn spec(path: &std::path::Path) -> StoreSpec {
    StoreSpec {
        backend: StoreBackend::Sqlite { path: path.into() },
        retention: Retention::default(),
        batch: None,
        batches: [("sms".to_owned(), "sms-batch".to_owned())].into(),
        buffer: 1000,
        journal: None,
    }
}

fn ep(name: &str) -> Arc<str> {
    name.into()
}

async fn keep(store: &Store, flow: Flow, endpoint: &str, payload: Payload) {
    store
        .record(flow, &ep(endpoint), &Kept::of(&payload), Timestamp::now())
        .await;
}

#[tokio::test]
async fn an_outbound_message_takes_its_status_from_its_events_in_any_order() {
    let path = temp_file("status");
    let store = Store::open(&spec(&path), true).unwrap();
    let early = Message::new("1234", "27820000001", Some("early"), "sms", "smpp");
    let late = Message::new("1234", "27820000002", Some("late"), "sms", "smpp");
    // A receipt before the ack, and for `early` both before the message itself (another
    // process kept the events first).
    keep(
        &store,
        Flow::Event,
        "sms",
        Event::delivery_report(&early, DeliveryStatus::Delivered).into(),
    )
    .await;
    keep(&store, Flow::Event, "sms", Event::ack(&early, "000ABC").into()).await;
    store.flush().await;
    keep(&store, Flow::Outbound, "sms", early.clone().into()).await;
    keep(&store, Flow::Outbound, "sms", late.clone().into()).await;
    keep(&store, Flow::Event, "sms", Event::ack(&late, "77").into()).await;
    keep(
        &store,
        Flow::Event,
        "sms",
        Event::delivery_report(&late, DeliveryStatus::Pending).into(),
    )
    .await;
    store.flush().await;
    let mut db = store.reader().unwrap();
    let found = query::get(db.as_mut(), &early.message_id).unwrap().expect("kept");
    assert_eq!(found.message.status, "delivered");
    assert_eq!(found.message.sent_message_id.as_deref(), Some("abc"));
    assert_eq!(found.message.batch.as_deref(), Some("sms-batch"));
    assert_eq!(found.events.len(), 2);
    let by_smsc_id = query::get(db.as_mut(), " 0000ABC")
        .unwrap()
        .expect("found by the SMSC's id");
    assert_eq!(by_smsc_id.message.message_id, early.message_id.as_str());
    let found = query::get(db.as_mut(), &late.message_id).unwrap().unwrap();
    assert_eq!(found.message.status, "pending");
    keep(
        &store,
        Flow::Event,
        "sms",
        Event::delivery_report(&late, DeliveryStatus::Failed).into(),
    )
    .await;
    keep(&store, Flow::Event, "sms", Event::ack(&late, "77").into()).await;
    store.flush().await;
    let found = query::get(db.as_mut(), &late.message_id).unwrap().unwrap();
    assert_eq!(
        found.message.status, "failed",
        "a late ack does not undo a final report"
    );
    assert_eq!(found.events.len(), 4);
    store.close().await;
}

#[tokio::test]
async fn a_relayed_message_is_kept_once_per_direction_and_tags_make_batches() {
    let path = temp_file("relay");
    let store = Store::open(&spec(&path), true).unwrap();
    let mut m = Message::new("27820000001", "1234", Some("hi"), "web", "http");
    m.helper_metadata.insert("tag", serde_json::json!(["pool", "t1"]));
    for _ in 0..2 {
        keep(&store, Flow::Inbound, "web", m.clone().into()).await;
        keep(&store, Flow::Outbound, "sms", m.clone().into()).await;
    }
    store.flush().await;
    let mut db = store.reader().unwrap();
    let found = query::get(db.as_mut(), &m.message_id).unwrap().unwrap();
    assert_eq!(found.message.direction, "out");
    assert_eq!(found.message.batch.as_deref(), Some("pool:t1"));
    assert_eq!(found.also.len(), 1);
    assert_eq!(found.also[0].direction, "in");
    assert_eq!(found.also[0].addr, "27820000001");
    let stats = query::stats(db.as_mut()).unwrap();
    assert_eq!(stats.messages.iter().map(|g| g.count).sum::<i64>(), 2);
    store.close().await;
}

fn seqs(entries: &[Entry]) -> Vec<i64> {
    entries.iter().map(|e| e.0).collect()
}

#[tokio::test]
async fn a_journal_entry_handled_within_a_batch_is_never_written_and_others_are_kept_until_forgotten() {
    let path = temp_file("journal");
    let store = Store::open(&spec(&path), true).unwrap();
    let key: Arc<str> = "app.inbound".into();
    let m: Payload = Message::new("a", "b", Some("x"), "t", "telnet").into();
    let m = Kept::of(&m);
    let kept = store.journal(&key, &m, true).await;
    kept.committed.unwrap().await.unwrap();
    let passing = store.journal(&key, &m, false).await;
    store.forget(passing.seq);
    let left = store.journal(&key, &m, false).await;
    store.close().await;
    assert!(path.with_extension("journal").is_dir(), "a folder beside the store");
    let store = Store::open(&spec(&path), true).unwrap();
    let found = store.take_recovered();
    assert_eq!(seqs(&found), [kept.seq, left.seq]);
    assert_eq!(found[0].1, "app.inbound");
    assert_eq!(found[0].2, m.body());
    store.forget(kept.seq);
    store.forget(left.seq);
    store.close().await;
    // Numbering goes on after a restart, above what the journal held.
    let store = Store::open(&spec(&path), true).unwrap();
    assert!(store.take_recovered().is_empty());
    assert!(store.journal(&key, &m, false).await.seq > left.seq);
    store.close().await;
}

#[tokio::test]
async fn an_older_journal_table_is_moved_into_the_journal_and_dropped() {
    let path = temp_file("legacy");
    let old = path.with_extension("journal.db");
    let db = rusqlite::Connection::open(&old).unwrap();
    db.execute_batch(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, routing_key TEXT NOT NULL, body TEXT NOT NULL);
         INSERT INTO journal VALUES (7, 'sms.outbound', '{\"a\":1}'), (9, 'app.inbound', '{\"b\":2}');",
    )
    .unwrap();
    drop(db);
    let store = Store::open(&spec(&path), true).unwrap();
    let found = store.take_recovered();
    let keys: Vec<&str> = found.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(keys, ["sms.outbound", "app.inbound"]);
    assert_eq!(found[1].2, "{\"b\":2}");
    assert!(!old.exists(), "the old journal is gone once moved");
    store.close().await;
    let store = Store::open(&spec(&path), true).unwrap();
    assert_eq!(store.take_recovered(), found, "kept in the new journal until handled");
    store.close().await;
}

#[tokio::test]
async fn without_the_memory_bus_no_journal_is_opened() {
    let path = temp_file("nojournal");
    let store = Store::open(&spec(&path), false).unwrap();
    store.flush().await;
    store.close().await;
    assert!(!path.with_extension("journal").exists());
}

#[tokio::test]
async fn pages_go_newest_first_without_gaps_or_repeats_and_filters_narrow_them() {
    let path = temp_file("pages");
    let store = Store::open(&spec(&path), true).unwrap();
    for i in 0..25 {
        let addr = format!("2782000000{}", i % 3);
        let m = Message::new(&addr, "1234", Some(&format!("m{i}")), "sms", "smpp");
        // One timestamp for several, so that the cursor's tie-break is used.
        let at = Timestamp::from_micros(1_000_000 + (i / 5) as i64);
        store.record(Flow::Inbound, &ep("sms"), &Kept::of(&m.into()), at).await;
    }
    store.flush().await;
    let mut db = store.reader().unwrap();
    let (mut seen, mut cursor) = (Vec::new(), None::<Cursor>);
    loop {
        let page = query::list(db.as_mut(), &Filter::default(), cursor.as_ref(), 10).unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(Cursor::after);
        seen.extend(page);
    }
    assert_eq!(seen.len(), 25);
    let mut ids: Vec<&str> = seen.iter().map(|s| s.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no repeats");
    assert!(
        seen.windows(2).all(|w| w[0].stored_at >= w[1].stored_at),
        "newest first"
    );
    let filter = Filter {
        addr: Some("27820000001".into()),
        ..Filter::default()
    };
    assert_eq!(query::list(db.as_mut(), &filter, None, 100).unwrap().len(), 8);
    let filter = Filter {
        since: Some(1_000_003),
        until: Some(1_000_004),
        ..Filter::default()
    };
    assert_eq!(query::list(db.as_mut(), &filter, None, 100).unwrap().len(), 5);
    let cursor = Cursor::parse(&Cursor::after(&seen[3]).to_string()).unwrap();
    assert_eq!(cursor, Cursor::after(&seen[3]));
    assert!(Cursor::parse("nonsense").is_err());
    store.close().await;
}

#[test]
fn retention_deletes_in_bounded_chunks_and_only_what_is_old() {
    let path = temp_file("retention");
    let mut db = connect(&StoreBackend::Sqlite { path: path.clone() }, true).unwrap();
    db.batch("BEGIN").unwrap();
    for i in 0..2500 {
        let id = format!("old{i}");
        db.execute(
            "INSERT INTO messages (message_id, direction, endpoint, addr, status, status_rank, stored_at, updated_at, body) \
             VALUES ($1, 'in', 'sms', 'a', 'received', 0, $2, $2, '{}')",
            &[db::Value::Text(&id), db::Value::Int(1)],
        )
        .unwrap();
    }
    db.execute(
        "INSERT INTO messages (message_id, direction, endpoint, addr, status, status_rank, stored_at, updated_at, body) \
         VALUES ('new', 'in', 'sms', 'a', 'received', 0, $1, $1, '{}')",
        &[db::Value::Int(Timestamp::now().micros())],
    )
    .unwrap();
    db.batch("COMMIT").unwrap();
    let mut sweeper = retention::Sweeper::new(&Retention {
        inbound: Some(std::time::Duration::from_secs(3600)),
        ..Retention::default()
    });
    let count = |db: &mut Box<dyn Db>| {
        let rows = db.query("SELECT COUNT(*) FROM messages", &[]).unwrap();
        rows[0][0].int().unwrap()
    };
    sweeper.run_due(db.as_mut(), Timestamp::now().micros()).unwrap();
    assert_eq!(count(&mut db), 2501 - retention::CHUNK, "one chunk per run");
    assert_eq!(
        sweeper.period(),
        std::time::Duration::ZERO,
        "a full chunk leaves the next one due"
    );
    sweeper.run_due(db.as_mut(), Timestamp::now().micros()).unwrap();
    sweeper.run_due(db.as_mut(), Timestamp::now().micros()).unwrap();
    assert_eq!(count(&mut db), 1, "the recent one stays");
    assert!(sweeper.period() > std::time::Duration::ZERO);
}

fn refused(path: &std::path::Path, create: bool) -> String {
    match connect(&StoreBackend::Sqlite { path: path.into() }, create) {
        Ok(_) => panic!("{} was taken as a store", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_that_is_not_a_ruvuma_store_or_is_newer_is_refused_by_name() {
    let path = temp_file("foreign");
    std::fs::write(
        &path,
        "plain text, not a database at all, long enough to look like a header.....",
    )
    .unwrap();
    let err = refused(&path, true);
    assert!(
        err.contains(&path.display().to_string()) && err.contains("not a database"),
        "{err}"
    );

    let other = path.with_file_name("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE customers (id INTEGER)").unwrap();
    drop(conn);
    let err = refused(&other, true);
    assert!(
        err.contains(&other.display().to_string()) && err.contains("not a ruvuma store") && err.contains("customers"),
        "{err}"
    );

    let newer = path.with_file_name("newer.db");
    drop(connect(&StoreBackend::Sqlite { path: newer.clone() }, true).unwrap());
    let conn = rusqlite::Connection::open(&newer).unwrap();
    conn.execute_batch("UPDATE ruvuma_store SET value = '99' WHERE name = 'schema_version'")
        .unwrap();
    drop(conn);
    let err = refused(&newer, true);
    assert!(err.contains("version 99") && err.contains("up to 3"), "{err}");

    let missing = path.with_file_name("missing.db");
    let err = refused(&missing, false);
    assert!(err.contains("missing.db") && err.contains("no such file"), "{err}");
}

#[tokio::test]
async fn a_version_1_store_is_migrated_with_its_events_kept() {
    let path = temp_file("v1");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE ruvuma_store (name TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO ruvuma_store VALUES ('schema_version', '1');",
    )
    .unwrap();
    conn.execute_batch(super::schema::MIGRATIONS[0].1).unwrap();
    let m = Message::new("1234", "27820000001", Some("old"), "sms", "smpp");
    let ack = Event::ack(&m, "77");
    let (body, ack_body) = (
        vumi_json::encode(&m.clone().into()),
        vumi_json::encode(&ack.clone().into()),
    );
    conn.execute(
        "INSERT INTO messages VALUES (?1, 'out', 'sms', '27820000001', NULL, 'acked', 1, '77', 5, 6, ?2)",
        rusqlite::params![m.message_id.as_str(), body],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO events VALUES (?1, ?2, 'ack', 'acked', 1, '77', 'sms', 6, ?3)",
        rusqlite::params![ack.event_id.as_str(), m.message_id.as_str(), ack_body],
    )
    .unwrap();
    drop(conn);
    let mut db = connect(&StoreBackend::Sqlite { path: path.clone() }, false).unwrap();
    let found = query::get(db.as_mut(), &m.message_id).unwrap().expect("kept");
    assert_eq!(found.events.len(), 1);
    assert_eq!(found.events[0].event_id, ack.event_id.as_str());
    let version = db.query("SELECT value FROM ruvuma_store", &[]).unwrap();
    assert_eq!(version[0][0].clone().into_text().as_deref(), Some("3"));
    let indexes = db
        .query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'",
            &[],
        )
        .unwrap();
    let names: Vec<String> = indexes.into_iter().filter_map(|mut r| r.pop()?.into_text()).collect();
    assert_eq!(names.len(), 2, "the key and events_stored: {names:?}");
    assert!(names.iter().any(|n| n == "events_stored"), "{names:?}");
}

#[test]
fn two_processes_never_claim_the_same_retry() {
    use super::retries::{claim_due, put, Scheduled};
    let path = temp_file("retries");
    let backend = StoreBackend::Sqlite { path: path.clone() };
    let mut db = connect(&backend, true).unwrap();
    for i in 0..200 {
        let row = Scheduled {
            message_id: format!("m{i}"),
            transport: "sms".into(),
            attempts: 1,
            first_at: 0,
            due_at: 10,
            reason: "ESME_RSYSERR".into(),
            body: "{}".into(),
        };
        put(db.as_mut(), &row).unwrap();
    }
    let claimers: Vec<_> = (0..2)
        .map(|_| {
            let backend = backend.clone();
            std::thread::spawn(move || {
                let mut db = connect(&backend, false).unwrap();
                let mut mine = Vec::new();
                loop {
                    let got = claim_due(db.as_mut(), "sms", 100, 1_000_000, 7).unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|r| r.message_id));
                }
            })
        })
        .collect();
    let claimed: Vec<Vec<String>> = claimers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut all: Vec<&String> = claimed.iter().flatten().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        (total, all.len()),
        (200, 200),
        "each retry claimed once, by one of the two"
    );
    let later = claim_due(db.as_mut(), "sms", 100 + 1_000_000, 1_000_000, 500).unwrap();
    assert_eq!(
        later.len(),
        200,
        "a claim that ran out lets another process take the retry"
    );
}

#[tokio::test]
async fn counts_for_an_endpoint_take_its_messages_addresses_and_events_only() {
    let path = temp_file("counts");
    let store = Store::open(&spec(&path), true).unwrap();
    for (from, content) in [("a", "1"), ("a", "2"), ("b", "3")] {
        let m = Message::new(from, "*120#", Some(content), "web", "http");
        keep(&store, Flow::Inbound, "web", m.into()).await;
    }
    let other = Message::new("c", "*120#", Some("elsewhere"), "sms", "smpp");
    keep(&store, Flow::Inbound, "sms", other.into()).await;
    let out = Message::new("web", "a", Some("reply"), "web", "http");
    keep(&store, Flow::Outbound, "web", out.clone().into()).await;
    keep(&store, Flow::Event, "web", Event::ack(&out, "x1").into()).await;
    let report = Event::delivery_report(&out, DeliveryStatus::Delivered);
    keep(&store, Flow::Event, "web", report.into()).await;
    store.flush().await;
    let counts = store.counts("web", 0).await.unwrap();
    assert_eq!(counts["inbound"], 3, "{counts}");
    assert_eq!(counts["inbound_uniques"], 2, "{counts}");
    assert_eq!(counts["outbound"], 1, "{counts}");
    assert_eq!(counts["outbound_uniques"], 1, "{counts}");
    assert_eq!(counts["events"]["acked"], 1, "{counts}");
    assert_eq!(counts["events"]["delivered"], 1, "{counts}");
    let future = Timestamp::now().micros() + 60_000_000;
    let later = store.counts("web", future).await.unwrap();
    assert_eq!(later["inbound"], 0, "nothing stored after `since`: {later}");
    store.close().await;
}
