// Helpers shared by the theme scripts (each bundles its own copy: the theme
// loads them as two independent, deferred assets).

// The app embed block renders <div id="cartwheel-embed" data-…> with the
// merchant's settings; the scripts read nothing else from the theme.
export function settings() {
  const el = document.getElementById('cartwheel-embed');
  const d = (el && el.dataset) || {};
  return {
    proxy: (d.proxy || '/apps/cartwheel').replace(/\/$/, ''),
    shop: d.shop || '',
    wheel: d.wheel !== 'false',
    tracking: d.tracking !== 'false',
  };
}

const VID = '_cw_vid';
const VID_RE = /^[A-Za-z0-9_-]{8,64}$/;

function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// uuid names one event; the server drops a repeated id, so retries are safe.
export const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : randomId());

// visitorId is a first-party id kept in a cookie (readable by the web pixel
// through browser.cookie) and in localStorage (survives cookie clearing by
// some browsers' tracking protection). Both are refreshed on every visit.
export function visitorId() {
  const m = document.cookie.match(/(?:^|; )_cw_vid=([^;]+)/);
  let id = m && m[1];
  let stored = null;
  try {
    stored = localStorage.getItem(VID);
  } catch {}
  if (!VID_RE.test(id || '')) id = VID_RE.test(stored || '') ? stored : 'v_' + randomId();
  document.cookie = `${VID}=${id}; path=/; max-age=31536000; SameSite=Lax${location.protocol === 'https:' ? '; Secure' : ''}`;
  try {
    if (stored !== id) localStorage.setItem(VID, id);
  } catch {}
  return id;
}

// analyticsAllowed follows Shopify's Customer Privacy API when the theme has
// it; without a consent banner there is nothing that forbids first-party
// analytics.
export function analyticsAllowed() {
  const p = window.Shopify && window.Shopify.customerPrivacy;
  try {
    return !p || typeof p.analyticsProcessingAllowed !== 'function' || p.analyticsProcessingAllowed() !== false;
  } catch {
    return false;
  }
}

export function event(name, data) {
  return {
    id: uuid(),
    name,
    timestamp: new Date().toISOString(),
    context: { url: location.href, referrer: document.referrer || undefined },
    data: data || {},
  };
}

// sendEvents posts one batch to {proxy}/events. When the page is going
// away, sendBeacon is the only transport that reliably leaves the tab.
export function sendEvents(cfg, vid, events, leaving) {
  if (!events.length) return;
  const body = JSON.stringify({ shop: cfg.shop || undefined, visitor_id: vid, events });
  const url = cfg.proxy + '/events';
  if (leaving && navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: 'application/json' }))) return;
  fetch(url, { method: 'POST', body, keepalive: true, headers: { 'Content-Type': 'application/json' } }).catch(() => {});
}
