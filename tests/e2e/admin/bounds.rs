//! Bounds on what a client may send: long paths, big bodies, idle connections.

use super::*;

#[test]
fn long_paths_big_bodies_and_idle_connections_do_not_stop_the_server() {
    const TOKEN: &str = "bounds-tok-5xY";
    let bearer = format!("Bearer {TOKEN}");
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin:\n  bind: \"127.0.0.1:{admin}\"\n  auth: {{token: \"${{ADMIN_TOKEN}}\"}}\n");
    let (_host, _tmp) = start(
        "admin-bounds",
        &telnet_yaml("bounds", telnet, "echo", &top),
        &[("ADMIN_TOKEN", TOKEN)],
    );
    let healthy = || {
        let r = call(admin, "GET", "/health", Some(&bearer), None);
        assert_eq!(r.status, 200, "{}", r.body);
    };

    // A 200 KB path.
    let long = format!("/{}", "a".repeat(200 * 1024));
    let head = format!("GET {long} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {bearer}\r\nConnection: close");
    let (status, answer) = raw(admin, &head, Vec::new());
    let status = status.unwrap_or_else(|| panic!("no HTTP answer to a 200 KB path: {}", short(&answer)));
    assert_eq!(status, 414, "a 200 KB path: {}", short(&answer));
    assert!(
        answer.len() < 4096,
        "the answer does not echo the path: {} bytes",
        answer.len()
    );
    healthy();

    // A 2 MB body, announced and sent.
    let body = vec![b'#'; 2 * 1024 * 1024];
    for (method, path) in [("PUT", "/api/config"), ("POST", "/api/config/validate")] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {bearer}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close",
            body.len()
        );
        let (status, answer) = raw(admin, &head, body.clone());
        assert_eq!(status, Some(413), "{method} {path} with 2 MB: {}", short(&answer));
        healthy();
    }

    // 300 idle connections at once.
    let idle: Vec<TcpStream> = (0..300)
        .map(|i| TcpStream::connect(("127.0.0.1", admin)).unwrap_or_else(|e| panic!("idle connection {i}: {e}")))
        .collect();
    for s in &idle {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let closed = |streams: &[TcpStream]| {
        streams
            .iter()
            .filter(|s| {
                let mut reader: &TcpStream = s;
                let mut b = [0u8; 1];
                match reader.read(&mut b) {
                    Ok(n) => n == 0,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                }
            })
            .count()
    };
    eventually("the server closes the connections over its cap", WAIT, || {
        closed(&idle) >= 300 - 256
    });
    drop(idle);
    let deadline = Instant::now() + WAIT;
    let answered = loop {
        match try_call(admin, "GET", "/health", Some(&bearer), None) {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no answer after the idle connections closed: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(answered.status, 200, "{}", answered.body);
    let unauthorised = call(admin, "GET", "/health", None, None);
    assert_eq!(unauthorised.status, 401);
}
