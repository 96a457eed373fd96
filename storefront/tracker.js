// Cartwheel theme tracker: records what the theme itself knows (pages,
// products, collections, searches, carts) as web-pixel-shaped events and
// sends them in small batches to the app proxy ({proxy}/events, see
// storefront/CONTRACT.md). The web pixel covers checkout, which themes can't see.
import { settings, visitorId, analyticsAllowed, event, sendEvents } from './common.js';

const cfg = settings();
if (cfg.tracking && !window.__cartwheelTracker) {
  window.__cartwheelTracker = true;
  start();
}

function start() {
  const vid = visitorId();
  let queue = [];
  let timer = 0;

  // Consent is checked when sending, not when recording, so a shopper who
  // declines in the banner after the page loaded sends nothing.
  const flush = (leaving) => {
    clearTimeout(timer);
    const batch = queue.splice(0, 50);
    if (!analyticsAllowed()) {
      queue = [];
      return;
    }
    sendEvents(cfg, vid, batch, leaving);
    if (queue.length) flush(leaving);
  };
  const track = (name, data) => {
    queue.push(event(name, data));
    clearTimeout(timer);
    timer = setTimeout(flush, 1000);
  };
  addEventListener('pagehide', () => flush(true));
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && flush(true));

  const meta = (window.ShopifyAnalytics && window.ShopifyAnalytics.meta) || {};
  const currency = (window.Shopify && window.Shopify.currency && window.Shopify.currency.active) || meta.currency || undefined;
  const money = (cents) => ({ amount: Number(cents || 0) / 100, currencyCode: currency });
  const path = location.pathname;

  track('page_viewed', {});

  const product = pageProduct(meta);
  if (product) {
    const wanted = new URLSearchParams(location.search).get('variant') || meta.selectedVariantId;
    const v = product.variants.find((x) => String(x.id) === String(wanted)) || product.variants[0] || {};
    track('product_viewed', { productVariant: variant(v, product) });
  } else if (/\/collections\/[^/]+\/?$/.test(path)) {
    const h1 = document.querySelector('h1');
    track('collection_viewed', {
      collection: { id: String((meta.page && meta.page.resourceId) || ''), title: (h1 && h1.textContent.trim()) || path.split('/').filter(Boolean).pop() },
    });
  }
  const q = new URLSearchParams(location.search).get('q');
  if (/\/search\/?$/.test(path) && q) track('search_submitted', { searchResult: { query: q } });
  if (/\/cart\/?$/.test(path)) {
    fetch(path.replace(/\/?$/, '.js'), { headers: { Accept: 'application/json' } })
      .then((r) => r.json())
      .then((c) => track('cart_viewed', { cart: cart(c) }))
      .catch(() => track('cart_viewed', { cart: null }));
  }

  // Adds to cart: themes use fetch or XHR to /cart/add(.js), or a plain form.
  const isAdd = (url) => /\/cart\/add(\.js)?(\?|$)/.test(new URL(url, location.href).pathname);
  const added = (res) => {
    for (const item of res && res.items ? res.items : [res]) {
      if (!item || !item.variant_id) continue;
      track('product_added_to_cart', {
        cartLine: {
          quantity: item.quantity,
          cost: { totalAmount: money(item.line_price != null ? item.line_price : item.price * item.quantity) },
          merchandise: variant(
            { id: item.variant_id, public_title: item.variant_title, sku: item.sku, price: item.price, image: item.image },
            { id: item.product_id, title: item.product_title, vendor: item.vendor, type: item.product_type, url: item.url },
          ),
        },
      });
    }
    flush();
  };
  const origFetch = window.fetch;
  window.fetch = function (input, init) {
    const p = origFetch.apply(this, arguments);
    try {
      if (isAdd(typeof input === 'string' || input instanceof URL ? input : input.url)) {
        p.then((r) => r.ok && r.clone().json().then(added)).catch(() => {});
      }
    } catch {}
    return p;
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    try {
      if (isAdd(url)) {
        this.addEventListener('load', () => {
          try {
            if (this.status < 300) added(JSON.parse(this.responseText));
          } catch {}
        });
      }
    } catch {}
    return open.apply(this, arguments);
  };
  // A plain form post navigates away: record it now, pagehide sends it.
  document.addEventListener('submit', (e) => {
    const f = e.target;
    if (e.defaultPrevented || !f.action || !isAdd(f.action)) return;
    const fd = new FormData(f);
    const v = product && product.variants.find((x) => String(x.id) === String(fd.get('id')));
    if (!v) return;
    const qty = Number(fd.get('quantity') || 1);
    track('product_added_to_cart', {
      cartLine: { quantity: qty, cost: { totalAmount: money(v.price * qty) }, merchandise: variant(v, product) },
    });
  });

  function variant(v, p) {
    return {
      id: String(v.id),
      title: v.public_title || v.title || null,
      sku: v.sku || null,
      price: money(v.price),
      image: v.image || v.featured_image ? { src: (v.featured_image && v.featured_image.src) || v.image } : null,
      product: {
        id: String(p.id),
        title: p.title || '',
        vendor: p.vendor || '',
        type: p.type || p.product_type || null,
        url: p.url || (p.handle ? '/products/' + p.handle : path),
      },
    };
  }

  function cart(c) {
    return {
      id: c.token,
      totalQuantity: c.item_count,
      cost: { totalAmount: money(c.total_price) },
      lines: (c.items || []).map((i) => ({
        quantity: i.quantity,
        cost: { totalAmount: money(i.line_price) },
        merchandise: variant(
          { id: i.variant_id, public_title: i.variant_title, sku: i.sku, price: i.price, image: i.image },
          { id: i.product_id, title: i.product_title, vendor: i.vendor, type: i.product_type, url: i.url },
        ),
      })),
    };
  }
}

// pageProduct finds the product of a product page: ShopifyAnalytics.meta
// (every Online Store theme has it) lacks the title, so a product JSON
// script in the page is preferred when the theme renders one.
function pageProduct(meta) {
  const json = document.querySelector('script[type="application/json"][data-product-json], script[type="application/json"][id^="ProductJson"]');
  if (json) {
    try {
      const p = JSON.parse(json.textContent);
      if (p && p.id && p.variants) return p;
    } catch {}
  }
  const p = meta.product;
  if (!p || !p.id) return null;
  const h1 = document.querySelector('h1');
  const title = (p.variants && p.variants[0] && p.variants[0].name) || '';
  return {
    ...p,
    variants: p.variants || [],
    title: p.title || (h1 && h1.textContent.trim()) || title,
  };
}
