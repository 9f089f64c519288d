//! The admin pages of the real `ruvuma` binary in headless Chromium, behind basic auth: the
//! alias on every page, a transport's status when its SMSC goes away, a stored message and its
//! timeline, a failure replayed, and a config edit refused at its line, then saved.

use ruvuma_tests::browser::{run_scenario, shots_dir};
use ruvuma_tests::smsc::status::ESME_RBINDFAIL;
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const USER: &str = "ops";
const PASSWORD: &str = "br0wser-pa55";
/// Shown on top of every page; HTML-special on purpose.
const ALIAS: &str = "mtwara-ops-7 <β&γ>";
const WAIT: Duration = Duration::from_secs(20);

/// Functions every scenario can use.
const HELPERS: &str = r##"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Reloads the page every 300 ms until `ready()` holds or `ms` pass; whether it held.
async function reloadUntil(page, ready, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await ready()) return true;
    if (Date.now() > deadline) return false;
    await sleep(300);
    await page.reload();
  }
}
"##;

/// [`HELPERS`] and `body`, with each `__NAME__` in `body` replaced by its value as JSON.
fn scenario(body: &str, vars: &[(&str, Value)]) -> String {
    let mut text = body.to_owned();
    for (name, value) in vars {
        text = text.replace(&format!("__{name}__"), &value.to_string());
    }
    assert!(!text.contains("__"), "a placeholder was left in the scenario:\n{text}");
    format!("{HELPERS}\n{text}")
}

/// A host with the admin server on a free port, its credentials from the environment.
struct Admin {
    host: Host,
    base: String,
    /// The config text the host was started with.
    config: String,
    _tmp: TempDir,
}

impl Admin {
    /// Starts `topology` (the config's components, store and so on) under [`ALIAS`] with the
    /// admin server; `{dir}` in it is replaced by a scratch folder.
    fn start(tag: &str, topology: &str) -> Admin {
        let tmp = TempDir::new(tag);
        let plugins = plugin_dir(&tmp, ALL_PLUGINS);
        let port = free_port();
        let topology = topology.replace("{dir}", tmp.path().to_str().expect("utf-8 path"));
        let config = format!(
            "system_alias: \"{ALIAS}\"\nadmin:\n  bind: \"127.0.0.1:{port}\"\n  \
             auth: {{username: \"${{ADMIN_USER}}\", password: \"${{ADMIN_PASSWORD}}\"}}\n{topology}"
        );
        let mut host = Host::start_with_env(
            &config,
            &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
            &[("ADMIN_USER", USER), ("ADMIN_PASSWORD", PASSWORD)],
        );
        host.wait_for_log(&format!("admin: serving http://127.0.0.1:{port}/"), WAIT);
        Admin {
            host,
            base: format!("http://127.0.0.1:{port}"),
            config,
            _tmp: tmp,
        }
    }

    fn run(&self, name: &str, scenario: &str) -> Value {
        run_scenario(name, &self.base, scenario, Some((USER, PASSWORD)))
    }
}

fn shot(name: &str, file: &str) -> PathBuf {
    let png = shots_dir(name).join(format!("{file}.png"));
    let size = std::fs::metadata(&png)
        .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
        .len();
    assert!(size > 1000, "{} is too small to be a screenshot", png.display());
    png
}

/// Telnet on `port` → a dispatcher → `app` (an application's YAML, indented by four).
fn telnet_to(port: u16, app: &str) -> String {
    format!(
        "transports:\n  telnet:\n    plugin: telnet\n    config: {{bind: \"127.0.0.1:{port}\"}}\n\
         applications:\n  app:\n    endpoint: app_ep\n{app}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    \
         exposed_names: [app_ep]\n    route_mappings: {{telnet: app_ep}}\n"
    )
}

#[test]
fn the_alias_is_on_top_of_every_page() {
    let telnet = free_port();
    let topology = telnet_to(telnet, "    plugin: echo") + "store:\n  sqlite: {path: \"{dir}/messages.db\"}\n";
    let admin = Admin::start("admin-alias", &topology);
    let mut user = Telnet::connect(telnet);
    user.send("hello from the alias test");
    assert_eq!(user.read_line().unwrap(), "hello from the alias test");

    let name = "admin-alias";
    let values = admin.run(
        name,
        &scenario(
            r##"
async function visit(page, ctx, path, shot) {
  const response = await page.goto(`${ctx.base}${path}`);
  ctx.log({
    path,
    status: response.status(),
    alias: await page.textContent("header h1#alias"),
    title: await page.title(),
    heading: await page.textContent("main h2"),
  });
  await ctx.shot(shot);
}

export default async function (page, ctx) {
  await visit(page, ctx, "/", "overview");
  ctx.log(await page.textContent("main tr:has(th:text-is('System alias')) td"));
  await visit(page, ctx, "/components", "components");
  await visit(page, ctx, "/messages", "messages");
  const found = await reloadUntil(page, async () => (await page.locator("#messages a").count()) > 0, 10000);
  if (!found) throw new Error("no stored message listed on /messages");
  const link = await page.locator("#messages a").first().getAttribute("href");
  await visit(page, ctx, link, "message");
  await visit(page, ctx, "/messages/no-such-message", "message-missing");
  await visit(page, ctx, "/failures", "failures");
  await visit(page, ctx, "/config", "config");
  await visit(page, ctx, "/logs", "logs");
}
"##,
            &[],
        ),
    );
    let values = values.as_array().expect("values");
    assert_eq!(values.len(), 9, "{values:#?}");
    assert_eq!(values[1], json!(ALIAS), "the overview's alias row");
    let pages: Vec<&Value> = values.iter().filter(|v| v.is_object()).collect();
    let expected = [
        ("/", 200, "Overview"),
        ("/components", 200, "Components"),
        ("/messages", 200, "Messages"),
        ("", 200, "Message"),
        ("/messages/no-such-message", 404, "Message"),
        ("/failures", 200, "Failures"),
        ("/config", 200, "Config"),
        ("/logs", 200, "Recent log lines"),
    ];
    assert_eq!(pages.len(), expected.len(), "{values:#?}");
    for (got, (path, status, heading)) in pages.iter().zip(expected) {
        if path.is_empty() {
            let link = got["path"].as_str().unwrap_or("");
            assert!(
                link.starts_with("/messages/") && link.len() == "/messages/".len() + 32,
                "a stored message's page: {got}"
            );
        } else {
            assert_eq!(got["path"], path, "{got}");
        }
        assert_eq!(got["status"], status, "{got}");
        assert_eq!(got["alias"], ALIAS, "{got}");
        assert_eq!(got["title"], format!("{ALIAS}: {heading}"), "{got}");
        assert_eq!(got["heading"], heading, "{got}");
    }
    for file in [
        "overview",
        "components",
        "messages",
        "message",
        "message-missing",
        "failures",
        "config",
        "logs",
    ] {
        shot(name, file);
    }
}

/// Reads the `sms` row of `/components`: the status cell's class, its word and its detail.
const STATUS_OF_SMS: &str = r##"
async function statusOfSms(page) {
  const cell = page.locator('#components tr[data-name="sms"] td.status');
  return {
    class: await cell.getAttribute("class"),
    word: await cell.evaluate((td) => td.firstChild.textContent),
    detail: (await cell.locator("small").count()) > 0 ? await cell.locator("small").textContent() : null,
  };
}
"##;

#[test]
fn a_transport_shows_down_when_the_smsc_drops_its_bind() {
    let smsc = Smsc::start(SmscConfig::default());
    let topology = format!(
        "transports:\n  sms:\n    plugin: smpp\n    config: {{host: 127.0.0.1, port: {}, system_id: test, \
         password: secret, reconnect_delay: 0.2, reconnect_max_delay: 1}}\n\
         applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{messages: []}}}}\n",
        smsc.port()
    );
    let mut admin = Admin::start("admin-status", &topology);
    admin.host.wait_for_log("bound as transceiver", WAIT);
    smsc.wait_for("the transport's bind", WAIT, |s| s.bound_sessions() == 1);

    let bound = admin.run(
        "admin-status-bound",
        &format!(
            "{STATUS_OF_SMS}{}",
            scenario(
                r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/components`);
  ctx.log(await statusOfSms(page));
  await ctx.shot("bound");
}
"##,
                &[],
            )
        ),
    );
    let bound = &bound[0];
    assert_eq!(bound["class"], "status ok", "{bound}");
    assert_eq!(bound["word"], "ok", "{bound}");
    let detail = bound["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with(&format!(
            "bound: bound as transceiver to 127.0.0.1:{} (since ",
            smsc.port()
        )),
        "{bound}"
    );
    shot("admin-status-bound", "bound");

    smsc.refuse_binds(1000, ESME_RBINDFAIL);
    smsc.disconnect_all();

    let dropped = admin.run(
        "admin-status-dropped",
        &format!(
            "{STATUS_OF_SMS}{}",
            scenario(
                r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/components`);
  let reloads = 0;
  const changed = await reloadUntil(page, async () => {
    reloads += 1;
    const s = await statusOfSms(page);
    return s.word === "down" || s.word === "degraded";
  }, 15000);
  ctx.log({ changed, reloads });
  ctx.log(await statusOfSms(page));
  await ctx.shot("dropped");
}
"##,
                &[],
            )
        ),
    );
    assert_eq!(dropped[0]["changed"], true, "{dropped}\n{}", admin.host.log());
    let status = &dropped[1];
    assert_eq!(status["class"], "status down", "{status}");
    assert_eq!(status["word"], "down", "{status}");
    let detail = status["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with("connection_lost: ") || detail.starts_with("bind_failed: "),
        "the detail says why: {status}"
    );
    shot("admin-status-dropped", "dropped");
    assert_eq!(smsc.bound_sessions(), 0);
}

#[test]
fn a_message_is_found_and_its_timeline_shows_ack_and_delivery_report() {
    let smsc = Smsc::start(SmscConfig::default());
    let web = free_port();
    let topology = format!(
        "store:\n  sqlite: {{path: \"{{dir}}/messages.db\"}}\n\
         transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{web}\", mode: async}}\n  \
         sms:\n    plugin: smpp\n    config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret, \
         registered_delivery: true, reconnect_delay: 0.2}}\n\
         dispatchers:\n  relay:\n    router_class: transport_to_transport\n    transport_names: [web, sms]\n    \
         exposed_names: []\n    route_mappings: {{web: [sms], sms: [web]}}\n",
        smsc.port()
    );
    let mut admin = Admin::start("admin-message", &topology);
    admin.host.wait_for_log("bound as transceiver", WAIT);
    const ADDR: &str = "27820004242";
    let body = json!({"to_addr": ADDR, "from_addr": "1234", "content": "find me in the browser"}).to_string();
    let (status, answer) = http_post(&format!("http://127.0.0.1:{web}/"), "application/json", &body, None);
    assert_eq!(status, 202, "{answer}");
    let id = serde_json::from_str::<Value>(&answer).expect("json answer")["message_id"]
        .as_str()
        .expect("message_id")
        .to_owned();

    let name = "admin-message";
    let values = admin.run(
        name,
        &scenario(
            r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/messages`);
  await page.fill('input[name="endpoint"]', "sms");
  await page.fill('input[name="addr"]', __ADDR__);
  await page.fill('input[name="direction"]', "out");
  await page.click('button:text-is("Search")');
  await page.waitForURL(/\/messages\?/);
  const href = `a[href="/messages/${__ID__}"]`;
  const link = page.locator(`#messages ${href}`);
  const row = page.locator("#messages tr", { has: page.locator(href) });
  const delivered = async () => (await link.count()) > 0 && (await row.locator("td").last().textContent()) === "delivered";
  if (!(await reloadUntil(page, delivered, 10000))) {
    throw new Error("the message is not listed as delivered in the search's results");
  }
  ctx.log(new URL(page.url()).search);
  ctx.log(await page.locator("#messages tr:has(td)").evaluateAll((rows) =>
    rows.map((row) => Array.from(row.querySelectorAll("td")).slice(1).map((td) => td.textContent))));
  await ctx.shot("search");
  await link.click();
  await page.waitForURL(`${ctx.base}/messages/${__ID__}`);
  const reported = await reloadUntil(page, async () =>
    (await page.locator("#timeline li b", { hasText: "delivery_report" }).count()) > 0, 10000);
  ctx.log(reported);
  ctx.log(await page.textContent("#message-id"));
  ctx.log(await page.textContent("#message-status"));
  ctx.log(await page.locator("#timeline li b").allTextContents());
  ctx.log(await page.locator("#timeline li").allTextContents());
  await ctx.shot("timeline");
}
"##,
            &[("ADDR", json!(ADDR)), ("ID", json!(id))],
        ),
    );
    assert_eq!(
        values[0],
        json!(format!("?endpoint=sms&addr={ADDR}&direction=out&status=")),
        "{values:#}"
    );
    assert_eq!(
        values[1],
        json!([[id, "out", "sms", ADDR, "delivered"]]),
        "one outbound message found: {values:#}"
    );
    assert_eq!(values[2], true, "{values:#}\n{}", admin.host.log());
    assert_eq!(values[3], json!(id));
    assert_eq!(values[4], "delivered");
    assert_eq!(values[5], json!(["ack", "delivery_report"]), "{values:#}");
    let timeline: Vec<&str> = values[6]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(timeline.len(), 3, "{timeline:?}");
    assert!(timeline[0].ends_with(" stored (out)"), "{timeline:?}");
    assert!(timeline[1].contains(" ack "), "{timeline:?}");
    assert!(
        timeline[2].contains(" delivery_report ") && timeline[2].contains("delivered"),
        "{timeline:?}"
    );
    shot(name, "search");
    shot(name, "timeline");
    assert_eq!(smsc.submit_count(), 1);
}

/// The rows of `#failures`: id, component, message, reason and origin of each.
const FAILURE_ROWS: &str = r##"
async function failureRows(page) {
  return page.locator("#failures tr[data-id]").evaluateAll((rows) => rows.map((row) => {
    const td = row.querySelectorAll("td");
    return {
      id: row.dataset.id,
      component: td[1].textContent,
      message: td[2].textContent,
      reason: td[3].textContent,
      origin: td[4].textContent,
    };
  }));
}
"##;

#[test]
fn a_failure_is_replayed_from_its_row() {
    let telnet = free_port();
    let mut admin = Admin::start("admin-failure", &telnet_to(telnet, "    plugin: panicky"));
    let mut user = Telnet::connect(telnet);
    user.send("panic");
    admin
        .host
        .wait_for_log("panicked: asked to panic by message", Duration::from_secs(10));

    let name = "admin-failure";
    let values = admin.run(
        name,
        &format!(
            "{FAILURE_ROWS}{}",
            scenario(
                r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/failures`);
  if (!(await reloadUntil(page, async () => (await failureRows(page)).length > 0, 5000))) {
    throw new Error("no failure listed");
  }
  const before = await failureRows(page);
  ctx.log(before);
  await ctx.shot("before");
  const old = before[0].id;
  await page.locator(`#failures tr[data-id="${old}"] button`, { hasText: "Replay" }).click();
  await page.waitForURL(/\/failures\?done=/);
  ctx.log(await page.textContent("#done"));
  await reloadUntil(page, async () => (await failureRows(page)).some((f) => f.id !== old), 5000);
  ctx.log(await failureRows(page));
  await ctx.shot("after");
}
"##,
                &[],
            )
        ),
    );
    let before = values[0].as_array().expect("rows before");
    assert_eq!(before.len(), 1, "{values:#}");
    let old = before[0]["id"].as_str().unwrap().to_owned();
    let message = before[0]["message"].as_str().unwrap().to_owned();
    assert_eq!(message.len(), 32, "{values:#}");
    assert_eq!(
        before[0]["component"], "app",
        "an application's failures are listed under its name"
    );
    assert_eq!(before[0]["origin"], "app_ep.inbound");
    assert!(
        before[0]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("asked to panic by message {message}")),
        "{values:#}"
    );
    assert_eq!(
        values[1],
        json!(format!("replayed message {message} on app_ep.inbound")),
        "{values:#}"
    );
    let after = values[2].as_array().expect("rows after");
    assert!(
        after.iter().all(|f| f["id"] != old.as_str()),
        "the old row is gone: {values:#}"
    );
    assert_eq!(after.len(), 1, "the replay failed again, once: {values:#}");
    assert_eq!(after[0]["message"], message.as_str(), "{values:#}");
    assert_eq!(after[0]["origin"], "app_ep.inbound");
    let log = admin.host.log();
    assert!(
        log.contains(&format!(
            "failure {old} of \"app\" replayed on app_ep.inbound (message {message})"
        )),
        "{log}"
    );
    let failed = format!("application \"app\" failed on app_ep.inbound: panicked: asked to panic by message {message}");
    assert_eq!(
        log.matches(&failed).count(),
        2,
        "failed, replayed, failed again:\n{log}"
    );
    shot(name, "before");
    shot(name, "after");
}

fn with_line(text: &str, at: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(at - 1, line);
    lines.join("\n") + "\n"
}

/// The files beside the config: the config's own name and its backups.
fn beside(config: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config.parent().expect("folder"))
        .expect("read the config's folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("config.yaml"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_config_edit_is_refused_at_its_line_then_a_valid_one_is_saved() {
    let telnet = free_port();
    let admin = Admin::start("admin-config", &telnet_to(telnet, "    plugin: echo"));
    let bad_line = admin
        .config
        .lines()
        .position(|l| l == "applications:")
        .expect("applications")
        + 1;
    assert_eq!(bad_line, 9, "{}", admin.config);
    let bad = with_line(&admin.config, bad_line, "no_such_key: 1");
    assert_eq!(bad.lines().nth(bad_line - 1), Some("no_such_key: 1"));

    let refused = "admin-config-refused";
    let values = admin.run(
        refused,
        &scenario(
            r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/config`);
  ctx.log(await page.textContent("main > p"));
  ctx.log(await page.inputValue("#config-text"));
  await page.fill("#config-text", __BAD__);
  await ctx.shot("edited");
  await page.click("#save");
  await page.waitForSelector("#problems");
  ctx.log(await page.locator("#problems li").evaluateAll((items) =>
    items.map((li) => [li.dataset.line, li.textContent])));
  ctx.log(await page.getAttribute(`#line-${__LINE__}`, "class"));
  ctx.log(await page.locator("#numbered span.problem").evaluateAll((spans) => spans.map((s) => s.id)));
  ctx.log(await page.inputValue("#config-text"));
  ctx.log(await page.locator("#saved").count());
  await ctx.shot("refused");
}
"##,
            &[("BAD", json!(bad)), ("LINE", json!(bad_line))],
        ),
    );
    let path = PathBuf::from(values[0].as_str().expect("the config's path"));
    assert!(path.ends_with("config.yaml"), "{values:#}");
    assert_eq!(values[1], json!(admin.config), "the textarea holds the file");
    let problems = values[2].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{values:#}");
    assert_eq!(problems[0][0], bad_line.to_string(), "{values:#}");
    let message = problems[0][1].as_str().unwrap();
    assert!(
        message.starts_with(&format!("line {bad_line}: config: unknown key \"no_such_key\"")),
        "{message}"
    );
    assert_eq!(values[3], "problem", "#line-{bad_line} is marked");
    assert_eq!(
        values[4],
        json!([format!("line-{bad_line}")]),
        "only that line is marked"
    );
    assert_eq!(values[5], json!(bad), "the refused text is kept in the form");
    assert_eq!(values[6], 0, "nothing says saved");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        admin.config,
        "the file is unchanged"
    );
    assert_eq!(beside(&path), ["config.yaml"], "no backup, no leftover check file");
    shot(refused, "edited");
    shot(refused, "refused");

    let good = with_line(&admin.config, 2, "shutdown_timeout: 7s");
    let saved = "admin-config-saved";
    let values = admin.run(
        saved,
        &scenario(
            r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/config`);
  await page.fill("#config-text", __GOOD__);
  await page.click("#save");
  await page.waitForSelector("#saved");
  ctx.log(await page.textContent("#saved"));
  ctx.log(await page.locator("#problems").count());
  await ctx.shot("saved");
}
"##,
            &[("GOOD", json!(good))],
        ),
    );
    let note = values[0].as_str().expect("the #saved note");
    assert!(
        note.starts_with(&format!("Saved {}; the old config is kept as ", path.display())) && note.ends_with('.'),
        "{note}"
    );
    assert_eq!(values[1], 0, "no problems listed: {values:#}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good, "the file holds the edit");
    let names = beside(&path);
    assert_eq!(names.len(), 2, "{names:?}");
    let backup = path.with_file_name(&names[0]);
    assert!(names[0].starts_with(".config.yaml.bak-"), "{names:?}");
    assert!(note.contains(&backup.display().to_string()), "{note}");
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        admin.config,
        "the backup holds the old file"
    );
    shot(saved, "saved");
}
