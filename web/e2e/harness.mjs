// What the browser tests run against: the real engine binary on a fresh SQLite file over
// loopback, a scripted OpenAI-compatible server, and Debian's chromium driven by
// playwright-core. Nothing is mocked between the browser and the engine.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const repo = resolve(import.meta.dirname, "..", "..");
export const artifacts = resolve(import.meta.dirname, "artifacts");

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function freePort() {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => res(port));
    });
  });
}

function engineBinary() {
  if (process.env.ATENDE_BIN) return process.env.ATENDE_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(repo, "target");
  for (const profile of ["debug", "release"]) {
    const candidate = join(target, profile, "atende");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error("no engine binary: run `cargo build` first or set ATENDE_BIN");
}

/** Starts the engine; resolves once /health answers and the set-up code was logged. */
export async function startEngine(llmBaseUrl) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "atende-e2e-"));
  const env = {
    ...process.env,
    ATENDE_ENV: "test",
    ATENDE_CONFIG_DIR: join(repo, "config"),
    ATENDE__SERVER__HOST: "127.0.0.1",
    ATENDE__SERVER__PORT: String(port),
    ATENDE__DATABASE__URL: `sqlite://${dir}/e2e.db`,
    ATENDE__LOG__LEVEL: "info",
    ATENDE__LOG__FORMAT: "json",
    ATENDE__REALTIME__STREAM_AI_REPLIES: "true",
    ATENDE__WIZARD__PUBLIC_BASE_URL: base,
    ATENDE__LLM__DEFAULT_BASE_URL: llmBaseUrl,
    ATENDE__LLM__DEFAULT_API_KEY: "sk-e2e-scripted",
  };
  let log = "";
  let setupCode = null;
  const onLog = (chunk) => {
    log += chunk;
    const found = /set-up code: ([A-Z0-9]{4}(?:-[A-Z0-9]{4}){3})/.exec(log);
    if (found) setupCode = found[1];
  };
  let child = null;
  // Never leave an engine behind, whatever happens to the test process.
  process.on("exit", () => child?.kill("SIGKILL"));
  /** Spawns the engine; resolves once /health answers (and, on a fresh store, the set-up
   * code was logged). */
  const launch = async (fresh) => {
    child = spawn(engineBinary(), ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", onLog);
    child.stderr.on("data", onLog);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`engine exited (${child.exitCode}):\n${log}`);
      try {
        const response = await fetch(`${base}/health`);
        if (response.ok && (setupCode || !fresh)) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`engine did not start:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await launch(true);
  return {
    base,
    setupCode,
    /** The engine's SQLite file, for scenarios that seed volume data directly. */
    dbPath: join(dir, "e2e.db"),
    log: () => log,
    /** Kills the engine, as a crash would; `start()` brings it back on the same port and store. */
    async crash() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
    start: () => launch(false),
    stop() {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  // playwright gives every launch a new, empty --user-data-dir of its own (and deletes it).
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS.filter((f) => f !== "--headless"),
  });
  return { browser, close: () => browser.close() };
}

/** A small typed-enough REST helper for arranging data the scenarios don't click through. */
export function restClient(base) {
  let token = null;
  const call = async (method, path, body) => {
    const response = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json", accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
    return json;
  };
  return {
    async login(email, password) {
      token = (await call("POST", "/api/v1/auth/token", { email, password })).token;
    },
    get: (p) => call("GET", p),
    post: (p, b) => call("POST", p, b ?? {}),
    put: (p, b) => call("PUT", p, b),
    patch: (p, b) => call("PATCH", p, b),
  };
}

export function ensureArtifacts() {
  mkdirSync(artifacts, { recursive: true });
}

/** Saves a scenario's screenshot and, with ATENDE_E2E_DOCS=1, a copy in docs/ as
 * `docsName` (the screenshots the README and docs/console.md show). */
export async function screenshot(page, name, docsName) {
  ensureArtifacts();
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  if (docsName && process.env.ATENDE_E2E_DOCS === "1") copyFileSync(path, join(repo, "docs", docsName));
  return path;
}
