// End-to-end walk of issue 13's "done when": a merchant opens the dashboard
// of the demo store (two months of email history, seed.EmailHistory, whose
// orders the app's own signals consumer attributes), sees the figures and
// the charts drawn, follows the top flow into its report, and goes down to
// one attributed order and its reason, then to the customer's page, which
// says the same. Screenshots at 1440 and 390 pixels go to test-results/.
// Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { shop, root, startStack, launchBrowser } from './lib.mjs';

let stack, base, browser;
const shots = path.join(root, 'test-results');

before(async () => {
  stack = await startStack('dashboard', { fakeShopify: false, demoHistory: true });
  ({ base } = stack);
  browser = await launchBrowser();
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

test('a merchant goes from the dashboard to a flow report and down to an attributed order and its reason', async () => {
  const shopID = stack.sql(`SELECT id FROM shops WHERE domain = '${shop}'`);
  // The consumer has attributed the history's orders and caught up.
  await stack.eventually(() => stack.sql(`SELECT count(*) FROM order_attributions WHERE shop_id = ${shopID} AND flow_id IS NOT NULL`) !== '0',
    'orders credited to the welcome series', 60000);
  await stack.eventually(() => stack.sql(`SELECT count(*) FROM customer_signals WHERE shop_id = ${shopID}`) === '0', 'the signals consumer to catch up', 60000);

  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');
  await page.selectOption('#d-preset', '90');
  await page.click('#dashboard-range button[type="submit"]');
  await page.waitForURL(/preset=90/);
  await page.waitForSelector('#dashboard-kpis');

  // The KPI is the rollups' figure, which is the attributed orders of the 90 days (shop's timezone).
  const orders = stack.sql(`SELECT count(*) FROM order_attributions WHERE shop_id = ${shopID}
    AND day >= (now() AT TIME ZONE 'America/New_York')::date - 89`);
  assert.equal((await page.textContent('[data-kpi="orders"] [data-value]')).trim(), orders);

  // The charts are drawn by the charting library, each with its table.
  await page.waitForSelector('#chart-sales[data-chart-drawn="true"] canvas');
  for (const id of ['chart-orders', 'chart-devices', 'chart-clients', 'chart-subscribers']) {
    await page.waitForSelector(`#${id}[data-chart-drawn="true"] canvas`);
    assert.ok((await page.locator(`#${id} table tbody tr`).count()) > 0, `${id} has its table`);
  }
  assert.ok((await page.locator('#dashboard-heatmap .cw-Heat4').count()) > 0, 'the heatmap marks the busiest hour');
  await page.screenshot({ path: path.join(shots, 'dashboard-1440.png'), fullPage: true });

  // Into the top flow's report.
  await page.click('#table-flows tbody tr:first-child a');
  await page.waitForURL(/\/app\/flows\/\d+\/report.*id_token=/);
  await page.waitForSelector('#flow-report-orders');
  const row = page.locator('#flow-report-orders tr[data-order]').first();
  const orderName = await row.getAttribute('data-order');
  const reason = (await row.locator('[data-reason]').textContent()).trim();
  assert.match(reason, /^attributed to Welcome series — .+: (clicked|opened) .+ before the order \((click|open) window \d+ days?\)$/);

  // Down to the customer's page, which gives the same reason.
  await row.locator('a[data-order-link]').click();
  await page.waitForURL(/\/app\/customers\/\d+\?.*id_token=/);
  await page.waitForSelector('#customer-orders');
  // (there as a sentence of its own: capitalised)
  const onProfile = (await page.textContent(`#customer-orders tr[data-attribution-of="${orderName}"]`)).trim();
  assert.equal(onProfile, reason[0].toUpperCase() + reason.slice(1));

  // The dashboard at a phone's width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/app?preset=90`);
  await page.waitForURL(/id_token=/);
  await page.waitForSelector('#chart-sales[data-chart-drawn="true"] canvas');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the dashboard scrolls sideways at 390 px by ${overflow} px`);
  await page.screenshot({ path: path.join(shots, 'dashboard-390.png'), fullPage: true });

  assert.deepEqual(errors, []);
  await page.close();
});
