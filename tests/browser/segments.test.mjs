// End-to-end test of Admin › Segments on the real app (see lib.mjs): the
// demo shop's preset segments with their sizes, then a segment built with
// the visual builder — a condition, a nested "any of" group, the live count
// following each edit, a validation problem shown next to its condition and
// fixed — saved, and its detail page with members and the CSV export.
// Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, browser;

before(async () => {
  stack = await startStack('segments');
  ({ base } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

const token = async () => (await (await fetch(`${base}/dev/token?shop=${shop}`)).text()).trim();

// settled waits for the debounced preview to have been sent and answered:
// the preview is aria-busy from the edit until its answer is shown.
async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('#seg-preview').hasAttribute('aria-busy'));
}

const liveCount = (page) => page.locator('[data-preview-count]').getAttribute('data-count');

test('a merchant sees the presets and builds a segment with a live count', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');
  await page.click('nav[aria-label="Main"] a[href="/app/segments"]');
  await page.waitForURL(/\/app\/segments\?.*id_token=/);

  // Presets, each with its current size.
  await page.waitForSelector('#segments-table');
  const rows = await page.$$eval('#segments-table tbody tr', (trs) =>
    trs.map((tr) => ({ name: tr.dataset.segment, size: tr.querySelector('[data-size]').textContent, preset: tr.textContent.includes('Preset') })),
  );
  assert.ok(rows.length >= 15, `presets listed: ${rows.length}`);
  assert.ok(rows.every((r) => r.preset && /^[\d,]+$/.test(r.size)), JSON.stringify(rows));
  const subscribers = rows.find((r) => r.name === 'All subscribers');
  const want = stack.sql(`SELECT count(*) FROM segment_members sm JOIN segments s ON s.id = sm.segment_id WHERE s.name = 'All subscribers'`);
  assert.equal(subscribers.size.replace(/,/g, ''), want);

  // The builder starts with "number of orders is at least 1", counted live.
  await page.click('a[href="/app/segments/new"]');
  await page.waitForURL(/\/app\/segments\/new\?.*id_token=/);
  await page.waitForSelector('#seg-builder:not([hidden])');
  assert.ok(await page.locator('[data-rules-json]').isHidden(), 'the JSON textarea gives way to the builder');
  await page.fill('#f-name', 'Engaged buyers');
  await settled(page);
  const buyers = stack.sql(`SELECT count(*) FROM customers WHERE shop_id = (SELECT id FROM shops WHERE domain = '${shop}') AND deleted_at IS NULL AND orders_count >= 1`);
  assert.equal(await liveCount(page), buyers);
  assert.match(await page.textContent('[data-preview-summary]'), /Customers who placed at least 1 order/);
  assert.ok((await page.$$('[data-preview-sample] li')).length > 0, 'sample members shown');

  // A nested "any of" group: created within N days, or at least 5 orders.
  await page.click('[data-group="root"] > .cw-Builder__add [data-add-group]');
  const g = '[data-group="root.items[1]"]';
  await page.waitForSelector(g);
  assert.equal(await page.inputValue(`${g} [data-group-op]`), 'or');
  await page.selectOption(`[data-path="root.items[1].items[0]"] [data-field]`, 'created_at');
  await page.click(`${g} > .cw-Builder__add [data-add-condition]`);
  await page.fill(`[data-path="root.items[1].items[1]"] [data-number]`, '5');

  // An impossible window: the validator's message appears next to it.
  await page.fill(`[data-path="root.items[1].items[0]"] [data-days]`, '0');
  await settled(page);
  const inline = page.locator(`[data-path="root.items[1].items[0]"] .Polaris-InlineError`);
  await inline.waitFor();
  assert.match(await inline.textContent(), /needs a number of days from 1 to 3650/);
  assert.equal(await page.textContent('[data-preview-count]'), '—');

  // Fixed: the message goes, the count comes back.
  await page.fill(`[data-path="root.items[1].items[0]"] [data-days]`, '3650');
  await settled(page);
  assert.equal(await inline.count(), 0);
  const count = await liveCount(page);
  assert.match(count, /^\d+$/);
  assert.match(await page.textContent('[data-preview-summary]'), /either were created in the last 3650 days, or placed at least 5 orders/);
  const rules = JSON.parse(await page.inputValue('textarea[name="rules"]'));
  assert.deepEqual(rules.root.items[1].group.items[1].condition, { field: 'orders_count', op: 'gte', number: 5 });

  // Saving without a name: the form comes back (422) with the problem, and
  // the builder with the same tree.
  await page.fill('#f-name', '');
  await page.click('#segment-form button[type="submit"]');
  await page.waitForSelector('#segment-errors');
  assert.match(await page.textContent('#segment-errors'), /Enter a name for the segment/);
  await page.waitForSelector('#seg-builder:not([hidden]) [data-group="root.items[1]"]');
  assert.equal(await page.inputValue('[data-path="root.items[1].items[1]"] [data-number]'), '5');
  await settled(page);
  assert.equal(await liveCount(page), count);

  // Save: the detail page, with as many members as the live count said.
  await page.fill('#f-name', 'Engaged buyers');
  await page.click('#segment-form button[type="submit"]');
  await page.waitForURL(/\/app\/segments\/\d+\?.*id_token=/);
  await page.waitForSelector('#segment-size');
  assert.equal(await page.textContent('h1'), 'Engaged buyers');
  assert.equal((await page.textContent('#segment-size')).replace(/,/g, ''), `${count} ${count === '1' ? 'customer' : 'customers'}`);
  const members = await page.$$('#members-table tbody tr');
  assert.equal(members.length, Math.min(Number(count), 50));
  assert.ok(await page.isVisible('#history-empty'), 'no chart before the first daily refresh');

  // The export link serves every member as CSV.
  const href = await page.getAttribute('a:has-text("Export CSV")', 'href');
  const res = await fetch(new URL(href, base), { headers: { Authorization: 'Bearer ' + (await token()) } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-disposition'), /^attachment;/);
  const lines = (await res.text()).trim().split('\n');
  assert.equal(lines.length, Number(count) + 1);

  // Editing it again shows the same tree.
  await page.click('a:has-text("Edit")');
  await page.waitForURL(/\/edit\?.*id_token=/);
  await page.waitForSelector('[data-group="root.items[1]"]');
  assert.equal(await page.inputValue('[data-path="root.items[1].items[0]"] [data-days]'), '3650');

  // Delete is refused while another segment uses it, naming that segment.
  const id = page.url().match(/\/app\/segments\/(\d+)\/edit/)[1];
  const made = await fetch(`${base}/app/segments`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Authorization: 'Bearer ' + (await token()), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      name: 'Engaged buyers, subscribed',
      rules: JSON.stringify({ version: 1, root: { op: 'and', items: [{ condition: { field: 'segment', op: 'in', segment_id: Number(id) } }] } }),
    }),
  });
  assert.equal(made.status, 303);
  page.on('dialog', (d) => d.accept());
  await page.click('a:has-text("Cancel")');
  await page.waitForSelector('[data-delete-segment]');
  await page.click('[data-delete-segment]');
  await page.waitForSelector('#segment-error');
  assert.match(await page.textContent('#segment-error'), /used by "Engaged buyers, subscribed"/);
  assert.equal(stack.sql(`SELECT count(*) FROM segments WHERE id = ${id}`), '1');

  // The dependent one goes without a fuss, back to the list.
  await page.goto(`${base}${made.headers.get('location')}`);
  await page.waitForSelector('[data-delete-segment]');
  await page.click('[data-delete-segment]');
  await page.waitForURL(/\/app\/segments\?.*id_token=/);
  await page.waitForSelector('#segments-table');
  assert.ok(await page.isVisible('tr[data-segment="Engaged buyers"]'));
  assert.equal(await page.locator('tr[data-segment="Engaged buyers, subscribed"]').count(), 0);

  assert.deepEqual(errors, []);
  await page.close();
});
