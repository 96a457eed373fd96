// The email editor (issue 14 §1) as a merchant uses it: the gallery as
// cards, the editor with its preview beside the form at 1440 px and below
// it at 390 px, formatted text typed in the rich-text editor showing in the
// preview, a merge tag inserted from the menu, the subject's tags as chips,
// a product hand-picked from the catalog, and the change saved through the
// "Unsaved changes" bar (on Settings too). Screenshots go to
// test-results/. Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { root, shop, startStack, launchBrowser } from './lib.mjs';

let stack;
let browser;
const shots = path.join(root, 'test-results');

before(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await startStack('editor');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

async function go(page, p) {
  await page.goto(`${stack.base}${p}${p.includes('?') ? '&' : '?'}shop=${shop}`);
  await page.waitForURL(/id_token=/);
}

const box = (page, sel) => page.locator(sel).first().boundingBox();

// Every form control has a label that points at it (the admin's a11y rule).
const unlabeled = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && !(el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)))
      .map((el) => el.outerHTML.slice(0, 120)),
  );

test('a merchant edits a template with formatted text, sees it in the preview and saves through the save bar', async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${stack.base}/dev/login?shop=${shop}`);
  await page.waitForSelector('#dashboard');

  // The gallery: cards grouped by purpose, languages in words, thumbnails.
  await go(page, '/app/templates');
  await page.waitForSelector('#starter-gallery [data-starter="welcome:en"]');
  assert.match(await page.textContent('#starter-gallery'), /简体中文/);
  assert.match(await page.textContent('#starter-gallery'), /Abandoned cart/);
  await page.locator('[data-starter="welcome:en"] iframe.cw-Thumb__frame[src]').waitFor({ state: 'attached' });
  await page.screenshot({ path: path.join(shots, 'editor-gallery-1440.png'), fullPage: false });
  assert.deepEqual(await unlabeled(page), [], 'gallery controls are labelled');
  await page.click('[data-starter="welcome:en"] button[type=submit]');
  await page.waitForURL(/\/app\/templates\/\d+\?.*id_token=/);
  await page.waitForSelector('#template-form');
  const id = Number(page.url().match(/\/app\/templates\/(\d+)/)[1]);

  // Preview beside the form, sticky while the form scrolls.
  const form = await box(page, '.cw-Editor__form');
  const preview = await box(page, '.cw-Editor__preview');
  assert.ok(preview.x >= form.x + form.width - 1, `preview beside the form at 1440 px (form ${JSON.stringify(form)}, preview ${JSON.stringify(preview)})`);
  // No postal address yet: the preview shows the placeholder, not an error.
  await page.frameLocator('#tpl-preview').locator('[data-address-placeholder]').waitFor();
  await page.mouse.wheel(0, 1500);
  await page.waitForFunction(() => window.scrollY > 500 || document.scrollingElement.scrollTop > 500);
  const stuck = await box(page, '.cw-Editor__preview');
  assert.ok(stuck.y >= 0 && stuck.y < 40, `the preview sticks at the top (y=${stuck.y})`);
  await page.evaluate(() => window.scrollTo(0, 0));

  // The subject's merge tags read as chips; one click shows the raw text.
  const chips = page.locator('[data-tag-line="subject"]');
  await chips.waitFor();
  assert.match(await chips.textContent(), /First name, or 'friend'/);
  assert.equal(await page.locator('#f-subject').isVisible(), false);
  await chips.click();
  assert.equal(await page.locator('#f-subject').isVisible(), true);
  assert.match(await page.inputValue('#f-subject'), /\{\{ first_name \| default: "friend" \}\}/);

  // The text block is a rich-text editor, not an HTML textarea.
  const editor = page.locator('[data-richtext-editor] .ProseMirror').first();
  await editor.waitFor();
  assert.equal(await page.locator('[data-richtext] textarea').first().isVisible(), false);
  assert.deepEqual(await unlabeled(page), [], 'editor controls are labelled');
  assert.ok(await editor.getAttribute('aria-labelledby'), 'the rich-text box is named by its label');
  assert.equal(await page.locator('.cw-SaveBar').isVisible(), false, 'no save bar before an edit');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('Thanks for joining ');
  await page.keyboard.press('Control+B');
  await page.keyboard.type('our bold club');
  await page.keyboard.press('Control+B');
  await page.keyboard.type('. Here is a list:');
  await page.keyboard.press('Enter');
  await page.locator('[data-richtext-editor] [data-rt-action="bulletList"]').first().click();
  await page.keyboard.type('First perk');
  await page.locator('[data-richtext-editor] select[data-rt-tags]').first().selectOption('shop_name');

  await page.locator('[data-richtext-editor]').first().screenshot({ path: path.join(shots, 'editor-richtext.png') });

  // The preview follows: bold text, the list, the merge tag filled in.
  const frame = page.frameLocator('#tpl-preview');
  await frame.locator('strong', { hasText: 'our bold club' }).first().waitFor();
  await frame.locator('li', { hasText: 'First perk' }).first().waitFor();
  const posted = await page.locator('[data-richtext] textarea').first().inputValue();
  assert.match(posted, /<strong>our bold club<\/strong>/);
  assert.match(posted, /<ul><li><p>First perk\{\{ shop_name \}\}<\/p><\/li><\/ul>/);

  // Hand-pick a product from the catalog for the product block.
  const block = page.locator('[data-block-type="products"]').first();
  const searched = page.waitForResponse((r) => r.url().includes('/app/catalog/products?q=o'));
  await block.locator('input[type=search]').fill('o');
  // (The list may be swapped while typing: read what was picked from the form.)
  await searched;
  const add = block.locator('[data-pick-product]').first();
  await add.waitFor();
  assert.ok(await block.locator('.cw-ProductRow img, .cw-ProductRow__noimg').count() > 0, 'results have thumbnails');
  await add.click();
  const ids = (await block.locator('input[name$=".product_ids"]').inputValue()).split(/[\s,]+/).filter(Boolean);
  assert.equal(ids.length, 1, `one product picked (${ids})`);
  const picked = { id: ids[0] };
  assert.equal(await block.locator('select[name$=".source"]').inputValue(), 'manual');
  picked.title = (await block.locator(`[data-picked-id="${picked.id}"] .cw-ProductRow__title`).textContent()).trim();
  await frame.locator(`text=${picked.title}`).first().waitFor();
  await block.screenshot({ path: path.join(shots, 'editor-product-picker.png') });

  // Mobile width in the preview.
  await page.click('[data-preview-width="mobile"]');
  await page.waitForFunction(() => document.getElementById('tpl-preview')?.getBoundingClientRect().width <= 376);
  await page.screenshot({ path: path.join(shots, 'editor-1440.png') });
  await page.click('[data-preview-width="desktop"]');

  // Save through the contextual save bar.
  const bar = page.locator('.cw-SaveBar');
  await bar.waitFor({ state: 'visible' });
  assert.match(await bar.textContent(), /Unsaved changes/);
  await page.screenshot({ path: path.join(shots, 'editor-savebar-1440.png') });
  await bar.locator('[data-save-bar-save]').click();
  await page.waitForSelector('text=Template saved');
  await bar.waitFor({ state: 'hidden' });
  const doc = stack.sql(`SELECT doc::text FROM email_templates WHERE id = ${id}`);
  assert.match(doc, /<strong>our bold club<\/strong>/);
  assert.match(doc, /First perk/);
  assert.match(doc, new RegExp(`"product_ids": ?\\[${picked.id}\\]`));
  // The editor came back with the saved text (the form was re-rendered).
  await page.locator('[data-richtext-editor] .ProseMirror strong', { hasText: 'our bold club' }).first().waitFor();

  // The same save bar on Settings: the postal address set there replaces
  // the preview's placeholder.
  await go(page, '/app/settings');
  const settingsBar = page.locator('[data-save-bar-for="settings-form"]');
  assert.equal(await settingsBar.isVisible(), false);
  await page.fill('#f-sender_name', 'Demo Store');
  await page.fill('#f-sender_email', 'hello@demo-store.test');
  await page.fill('#f-postal_address', '1 Main Street\nSpringfield, IL 62701');
  await settingsBar.waitFor({ state: 'visible' });
  await settingsBar.locator('[data-save-bar-save]').click();
  await page.waitForSelector('text=Settings saved');
  await settingsBar.waitFor({ state: 'hidden' });
  await go(page, `/app/templates/${id}`);
  await page.frameLocator('#tpl-preview').locator('text=Springfield, IL 62701').first().waitFor();
  assert.equal(await page.frameLocator('#tpl-preview').locator('[data-address-placeholder]').count(), 0);

  // 390 px: one column, the preview below the form, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await page.waitForSelector('[data-richtext-editor] .ProseMirror');
  const narrowForm = await box(page, '.cw-Editor__form');
  const narrowPreview = await box(page, '.cw-Editor__preview');
  assert.ok(narrowPreview.y >= narrowForm.y + narrowForm.height - 1, 'the preview is below the form at 390 px');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the editor fits 390 px (overflows by ${overflow}px)`);
  await page.screenshot({ path: path.join(shots, 'editor-390.png') });
  await page.locator('.cw-Editor__preview').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'editor-390-preview.png') });
  await go(page, '/app/templates');
  await page.waitForSelector(`[data-template="${id}"]`);
  const galleryOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(galleryOverflow <= 0, `the gallery fits 390 px (overflows by ${galleryOverflow}px)`);
  await page.screenshot({ path: path.join(shots, 'editor-gallery-390.png') });

  // Rename from the card; a delete is refused while a campaign uses it,
  // saying which (a link to it).
  const card = page.locator(`[data-template="${id}"]`);
  await card.locator('summary').click();
  await card.locator('input[name=name]').fill('Welcome, renamed');
  await card.locator('button[type=submit]', { hasText: 'Save name' }).click();
  await page.waitForSelector('#templates-notice');
  assert.match(await page.locator(`[data-template="${id}"]`).textContent(), /Welcome, renamed/);
  stack.sql(`INSERT INTO campaigns (shop_id, name, status, template_id) SELECT id, 'Browser sale', 'draft', ${id} FROM shops WHERE domain = '${shop}'`);
  page.once('dialog', (d) => d.accept());
  await page.locator(`[data-template="${id}"] button[type=submit]`, { hasText: 'Delete' }).click();
  await page.waitForSelector('#templates-in-use');
  assert.match(await page.locator('[data-template-user="campaign"]').textContent(), /Browser sale/);
  assert.equal(stack.sql(`SELECT count(*) FROM email_templates WHERE id = ${id}`), '1');
  await page.screenshot({ path: path.join(shots, 'editor-gallery-in-use-390.png') });

  assert.deepEqual(errors, []);
  await page.close();
});
