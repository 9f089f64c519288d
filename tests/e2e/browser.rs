//! The headless-browser harness (ruvuma_tests::browser) against small pages served here: it reads
//! what a page shows, clicks, answers basic auth, saves screenshots, and fails when the page is
//! not what the scenario waits for.

use ruvuma_tests::browser::{run_scenario, shots_dir};
use serde_json::json;
use std::sync::Arc;

const USER: &str = "admin";
const PASSWORD: &str = "s3cret";
/// `Basic ` and base64 of `admin:s3cret`.
const AUTHORIZATION: &str = "Basic YWRtaW46czNjcmV0";

fn page(status: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>browser self-test</title></head><body>\
         <h1>Browser self-test</h1><p id=\"status\">{status}</p>\
         <button id=\"go\" onclick=\"document.getElementById('status').textContent = 'clicked'\">Go</button>\
         </body></html>"
    )
}

/// Serves `/` (status "ready", and a button that makes it "clicked"), `/other` (status
/// "something else") and `/admin` (behind basic auth) until dropped.
struct Pages {
    base: String,
    server: Arc<tiny_http::Server>,
}

impl Pages {
    fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("page server"));
        let base = format!("http://{}", server.server_addr().to_ip().expect("ip address"));
        let serving = server.clone();
        std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let authorized = request
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("authorization") && h.value.as_str() == AUTHORIZATION);
                let (status, body, challenge) = match request.url() {
                    "/" => (200, page("ready"), false),
                    "/other" => (200, page("something else"), false),
                    "/admin" if authorized => (
                        200,
                        "<!doctype html><html><body><p id=\"who\">admin area</p></body></html>".to_owned(),
                        false,
                    ),
                    "/admin" => (401, "<!doctype html><p id=\"who\">who are you?</p>".to_owned(), true),
                    "/favicon.ico" => (204, String::new(), false),
                    _ => (404, "not found".to_owned(), false),
                };
                let mut response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("content-type", "text/html; charset=utf-8").expect("header"),
                    );
                if challenge {
                    response.add_header(
                        tiny_http::Header::from_bytes("www-authenticate", "Basic realm=\"ruvuma\"").expect("header"),
                    );
                }
                let _ = request.respond(response);
            }
        });
        Self { base, server }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

#[test]
fn reads_clicks_and_saves_a_screenshot() {
    let pages = Pages::start();
    let values = run_scenario(
        "browser-self-test-click",
        &pages.base,
        r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/`);
  ctx.log(await page.title());
  ctx.log(await page.textContent("#status"));
  await page.click("#go");
  ctx.log(await page.textContent("#status"));
  ctx.log(await ctx.shot("after-click"));
}
"##,
        None,
    );
    let png = shots_dir("browser-self-test-click").join("after-click.png");
    assert_eq!(
        values,
        json!([
            "browser self-test",
            "ready",
            "clicked",
            png.to_str().expect("utf-8 path")
        ])
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("read {}: {e}", png.display()));
    assert!(
        bytes.len() > 100 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG ({} bytes)",
        png.display(),
        bytes.len()
    );
}

const ADMIN_SCENARIO: &str = r##"
export default async function (page, ctx) {
  try {
    const response = await page.goto(`${ctx.base}/admin`);
    ctx.log(response.status());
    ctx.log(await page.textContent("#who"));
  } catch (e) {
    ctx.log(e.message.includes("net::ERR_INVALID_AUTH_CREDENTIALS") ? "refused" : e.message);
  }
}
"##;

#[test]
fn basic_auth_opens_the_page_behind_it() {
    let pages = Pages::start();
    let right = Some((USER, PASSWORD));
    let with = run_scenario("browser-self-test-auth", &pages.base, ADMIN_SCENARIO, right);
    assert_eq!(with, json!([200, "admin area"]));
    let wrong = Some((USER, "wrong"));
    let wrong = run_scenario("browser-self-test-wrong-auth", &pages.base, ADMIN_SCENARIO, wrong);
    assert_eq!(wrong, json!([401, "who are you?"]));
    let without = run_scenario("browser-self-test-no-auth", &pages.base, ADMIN_SCENARIO, None);
    assert_eq!(without, json!(["refused"]));
}

#[test]
fn a_page_that_is_not_what_the_scenario_waits_for_fails_it() {
    let pages = Pages::start();
    let name = "browser-self-test-fails";
    let base = pages.base.clone();
    let outcome = std::panic::catch_unwind(move || {
        run_scenario(
            name,
            &base,
            r##"
export default async function (page, ctx) {
  await page.goto(`${ctx.base}/other`);
  ctx.log(await page.textContent("#status"));
  await page.locator("#status", { hasText: "ready" }).waitFor({ timeout: 2000 });
  ctx.log("unreachable");
}
"##,
            None,
        )
    });
    let payload = outcome.expect_err("the scenario must fail on a page without the awaited text");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let shots = shots_dir(name);
    assert!(
        message.contains("browser scenario browser-self-test-fails failed"),
        "{message}"
    );
    assert!(message.contains("Timeout 2000ms exceeded"), "{message}");
    assert!(message.contains("[\"something else\"]"), "{message}");
    assert!(message.contains(shots.to_str().expect("utf-8 path")), "{message}");
    let failure = shots.join("failure.png");
    let size = std::fs::metadata(&failure)
        .unwrap_or_else(|e| panic!("{}: {e}", failure.display()))
        .len();
    assert!(size > 0, "{} is empty", failure.display());
}
