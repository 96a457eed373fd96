// Cartwheel signup wheel. Nothing is built until the wheel is due to show
// (the dialog is an overlay, so it never shifts the page). The server picks
// the outcome; this script only animates to it. Merchant and server text is
// always set with textContent. See storefront/CONTRACT.md.
import { settings, visitorId, analyticsAllowed, event, sendEvents } from './common.js';

const cfg = settings();
const LS_SEEN = 'cw_wheel_seen';
const LS_DONE = 'cw_wheel_done';
const DAY = 864e5;
const reduced = () => matchMedia('(prefers-reduced-motion: reduce)').matches;
const store = (k, v) => {
  try {
    return v === undefined ? localStorage.getItem(k) : localStorage.setItem(k, v);
  } catch {}
};

// The stylesheet sits next to this script (cartwheel-wheel.css in the theme,
// wheel.css in the admin) and is fetched only once the wheel is due to show.
const src = document.currentScript && document.currentScript.src;
let css;
const loadCSS = () =>
  (css =
    css ||
    new Promise((ok) =>
      src ? document.head.append(h('link', { rel: 'stylesheet', href: src.replace(/\.js(?=\?|$)/, '.css') }, ok)) : ok(),
    ));

// --- colours: merchant colours are kept unless they fail WCAG AA, then the
// text falls back to black or white, whichever reads better.
function lum(hex) {
  const m = /^#?([\da-f]{3}|[\da-f]{6})$/i.exec(hex || '');
  if (!m) return null;
  const x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
  // sRGB gamma ≈ 2.2: within a hair of WCAG's piecewise formula.
  const c = (i) => (parseInt(x.substr(i, 2), 16) / 255) ** 2.2;
  return 0.2126 * c(0) + 0.7152 * c(2) + 0.0722 * c(4);
}
const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
function readable(fg, bg) {
  const b = lum(bg);
  if (b == null) return fg || '#111';
  const f = lum(fg);
  if (f != null && ratio(f, b) >= 4.5) return fg;
  return ratio(0, b) >= ratio(1, b) ? '#000' : '#fff';
}

// h builds an element; text is always set as textContent, never parsed. A
// function among the children is the load/error callback (for <link>).
function h(tag, attrs, ...kids) {
  const el = tag[0] == '*' ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(1)) : document.createElement(tag);
  for (const k in attrs || {}) k === 'text' ? (el.textContent = attrs[k]) : el.setAttribute(k, attrs[k]);
  for (const k of kids) typeof k === 'function' ? (el.onload = el.onerror = k) : el.append(k);
  return el;
}

function drawWheel(slices) {
  const svg = h('*svg', { viewBox: '0 0 200 200', 'aria-hidden': 'true', focusable: 'false' });
  const n = slices.length || 1;
  const step = 360 / n;
  const pt = (deg, r) => {
    const a = ((deg - 90) * Math.PI) / 180;
    return `${100 + r * Math.cos(a)} ${100 + r * Math.sin(a)}`;
  };
  slices.forEach((sl, i) => {
    const a0 = i * step;
    const bg = sl.color || ['#F6C445', '#1F6FEB', '#2DA44E', '#CF222E'][i % 4];
    svg.append(h('*path', { d: `M100 100L${pt(a0, 98)}A98 98 0 ${step > 180 ? 1 : 0} 1 ${pt(a0 + step, 98)}Z`, fill: bg, stroke: '#fff' }));
    const t = h('*text', {
      x: 100,
      y: 24,
      'text-anchor': 'middle',
      'font-size': n > 8 ? 8 : 10,
      'font-weight': 700,
      fill: readable(null, bg),
      transform: `rotate(${a0 + step / 2} 100 100)`,
      text: sl.label || '',
    });
    svg.append(t);
  });
  svg.append(h('*circle', { cx: 100, cy: 100, r: 12, fill: '#fff', stroke: '#333' }));
  return svg;
}

// Wheel is one instance of the dialog. net is null in the admin preview: it
// spins client-side and never touches the network.
function Wheel(w, net, mount) {
  const t = w.texts || {};
  const c = w.colors || {};
  const slices = w.slices && w.slices.length ? w.slices : [{ label: '?' }];
  const btnBg = c.button || '#111';
  const btnStyle = `background:${btnBg};color:${readable(c.button_text || '#fff', btnBg)}`;
  let ov, dlg, tab, back, spun, form, live, err, wh, svg;


  function build() {
    const bg = c.background || '#fff';
    const fg = readable(c.text || '#111', bg);
    const id = 'cw-' + Math.random().toString(36).slice(2, 8);
    ov = h('div', { class: 'cw-ov' + (mount ? ' cw-in' : '') });
    dlg = h('div', { class: 'cw-dlg', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': id + 'h', style: `background:${bg};color:${fg}` });
    const close = h('button', { type: 'button', class: 'cw-x', 'aria-label': 'Close', text: '×' });
    close.onclick = hide;
    wh = h('div', { class: 'cw-wh' }, h('div', { class: 'cw-pt' }));
    svg = drawWheel(slices);
    wh.prepend(svg);
    err = h('p', { class: 'cw-e', id: id + 'e', role: 'alert' });
    live = h('div', { 'aria-live': 'polite' });
    const field = (name, label, type, req, ac) => {
      const input = h('input', { id: id + name, name, type, autocomplete: ac });
      if (req) input.required = true;
      return [h('label', { for: id + name, text: label }), input];
    };
    const submit = h('button', { type: 'submit', class: 'cw-b', text: t.button || 'Spin', style: btnStyle });
    form = h(
      'form',
      { class: 'cw-f', novalidate: '' },
      ...field('email', 'Email', 'email', true, 'email'),
      ...field('first_name', 'First name (optional)', 'text', false, 'given-name'),
      ...field('phone', 'Phone (optional)', 'tel', false, 'tel'),
      // Consent is the shopper's own tick, labelled with the merchant's text.
      h('div', { class: 'cw-c' }, h('input', { id: id + 'consent', name: 'consent', type: 'checkbox' }), h('label', { for: id + 'consent', class: 'cw-small', text: t.consent || 'Email me offers' })),
      submit,
    );
    form.email.setAttribute('aria-describedby', id + 'e');
    form.onsubmit = onSubmit;
    dlg.append(close, h('h2', { id: id + 'h', text: t.headline || 'Spin to win' }), h('p', { text: t.subtext || '' }), wh, err, form, live);
    ov.append(dlg);
    ov.onkeydown = onKey;
    // (A handler property returning false would cancel the click.)
    ov.onclick = (e) => {
      if (e.target === ov) hide();
    };
  }

  function show(focus) {
    if (ov && ov.isConnected) return;
    if (!ov) build();
    // Where focus goes back to: read before hiding the tab, which may hold it.
    back = document.activeElement;
    if (tab) tab.hidden = true;
    (mount || document.body).append(ov);
    if (focus !== false) (spun ? dlg.querySelector('button,a') : form.email).focus();
    if (net) {
      store(LS_SEEN, String(Date.now()));
      if (analyticsAllowed()) sendEvents(cfg, net.vid, [event('wheel_viewed', { wheel_id: w.id })]);
    }
  }

  function hide() {
    if (!ov || !ov.isConnected) return;
    ov.remove();
    if (w.tab !== false && !spun && !mount) showTab();
    if (back && back.focus && back.isConnected) back.focus();
  }

  function showTab() {
    if (!tab) {
      tab = h('button', { type: 'button', class: 'cw-tab', text: t.tab || t.headline || 'Spin to win', style: btnStyle });
      tab.onclick = () => show();
      document.body.append(tab);
    }
    tab.hidden = false;
  }

  // Focus stays inside the dialog while it is open; Escape closes it.
  function onKey(e) {
    if (e.key === 'Escape') return hide();
    if (e.key !== 'Tab') return;
    const f = [...dlg.querySelectorAll('button,a[href],input')].filter((x) => !x.disabled && x.offsetParent);
    const to = e.shiftKey ? f.at(-1) : f[0];
    if (document.activeElement === (e.shiftKey ? f[0] : f.at(-1))) {
      e.preventDefault();
      to.focus();
    }
  }

  function fieldError(name, msg) {
    err.textContent = msg;
    for (const i of form.querySelectorAll('input')) i.removeAttribute('aria-invalid');
    const input = name && form[name];
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', err.id);
      input.focus();
    }
  }

  async function onSubmit(e) {
    e.preventDefault();
    const v = (n) => form[n].value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(v('email'))) return fieldError('email', 'Enter a valid email address.');
    fieldError(null, '');
    const btn = form.querySelector('[type=submit]');
    btn.disabled = true;
    try {
      const body = { email: v('email'), first_name: v('first_name'), phone: v('phone'), consent: form.consent.checked };
      const res = net ? await net.spin(body) : { status: 200, data: fakeSpin() };
      if (res.status === 200) return await result(res.data);
      const d = res.data || {};
      if (res.status === 409) {
        spun = true;
        store(LS_DONE, '1');
        form.remove();
        announce(d.message || "You've already spun the wheel.");
        return;
      }
      fieldError(d.field || (res.status === 422 ? 'email' : null), d.message || d.error || 'Something went wrong. Please try again.');
    } catch {
      fieldError(null, 'Could not reach the store. Please try again.');
    }
    btn.disabled = false;
  }

  function fakeSpin() {
    const i = Math.floor(Math.random() * slices.length);
    return { slice_index: i, label: slices[i].label, code: 'PREVIEW10', code_status: 'created', apply_url: '#' };
  }

  // The wheel turns a few times and stops with the server's slice under the
  // pointer (slice i spans [i*step, (i+1)*step] clockwise from the top).
  async function result(r) {
    spun = true;
    if (net) store(LS_DONE, '1');
    form.remove();
    const step = 360 / slices.length;
    const deg = 360 * 5 - (r.slice_index + 0.5) * step;
    await new Promise((ok) => {
      if (reduced()) return ok();
      svg.ontransitionend = ok;
      setTimeout(ok, 4500);
      requestAnimationFrame(() => (svg.style.transform = `rotate(${deg}deg)`));
    });
    svg.style.transform = `rotate(${deg}deg)`;
    render(r);
  }

  function render(r) {
    live.textContent = '';
    const nodes = [h('h3', { text: r.label ? 'You won: ' + r.label : t.no_prize || 'No prize this time' })];
    if (r.code && r.code_status === 'created') {
      const code = h('code', { text: r.code });
      const copy = h('button', { type: 'button', class: 'cw-b', text: 'Copy code', style: 'background:#111;color:#fff' });
      // Without clipboard access the code is selected, ready for Ctrl+C.
      copy.onclick = () =>
        navigator.clipboard
          .writeText(r.code)
          .then(() => (copy.textContent = 'Copied!'))
          .catch(() => getSelection().selectAllChildren(code));
      nodes.push(h('div', { class: 'cw-code' }, code, copy), h('p', {}, h('a', { href: r.apply_url || '/discount/' + encodeURIComponent(r.code), text: 'Apply to cart' })));
      if (r.expires_at) nodes.push(h('p', { class: 'cw-small', text: 'Valid until ' + new Date(r.expires_at).toLocaleDateString() }));
    } else if (r.code_status === 'pending') {
      nodes.push(h('p', { text: r.message || "Your code is on its way; it will appear here." }));
      if (net) setTimeout(() => poll(r.spin_id, 0), 3000);
    } else if (r.code_status === 'failed') {
      nodes.push(h('p', { text: r.message || "Sorry, we couldn't create your code. Please contact the store." }));
    } else if (r.message || r.code_status === 'none') {
      nodes.push(h('p', { text: r.message || t.no_prize || '' }));
    }
    live.append(...nodes);
    const focusable = live.querySelector('button,a');
    (focusable || dlg.querySelector('.cw-x')).focus();
  }

  // A code that failed at first is retried by a server job, which emails
  // it once made (the message says so); meanwhile poll for two minutes in
  // case it appears here first.
  async function poll(id, n) {
    try {
      const res = await net.get(id);
      if (res.status === 200 && res.data.code_status !== 'pending') return render(res.data);
    } catch {}
    if (n < 40) setTimeout(() => poll(id, n + 1), 3000);
  }

  function announce(msg) {
    live.textContent = '';
    live.append(h('p', { text: msg }));
    dlg.querySelector('.cw-x').focus();
  }

  return { show, showTab, el: () => ov };
}

// --- storefront: fetch this visitor's wheel, then wait for its trigger.
function glob(p) {
  return new RegExp('^' + p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

async function storefront() {
  if (store(LS_DONE)) return; // already signed up on this device
  const vid = visitorId();
  const json = async (r) => ({ status: r.status, data: await r.json().catch(() => ({})) });
  const res = await fetch(`${cfg.proxy}/wheel?visitor_id=${encodeURIComponent(vid)}`, { headers: { Accept: 'application/json' } });
  if (!res.ok) return;
  const { show, wheel: w } = await res.json();
  if (!show || !w) return;
  const pages = w.pages || {};
  const hit = (pages.paths || []).some((p) => glob(p).test(location.pathname));
  if ((pages.mode === 'include' && !hit) || (pages.mode === 'exclude' && hit)) return;
  await loadCSS();
  const post = (path, body) => fetch(cfg.proxy + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const wheel = Wheel(w, {
    vid,
    spin: (b) => post('/spin', { ...b, visitor_id: vid }).then(json),
    // The server answers only the visitor who spun.
    get: (id) => fetch(`${cfg.proxy}/spin/${encodeURIComponent(id)}?visitor_id=${encodeURIComponent(vid)}`).then(json),
  });

  const seen = Number(store(LS_SEEN) || 0);
  if (seen && Date.now() - seen < (w.frequency_days || 0) * DAY) {
    if (w.tab !== false) wheel.showTab();
    return;
  }
  const tr = w.trigger || {};
  let done = false;
  const fire = () => {
    if (done) return;
    done = true;
    wheel.show();
  };
  const onScroll = () => {
    const max = document.documentElement.scrollHeight - innerHeight;
    if (max <= 0 || (scrollY / max) * 100 >= tr.scroll_percent) fire();
  };
  const onExit = (e) => !e.relatedTarget && e.clientY <= 0 && fire();
  if (tr.delay_seconds > 0) setTimeout(fire, tr.delay_seconds * 1000);
  if (tr.scroll_percent > 0) addEventListener('scroll', onScroll, { passive: true });
  // Exit intent only means something with a mouse.
  if (tr.exit_intent && matchMedia('(pointer:fine)').matches) document.addEventListener('mouseout', onExit);
  if (!(tr.delay_seconds > 0) && !(tr.scroll_percent > 0) && !tr.exit_intent) fire();
}

let preview;
window.CartwheelWheel = {
  // preview(config[, element]) renders the wheel for the admin's live
  // preview: no network, spins client-side. Called again on every edit, so
  // it replaces the previous one and doesn't steal focus from the editor.
  preview(config, mount) {
    const w = (config && config.wheel) || config || {};
    if (preview) preview.el() && preview.el().remove();
    const p = (preview = Wheel(w, null, mount));
    loadCSS().then(() => p === preview && p.show(false));
    return p;
  },
};

if (cfg.wheel && document.getElementById('cartwheel-embed')) storefront().catch(() => {});
