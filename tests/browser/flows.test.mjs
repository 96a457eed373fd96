// End-to-end test of Admin › Flows on the real app (see lib.mjs): a merchant
// turns on the abandoned-cart preset, edits a wait to 0, sees the step's red
// dot and the refusal at Go live, fixes the wait and goes live; a signed-in
// shopper adds to the cart on the dev storefront and the merchant watches
// the cart flow's per-step numbers move with the dev "Skip waits by 1 day";
// then, with the abandoned-checkout preset live too, another shopper checks
// out and that flow sends its first two emails.
// Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, browser;

before(async () => {
  stack = await startStack('flows');
  ({ base } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

test('a merchant turns on the abandoned-cart preset after fixing a wait', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');
  await page.click('nav[aria-label="Main"] a[href="/app/flows"]');
  await page.waitForURL(/\/app\/flows\?.*id_token=/);

  // The ready-made flows are offered as cards; use the abandoned-cart one.
  const card = page.locator('[data-preset="abandoned_cart"]');
  await card.waitFor();
  await card.locator('select[name="locale"]').selectOption('en');
  await card.locator('button[type="submit"]').click();
  await page.waitForURL(/\/app\/flows\/\d+/);
  await page.waitForSelector('#flow-canvas [data-step="email-3"]');
  assert.equal(await page.getAttribute('#flow-status', 'data-status'), 'draft');
  assert.equal(await page.locator('[data-problem-dot]').count(), 0, 'the preset is ready as it is');

  // Edit the first wait to 0: it is saved, and the step gets its red dot.
  await page.click('[data-step="wait-1"] .cw-StepTitle');
  await page.waitForSelector('#step-form[data-step-form="wait-1"]');
  await page.fill('#step-form input[name="wait"]', '0');
  await page.click('#step-form button[type="submit"]');
  await page.waitForSelector('[data-step="wait-1"] [data-problem-dot]');
  assert.match(await page.textContent('[data-step="wait-1"]'), /This wait is zero/);

  // Go live is refused, with the mark still on the step.
  await page.click('[data-action="publish"]');
  await page.waitForSelector('#flow-problems >> text=can\'t go live yet');
  assert.ok(await page.locator('[data-step="wait-1"] [data-problem-dot]').isVisible());
  assert.equal(stack.sql(`SELECT count(*) FROM flow_versions`), '0');

  // Fix it: the dot goes, and the flow goes live.
  await page.click('[data-step="wait-1"] .cw-StepTitle');
  await page.waitForSelector('#step-form[data-step-form="wait-1"]');
  await page.fill('#step-form input[name="wait"]', '1d');
  await page.click('#step-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#step-form input[name="wait"]')?.value === '1d' && !document.querySelector('[data-problem-dot]'));
  await page.click('[data-action="publish"]');
  await page.waitForSelector('#flow-status[data-status="live"]');
  assert.match(await page.textContent('body'), /The flow is live \(version 1\)/);
  assert.equal(stack.sql(`SELECT status || ':' || live_version FROM flows WHERE preset_key = 'abandoned_cart'`), 'live:1');
  assert.equal(stack.sql(`SELECT definition->'steps'->0->>'wait' FROM flow_versions`), '1d');
  const cartFlowID = page.url().match(/\/app\/flows\/(\d+)/)[1];

  // The outbox sends once the sender is verified (Settings › sender
  // confirmation, done here in SQL).
  stack.sql(`UPDATE shops SET sender_email = 'shop@example.com', sender_name = 'Demo Store', postal_address = '1 Main St, Springfield' WHERE domain = '${shop}'`);
  stack.sql(`INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at, verified_at) SELECT id, 'shop@example.com', decode(md5(random()::text), 'hex'), now(), now() FROM shops WHERE domain = '${shop}'`);

  // The per-step numbers, and the dev "Skip waits by 1 day" pressed until
  // a step has sent its email (the canvas refreshes itself while an email
  // is on its way).
  const stepNumbers = (step) => page.evaluate((s) => document.querySelector(`[data-step="${s}"] [data-step-numbers]`)?.textContent || '', step);
  const runOnTrigger = (id, what) => stack.eventually(async () => {
    await page.goto(`${base}/app/flows/${id}`);
    await page.waitForSelector('#flow-canvas');
    return /^1 entered · 1 waiting/.test((await page.locator('[data-step="trigger"] [data-step-numbers]').textContent().catch(() => '')) || '');
  }, what, 60000);
  const skipDay = async () => {
    await Promise.all([page.waitForNavigation(), page.click('[data-dev-run="day"]')]);
    await page.waitForSelector('#flow-canvas');
  };
  const sentBy = async (step, presses) => {
    for (let i = 0; i < presses; i++) {
      const text = await stepNumbers(step);
      if (/ 1 sent/.test(text)) return;
      await skipDay();
    }
    await page.waitForFunction((s) => / 1 sent/.test(document.querySelector(`[data-step="${s}"] [data-step-numbers]`)?.textContent || ''), step);
  };

  // A signed-in shopper (a subscribed demo customer nobody has emailed
  // lately) adds the jacket to the cart and leaves: the cart flow takes
  // them, and its numbers move as the merchant skips the waits.
  const buyer = stack.sql(`SELECT c.shopify_id FROM customers c JOIN shops s ON s.id = c.shop_id
    WHERE s.domain = '${shop}' AND c.email_consent = 'subscribed' AND c.shopify_id IS NOT NULL AND c.deleted_at IS NULL AND c.email IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.shop_id = c.shop_id AND x.email = lower(c.email))
      AND NOT EXISTS (SELECT 1 FROM email_messages m WHERE m.customer_id = c.id AND m.created_at > now() - interval '3 days')
      AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.processed_at > now() - interval '1 day')
    ORDER BY c.id LIMIT 1`);
  assert.match(buyer, /^\d+$/, 'the demo shop has a subscribed Shopify customer');
  const cartShopper = await browser.newPage();
  cartShopper.on('pageerror', (e) => errors.push('storefront: ' + e.message));
  await cartShopper.goto(`${base}/dev/storefront?shop=${shop}&customer_id=${buyer}`);
  await cartShopper.click('#add-form button[type="submit"]');
  await cartShopper.waitForSelector('#cart-status >> text=Added Alpine Jacket');
  await stack.eventually(() => stack.sql(`SELECT count(*) FROM events e JOIN customers c ON c.id = e.customer_id
    WHERE c.shopify_id = ${buyer} AND e.name = 'product_added_to_cart'`) === '1', 'the add to cart on the shopper\'s profile', 30000);
  await cartShopper.close();
  await runOnTrigger(cartFlowID, 'the cart run on the trigger');
  await sentBy('email-1', 3);
  assert.match(await stepNumbers('wait-1'), /^1 entered/);
  assert.match(await stepNumbers('email-1'), /^1 entered · 0 waiting · 1 sent/);
  assert.equal(stack.sql(`SELECT string_agg(m.flow_step, ',') FROM email_messages m JOIN customers c ON c.id = m.customer_id
    WHERE c.shopify_id = ${buyer} AND m.flow_id = ${cartFlowID} AND m.status = 'sent'`), 'email-1');

  // A checkout hands the shopper from the cart flow to the checkout flow:
  // the merchant turns that one on too (as it comes).
  await page.click('a[href="/app/flows"]');
  const checkoutCard = page.locator('[data-preset="abandoned_checkout"]');
  await checkoutCard.waitFor();
  await checkoutCard.locator('select[name="locale"]').selectOption('en');
  await checkoutCard.locator('button[type="submit"]').click();
  await page.waitForURL(/\/app\/flows\/\d+/);
  const flowID = page.url().match(/\/app\/flows\/(\d+)/)[1];
  await page.click('[data-action="publish"]');
  await page.waitForSelector('#flow-status[data-status="live"]');

  // A shopper adds the jacket on the dev storefront and checks out with an
  // email, ticking "Email me with news and offers".
  const shopper = await browser.newPage();
  shopper.on('pageerror', (e) => errors.push('storefront: ' + e.message));
  await shopper.goto(`${base}/dev/storefront?shop=${shop}`);
  await shopper.click('#add-form button[type="submit"]');
  await shopper.waitForSelector('#cart-status >> text=Added Alpine Jacket');
  await shopper.goto(`${base}/dev/storefront/cart`);
  await shopper.click('#checkout');
  await shopper.fill('#email', 'walker@example.com');
  await shopper.check('#marketing');
  await shopper.click('#checkout-form button[type="submit"]');
  await shopper.waitForSelector('[data-checkout="started"]');
  await shopper.close();

  // Back on the checkout flow: the run appears on the trigger.
  await runOnTrigger(flowID, 'the checkout run on the trigger');
  await sentBy('email-1', 2);
  assert.match(await stepNumbers('wait-1'), /^1 entered/);
  assert.match(await stepNumbers('email-1'), /^1 entered · 0 waiting · 1 sent/);
  await sentBy('email-2', 3);
  assert.match(await stepNumbers('email-2'), /^1 entered · 0 waiting · 1 sent/);
  assert.match(await stepNumbers('trigger'), /^1 entered · 0 waiting/);
  assert.equal(stack.sql(`SELECT string_agg(m.flow_step, ',' ORDER BY m.id) FROM email_messages m JOIN customers c ON c.id = m.customer_id
    WHERE c.email = 'walker@example.com' AND m.flow_id = ${flowID} AND m.status = 'sent'`), 'email-1,email-2');
  assert.equal(stack.sql(`SELECT count(*) FROM outbox_messages o JOIN email_messages m ON m.id = o.message_id WHERE m.flow_id = ${flowID}`), '2');

  assert.deepEqual(errors, []);
  await page.close();
});
