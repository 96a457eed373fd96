// End-to-end tests of the signup wheel beyond the happy path in
// storefront.test.mjs: its triggers and page rules, the frequency rule and
// the reopen tab, a discount code that Shopify fails to create at first,
// and the merchant's editor (Admin › Signup wheel) with its live preview.
// Same stack as storefront.test.mjs (see lib.mjs). Needs `npm run build` first.
//
// Each test saves the wheel it needs through the admin (POST /app/wheel with
// a dev session token) and uses fresh browser contexts, so the tests don't
// depend on each other's order beyond running one at a time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, control, browser;
const sql = (q) => stack.sql(q);

before(async () => {
  stack = await startStack('wheel');
  ({ base, control } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

const token = async () => (await (await fetch(`${base}/dev/token?shop=${shop}`)).text()).trim();

// A wheel that always wins "10% off" (the other slice weighs 0), opening as
// soon as the page is ready unless a test sets a trigger.
const baseWheel = {
  enabled: true,
  slices: [
    { label: '10% off', color: '#F6C445', kind: 'percentage', value: '10', weight: '1' },
    { label: 'No luck', color: '#2F3A4A', kind: 'none', value: '', weight: '0' },
  ],
  headline: 'Spin to win',
  subtext: 'Enter your email for a chance to win.',
  consent: 'I agree to receive marketing emails.',
  button: 'Spin',
  no_prize: 'No prize this time.',
  background: '#FFFFFF',
  text_color: '#111111',
  button_color: '#111111',
  button_text_color: '#FFFFFF',
  delay_seconds: '0',
  scroll_percent: '0',
  exit_intent: false,
  pages_mode: 'all',
  paths: '',
  frequency_days: '7',
  prize_expiry_days: '14',
  min_order: '',
  prize_cap: '',
  tab: true,
};

// saveWheel stores the wheel through the admin's own form handler.
async function saveWheel(over = {}) {
  const w = { ...baseWheel, ...over };
  const r = await postWheel(w);
  const html = await r.text();
  assert.equal(r.status, 200, html.slice(0, 2000));
  assert.match(html, /Wheel saved/);
  const trigger = JSON.parse(sql(`SELECT config->'trigger' FROM wheels`));
  assert.deepEqual(trigger, { delay_seconds: Number(w.delay_seconds), scroll_percent: Number(w.scroll_percent), exit_intent: w.exit_intent });
}

async function postWheel(w) {
  const body = new URLSearchParams();
  for (const s of w.slices) {
    body.append('slice_label', s.label);
    body.append('slice_color', s.color);
    body.append('slice_kind', s.kind);
    body.append('slice_value', s.value);
    body.append('slice_weight', s.weight);
  }
  for (const [k, v] of Object.entries(w)) {
    if (k === 'slices') continue;
    if (typeof v === 'boolean') v && body.append(k, 'on');
    else body.append(k, v);
  }
  return fetch(`${base}/app/wheel`, { method: 'POST', headers: { Authorization: 'Bearer ' + (await token()), 'HX-Request': 'true' }, body });
}

// A fresh shopper (own context, so own visitor id and localStorage) on the
// dev storefront. The init script counts the wheel's trigger listeners, so
// a test knows when the widget is waiting for its trigger.
async function shopper(opts = {}) {
  const context = await browser.newContext(opts);
  await context.addInitScript(() => {
    const seen = (window.__cwListeners = { scroll: 0, mouseout: 0 });
    const wrap = (target) => {
      const add = target.addEventListener;
      target.addEventListener = function (type, ...rest) {
        if (type in seen) seen[type]++;
        return add.call(this, type, ...rest);
      };
    };
    wrap(window);
    wrap(document);
    // Timers asked for, and when the wheel has read its configuration (the
    // widget decides right after): tests wait for states, not for time.
    window.__cwTimers = [];
    const setT = window.setTimeout;
    window.setTimeout = function (fn, ms, ...rest) {
      window.__cwTimers.push(ms);
      return setT.call(this, fn, ms, ...rest);
    };
    window.__cwWheelRead = false;
    const get = window.fetch;
    window.fetch = function (input, init) {
      const p = get.call(this, input, init);
      if (!String(input).includes('/wheel?')) return p;
      return p.then((res) => {
        const json = res.json.bind(res);
        res.json = () => json().finally(() => (window.__cwWheelRead = true));
        return res;
      });
    };
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => r.url().includes('/dev/storefront/') && r.status() >= 400 && errors.push(`${r.url()} -> ${r.status()}`));
  const wheelConfig = page.waitForResponse((r) => r.url().includes('/apps/cartwheel/wheel?'));
  return { context, page, errors, wheelConfig };
}

const dialog = (page) => page.locator('[role=dialog][aria-modal=true]');
const shown = async (page) => (await dialog(page).count()) > 0;
// Two animation frames: scroll and mouse events have been dispatched.
const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

test('scroll depth: the wheel opens once the shopper scrolls past the set share of the page', async () => {
  await saveWheel({ delay_seconds: '0', scroll_percent: '50', exit_intent: false });
  const { context, page, errors, wheelConfig } = await shopper();
  await page.goto(`${base}/dev/storefront?shop=${shop}`);
  assert.equal((await (await wheelConfig).json()).wheel.trigger.scroll_percent, 50);
  await page.waitForFunction(() => window.__cwListeners.scroll > 0);
  assert.equal(await shown(page), false, 'not shown before scrolling');

  const max = await page.evaluate(() => document.documentElement.scrollHeight - innerHeight);
  assert.ok(max > 500, 'the page is long enough to scroll');
  await page.evaluate((y) => scrollTo(0, y), Math.round(max * 0.4));
  await frames(page);
  assert.equal(await page.evaluate(() => Math.round(scrollY)), Math.round(max * 0.4));
  assert.equal(await shown(page), false, 'not shown at 40% of the page');

  await page.mouse.wheel(0, Math.round(max * 0.2)); // a real wheel scroll to ~60%
  await dialog(page).waitFor({ timeout: 5000 });
  assert.ok((await page.evaluate(() => scrollY)) / max >= 0.5);
  assert.deepEqual(errors, []);
  await context.close();
});

test('exit intent: the wheel opens when the pointer leaves through the top of the window', async () => {
  await saveWheel({ delay_seconds: '0', scroll_percent: '0', exit_intent: true });
  const { context, page, errors } = await shopper({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${base}/dev/storefront?shop=${shop}`);
  assert.equal(await page.evaluate(() => matchMedia('(pointer:fine)').matches), true, 'a desktop pointer');
  await page.waitForFunction(() => window.__cwListeners.mouseout > 0);
  assert.equal(await shown(page), false, 'not shown on load');

  // Moving around the page, across elements, and out through the bottom is no exit.
  await page.mouse.move(640, 400);
  await page.hover('h1');
  await page.hover('#variant');
  await page.mouse.move(640, 400);
  await page.mouse.move(640, 820);
  await frames(page);
  assert.equal(await shown(page), false, 'not shown while the pointer moves on the page or leaves at the bottom');

  await page.mouse.move(640, 300);
  await page.mouse.move(640, 5, { steps: 3 });
  await page.mouse.move(640, -5);
  await dialog(page).waitFor({ timeout: 5000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test('page rules: with "only these pages" the wheel stays away from other pages', async () => {
  // Control: the same wheel, included on the dev product pages, does open.
  await saveWheel({ delay_seconds: '1', pages_mode: 'include', paths: '/dev/storefront/products/*' });
  {
    const { context, page, errors } = await shopper();
    await page.goto(`${base}/dev/storefront/products/alpine-jacket?shop=${shop}`);
    await dialog(page).waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
    await context.close();
  }

  await saveWheel({ delay_seconds: '2', exit_intent: true, pages_mode: 'include', paths: '/collections/*\n/dev/storefront/collections/*' });
  const { context, page, errors, wheelConfig } = await shopper();
  const css = [];
  page.on('request', (r) => r.url().includes('cartwheel-wheel.css') && css.push(r.url()));
  await page.goto(`${base}/dev/storefront/products/alpine-jacket?shop=${shop}`);
  const cfg = await (await wheelConfig).json();
  assert.equal(cfg.show, true, 'the server would show it');
  assert.deepEqual(cfg.wheel.pages, { mode: 'include', paths: ['/collections/*', '/dev/storefront/collections/*'] });
  // After a scroll and an exit through the top: nothing.
  await page.mouse.move(640, 300);
  await page.mouse.wheel(0, 800);
  await page.mouse.move(640, -5);
  // Once the widget has read its configuration it has decided: no delay
  // timer, no stylesheet, no listener, so nothing can ever show it.
  await page.waitForFunction(() => window.__cwWheelRead);
  assert.equal(await page.evaluate((ms) => window.__cwTimers.includes(ms), cfg.wheel.trigger.delay_seconds * 1000), false, 'no delay timer is armed');
  assert.equal(await shown(page), false, 'never shown on a page outside the rule');
  assert.deepEqual(css, [], 'the wheel does not even load its stylesheet');
  assert.equal(await page.evaluate(() => window.__cwListeners.scroll + window.__cwListeners.mouseout), 0, 'no trigger is armed');
  assert.deepEqual(errors, []);
  await context.close();
});

test('frequency: a closed wheel stays closed on reload, its tab reopens it, focus comes back', async () => {
  await saveWheel({ delay_seconds: '0', frequency_days: '7', tab: true });
  const { context, page, errors } = await shopper();
  // The shopper is in the search field when the wheel opens.
  await page.addInitScript(() => document.addEventListener('DOMContentLoaded', () => document.getElementById('q').focus()));
  await page.goto(`${base}/dev/storefront?shop=${shop}`);
  await dialog(page).waitFor({ timeout: 5000 });
  assert.equal(await page.evaluate(() => document.activeElement.name), 'email', 'focus moves into the dialog');
  await page.keyboard.press('Escape');
  await dialog(page).waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'q', 'focus returns to the search field');
  const tab = page.locator('button.cw-tab');
  await tab.waitFor();
  assert.equal(await tab.textContent(), 'Spin to win');

  // Reload: within frequency_days the wheel doesn't open again, the tab is there.
  await page.reload();
  await tab.waitFor({ timeout: 5000 });
  assert.equal(await shown(page), false, 'not shown again within frequency_days');
  // The tab reopens it, from the keyboard too; closing returns focus to the tab.
  await tab.focus();
  await page.keyboard.press('Enter');
  await dialog(page).waitFor();
  assert.equal(await tab.isVisible(), false, 'the tab hides while the wheel is open');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'email');
  await page.keyboard.press('Escape');
  await dialog(page).waitFor({ state: 'detached' });
  await tab.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.className), 'cw-tab', 'focus returns to the tab');

  // Once frequency_days have passed, it opens by itself again.
  await page.evaluate(() => localStorage.setItem('cw_wheel_seen', String(Date.now() - 8 * 864e5)));
  await page.reload();
  await dialog(page).waitFor({ timeout: 5000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a code Shopify fails to create is promised by email at once, then revealed once the retry succeeds', async () => {
  await saveWheel({ delay_seconds: '0' });
  const fail = async (n) => assert.equal((await fetch(`${control}/fail-discounts?n=${n}`, { method: 'POST' })).status, 204);
  const codes = async () => (await (await fetch(`${control}/discounts?shop=${shop}`)).json()).map((d) => d.Code);
  await fail(1000); // Shopify is down: every creation fails until told otherwise
  const email = `pending+${process.pid}@example.com`;
  const { context, page, errors } = await shopper();
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`${base}/dev/storefront?shop=${shop}`);
  await dialog(page).waitFor({ timeout: 5000 });
  await page.fill('input[name=email]', email);
  await page.check('input[name=consent]');
  const spun = page.waitForResponse((r) => r.url().includes('/apps/cartwheel/spin') && r.request().method() === 'POST');
  await page.click('[role=dialog] button[type=submit]');
  const res = await spun;
  assert.equal(res.status(), 200);
  const spin = await res.json();
  assert.equal(spin.code_status, 'pending');
  assert.equal(spin.code ?? '', '', 'no unusable code is handed out');

  const live = page.locator('[role=dialog] [aria-live=polite]');
  await live.locator('h3', { hasText: 'You won: 10% off' }).waitFor();
  // Told at once that the code will come by email, not left waiting.
  assert.match(await live.textContent(), /We'll email it to you as soon as it's ready/);
  assert.equal(await live.locator('code').count(), 0, 'no code shown while it does not exist');
  assert.equal(await live.locator('a', { hasText: 'Apply to cart' }).count(), 0);
  const stored = sql(`SELECT code || '|' || code_status FROM spins WHERE id = ${Number(spin.spin_id)}`);
  const [code, status] = stored.split('|');
  assert.equal(status, 'pending');
  assert.ok(!(await codes()).includes(code), 'Shopify has no code yet');

  // Shopify recovers. The retry job is scheduled RetryDelay (20 s) after the
  // spin; bring it forward instead of waiting, the job itself runs as is.
  const polls = [];
  page.on('response', (r) => r.url().includes(`/apps/cartwheel/spin/${spin.spin_id}`) && polls.push(r.status()));
  await fail(0);
  const moved = sql(`UPDATE river_job SET state = 'available', scheduled_at = now()
    WHERE kind = 'wheel.create_code' AND (args->>'spin_id')::bigint = ${Number(spin.spin_id)} AND state IN ('scheduled', 'retryable')
    RETURNING id`);
  assert.ok(moved, 'the retry job is queued');
  await stack.eventually(() => sql(`SELECT code_status FROM spins WHERE id = ${Number(spin.spin_id)}`) === 'created', 'the retry to create the code', 10000);
  assert.ok((await codes()).includes(code), 'the code exists at Shopify');

  // The widget's polling picks it up.
  await live.locator('code').waitFor({ timeout: 10000 });
  assert.equal(await live.locator('code').textContent(), code);
  assert.equal(await live.locator('a', { hasText: 'Apply to cart' }).getAttribute('href'), `/discount/${code}`);
  assert.ok(polls.length >= 1 && polls.every((s) => s === 200), `polls answered 200: ${polls}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test('email-the-code: the code never shows, and a repeat address gets the very same answer', async () => {
  // Refused until the sender email is confirmed: the code could never be sent.
  const refused = await postWheel({ ...baseWheel, email_code: true });
  assert.equal(refused.status, 422);
  assert.match(await refused.text(), /Confirm your sender email in Settings first/);
  // The merchant confirms the sender (the whole flow is email.test.mjs's).
  sql(`UPDATE shops SET sender_email = 'hello@demo-store.test' WHERE domain = '${shop}'`);
  sql(`INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at, verified_at)
    SELECT id, sender_email, '\\x0102', now(), now() FROM shops WHERE domain = '${shop}'`);
  await saveWheel({ email_code: true });
  const email = `inbox+${process.pid}@example.com`;
  const answers = [];
  for (const _ of [1, 2]) {
    const { context, page, errors } = await shopper();
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await page.goto(`${base}/dev/storefront?shop=${shop}`);
    await dialog(page).waitFor({ timeout: 5000 });
    await page.fill('input[name=email]', email);
    await page.check('input[name=consent]');
    const spun = page.waitForResponse((r) => r.url().includes('/apps/cartwheel/spin') && r.request().method() === 'POST');
    await page.click('[role=dialog] button[type=submit]');
    const res = await spun;
    answers.push({ status: res.status(), body: await res.json() });
    const live = page.locator('[role=dialog] [aria-live=polite]');
    await live.locator('h3', { hasText: 'You won: 10% off' }).waitFor();
    assert.match(await live.textContent(), /Check your inbox/);
    assert.equal(await live.locator('code').count(), 0, 'no code on the page');
    assert.deepEqual(errors, []);
    await context.close();
  }
  assert.deepEqual(answers[1], answers[0], 'a repeat address is answered exactly like a new one');
  assert.equal(answers[0].status, 200);
  assert.equal(answers[0].body.code, '');
  assert.equal(sql(`SELECT count(*) FROM spins WHERE email = '${email}'`), '1');
});

test('editor: odds follow the weights, bad weights are refused, the preview follows the labels', async () => {
  await saveWheel({
    slices: [
      { label: 'Ten off', color: '#F6C445', kind: 'percentage', value: '10', weight: '30' },
      { label: 'No luck', color: '#2F3A4A', kind: 'none', value: '', weight: '10' },
    ],
  });
  const saved = sql(`SELECT config::text || updated_at FROM wheels`);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');
  await page.goto(`${base}/app/wheel?shop=${shop}`); // bounces for a session token
  await page.waitForSelector('#wheel-form');
  const rows = page.locator('#wheel-form [data-wheel-slice]');
  const odds = () => page.locator('#wheel-form [data-odds]').allTextContents();
  assert.deepEqual(await odds(), ['75.0%', '25.0%']);

  // The preview shows the saved wheel.
  const preview = page.frameLocator('#cw-wheel-preview');
  const previewLabels = () => preview.locator('.cw-wh svg text').allTextContents();
  await preview.locator('.cw-wh svg text', { hasText: 'Ten off' }).waitFor();
  assert.deepEqual(await previewLabels(), ['Ten off', 'No luck']);

  // Add a slice (weight 10 by default) and change a weight: the odds follow.
  await page.click('[data-wheel-add]');
  assert.equal(await rows.count(), 3);
  assert.deepEqual(await odds(), ['60.0%', '20.0%', '20.0%']);
  await rows.nth(1).locator('[name=slice_weight]').fill('50');
  assert.deepEqual(await odds(), ['33.3%', '55.6%', '11.1%']);
  await rows.nth(2).locator('[name=slice_label]').fill('Free ship');
  await rows.nth(2).locator('[name=slice_kind]').selectOption('free_shipping');

  // A label change reaches the preview; markup in a label stays text.
  const evil = '<script>window.pwned=1</script>';
  await rows.nth(0).locator('[name=slice_label]').fill(evil);
  await page.waitForFunction(
    (evil) => [...(document.getElementById('cw-wheel-preview').contentDocument?.querySelectorAll('.cw-wh svg text') || [])].some((t) => t.textContent === evil),
    evil,
  );
  assert.deepEqual(await previewLabels(), [evil, 'No luck', 'Free ship']);
  assert.equal(await preview.locator('.cw-wh svg script, .cw-wh script').count(), 0);
  const frame = page.frames().find((f) => f.url().includes('/app/wheel/preview'));
  assert.equal(await frame.evaluate(() => window.pwned), undefined);

  // A negative weight: 422, the error next to that weight, nothing saved.
  await rows.nth(1).locator('[name=slice_weight]').fill('-5');
  const bad = page.waitForResponse((r) => r.url().endsWith('/app/wheel') && r.request().method() === 'POST');
  await page.click('#wheel-form button[type=submit]');
  assert.equal((await bad).status(), 422);
  const weightError = page.locator('#f-slice_weight-1-error');
  await weightError.waitFor();
  assert.match(await weightError.textContent(), /can't be negative/);
  assert.equal(await page.getAttribute('#f-slice_weight-1', 'aria-invalid'), 'true');
  assert.equal(await page.inputValue('#f-slice_weight-1'), '-5', 'what the merchant typed is kept');
  assert.equal(await rows.count(), 3, 'the added slice is kept in the form');
  assert.match(await page.textContent('#wheel-form .Polaris-Banner'), /Nothing was saved/);
  assert.equal(sql(`SELECT config::text || updated_at FROM wheels`), saved, 'nothing saved');

  // Fixed, it saves; the stored wheel is what the editor showed.
  await page.fill('#f-slice_weight-1', '50');
  const good = page.waitForResponse((r) => r.url().endsWith('/app/wheel') && r.request().method() === 'POST');
  await page.click('#wheel-form button[type=submit]');
  assert.equal((await good).status(), 200);
  await page.waitForSelector('#wheel-form >> text=Wheel saved');
  const slices = JSON.parse(sql(`SELECT config->'slices' FROM wheels`));
  assert.deepEqual(slices.map((s) => [s.label, s.prize_kind, s.weight]), [[evil, 'percentage', 30], ['No luck', 'none', 50], ['Free ship', 'free_shipping', 10]]);
  assert.deepEqual(await odds(), ['33.3%', '55.6%', '11.1%']);
  assert.deepEqual(errors, []);
  await page.close();
});
