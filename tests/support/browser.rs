//! Headless Chromium driven by Playwright (tests/browser): a test writes a scenario, an ES module
//! whose default export is `async function (page, ctx)`, and gets back the values it logged.
//!
//! `page` is a Playwright `Page` in a fresh profile; `ctx` is `{ base, shot(name), log(value) }`:
//! `base` is the URL base given here, `shot(name)` saves a full-page `<name>.png` into
//! [`shots_dir`], `log(value)` appends a JSON value to what [`run_scenario`] returns. A scenario
//! fails by throwing (a Playwright wait that times out, or its own check); then `failure.png` is
//! saved beside its screenshots and [`run_scenario`] panics. The whole run is limited to
//! `BROWSER_TIMEOUT_MS` (default 60000) milliseconds.
//!
//! Needs Chromium (`/usr/bin/chromium`, or the path in `CHROMIUM`) and the npm packages of
//! tests/browser (`npm ci --prefix tests/browser`).

use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// The default limit for the whole run, browser start included, as in run.mjs.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Where the screenshots of the scenario called `name` go:
/// target/test-artefacts/screenshots/<name>/ under the workspace root.
pub fn shots_dir(name: &str) -> PathBuf {
    root().join("target/test-artefacts/screenshots").join(name)
}

/// Checks that Chromium and Playwright are there; panics saying what to install if not.
fn check_installed() {
    let browser = chromium();
    assert!(
        browser.exists(),
        "the browser tests need Chromium at {}: install it with \
         `apt-get install -y --no-install-recommends chromium`, or set CHROMIUM to its path",
        browser.display()
    );
    let playwright = folder().join("node_modules/playwright-core");
    assert!(
        playwright.exists(),
        "the browser tests need {}: install it with `npm ci --prefix tests/browser` \
         (from the workspace root; node and npm are needed)",
        playwright.display()
    );
}

fn timeout() -> Duration {
    let ms = std::env::var("BROWSER_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    Duration::from_millis(ms)
}

fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `scenario_js` (see the module documentation) in headless Chromium with `base_url` as
/// `ctx.base`, answering HTTP basic auth with `basic_auth` if given, and returns the values it
/// logged as a JSON array. `name` names the scenario's screenshot folder ([`shots_dir`]), which
/// is emptied first: give each test its own. Panics with the scenario's error, the runner's
/// stderr and the screenshot folder if the scenario fails.
pub fn run_scenario(name: &str, base_url: &str, scenario_js: &str, basic_auth: Option<(&str, &str)>) -> Value {
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "scenario name {name:?}: use letters, digits, '-', '_' and '.' only"
    );
    check_installed();
    let shots = shots_dir(name);
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap_or_else(|e| panic!("create {}: {e}", shots.display()));
    let tmp = TempDir::new("browser");
    let file = tmp.write("scenario.mjs", scenario_js);

    let mut command = Command::new("node");
    command
        .arg(folder().join("run.mjs"))
        .arg(&file)
        .current_dir(root())
        .env("BASE_URL", base_url)
        .env("SHOTS_DIR", &shots)
        .env("CHROMIUM", chromium())
        .env("BROWSER_TIMEOUT_MS", timeout().as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match basic_auth {
        Some((user, password)) => command.env("BASIC_AUTH", format!("{user}:{password}")),
        None => command.env_remove("BASIC_AUTH"),
    };
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("run node (node is needed for the browser tests): {e}"));
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));

    // run.mjs keeps to its own limit; this one is for a runner that hangs all the same.
    let deadline = Instant::now() + timeout() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // SIGTERM first: Playwright then closes the browser it started.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "browser scenario {name}: the runner did not exit within {:?}\nstderr:\n{stderr}\nstdout:\n{stdout}",
            timeout() + Duration::from_secs(30)
        );
    };
    if !stderr.trim().is_empty() {
        eprintln!("browser scenario {name}, runner stderr:\n{stderr}");
    }

    let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let result: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "browser scenario {name}: the runner ({status}) did not end with a JSON line ({e})\n\
             stdout:\n{stdout}\nstderr:\n{stderr}"
        )
    });
    if result["ok"] != Value::Bool(true) || !status.success() {
        panic!(
            "browser scenario {name} failed ({status}): {}\nvalues: {}\nscreenshots: {}\nstderr:\n{stderr}",
            result["error"].as_str().unwrap_or("(no error given)"),
            result["values"],
            shots.display(),
        );
    }
    match result.get("values") {
        Some(values @ Value::Array(_)) => values.clone(),
        _ => panic!("browser scenario {name}: the runner gave no values array: {line}"),
    }
}
