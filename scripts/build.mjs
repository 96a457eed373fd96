// Front-end build for the admin: writes views/static/dist/, which the Go binary
// embeds (views/static.go) and serves under /static/dist/ with ?v=<hash> URLs.
//
//   admin.js     views/assets/admin.js bundled and minified by esbuild (ES2020)
//   polaris.css  @shopify/polaris/build/esm/styles.css, as published
//   htmx.min.js  htmx.org/dist/htmx.min.js, as published
//   app.css      views/assets/app.css (our few additions), minified by esbuild
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const outdir = path.join(root, 'views/static/dist');
mkdirSync(outdir, { recursive: true });

// Resolve package files through their package.json so a hoisting change fails loudly.
const pkgDir = (name) => path.dirname(require.resolve(`${name}/package.json`));

const outputs = [];

await build({
  entryPoints: [path.join(root, 'views/assets/admin.js')],
  outfile: path.join(outdir, 'admin.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
outputs.push('admin.js');

await build({
  entryPoints: [path.join(root, 'views/assets/app.css')],
  outfile: path.join(outdir, 'app.css'),
  bundle: true,
  minify: true,
  target: 'chrome100',
  logLevel: 'warning',
});
outputs.push('app.css');

copyFileSync(path.join(pkgDir('@shopify/polaris'), 'build/esm/styles.css'), path.join(outdir, 'polaris.css'));
outputs.push('polaris.css');

copyFileSync(path.join(pkgDir('htmx.org'), 'dist/htmx.min.js'), path.join(outdir, 'htmx.min.js'));
outputs.push('htmx.min.js');

for (const name of outputs) {
  const file = path.join(outdir, name);
  console.log(`${path.relative(root, file)}\t${statSync(file).size} bytes`);
}
