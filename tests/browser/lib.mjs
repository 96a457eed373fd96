// Shared setup for the browser tests that run the real app: the cartwheel
// binary in dev mode on a fresh database of its own, Shopify's Admin API
// replaced by the fake in tests/browser/fakeshopify, and Debian's Chromium.
// Each test file calls startStack() in its own before(), so files stay
// independent (node --test runs them in parallel).
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const shop = 'demo.myshopify.com';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// eventually polls fn until it returns something truthy (and returns it);
// on timeout the error ends with the tail of the app's log.
export async function eventually(fn, what, ms = 20000, logs = () => '') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what + '\n' + logs().slice(-3000));
    await sleep(250);
  }
}

// goBuild builds the Go main package pkg to out and returns the binary's
// path. `make browser-test` builds the binaries once into
// CARTWHEEL_BROWSER_BIN (named after the package's last element), so the
// files running in parallel don't each link the app again.
export function goBuild(pkg, out) {
  const dir = process.env.CARTWHEEL_BROWSER_BIN;
  if (dir) {
    const prebuilt = path.join(dir, pkg === '.' ? 'cartwheel' : path.basename(pkg));
    if (existsSync(prebuilt)) return prebuilt;
  }
  execFileSync('go', ['build', '-o', out, pkg], { cwd: root, stdio: 'inherit' });
  return out;
}

// startStack builds and starts the fake Shopify and the app on database
// cartwheel_<name>_<pid>. It returns what the tests use and stop().
// With { fakeShopify: false } no fake process is started and the app runs
// as `make dev` does: `cartwheel dev` with its in-process Shopify.
// The demo shop's two months of email (seed.EmailHistory) are left out
// unless { demoHistory: true }: most tests build the history they check.
export async function startStack(name, { fakeShopify = true, demoHistory = false } = {}) {
  assert.ok(existsSync(path.join(root, 'extensions/cartwheel-theme/assets/cartwheel-wheel.js')), 'run `npm run build` first');
  const workdir = mkdtempSync(path.join(tmpdir(), `cartwheel-${name}-`));
  const bin = goBuild('.', path.join(workdir, 'cartwheel'));
  const fake = fakeShopify ? goBuild('./tests/browser/fakeshopify', path.join(workdir, 'fakeshopify')) : '';

  let logs = '';
  const st = { workdir, logs: () => logs };
  st.stop = () => {
    st.app?.kill('SIGTERM');
    st.fake?.kill('SIGTERM');
    rmSync(workdir, { recursive: true, force: true });
    // The database is private to this run: drop it (FORCE ends the app's
    // connections if it is still shutting down).
    execFileSync('go', ['run', './scripts/pgctl', 'dropdb', `cartwheel_${name}_${process.pid}`], { cwd: root, stdio: 'ignore' });
  };
  try {
    await start(st, bin, fake, name, (d) => (logs += d), demoHistory);
  } catch (e) {
    st.stop();
    throw e;
  }
  return st;
}

async function start(st, bin, fake, name, log, demoHistory) {
  let fakeURL = '';
  if (fake) {
    st.fake = spawn(fake, ['-shop', shop], { stdio: ['pipe', 'pipe', 'inherit'] });
    fakeURL = await new Promise((resolve, reject) => {
      let buf = '';
      st.fake.stdout.on('data', (d) => {
        const m = (buf += d).match(/^fake (\S+) control (\S+)/m);
        if (m) {
          st.control = m[2];
          resolve(m[1]);
        }
      });
      st.fake.on('exit', (code) => reject(new Error('fakeshopify exited: ' + code)));
    });
  }

  st.dbURL = execFileSync('go', ['run', './scripts/pgctl', 'createdb', `cartwheel_${name}_${process.pid}`], { cwd: root }).toString().trim();
  st.sql = (q) => execFileSync('psql', [st.dbURL, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', q]).toString().trim();
  const port = await freePort();
  st.base = `http://localhost:${port}`;
  st.app = spawn(bin, ['dev'], {
    cwd: root,
    // Without a fake process, SHOPIFY_API_BASE_URL stays empty and the app
    // starts its own Shopify, as under `make dev`.
    env: { ...process.env, DATABASE_URL: st.dbURL, PORT: String(port), SHOPIFY_API_BASE_URL: fakeURL,
      CARTWHEEL_DEMO_HISTORY: demoHistory ? 'on' : 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  st.app.stdout.on('data', log);
  st.app.stderr.on('data', log);
  st.eventually = (fn, what, ms) => eventually(fn, what, ms, st.logs);
  await st.eventually(async () => (await fetch(st.base + '/healthz').catch(() => ({}))).ok, 'the app to start', 30000);
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
