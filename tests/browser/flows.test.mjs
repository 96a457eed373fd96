// End-to-end test of Admin › Flows on the real app (see lib.mjs): a merchant
// turns on the abandoned-cart preset, edits a wait to 0, sees the step's red
// dot and the refusal at Go live, fixes the wait and goes live.
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
  await page.waitForSelector('text=Getting started');
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

  assert.deepEqual(errors, []);
  await page.close();
});
