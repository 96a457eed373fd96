// End-to-end test of the storefront: the cartwheel binary in dev mode on its
// own database, Shopify's Admin API replaced by the fake in
// tests/browser/fakeshopify, and the dev storefront (/dev/storefront, which
// loads the theme extension's built assets and plays Shopify's app proxy)
// driven in Debian's Chromium. Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack, base, control, browser;
const sql = (q) => stack.sql(q);
const eventually = (fn, what, ms) => stack.eventually(fn, what, ms);

before(async () => {
  stack = await startStack('sf');
  ({ base, control } = stack);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

async function storefront(context, query = '') {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => r.url().includes('/dev/storefront/') && r.status() >= 500 && errors.push(`${r.url()} -> ${r.status()}`));
  const loaded = Date.now();
  await page.goto(`${base}/dev/storefront?shop=${shop}${query}`);
  return { page, errors, loaded };
}

// sliceUnderPointer reads the wheel's final rotation and says which slice
// stopped at the top (slice i spans [i*step, (i+1)*step) clockwise).
async function sliceUnderPointer(page, n) {
  const deg = await page.evaluate(() => {
    const m = getComputedStyle(document.querySelector('.cw-wh svg')).transform; // matrix(a, b, …)
    const [a, b] = m.slice(7, -1).split(',').map(Number);
    return (Math.atan2(b, a) * 180) / Math.PI;
  });
  const step = 360 / n;
  return Math.floor((((-deg % 360) + 360) % 360) / step);
}

test('a shopper browses, signs up on the wheel with the keyboard, and gets a real code', async () => {
  const email = `ada+${process.pid}@example.com`;
  const context = await browser.newContext();
  const { page, errors, loaded } = await storefront(context);

  // The product page view and an add to cart (the theme's fetch to /cart/add.js).
  await page.click('text=Add to cart');
  await page.waitForSelector('text=Added Alpine Jacket - S to your cart');
  const vid = await page.evaluate(() => document.cookie.match(/_cw_vid=([^;]+)/)[1]);
  assert.match(vid, /^[A-Za-z0-9_-]{8,64}$/);

  // The demo wheel's trigger is a 5 second delay.
  const config = await (await page.request.get(`${base}/dev/storefront/apps/cartwheel/wheel?visitor_id=${vid}`)).json();
  assert.equal(config.show, true);
  const delay = config.wheel.trigger.delay_seconds * 1000;
  assert.ok(delay > 0);
  assert.equal(await page.locator('[role=dialog]').count(), 0, 'not shown before the delay');
  const dialog = page.locator('[role=dialog][aria-modal=true]');
  await dialog.waitFor({ timeout: delay + 10000 });
  assert.ok(Date.now() - loaded >= delay - 250, 'shown after the configured delay');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'email', 'focus moves into the dialog');
  const labelled = await page.evaluate(() => document.getElementById(document.querySelector('[role=dialog]').getAttribute('aria-labelledby')).textContent);
  assert.equal(labelled, config.wheel.texts.headline);

  // Focus is trapped: Shift+Tab from the first control wraps to the last.
  await page.keyboard.press('Shift+Tab'); // email → close button (first)
  await page.keyboard.press('Shift+Tab'); // close → last control
  assert.equal(await page.evaluate(() => document.querySelector('[role=dialog]').contains(document.activeElement)), true);
  await page.keyboard.press('Tab'); // back to the close button
  await page.keyboard.press('Tab'); // email

  // Keyboard only: an invalid email is refused in place…
  await page.keyboard.type('not-an-email');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[role=alert]:has-text("valid email")');
  assert.equal(await page.getAttribute('input[name=email]', 'aria-invalid'), 'true');
  // …then the real one, first name, tick consent, Spin.
  await page.keyboard.press('Control+A');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type('Ada');
  await page.keyboard.press('Tab'); // phone (optional)
  await page.keyboard.press('Tab');
  await page.keyboard.press('Space'); // consent
  await page.keyboard.press('Tab');
  const spun = page.waitForResponse((r) => r.url().includes('/apps/cartwheel/spin') && r.request().method() === 'POST');
  await page.keyboard.press('Enter');
  const res = await spun;
  assert.equal(res.status(), 200, await res.text());
  const spin = await res.json();

  // The result is announced, and the wheel stopped on the server's slice.
  const live = page.locator('[role=dialog] [aria-live=polite]');
  await live.locator('h3').waitFor();
  assert.equal(await sliceUnderPointer(page, config.wheel.slices.length), spin.slice_index);
  const row = sql(`SELECT slice_index || '|' || label || '|' || coalesce(code, '') FROM spins WHERE id = ${Number(spin.spin_id)}`);
  assert.equal(row, `${spin.slice_index}|${spin.label}|${spin.code || ''}`, 'the page shows what the server stored');

  if (spin.prize.kind !== 'none') {
    // The code is shown (after polling if it was still pending) and exists at Shopify.
    const code = await live.locator('code').textContent({ timeout: 30000 });
    assert.equal(code, spin.code);
    assert.equal(await live.locator('a', { hasText: 'Apply to cart' }).getAttribute('href'), `/discount/${spin.code}`);
    const codes = await eventually(async () => {
      const list = await (await fetch(`${control}/discounts?shop=${shop}`)).json();
      return list.some((d) => d.Code === spin.code) && list;
    }, 'the discount code at the fake Shopify');
    assert.ok(codes.find((d) => d.Code === spin.code));
  } else {
    assert.match(await live.textContent(), /.+/);
  }

  // The shopper is a subscribed customer now…
  const customer = sql(`SELECT id || '|' || email_consent FROM customers WHERE lower(email) = lower('${email}')`);
  const [customerID, consent] = customer.split('|');
  assert.equal(consent, 'subscribed');

  // …and what they browsed before signing up is theirs.
  await page.close(); // pagehide flushes anything queued
  const names = await eventually(() => {
    const out = sql(`SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM events WHERE visitor_id = '${vid}' AND customer_id = ${customerID}`);
    return /product_added_to_cart/.test(out) && /product_viewed/.test(out) && out;
  }, 'browse and add-to-cart events joined to the customer');
  assert.match(names, /page_viewed/);
  assert.match(names, /wheel_viewed/);
  const added = JSON.parse(sql(`SELECT data FROM events WHERE visitor_id = '${vid}' AND name = 'product_added_to_cart' LIMIT 1`));
  assert.equal(String(added.cartLine.merchandise.product.id), '8266836345064');
  assert.deepEqual(errors, []);

  // Another browser, same email: the repeat spin is refused politely.
  const other = await browser.newContext();
  const second = await storefront(other);
  await second.page.locator('[role=dialog]').waitFor({ timeout: delay + 10000 });
  await second.page.keyboard.type(email.toUpperCase());
  await second.page.check('input[name=consent]');
  const again = second.page.waitForResponse((r) => r.url().includes('/apps/cartwheel/spin'));
  await second.page.keyboard.press('Enter');
  assert.equal((await again).status(), 409);
  await second.page.waitForSelector('[role=dialog] [aria-live=polite] >> text=already');
  assert.equal(await second.page.locator('[role=dialog] form').count(), 0, 'no second spin is offered');
  assert.deepEqual(second.errors, []);
  await other.close();
  await context.close();
});

test('without analytics consent the tracker sends nothing', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    // Counts the tracker's consent checks: it asks when it is about to send.
    window.__consentAsked = 0;
    window.Shopify = { customerPrivacy: { analyticsProcessingAllowed: () => (window.__consentAsked++, false) } };
  });
  const page = await context.newPage();
  const posts = [];
  page.on('request', (r) => r.url().includes('/apps/cartwheel/events') && posts.push(r.url()));
  await page.goto(`${base}/dev/storefront/search?q=jacket&shop=${shop}`);
  // The batch fell due and the tracker asked for consent (waited for, not
  // timed); so does leaving the page. Nothing went out either time.
  await page.waitForFunction(() => window.__consentAsked > 0);
  const asked = await page.evaluate(() => window.__consentAsked);
  await page.evaluate(() => dispatchEvent(new PageTransitionEvent('pagehide')));
  assert.ok((await page.evaluate(() => window.__consentAsked)) > asked, 'leaving the page asks again');
  assert.deepEqual(posts, []);
  await page.close();
  await context.close();
});

test('the admin preview renders merchant text inertly and spins without the network', async () => {
  const page = await browser.newPage();
  const requests = [];
  await page.goto(`${base}/healthz`);
  page.on('request', (r) => requests.push(r.url()));
  await page.addScriptTag({ url: `${base}/static/dist/storefront/wheel.js` });
  await page.evaluate(() =>
    window.CartwheelWheel.preview({
      slices: [{ label: '<img src=x onerror="window.pwned=1">', color: '#ffffff' }, { label: 'Free shipping', color: '#000000' }],
      texts: { headline: '<script>window.pwned=1</script>Win!', consent: '<b>I agree</b>', button: 'Spin' },
      colors: { background: '#ffffff', text: '#eeeeee' }, // too faint: replaced by a readable colour
    }),
  );
  await page.locator('[role=dialog]').waitFor();
  assert.equal(await page.textContent('[role=dialog] h2'), '<script>window.pwned=1</script>Win!');
  assert.equal(await page.locator('[role=dialog] img, [role=dialog] b, [role=dialog] script').count(), 0);
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.cw-dlg')).color), 'rgb(0, 0, 0)');
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.fill('input[name=email]', 'merchant@example.com');
  await page.check('input[name=consent]');
  await page.click('[role=dialog] button[type=submit]');
  await page.locator('[role=dialog] [aria-live=polite] h3').waitFor();
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(requests.filter((u) => !u.includes('/static/dist/storefront/')), [], 'no network but its own assets');
  await page.close();
});
