// Browser tests of the admin views: Debian's Chromium driven by playwright-core
// against tests/browser/fixture (the real templ views and built assets, canned data).
// Needs `npm run build` first. Run: npm run test:browser
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let server;
let base;
let browser;
let workdir;

before(async () => {
  assert.ok(existsSync(path.join(root, 'views/static/dist/admin.js')), 'run `npm run build` first');
  workdir = mkdtempSync(path.join(tmpdir(), 'cartwheel-browser-'));
  const bin = path.join(workdir, 'fixture');
  execFileSync('go', ['build', '-o', bin, './tests/browser/fixture'], { cwd: root, stdio: 'inherit' });
  server = spawn(bin, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fixture did not start')), 15000);
    let buf = '';
    server.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', (code) => reject(new Error('fixture exited: ' + code)));
  });
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

async function open(url) {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('response', (r) => {
    if (r.url().includes('/static/') && r.status() !== 200) problems.push(`asset ${r.url()} -> ${r.status()}`);
  });
  await page.goto(base + url, { waitUntil: 'networkidle' });
  return { page, problems };
}

test('settings page is styled by Polaris and accessible', async () => {
  const { page, problems } = await open('/app/settings');
  // Polaris CSS applied: the page has Polaris' background and font tokens.
  const bg = await page.evaluate(() => getComputedStyle(document.querySelector('.Polaris-Frame')).backgroundColor);
  assert.equal(bg, 'rgb(241, 241, 241)');
  assert.equal(await page.locator('nav[aria-label="Main"] a[aria-current="page"]').getAttribute('href'), '/app/settings');
  // Every form control has a label that points at it.
  const unlabeled = await page.evaluate(() =>
    [...document.querySelectorAll('input, textarea, select')]
      .filter((el) => el.type !== 'hidden' && !document.querySelector(`label[for="${el.id}"]`))
      .map((el) => el.name),
  );
  assert.deepEqual(unlabeled, []);
  // Keyboard focus is visible.
  await page.focus('#f-sender_name');
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement.parentElement.querySelector('.Polaris-TextField__Backdrop')).outlineStyle);
  assert.equal(ring, 'solid', 'focused text field shows a focus ring');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Shift+Tab');
  await page.focus('nav[aria-label="Main"] a[href="/app/customers"]');
  await page.keyboard.press('Tab');
  const navRing = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.equal(navRing, 'solid', 'focused nav link shows a focus ring');
  assert.deepEqual(problems, []);
  await page.close();
});

test('htmx posts carry the session token; 422 re-renders the form with inline errors', async () => {
  const { page, problems } = await open('/app/settings');
  const auth = [];
  page.on('request', (r) => r.method() === 'POST' && auth.push(r.headers()['authorization']));
  await page.fill('#f-sender_email', 'nope@');
  await page.fill('#f-sender_name', 'Demo <script>window.pwned=1</script>');
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.click('button[type=submit]');
  assert.equal((await posted).status(), 422);
  await page.waitForSelector('#f-sender_email-error');
  assert.deepEqual(auth, ['Bearer dev-token-123']);
  assert.equal(await page.getAttribute('#f-sender_email', 'aria-invalid'), 'true');
  assert.match(await page.textContent('#f-postal_address-error'), /postal address/);
  assert.equal(await page.inputValue('#f-sender_name'), 'Demo <script>window.pwned=1</script>');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // Focus moved to the error summary so it is announced.
  assert.match(await page.evaluate(() => document.activeElement.className), /Polaris-Banner/);
  assert.equal(await page.locator('form#settings-form').count(), 1);

  await page.fill('#f-sender_email', 'hello@demo.test');
  await page.fill('#f-postal_address', '1 Main St\nSpringfield');
  await page.selectOption('#f-timezone', 'Asia/Tokyo');
  assert.equal(await page.textContent('.Polaris-Select__SelectedOption'), 'Asia/Tokyo');
  await page.click('button[type=submit]');
  await page.waitForSelector('text=Settings saved');
  assert.equal(await page.locator('.Polaris-InlineError').count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('server errors are shown in a toast', async () => {
  const { page } = await open('/app/settings');
  await page.fill('#f-sender_name', 'boom');
  await page.click('button[type=submit]');
  const toast = page.locator('#cw-toasts .Polaris-Frame-Toast--error');
  await toast.waitFor();
  assert.equal((await toast.textContent()).replace('×', '').trim(), 'something went wrong on our side; please try again');
  await page.close();
});

test('bounce page reloads with a fresh id_token', async () => {
  const { page } = await open('/app');
  await page.waitForURL(/id_token=dev-token-123/);
  await page.waitForSelector('#dashboard');
  await page.close();
});

test('bounce page stops after repeated refusals', async () => {
  const { page } = await open('/app/bounce-forever');
  await page.waitForSelector('text=could not verify your session', { timeout: 10000 });
  await page.close();
});
