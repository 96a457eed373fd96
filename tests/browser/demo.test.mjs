// What a new user does after `make dev`: the app in dev mode exactly as
// `cartwheel dev` runs it — no fake Shopify process, no SHOPIFY_API_BASE_URL:
// the app simulates Shopify's Admin API for the demo shop itself. Open the
// root URL (it leads to the admin), make every slice of the wheel a prize,
// win on the dev storefront and see the code within seconds, then re-sync
// the store from Settings and watch the bars fill. Needs `npm run build`.
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
  const before = {
    customers: Number(sql(`SELECT count(*) FROM customers c JOIN shops s ON s.id = c.shop_id WHERE s.domain = '${shop}' AND c.shopify_id IS NOT NULL`)),
    products: Number(sql(`SELECT count(*) FROM products p JOIN shops s ON s.id = p.shop_id WHERE s.domain = '${shop}'`)),
  };
  assert.ok(before.customers > 0 && before.products > 0, 'the demo shop is seeded');

  await page.goto(`${base}/app/settings`);
  const sync = page.locator('#store-sync');
  await sync.waitFor();
  await sync.getByRole('button', { name: /Re-sync|Retry/ }).click();
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
