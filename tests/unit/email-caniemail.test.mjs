// Email HTML against caniemail.com's support data (npm `caniemail`): every
// starter template, in every locale, rendered by the Go renderer
// (scripts/renderdemo), must use no HTML or CSS feature that Gmail, Outlook
// for Windows or Apple Mail lacks entirely ("n"), apart from the
// progressive enhancements listed below. Also checks that Outlook's
// conditional comments reach the output. Run: npm run test:unit
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { caniemail } from 'caniemail';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const clients = ['gmail.*', 'outlook.windows', 'apple-mail.*'];

// Features a client ignores without harm, each for a stated reason.
const allowed = {
  // The mobile media query (stack columns, narrower padding) lives in the
  // one <style> element: clients without it show the 600 px desktop layout,
  // which is fluid enough to read.
  '@media': ['gmail.mobile-webmail', 'outlook.windows'],
  '<style> element': ['gmail.mobile-webmail'],
  // Hidden preheader text: the usual belt-and-braces of display:none,
  // opacity, max-height and overflow (plus mso-hide:all for Outlook);
  // where one is ignored another hides it.
  'display:none': ['gmail.mobile-webmail'],
  opacity: ['gmail.mobile-webmail', 'outlook.windows'],
  'max-height property': ['outlook.windows'],
  overflow: ['outlook.windows'],
  // Rounded corners on the card and buttons are square in Outlook.
  'border-radius': ['outlook.windows'],
};

let dir;
let files;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cw-emails-'));
  execFileSync('go', ['run', './scripts/renderdemo', '-out', dir], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  files = readdirSync(dir).filter((f) => f.endsWith('.html')).sort();
});

test('every starter in both locales was rendered', () => {
  assert.equal(files.length, 24);
  assert.ok(files.includes('en-abandoned_cart_1.html') && files.includes('zh-CN-sunset.html'));
});

test('no unsupported feature in Gmail, Outlook (Windows) or Apple Mail', () => {
  const problems = [];
  for (const f of files) {
    const html = readFileSync(path.join(dir, f), 'utf8');
    const { issues } = caniemail({ clients, html });
    const errors = issues.errors instanceof Map ? [...issues.errors] : Object.entries(issues.errors);
    for (const [client, list] of errors) {
      for (const issue of list) {
        if (allowed[issue.title]?.includes(client)) continue;
        const at = issue.position ? ` (line ${issue.position.start.line})` : '';
        problems.push(`${f}: ${client}: ${issue.title}${at}`);
      }
    }
  }
  assert.deepEqual([...new Set(problems)], []);
});

test('Outlook conditional comments are intact', () => {
  for (const f of files) {
    const html = readFileSync(path.join(dir, f), 'utf8');
    const opens = html.match(/<!--\[if mso\]>/g) ?? [];
    const closes = html.match(/<!\[endif\]-->/g) ?? [];
    assert.ok(opens.length >= 3, `${f}: conditional comments missing`);
    assert.equal(opens.length, closes.length, `${f}: unbalanced conditional comments`);
    assert.match(html, /<!--\[if mso\]><table role="presentation" width="600"/);
  }
});

test('the plain-text part carries the content and the footer', () => {
  const txt = readFileSync(path.join(dir, 'en-abandoned_cart_1.txt'), 'utf8');
  assert.match(txt, /Rain boots \(Yellow \/ 38\) × 1 — \$79\.00/);
  assert.match(txt, /Unsubscribe: \{\{ unsubscribe_url \}\}/);
  assert.match(txt, /1 Harbour Street\nPortsmouth PO1 2AB/);
  assert.doesNotMatch(txt, /<[a-z]/);
});

test('the check bites: flexbox and background images are reported for Outlook', () => {
  const { issues } = caniemail({ clients: ['outlook.windows'], html: '<div style="display:flex;background-image:url(https://x.example/a.png)">x</div>' });
  const errors = issues.errors instanceof Map ? [...issues.errors] : Object.entries(issues.errors);
  const titles = errors.flatMap(([, list]) => list.map((i) => i.title));
  assert.ok(titles.length > 0, 'caniemail reported nothing for display:flex in Outlook');
});
