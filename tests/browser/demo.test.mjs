// What a new user does after `make dev`: the app in dev mode exactly as
// `cartwheel dev` runs it — no fake Shopify process, no SHOPIFY_API_BASE_URL:
// the app simulates Shopify's Admin API for the demo shop itself. Open the
// root URL (it leads to the admin), make every slice of the wheel a prize,
// win on the dev storefront and see the code within seconds, then re-sync
// the store from Settings and watch the bars fill. Needs `npm run build`.
// The first start also plays the install's follow-up against the simulated
// Shopify (post-install job: details, webhooks, web pixel, first import).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, browser;
const sql = (q) => stack.sql(q);

before(async () => {
  stack = await startStack('demo', { fakeShopify: false });
  ({ base } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

// The admin in one browser context, entered through the root URL.
let admin;
async function openAdmin() {
  if (admin) return admin;
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/app', 'the root URL leads to the admin');
  await page.locator('h1', { hasText: 'Dashboard' }).waitFor();
  admin = { context, page, errors };
  return admin;
}

test('a new user wins on the dev storefront and sees the code within seconds', async () => {
  assert.match(stack.logs(), /Shopify's Admin API for demo\.myshopify\.com is simulated at http:\/\/127\.0\.0\.1:\d+/);
  const { page } = await openAdmin();

  // Admin › Signup wheel: the slices without a prize never win.
  await page.goto(`${base}/app/wheel`);
  await page.locator('form select[name=slice_kind]').first().waitFor();
  const kinds = await page.locator('select[name=slice_kind]').evaluateAll((els) => els.map((e) => e.value));
  assert.ok(kinds.includes('none') && kinds.some((k) => k !== 'none'), `the demo wheel has prizes and blanks: ${kinds}`);
  const weights = page.locator('input[name=slice_weight]');
  for (let i = 0; i < kinds.length; i++) if (kinds[i] === 'none') await weights.nth(i).fill('0');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('text=Wheel saved').waitFor();

  // A shopper on the dev storefront.
  const shopper = await browser.newContext();
  const sf = await shopper.newPage();
  const errors = [];
  sf.on('pageerror', (e) => errors.push(e.message));
  await sf.goto(`${base}/dev/storefront?shop=${shop}`);
  const dialog = sf.locator('[role=dialog][aria-modal=true]');
  await dialog.waitFor({ timeout: 20000 });
  const email = `newuser+${process.pid}@example.com`;
  await dialog.locator('input[name=email]').fill(email);
  await dialog.locator('input[type=checkbox]').first().check();
  const spun = sf.waitForResponse((r) => r.url().includes('/apps/cartwheel/spin') && r.request().method() === 'POST');
  const clicked = Date.now();
  await dialog.locator('button[type=submit]').click();
  const res = await spun;
  assert.equal(res.status(), 200, await res.text());
  const spin = await res.json();
  assert.notEqual(spin.prize.kind, 'none', 'every slice left is a prize');

  // The code shows up within seconds: the in-process Shopify created it.
  const code = await dialog.locator('[aria-live=polite] code').textContent({ timeout: 10000 });
  const seconds = (Date.now() - clicked) / 1000;
  assert.ok(code.length >= 6, `code ${code}`);
  assert.equal(sql(`SELECT code FROM spins WHERE id = ${Number(spin.spin_id)}`), code);
  assert.doesNotMatch(await dialog.textContent(), /still creating/i);
  assert.deepEqual(errors, []);
  console.log(`# code ${code} shown ${seconds.toFixed(1)} s after Spin`);
  await shopper.close();
});

test('Settings › Re-sync imports the seeded store and its bars fill', async () => {
  const { page, errors } = await openAdmin();
  // The wheel's new subscriber was pushed to the simulated Shopify (which
  // gave them a Shopify id), so the export below includes them.
  await stack.eventually(() => sql(`SELECT count(*) FROM customers WHERE source = 'wheel' AND shopify_id IS NULL`) === '0', 'the signup pushed to Shopify');
  const before = {
    customers: Number(sql(`SELECT count(*) FROM customers c JOIN shops s ON s.id = c.shop_id WHERE s.domain = '${shop}' AND c.shopify_id IS NOT NULL`)),
    products: Number(sql(`SELECT count(*) FROM products p JOIN shops s ON s.id = p.shop_id WHERE s.domain = '${shop}'`)),
  };
  assert.ok(before.customers > 0 && before.products > 0, 'the demo shop is seeded');

  // The first start played the install against the simulated Shopify:
  // shop details, webhook check, web pixel, and a first import.
  await stack.eventually(() => sql(`SELECT webhooks_checked_at IS NOT NULL FROM shops WHERE domain = '${shop}'`) === 't', 'the post-install job');

  await page.goto(`${base}/app/settings`);
  const sync = page.locator('#store-sync');
  await sync.waitFor();
  // Re-sync is offered once the first import is over.
  await page.waitForFunction(() => {
    const b = document.querySelector('#store-sync button');
    return b && !b.disabled && /Re-sync/.test(b.textContent);
  }, null, { timeout: 60000 });
  assert.equal(sql(`SELECT count(*) FROM import_runs WHERE status = 'done'`), '4', 'the first import ran');
  await sync.getByRole('button', { name: 'Re-sync' }).click();
  await page.locator('#store-sync', { hasText: 'Re-sync started' }).waitFor();

  // Every resource reaches "Done" (the fragment polls itself every 2 s)…
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#store-sync strong')].map((s) => s.parentElement.textContent);
    return rows.length === 4 && rows.every((t) => /Done: \d+ rows/.test(t));
  }, null, { timeout: 60000 });
  const text = await sync.textContent();
  assert.doesNotMatch(text, /Failed|Retrying|stopped/);
  assert.match(text, new RegExp(`Customers — Done: ${before.customers} rows`));
  // Products: each product line, its variants and collections count as rows.
  assert.match(text, /Products — Done: [1-9]\d* rows/);

  // …and each bar is drawn full: the indicator spans its track.
  const bars = await page.waitForFunction(() => {
    const out = [...document.querySelectorAll('#store-sync .Polaris-ProgressBar')].map((bar) => ({
      track: bar.getBoundingClientRect().width,
      fill: bar.querySelector('.Polaris-ProgressBar__Indicator').getBoundingClientRect().width,
    }));
    return out.length === 4 && out.every((b) => b.track > 50 && b.fill >= b.track - 0.5) && out;
  }, null, { timeout: 5000 });
  for (const b of await bars.jsonValue()) assert.ok(Math.abs(b.fill - b.track) <= 0.5, `bar filled ${b.fill} of ${b.track} px`);

  // The re-import changed nothing: the store is the one the seed made.
  assert.equal(Number(sql(`SELECT count(*) FROM customers c JOIN shops s ON s.id = c.shop_id WHERE s.domain = '${shop}' AND c.shopify_id IS NOT NULL`)), before.customers);
  assert.equal(Number(sql(`SELECT count(*) FROM products p JOIN shops s ON s.id = p.shop_id WHERE s.domain = '${shop}'`)), before.products);
  assert.equal(sql(`SELECT coalesce(sum(errors), 0) FROM import_runs`), '0');
  assert.deepEqual(errors, []);
});

test('Customers › Import: a CSV import ends with a full bar', async () => {
  const { page, errors } = await openAdmin();
  const rows = ['Email,First Name,Email Marketing Consent'];
  for (let i = 0; i < 50; i++) rows.push(`csv${i}+${process.pid}@example.com,Csv${i},SUBSCRIBED`);
  await page.goto(`${base}/app/customers/import`);
  await page.locator('input[type=file]').setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n') + '\n') });
  await page.getByRole('button', { name: /Upload|Continue|Preview/i }).first().click();
  await page.waitForURL(/\/app\/customers\/import\/\d+/);
  // Off by default: importing a list must not start a welcome series for each.
  const startFlows = page.getByLabel('Start welcome flows for people this file subscribes');
  assert.equal(await startFlows.isChecked(), false);
  await startFlows.check();
  await page.getByRole('button', { name: 'Import 50 rows' }).click();
  await page.locator('text=Import finished').waitFor({ timeout: 30000 });
  await page.locator('text=Started for the people it newly subscribes').waitFor();
  const bar = await page.waitForFunction(() => {
    const b = document.querySelector('#import-progress .Polaris-ProgressBar');
    const track = b.getBoundingClientRect().width;
    const fill = b.querySelector('.Polaris-ProgressBar__Indicator').getBoundingClientRect().width;
    return track > 50 && fill >= track - 0.5 && { track, fill };
  }, null, { timeout: 5000 });
  const { track, fill } = await bar.jsonValue();
  assert.ok(Math.abs(fill - track) <= 0.5, `bar filled ${fill} of ${track} px`);
  assert.match(await page.locator('#import-progress').textContent(), /50 of 50 rows \(100%\)/);
  assert.deepEqual(errors, []);
});
