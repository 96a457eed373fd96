// Cartwheel web pixel. Shopify runs it in the strict sandbox on storefront
// and checkout pages when the shopper's consent allows (customer_privacy in
// shopify.extension.toml). It forwards the standard events Cartwheel uses to
// POST {ingestUrl} in the batch format of storefront/CONTRACT.md, keeping
// only the fields the app needs.
import { register } from '@shopify/web-pixels-extension';

export const EVENTS = [
  'page_viewed',
  'product_viewed',
  'collection_viewed',
  'search_submitted',
  'product_added_to_cart',
  'product_removed_from_cart',
  'cart_viewed',
  'checkout_started',
  'checkout_contact_info_submitted',
  'checkout_completed',
];

const VID = '_cw_vid';
const VID_RE = /^[A-Za-z0-9_-]{8,64}$/;
const MAX_BATCH = 50;

register(({ analytics, browser, init, settings, customerPrivacy }) => {
  if (!settings || !settings.ingestUrl) return;

  // Consent can be withdrawn after the page loaded: from then on nothing
  // queued or later is sent.
  let allowed = !init.customerPrivacy || init.customerPrivacy.analyticsProcessingAllowed !== false;
  let queue = [];
  let timer = null;
  if (customerPrivacy && customerPrivacy.subscribe) {
    customerPrivacy.subscribe('visitorConsentCollected', (e) => {
      allowed = !!(e && e.customerPrivacy && e.customerPrivacy.analyticsProcessingAllowed);
      if (!allowed) queue = [];
    });
  }

  const visitor = visitorId(browser);
  const c = init.data && init.data.customer;
  const customer = c && c.id ? { id: customerGid(c.id), email: c.email || undefined } : undefined;

  async function flush() {
    clearTimeout(timer);
    timer = null;
    while (queue.length && allowed) {
      const events = queue.splice(0, MAX_BATCH);
      const body = JSON.stringify({ shop: settings.shop, visitor_id: await visitor, customer, events });
      await send(browser, settings.ingestUrl, body);
    }
  }

  for (const name of EVENTS) {
    analytics.subscribe(name, (e) => {
      if (!allowed) return;
      queue.push(toContract(e));
      // Checkout steps navigate at once (and the thank-you page may be
      // closed): send those now; batch the browsing ones briefly.
      if (name.startsWith('checkout_') || queue.length >= MAX_BATCH) flush();
      else if (!timer) timer = setTimeout(flush, 1000);
    });
  }
});

// send posts one batch. sendBeacon is the sandbox's reliable transport; the
// fallback fetch has no custom headers, so the cross-origin request stays
// "simple" (no CORS preflight).
async function send(browser, url, body) {
  try {
    if (await browser.sendBeacon(url, body)) return;
  } catch {}
  try {
    await fetch(url, { method: 'POST', body, keepalive: true, mode: 'cors', credentials: 'omit' });
  } catch {}
}

// visitorId shares the theme tracker's first-party cookie, so the events
// of one browser join up whichever script saw them.
async function visitorId(browser) {
  let id = '';
  try {
    id = await browser.cookie.get(VID);
  } catch {}
  if (VID_RE.test(id || '')) return id;
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  id = 'v_' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    await browser.cookie.set(`${VID}=${id}; path=/; max-age=31536000; SameSite=Lax`);
  } catch {}
  return id;
}

function customerGid(id) {
  return /^\d+$/.test(String(id)) ? `gid://shopify/Customer/${id}` : String(id);
}

export function toContract(e) {
  const doc = (e.context && e.context.document) || {};
  return {
    id: e.id,
    name: e.name,
    timestamp: e.timestamp,
    context: { url: doc.location && doc.location.href, referrer: doc.referrer || undefined },
    data: data(e.name, e.data || {}),
  };
}

function data(name, d) {
  switch (name) {
    case 'product_viewed':
      return { productVariant: variant(d.productVariant) };
    case 'collection_viewed':
      return { collection: d.collection ? { id: d.collection.id, title: d.collection.title } : null };
    case 'search_submitted':
      return { searchResult: { query: d.searchResult ? d.searchResult.query : '' } };
    case 'product_added_to_cart':
    case 'product_removed_from_cart':
      return { cartLine: cartLine(d.cartLine) };
    case 'cart_viewed':
      return { cart: cart(d.cart) };
    case 'checkout_started':
    case 'checkout_contact_info_submitted':
    case 'checkout_completed':
      return { checkout: checkout(d.checkout) };
    default:
      return {};
  }
}

const money = (m) => (m ? { amount: m.amount, currencyCode: m.currencyCode } : null);

function variant(v) {
  if (!v) return null;
  const p = v.product || {};
  return {
    id: v.id,
    title: v.title,
    sku: v.sku || null,
    price: money(v.price),
    image: v.image ? { src: v.image.src } : null,
    product: { id: p.id, title: p.title, vendor: p.vendor, type: p.type || null, url: p.url || null },
  };
}

function cartLine(l) {
  if (!l) return null;
  return { quantity: l.quantity, cost: { totalAmount: money(l.cost && l.cost.totalAmount) }, merchandise: variant(l.merchandise) };
}

function cart(c) {
  if (!c) return null;
  return {
    id: c.id,
    totalQuantity: c.totalQuantity,
    cost: { totalAmount: money(c.cost && c.cost.totalAmount) },
    lines: (c.lines || []).map(cartLine),
  };
}

function checkout(c) {
  if (!c) return null;
  return {
    token: c.token,
    email: c.email || null,
    phone: c.phone || null,
    buyerAcceptsEmailMarketing: c.buyerAcceptsEmailMarketing,
    currencyCode: c.currencyCode,
    totalPrice: money(c.totalPrice),
    subtotalPrice: money(c.subtotalPrice),
    order: c.order ? { id: c.order.id } : null,
    lineItems: (c.lineItems || []).map((li) => ({
      id: li.id,
      title: li.title,
      quantity: li.quantity,
      finalLinePrice: money(li.finalLinePrice),
      variant: variant(li.variant),
    })),
  };
}
