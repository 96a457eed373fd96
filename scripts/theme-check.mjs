// Runs Shopify's theme check on the theme app extension and fails on any
// offense. theme-check-node has no bin: its dist/cli.js prints three JSON
// documents (offenses, config, checked files) and exits 0 whatever it finds,
// so the offenses are parsed here. It works offline (bundled docs fallback).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.argv[2] || 'extensions/cartwheel-theme';
let out;
try {
  out = execFileSync(process.execPath, [path.join(root, 'node_modules/@shopify/theme-check-node/dist/cli.js'), dir], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'], // stderr: offline-docs fallback notices
  });
} catch (e) {
  console.error(`theme-check: cli failed\n${e.stdout || ''}${e.stderr || ''}`);
  process.exit(1);
}

// The documents are pretty-printed one after another; each ends with a line
// holding only its closing bracket.
const docs = out.split(/\n(?=[[{])/).map((s) => JSON.parse(s));
const [offenses, , files] = docs;
if (!Array.isArray(files) || !files.some((f) => f.endsWith('.liquid'))) {
  console.error(`theme-check: no Liquid files checked under ${dir}`);
  process.exit(1);
}
for (const o of offenses) {
  const file = path.relative(root, fileURLToPath(o.uri));
  console.error(`${file}:${(o.start?.line ?? 0) + 1}: [${o.check}] ${o.message}`);
}
if (offenses.length) {
  console.error(`theme-check: FAILED: ${offenses.length} offense(s)`);
  process.exit(1);
}
console.log(`theme-check: OK (${files.length} files, no offenses)`);
