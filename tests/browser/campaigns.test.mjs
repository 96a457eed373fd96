// End-to-end test of Admin › Campaigns on the real app (see lib.mjs): from a
// segment's page the merchant starts a campaign to it, sees who it can reach
// and why the rest can't, leaves another segment out (the draft saves
// itself and the numbers follow), opens the customers behind a number,
// then chooses the content, sends a test, schedules it a minute or two
// ahead, watches it start and the progress bar fill, and opens the report.
// Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, browser;

before(async () => {
  stack = await startStack('campaigns');
  ({ base } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

const count = (page, reason) => page.locator(`#campaign-reach tr[data-reason="${reason}"] [data-count]`).textContent();

test('a merchant starts a campaign from a segment and sees who it can reach', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');
  await page.click('nav[aria-label="Main"] a[href="/app/segments"]');
  await page.waitForSelector('#segments-table');
  await page.click('#segments-table tr[data-segment="All subscribers"] a');
  await page.waitForSelector('[data-campaign-segment]');
  await page.click('[data-campaign-segment]');
  await page.waitForURL(/\/app\/campaigns\/\d+/);
  const id = page.url().match(/\/app\/campaigns\/(\d+)/)[1];
  await page.waitForSelector('#campaign-reach');

  const all = stack.sql(`SELECT id FROM segments WHERE name = 'All subscribers'`);
  const members = stack.sql(`SELECT count(*) FROM segment_members WHERE segment_id = ${all}`);
  assert.equal(await count(page, 'in_segments'), members);
  assert.equal(await page.isChecked(`#campaign-segments input[name="include"][value="${all}"]`), true);
  // Subscribers are all subscribed: none is removed for that.
  assert.equal(await count(page, 'not_subscribed'), '0');

  // Leave out the segment that overlaps the most: the draft saves itself
  // and the numbers follow.
  const [other, overlap] = stack.sql(`SELECT b.segment_id || ' ' || count(*) FROM segment_members a
    JOIN segment_members b ON b.customer_id = a.customer_id AND b.segment_id <> a.segment_id
    WHERE a.segment_id = ${all} GROUP BY b.segment_id ORDER BY count(*) DESC, b.segment_id LIMIT 1`).split(' ');
  assert.ok(Number(overlap) > 0, 'another segment shares members with All subscribers');
  await page.check(`#campaign-segments input[name="exclude"][value="${other}"]`);
  await stack.eventually(() => stack.sql(`SELECT exclude_segments::text FROM campaigns WHERE id = ${id}`) === `{${other}}`, 'the exclusion saved', 20000);
  await page.waitForFunction((n) => document.querySelector('#campaign-reach tr[data-reason="excluded"] [data-count]')?.textContent === n, overlap);
  assert.equal(await page.isChecked(`#campaign-segments input[name="exclude"][value="${other}"]`), true);
  // Saving as the merchant goes doesn't take their place in the form.
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'exclude');
  assert.equal(await page.textContent('#campaign-saved'), 'All changes saved.');

  // The numbers add up, and the reachable ones can be listed.
  const lines = await page.$$eval('#campaign-reach tr[data-reason]', (trs) => trs.map((tr) => [tr.dataset.reason, Number(tr.querySelector('[data-count]').textContent)]));
  const total = lines.find(([r]) => r === 'in_segments')[1];
  const rest = lines.filter(([r]) => r !== 'in_segments').reduce((n, [, v]) => n + v, 0);
  assert.equal(rest, total, JSON.stringify(lines));
  const reachable = lines.find(([r]) => r === 'reachable')[1];
  await page.click('#campaign-reach tr[data-reason="reachable"] a');
  await page.waitForURL(/\/audience\?.*id_token=/);
  await page.waitForSelector('#campaign-members');
  const rows = await page.locator('#campaign-members tbody tr').count();
  assert.equal(rows, Math.min(50, reachable));
  await page.click('text=Back to the campaign');
  await page.waitForSelector('#campaign-reach');

  // Content (a template from the starter gallery), then send: the audience
  // is fixed (snapshotted) and the progress card follows the sending.
  await page.click('nav[aria-label="Main"] a[href="/app/templates"]');
  await page.waitForSelector('#starter-gallery');
  await page.click('#starter-gallery [data-starter="welcome:en"] button[type="submit"]');
  // The editor of the new template, fully loaded (after its session
  // bounce), before leaving it.
  await page.waitForURL(/\/app\/templates\/\d+\?.*id_token=/);
  await page.waitForSelector('#template-form');
  await page.goto(`${base}/app/campaigns/${id}?shop=${shop}`);
  await page.waitForSelector('#campaign-form');
  await page.selectOption('#f-template_id', { index: 1 });
  await page.fill('#f-subject', 'Our December sale');
  await page.locator('#f-subject').dispatchEvent('change');
  await stack.eventually(() => stack.sql(`SELECT template_id IS NOT NULL AND subject = 'Our December sale' FROM campaigns WHERE id = ${id}`) === 't', 'the content saved', 20000);
  await page.reload();
  await page.waitForSelector('[data-action="start"]');
  assert.equal(await page.locator('#campaign-missing').count(), 0, 'nothing is missing');

  // A test to the merchant's own address first. The sender email is
  // confirmed as the merchant would by its link (email.test.mjs walks that).
  stack.sql(`UPDATE shops SET sender_email = 'shop@example.com', sender_name = 'Demo Store', postal_address = '1 Main St, Springfield' WHERE domain = '${shop}'`);
  stack.sql(`INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at, verified_at)
    SELECT id, 'shop@example.com', decode(md5(random()::text), 'hex'), now(), now() FROM shops WHERE domain = '${shop}'`);
  await page.fill('#test-send input[name="to"]', 'merchant@example.com');
  await page.click('#test-send button[type="submit"]');
  await page.waitForSelector('#test-send-notice, #test-send-error');
  assert.equal(await page.locator('#test-send-error').count(), 0, await page.locator('#test-send').textContent());
  assert.match(await page.textContent('#test-send-notice'), /merchant@example\.com/);
  assert.equal(stack.sql(`SELECT count(*) FROM email_messages WHERE kind = 'test' AND to_email = 'merchant@example.com' AND subject = '[Test] Our December sale'`), '1');

  // Schedule it for the minute after next, in the shop's timezone: the
  // page says when, then turns into the progress bar when it starts.
  const tz = stack.sql(`SELECT COALESCE(NULLIF(timezone, ''), NULLIF(iana_timezone, ''), 'UTC') FROM shops WHERE domain = '${shop}'`);
  const at = stack.sql(`SELECT to_char(date_trunc('minute', now() AT TIME ZONE '${tz}') + interval '2 minutes', 'YYYY-MM-DD"T"HH24:MI')`);
  await page.selectOption('#f-send_mode', 'at');
  await page.fill('#f-send_at', at);
  await page.locator('#f-send_at').dispatchEvent('change');
  await stack.eventually(() => stack.sql(`SELECT send_mode = 'at' AND send_at IS NOT NULL FROM campaigns WHERE id = ${id}`) === 't', 'the schedule saved', 20000);
  await page.reload();
  await page.waitForSelector('[data-action="start"]');
  await page.click('[data-action="start"] button, button[data-action="start"]');
  await page.waitForSelector('#campaign-scheduled-for');
  assert.equal(await page.getAttribute('#campaign-status', 'data-status'), 'scheduled');
  assert.match(await page.textContent('#campaign-scheduled-for'), new RegExp(at.slice(11)));
  await page.waitForSelector('#campaign-progress', { timeout: 180000 });
  const snapshot = stack.sql(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = ${id}`);
  assert.equal(stack.sql(`SELECT started_at >= send_at FROM campaigns WHERE id = ${id}`), 't', 'it started at its time, not before');
  assert.equal(await page.textContent('#campaign-progress [data-total]'), snapshot);
  assert.equal(String(reachable + Number(lines.find(([r]) => r === 'daily_limit')[1])), snapshot);
  // The bar fills as the emails go out, to the end.
  await page.waitForFunction(() => {
    const p = document.querySelector('#campaign-progress [role="progressbar"]');
    return p && p.getAttribute('aria-valuenow') === '100';
  }, null, { timeout: 60000 });
  assert.equal(await page.textContent('#campaign-progress [data-handled]'), snapshot);

  // The report, from the campaign page: the audience is the snapshot's, and
  // once the signals are counted its "sent" is the ledger's.
  await page.click('a[data-action="report"]');
  await page.waitForSelector('#report-metrics');
  assert.equal(await page.textContent('#campaign-report [data-audience]'), snapshot);
  const sentInLedger = () => stack.sql(`SELECT count(*) FROM email_messages WHERE campaign_id = ${id} AND sent_at IS NOT NULL`);
  await stack.eventually(async () => {
    await page.reload();
    await page.waitForSelector('#report-metrics');
    const shown = (await page.textContent('#report-metrics tr[data-metric="sent"] [data-count]')).replaceAll(',', '');
    return shown === sentInLedger() && stack.sql(`SELECT count(*) FROM customer_signals`) === '0';
  }, 'the report counts what was sent', 30000);

  assert.deepEqual(errors, []);
  await page.close();
});
