// scratch: not committed
import { shop, startStack, launchBrowser } from './lib.mjs';
const stack = await startStack('explore', { fakeShopify: false, demoHistory: true });
const browser = await launchBrowser();
try {
  await new Promise((r) => setTimeout(r, 8000));
  for (const q of (process.env.SQL || '').split(';;').filter(Boolean)) console.log(q, '=>', stack.sql(q));
  for (const width of [1440, 390]) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    page.on('pageerror', (e) => console.log('pageerror', e.message));
    page.on('console', (m) => m.type() === 'error' && console.log('console', m.text()));
    await page.goto(`${stack.base}/dev/login?shop=${shop}`);
    await page.waitForSelector('#dashboard');
    await page.waitForTimeout(3000);
    console.log('charts drawn:', await page.$$eval('figure[data-chart]', (f) => f.map((x) => x.id + '=' + x.dataset.chartDrawn)));
    await page.screenshot({ path: `/work/shots/dash-${width}.png`, fullPage: true });
    for (const p of (process.env.PAGES || '').split(',').filter(Boolean)) {
      await page.goto(`${stack.base}${p}`);
      await page.waitForTimeout(2500);
      await page.screenshot({ path: `/work/shots/${p.replace(/[^a-z0-9]/gi, '_')}-${width}.png`, fullPage: true });
    }
  }
} finally {
  await browser.close();
  stack.stop();
}
