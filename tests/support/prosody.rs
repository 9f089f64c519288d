//! A real Prosody XMPP server (the system's `prosody`) on loopback, for the XMPP tests: one
//! virtual host `localhost`, plaintext c2s allowed (STARTTLS offered with a certificate signed by
//! a test CA), accounts made with `prosodyctl`, no s2s, no HTTP, no rate limits.

use crate::{free_port, TempDir};
use std::fs::File;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long Prosody gets to start, and to stop after SIGTERM before it is killed.
const START_LIMIT: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// A running Prosody; killed when dropped.
pub struct Prosody {
    /// The c2s port, on 127.0.0.1.
    pub port: u16,
    /// The one virtual host: `localhost`.
    pub domain: String,
    dir: TempDir,
    child: Option<Child>,
}

/// The test CA and the `localhost` certificate it signed, as PEM text.
struct Certs {
    ca: String,
    cert: String,
    key: String,
}

/// Runs `openssl` in `dir` with `args` (words separated by single spaces).
fn openssl(dir: &std::path::Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split(' '))
        .current_dir(dir)
        .output()
        .expect("run openssl (needed to make the Prosody test certificate)");
    assert!(
        out.status.success(),
        "openssl {args} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the CA and the certificate once per test process.
fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let tmp = TempDir::new("xmpp-ca");
        let dir = tmp.path();
        openssl(
            dir,
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj /CN=ruvuma-test-ca \
             -addext basicConstraints=critical,CA:TRUE",
        );
        openssl(
            dir,
            "req -newkey rsa:2048 -nodes -keyout localhost.key -out localhost.csr -subj /CN=localhost",
        );
        let ext = "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n";
        std::fs::write(dir.join("ext.cnf"), ext).expect("write ext.cnf");
        openssl(
            dir,
            "x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out localhost.crt -days 3650 \
             -extfile ext.cnf",
        );
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("read a generated PEM file");
        Certs {
            ca: read("ca.pem"),
            cert: read("localhost.crt"),
            key: read("localhost.key"),
        }
    })
}

/// The server's config: `dir` holds the certificate, the data, the pid file.
fn config(dir: &str, port: u16) -> String {
    format!(
        r#"run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
log = {{ info = "*console" }}
c2s_ports = {{ {port} }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{}}
http_ports = {{}}
https_ports = {{}}
component_ports = {{}}
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
storage_archive_item_limit = 1000000
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "offline"; "posix" }}
modules_disabled = {{ "s2s"; "s2s_auth_certs"; "limits" }}
certificates = "{dir}"
ssl = {{ certificate = "{dir}/localhost.crt"; key = "{dir}/localhost.key" }}
VirtualHost "localhost"
"#
    )
}

/// True once something accepts TCP connections on 127.0.0.1:`port`.
fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

impl Prosody {
    /// Starts Prosody on a free port and waits until it accepts connections; panics with its
    /// output when it does not within 20 s (or is not installed).
    pub fn start() -> Prosody {
        let dir = TempDir::new("prosody");
        let certs = certs();
        dir.write("ca.pem", &certs.ca);
        dir.write("localhost.crt", &certs.cert);
        dir.write("localhost.key", &certs.key);
        std::fs::create_dir_all(dir.path().join("data")).expect("create the Prosody data dir");
        let port = free_port();
        let path = dir.path().to_str().expect("utf-8 temp path").to_owned();
        dir.write("prosody.cfg.lua", &config(&path, port));
        let mut server = Prosody {
            port,
            domain: "localhost".into(),
            dir,
            child: None,
        };
        server.launch();
        server
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prosody.log")
    }

    /// Runs `prosody -F` on this server's config (output appended to its log) and waits for the
    /// port.
    fn launch(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the Prosody log");
        let err = log.try_clone().expect("clone the log file");
        let child = Command::new("prosody")
            .arg("-F")
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run prosody (the XMPP tests need Debian's prosody package): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + START_LIMIT;
        while !accepts(self.port) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "prosody exited ({status}) before listening on {}:\n{}",
                    self.port,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "prosody did not listen on {} within {START_LIMIT:?}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The CA certificate (PEM) that signed the server's `localhost` certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Creates the account `user@localhost` (or sets its password), running or not.
    pub fn register(&self, user: &str, password: &str) {
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.config_path())
            .args(["register", user, &self.domain, password])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run prosodyctl: {e}"));
        assert!(
            out.status.success(),
            "prosodyctl register {user} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The server's process id, while it runs (for `procfs`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("prosody is running").id()
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the server and starts it again on the same port and data; returns once it accepts
    /// connections.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// What Prosody has logged so far, over all its runs.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
