// End-to-end browser test of the real app: the cartwheel binary in dev mode on
// its own fresh PostgreSQL database, driven in Debian's Chromium. It covers the
// path a merchant takes without Shopify: dev login, plain links inside the admin
// (bounce page → fresh session token → reload), and saving Settings through
// htmx with the session token, persisted across reloads.
// Needs `npm run build` first. Run: npm run test:browser
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { goBuild } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let app, base, browser, workdir;
let logs = '';

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

before(async () => {
  workdir = mkdtempSync(path.join(tmpdir(), 'cartwheel-e2e-'));
  const bin = goBuild('.', path.join(workdir, 'cartwheel'));
  const dbURL = execFileSync('go', ['run', './scripts/pgctl', 'createdb', `cartwheel_e2e_${process.pid}`], { cwd: root })
    .toString().trim();
  const port = await freePort();
  base = `http://localhost:${port}`;
  app = spawn(bin, ['dev'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: dbURL, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  app.stdout.on('data', (d) => (logs += d));
  app.stderr.on('data', (d) => (logs += d));
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      const r = await fetch(base + '/healthz');
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('app did not start:\n' + logs);
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  app?.kill('SIGTERM');
  if (workdir) rmSync(workdir, { recursive: true, force: true });
  execFileSync('go', ['run', './scripts/pgctl', 'dropdb', `cartwheel_e2e_${process.pid}`], { cwd: root, stdio: 'ignore' });
});

test('a merchant logs in, follows plain links and saves settings', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(base + '/dev/login?shop=demo.myshopify.com');
  await page.waitForSelector('#dashboard');
  assert.match(await page.content(), /company postal address/, 'dashboard lists the missing settings');

  // A plain <a href> inside the admin carries no token: the bounce page gets one.
  await page.click('nav[aria-label="Main"] a[href="/app/settings"]');
  await page.waitForURL(/\/app\/settings\?.*id_token=/);
  await page.waitForSelector('#f-sender_email');

  const auth = [];
  page.on('request', (r) => r.method() === 'POST' && auth.push(r.headers()['authorization'] || ''));

  // Invalid input: inline errors from the server, nothing saved.
  await page.fill('#f-sender_name', 'Demo Store');
  await page.fill('#f-sender_email', 'not-an-email');
  const bad = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.click('button[type=submit]');
  assert.equal((await bad).status(), 422);
  await page.waitForSelector('#f-sender_email-error');
  assert.match(await page.textContent('#f-postal_address-error'), /postal address/i);

  // Valid input is saved.
  await page.fill('#f-sender_email', 'hello@demo-store.test');
  await page.fill('#f-postal_address', '1 Main Street\nSpringfield, IL 62701');
  await page.fill('#f-marketing_cap_hours', '24');
  const good = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.click('button[type=submit]');
  assert.equal((await good).status(), 200);
  await page.waitForSelector('text=Settings saved');
  assert.equal(auth.length, 2);
  for (const h of auth) assert.match(h, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'htmx requests carry a session token');

  // Persisted: a fresh load (through the bounce again) shows the saved values,
  // and the dashboard's checklist is done.
  await page.click('nav[aria-label="Main"] a[href="/app/settings"]');
  await page.waitForSelector('#f-sender_email');
  assert.equal(await page.inputValue('#f-sender_email'), 'hello@demo-store.test');
  assert.equal(await page.inputValue('#f-marketing_cap_hours'), '24');
  await page.click('nav[aria-label="Main"] a[href="/app"]');
  await page.waitForSelector('#dashboard-kpis');
  // Done, the checklist leaves the dashboard to the figures.
  assert.equal(await page.locator('#getting-started').count(), 0);
  assert.doesNotMatch(await page.content(), /company postal address/);

  assert.deepEqual(errors, []);
  await page.close();
});

test('admin pages refuse a browser without a session', async () => {
  const r = await fetch(base + '/api/session');
  assert.equal(r.status, 401);
  const page = await browser.newPage();
  const resp = await page.goto(base + '/app/settings?id_token=forged.token.value');
  assert.equal(resp.status(), 401);
  assert.equal(await page.locator('#f-sender_email').count(), 0);
  await page.close();
});

test('admin pages run under their CSP (script-src) without violations', async () => {
  const page = await browser.newPage();
  const violations = [];
  const errors = [];
  page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base + '/dev/login?shop=demo.myshopify.com');
  await page.waitForSelector('#dashboard');
  for (const p of ['/app/customers', '/app/customers/import', '/app/segments', '/app/segments/new', '/app/templates',
    '/app/wheel', '/app/settings']) {
    // A plain load goes through the bounce page, which gets a token and reloads.
    await page.goto(base + p);
    await page.waitForURL(/id_token=/);
    await page.waitForLoadState('networkidle');
    const csp = (await page.request.get(page.url())).headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self' https:\/\/cdn\.shopify\.com 'nonce-/, p + ' has a script-src');
  }
  // The wheel editor's live preview (an inline script with the nonce) rendered.
  await page.goto(base + '/app/wheel');
  await page.waitForURL(/id_token=/);
  const frame = page.frameLocator('iframe[src*="/app/wheel/preview"]');
  await frame.locator('#cw-preview *').first().waitFor();
  assert.deepEqual(violations, []);
  assert.deepEqual(errors, []);
  await page.close();
});
