//! Kannel (bearerbox + smsbox, from Debian's `kannel` package) set up to do what the ruvuma
//! parts do, against the same SMSC simulator: MT from its HTTP sendsms interface, MO to an HTTP
//! URL. It runs beside the ruvuma figures so that "twice Kannel's rate" is a ratio measured on
//! one machine in one sitting.
//!
//! Like the ruvuma runs (memory bus, memory state), Kannel keeps no store file and asks for no
//! delivery receipts; its SMPP window (`max-pending-submits`) is the same as ruvuma's.

use ruvuma_tests::{free_port, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The process names the CPU accounting looks for.
pub const PROCESSES: &[&str] = &["bearerbox", "smsbox"];

/// Whether both Kannel programs are on the PATH (where [`Kannel::start`] runs them from).
pub fn available() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    PROCESSES
        .iter()
        .all(|p| std::env::split_paths(&path).any(|dir| dir.join(p).is_file()))
}

/// A running bearerbox and smsbox; both are stopped when dropped.
pub struct Kannel {
    bearerbox: Child,
    smsbox: Child,
    pub sendsms_port: u16,
    dir: TempDir,
}

impl Kannel {
    /// Starts Kannel bound (transceiver) to the SMSC on `smsc_port` with `window` submits
    /// outstanding, MO going to `mo_url` (with `id=<Kannel's message id>`), and waits until
    /// its sendsms interface answers.
    pub fn start(smsc_port: u16, window: u64, mo_url: &str) -> Kannel {
        let dir = TempDir::new("kannel");
        let (admin, boxes, sendsms) = (free_port(), free_port(), free_port());
        let conf = format!(
            "group = core\nadmin-port = {admin}\nadmin-password = bench\nsmsbox-port = {boxes}\n\
             box-allow-ip = 127.0.0.1\nlog-level = 2\n\n\
             group = smsc\nsmsc = smpp\nsmsc-id = sim\nhost = 127.0.0.1\nport = {smsc_port}\n\
             transceiver-mode = true\nsmsc-username = test\nsmsc-password = secret\nsystem-type = VMA\n\
             max-pending-submits = {window}\n\n\
             group = smsbox\nbearerbox-host = 127.0.0.1\nbearerbox-port = {boxes}\nsendsms-port = {sendsms}\n\
             log-level = 2\n\n\
             group = sendsms-user\nusername = bench\npassword = bench\n\n\
             group = sms-service\nkeyword = default\nget-url = \"{mo_url}?id=%I&from=%p&text=%a\"\n\
             max-messages = 0\n"
        );
        let conf = dir.write("kannel.conf", &conf);
        let spawn = |program: &str| {
            let log = std::fs::File::create(dir.path().join(format!("{program}.log"))).expect("kannel log file");
            Command::new(program)
                .args(["-v", "2"])
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {program}: {e}"))
        };
        let bearerbox = spawn("bearerbox");
        wait_for_port(boxes, "bearerbox's smsbox port");
        let smsbox = spawn("smsbox");
        let kannel = Kannel {
            bearerbox,
            smsbox,
            sendsms_port: sendsms,
            dir,
        };
        wait_for_port(sendsms, "smsbox's sendsms port");
        kannel
    }

    /// The sendsms path and query of one MT message.
    fn sendsms_path() -> &'static str {
        "/cgi-bin/sendsms?username=bench&password=bench&from=1234&to=27820000001&text=hello"
    }

    /// The sendsms URL of one MT message.
    pub fn sendsms_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.sendsms_port, Self::sendsms_path())
    }

    /// Sends one MT message through the sendsms interface; Kannel's answer.
    pub fn send_one(&self) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.sendsms_port)).expect("connect to smsbox");
        write!(
            stream,
            "GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
            Self::sendsms_path()
        )
        .expect("send to smsbox");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("smsbox's answer");
        answer
    }

    /// Kannel's own error lines (and panics) so far. smsbox logs two for every HTTP client that
    /// resets its connection (wrk does at the end); those are counted apart from the others.
    pub fn problems(&self) -> String {
        let mut resets = 0;
        let mut others = Vec::new();
        for program in PROCESSES {
            let log = std::fs::read_to_string(self.log_path(program)).unwrap_or_default();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR:") || l.contains("PANIC:"))
                .collect();
            let mut i = 0;
            while i < errors.len() {
                let reset = errors[i].contains("Error reading from fd")
                    && errors
                        .get(i + 1)
                        .is_some_and(|next| next.contains("Connection reset by peer"));
                if reset {
                    resets += 1;
                    i += 2;
                } else {
                    others.push(format!("{program}: {}", errors[i]));
                    i += 1;
                }
            }
        }
        let resets = format!("{resets} HTTP clients reset their connection");
        match others.len() {
            0 if resets.starts_with("0 ") => "Kannel log: no error".to_owned(),
            0 => format!("Kannel log: no error but that {resets}"),
            n => format!(
                "Kannel log: {resets}; {n} other error lines, the first:\n    {}",
                others[..n.min(3)].join("\n    ")
            ),
        }
    }

    fn log_path(&self, program: &str) -> PathBuf {
        self.dir.path().join(format!("{program}.log"))
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in [&mut self.smsbox, &mut self.bearerbox] {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} (127.0.0.1:{port}) did not open within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
