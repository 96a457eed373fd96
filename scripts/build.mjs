// Front-end build for the admin: writes views/static/dist/, which the Go binary
// embeds (views/static.go) and serves under /static/dist/ with ?v=<hash> URLs.
//
//   admin.js     views/assets/admin.js bundled and minified by esbuild (ES2020)
//   charts.js    views/assets/charts.js with uPlot, loaded by admin.js only on
//                pages that show a chart
//   editor.js    views/assets/editor.js with Tiptap (rich text), loaded by
//                admin.js only on pages with a rich-text field
//   polaris.css  @shopify/polaris/build/esm/styles.css, as published
//   htmx.min.js  htmx.org/dist/htmx.min.js, as published
//   app.css      views/assets/app.css (our few additions), minified by esbuild
//
// and the storefront scripts (storefront/*.js) into the theme app extension:
//   extensions/cartwheel-theme/assets/cartwheel-wheel.js    (also views/static/dist/storefront/wheel.js,
//   extensions/cartwheel-theme/assets/cartwheel-tracker.js   for the admin's live preview)
//   extensions/cartwheel-theme/assets/cartwheel-wheel.css   (also views/static/dist/storefront/wheel.css)
// Shopify's theme check refuses app-embed JS assets over 10,000 bytes (CSS
// over 100,000), so the build fails first.
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
  entryPoints: [path.join(root, 'views/assets/charts.js')],
  outfile: path.join(outdir, 'charts.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
outputs.push('charts.js');

await build({
  entryPoints: [path.join(root, 'views/assets/editor.js')],
  outfile: path.join(outdir, 'editor.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
outputs.push('editor.js');

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

const themeAssets = path.join(root, 'extensions/cartwheel-theme/assets');
mkdirSync(themeAssets, { recursive: true });
mkdirSync(path.join(outdir, 'storefront'), { recursive: true });
const themeFiles = [];
for (const name of ['wheel', 'tracker']) {
  const outfile = path.join(themeAssets, `cartwheel-${name}.js`);
  await build({
    entryPoints: [path.join(root, `storefront/${name}.js`)],
    outfile,
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    legalComments: 'none',
    logLevel: 'warning',
  });
  themeFiles.push(outfile);
}
await build({
  entryPoints: [path.join(root, 'storefront/wheel.css')],
  outfile: path.join(themeAssets, 'cartwheel-wheel.css'),
  minify: true,
  target: 'chrome100',
  logLevel: 'warning',
});
themeFiles.push(path.join(themeAssets, 'cartwheel-wheel.css'));
for (const ext of ['js', 'css']) {
  copyFileSync(path.join(themeAssets, `cartwheel-wheel.${ext}`), path.join(outdir, `storefront/wheel.${ext}`));
  outputs.push(`storefront/wheel.${ext}`);
}

const THEME_ASSET_LIMIT = { '.js': 10000, '.css': 100000 };
let tooBig = false;
for (const file of [...outputs.map((name) => path.join(outdir, name)), ...themeFiles]) {
  const size = statSync(file).size;
  console.log(`${path.relative(root, file)}\t${size} bytes`);
  const limit = THEME_ASSET_LIMIT[path.extname(file)];
  if (themeFiles.includes(file) && size > limit) {
    console.error(`build: ${path.relative(root, file)} is ${size} bytes; theme app extension ${path.extname(file)} assets must stay under ${limit}`);
    tooBig = true;
  }
}
if (tooBig) process.exit(1);
