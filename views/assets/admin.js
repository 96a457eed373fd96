// Cartwheel admin: session-token plumbing for htmx, the session-token bounce page,
// a development stand-in for App Bridge, and error toasts.
//
// Loaded with `defer` before htmx, so the listeners below are in place before htmx
// issues its first request.

// Admin › Segments' rule builder (its own file; it only acts on #segment-form).
import './segments.js';

// Styles that only apply once scripts run (e.g. the save bar replacing a
// form's own submit button).
document.documentElement.classList.add('cw-js');

// --- Dev shim -------------------------------------------------------------------
// In APP_ENV=dev the layout emits <meta name="cartwheel-dev-shop"> instead of the
// App Bridge script; /dev/token (loopback only, dev only) signs a session token.
// The shop is remembered for the browser session: a page reached by a
// server redirect (e.g. after "Use this template") carries no shop parameter,
// and in dev there is no App Bridge to know it.
const devShopMeta = document.querySelector('meta[name="cartwheel-dev-shop"]');
let devShop = devShopMeta?.content;
try {
  if (devShop) sessionStorage.setItem('cartwheel:dev-shop', devShop);
  else if (devShopMeta) devShop = sessionStorage.getItem('cartwheel:dev-shop') || '';
} catch {
  /* storage may be unavailable */
}
if (devShop && !window.shopify) {
  window.shopify = {
    idToken: () =>
      fetch('/dev/token?shop=' + encodeURIComponent(devShop), { credentials: 'same-origin' }).then((r) => {
        if (!r.ok) throw new Error('dev token: HTTP ' + r.status);
        return r.text().then((t) => t.trim());
      }),
  };
}

const canGetToken = () => typeof window.shopify?.idToken === 'function';

// --- Toasts -----------------------------------------------------------------------
function toast(message, isError = true) {
  // Inside the Shopify admin, App Bridge renders a native toast.
  if (window.shopify?.toast?.show) {
    window.shopify.toast.show(message, { isError, duration: 5000 });
    return;
  }
  let region = document.getElementById('cw-toasts');
  if (!region) {
    region = document.createElement('div');
    region.id = 'cw-toasts';
    region.className = 'cw-Toasts';
    region.setAttribute('aria-live', 'assertive');
    document.body.append(region);
  }
  const el = document.createElement('div');
  el.className = 'Polaris-Frame-Toast' + (isError ? ' Polaris-Frame-Toast--error' : '');
  el.setAttribute('role', isError ? 'alert' : 'status');
  const text = document.createElement('span');
  text.className = 'Polaris-Text--root Polaris-Text--bodyMd Polaris-Text--medium';
  text.textContent = message;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'Polaris-Frame-Toast__CloseButton';
  close.setAttribute('aria-label', 'Dismiss notification');
  close.textContent = '\u00d7';
  close.addEventListener('click', () => el.remove());
  el.append(text, close);
  region.append(el);
  setTimeout(() => el.remove(), 8000);
}

// The server answers errors with a short text or HTML message; show its text.
function messageFrom(xhr) {
  const body = (xhr?.responseText || '').trim();
  if (body) {
    const type = xhr.getResponseHeader('Content-Type') || '';
    let text = body;
    if (type.includes('html') || body.startsWith('<')) {
      const doc = new DOMParser().parseFromString(body, 'text/html');
      text = (doc.querySelector('[data-error-message]') || doc.body)?.textContent || '';
    } else if (type.includes('json')) {
      try {
        const j = JSON.parse(body);
        text = j.error || j.message || body;
      } catch {
        /* keep the raw body */
      }
    }
    text = text.replace(/\s+/g, ' ').trim();
    if (text) return text.length > 300 ? text.slice(0, 297) + '…' : text;
  }
  return `Something went wrong (HTTP ${xhr?.status || 'error'}). Please try again.`;
}

// --- htmx + session tokens -------------------------------------------------------------
// App Bridge adds `Authorization: Bearer` to fetch() only; htmx uses XMLHttpRequest.
// Before every htmx request, get a fresh token (App Bridge caches it until it nears
// expiry), then let htmx continue; htmx:configRequest adds the header.
let token = '';

document.addEventListener('htmx:confirm', (evt) => {
  if (!canGetToken()) return;
  evt.preventDefault();
  window.shopify
    .idToken()
    .then((t) => {
      token = t;
      // Not skipping confirmation: an hx-confirm prompt, if any, still shows.
      evt.detail.issueRequest();
    })
    .catch(() => toast('Your session could not be refreshed. Reload the page and try again.'));
});

document.addEventListener('htmx:configRequest', (evt) => {
  if (token) evt.detail.headers['Authorization'] = 'Bearer ' + token;
});

// A refused delete (409) answers with the page naming what still uses the
// thing; pages marked data-swap-conflict show it rather than a toast.
document.addEventListener('htmx:beforeSwap', (evt) => {
  if (evt.detail.xhr?.status === 409 && document.querySelector('[data-swap-conflict]')) {
    evt.detail.shouldSwap = true;
    evt.detail.isError = false;
  }
});

document.addEventListener('htmx:responseError', (evt) => {
  toast(messageFrom(evt.detail.xhr));
});

// After a swap (e.g. the settings form re-rendered with errors or "saved"), move
// focus to its banner so screen readers announce the outcome.
document.addEventListener('htmx:afterSwap', (evt) => {
  const el = evt.target;
  if (!(el instanceof Element) || !el.isConnected) return;
  const banner = el.matches('.Polaris-Banner') ? el : el.querySelector('.Polaris-Banner');
  if (banner) banner.focus();
});

document.addEventListener('htmx:sendError', () => {
  toast('Could not reach Cartwheel. Check your connection and try again.');
});

// --- Internal links keep shop and host --------------------------------------------------
// A plain link inside the admin loads a page without a session token; carrying the
// (non-secret) shop and host parameters along lets that page's bounce ask for a
// token for the right shop, as Shopify's embedded apps do.
document.addEventListener(
  'click',
  (evt) => {
    const a = evt.target instanceof Element ? evt.target.closest('a[href]') : null;
    if (!a) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith('/app')) return;
    const here = new URLSearchParams(window.location.search);
    for (const k of ['shop', 'host', 'embedded']) {
      if (here.get(k) && !url.searchParams.has(k)) url.searchParams.set(k, here.get(k));
    }
    a.href = url.toString();
  },
  true,
);

// --- Bounce page ---------------------------------------------------------------------
// A document request without a session token gets a page with <body data-bounce>:
// reload the same URL with a fresh id_token. A small counter stops a reload loop when
// the server keeps refusing the token.
async function bounce() {
  const key = 'cartwheel:bounce';
  const now = Date.now();
  let tries = [];
  try {
    tries = JSON.parse(sessionStorage.getItem(key) || '[]').filter((t) => now - t < 30000);
  } catch {
    tries = [];
  }
  if (tries.length >= 3) {
    document.body.textContent = 'Cartwheel could not verify your session. Open the app again from your Shopify admin.';
    return;
  }
  try {
    sessionStorage.setItem(key, JSON.stringify([...tries, now]));
  } catch {
    /* storage may be unavailable in a third-party iframe */
  }
  if (!canGetToken()) {
    document.body.textContent = 'Open Cartwheel from your Shopify admin.';
    return;
  }
  const t = await window.shopify.idToken();
  const url = new URL(window.location.href);
  url.searchParams.set('id_token', t);
  window.location.replace(url.toString());
}

if (document.body?.dataset.bounce !== undefined) {
  bounce().catch(() => {
    document.body.textContent = 'Cartwheel could not verify your session. Reload the page to try again.';
  });
} else {
  try {
    sessionStorage.removeItem('cartwheel:bounce');
  } catch {
    /* ignore */
  }
}

// --- Polaris <Select> ------------------------------------------------------------------
// The native <select> is transparent over the shown value; keep the text in sync.
document.addEventListener('change', (evt) => {
  const sel = evt.target;
  if (!(sel instanceof HTMLSelectElement) || !sel.classList.contains('Polaris-Select__Input')) return;
  const shown = sel.parentElement?.querySelector('.Polaris-Select__SelectedOption');
  if (shown) shown.textContent = sel.selectedOptions[0]?.textContent || '';
});

// Admin › Signup wheel: add/remove slice rows, chances recomputed from the
// weights as they are typed, and the live preview. The preview iframe is an
// /app page, so it needs a session token in its URL; each edit is turned
// into the widget's configuration by the server (POST /app/wheel/preview,
// nothing saved) and posted to the iframe, which renders it with the real
// storefront widget.
function wheelOdds(form) {
  const rows = [...form.querySelectorAll('[data-wheel-slice]')];
  const weights = rows.map((r) => Math.max(0, parseFloat(r.querySelector('[name="slice_weight"]')?.value) || 0));
  const total = weights.reduce((a, b) => a + b, 0);
  rows.forEach((r, i) => {
    const out = r.querySelector('[data-odds]');
    if (out) out.textContent = (total > 0 ? (weights[i] / total) * 100 : 0).toFixed(1) + '%';
  });
  const add = form.querySelector('[data-wheel-add]');
  if (add) add.disabled = rows.length >= Number(form.dataset.maxSlices || 12);
}

async function wheelPreviewFrame() {
  const frame = document.getElementById('cw-wheel-preview');
  if (!frame || frame.getAttribute('src') || !canGetToken()) return;
  const url = new URL(frame.dataset.src, window.location.href);
  url.searchParams.set('id_token', await window.shopify.idToken());
  frame.removeAttribute('srcdoc'); // a live preview's srcdoc would hide the new src
  frame.src = url.toString();
}

let wheelTimer;
function wheelLivePreview(form) {
  clearTimeout(wheelTimer);
  wheelTimer = setTimeout(async () => {
    const frame = document.getElementById('cw-wheel-preview');
    if (!frame?.contentWindow || !canGetToken()) return;
    try {
      const res = await fetch('/app/wheel/preview', {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + (await window.shopify.idToken()) },
        body: new URLSearchParams(new FormData(form)),
      });
      if (!res.ok) return; // invalid while typing: keep the last good preview
      frame.contentWindow.postMessage({ type: 'cartwheel:wheel-preview', config: await res.json() }, window.location.origin);
    } catch {
      // offline: the preview just doesn't update
    }
  }, 400);
}

document.addEventListener('click', (e) => {
  const form = e.target instanceof Element ? e.target.closest('#wheel-form') : null;
  if (!form) return;
  const rows = form.querySelectorAll('[data-wheel-slice]');
  if (e.target.closest('[data-wheel-add]') && rows.length) {
    const row = rows[rows.length - 1].cloneNode(true);
    row.querySelectorAll('.Polaris-Labelled__Error').forEach((el) => el.remove());
    row.querySelectorAll('input').forEach((el) => {
      el.value = el.name === 'slice_color' ? '#CCCCCC' : el.name === 'slice_weight' ? '10' : '';
      el.removeAttribute('id');
      el.setAttribute('aria-invalid', 'false');
    });
    row.querySelector('[name="slice_kind"]').value = 'none';
    rows[rows.length - 1].after(row);
  } else if (e.target.closest('[data-wheel-remove]') && rows.length > 2) {
    e.target.closest('[data-wheel-slice]').remove();
  } else {
    return;
  }
  wheelOdds(form);
  wheelLivePreview(form);
});

for (const type of ['input', 'change']) {
  document.addEventListener(type, (e) => {
    const form = e.target instanceof Element ? e.target.closest('#wheel-form') : null;
    if (!form) return;
    wheelOdds(form);
    wheelLivePreview(form);
  });
}
document.addEventListener('DOMContentLoaded', () => wheelPreviewFrame().catch(() => {}));

// Admin › Templates and the outbox: iframes showing an /app document (the
// email preview, a stored email) need a session token in their URL. The
// preview follows the chosen customer and width, and reloads after a save.
async function loadAuthFrame(frame) {
  if (!canGetToken()) return;
  const url = new URL(frame.dataset.authSrc, window.location.href);
  const controls = frame.dataset.controls ? document.getElementById(frame.dataset.controls) : null;
  if (controls) {
    controls.querySelectorAll('select[name], input[name]').forEach((el) => url.searchParams.set(el.name, el.value));
    const width = controls.dataset.width || 'desktop';
    url.searchParams.set('width', width);
    frame.dataset.width = width;
  }
  url.searchParams.set('id_token', await window.shopify.idToken());
  frame.removeAttribute('srcdoc'); // a live preview's srcdoc would hide the new src
  frame.src = url.toString();
}

function reloadAuthFrames(controlsID) {
  document.querySelectorAll('iframe[data-auth-src]').forEach((f) => {
    if (!controlsID || f.dataset.controls === controlsID) loadAuthFrame(f).catch(() => {});
  });
}

document.addEventListener('DOMContentLoaded', () => reloadAuthFrames());
// Frames a swap brings (the gallery's thumbnails after an action) load too.
document.addEventListener('htmx:afterSettle', (e) => {
  const root = e.target instanceof Element ? e.target : document;
  root.querySelectorAll('iframe[data-auth-src]:not([src])').forEach((f) => loadAuthFrame(f).catch(() => {}));
});
// refreshPreview shows the unsaved edits when there are some, else the saved template.
function refreshPreview(controls) {
  const form = document.getElementById('template-form');
  if (controls.id === 'tpl-preview-controls' && form?.dataset.dirty) {
    const frame = document.getElementById('tpl-preview');
    if (frame) frame.dataset.width = controls.dataset.width || 'desktop';
    templateLivePreview(form).catch(() => {});
  } else {
    reloadAuthFrames(controls.id);
  }
}
document.addEventListener('change', (e) => {
  const controls = e.target instanceof Element ? e.target.closest('[data-preview-controls]') : null;
  if (controls) refreshPreview(controls);
});
document.addEventListener('click', (e) => {
  const btn = e.target instanceof Element ? e.target.closest('[data-preview-width]') : null;
  if (!btn) return;
  // The width buttons sit in the preview's header, or among its controls.
  const group = btn.closest('[data-preview-width-group]') || btn.closest('[data-preview-controls]');
  const controls = btn.closest('[data-preview-controls]') || document.getElementById('tpl-preview-controls');
  if (!controls || !group) return;
  controls.dataset.width = btn.dataset.previewWidth;
  group.querySelectorAll('[data-preview-width]').forEach((b) => b.setAttribute('aria-pressed', String(b === btn)));
  refreshPreview(controls);
});
document.addEventListener('htmx:afterRequest', (e) => {
  const cfg = e.detail?.requestConfig;
  if (e.detail?.successful && cfg?.verb === 'post' && /^\/app\/templates\/\d+$/.test(cfg.path || '')) {
    reloadAuthFrames('tpl-preview-controls');
  }
});

// Live template preview: while the merchant edits, the unsaved form is
// rendered by the server and shown in the same sandboxed (script-free) frame.
let livePreviewTimer;
async function templateLivePreview(form) {
  const frame = document.getElementById('tpl-preview');
  if (!frame || !canGetToken()) return;
  const body = new URLSearchParams(new FormData(form));
  const customer = document.getElementById('tpl-customer');
  if (customer) body.set('customer_id', customer.value);
  const res = await fetch(form.getAttribute('action') + '/preview', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + (await window.shopify.idToken()) },
    body,
  });
  const text = await res.text();
  if (res.ok) {
    frame.srcdoc = text;
  } else {
    const pre = document.createElement('pre');
    pre.style.cssText = 'font:14px sans-serif;padding:16px;white-space:pre-wrap';
    pre.textContent = text;
    frame.srcdoc = pre.outerHTML;
  }
}
document.addEventListener('input', (e) => {
  const form = e.target instanceof Element ? e.target.closest('#template-form') : null;
  if (!form || e.target.hasAttribute('data-no-dirty')) return;
  form.dataset.dirty = '1';
  clearTimeout(livePreviewTimer);
  livePreviewTimer = setTimeout(() => templateLivePreview(form).catch(() => {}), 400);
});

// After htmx re-renders the editor form with unsaved changes (a block added,
// moved or removed; errors), show those in the preview too.
document.addEventListener('htmx:afterSettle', (e) => {
  const form = e.target instanceof Element && e.target.id === 'template-form' ? e.target : null;
  if (form?.hasAttribute('data-dirty-on-load')) templateLivePreview(form).catch(() => {});
});

// --- Contextual save bar ---------------------------------------------------------------
// A form[data-save-bar] shows its "Unsaved changes" bar (views SaveBar) once
// edited; Save submits the form (htmx re-renders it clean), Discard reloads
// the saved version. A form the server re-rendered with unsaved changes
// (data-dirty-on-load) starts with the bar shown.
function saveBarOf(form) {
  return form.id ? document.querySelector(`[data-save-bar-for="${CSS.escape(form.id)}"]`) : null;
}
function setDirty(form, dirty) {
  const bar = saveBarOf(form);
  if (dirty) form.dataset.dirty = '1';
  else delete form.dataset.dirty;
  if (bar) bar.hidden = !dirty;
  document.body.classList.toggle('cw-hasSaveBar', !!document.querySelector('.cw-SaveBar:not([hidden])'));
}
function initSaveBars(root) {
  const forms = root.matches?.('form[data-save-bar]') ? [root] : [...(root.querySelectorAll?.('form[data-save-bar]') || [])];
  forms.forEach((f) => setDirty(f, f.hasAttribute('data-dirty-on-load')));
}
for (const type of ['input', 'change']) {
  document.addEventListener(type, (e) => {
    const form = e.target instanceof Element ? e.target.closest('form[data-save-bar]') : null;
    // Controls that only steer the page (no name, or a search) are not edits.
    if (form && e.target.name && !e.target.hasAttribute('data-no-dirty')) setDirty(form, true);
  });
}
// Buttons that change the form without an input event (add or remove a row).
document.addEventListener('click', (e) => {
  const btn = e.target instanceof Element ? e.target.closest('[data-dirties]') : null;
  const form = btn?.closest('form[data-save-bar]');
  if (form) setDirty(form, true);
});
document.addEventListener('click', (e) => {
  const btn = e.target instanceof Element ? e.target.closest('[data-save-bar-discard]') : null;
  if (!btn) return;
  const bar = btn.closest('[data-save-bar-for]');
  const form = bar && document.getElementById(bar.dataset.saveBarFor);
  if (form) setDirty(form, false);
  window.location.reload();
});
document.addEventListener('DOMContentLoaded', () => initSaveBars(document));
document.addEventListener('htmx:afterSettle', (e) => {
  if (e.target instanceof Element) initSaveBars(e.target);
});

// --- Rich text --------------------------------------------------------------------------
// editor.js (Tiptap) is loaded the first time a page or a swap brings a
// [data-richtext] field; until then, and without JavaScript, it is a textarea.
let editorLoading = null;
function mountRichText(root) {
  if (!root.querySelector?.('[data-richtext] textarea:not([data-rt-mounted])')) return;
  if (window.cartwheelEditor) {
    window.cartwheelEditor.mountAll(root);
    return;
  }
  const src = document.querySelector('meta[name="cartwheel-editor"]')?.content;
  if (!src || editorLoading) return;
  editorLoading = document.createElement('script');
  editorLoading.src = src;
  editorLoading.onload = () => window.cartwheelEditor?.mountAll(document);
  document.head.append(editorLoading);
}
document.addEventListener('DOMContentLoaded', () => mountRichText(document));
document.addEventListener('htmx:afterSettle', (e) => mountRichText(e.target instanceof Element ? e.target : document));

// --- Merge tag chips ---------------------------------------------------------------------
// A subject line's merge tags read as chips ("First name, or 'there'"); one
// click on the line shows the raw text to edit. The input keeps the raw text
// and is what is posted.
function mergeTagLabels() {
  try {
    const list = JSON.parse(document.querySelector('[data-merge-tags]')?.dataset.mergeTags || '[]');
    return Object.fromEntries(list.map((t) => [t.tag, t.label]));
  } catch {
    return {};
  }
}
const tagPattern = /\{\{\s*([a-z_]+)\s*(?:\|\s*default\s*:\s*(?:"([^"]*)"|'([^']*)')\s*)?\}\}/g;
function chipLine(line, value, labels) {
  line.replaceChildren();
  let last = 0;
  for (const m of value.matchAll(tagPattern)) {
    if (m.index > last) line.append(value.slice(last, m.index));
    const chip = document.createElement('span');
    chip.className = 'cw-TagChip';
    const label = labels[m[1]] || m[1];
    const def = m[2] ?? m[3];
    chip.textContent = def !== undefined ? `${label}, or '${def}'` : label;
    chip.title = m[0];
    line.append(chip);
    last = m.index + m[0].length;
  }
  if (last < value.length) line.append(value.slice(last));
}
function enhanceTagField(wrap, labels) {
  const input = wrap.querySelector('input[type="text"], input:not([type])');
  if (!input || input.dataset.chips) return;
  input.dataset.chips = '1';
  const field = input.closest('.Polaris-Connected') || input;
  const line = document.createElement('button');
  line.type = 'button';
  line.className = 'cw-TagLine';
  line.dataset.tagLine = input.name;
  const label = document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
  line.setAttribute('aria-label', `${label?.textContent.trim() || input.name}: ${input.value}. Edit as text`);
  line.title = 'Edit as text';
  field.after(line);
  const showChips = () => {
    if (!tagPattern.test(input.value)) {
      tagPattern.lastIndex = 0;
      field.style.display = '';
      line.hidden = true;
      return;
    }
    tagPattern.lastIndex = 0;
    chipLine(line, input.value, labels);
    line.setAttribute('aria-label', `${label?.textContent.trim() || input.name}: ${line.textContent}. Edit as text`);
    field.style.display = 'none';
    line.hidden = false;
  };
  line.addEventListener('click', () => {
    line.hidden = true;
    field.style.display = '';
    input.focus();
  });
  input.addEventListener('blur', showChips);
  showChips();
}
function enhanceTagFields(root) {
  const wraps = root.querySelectorAll?.('[data-merge-chips]');
  if (!wraps?.length) return;
  const labels = mergeTagLabels();
  wraps.forEach((w) => enhanceTagField(w, labels));
}
document.addEventListener('DOMContentLoaded', () => enhanceTagFields(document));
document.addEventListener('htmx:afterSettle', (e) => enhanceTagFields(e.target instanceof Element ? e.target : document));

// --- Product picker ----------------------------------------------------------------------
// A product block's search results (GET /app/catalog/products, htmx) carry
// "Add" buttons: they append the product to the block's ids field (what is
// posted), list it as picked and switch the block to hand-picked products.
function pickerIDs(input) {
  return input.value.split(/[\s,]+/).filter(Boolean);
}
function pickerChanged(input) {
  input.dispatchEvent(new Event('input', { bubbles: true }));
}
function pickedRow(id, title, price, image) {
  const li = document.createElement('li');
  li.className = 'cw-ProductRow';
  li.dataset.pickedId = id;
  if (image) {
    const img = document.createElement('img');
    Object.assign(img, { src: image, alt: '', width: 40, height: 40 });
    li.append(img);
  } else {
    const ph = document.createElement('span');
    ph.className = 'cw-ProductRow__noimg';
    li.append(ph);
  }
  const t = document.createElement('span');
  t.className = 'cw-ProductRow__title';
  t.textContent = title;
  const p = document.createElement('span');
  p.className = 'cw-ProductRow__price';
  p.textContent = price;
  const rm = document.createElement('button');
  rm.type = 'button';
  rm.className = 'Polaris-Button Polaris-Button--pressable Polaris-Button--variantSecondary Polaris-Button--sizeSlim';
  rm.dataset.unpickProduct = id;
  rm.setAttribute('aria-label', 'Remove ' + title);
  rm.textContent = 'Remove';
  li.append(t, p, rm);
  return li;
}
document.addEventListener('click', (e) => {
  const add = e.target instanceof Element ? e.target.closest('[data-pick-product]') : null;
  const remove = e.target instanceof Element ? e.target.closest('[data-unpick-product]') : null;
  const picker = (add || remove)?.closest('[data-product-picker]');
  const input = picker?.querySelector('input[name$=".product_ids"]');
  if (!input) return;
  if (add) {
    const id = add.dataset.pickProduct;
    const ids = pickerIDs(input);
    if (!ids.includes(id)) {
      input.value = [...ids, id].join(', ');
      picker.querySelector('[data-picked]')?.append(pickedRow(id, add.dataset.pickTitle, add.dataset.pickPrice, add.dataset.pickImage));
    }
    const source = picker.closest('[data-block]')?.querySelector('select[name$=".source"]');
    if (source && source.value !== 'manual') {
      source.value = 'manual';
      source.dispatchEvent(new Event('change', { bubbles: true }));
    }
    add.disabled = true;
    add.textContent = 'Added';
  } else {
    const id = remove.dataset.unpickProduct;
    input.value = pickerIDs(input).filter((x) => x !== id).join(', ');
    remove.closest('li')?.remove();
  }
  pickerChanged(input);
});

// Results swapped in after a pick still say which products are picked.
document.addEventListener('htmx:afterSwap', (e) => {
  const picker = e.target instanceof Element ? e.target.closest('[data-product-picker]') : null;
  const input = picker?.querySelector('input[name$=".product_ids"]');
  if (!input) return;
  const ids = pickerIDs(input);
  picker.querySelectorAll('[data-pick-product]').forEach((b) => {
    if (ids.includes(b.dataset.pickProduct)) {
      b.disabled = true;
      b.textContent = 'Added';
    }
  });
});

// --- CSV upload progress ------------------------------------------------------------
// htmx reports upload progress; show it on the import form's bar. (Here rather
// than inline in the page: the admin's CSP allows no inline script.)
document.addEventListener('htmx:xhr:progress', (e) => {
  const bar = document.getElementById('upload-progress');
  if (!bar || !e.detail.lengthComputable) return;
  bar.hidden = false;
  bar.value = Math.round((e.detail.loaded / e.detail.total) * 100);
});

// --- Charts -------------------------------------------------------------------------
// charts.js (uPlot) is loaded once, the first time a page or an htmx swap
// brings a chart (figure[data-chart]); pages without charts never fetch it.
let chartsLoading = null;
function drawCharts(root) {
  if (!root.querySelector?.('figure[data-chart]:not([data-chart-drawn])')) return;
  if (window.cartwheelCharts) {
    window.cartwheelCharts.drawAll(root);
    return;
  }
  const src = document.querySelector('meta[name="cartwheel-charts"]')?.content;
  if (!src || chartsLoading) return;
  chartsLoading = document.createElement('script');
  chartsLoading.src = src;
  chartsLoading.onload = () => window.cartwheelCharts?.drawAll(document);
  document.head.append(chartsLoading);
}
document.addEventListener('DOMContentLoaded', () => drawCharts(document));
document.addEventListener('htmx:afterSettle', (e) => drawCharts(e.target || document));
