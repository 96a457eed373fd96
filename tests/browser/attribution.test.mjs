// End-to-end test of attribution on the real app (see lib.mjs): a customer
// of the demo store clicked a sent campaign's email and ordered 2 h 14 min
// later; the app's own signals consumer credits the order, the campaign
// report shows the order and sales with why, and the merchant follows the
// order to the customer's page, whose order row says the same.
// Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, browser;

before(async () => {
  stack = await startStack('attribution');
  ({ base } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

test('a merchant sees which email earned an order and why', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');

  const shopID = stack.sql(`SELECT id FROM shops WHERE domain = '${shop}'`);
  const [customer, currency] = stack.sql(`SELECT c.id || ' ' || s.currency FROM customers c JOIN shops s ON s.id = c.shop_id
    WHERE c.shop_id = ${shopID} AND c.email IS NOT NULL AND c.deleted_at IS NULL ORDER BY c.id LIMIT 1`).split(' ');
  const campaign = stack.sql(`INSERT INTO campaigns (shop_id, name, status, audience_size, snapshot_at, started_at)
    VALUES (${shopID}, 'Browser sale', 'sent', 1, now() - interval '1 day', now() - interval '1 day') RETURNING id`);
  const message = stack.sql(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, campaign_id, campaign_variant)
    VALUES (${shopID}, ${customer}, 'browser@example.com', 'campaign', 'campaign:${campaign}:customer:${customer}', true, 'delivered',
            now() - interval '1 day', ${campaign}, '') RETURNING id`);
  stack.sql(`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, occurred_at) VALUES
    (${shopID}, ${message}, 'sendgrid', 'delivered', '', now() - interval '1 day'),
    (${shopID}, ${message}, 'redirect', 'click', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0', now() - interval '3 hours 14 minutes')`);
  // The order and its order_placed signal, as the orders webhook writes them.
  stack.sql(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, subtotal_price, total_price, financial_status, processed_at, shopify_created_at)
    VALUES (${shopID}, 990000001, '#B1001', ${customer}, '${currency}', 84.50, 84.50, 'paid', now() - interval '1 hour', now() - interval '1 hour')`);
  stack.sql(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
    VALUES (${shopID}, ${customer}, 'order_placed', '990000001', '{}', now())`);
  await stack.eventually(() => stack.sql(`SELECT count(*) FROM order_attributions WHERE order_id = 990000001`) === '1', 'the order to be credited');

  const reason = 'attributed to Browser sale: clicked 2 h 14 min before the order (click window 5 days)';
  await page.goto(`${base}/app/campaigns/${campaign}/report`);
  await page.waitForSelector('#report-revenue');
  assert.equal(await page.textContent('#report-revenue tr[data-metric="orders"] [data-count]'), '1');
  assert.equal(await page.textContent('#report-revenue tr[data-metric="sales"] [data-count]'), `84.50 ${currency}`);
  assert.equal(await page.textContent('#report-orders tr[data-order="#B1001"] [data-reason]'), reason);

  await page.click('#report-orders tr[data-order="#B1001"] a');
  // Through the session bounce: the customer page, loaded with its token.
  await page.waitForURL(new RegExp(`/app/customers/${customer}\\?.*id_token=`));
  await page.waitForSelector('#customer-orders');
  const row = (await page.textContent('#customer-orders tr[data-attribution-of="#B1001"]')).trim();
  assert.equal(row, 'A' + reason.slice(1));
  assert.deepEqual(errors, []);
});
