//! The telnet transport against hostile peers and hostile config: each test asserts a bound
//! (replies received, memory, log lines), never a time.

use ruvuma_tests::hostile::small_window_connection;
use ruvuma_tests::procfs::{mb, peak_rss};
use ruvuma_tests::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn a_client_that_never_reads_costs_only_its_own_connection() {
    let yaml = telnet_config(0, "    plugin: echo").replace("127.0.0.1:0", "127.0.0.1:{port}");
    let (host, port, _tmp) = start_on_port("nonreader", &yaml);
    // 10 MB of echoes to a client that reads none: more than any socket buffer holds.
    let mut lazy = small_window_connection(port);
    let line = format!("{}\r\n", "z".repeat(4000));
    let flood = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < 2500 && lazy.write_all(line.as_bytes()).is_ok() {
            sent += 1;
        }
        (lazy, sent)
    });
    let (_lazy, sent) = flood.join().expect("flood");
    let mut user = Telnet::connect(port);
    let mut answered = 0;
    for i in 0..20 {
        user.send(&format!("line {i}"));
        match user.read_line() {
            Ok(reply) if reply == format!("line {i}") => answered += 1,
            Ok(other) => panic!("line {i} got {other:?}"),
            Err(e) => panic!("line {i}: {e} (after {answered} answered)\n{}", host.log()),
        }
    }
    let peak = peak_rss(host.pid());
    println!(
        "a client that never reads ({sent} lines sent): peak RSS {} MB",
        mb(peak)
    );
    assert_eq!(answered, 20);
    assert!(peak < 100 * 1024 * 1024, "peak RSS {} MB", mb(peak));
    assert!(
        host.log().contains("is not reading"),
        "the lazy client was closed:\n{}",
        host.log()
    );
}

#[test]
fn out_of_file_descriptors_the_accept_loop_backs_off_and_says_so_briefly() {
    let tmp = TempDir::new("acceptfail");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let yaml = telnet_config(port, "    plugin: echo");
    let host = Host::start_with_fd_limit(&yaml, &["--plugin-dir", plugins.to_str().unwrap()], 128);
    // Until the listen backlog is full too: a connect that is not answered ends the flood.
    let held: Vec<TcpStream> = (0..300)
        .map_while(|_| TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok())
        .collect();
    assert!(held.len() > 128, "only {} connections opened", held.len());
    // The backlog keeps the listener ready while every accept fails; stay there a while.
    std::thread::sleep(Duration::from_secs(3));
    let log = host.log();
    let accept_warnings = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("accept"))
        .count();
    println!(
        "{} connections at 128 open files: {accept_warnings} accept warnings, peak RSS {} MB",
        held.len(),
        mb(peak_rss(host.pid()))
    );
    assert!(
        (1..20).contains(&accept_warnings),
        "{accept_warnings} warnings about accept:\n{}",
        log.chars().take(4000).collect::<String>()
    );
    drop(held);
    let mut user = Telnet::connect(port);
    user.send("still here");
    assert_eq!(user.read_line(), Ok("still here".to_owned()));
}

#[test]
fn max_line_is_exact() {
    let yaml = telnet_config(0, "    plugin: echo").replace("127.0.0.1:0", "127.0.0.1:{port}");
    let (_host, port, _tmp) = start_on_port("maxline", &yaml);
    let mut user = Telnet::connect(port);
    let full = "x".repeat(4096);
    user.send(&full);
    assert_eq!(user.read_line().map(|l| l.len()), Ok(4096));
    user.send(&format!("{full}y"));
    assert_eq!(
        user.read_line().map(|l| l.len()),
        Ok(4096),
        "4097 bytes are cut at 4096"
    );
    assert_eq!(user.read_line(), Ok("y".to_owned()), "the rest is the next line");
}

#[test]
fn every_number_in_the_telnet_config_has_a_range() {
    let tmp = TempDir::new("tvalidate");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let yaml = "transports:\n  telnet:\n    plugin: telnet\n    config: {max_line: 18446744073709551615, \
        max_connections: 0, queue: 0, write_timeout_ms: 18446744073709551615}\n\
        applications:\n  app: {plugin: echo, endpoint: telnet}\n";
    let (code, _, stderr) = validate_with(&tmp.write("config.yaml", yaml), &plugins);
    assert_eq!(code, Some(1), "{stderr}");
    for (key, range) in [
        ("max_line", "1..=65536"),
        ("max_connections", "1..=100000"),
        ("queue", "1..=10000"),
        ("write_timeout_ms", "100..=600000"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("\"{key}\"")))
            .unwrap_or_default();
        assert!(line.contains(&format!("is outside {range}")), "{key}:\n{stderr}");
    }
}

/// A user who stops reading while the host has megabytes of replies for them: another user's
/// 2,000 lines, sent all at once without reading, still come back, each in its place; then the
/// first user reads again and gets every one of theirs, in order. Both connections' writers
/// gather what is queued into one write, so this is also the order of replies across batches.
#[test]
fn pipelined_replies_come_back_in_order_and_a_stalled_reader_holds_up_no_one() {
    let yaml = telnet_config(0, "    plugin: echo").replace(
        "{bind: \"127.0.0.1:0\"}",
        "{bind: \"127.0.0.1:{port}\", queue: 10000, write_timeout_ms: 60000}",
    );
    let (host, port, _tmp) = start_on_port("pipelined", &yaml);
    // 10 MB of replies owed to a user who reads none: more than any socket buffer holds, less
    // than the queue, so they wait on a writer that cannot write.
    let stalled = small_window_connection(port);
    let padding = "s".repeat(4000);
    let stalled_lines = 2500;
    let mut flood = stalled.try_clone().expect("clone");
    let mut bytes = Vec::new();
    for i in 0..stalled_lines {
        bytes.extend_from_slice(format!("{i} {padding}\r\n").as_bytes());
    }
    flood.write_all(&bytes).expect("the stalled user's lines");

    let mut user = Telnet::connect(port);
    let lines: String = (0..2000).map(|i| format!("pipelined {i}\r\n")).collect();
    user.send(lines.trim_end());
    for i in 0..2000 {
        match user.read_line() {
            Ok(reply) => assert_eq!(reply, format!("pipelined {i}"), "reply {i}"),
            Err(e) => panic!("reply {i}: {e}\n{}", host.log()),
        }
    }

    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut replies = BufReader::new(stalled);
    let mut line = String::new();
    for i in 0..stalled_lines {
        line.clear();
        match replies.read_line(&mut line) {
            Ok(n) if n > 0 => assert!(
                line == format!("{i} {padding}\n"),
                "the stalled user's reply {i} is {:?}...",
                &line[..line.len().min(40)]
            ),
            other => panic!("the stalled user's reply {i}: {other:?}\n{}", host.log()),
        }
    }
    assert!(
        !host.log().contains("is not reading"),
        "nobody was closed:\n{}",
        host.log()
    );
}
