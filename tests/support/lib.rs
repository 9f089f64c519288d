//! Helpers for the end-to-end tests: build the binary and the plugin libraries, write configs,
//! start `ruvuma` as a child process, talk to it over TCP.

pub mod browser;
pub mod hostile;
pub mod hostile_smsc;
pub mod node_smsc;
pub mod procfs;
pub mod prosody;
pub mod smsc;
pub mod stores;
pub mod tcp_proxy;
pub mod tls_proxy;
pub mod xmpp_user;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The built artefacts the tests use.
pub struct Built {
    pub root: PathBuf,
    /// target/<profile>: the binary and the plugin libraries.
    pub out: PathBuf,
    pub ruvuma: PathBuf,
    /// The library that declares another plugin ABI, built into target/fixtures so that it
    /// never sits next to the binary.
    pub abi_mismatch: PathBuf,
}

fn lib_name(stem: &str) -> String {
    format!("lib{stem}.so")
}

/// Builds the host, the plugins and the test plugins once per test process. cargo test does not
/// build cdylibs, so the tests do; a failure here fails every test loudly.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf();
        let exe = std::env::current_exe().expect("test executable path");
        let out = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let release = out.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root).args(["build", "--workspace", "--quiet"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "building the host and plugin libraries failed: {status}"
        );
        let ruvuma = out.join("ruvuma");
        for file in [
            ruvuma.clone(),
            out.join(lib_name("ruvuma_telnet")),
            out.join(lib_name("ruvuma_echo")),
            out.join(lib_name("ruvuma_routers")),
            out.join(lib_name("ruvuma_shout")),
            out.join(lib_name("ruvuma_middleware")),
            out.join(lib_name("ruvuma_http")),
            out.join(lib_name("ruvuma_ussd")),
            out.join(lib_name("ruvuma_smpp")),
            out.join(lib_name("ruvuma_ssmi")),
            out.join(lib_name("ruvuma_xmpp")),
            out.join(lib_name("ruvuma_sandbox")),
            out.join(lib_name("ruvuma_fixture_testkit")),
        ] {
            assert!(file.exists(), "{} is missing after cargo build", file.display());
        }
        // The plugin built for another ABI goes to target/fixtures, never beside the binary.
        let fixtures = out.parent().expect("target").join("fixtures");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        let manifest = root.join("tests/fixtures/abi_mismatch/Cargo.toml");
        cmd.args(["build", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&fixtures);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the ABI-mismatch fixture failed: {status}");
        let profile = if release { "release" } else { "debug" };
        let abi_mismatch = fixtures.join(profile).join(lib_name("ruvuma_fixture_abi_mismatch"));
        assert!(
            abi_mismatch.exists(),
            "{} is missing after cargo build",
            abi_mismatch.display()
        );
        Built {
            root,
            out,
            ruvuma,
            abi_mismatch,
        }
    })
}

/// A scratch folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ruvuma-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A folder holding copies of the named plugin libraries (`ruvuma_echo`, ...).
pub fn plugin_dir(tmp: &TempDir, libs: &[&str]) -> PathBuf {
    let dir = tmp.path().join("plugins");
    std::fs::create_dir_all(&dir).expect("plugin dir");
    for lib in libs {
        let name = lib_name(lib);
        std::fs::copy(built().out.join(&name), dir.join(&name)).unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    dir
}

/// The test plugins' library built a second time, with `RUVUMA_FIXTURE_VERSION=2` (its
/// `versioned` application answers `v2: ...`), into target/fixtures: a new version of a
/// library for the reload tests to put in place of the first.
pub fn testkit_v2() -> &'static Path {
    static V2: OnceLock<PathBuf> = OnceLock::new();
    V2.get_or_init(|| {
        let b = built();
        let release = b.out.file_name().is_some_and(|n| n == "release");
        let fixtures = b.out.parent().expect("target").join("fixtures");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&b.root)
            .args(["build", "--quiet", "-p", "ruvuma-fixture-testkit", "--target-dir"])
            .arg(&fixtures)
            .env("RUVUMA_FIXTURE_VERSION", "2");
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "building the testkit library's version 2 failed: {status}"
        );
        let profile = if release { "release" } else { "debug" };
        let lib = fixtures.join(profile).join(lib_name("ruvuma_fixture_testkit"));
        assert!(lib.exists(), "{} is missing after cargo build", lib.display());
        lib
    })
}

/// The standard plugins plus the test plugins.
pub const ALL_PLUGINS: &[&str] = &[
    "ruvuma_telnet",
    "ruvuma_echo",
    "ruvuma_shout",
    "ruvuma_routers",
    "ruvuma_middleware",
    "ruvuma_http",
    "ruvuma_ussd",
    "ruvuma_smpp",
    "ruvuma_ssmi",
    "ruvuma_xmpp",
    "ruvuma_sandbox",
    "ruvuma_observers",
    "ruvuma_fixture_testkit",
];

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Runs `ruvuma ARGS` to completion.
pub fn ruvuma(args: &[&str]) -> Output {
    Command::new(&built().ruvuma)
        .args(args)
        .env_remove("RUVUMA_PLUGIN_PATH")
        .env("RUST_LOG", "info")
        .output()
        .expect("run ruvuma")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `ruvuma run`; killed when dropped.
pub struct Host {
    child: Option<Child>,
    log: PathBuf,
    /// The config file it runs (rewrite it, then SIGHUP, to reload).
    config: PathBuf,
    _tmp: TempDir,
}

impl Host {
    /// Starts `ruvuma run -c <config>` with `extra` arguments and waits until it is running.
    pub fn start(config: &str, extra: &[&str]) -> Self {
        Self::start_with_env(config, extra, &[])
    }

    /// [`Host::start`] with extra environment variables.
    pub fn start_with_env(config: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_under(config, extra, env, &[], None)
    }

    /// [`Host::start`] in the working folder `dir` (where relative paths in the config lead).
    pub fn start_in(dir: &Path, config: &str, extra: &[&str]) -> Self {
        Self::start_under(config, extra, &[], &[], Some(dir))
    }

    /// [`Host::start`] with at most `files` open files (`ulimit -n`), through `prlimit`, which
    /// runs the host in its own process (so [`Host::pid`] is the host's).
    pub fn start_with_fd_limit(config: &str, extra: &[&str], files: u32) -> Self {
        let limit = format!("--nofile={files}:{files}");
        Self::start_under(config, extra, &[], &["prlimit", &limit, "--"], None)
    }

    /// Starts the host through `wrapper` (a command that then runs the host), if not empty.
    fn start_under(config: &str, extra: &[&str], env: &[(&str, &str)], wrapper: &[&str], dir: Option<&Path>) -> Self {
        let tmp = TempDir::new("host");
        let path = tmp.write("config.yaml", config);
        let log = tmp.path().join("stderr.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut args = vec!["run", "-c", path.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&built().ruvuma);
                c
            }
            None => Command::new(&built().ruvuma),
        };
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let child = command
            .args(&args)
            .env_remove("RUVUMA_PLUGIN_PATH")
            .env(
                "RUST_LOG",
                std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn ruvuma");
        let mut host = Host {
            child: Some(child),
            log,
            config: path,
            _tmp: tmp,
        };
        host.wait_for_log("running", Duration::from_secs(30));
        host
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The config file the host runs.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Rewrites the config file and sends SIGHUP; waits for the reload's log line (the
    /// `n`th reload of this host) and returns it.
    pub fn reload(&mut self, yaml: &str, n: usize) -> String {
        std::fs::write(&self.config, yaml).expect("rewrite the config");
        self.signal("HUP");
        self.wait_for_reload(n)
    }

    /// Waits for the log line of the `n`th reload (1 is the first) and returns it.
    pub fn wait_for_reload(&mut self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ruvuma::reload: reload of "))
                .collect();
            if let Some(line) = lines.get(n - 1) {
                return (*line).to_owned();
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("ruvuma exited ({status}) before reload {n}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "reload {n} was not logged within 60 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id, while it runs (for `procfs`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits until stderr contains `needle`; panics with the log if it does not in time.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("ruvuma exited ({status}) before logging {needle:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("ruvuma did not log {needle:?} within {limit:?}:\n{}", self.log());
    }

    /// kill -9: the process dies at once, with no shutdown of any kind.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} {pid} failed");
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!("ruvuma did not exit within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A telnet user.
pub struct Telnet {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Telnet {
    pub fn connect(port: u16) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
                    s.set_nodelay(true).expect("nodelay");
                    let writer = s.try_clone().expect("clone");
                    return Self {
                        reader: BufReader::new(s),
                        writer,
                    };
                }
                Err(e) if Instant::now() > deadline => panic!("cannot connect to 127.0.0.1:{port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send line");
    }

    /// The next line, or an error if none arrives in time.
    pub fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err("connection closed".into()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => Err(format!("no line: {e}")),
        }
    }

    /// Asserts that nothing arrives within `wait`.
    pub fn expect_silence(&mut self, wait: Duration) {
        self.reader.get_ref().set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = [0u8; 64];
        match self.reader.read(&mut buf) {
            Ok(0) => panic!("connection closed while expecting silence"),
            Ok(n) => panic!("expected no reply, got {:?}", text(&buf[..n])),
            Err(_) => {}
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
    }
}

/// A telnet → dispatcher → application config on `port`, with `app` as the application's YAML.
pub fn telnet_config(port: u16, app: &str) -> String {
    format!(
        "system_alias: test\ntransports:\n  telnet:\n    plugin: telnet\n    config: {{bind: \"127.0.0.1:{port}\"}}\n\
         applications:\n  app:\n    endpoint: app_ep\n{app}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [app_ep]\n    route_mappings: {{telnet: app_ep}}\n"
    )
}

/// `ruvuma validate -c <config> --plugin-dir <plugins>`: exit code, stdout, stderr.
pub fn validate_with(config: &Path, plugins: &Path) -> (Option<i32>, String, String) {
    let out = ruvuma(&[
        "validate",
        "-c",
        config.to_str().expect("utf-8 path"),
        "--plugin-dir",
        plugins.to_str().expect("utf-8 path"),
    ]);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// What an HTTP receiver got: (path, headers as `name: value` lines, body).
pub type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// What a receiver answers a request with: (status, headers, body).
pub type Answer = (u16, Vec<(&'static str, &'static str)>, String);

/// A local HTTP server that records every request and answers each with `answer(n, path, body)`,
/// n counting requests from 0. It runs until the test process ends.
pub fn receiver(answer: impl Fn(usize, &str, &str) -> Answer + Send + 'static) -> (String, Received) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("receiver");
    let addr = server.server_addr().to_ip().expect("ip address");
    let got: Received = Arc::default();
    let record = got.clone();
    std::thread::spawn(move || {
        for (n, mut request) in server.incoming_requests().enumerate() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let headers: Vec<String> = request
                .headers()
                .iter()
                .map(|h| format!("{}: {}", h.field, h.value))
                .collect();
            let (status, extra, text) = answer(n, request.url(), &body);
            record
                .lock()
                .expect("record")
                .push((request.url().to_owned(), headers.join("\n"), body));
            let mut response = tiny_http::Response::from_string(text).with_status_code(status);
            for (k, v) in extra {
                if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                    response.add_header(h);
                }
            }
            let _ = request.respond(response);
        }
    });
    (format!("http://{addr}"), got)
}

/// POSTs `body` with `content_type`; the status and the answer's text.
pub fn http_post(url: &str, content_type: &str, body: &str, authorization: Option<&str>) -> (u16, String) {
    let mut request = ureq::post(url)
        .set("content-type", content_type)
        .timeout(Duration::from_secs(15));
    if let Some(a) = authorization {
        request = request.set("authorization", a);
    }
    match request.send_string(body) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// Waits until `check` holds, or panics with `what`.
pub fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a host on `yaml` with every test plugin, `{port}` and `{port2}` in it replaced by free
/// ports: the host, the two ports, and the scratch folder (keep it alive with the host).
pub fn start_with_ports(tag: &str, yaml: &str) -> (Host, u16, u16, TempDir) {
    let tmp = TempDir::new(tag);
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let (port, port2) = (free_port(), free_port());
    let yaml = yaml
        .replace("{port}", &port.to_string())
        .replace("{port2}", &port2.to_string());
    let host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().expect("utf-8 path")]);
    (host, port, port2, tmp)
}

/// [`start_with_ports`] for a config with one `{port}`.
pub fn start_on_port(tag: &str, yaml: &str) -> (Host, u16, TempDir) {
    let (host, port, _, tmp) = start_with_ports(tag, yaml);
    (host, port, tmp)
}

/// The value of the sample `name{labels}` in a Prometheus exposition.
pub fn sample(exposition: &str, series: &str) -> f64 {
    let line = exposition
        .lines()
        .find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"));
    line[series.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// `promtool check metrics` on an exposition: panics with what it says unless it passes.
pub fn promtool_check(exposition: &str) {
    let mut promtool = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is needed to check /metrics ({e}); install Debian's `prometheus` package \
             (apt-get install -y --no-install-recommends prometheus)"
        ),
    };
    promtool
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let checked = promtool.wait_with_output().expect("promtool");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}\n{}{}\n--- /metrics:\n{exposition}",
        checked.status,
        text(&checked.stdout),
        text(&checked.stderr)
    );
}

/// GETs `url`: the status and the body.
pub fn http_get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}
