// Admin › Segments › builder. Plain DOM, no framework.
//
// The <textarea name="rules"> in #segment-form holds the segment's rules as
// JSON and is the source of truth: the builder parses it once, renders the
// tree (groups of conditions, nested), and on every edit mutates the parsed
// object, writes it back to the textarea and, 400 ms after the last edit,
// POSTs it to the preview endpoint for the live count, a few members and
// the rules in words, or the validator's problems, which are shown next to
// the condition their path points at ("root.items[2].window.days").
// Saving is the form's own (htmx) POST of name + rules.
//
// Pieces, top to bottom: field catalogue (FIELDS), small DOM helpers,
// controls per parameter kind (values chips, windows, counts, pickers),
// condition and group rendering, errors, preview, and start-up.

const OPS = {
  is: 'is',
  is_not: 'is not',
  in: 'is one of',
  not_in: 'is not one of',
  has_any: 'has any of',
  has_none: 'has none of',
  within: 'was',
  not_within: 'was not',
  equals: 'equals',
  not_equals: 'does not equal',
  exists: 'is set',
  not_exists: 'is not set',
  gte: 'is at least',
  lte: 'is at most',
  eq: 'is exactly',
  gt: 'is more than',
  lt: 'is less than',
  has: 'includes',
  has_not: 'does not include',
  did: 'did',
  did_not: 'did not',
};
const CMP = ['gte', 'lte', 'eq', 'gt', 'lt'];

const CONSENT = [
  ['subscribed', 'Subscribed'],
  ['not_subscribed', 'Not subscribed'],
  ['unsubscribed', 'Unsubscribed'],
  ['pending', 'Pending confirmation'],
  ['redacted', 'Redacted'],
  ['invalid', 'Invalid'],
];
const SOURCES = [
  ['shopify', 'Shopify'],
  ['wheel', 'Signup wheel'],
  ['import', 'Import'],
];

// FIELDS: what each condition kind looks at and which parameters it takes
// (see the Field constants in app/segments/model.go).
const FIELDS = [
  ['Profile', 'email_domain', 'Email domain', ['is', 'is_not'], 'text'],
  ['Profile', 'country', 'Country', ['in', 'not_in'], 'chips', { upper: true, placeholder: 'US, DE…' }],
  ['Profile', 'city', 'City', ['in', 'not_in'], 'chips', { placeholder: 'Paris' }],
  ['Profile', 'language', 'Language', ['in', 'not_in'], 'chips', { lower: true, placeholder: 'en, fr…' }],
  ['Profile', 'source', 'Signup source', ['in', 'not_in'], 'checks', { options: () => SOURCES }],
  ['Profile', 'consent', 'Email consent', ['in', 'not_in'], 'checks', { options: () => CONSENT }],
  ['Profile', 'tags', 'Tags', ['has_any', 'has_none'], 'chips', { placeholder: 'VIP' }],
  ['Profile', 'created_at', 'Customer created', ['within', 'not_within'], 'window'],
  ['Profile', 'subscribed_at', 'Subscribed', ['within', 'not_within'], 'window'],
  ['Profile', 'property', 'Custom property', ['equals', 'not_equals', 'exists', 'not_exists'], 'property'],
  ['Orders', 'orders_count', 'Number of orders', CMP, 'number', { step: '1' }],
  ['Orders', 'total_spent', 'Total spent', CMP, 'number', { step: '0.01' }],
  ['Orders', 'average_order_value', 'Average order value', CMP, 'number', { step: '0.01' }],
  ['Orders', 'first_order_at', 'First order', ['within', 'not_within'], 'window'],
  ['Orders', 'last_order_at', 'Last order', ['within', 'not_within'], 'window'],
  ['Orders', 'bought_product', 'Bought product', ['has', 'has_not'], 'ids', { pick: 'product' }],
  ['Orders', 'bought_collection', 'Bought from collection', ['has', 'has_not'], 'ids', { pick: 'collection' }],
  ['Orders', 'used_discount', 'Used a discount code', ['has', 'has_not'], 'discount'],
  ['Orders', 'rfm', 'RFM group', ['in', 'not_in'], 'checks', { options: (cfg) => cfg.rfm.map((o) => [o.Value, o.Label]) }],
  ['Behaviour', 'event', 'Storefront activity', ['did', 'did_not'], 'event'],
  ['Email', 'email_received', 'Received an email', ['did', 'did_not'], 'activity'],
  ['Email', 'email_opened', 'Opened an email', ['did', 'did_not'], 'activity'],
  ['Email', 'email_clicked', 'Clicked an email', ['did', 'did_not'], 'activity'],
  ['Email', 'opened_not_clicked', 'Opened but did not click', ['did', 'did_not'], 'activityWindow'],
  ['Email', 'suppressed', 'On the suppression list', ['is', 'is_not'], 'checks', {
    options: (cfg) => cfg.suppression_reasons.map((o) => [o.Value, 'for ' + o.Label]),
    hint: 'No reason chosen: any reason.',
  }],
  ['Email', 'unsubscribed', 'Unsubscribed', ['is', 'is_not'], 'none'],
  ['Segments', 'segment', 'Segment membership', ['in', 'not_in'], 'segment'],
  ['Lifecycle', 'lifecycle', 'Lifecycle funnel', ['is', 'is_not'], 'lifecycle'],
].map(([group, key, label, ops, kind, opts = {}]) => ({ group, key, label, ops, kind, ...opts }));
const FIELD = Object.fromEntries(FIELDS.map((f) => [f.key, f]));
const SEG_OPS = { in: 'is in', not_in: 'is not in' };

// The funnel's levels (app/lifecycle); a level includes the ones after it.
const LIFECYCLE = [
  ['prospects', 'Prospects'],
  ['reached', 'Reached'],
  ['engaged', 'Engaged'],
  ['ordered', 'Ordered'],
  ['repurchased', 'Repurchased'],
];
const LIFECYCLE_DAYS = 30;

// lifecycleFrom is the first day of the 30-day window ending on to.
function lifecycleFrom(to) {
  const d = new Date(to + 'T12:00:00Z');
  if (Number.isNaN(d.getTime())) return '';
  d.setUTCDate(d.getUTCDate() - (LIFECYCLE_DAYS - 1));
  return d.toISOString().slice(0, 10);
}

// defaults gives a fresh condition of field key.
function defaults(key) {
  const f = FIELD[key];
  const c = { field: key, op: f.ops[0] };
  switch (f.kind) {
    case 'number':
      c.number = key === 'orders_count' ? 1 : 100;
      break;
    case 'window':
      c.window = { kind: 'last_days', days: 30 };
      break;
    case 'chips':
    case 'checks':
      if (key !== 'suppressed') c.values = [];
      break;
    case 'ids':
      c.ids = [];
      break;
    case 'event':
      c.event = 'product_viewed';
      c.window = { kind: 'last_days', days: 30 };
      break;
    case 'activity':
    case 'activityWindow':
      c.window = { kind: 'last_days', days: 30 };
      break;
    case 'property':
      c.key = '';
      c.value = '';
      break;
    case 'lifecycle':
      c.value = 'reached';
      c.window = { kind: 'last_days', days: LIFECYCLE_DAYS };
      break;
  }
  return c;
}

// --- DOM helpers ----------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

function select(label, options, value, onchange, attrs = {}) {
  const el = h('select', { class: 'cw-Builder__select', 'aria-label': label, ...attrs });
  for (const o of options) {
    if (o.group) {
      const og = h('optgroup', { label: o.group });
      for (const x of o.options) og.append(h('option', { value: x[0], text: x[1] }));
      el.append(og);
    } else {
      el.append(h('option', { value: o[0], text: o[1] }));
    }
  }
  el.value = value ?? '';
  if (el.value !== String(value ?? '') && value != null && value !== '') {
    el.append(h('option', { value, text: String(value) }));
    el.value = value;
  }
  el.addEventListener('change', () => onchange(el.value));
  return el;
}

function input(label, value, oninput, attrs = {}) {
  const el = h('input', { class: 'cw-Builder__input', 'aria-label': label, type: 'text', ...attrs });
  el.value = value ?? '';
  el.addEventListener('input', () => oninput(el.value, el));
  return el;
}

function button(text, onclick, attrs = {}) {
  return h(
    'button',
    { type: 'button', class: 'Polaris-Button Polaris-Button--pressable Polaris-Button--variantSecondary Polaris-Button--sizeSlim', onclick, ...attrs },
    h('span', { class: 'Polaris-Text--root Polaris-Text--bodySm', text }),
  );
}

function plainButton(text, onclick, attrs = {}) {
  return h(
    'button',
    { type: 'button', class: 'Polaris-Button Polaris-Button--pressable Polaris-Button--variantTertiary Polaris-Button--sizeSlim', onclick, ...attrs },
    h('span', { class: 'Polaris-Text--root Polaris-Text--bodySm', text }),
  );
}

const num = (v) => (v === '' || v == null ? null : Number(v));

// --- Builder --------------------------------------------------------------------------
class Builder {
  constructor(form) {
    this.form = form;
    this.textarea = form.querySelector('textarea[name="rules"]');
    this.root = form.querySelector('#seg-builder');
    this.preview = form.querySelector('#seg-preview');
    const cfgEl = form.querySelector('#segment-builder-config');
    this.cfg = cfgEl ? JSON.parse(cfgEl.textContent) : {};
    this.cfg.rfm ||= [];
    this.cfg.suppression_reasons ||= [];
    this.cfg.segments ||= [];
    this.cfg.events ||= [];
    this.cfg.limits ||= { depth: 5, conditions: 50, values: 100 };
    this.titles = { product: {}, collection: {}, ...(this.cfg.titles || {}) };
    this.selfID = Number(form.dataset.selfId || 0);
    this.seq = 0;
    try {
      this.rules = JSON.parse(this.textarea.value);
    } catch {
      return; // unreadable JSON: leave the textarea to the merchant
    }
    if (!this.rules || typeof this.rules !== 'object' || !this.rules.root) return;
    this.rules.version ||= 1;
    this.rules.root.items ||= [];
    this.ok = true;
    this.root.hidden = false;
    form.querySelector('[data-rules-json]').hidden = true;
    this.render();
    this.showErrors(this.cfg.errors || []);
    this.schedule(0);
  }

  // changed: the tree's shape changed (re-render); otherwise only values.
  changed(shape) {
    this.textarea.value = JSON.stringify(this.rules, null, 2);
    if (shape) {
      this.render();
      this.showErrors(this.lastErrors || []);
    }
    this.schedule(400);
  }

  countConditions(g = this.rules.root) {
    return (g.items || []).reduce((n, it) => n + (it.group ? this.countConditions(it.group) : it.condition ? 1 : 0), 0);
  }

  render() {
    const focusPath = document.activeElement?.closest?.('[data-path]')?.dataset.path;
    this.root.replaceChildren(
      h('div', { class: 'cw-Builder__errors', 'data-err-slot': '', role: 'alert' }),
      this.group(this.rules.root, 'root', 1, null),
    );
    if (focusPath) this.root.querySelector(`[data-path="${CSS.escape(focusPath)}"] select, [data-path="${CSS.escape(focusPath)}"] input`)?.focus();
  }

  group(g, path, depth, remove) {
    const full = this.countConditions() >= this.cfg.limits.conditions;
    const items = h('ol', { class: 'cw-Builder__items' });
    (g.items || []).forEach((it, i) => {
      const p = `${path}.items[${i}]`;
      const del = () => {
        g.items.splice(i, 1);
        this.changed(true);
      };
      if (it.group) items.append(h('li', {}, this.group(it.group, p, depth + 1, del)));
      else if (it.condition) items.append(h('li', {}, this.condition(it.condition, p, del)));
      else items.append(h('li', { 'data-path': p, 'data-err-slot': p, class: 'cw-Builder__cond' }, plainButton('Remove empty item', del)));
    });
    const head = h(
      'div',
      { class: 'cw-Builder__grouphead' },
      h('span', { text: 'Match' }),
      select(
        'Match all or any',
        [
          ['and', 'all'],
          ['or', 'any'],
        ],
        g.op,
        (v) => {
          g.op = v;
          this.changed(false);
        },
        { 'data-group-op': '' },
      ),
      h('span', { text: 'of the following' }),
      remove ? plainButton('Remove group', remove, { 'data-remove-group': '', 'aria-label': 'Remove this group' }) : null,
    );
    const add = h(
      'div',
      { class: 'cw-Builder__add' },
      button(
        'Add condition',
        () => {
          g.items.push({ condition: defaults('orders_count') });
          this.changed(true);
          const last = this.root.querySelector(`[data-path="${path}.items[${g.items.length - 1}]"] [data-field]`);
          last?.focus();
        },
        { 'data-add-condition': '', disabled: full },
      ),
      depth < this.cfg.limits.depth
        ? button(
            'Add group',
            () => {
              g.items.push({ group: { op: g.op === 'and' ? 'or' : 'and', items: [{ condition: defaults('orders_count') }] } });
              this.changed(true);
            },
            { 'data-add-group': '', disabled: full },
          )
        : null,
    );
    return h(
      'fieldset',
      { class: 'cw-Builder__group' + (depth > 1 ? ' cw-Builder__group--nested' : ''), 'data-path': path, 'data-group': path },
      h('legend', { class: 'cw-VisuallyHidden', text: depth === 1 ? 'Rules' : 'Group' }),
      head,
      h('div', { class: 'cw-Builder__errors', 'data-err-slot': path, 'data-err-exact': '' }),
      items,
      add,
    );
  }

  condition(c, path, remove) {
    const f = FIELD[c.field];
    const fieldOptions = [];
    for (const g of [...new Set(FIELDS.map((x) => x.group))]) {
      fieldOptions.push({ group: g, options: FIELDS.filter((x) => x.group === g).map((x) => [x.key, x.label]) });
    }
    const fieldSel = select(
      'What the condition looks at',
      fieldOptions,
      c.field,
      (v) => {
        const nc = defaults(v);
        for (const k of Object.keys(c)) delete c[k];
        Object.assign(c, nc);
        this.changed(true);
      },
      { 'data-field': '' },
    );
    const row = h('div', { class: 'cw-Builder__row' }, fieldSel);
    if (f) {
      const opLabels = c.field === 'segment' ? SEG_OPS : OPS;
      row.append(
        select(
          'Comparison',
          f.ops.map((o) => [o, opLabels[o]]),
          c.op,
          (v) => {
            c.op = v;
            this.changed(f.kind === 'property');
          },
          { 'data-op': '' },
        ),
      );
      this.params(f, c, row);
    }
    row.append(plainButton('Remove', remove, { 'data-remove-condition': '', 'aria-label': 'Remove this condition' }));
    return h(
      'div',
      { class: 'cw-Builder__cond', 'data-path': path, 'data-cond': c.field || '' },
      row,
      h('div', { class: 'cw-Builder__errors', 'data-err-slot': path }),
    );
  }

  params(f, c, row) {
    const set = (k, v, shape = false) => {
      if (v == null || v === '') delete c[k];
      else c[k] = v;
      this.changed(shape);
    };
    switch (f.kind) {
      case 'text':
        row.append(input('Email domain', c.value, (v) => set('value', v.trim().toLowerCase().replace(/^@/, '')), { placeholder: 'gmail.com', 'data-value': '' }));
        break;
      case 'number':
        row.append(
          input('Amount', c.number ?? '', (v) => set('number', num(v)), { type: 'number', min: '0', step: f.step, inputmode: 'decimal', 'data-number': '' }),
        );
        break;
      case 'chips':
        row.append(this.chips(f, c));
        break;
      case 'checks':
        row.append(this.checks(f.options(this.cfg), c, f.hint));
        break;
      case 'window':
        row.append(this.window(c, false));
        break;
      case 'property':
        row.append(input('Property name', c.key, (v) => set('key', v.trim()), { placeholder: 'favorite_color', 'data-key': '' }));
        if (c.op === 'equals' || c.op === 'not_equals') row.append(input('Property value', c.value, (v) => set('value', v), { 'data-value': '' }));
        else delete c.value;
        break;
      case 'ids':
        row.append(this.picker(f.pick, c, false));
        break;
      case 'discount':
        row.append(input('Discount code (empty: any code)', c.value, (v) => set('value', v.trim()), { placeholder: 'any code', 'data-value': '' }));
        break;
      case 'event':
        row.append(
          select(
            'Activity',
            this.cfg.events.map((e) => [e, (this.cfg.event_labels || {})[e] || e.replace(/_/g, ' ')]),
            c.event,
            (v) => {
              c.event = v;
              if (c.filter?.kind === 'search_term' && v !== 'search_submitted') delete c.filter;
              this.changed(true);
            },
            { 'data-event': '' },
          ),
          this.count(c),
          this.window(c, true),
          this.filter(c),
        );
        break;
      case 'activity':
        row.append(this.count(c), this.window(c, true));
        break;
      case 'activityWindow':
        row.append(this.window(c, true));
        break;
      case 'lifecycle':
        row.append(this.lifecycle(c));
        break;
      case 'segment': {
        const opts = [['', 'Choose a segment…'], ...this.cfg.segments.map((s) => [String(s.id), s.name])];
        row.append(select('Segment', opts, c.segment_id ? String(c.segment_id) : '', (v) => set('segment_id', v ? Number(v) : null), { 'data-segment': '' }));
        break;
      }
    }
  }

  // chips: free values (countries, cities, tags, languages), added with
  // Enter, comma or the Add button.
  chips(f, c) {
    c.values ||= [];
    const norm = (v) => {
      v = v.trim();
      return f.upper ? v.toUpperCase() : f.lower ? v.toLowerCase() : v;
    };
    const list = h('span', { class: 'cw-Chips' });
    const draw = () => {
      list.replaceChildren(
        ...c.values.map((v, i) =>
          h(
            'span',
            { class: 'cw-Chip' },
            h('span', { text: v }),
            h('button', {
              type: 'button',
              class: 'cw-Chip__remove',
              'aria-label': 'Remove ' + v,
              text: '×',
              onclick: () => {
                c.values.splice(i, 1);
                draw();
                this.changed(false);
              },
            }),
          ),
        ),
      );
    };
    const box = input(f.label + ': add a value', '', () => {}, { placeholder: f.placeholder, 'data-chip-input': '' });
    const add = () => {
      const vals = box.value.split(',').map(norm).filter(Boolean);
      for (const v of vals) if (!c.values.includes(v) && c.values.length < this.cfg.limits.values) c.values.push(v);
      box.value = '';
      draw();
      if (vals.length) this.changed(false);
    };
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ',') {
        e.preventDefault();
        add();
      } else if (e.key === 'Backspace' && !box.value && c.values.length) {
        c.values.pop();
        draw();
        this.changed(false);
      }
    });
    box.addEventListener('blur', () => box.value.trim() && add());
    draw();
    return h('span', { class: 'cw-Chips__wrap' }, list, box, button('Add', add, { 'data-chip-add': '' }));
  }

  checks(options, c, hint) {
    const vals = new Set(c.values || []);
    const wrap = h('span', { class: 'cw-Checks', role: 'group' });
    for (const [v, label] of options) {
      const cb = h('input', { type: 'checkbox', value: v, 'data-check': v });
      cb.checked = vals.has(v);
      cb.addEventListener('change', () => {
        cb.checked ? vals.add(v) : vals.delete(v);
        const ordered = options.map((o) => o[0]).filter((x) => vals.has(x));
        if (ordered.length || c.field !== 'suppressed') c.values = ordered;
        else delete c.values;
        this.changed(false);
      });
      wrap.append(h('label', { class: 'cw-Check' }, cb, ' ', label));
    }
    if (hint) wrap.append(h('span', { class: 'Polaris-Text--root Polaris-Text--bodySm Polaris-Text--subdued', text: hint }));
    return wrap;
  }

  // window: when something happened. Optional windows (activities) may be
  // "ever", stored as no window at all.
  // lifecycle: a level and its 30-day window, the last 30 days or the 30
  // days ending on a chosen day.
  lifecycle(c) {
    const w = c.window || { kind: 'last_days', days: LIFECYCLE_DAYS };
    const wrap = h('span', { class: 'cw-Window', 'data-lifecycle': '' });
    wrap.append(
      select('Funnel level', LIFECYCLE, c.value, (v) => {
        c.value = v;
        this.changed(false);
      }, { 'data-value': '' }),
      select('Window', [['last_days', 'in the last 30 days'], ['between', 'in the 30 days ending']], w.kind, (k) => {
        c.window = k === 'last_days' ? { kind: k, days: LIFECYCLE_DAYS } : { kind: k, from: '', to: '' };
        this.changed(true);
      }, { 'data-window-kind': '' }),
    );
    if (w.kind === 'between') {
      wrap.append(
        input('Last day', w.to, (v) => {
          c.window.to = v;
          c.window.from = lifecycleFrom(v);
          this.changed(false);
        }, { type: 'date', 'data-to': '' }),
      );
    }
    return wrap;
  }

  window(c, optional) {
    const w = c.window || { kind: 'ever' };
    const kinds = [
      ...(optional ? [['ever', 'ever']] : []),
      ['last_days', 'within the last'],
      ['between', 'between'],
      ['since', 'since'],
    ];
    const wrap = h('span', { class: 'cw-Window', 'data-window': '' });
    wrap.append(
      select('When', kinds, w.kind, (k) => {
        if (k === 'ever') delete c.window;
        else if (k === 'last_days') c.window = { kind: k, days: 30 };
        else if (k === 'between') c.window = { kind: k, from: '', to: '' };
        else c.window = { kind: k, from: '' };
        this.changed(true);
      }, { 'data-window-kind': '' }),
    );
    if (w.kind === 'last_days') {
      wrap.append(
        input('Number of days', w.days ?? '', (v) => {
          c.window.days = v === '' ? 0 : Math.trunc(Number(v));
          this.changed(false);
        }, { type: 'number', min: '1', step: '1', class: 'cw-Builder__input cw-Builder__input--short', 'data-days': '' }),
        h('span', { text: 'days' }),
      );
    } else if (w.kind === 'between' || w.kind === 'since') {
      wrap.append(
        input('From date', w.from, (v) => {
          c.window.from = v;
          this.changed(false);
        }, { type: 'date', 'data-from': '' }),
      );
      if (w.kind === 'between') {
        wrap.append(
          h('span', { text: 'and' }),
          input('To date', w.to, (v) => {
            c.window.to = v;
            this.changed(false);
          }, { type: 'date', 'data-to': '' }),
        );
      }
    }
    return wrap;
  }

  count(c) {
    const k = c.count || { op: 'at_least', n: 1 };
    const ensure = () => (c.count ||= { op: 'at_least', n: 1 });
    return h(
      'span',
      { class: 'cw-Count' },
      select(
        'How often',
        [
          ['at_least', 'at least'],
          ['at_most', 'at most'],
          ['exactly', 'exactly'],
        ],
        k.op,
        (v) => {
          ensure().op = v;
          this.changed(false);
        },
        { 'data-count-op': '' },
      ),
      input('Number of times', k.n, (v) => {
        ensure().n = v === '' ? 0 : Math.trunc(Number(v));
        this.changed(false);
      }, { type: 'number', min: '0', step: '1', class: 'cw-Builder__input cw-Builder__input--short', 'data-count-n': '' }),
      h('span', { text: 'times' }),
    );
  }

  filter(c) {
    const kinds = [
      ['', 'any product'],
      ['product', 'of the product'],
      ['collection', 'in the collection'],
    ];
    if (c.event === 'search_submitted') kinds.push(['search_term', 'for the search term']);
    const wrap = h('span', { class: 'cw-Filter' });
    wrap.append(
      select('Narrow the activity', kinds, c.filter?.kind || '', (k) => {
        if (!k) delete c.filter;
        else c.filter = { kind: k, value: '' };
        this.changed(true);
      }, { 'data-filter-kind': '' }),
    );
    if (c.filter?.kind === 'search_term') {
      wrap.append(input('Search term', c.filter.value, (v) => {
        c.filter.value = v;
        this.changed(false);
      }, { 'data-filter-value': '' }));
    } else if (c.filter?.kind) {
      wrap.append(this.picker(c.filter.kind, c, true));
    }
    return wrap;
  }

  // picker: products or collections from the store, searched by title.
  // single: the event filter (one id, as a string); else the ids list.
  picker(kind, c, single) {
    const chosen = h('span', { class: 'cw-Chips' });
    const label = (id) => this.titles[kind]?.[String(id)] || `${kind} ${id}`;
    const ids = () => (single ? (c.filter.value ? [c.filter.value] : []) : (c.ids ||= []));
    const draw = () => {
      chosen.replaceChildren(
        ...ids().map((id, i) =>
          h(
            'span',
            { class: 'cw-Chip' },
            h('span', { text: label(id) }),
            h('button', {
              type: 'button',
              class: 'cw-Chip__remove',
              'aria-label': 'Remove ' + label(id),
              text: '×',
              onclick: () => {
                if (single) c.filter.value = '';
                else c.ids.splice(i, 1);
                draw();
                this.changed(false);
              },
            }),
          ),
        ),
      );
    };
    const results = h('ul', { class: 'cw-Picker__results', role: 'listbox', hidden: true });
    let timer;
    const box = input(`Search ${kind}s`, '', (q) => {
      clearTimeout(timer);
      timer = setTimeout(() => search(q), 250);
    }, { type: 'search', placeholder: `Search ${kind}s…`, 'data-picker': kind, autocomplete: 'off' });
    box.addEventListener('focus', () => search(box.value));
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        results.querySelector('button')?.click();
      } else if (e.key === 'Escape') results.hidden = true;
    });
    const search = async (q) => {
      let items = [];
      try {
        const res = await authFetch(`${this.cfg.catalog_url}?kind=${kind}&q=${encodeURIComponent(q)}`);
        if (res.ok) items = (await res.json()).items || [];
      } catch {
        /* offline: no suggestions */
      }
      results.replaceChildren(
        ...(items.length
          ? items.map((it) =>
              h(
                'li',
                {},
                h('button', {
                  type: 'button',
                  class: 'cw-Picker__item',
                  text: it.title || `${kind} ${it.id}`,
                  'data-pick': String(it.id),
                  onclick: () => {
                    this.titles[kind][String(it.id)] = it.title;
                    if (single) c.filter.value = String(it.id);
                    else if (!c.ids.includes(it.id)) c.ids.push(it.id);
                    box.value = '';
                    results.hidden = true;
                    draw();
                    this.changed(false);
                  },
                }),
              ),
            )
          : [h('li', { class: 'Polaris-Text--root Polaris-Text--bodySm Polaris-Text--subdued', text: `No ${kind}s found.` })]),
      );
      results.hidden = false;
    };
    draw();
    return h('span', { class: 'cw-Picker' }, chosen, box, results);
  }

  // --- errors -----------------------------------------------------------------
  // Each problem goes to the slot with the longest path that is its own path
  // or a prefix of it; a group's own slot takes only its own problems (the
  // group, its "op").
  showErrors(errors) {
    this.lastErrors = errors;
    const slots = [...this.root.querySelectorAll('[data-err-slot]')];
    for (const s of slots) s.replaceChildren();
    this.root.querySelectorAll('.cw-Builder__cond--error').forEach((el) => el.classList.remove('cw-Builder__cond--error'));
    for (const e of errors) {
      if (e.path === 'name') continue;
      let best = slots[0];
      let len = -1;
      for (const s of slots) {
        const p = s.dataset.errSlot;
        if (!p) continue;
        const exact = s.hasAttribute('data-err-exact');
        const hit = e.path === p || (exact ? e.path === p + '.op' : e.path.startsWith(p + '.') || e.path.startsWith(p + '['));
        if (hit && p.length > len) {
          best = s;
          len = p.length;
        }
      }
      best.append(
        h(
          'div',
          { class: 'Polaris-InlineError', 'data-error-path': e.path },
          h('span', { class: 'Polaris-Text--root Polaris-Text--bodyMd', text: e.message }),
        ),
      );
      best.closest('.cw-Builder__cond')?.classList.add('cw-Builder__cond--error');
    }
  }

  // --- preview ------------------------------------------------------------------
  // The preview is busy from the edit on, not only while its request runs,
  // so assistive tech (and tests) can tell a count that is about to change.
  schedule(ms) {
    clearTimeout(this.timer);
    this.preview.setAttribute('aria-busy', 'true');
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.runPreview();
    }, ms);
  }

  setStatus(text) {
    this.preview.querySelector('[data-preview-status]').textContent = text;
  }

  async runPreview() {
    const seq = ++this.seq;
    const count = this.preview.querySelector('[data-preview-count]');
    const summary = this.preview.querySelector('[data-preview-summary]');
    const sample = this.preview.querySelector('[data-preview-sample]');
    this.preview.setAttribute('aria-busy', 'true');
    this.setStatus('Counting…');
    let res, body;
    try {
      res = await authFetch(this.cfg.preview_url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ rules: this.rules, self_id: this.selfID }),
      });
      body = await res.json().catch(() => ({}));
    } catch {
      if (seq === this.seq) this.setStatus('Could not reach Cartwheel; the count will update when you are back online.');
      return;
    } finally {
      if (seq === this.seq && !this.timer) this.preview.removeAttribute('aria-busy');
    }
    if (seq !== this.seq) return; // a newer edit is on its way
    this.preview.dataset.state = res.ok ? 'ok' : 'invalid';
    if (res.ok) {
      this.showErrors([]);
      count.textContent = `${body.count.toLocaleString('en-US')} ${body.count === 1 ? 'customer' : 'customers'}`;
      count.dataset.count = String(body.count);
      summary.textContent = body.summary || '';
      this.setStatus(body.count ? 'match these rules right now, for example:' : 'match these rules right now.');
      sample.replaceChildren(
        ...(body.sample || []).map((m) =>
          h('li', {}, h('a', { class: 'Polaris-Link', href: m.href, text: m.name || m.email || `Customer ${m.id}` }), m.email && m.email !== m.name ? ' · ' + m.email : ''),
        ),
      );
    } else if (res.status === 422 && body.errors) {
      this.showErrors(body.errors);
      count.textContent = '—';
      delete count.dataset.count;
      summary.textContent = '';
      sample.replaceChildren();
      const n = body.errors.length;
      this.setStatus(n === 1 ? 'Fix the problem shown in the rules to see the count.' : `Fix the ${n} problems shown in the rules to see the count.`);
    } else {
      this.setStatus(body.error || `The count is unavailable (HTTP ${res.status}).`);
    }
  }
}

async function authFetch(url, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (typeof window.shopify?.idToken === 'function') headers.Authorization = 'Bearer ' + (await window.shopify.idToken());
  return fetch(url, { ...opts, headers, credentials: 'same-origin' });
}

function start() {
  const form = document.getElementById('segment-form');
  if (!form || form.dataset.builder) return;
  form.dataset.builder = '1';
  const b = new Builder(form);
  if (!b.ok) return;
  // Enter in a builder field must not submit the form.
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target instanceof HTMLInputElement && e.target.closest('#seg-builder')) e.preventDefault();
  });
  // Close picker suggestions on outside clicks.
  form.addEventListener('click', (e) => {
    form.querySelectorAll('.cw-Picker__results:not([hidden])').forEach((r) => {
      if (!r.parentElement.contains(e.target)) r.hidden = true;
    });
  });
  form.builder = b;
}

document.addEventListener('DOMContentLoaded', start);
// The form comes back from a failed save as a fragment: start again on it.
document.addEventListener('htmx:afterSwap', start);
if (document.readyState !== 'loading') start();
