// Runs one browser scenario in headless Chromium and prints one JSON line on stdout:
//   {"ok":true,"values":[...]}  or  {"ok":false,"error":"...","values":[...]}
// and exits 0 or 1 accordingly.
//
//   node tests/browser/run.mjs SCENARIO.mjs
//
// A scenario is an ES module whose default export is `async function (page, ctx)`: `page` is a
// Playwright Page in a fresh browser profile, `ctx` is { base, shot(name), log(value) }.
//
// Environment:
//   BASE_URL            ctx.base, the URL the scenario's pages live under
//   SHOTS_DIR           where ctx.shot(name) writes <name>.png (and failure.png on an error)
//   BROWSER_TIMEOUT_MS  the whole run's limit, browser start included (default 60000)
//   BASIC_AUTH          user:pass, answered to HTTP basic auth challenges
//   CHROMIUM            the browser executable (default /usr/bin/chromium)

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const started = Date.now();
const budget = positiveInt(process.env.BROWSER_TIMEOUT_MS, 60000);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const shotsDir = path.resolve(process.env.SHOTS_DIR || path.join(os.tmpdir(), "ruvuma-browser-shots"));
const values = [];

// stdout carries the one result line only: whatever the scenario prints goes to stderr.
const writeOut = process.stdout.write.bind(process.stdout);
for (const name of ["log", "info", "debug"]) {
  console[name] = (...args) => console.error(...args);
}

let context = null;
let page = null;
let profile = null;
let finished = false;

function positiveInt(text, fallback) {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

function withLimit(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function shotPath(name) {
  const text = String(name);
  if (!/^[A-Za-z0-9._-]+$/.test(text) || text.startsWith(".")) {
    throw new Error(`screenshot name ${JSON.stringify(text)}: use letters, digits, '.', '_' and '-' only`);
  }
  return path.join(shotsDir, `${text}.png`);
}

async function shot(name) {
  if (!page) throw new Error("no page to take a screenshot of");
  const file = shotPath(name);
  fs.mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function log(value) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new Error(`ctx.log: ${String(value)} is not a JSON value`);
  values.push(JSON.parse(text));
}

function message(error) {
  const text = error instanceof Error ? error.stack || error.message : String(error);
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

async function cleanUp() {
  if (context) {
    await withLimit(context.close(), 10000).catch((e) => console.error(`closing the browser: ${message(e)}`));
    context = null;
  }
  if (profile) {
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    profile = null;
  }
}

async function finish(result) {
  if (finished) return;
  finished = true;
  if (!result.ok && page) {
    await withLimit(shot("failure"), 5000).catch((e) => console.error(`failure screenshot: ${message(e)}`));
  }
  await cleanUp();
  const line = JSON.stringify({ ...result, values }) + "\n";
  writeOut(line, () => process.exit(result.ok ? 0 : 1));
}

async function main() {
  const file = process.argv[2];
  if (!file) throw new Error("usage: node run.mjs SCENARIO.mjs");
  const scenario = (await import(pathToFileURL(path.resolve(file)).href)).default;
  if (typeof scenario !== "function") {
    throw new Error(`${file} has no default export function (page, ctx)`);
  }
  if (!fs.existsSync(executablePath)) {
    throw new Error(`no browser at ${executablePath}: apt-get install chromium, or set CHROMIUM`);
  }

  let httpCredentials;
  if (process.env.BASIC_AUTH) {
    const auth = process.env.BASIC_AUTH;
    const colon = auth.indexOf(":");
    if (colon < 0) throw new Error("BASIC_AUTH must be user:pass");
    httpCredentials = { username: auth.slice(0, colon), password: auth.slice(colon + 1) };
  }

  profile = fs.mkdtempSync(path.join(os.tmpdir(), "ruvuma-chromium-"));
  const left = () => Math.max(1000, budget - (Date.now() - started));
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    httpCredentials,
    timeout: left(),
    viewport: { width: 1280, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(Math.min(10000, left()));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.error(`[page console.${m.type()}] ${m.text()}`);
  });
  page.on("pageerror", (e) => console.error(`[page error] ${message(e)}`));

  const ctx = Object.freeze({ base: process.env.BASE_URL || "", shot, log });
  await scenario(page, ctx);
}

process.on("unhandledRejection", (e) => finish({ ok: false, error: `unhandled rejection: ${message(e)}` }));
process.on("uncaughtException", (e) => finish({ ok: false, error: `uncaught exception: ${message(e)}` }));
process.on("exit", () => {
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

const watchdog = setTimeout(() => {
  finish({ ok: false, error: `the scenario did not finish within ${budget} ms (BROWSER_TIMEOUT_MS)` });
  // If even the clean-up hangs, leave anyway: Playwright kills its browser when node exits.
  setTimeout(() => process.exit(1), 15000).unref();
}, budget);

main().then(
  () => {
    clearTimeout(watchdog);
    return finish({ ok: true });
  },
  (e) => {
    clearTimeout(watchdog);
    return finish({ ok: false, error: message(e) });
  },
);
