// Cartwheel admin charts, drawn with uPlot (small, fast, no framework).
//
// Pages describe a chart in markup and never call this file:
//
//   <figure class="cw-Chart" data-chart='{"kind":"line","x":[...],"series":[...]}'>
//     <figcaption>…</figcaption>
//     <table>…the same figures…</table>
//   </figure>
//
// kind: "line" | "bars" | "stacked" (areas stacked to 100 % or to the total).
// x: dates ("2026-11-01", drawn on a time axis) or category labels.
// series: [{"label": "Sales", "values": [..], "scale": "y"|"y2"}], optional
// "scale" puts a series on a second axis (orders beside money, say).
// format: "number" | "percent" (values are fractions) | "money" (with
// "currency", an ISO code).
//
// The table stays in the page (inside the figure) as the chart's text
// alternative and for readers without canvas; the drawn chart is
// aria-hidden. admin.js loads this file only when a page (or an htmx swap)
// has a chart, so other pages don't pay for it.
import uPlot from 'uplot';

const palette = ['#2c6ecb', '#b98900', '#008060', '#d72c0d', '#8a61b6', '#5c5f62'];
const dateRe = /^\d{4}-\d{2}-\d{2}$/;

function formatter(spec) {
  const fmt = spec.format || 'number';
  if (fmt === 'percent') {
    return (v) => (v == null ? '' : (v * 100).toLocaleString(undefined, { maximumFractionDigits: 1 }) + '%');
  }
  if (fmt === 'money' && spec.currency) {
    let nf;
    try {
      nf = new Intl.NumberFormat(undefined, { style: 'currency', currency: spec.currency, maximumFractionDigits: 0 });
    } catch {
      nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
    }
    return (v) => (v == null ? '' : nf.format(v));
  }
  return (v) => (v == null ? '' : v.toLocaleString(undefined, { maximumFractionDigits: 2 }));
}

function xValues(spec) {
  const isDate = spec.x.length > 0 && spec.x.every((v) => typeof v === 'string' && dateRe.test(v));
  if (isDate) {
    return { isDate, xs: spec.x.map((d) => Date.parse(d + 'T00:00:00Z') / 1000) };
  }
  return { isDate, xs: spec.x.map((_, i) => i) };
}

function options(spec, width, isDate) {
  const fmt = formatter(spec);
  const kind = spec.kind || 'line';
  const n = spec.series.length;
  const series = [{ label: isDate ? 'Day' : '', value: isDate ? (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 10)) : (u, v) => spec.x[v] ?? '' }];
  spec.series.forEach((s, i) => {
    const color = s.color || palette[i % palette.length];
    const one = { label: s.label, stroke: color, width: 2, scale: s.scale || 'y', value: (u, v) => fmt(v) };
    if (kind === 'bars') {
      // Two series sit left and right of their tick; more share it.
      const align = n === 2 ? (i === 0 ? -1 : 1) : 0;
      one.paths = uPlot.paths.bars({ size: [n === 2 ? 0.4 : 0.7, 60], align });
      one.fill = color;
      one.points = { show: false };
    } else if (kind === 'stacked') {
      one.fill = color + '99';
      one.points = { show: false };
    }
    series.push(one);
  });
  const axes = [
    isDate
      ? { space: 60 }
      : { space: 30, values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? spec.x[t] ?? '' : '')), incrs: [1] },
    { values: (u, ticks) => ticks.map(fmt), size: 70 },
  ];
  const scales = { x: isDate ? { time: true } : { time: false, range: (u, min, max) => [min - 0.6, max + 0.6] } };
  if (spec.series.some((s) => s.scale === 'y2')) {
    const fmt2 = formatter({ format: spec.format2 || 'number', currency: spec.currency });
    axes.push({ scale: 'y2', side: 1, grid: { show: false }, values: (u, ticks) => ticks.map(fmt2), size: 60 });
    scales.y2 = { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] };
    spec.series.forEach((s, i) => {
      if (s.scale === 'y2') series[i + 1].value = (u, v) => fmt2(v);
    });
  }
  if (kind === 'bars' || kind === 'stacked') {
    scales.y = { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] };
  }
  return {
    width,
    height: spec.height || 220,
    series,
    axes,
    scales,
    legend: { show: true },
    cursor: { points: { show: kind === 'line' } },
  };
}

// stack turns series into running totals (drawn top-down so each area is
// visible), keeping the real values for the legend.
function stack(data) {
  const out = [data[0]];
  let acc = data[0].map(() => 0);
  for (let i = 1; i < data.length; i++) {
    acc = acc.map((a, j) => a + (data[i][j] ?? 0));
    out.push(acc.slice());
  }
  return out;
}

function draw(fig) {
  if (fig.dataset.chartDrawn) return;
  let spec;
  try {
    spec = JSON.parse(fig.dataset.chart);
  } catch {
    fig.dataset.chartDrawn = 'error';
    return;
  }
  if (!Array.isArray(spec.x) || !Array.isArray(spec.series) || spec.series.length === 0) {
    fig.dataset.chartDrawn = 'empty';
    return;
  }
  const { isDate, xs } = xValues(spec);
  let data = [xs, ...spec.series.map((s) => s.values)];
  const opts = options(spec, Math.max(240, fig.clientWidth || 600), isDate);
  if (spec.kind === 'stacked') {
    const real = data;
    data = stack(data);
    // Draw the largest running total first so smaller ones paint over it.
    const order = opts.series.slice(1).map((s, i) => ({ s, d: data[i + 1] })).reverse();
    opts.series = [opts.series[0], ...order.map((o) => o.s)];
    data = [data[0], ...order.map((o) => o.d)];
    const realRev = real.slice(1).reverse();
    opts.series.slice(1).forEach((s, i) => {
      const fmt = s.value;
      s.value = (u, v, si, idx) => (idx == null ? '' : fmt(u, realRev[i][idx], si, idx));
    });
  }
  const holder = document.createElement('div');
  holder.className = 'cw-Chart__plot';
  holder.setAttribute('aria-hidden', 'true');
  // Before the figure's own child that holds the table (a details, a
  // scrolling box or the table itself), after the caption.
  let ref = fig.querySelector('table');
  while (ref && ref.parentNode !== fig) ref = ref.parentNode;
  fig.insertBefore(holder, ref || null);
  const plot = new uPlot(opts, data, holder);
  fig.dataset.chartDrawn = 'true';
  // Follow the card's width (the admin is responsive: 390 px to wide).
  if (window.ResizeObserver) {
    let last = fig.clientWidth;
    new ResizeObserver(() => {
      const w = fig.clientWidth;
      if (w && Math.abs(w - last) > 4) {
        last = w;
        plot.setSize({ width: Math.max(240, w), height: opts.height });
      }
    }).observe(fig);
  }
}

export function drawAll(root = document) {
  root.querySelectorAll('figure[data-chart]').forEach(draw);
}

window.cartwheelCharts = { drawAll };
drawAll();
