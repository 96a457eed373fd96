// Unit tests of the web pixel (extensions/cartwheel-pixel/src/index.js):
// bundled with esbuild, '@shopify/web-pixels-extension' aliased to a fake
// register(), then driven with standard events shaped like Shopify's (the
// field names and types of the package's own PixelEvents typings and the
// web pixels API reference). Run: npm run test:unit
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let pixel;

before(async () => {
  const outfile = path.join(mkdtempSync(path.join(tmpdir(), 'cw-pixel-')), 'pixel.mjs');
  await build({
    entryPoints: [path.join(root, 'extensions/cartwheel-pixel/src/index.js')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    alias: { '@shopify/web-pixels-extension': path.join(root, 'tests/unit/fake-web-pixels.mjs') },
    logLevel: 'warning',
  });
  await import(pathToFileURL(outfile));
  pixel = globalThis.__cartwheelPixel;
  assert.equal(typeof pixel, 'function', 'the pixel calls register()');
});

const shop = 'demo.myshopify.com';
const ingestUrl = 'https://cartwheel.example.com/ingest';

// sandbox builds the API object Shopify passes to the pixel and records
// what the pixel does with it.
function sandbox({ cookie = '', customer = null, privacy = {}, beaconOK = true } = {}) {
  const subs = {};
  const consentSubs = [];
  const beacons = [];
  const cookies = [];
  const api = {
    settings: { ingestUrl, shop },
    analytics: { subscribe: (name, cb) => (subs[name] = cb) },
    customerPrivacy: { subscribe: (name, cb) => name === 'visitorConsentCollected' && consentSubs.push(cb) },
    browser: {
      cookie: { get: async (n) => (n === '_cw_vid' ? cookie : ''), set: async (c) => cookies.push(c) },
      sendBeacon: async (url, body) => {
        beacons.push({ url, body: JSON.parse(body) });
        return beaconOK;
      },
      localStorage: {},
      sessionStorage: {},
    },
    init: {
      context: {},
      data: { customer, cart: null, shop: { myShopifyDomain: shop }, purchasingCompany: null },
      customerPrivacy: { analyticsProcessingAllowed: true, marketingAllowed: true, preferencesProcessingAllowed: false, saleOfDataAllowed: true, ...privacy },
    },
  };
  pixel(api);
  return {
    subs,
    beacons,
    cookies,
    emit: (name, data, extra = {}) => subs[name]({ id: 'evt-' + name + (extra.n || ''), clientId: 'c1', name, seq: 1, type: 'standard', timestamp: '2026-11-24T10:00:00.000Z', context: ctx(extra.url), data }),
    consent: (allowed) => consentSubs.forEach((cb) => cb({ customerPrivacy: { analyticsProcessingAllowed: allowed, marketingAllowed: allowed, preferencesProcessingAllowed: false, saleOfDataAllowed: allowed } })),
  };
}

function ctx(url = 'https://demo-store.com/products/alpine-jacket') {
  const u = new URL(url);
  return {
    document: { location: { href: url, host: u.host, pathname: u.pathname, search: u.search, hash: '', hostname: u.hostname, origin: u.origin, port: '', protocol: 'https:' }, referrer: 'https://google.com/', title: 'Alpine Jacket', characterSet: 'UTF-8' },
    navigator: { language: 'en-US', cookieEnabled: true, languages: ['en-US'], userAgent: 'test' },
    window: { innerHeight: 800, innerWidth: 1200, location: {}, origin: u.origin },
  };
}

const variant = {
  id: '44610569208040',
  image: { src: '//cdn.shopify.com/s/files/1/0604/4211/6328/files/jacket.jpg?v=1689256168' },
  price: { amount: 149.0, currencyCode: 'USD' },
  product: { id: '8266836345064', title: 'Alpine Jacket', type: 'Outerwear', untranslatedTitle: 'Alpine Jacket', url: '/products/alpine-jacket', vendor: 'Demo Outfitters' },
  sku: 'AJ-M-RED',
  title: 'M / Red',
  untranslatedTitle: 'M / Red',
};

const wait = (ms) => new Promise((r) => setTimeout(r, ms));

test('browsing events are batched into one beacon in the contract format', async () => {
  const s = sandbox({ cookie: 'v_0123456789abcdef' });
  assert.deepEqual(Object.keys(s.subs).sort(), [
    'cart_viewed', 'checkout_completed', 'checkout_contact_info_submitted', 'checkout_started', 'collection_viewed',
    'page_viewed', 'product_added_to_cart', 'product_removed_from_cart', 'product_viewed', 'search_submitted',
  ]);
  s.emit('page_viewed', {});
  s.emit('product_viewed', { productVariant: variant });
  s.emit('search_submitted', { searchResult: { query: 'jacket', productVariants: [variant] } });
  s.emit('product_added_to_cart', {
    cartLine: { cost: { totalAmount: { amount: 298.0, currencyCode: 'USD' } }, merchandise: variant, quantity: 2 },
  });
  assert.equal(s.beacons.length, 0, 'browsing events wait for the debounce');
  await wait(1200);
  assert.equal(s.beacons.length, 1);
  const { url, body } = s.beacons[0];
  assert.equal(url, ingestUrl);
  assert.equal(body.shop, shop);
  assert.equal(body.visitor_id, 'v_0123456789abcdef');
  assert.equal(body.customer, undefined);
  assert.deepEqual(body.events.map((e) => e.name), ['page_viewed', 'product_viewed', 'search_submitted', 'product_added_to_cart']);
  assert.deepEqual(body.events.map((e) => e.id), ['evt-page_viewed', 'evt-product_viewed', 'evt-search_submitted', 'evt-product_added_to_cart']);
  const pv = body.events[1];
  assert.equal(pv.timestamp, '2026-11-24T10:00:00.000Z');
  assert.deepEqual(pv.context, { url: 'https://demo-store.com/products/alpine-jacket', referrer: 'https://google.com/' });
  assert.deepEqual(pv.data, {
    productVariant: {
      id: '44610569208040', title: 'M / Red', sku: 'AJ-M-RED', price: { amount: 149, currencyCode: 'USD' },
      image: { src: variant.image.src },
      product: { id: '8266836345064', title: 'Alpine Jacket', vendor: 'Demo Outfitters', type: 'Outerwear', url: '/products/alpine-jacket' },
    },
  });
  assert.deepEqual(body.events[2].data, { searchResult: { query: 'jacket' } }, 'only the query is kept');
  assert.equal(body.events[3].data.cartLine.quantity, 2);
  assert.deepEqual(body.events[3].data.cartLine.cost, { totalAmount: { amount: 298, currencyCode: 'USD' } });
  assert.equal(body.events[3].data.cartLine.merchandise.id, '44610569208040');
  assert.deepEqual(s.cookies, [], 'an existing visitor id is kept');
});

test('checkout events go out at once, with the customer claim and the contact email', async () => {
  const s = sandbox({ customer: { id: '7225493520642', email: 'ada@example.com', firstName: 'Ada', lastName: 'L', phone: null, ordersCount: 3 } });
  const checkout = {
    attributes: [], billingAddress: null, buyerAcceptsEmailMarketing: true, buyerAcceptsSmsMarketing: false,
    currencyCode: 'USD', delivery: null, discountApplications: [], discountsAmount: { amount: 0, currencyCode: 'USD' },
    email: 'ada@example.com', phone: null, smsMarketingPhone: null, shippingAddress: { city: 'Ottawa', country: 'Canada' },
    shippingLine: null, subtotalPrice: { amount: 298, currencyCode: 'USD' }, token: 'c1-8d3f2a', totalPrice: { amount: 321.5, currencyCode: 'USD' },
    totalTax: { amount: 23.5, currencyCode: 'USD' }, transactions: [], localization: {}, order: { id: '5683459457256' },
    lineItems: [{ discountAllocations: [], finalLinePrice: { amount: 298, currencyCode: 'USD' }, id: 'li-1', properties: [], quantity: 2, sellingPlanAllocation: null, title: 'Alpine Jacket', variant }],
  };
  s.emit('checkout_contact_info_submitted', { checkout }, { url: 'https://demo-store.com/checkouts/cn/c1-8d3f2a' });
  await wait(10);
  assert.equal(s.beacons.length, 1, 'checkout steps are not delayed');
  const body = s.beacons[0].body;
  assert.deepEqual(body.customer, { id: 'gid://shopify/Customer/7225493520642', email: 'ada@example.com' });
  assert.match(body.visitor_id, /^v_[0-9a-f]{24}$/);
  assert.equal(s.cookies.length, 1);
  assert.match(s.cookies[0], new RegExp(`^_cw_vid=${body.visitor_id}; path=/; max-age=31536000; SameSite=Lax$`));
  const c = body.events[0].data.checkout;
  assert.equal(c.email, 'ada@example.com');
  assert.equal(c.token, 'c1-8d3f2a');
  assert.deepEqual(c.totalPrice, { amount: 321.5, currencyCode: 'USD' });
  assert.equal(c.lineItems[0].variant.product.title, 'Alpine Jacket');
  assert.equal(c.shippingAddress, undefined, 'addresses are not collected');
});

test('nothing is sent when analytics consent is missing or withdrawn', async () => {
  const denied = sandbox({ privacy: { analyticsProcessingAllowed: false } });
  denied.emit('page_viewed', {});
  denied.emit('checkout_started', { checkout: { token: 't', lineItems: [] } });
  await wait(1200);
  assert.equal(denied.beacons.length, 0);

  const s = sandbox();
  s.emit('page_viewed', {});
  s.consent(false);
  s.emit('product_viewed', { productVariant: variant });
  await wait(1200);
  assert.equal(s.beacons.length, 0, 'queued events are dropped when consent is withdrawn');
  s.consent(true);
  s.emit('page_viewed', {}, { n: 2 });
  await wait(1200);
  assert.equal(s.beacons.length, 1);
  assert.deepEqual(s.beacons[0].body.events.map((e) => e.id), ['evt-page_viewed2']);
});

test('falls back to fetch keepalive when the beacon is refused', async () => {
  const calls = [];
  const orig = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    calls.push({ url, init });
    return new Response(null, { status: 202 });
  };
  try {
    const s = sandbox({ cookie: 'v_0123456789abcdef', beaconOK: false });
    s.emit('checkout_started', { checkout: { token: 't1', lineItems: [], totalPrice: { amount: 1, currencyCode: 'USD' } } });
    await wait(10);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, ingestUrl);
    assert.equal(calls[0].init.keepalive, true);
    assert.equal(calls[0].init.headers, undefined, 'no custom headers: a simple CORS request');
    assert.equal(JSON.parse(calls[0].init.body).events[0].name, 'checkout_started');
  } finally {
    globalThis.fetch = orig;
  }
});
