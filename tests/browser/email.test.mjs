// The newcomer's email path in `cartwheel dev`, all in the browser (issue
// "Email", done when): fill in the sender settings and confirm the sender
// email from the outbox; edit a starter template (an unknown merge tag is
// refused), preview it with a demo customer, send a test, open it from the
// outbox, click a tracked link through, and unsubscribe with one click.
// Same stack as storefront.test.mjs (see lib.mjs). Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shop, startStack, launchBrowser } from './lib.mjs';

let stack;
let browser;

before(async () => {
  stack = await startStack('email');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

// go follows a plain admin link: the bounce page fetches a token and reloads.
async function go(page, path) {
  await page.goto(`${stack.base}${path}${path.includes('?') ? '&' : '?'}shop=${shop}`);
  await page.waitForURL(/id_token=/);
}

// openOutboxMessage opens the newest outbox message with this subject.
async function openOutboxMessage(page, subject) {
  await go(page, '/app/outbox');
  const link = page.locator('#outbox-table a', { hasText: subject }).first();
  await link.waitFor();
  await link.click();
  await page.waitForSelector('#outbox-text');
}

test('a newcomer confirms the sender, edits and previews a template, sends a test, clicks through and unsubscribes', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${stack.base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');

  // Sender settings, then the confirmation email, opened from the outbox.
  await go(page, '/app/settings');
  await page.fill('#f-sender_name', 'Demo Store');
  await page.fill('#f-sender_email', 'hello@demo-store.test');
  await page.fill('#f-postal_address', '1 Main Street\nSpringfield, IL 62701');
  await page.click('#settings-form button[type=submit]');
  await page.waitForSelector('text=Settings saved');
  await go(page, '/app/settings');
  await page.click('#sender-verification button[type=submit]');
  await page.waitForSelector('#sender-verification >> text=Resend confirmation email');
  await openOutboxMessage(page, 'Confirm your Cartwheel sender email');
  const confirmURL = (await page.textContent('#outbox-text')).match(/https?:\/\/\S+\/email\/verify\/\S+/)?.[0];
  assert.ok(confirmURL, 'the confirmation email carries its link');
  await page.goto(confirmURL);
  await page.waitForSelector('text=Sender email confirmed');

  // A starter template: an unknown merge tag is refused, a good subject saved.
  await go(page, '/app/templates');
  const welcome = page.locator('#starter-gallery form').filter({ has: page.locator('input[name=starter][value=welcome]') })
    .filter({ has: page.locator('input[name=locale][value=en]') });
  await welcome.locator('button[type=submit]').click();
  await page.waitForSelector('#template-form');
  // The subject's merge tags show as chips: one click shows the raw text.
  await page.click('[data-tag-line="subject"]');
  await page.fill('#f-subject', 'Welcome, {{ frist_name }}!');
  const bad = page.waitForResponse((r) => r.request().method() === 'POST' && /\/app\/templates\/\d+$/.test(r.url()));
  await page.click('#template-form button[type=submit]:has-text("Save")');
  assert.equal((await bad).status(), 422);
  // The response arrives before htmx swaps the form in: wait for the swap.
  await page.waitForFunction(() => /frist_name/.test(document.querySelector('#template-form')?.textContent || ''), null, { timeout: 5000 });
  assert.match(await page.textContent('#template-form'), /frist_name/);
  if (await page.locator('[data-tag-line="subject"]').isVisible()) await page.click('[data-tag-line="subject"]');
  await page.fill('#f-subject', 'Welcome to Demo Store, {{ first_name | default: "friend" }}');
  await page.click('#template-form button[type=submit]:has-text("Save")');
  await page.waitForSelector('text=Template saved');

  // The preview shows a real demo customer's name.
  const chosen = (await page.locator('#tpl-customer option:checked').textContent()).trim();
  const firstName = chosen.split(/\s+/)[0];
  assert.ok(firstName && !firstName.includes('@'), `a demo customer to preview with (got ${chosen})`);
  await page.frameLocator('#tpl-preview').locator(`text=${firstName}`).first().waitFor();

  // The preview follows typing before anything is saved.
  await page.locator('#template-form [name$=".text"]').first().fill('Fresh picks, just for you');
  await page.frameLocator('#tpl-preview').locator('text=Fresh picks, just for you').first().waitFor();

  // Send a test, then open it from the outbox.
  await page.fill('#test-send input[name=to]', 'newcomer@example.com');
  await page.click('#test-send button[type=submit]');
  await page.waitForSelector('#test-send-notice');
  await openOutboxMessage(page, 'Welcome to Demo Store');
  const frame = page.frameLocator('#outbox-html');
  const tracked = await frame.locator('a[href*="/t/c/"]').first().getAttribute('href');
  assert.ok(tracked, 'links in the email go through the click redirect');

  // Click through: the redirect records the click and adds UTM parameters.
  const click = await page.request.get(tracked, { maxRedirects: 0 });
  assert.equal(click.status(), 302);
  assert.match(click.headers().location, /utm_source=cartwheel/);
  assert.equal(stack.sql(`SELECT count(*) FROM email_events WHERE kind = 'click'`), '1');

  // Unsubscribe from the email's footer link, in one click, without logging in.
  const unsub = await frame.locator('a[href*="/u/"]').first().getAttribute('href');
  const shopper = await browser.newPage();
  await shopper.goto(unsub);
  await shopper.click('button[type=submit]:has-text("Unsubscribe")');
  await shopper.waitForSelector('text=Unsubscribed');
  assert.ok(await shopper.locator('button:has-text("Re-subscribe")').isVisible(), 're-subscribe is offered');
  await shopper.close();

  assert.deepEqual(errors, []);
  await page.close();
});
