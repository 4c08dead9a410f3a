(function () {
  'use strict';

  // ---- errors: shown on the page and sent to the console, so a test catches them ----
  function fail(where, e) {
    console.error('report: ' + where + ' failed: ' + (e && e.stack ? e.stack : e));
    const box = document.getElementById('script-errors');
    if (box) {
      box.hidden = false;
      const li = document.createElement('li');
      li.textContent = where + ': ' + (e && e.message ? e.message : String(e));
      box.querySelector('ul').appendChild(li);
    }
  }

  const D = JSON.parse(document.getElementById('report-data').textContent);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const COLOR = { ok: '#2e9d57', fail: '#e0457b', info: '#f0a020', pending: '#f0a020' };
  const FILL = { ok: '#bfe8cc', fail: '#fcc9d9', info: '#ffe2a8', pending: '#ffe2a8' };
  const TYPES = ['ok', 'fail', 'info', 'pending'];
  const KIND_COLORS = { partition: '#6baed6', kill: '#de2d26', pause: '#8c6bb1', latency: '#fd8d3c', loss: '#41ab5d' };
  const EXTRA_COLORS = ['#969696', '#e7298a', '#66a61e', '#a6761d', '#1b9e77', '#7570b3'];
  const NODE_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
  const ML = 64, MR = 16;
  const dpr = window.devicePixelRatio || 1;

  function kindColor(kind) {
    if (KIND_COLORS[kind]) return KIND_COLORS[kind];
    let h = 0;
    for (let i = 0; i < kind.length; i++) h = (h * 31 + kind.charCodeAt(i)) >>> 0;
    return EXTRA_COLORS[h % EXTRA_COLORS.length];
  }
  function nodeColor(name) {
    const i = D.nodes.indexOf(name);
    return NODE_COLORS[(i < 0 ? D.nodes.length : i) % NODE_COLORS.length];
  }

  // ---- DOM helpers: data only ever reaches the page through textContent / attributes ----
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function tip(node, text) { node.appendChild(sv('title', null, text)); return node; }
  function button(label, onClick, title) {
    const b = el('button', { type: 'button' }, label);
    if (title) b.title = title;
    b.addEventListener('click', onClick);
    return b;
  }
  function secs(ms) {
    const s = ms / 1000;
    return (Math.abs(s) >= 100 ? s.toFixed(1) : s.toFixed(3)) + ' s';
  }
  function dur(ms) {
    if (ms < 1) return (ms * 1000).toFixed(0) + ' µs';
    if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : 1) + ' ms';
    return (ms / 1000).toFixed(2) + ' s';
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function timeTicks(s, e, px) {
    const step = niceStep(Math.max((e - s) / Math.max(px / 90, 1), 1e-3));
    const out = [];
    for (let t = Math.ceil(s / step) * step; t <= e + 1e-9; t += step) out.push(t);
    return { ticks: out, step: step };
  }
  function tickLabel(t, step) {
    return (t / 1000).toFixed(step >= 1000 ? 0 : step >= 100 ? 1 : step >= 10 ? 2 : 3) + 's';
  }
  function section(id) { return document.getElementById(id); }

  // ---- client ops, decoded from the column-wise JSON ----
  const O = D.ops;
  const N = O.t.length;
  const opIndex = new Float64Array(N), opStart = new Float64Array(N), opDur = new Float64Array(N);
  (function () {
    let s = 0, i = 0;
    for (let k = 0; k < N; k++) {
      s += O.s[k]; i += O.i[k];
      opStart[k] = s / 1000; opIndex[k] = i;
      opDur[k] = O.d[k] < 0 ? -1 : O.d[k] / 1000;
    }
  })();
  const endMs = Math.max(D.endUs / 1000, 1);
  function opType(k) { return TYPES[O.t[k]]; }
  function opEnd(k) { return opDur[k] < 0 ? endMs : opStart[k] + opDur[k]; }
  function opLabel(k) { return D.fs[O.f[k]] + ' ' + D.strs[O.v[k]]; }
  function opDescription(k) {
    const lines = ['op ' + opIndex[k] + ' · process ' + D.procs[O.p[k]] + ' · ' + opType(k),
      opLabel(k)];
    if (O.k[k] > 0) lines.push('key ' + D.strs[O.k[k] - 1]);
    lines.push('invoked at ' + secs(opStart[k]) + (opDur[k] >= 0 ? ', took ' + dur(opDur[k]) : ', never completed'));
    if (O.e[k] > 0) lines.push('error: ' + D.strs[O.e[k] - 1]);
    return lines.join('\n');
  }
  function findOp(index) { // position of the op invoked at history index `index`, or -1
    let lo = 0, hi = N - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (opIndex[mid] === index) return mid;
      if (opIndex[mid] < index) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  // ---- one shared time view for the charts on the run's time axis ----
  const view = { s: 0, e: endMs };
  const viewListeners = [];
  function setView(s, e) {
    if (!(e - s > 0.01)) return;
    view.s = Math.max(0, s); view.e = Math.min(endMs, e);
    const label = document.getElementById('zoom-state');
    if (label) label.textContent = view.s === 0 && view.e === endMs ? 'whole run' : secs(view.s) + ' – ' + secs(view.e);
    for (const fn of viewListeners) { try { fn(); } catch (err) { fail('redraw', err); } }
  }
  function xOf(t, width) { return ML + (t - view.s) / (view.e - view.s) * (width - ML - MR); }
  function tOf(x, width) { return view.s + (x - ML) / (width - ML - MR) * (view.e - view.s); }

  // Drag across any time chart to zoom all of them; double-click to reset.
  function attachBrush(target, widthOf, heightOf, overlay) {
    let from = null;
    target.addEventListener('mousedown', ev => {
      const r = target.getBoundingClientRect();
      from = ev.clientX - r.left;
      overlay.hidden = false; overlay.style.left = from + 'px'; overlay.style.width = '0px';
      overlay.style.height = heightOf() + 'px';
      ev.preventDefault();
    });
    window.addEventListener('mousemove', ev => {
      if (from === null) return;
      const x = ev.clientX - target.getBoundingClientRect().left;
      overlay.style.left = Math.min(from, x) + 'px'; overlay.style.width = Math.abs(x - from) + 'px';
    });
    window.addEventListener('mouseup', ev => {
      if (from === null) return;
      const x = ev.clientX - target.getBoundingClientRect().left;
      overlay.hidden = true;
      const a = Math.min(from, x), b = Math.max(from, x);
      from = null;
      if (b - a > 4) setView(tOf(a, widthOf()), tOf(b, widthOf()));
    });
    target.addEventListener('dblclick', () => setView(0, endMs));
  }

  function canvasIn(parent, height) {
    const wrap = el('div', { class: 'canvas-wrap' });
    const c = el('canvas');
    const brush = el('div', { class: 'brush' }); brush.hidden = true;
    wrap.appendChild(c); wrap.appendChild(brush); parent.appendChild(wrap);
    const ctx = c.getContext('2d');
    return {
      wrap: wrap, canvas: c, ctx: ctx, brush: brush, height: height,
      width: () => Math.max(wrap.clientWidth, 300),
      resize() {
        const w = this.width();
        c.width = Math.round(w * dpr); c.height = Math.round(height * dpr);
        c.style.width = w + 'px'; c.style.height = height + 'px';
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, w, height);
        return w;
      },
    };
  }
  function drawTimeAxis(ctx, w, y) {
    const tt = timeTicks(view.s, view.e, w - ML - MR);
    ctx.fillStyle = '#555'; ctx.strokeStyle = '#ccc'; ctx.font = '11px sans-serif'; ctx.textAlign = 'center';
    ctx.beginPath(); ctx.moveTo(ML, y); ctx.lineTo(w - MR, y); ctx.stroke();
    for (const t of tt.ticks) {
      const x = xOf(t, w);
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, y + 4); ctx.stroke();
      ctx.fillText(tickLabel(t, tt.step), x, y + 15);
    }
  }
  function drawBands(ctx, w, top, bottom) {
    const kinds = bandKinds();
    kinds.forEach((kind, row) => {
      for (const b of D.nemesis.bands) {
        if (b.kind !== kind) continue;
        const x0 = Math.max(xOf(b.s / 1000, w), ML), x1 = Math.min(xOf(b.e / 1000, w), w - MR);
        if (x1 < ML || x0 > w - MR) continue;
        ctx.globalAlpha = 0.13; ctx.fillStyle = kindColor(kind);
        ctx.fillRect(x0, top, Math.max(x1 - x0, 1), bottom - top);
        ctx.globalAlpha = 0.85;
        ctx.fillRect(x0, top - 8 - row * 9, Math.max(x1 - x0, 2), 7);
        ctx.globalAlpha = 1;
      }
    });
  }
  // when each failure happened: a red dashed line on every chart of the run's time axis
  function drawMarks(ctx, w, top, bottom) {
    if (!D.marks.length) return;
    ctx.save();
    ctx.strokeStyle = '#c00'; ctx.fillStyle = '#c00'; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
    ctx.font = 'bold 11px sans-serif'; ctx.textAlign = 'left';
    let lastX = -Infinity;
    for (const m of D.marks) {
      const t = m.t / 1000;
      if (t < view.s || t > view.e) continue;
      const x = xOf(t, w);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      if (x - lastX > 60) { ctx.fillText('✗ failure', Math.min(x + 3, w - MR - 60), top + 10); lastX = x; }
    }
    ctx.restore();
  }
  function markLegend(legend) {
    if (!D.marks.length) return;
    const a = el('a', { href: D.marks[0].href, class: 'mark-key', title: D.marks.map(m => secs(m.t / 1000) + ' ' + m.label).join('\n') },
      '✗ ' + (D.marks.length === 1 ? 'failure' : D.marks.length + ' failures, the first') + ' at ' + secs(D.marks[0].t / 1000));
    legend.appendChild(a);
  }
  function bandKinds() {
    const kinds = [];
    for (const b of D.nemesis.bands) if (kinds.indexOf(b.kind) < 0) kinds.push(b.kind);
    return kinds;
  }

  // ---- latency and throughput ----
  const hidden = { types: {}, fs: {} };
  function shapePath(ctx, shape, x, y, r) {
    switch (shape % 5) {
      case 0: ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 2 * Math.PI); break;
      case 1: ctx.rect(x - r, y - r, 2 * r, 2 * r); break;
      case 2: ctx.moveTo(x, y - r - 1); ctx.lineTo(x + r + 1, y + r); ctx.lineTo(x - r - 1, y + r); ctx.closePath(); break;
      case 3: ctx.moveTo(x, y - r - 1); ctx.lineTo(x + r + 1, y); ctx.lineTo(x, y + r + 1); ctx.lineTo(x - r - 1, y); ctx.closePath(); break;
      default: ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r);
    }
  }
  function shapeIcon(shape, color) {
    const c = el('canvas', { width: 14 * dpr, height: 14 * dpr, class: 'icon' });
    c.style.width = '14px'; c.style.height = '14px';
    const ctx = c.getContext('2d'); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = color; ctx.strokeStyle = color; ctx.lineWidth = 1.5;
    ctx.beginPath(); shapePath(ctx, shape, 7, 7, 4); shape % 5 === 4 ? ctx.stroke() : ctx.fill();
    return c;
  }

  function renderPerf() {
    const root = section('perf-charts');
    if (!root) return;
    if (N === 0) { root.appendChild(el('p', { class: 'muted' }, 'No client ops to plot.')); return; }
    const legend = el('div', { class: 'legend' });
    root.appendChild(legend);
    const tools = el('div', { class: 'tools' });
    tools.appendChild(el('span', { class: 'muted' }, 'Drag across a chart to zoom, double-click to reset. Showing: '));
    tools.appendChild(el('span', { id: 'zoom-state' }, 'whole run'));
    tools.appendChild(button('Reset zoom', () => setView(0, endMs)));
    root.appendChild(tools);

    const typeCount = [0, 0, 0, 0];
    const fCount = D.fs.map(() => 0);
    let minLat = Infinity, maxLat = 0;
    for (let k = 0; k < N; k++) {
      typeCount[O.t[k]]++; fCount[O.f[k]]++;
      if (opDur[k] >= 0) { const l = Math.max(opDur[k], 0.001); if (l < minLat) minLat = l; if (l > maxLat) maxLat = l; }
    }
    if (!(maxLat > 0)) { minLat = 0.1; maxLat = 1; }
    const lo = Math.pow(10, Math.floor(Math.log10(minLat))), hi = Math.pow(10, Math.ceil(Math.log10(maxLat * 1.01)));

    const lat = canvasIn(root, 340);
    const thr = canvasIn(root, 190);
    const tipBox = el('div', { class: 'hover-tip' }); tipBox.hidden = true; lat.wrap.appendChild(tipBox);

    function addToggle(group, key, label, count, icon) {
      const l = el('label', { class: 'toggle' });
      const cb = el('input', { type: 'checkbox' }); cb.checked = true;
      cb.addEventListener('change', () => { hidden[group][key] = !cb.checked; drawAll(); });
      l.appendChild(cb); l.appendChild(icon); l.appendChild(el('span', null, label + ' (' + count + ')'));
      legend.appendChild(l);
    }
    TYPES.forEach((t, i) => {
      if (!typeCount[i]) return;
      const sw = el('span', { class: 'swatch' }); sw.style.background = COLOR[t];
      addToggle('types', i, t === 'pending' ? 'never completed' : t, typeCount[i], sw);
    });
    D.fs.forEach((f, i) => addToggle('fs', i, f, fCount[i], shapeIcon(i, '#444')));
    for (const kind of bandKinds()) {
      const s = el('span', { class: 'band-key' });
      const sw = el('span', { class: 'swatch' }); sw.style.background = kindColor(kind); sw.style.opacity = '0.6';
      s.appendChild(sw); s.appendChild(el('span', null, 'nemesis: ' + kind)); legend.appendChild(s);
    }
    markLegend(legend);
    const TOP = 14 + 9 * bandKinds().length;
    function yLat(l, h) {
      const f = (Math.log10(Math.max(l, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
      return h - 26 - f * (h - 26 - TOP);
    }
    let screen = null; // positions of drawn points, for hover

    function drawLatency() {
      const w = lat.resize(), h = lat.height, ctx = lat.ctx;
      drawBands(ctx, w, TOP, h - 26);
      ctx.font = '11px sans-serif'; ctx.fillStyle = '#555'; ctx.strokeStyle = '#eee'; ctx.textAlign = 'right';
      for (let v = lo; v <= hi * 1.0001; v *= 10) {
        for (const m of [1, 2, 5]) {
          const t = v * m; if (t > hi * 1.0001) break;
          const y = yLat(t, h);
          ctx.beginPath(); ctx.moveTo(ML, y); ctx.lineTo(w - MR, y); ctx.stroke();
          if (m === 1 || (Math.log10(hi / lo) <= 3)) ctx.fillText(dur(t), ML - 4, y + 4);
        }
      }
      ctx.save(); ctx.translate(12, (TOP + h) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = 'center';
      ctx.fillText('latency (log)', 0, 0); ctx.restore();
      drawTimeAxis(ctx, w, h - 26);
      // ok first, then fail and info on top; ok points that land on an already
      // drawn pixel are skipped, which keeps 100k points fast and loses nothing visible
      const seen = new Uint8Array(Math.ceil(w) * h);
      const xs = new Float32Array(N), ys = new Float32Array(N);
      xs.fill(-1);
      ctx.save(); ctx.beginPath(); ctx.rect(ML, 0, w - ML - MR, h); ctx.clip();
      for (const pass of [0, 1, 2]) {
        ctx.fillStyle = COLOR[TYPES[pass]]; ctx.strokeStyle = COLOR[TYPES[pass]]; ctx.lineWidth = 1.2;
        ctx.globalAlpha = pass === 0 ? 0.55 : 0.9;
        for (let k = 0; k < N; k++) {
          if (O.t[k] !== pass || opDur[k] < 0 || hidden.types[pass] || hidden.fs[O.f[k]]) continue;
          const t = opStart[k];
          if (t < view.s || t > view.e) continue;
          const x = xOf(t, w), y = yLat(opDur[k], h);
          xs[k] = x; ys[k] = y;
          if (pass === 0) {
            const cell = (Math.round(y) * Math.ceil(w) + Math.round(x)) | 0;
            if (seen[cell]) continue;
            seen[cell] = 1;
          }
          const shape = O.f[k];
          ctx.beginPath(); shapePath(ctx, shape, x, y, pass === 0 ? 2 : 3);
          shape % 5 === 4 ? ctx.stroke() : ctx.fill();
        }
      }
      ctx.restore();
      ctx.globalAlpha = 1;
      drawMarks(ctx, w, TOP, h - 26);
      screen = { xs: xs, ys: ys, w: w };
    }

    function drawThroughput() {
      const w = thr.resize(), h = thr.height, ctx = thr.ctx;
      const width = w - ML - MR;
      const bucket = niceStep(Math.max((view.e - view.s) / Math.min(width / 4, 200), 1));
      const nb = Math.ceil((view.e - view.s) / bucket) + 1;
      const counts = [new Float64Array(nb), new Float64Array(nb), new Float64Array(nb)];
      for (let k = 0; k < N; k++) {
        const ty = O.t[k] === 3 ? 2 : O.t[k];
        if (hidden.types[O.t[k]] || hidden.fs[O.f[k]]) continue;
        const t = opDur[k] >= 0 ? opStart[k] + opDur[k] : opStart[k];
        if (t < view.s || t > view.e) continue;
        counts[ty][Math.floor((t - view.s) / bucket)]++;
      }
      let max = 1;
      for (const c of counts) for (let i = 0; i < nb; i++) max = Math.max(max, c[i] * 1000 / bucket);
      const top = 10, bottom = h - 26;
      drawBands(ctx, w, top + 8 + 9 * bandKinds().length, bottom);
      ctx.font = '11px sans-serif'; ctx.textAlign = 'right'; ctx.strokeStyle = '#eee'; ctx.fillStyle = '#555';
      const ystep = niceStep(max / 4);
      for (let v = 0; v <= max; v += ystep) {
        const y = bottom - v / max * (bottom - top);
        ctx.beginPath(); ctx.moveTo(ML, y); ctx.lineTo(w - MR, y); ctx.stroke();
        ctx.fillText(String(Math.round(v)), ML - 4, y + 4);
      }
      ctx.save(); ctx.translate(12, (top + bottom) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = 'center';
      ctx.fillText('ops/s', 0, 0); ctx.restore();
      drawTimeAxis(ctx, w, bottom);
      ctx.lineWidth = 1.5;
      [0, 1, 2].forEach(ty => {
        if (!counts[ty].some(v => v > 0)) return;
        ctx.strokeStyle = COLOR[TYPES[ty]]; ctx.beginPath();
        for (let i = 0; i < nb; i++) {
          const x = xOf(view.s + (i + 0.5) * bucket, w);
          const y = bottom - counts[ty][i] * 1000 / bucket / max * (bottom - top);
          if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        }
        ctx.stroke();
      });
      drawMarks(ctx, w, top, bottom);
      ctx.fillStyle = '#555'; ctx.textAlign = 'left';
      ctx.fillText('completions per second, ' + dur(bucket) + ' buckets', ML + 4, top + 2);
    }

    function nearest(ev) {
      if (!screen) return -1;
      const r = lat.canvas.getBoundingClientRect();
      const mx = ev.clientX - r.left, my = ev.clientY - r.top;
      let best = -1, bestD = 49;
      for (let k = 0; k < N; k++) {
        if (screen.xs[k] < 0) continue;
        const dx = screen.xs[k] - mx, dy = screen.ys[k] - my, d2 = dx * dx + dy * dy;
        if (d2 < bestD || (d2 === bestD && O.t[k] !== 0)) { bestD = d2; best = k; }
      }
      return best;
    }
    let pendingMove = null;
    lat.canvas.addEventListener('mousemove', ev => {
      if (pendingMove) return;
      pendingMove = requestAnimationFrame(() => {
        pendingMove = null;
        const k = nearest(ev);
        if (k < 0) { tipBox.hidden = true; lat.canvas.style.cursor = 'crosshair'; return; }
        tipBox.textContent = opDescription(k) + '\n(click: show in the timeline)';
        tipBox.hidden = false;
        tipBox.style.left = Math.min(screen.xs[k] + 10, screen.w - 260) + 'px';
        tipBox.style.top = (screen.ys[k] + 10) + 'px';
        lat.canvas.style.cursor = 'pointer';
      });
    });
    lat.canvas.addEventListener('mouseleave', () => { tipBox.hidden = true; });
    lat.canvas.addEventListener('click', ev => { const k = nearest(ev); if (k >= 0) timelineGoTo(k, true); });
    attachBrush(lat.canvas, () => lat.width(), () => lat.height, lat.brush);
    attachBrush(thr.canvas, () => thr.width(), () => thr.height, thr.brush);

    function drawAll() { drawLatency(); drawThroughput(); }
    viewListeners.push(drawAll);
    window.addEventListener('resize', drawAll);
    drawAll();
  }

  // ---- timeline: one column per process, paged so 100k ops never reach the DOM at once ----
  const PAGE = 300;
  let timelinePage = -1, timelineMark = -1, scaleMode = 'order';
  let renderTimelinePage = null;
  function timelineGoTo(k, scroll) {
    if (!renderTimelinePage || k < 0) return;
    timelineMark = k;
    renderTimelinePage(Math.floor(k / PAGE));
    const box = document.querySelector('#timeline-body [data-k="' + k + '"]');
    if (box && scroll) box.scrollIntoView({ block: 'center' });
  }
  function renderTimeline() {
    const root = section('timeline-body');
    if (!root) return;
    if (N === 0) { root.appendChild(el('p', { class: 'muted' }, 'No client ops.')); return; }
    const pages = Math.ceil(N / PAGE);
    const bar = el('div', { class: 'tools' });
    const status = el('span', { class: 'page-status' });
    const problems = [];
    for (let k = 0; k < N; k++) if (O.t[k] !== 0) problems.push(k);
    const pageInput = el('input', { type: 'number', min: 1, max: pages, value: 1, 'aria-label': 'page' });
    const timeInput = el('input', { type: 'number', min: 0, step: 'any', placeholder: 'time, s', 'aria-label': 'time in seconds' });
    bar.appendChild(button('« first', () => show(0)));
    bar.appendChild(button('‹ prev', () => show(timelinePage - 1)));
    bar.appendChild(el('span', null, 'page '));
    bar.appendChild(pageInput);
    bar.appendChild(el('span', null, ' of ' + pages));
    bar.appendChild(button('next ›', () => show(timelinePage + 1)));
    bar.appendChild(button('last »', () => show(pages - 1)));
    bar.appendChild(el('span', { class: 'sep' }));
    bar.appendChild(button('◂ prev fail/info', () => jumpProblem(-1), 'the previous op that did not complete ok'));
    bar.appendChild(button('next fail/info ▸', () => jumpProblem(1), 'the next op that did not complete ok'));
    bar.appendChild(el('span', { class: 'sep' }));
    bar.appendChild(timeInput);
    bar.appendChild(button('go to time', () => {
      const t = parseFloat(timeInput.value) * 1000;
      if (!isNaN(t)) timelineGoTo(firstAtOrAfter(t), true);
    }));
    bar.appendChild(el('span', { class: 'sep' }));
    const scaleSelect = el('select', { 'aria-label': 'vertical scale' });
    scaleSelect.appendChild(el('option', { value: 'order' }, 'scale: event order'));
    scaleSelect.appendChild(el('option', { value: 'time' }, 'scale: real time'));
    scaleSelect.addEventListener('change', () => { scaleMode = scaleSelect.value; renderTimelinePage(timelinePage); });
    bar.appendChild(scaleSelect);
    bar.appendChild(status);
    root.appendChild(bar);
    const canvasBox = el('div', { class: 'timeline-scroll' });
    root.appendChild(canvasBox);
    pageInput.addEventListener('change', () => show(parseInt(pageInput.value, 10) - 1));

    function firstAtOrAfter(t) {
      let lo = 0, hi = N - 1;
      while (lo < hi) { const m = (lo + hi) >> 1; if (opStart[m] < t) lo = m + 1; else hi = m; }
      return lo;
    }
    function jumpProblem(dir) {
      if (!problems.length) { status.textContent = ' every op completed ok'; return; }
      const from = timelineMark >= 0 && Math.floor(timelineMark / PAGE) === timelinePage ? timelineMark : (dir > 0 ? timelinePage * PAGE - 1 : (timelinePage + 1) * PAGE);
      let target = -1;
      if (dir > 0) { for (const k of problems) if (k > from) { target = k; break; } }
      else { for (let i = problems.length - 1; i >= 0; i--) if (problems[i] < from) { target = problems[i]; break; } }
      if (target < 0) { status.textContent = dir > 0 ? ' no later fail/info op' : ' no earlier fail/info op'; return; }
      timelineGoTo(target, true);
    }
    function show(p) {
      p = Math.max(0, Math.min(pages - 1, isNaN(p) ? 0 : p));
      if (p !== timelinePage) timelineMark = -1;
      renderTimelinePage(p);
    }

    renderTimelinePage = function (p) {
      timelinePage = p;
      pageInput.value = String(p + 1);
      const k0 = p * PAGE, k1 = Math.min(N, k0 + PAGE);
      const procIds = [];
      const seenProc = {};
      let t0 = Infinity, t1 = -Infinity;
      for (let k = k0; k < k1; k++) {
        if (!seenProc[O.p[k]]) { seenProc[O.p[k]] = 1; procIds.push(O.p[k]); }
        t0 = Math.min(t0, opStart[k]);
        t1 = Math.max(t1, opDur[k] >= 0 ? opStart[k] + opDur[k] : opStart[k]);
      }
      const pageEnd = t1 + Math.max((t1 - t0) * 0.02, 1);
      procIds.sort((a, b) => {
        const x = Number(D.procs[a]), y = Number(D.procs[b]);
        return (isNaN(x) || isNaN(y)) ? D.procs[a].localeCompare(D.procs[b]) : x - y;
      });
      const col = {};
      procIds.forEach((pid, i) => { col[pid] = i; });
      const gutter = 70, colW = Math.max(70, Math.min(150, (canvasBox.clientWidth - gutter - 10) / Math.max(procIds.length, 1)));
      // Two scales. Event order (default): every call and return gets its own slot, so
      // every op is tall enough to read and the real-time order (what linearizability
      // depends on) is exact. Real time: linear, like Jepsen's timeline.
      const times = [];
      for (let k = k0; k < k1; k++) { times.push(opStart[k]); times.push(opDur[k] >= 0 ? opStart[k] + opDur[k] : pageEnd); }
      times.sort((a, b) => a - b);
      const STEP = 8, TOP = 24;
      let y, H;
      if (scaleMode === 'order') {
        H = times.length * STEP;
        y = t => { // slot of the first event at or after t
          let lo = 0, hi = times.length;
          while (lo < hi) { const m = (lo + hi) >> 1; if (times[m] < t) lo = m + 1; else hi = m; }
          return TOP + lo * STEP;
        };
      } else {
        H = Math.max(400, Math.min(6000, (k1 - k0) * 12));
        const scale = H / Math.max(pageEnd - t0, 1e-3);
        y = t => TOP + (t - t0) * scale;
      }
      const body = el('div', { class: 'timeline' });
      body.style.height = (H + TOP + 16) + 'px';
      body.style.width = (gutter + colW * procIds.length + 10) + 'px';
      procIds.forEach((pid, i) => {
        const h = el('div', { class: 'tl-head' }, 'p' + D.procs[pid]);
        h.style.left = (gutter + i * colW) + 'px'; h.style.width = (colW - 4) + 'px';
        body.appendChild(h);
      });
      const tickTimes = [];
      if (scaleMode === 'order') {
        for (let r = 0; r < times.length; r += 20) tickTimes.push(times[r]);
      } else {
        for (const t of timeTicks(t0, pageEnd, H / 1.5).ticks) tickTimes.push(t);
      }
      for (const t of tickTimes) {
        const g = el('div', { class: 'tl-tick' }, secs(t));
        g.style.top = y(t) + 'px'; g.style.width = (gutter + colW * procIds.length) + 'px';
        body.appendChild(g);
      }
      for (const b of D.nemesis.bands) {
        const s = Math.max(b.s / 1000, t0), e = Math.min(b.e / 1000, pageEnd);
        if (e <= s) continue;
        const band = el('div', { class: 'tl-band', title: 'nemesis: ' + b.label + (b.err ? ' (error: ' + b.err + ')' : '') });
        band.style.top = y(s) + 'px'; band.style.height = Math.max(y(e) - y(s), 2) + 'px';
        band.style.left = gutter + 'px'; band.style.width = (colW * procIds.length) + 'px';
        band.style.background = kindColor(b.kind);
        body.appendChild(band);
        const lab = el('div', { class: 'tl-band-label' }, b.kind);
        lab.style.top = y(s) + 'px'; lab.style.color = kindColor(b.kind);
        body.appendChild(lab);
      }
      for (let k = k0; k < k1; k++) {
        const type = opType(k);
        const top = y(opStart[k]);
        const bottom = y(opDur[k] >= 0 ? opStart[k] + opDur[k] : pageEnd) + (scaleMode === 'order' ? STEP - 2 : 0);
        const height = Math.max(bottom - top, 3);
        const box = el('div', { class: 'op ' + type, 'data-k': k, title: opDescription(k) });
        box.style.top = top + 'px'; box.style.height = height + 'px';
        box.style.left = (gutter + col[O.p[k]] * colW) + 'px'; box.style.width = (colW - 6) + 'px';
        if (height >= 12) box.textContent = opLabel(k);
        if (k === timelineMark) box.classList.add('marked');
        body.appendChild(box);
      }
      canvasBox.replaceChildren(body);
      status.textContent = ' ops ' + (k0 + 1) + '–' + k1 + ' of ' + N + ', ' + secs(t0) + ' – ' + secs(t1);
    };
    renderTimelinePage(0);
  }

  // ---- linearizability: the diagram opens on the failing op; the window and the reproducer on their own ----
  const linearFocus = {}; // failure box id -> brings its failing op into view
  function renderLinear() {
    const root = section('linear-body');
    if (!root) return;
    D.linear.forEach((checker, c) => {
      if (checker.lostLocks) root.appendChild(lostLocksLink(checker.lostLocks));
      checker.failures.forEach((failure, n) => {
        try {
          const f = linearFailure(checker, failure, n, c);
          root.appendChild(f.box);
          linearFocus[f.box.id] = f.focus;
          f.focus();
        } catch (e) { fail('linearizability failure ' + (n + 1), e); }
      });
      if (checker.total > checker.failures.length)
        root.appendChild(el('p', { class: 'muted' }, (checker.total - checker.failures.length) + ' more failures are in results.json.'));
      if (checker.unknown.length) {
        const d = el('details'); d.appendChild(el('summary', null, checker.unknown.length + ' key(s) could not be checked'));
        const ul = el('ul');
        for (const u of checker.unknown) ul.appendChild(el('li', null, 'key ' + u.key + ': ' + u.reason));
        d.appendChild(ul); root.appendChild(d);
      }
    });
  }
  function lostLocksLink(n) {
    const p = el('p', { class: 'lost-note' });
    p.appendChild(el('span', null, 'This checker reports ' + n + ' lock' + (n === 1 ? '' : 's') + ' lost while held: '));
    p.appendChild(el('a', { href: '#lost-locks' }, 'the finding'));
    p.appendChild(el('span', null, ' lists each once, for every checker that saw it.'));
    return p;
  }

  const F_SHORT = { read: 'r', write: 'w', cas: 'cas', acquire: 'acq', release: 'rel', add: 'add', put: 'put', delete: 'del' };
  const CHAR_W = 6.7; // px per character of .bar-label
  function opText(o) { return o.f + ' ' + o.v + (o.t === 'info' ? ' ?' : o.t === 'fail' ? ' ✗' : ''); }
  function fitLabel(o, room) {
    const mark = o.t === 'info' ? ' ?' : o.t === 'fail' ? ' ✗' : '';
    for (const text of [opText(o), (F_SHORT[o.f] || o.f.slice(0, 3)) + ' ' + o.v + mark, o.v + mark])
      if (text.length * CHAR_W <= room) return text;
    const n = Math.floor(room / CHAR_W);
    return n >= 3 ? String(o.v).slice(0, n - 1) + '…' : '';
  }
  function opTip(o, extra) {
    return 'op ' + o.i + ' · process ' + o.p + ' · ' + o.t + '\n' + o.f + ' ' + o.v +
      '\ninvoked ' + secs(o.s / 1000) + (o.open ? ', outcome unknown' : ', returned ' + secs(o.c / 1000) + ' (took ' + dur((o.c - o.s) / 1000) + ')') +
      (o.err ? '\nerror: ' + o.err : '') + (extra || '');
  }
  function leaderSegments() { // µs
    const obs = D.leaders.obs, segs = [];
    for (let i = 0; i < obs.length; i++) {
      const s = obs[i][0], e = i + 1 < obs.length ? obs[i + 1][0] : D.endUs;
      if (segs.length && segs[segs.length - 1].leader === obs[i][1]) { segs[segs.length - 1].e = e; continue; }
      segs.push({ leader: obs[i][1], s: s, e: e });
    }
    return segs;
  }

  // One history diagram, like Porcupine: a row per process, each op a bar from its call to its return,
  // x the rank of each call and return event (readable whatever the latencies); above the processes,
  // rows for the faults and the leader on the same axis. The lane labels stay while the bars scroll.
  // cfg: order (op indexes), states (after each), base (steps before order[0]), bad {index: why},
  // rowH, minStep, width (to fit), maxHeight, id (unique).
  function historyDiagram(ops, cfg) {
    const orderPos = {};
    cfg.order.forEach((i, pos) => { orderPos[i] = pos; });
    const events = [];
    ops.forEach((o, j) => { events.push([o.s, 0, j]); events.push([o.open ? Infinity : o.c, 1, j]); });
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    const rankS = new Array(ops.length), rankC = new Array(ops.length);
    events.forEach((e, r) => { if (e[1] === 0) rankS[e[2]] = r; else rankC[e[2]] = r; });
    const procs = [];
    for (const o of ops) if (procs.indexOf(o.p) < 0) procs.push(o.p);
    procs.sort((a, b) => (isNaN(+a) || isNaN(+b)) ? String(a).localeCompare(String(b)) : a - b);
    const rowH = cfg.rowH, AH = 15, top = 16, labelW = 58;
    const segs = leaderSegments();
    const rows = [];
    if (D.nemesis.bands.length) rows.push('faults');
    if (segs.length) rows.push('leader');
    const lanesTop = top + rows.length * AH + (rows.length ? 4 : 0);
    const step = Math.max(cfg.minStep, Math.min(80, ((cfg.width || 0) - labelW - 30) / (events.length + 1)));
    const W = Math.ceil((events.length + 1) * step + 24), H = lanesTop + procs.length * rowH + 4;
    const X = r => r * step + step / 2;
    const finite = events.map(e => e[0]).filter(t => t !== Infinity);
    function xAt(t) { // the boundary before the first event at or after t (µs)
      let lo = 0, hi = finite.length;
      while (lo < hi) { const m = (lo + hi) >> 1; if (finite[m] < t) lo = m + 1; else hi = m; }
      return lo >= finite.length && t > finite[finite.length - 1] ? W - 6 : lo * step;
    }
    const labels = sv('svg', { width: labelW, height: H, class: 'lin-labels' });
    const svg = sv('svg', { width: W, height: H, class: 'lin-svg' });
    labels.appendChild(sv('rect', { x: 0, y: 0, width: labelW, height: H, fill: '#fff' }));
    rows.forEach((r, k) => labels.appendChild(sv('text', { x: 4, y: top + k * AH + 11, class: 'ann-label' }, r)));
    procs.forEach((p, i) => {
      const yy = lanesTop + i * rowH;
      labels.appendChild(sv('text', { x: 4, y: yy + rowH / 2 + 4, class: 'lane-label' }, 'p' + p));
      svg.appendChild(sv('line', { x1: 0, x2: W, y1: yy + rowH - 2, y2: yy + rowH - 2, class: 'lane' }));
    });
    // time ticks: the real time of every few events
    const every = Math.max(1, Math.ceil(110 / step));
    for (let r = 0; r < events.length; r += every) {
      if (events[r][0] === Infinity) break;
      svg.appendChild(sv('text', { x: X(r), y: 11, class: 'tick', 'text-anchor': 'start' }, secs(events[r][0] / 1000)));
      svg.appendChild(sv('line', { x1: X(r), x2: X(r), y1: 13, y2: H, class: 'tick-line' }));
    }
    // annotation rows: fault periods and the leader, on the same axis
    const t0 = finite.length ? finite[0] : 0, t1 = finite.length ? finite[finite.length - 1] : 0;
    rows.forEach((r, k) => {
      const y = top + k * AH + 1;
      if (r === 'faults') {
        for (const b of D.nemesis.bands) {
          if (b.e < t0 || b.s > t1) continue;
          const x0 = xAt(b.s), x1 = Math.max(xAt(b.e), x0 + 3);
          const g = sv('g', { class: 'ann-fault' });
          g.appendChild(sv('rect', { x: x0, y: y, width: x1 - x0, height: AH - 3, fill: kindColor(b.kind), rx: 2 }));
          if (x1 - x0 > b.kind.length * 6.5 + 6) g.appendChild(sv('text', { x: x0 + 3, y: y + 10, class: 'seg-label' }, b.kind));
          tip(g, 'nemesis: ' + b.label + ' from ' + secs(b.s / 1000) + ' to ' + (b.open ? 'the end (never healed)' : secs(b.e / 1000)) + (b.err ? '\nerror: ' + b.err : ''));
          svg.appendChild(g);
        }
      } else {
        segs.forEach((g, j) => {
          if (g.e < t0 || g.s > t1) return;
          const x0 = xAt(g.s), x1 = Math.max(xAt(g.e), x0 + 2);
          const grp = sv('g', { class: 'ann-leader' });
          grp.appendChild(sv('rect', { x: x0, y: y, width: x1 - x0, height: AH - 3, fill: g.leader === null ? '#ddd' : nodeColor(g.leader), rx: 2 }));
          const name = g.leader === null ? 'none' : g.leader;
          if (x1 - x0 > name.length * 6.5 + 6) grp.appendChild(sv('text', { x: x0 + 3, y: y + 10, class: 'seg-label' }, name));
          tip(grp, (g.leader === null ? 'no leader' : 'leader ' + g.leader) + ' from ' + secs(g.s / 1000) + ' to ' + secs(g.e / 1000) +
            (j > 0 ? '\nchanged from ' + (segs[j - 1].leader ?? 'none') : ''));
          svg.appendChild(grp);
          if (j > 0 && g.s >= t0) svg.appendChild(sv('path', { d: 'M' + (x0 - 4) + ',' + (y - 1) + 'L' + (x0 + 4) + ',' + (y - 1) + 'L' + x0 + ',' + (y + 5) + 'Z', class: 'change-mark' }));
        });
      }
    });
    const frame = el('div', { class: 'lin-frame' });
    const scroller = el('div', { class: 'lin-scroll' });
    if (cfg.maxHeight) scroller.style.maxHeight = cfg.maxHeight;
    const inner = el('div', { class: 'lin-inner' });
    inner.style.width = (labelW + W) + 'px';
    inner.appendChild(labels); inner.appendChild(svg); scroller.appendChild(inner); frame.appendChild(scroller);
    const tipBox = el('div', { class: 'hover-tip lin-tip' }); tipBox.hidden = true; frame.appendChild(tipBox);
    const bars = {};
    ops.forEach((o, j) => {
      const row = procs.indexOf(o.p), yy = lanesTop + row * rowH + 3, h = rowH - 8;
      const x0 = X(rankS[j]) - step / 2 + 2;
      const x1 = Math.max(o.open ? W - 6 : X(rankC[j]) + step / 2 - 2, x0 + 8);
      const isBad = o.i in cfg.bad;
      const g = sv('g', { class: 'lin-op' + (isBad ? ' bad' : '') + (o.i in orderPos ? ' in-order' : ' unplaced'), 'data-i': o.i });
      const fill = o.open ? 'url(#' + cfg.id + '-fade)' : FILL[o.t];
      g.appendChild(sv('rect', { x: x0, y: yy, width: x1 - x0, height: h, rx: 3, fill: fill, stroke: COLOR[o.t] }));
      const text = fitLabel(o, x1 - x0 - 8);
      if (text) g.appendChild(sv('text', { x: x0 + 4, y: yy + h - 4, class: 'bar-label' }, text));
      const pos = orderPos[o.i];
      const full = opTip(o, (isBad ? '\ncannot be placed: ' + cfg.bad[o.i] : '') +
        (pos !== undefined ? '\nstep ' + (cfg.base + pos + 1) + ' of the longest linearizable order; state after: ' + (cfg.states[pos] ?? '?') : ''));
      tip(g, full);
      g.addEventListener('mouseenter', () => {
        tipBox.textContent = full; tipBox.hidden = false;
        const fr = frame.getBoundingClientRect(), br = g.getBoundingClientRect();
        tipBox.style.left = Math.max(0, Math.min(br.left - fr.left, fr.width - 320)) + 'px';
        tipBox.style.top = (br.bottom - fr.top + 4) + 'px';
      });
      g.addEventListener('mouseleave', () => { tipBox.hidden = true; });
      svg.appendChild(g);
      bars[o.i] = { g: g, x0: x0, x1: x1, y: yy, h: h };
    });
    const defs = sv('defs');
    const grad = sv('linearGradient', { id: cfg.id + '-fade', x1: 0, x2: 1 });
    grad.appendChild(sv('stop', { offset: '0.6', 'stop-color': FILL.info, 'stop-opacity': 1 }));
    grad.appendChild(sv('stop', { offset: '1', 'stop-color': FILL.info, 'stop-opacity': 0.1 }));
    defs.appendChild(grad); svg.insertBefore(defs, svg.firstChild);
    // linearization points: monotone along the order, each inside its op's bar
    const pts = [];
    let last = -Infinity;
    for (const i of cfg.order) {
      const b = bars[i];
      if (!b) continue;
      const x = Math.min(Math.max(last + 6, b.x0 + 9), b.x1 - 9);
      last = x;
      pts.push({ i: i, x: x, y: b.y - 2, pos: orderPos[i] });
    }
    const path = sv('polyline', { points: pts.map(p => p.x + ',' + p.y).join(' '), class: 'lin-path' });
    svg.appendChild(path);
    const dots = pts.map(p => {
      const g = sv('g', { class: 'lin-point' });
      g.appendChild(sv('circle', { cx: p.x, cy: p.y, r: 6.5 }));
      const n = cfg.base + p.pos + 1;
      g.appendChild(sv('text', { x: p.x, y: p.y + 3.5, 'text-anchor': 'middle', class: n > 99 ? 'long' : '' }, n > 999 ? '·' : n));
      const st = cfg.states[p.pos];
      if (st !== undefined) g.appendChild(sv('text', { x: p.x + 9, y: p.y - 3, class: 'state-label' }, st.length > 12 ? st.slice(0, 11) + '…' : st));
      tip(g, 'step ' + n + ': op ' + p.i + '\nstate after: ' + (st ?? '?'));
      svg.appendChild(g);
      return g;
    });
    let badX = null;
    for (const i in cfg.bad) {
      const bb = bars[i];
      if (!bb) continue;
      const x = Math.min(Math.max(last + 10, bb.x0 + 9), bb.x1 - 9);
      badX = badX === null ? x : badX;
      svg.insertBefore(sv('line', { x1: x, x2: x, y1: lanesTop - 2, y2: H, class: 'bad-line' }), svg.firstChild.nextSibling);
      const m = sv('g', { class: 'bad-mark' });
      m.appendChild(sv('text', { x: Math.min(x + 10, W - 110), y: bb.y - 3, class: 'bad-label' }, 'cannot be placed'));
      m.appendChild(sv('path', { d: 'M' + (x - 6) + ',' + (bb.y - 6) + 'L' + (x + 6) + ',' + (bb.y + 6) + 'M' + (x + 6) + ',' + (bb.y - 6) + 'L' + (x - 6) + ',' + (bb.y + 6) }));
      tip(m, 'cannot be placed: ' + cfg.bad[i]);
      svg.appendChild(m);
    }
    // Bring op `i` (default: the failing one) into the middle of the visible part.
    function focus(i) {
      const target = i !== undefined ? i : Object.keys(cfg.bad)[0];
      const b = bars[target];
      if (!b) return;
      const visible = scroller.clientWidth - labelW;
      const x = b.x0 + Math.min((b.x1 - b.x0) / 2, visible / 3);
      scroller.scrollLeft = Math.max(0, x - visible / 2);
      scroller.scrollTop = Math.max(0, b.y + b.h / 2 - scroller.clientHeight / 2);
    }
    return { frame: frame, bars: bars, pts: pts, path: path, dots: dots, focus: focus, step: step };
  }

  function smallDiagram(cls, title, caption, ops, cfg) {
    const box = el('div', { class: 'lin-small ' + cls });
    box.appendChild(el('h4', null, title));
    box.appendChild(el('p', { class: 'caption' }, caption));
    box.appendChild(historyDiagram(ops, cfg).frame);
    return box;
  }

  function linearFailure(checker, failure, n, c) {
    const box = el('div', { class: 'lin-failure', id: 'lin-failure-' + c + '-' + n });
    const bad = {};
    for (const b of failure.bad) bad[b.i] = b.why;
    const head = el('h3', null, (D.linear.length > 1 ? checker.name + ' · ' : '') + 'Failure ' + (n + 1) +
      (failure.key !== null ? ' · key ' + failure.key : '') + (failure.bt !== null ? ' · at ' + secs(failure.bt / 1000) : ''));
    box.appendChild(head);
    for (const b of failure.bad) box.appendChild(el('p', { class: 'why' }, 'Op ' + b.i + ' cannot be placed: ' + b.why));
    const width = section('linear-body').clientWidth || 1200;
    const id = 'lin-' + c + '-' + n;
    const main = historyDiagram(failure.ops, { order: failure.order, states: failure.states, base: failure.skipped, bad: bad,
      rowH: 30, minStep: 34, width: width, maxHeight: '44vh', id: id });
    const tools = el('div', { class: 'tools' });
    tools.appendChild(button('◎ the failing op', () => main.focus(), 'scroll the diagram back to the op that cannot be placed'));
    for (const b of failure.bad) {
      tools.appendChild(button('op ' + b.i + ' in the timeline', () => {
        const k = findOp(b.i);
        if (k >= 0) { timelineGoTo(k, true); } else { fail('timeline', new Error('op ' + b.i + ' is not among the embedded ops')); }
      }));
    }
    tools.appendChild(el('span', { class: 'muted' }, failure.ops.length + ' ops of this key' +
      (failure.skipped ? ' (the last ' + failure.order.length + ' steps of ' + (failure.skipped + failure.order.length) + ' in the order)' : '') +
      '; scroll sideways for earlier ones, hover an op for all of it.'));
    box.appendChild(tools);
    box.appendChild(main.frame);

    // the failing window and the minimal reproducer, each on its own
    const pair = el('div', { class: 'lin-small-row' });
    const half = Math.max((width - 12) / 2 - 40, 340);
    const inWindow = {};
    for (const i of failure.win) inWindow[i] = true;
    const winOps = failure.ops.filter(o => inWindow[o.i]);
    if (winOps.length) {
      const order = [], states = [];
      let first = -1;
      failure.order.forEach((i, pos) => { if (inWindow[i]) { if (first < 0) first = pos; order.push(i); states.push(failure.states[pos]); } });
      const before = failure.wstart !== null ? failure.wstart :
        first > 0 ? failure.states[first - 1] : first === 0 && failure.skipped ? failure.before : null;
      const caption = winOps.length + ' ops around the failure, from ' + secs(failure.ws / 1000) + ' to ' + secs(failure.we / 1000) +
        '; the model starts from ' + (before === null || before === undefined ? 'the initial state' : 'state ' + before) +
        (failure.pending ? ', and ' + failure.pending + ' earlier info op(s) may take effect anywhere in it' : '') + '.';
      pair.appendChild(smallDiagram('window', 'The failing window', caption, winOps,
        { order: order, states: states, base: failure.skipped + Math.max(first, 0), bad: bad, rowH: 26, minStep: 22, width: half, id: id + '-w' }));
    }
    const m = failure.min;
    if (m && m.ops.length) {
      const mbad = {};
      for (const i of m.bad) mbad[i] = m.why || bad[i] || 'it cannot be placed';
      const how = m.complete ? '1-minimal: dropping any one op makes it linearizable or changes the failure' : 'the smallest found in the time given';
      const caption = m.size + (m.orig ? ' of ' + m.orig : '') + ' ops, still not linearizable (' + how + (m.secs !== null ? '; shrunk in ' + m.secs.toFixed(2) + ' s' : '') +
        '). It starts from ' + (m.start === null ? 'the initial state' : 'state ' + m.start) +
        (m.order.length ? '; the dots are its longest linearizable order.' : '; no order of these ops explains what they returned.');
      const small = smallDiagram('minimal', 'Minimal reproducer', caption, m.ops,
        { order: m.order, states: m.states, base: 0, bad: mbad, rowH: 26, minStep: 22, width: half, id: id + '-m' });
      if (m.jsonl.length) {
        const d = el('details');
        d.appendChild(el('summary', null, 'its history (' + m.jsonl.length + ' lines of JSONL; `etcd-harness check` re-checks it as not linearizable)'));
        d.appendChild(el('pre', { class: 'excerpt' }, m.jsonl.join('\n')));
        small.appendChild(d);
      }
      pair.appendChild(small);
    } else {
      pair.appendChild(el('div', { class: 'lin-small minimal none' }, 'No minimal reproducer: shrinking found none in its time, or the checker does not shrink.'));
    }
    box.appendChild(pair);

    // stepper through the longest linearizable order, with the model state after each step
    const order = failure.order, base = failure.skipped;
    const stepper = el('div', { class: 'stepper' });
    const slider = el('input', { type: 'range', min: 0, max: order.length, value: order.length, 'aria-label': 'step' });
    const stateOut = el('div', { class: 'state' });
    stepper.appendChild(el('span', null, 'Step through the longest linearizable order: '));
    stepper.appendChild(slider);
    stepper.appendChild(stateOut);
    box.appendChild(stepper);
    const table = el('table', { class: 'order' });
    const thead = el('tr');
    for (const h of ['step', 'op', 'process', 'operation', 'model state after']) thead.appendChild(el('th', null, h));
    table.appendChild(thead);
    const rows = [];
    const byIndex = {};
    for (const o of failure.ops) byIndex[o.i] = o;
    order.forEach((i, s) => {
      const o = byIndex[i];
      const tr = el('tr');
      tr.appendChild(el('td', null, base + s + 1)); tr.appendChild(el('td', null, i));
      tr.appendChild(el('td', null, o ? 'p' + o.p : '?'));
      tr.appendChild(el('td', null, o ? o.f + ' ' + o.v : '(not drawn)'));
      tr.appendChild(el('td', { class: 'mono' }, failure.states[s] ?? ''));
      tr.addEventListener('click', () => { slider.value = String(s + 1); applyStep(); main.focus(i); });
      table.appendChild(tr); rows.push(tr);
    });
    for (const b of failure.bad) {
      const o = byIndex[b.i];
      const tr = el('tr', { class: 'bad-row' });
      tr.appendChild(el('td', null, '✗')); tr.appendChild(el('td', null, b.i));
      tr.appendChild(el('td', null, o ? 'p' + o.p : '?'));
      tr.appendChild(el('td', null, o ? o.f + ' ' + o.v : ''));
      tr.appendChild(el('td', null, 'cannot be placed: ' + b.why));
      table.appendChild(tr);
    }
    const details = el('details', { class: 'order-table' });
    details.open = order.length <= 30;
    details.appendChild(el('summary', null, 'The longest linearizable order (' + (base ? 'its last ' + order.length + ' of ' + (base + order.length) : order.length) + ' ops) and the model state'));
    details.appendChild(table);
    box.appendChild(details);

    const dotAt = {};
    main.pts.forEach((p, k) => { dotAt[p.pos] = main.dots[k]; });
    function applyStep() {
      const s = parseInt(slider.value, 10);
      order.forEach((i, j) => {
        const b = main.bars[i];
        if (b) { b.g.classList.toggle('future', j >= s); b.g.classList.toggle('current', j === s - 1); }
        if (dotAt[j]) dotAt[j].classList.toggle('future', j >= s);
        rows[j].classList.toggle('current', j === s - 1);
      });
      main.path.setAttribute('points', main.pts.filter(p => p.pos < s).map(p => p.x + ',' + p.y).join(' '));
      const initial = base ? 'state ' + (failure.before ?? '?') + ' (after step ' + base + ')' : 'the initial state';
      stateOut.textContent = s === 0 ? 'before step ' + (base + 1) + ': ' + initial :
        'after step ' + (base + s) + ' (op ' + order[s - 1] + '): state ' + (failure.states[s - 1] ?? '?') +
        (s === order.length && failure.bad.length ? ' — and then no op below can be placed: ' + failure.bad.map(b => 'op ' + b.i + ', ' + b.why).join('; ') : '');
    }
    slider.addEventListener('input', () => { applyStep(); const s = parseInt(slider.value, 10); if (s > 0) main.focus(order[s - 1]); });
    applyStep();
    return { box: box, focus: i => main.focus(i) };
  }

  // ---- locks: hold intervals per process, overlaps highlighted ----
  function renderLocks() {
    const root = section('locks-body');
    if (!root) return;
    D.mutex.forEach((m, i) => {
      try { root.appendChild(lockChart(m, i)); } catch (e) { fail('lock chart ' + m.name, e); }
    });
  }
  function lockChart(m, idx) {
    const box = el('div', { id: 'locks-' + idx, class: 'failure-target' });
    if (D.mutex.length > 1) box.appendChild(el('h3', null, m.name));
    if (m.lostLocks) box.appendChild(lostLocksLink(m.lostLocks));
    box.appendChild(el('p', null, m.holds.length + ' holds' + (m.holdsTotal > m.holds.length ? ' (of ' + m.holdsTotal + ')' : '') +
      ', ' + m.violations.length + ' overlapping holds (violations).'));
    const own = { s: 0, e: endMs };
    const procs = [];
    for (const h of m.holds) if (procs.indexOf(h.p) < 0) procs.push(h.p);
    for (const v of m.violations) for (const h of v.holders) if (procs.indexOf(h.p) < 0) procs.push(h.p);
    procs.sort((a, b) => (isNaN(+a) || isNaN(+b)) ? String(a).localeCompare(String(b)) : a - b);
    const tools = el('div', { class: 'tools' });
    const zoomLabel = el('span', null, 'whole run');
    tools.appendChild(button('Whole run', () => { own.s = 0; own.e = endMs; draw(); zoomLabel.textContent = 'whole run'; }));
    tools.appendChild(zoomLabel);
    box.appendChild(tools);
    const holder = el('div', { class: 'chart-box' });
    box.appendChild(holder);
    const violatingHold = {};
    for (const v of m.violations) for (const h of v.holders) violatingHold[h.p + '@' + h.s] = true;
    function draw() {
      const W = Math.max(holder.clientWidth, 400), rowH = 22, top = 16, H = top + procs.length * rowH + 30;
      const x = t => ML + (t - own.s) / (own.e - own.s) * (W - ML - MR);
      const svg = sv('svg', { width: W, height: H, class: 'lock-svg' });
      procs.forEach((p, i) => {
        svg.appendChild(sv('text', { x: 4, y: top + i * rowH + 15, class: 'lane-label' }, 'p' + p));
        svg.appendChild(sv('line', { x1: ML, x2: W - MR, y1: top + i * rowH + rowH / 2, y2: top + i * rowH + rowH / 2, class: 'lane' }));
      });
      for (const v of m.violations) {
        if (v.s === null) continue;
        const s = v.s / 1000, e = v.e === null ? endMs : v.e / 1000;
        if (e < own.s || s > own.e) continue;
        const r = sv('rect', { x: Math.max(x(s), ML), y: top - 4, width: Math.max(Math.min(x(e), W - MR) - Math.max(x(s), ML), 3), height: procs.length * rowH + 8, class: 'overlap' });
        tip(r, 'overlap ' + secs(s) + ' – ' + secs(e) + ': ' + v.holders.map(h => 'p' + h.p).join(' and ') + ' both held the lock' +
          (v.ttl !== null ? ' (lease TTL ' + v.ttl + ' s)' : ''));
        svg.appendChild(r);
      }
      for (const h of m.holds) {
        const s = h.s / 1000, e = h.e === null ? endMs : h.e / 1000;
        if (e < own.s || s > own.e) continue;
        const i = procs.indexOf(h.p);
        const bad = violatingHold[h.p + '@' + h.s];
        const r = sv('rect', { x: Math.max(x(s), ML), y: top + i * rowH + 4, width: Math.max(Math.min(x(e), W - MR) - Math.max(x(s), ML), 2), height: rowH - 8,
          class: 'hold' + (bad ? ' bad' : '') + (h.e === null || h.open ? ' open' : '') });
        tip(r, 'p' + h.p + ' held the lock ' + secs(s) + ' – ' + (h.e === null ? 'never released (open-ended)' : secs(e)) + (bad ? '\noverlaps another hold' : ''));
        svg.appendChild(r);
      }
      const tt = timeTicks(own.s, own.e, W - ML - MR);
      const axisY = top + procs.length * rowH + 6;
      for (const t of tt.ticks) svg.appendChild(sv('text', { x: x(t), y: axisY + 12, 'text-anchor': 'middle', class: 'tick' }, tickLabel(t, tt.step)));
      holder.replaceChildren(svg);
    }
    if (m.violations.length) {
      const table = el('table');
      const tr = el('tr');
      for (const h of ['#', 'holders (acquired – released)', 'overlap', 'lease TTL', 'why', '']) tr.appendChild(el('th', null, h));
      table.appendChild(tr);
      m.violations.slice(0, 200).forEach((v, i) => {
        const row = el('tr');
        row.appendChild(el('td', null, i + 1));
        row.appendChild(el('td', null, v.holders.map(h => 'p' + h.p + ' (' + (h.s === null ? '?' : secs(h.s / 1000)) + ' – ' + (h.e === null ? 'open' : secs(h.e / 1000)) + ')').join(', ')));
        row.appendChild(el('td', null, v.s === null ? '?' : secs(v.s / 1000) + ' – ' + (v.e === null ? 'end' : secs(v.e / 1000))));
        row.appendChild(el('td', null, v.ttl === null ? '' : v.ttl + ' s'));
        row.appendChild(el('td', null, v.why || ''));
        const td = el('td');
        td.appendChild(button('zoom', () => {
          const s = v.s / 1000, e = v.e === null ? endMs : v.e / 1000, pad = Math.max((e - s) * 2, 500);
          own.s = Math.max(0, s - pad); own.e = Math.min(endMs, e + pad); draw();
          zoomLabel.textContent = 'violation ' + (i + 1) + ': ' + secs(own.s) + ' – ' + secs(own.e);
        }));
        row.appendChild(td);
        table.appendChild(row);
      });
      box.appendChild(table);
    }
    requestAnimationFrame(draw);
    window.addEventListener('resize', draw);
    return box;
  }

  // ---- counters: every read against the bounds it was allowed ----
  function renderCounters() {
    const root = section('counter-body');
    if (!root) return;
    D.counter.forEach((c, i) => {
      try { root.appendChild(counterChart(c, i)); } catch (e) { fail('counter chart ' + c.name, e); }
    });
  }
  function counterChart(c, idx) {
    const box = el('div', { id: 'counter-' + idx, class: 'failure-target' });
    if (D.counter.length > 1) box.appendChild(el('h3', null, c.name));
    const R = c.reads;
    box.appendChild(el('p', null, c.total + ' reads, ' + c.bad + ' outside their bounds' + (c.final ? '. Final: ' + c.final : '.')));
    const legend = el('div', { class: 'legend' });
    const items = [['#bbb', 'allowed range [lower, upper]'], [COLOR.ok, 'read within bounds'], [COLOR.fail, 'read outside bounds']];
    for (const [color, text] of items) {
      const s = el('span', { class: 'band-key' }); const sw = el('span', { class: 'swatch' }); sw.style.background = color;
      s.appendChild(sw); s.appendChild(el('span', null, text)); legend.appendChild(s);
    }
    box.appendChild(legend);
    const cv = canvasIn(box, 260);
    let vmin = Infinity, vmax = -Infinity;
    for (let i = 0; i < R.t.length; i++) for (const v of [R.v[i], R.lo[i], R.hi[i]]) if (v !== null) { vmin = Math.min(vmin, v); vmax = Math.max(vmax, v); }
    if (!(vmax >= vmin)) { vmin = 0; vmax = 1; }
    if (vmax === vmin) vmax = vmin + 1;
    function draw() {
      const w = cv.resize(), h = cv.height, ctx = cv.ctx, top = 10, bottom = h - 26;
      const y = v => bottom - (v - vmin) / (vmax - vmin) * (bottom - top);
      drawBands(ctx, w, top + 8 + 9 * bandKinds().length, bottom);
      ctx.font = '11px sans-serif'; ctx.textAlign = 'right'; ctx.fillStyle = '#555'; ctx.strokeStyle = '#eee';
      const st = niceStep((vmax - vmin) / 5);
      for (let v = Math.ceil(vmin / st) * st; v <= vmax; v += st) {
        ctx.beginPath(); ctx.moveTo(ML, y(v)); ctx.lineTo(w - MR, y(v)); ctx.stroke(); ctx.fillText(String(+v.toPrecision(6)), ML - 4, y(v) + 4);
      }
      drawTimeAxis(ctx, w, bottom);
      ctx.save(); ctx.beginPath(); ctx.rect(ML, 0, w - ML - MR, h); ctx.clip();
      ctx.strokeStyle = '#bbb'; ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (let i = 0; i < R.t.length; i++) {
        const t = R.t[i] / 1000;
        if (t < view.s || t > view.e || R.lo[i] === null || R.hi[i] === null) continue;
        const x = xOf(t, w);
        ctx.moveTo(x, y(R.lo[i])); ctx.lineTo(x, y(R.hi[i]));
      }
      ctx.stroke();
      for (const pass of [1, 0]) {
        ctx.fillStyle = pass ? COLOR.ok : COLOR.fail;
        for (let i = 0; i < R.t.length; i++) {
          const t = R.t[i] / 1000;
          if (R.ok[i] !== pass || R.v[i] === null || t < view.s || t > view.e) continue;
          ctx.beginPath(); ctx.arc(xOf(t, w), y(R.v[i]), pass ? 2 : 4, 0, 2 * Math.PI); ctx.fill();
        }
      }
      ctx.restore();
    }
    attachBrush(cv.canvas, () => cv.width(), () => cv.height, cv.brush);
    viewListeners.push(draw);
    window.addEventListener('resize', draw);
    requestAnimationFrame(draw);
    const badRows = [];
    for (let i = 0; i < R.t.length && badRows.length < 100; i++) if (!R.ok[i]) badRows.push(i);
    if (badRows.length) {
      const table = el('table');
      const tr = el('tr');
      for (const h of ['op', 'time', 'read', 'allowed']) tr.appendChild(el('th', null, h));
      table.appendChild(tr);
      for (const i of badRows) {
        const row = el('tr', { class: 'bad-row' });
        row.appendChild(el('td', null, R.i[i] === null ? '?' : R.i[i]));
        row.appendChild(el('td', null, secs(R.t[i] / 1000)));
        row.appendChild(el('td', null, R.v[i]));
        row.appendChild(el('td', null, '[' + R.lo[i] + ', ' + R.hi[i] + ']'));
        table.appendChild(row);
      }
      box.appendChild(table);
    }
    return box;
  }

  // ---- leader changes and node events on the run's time axis ----
  function renderCluster() {
    const root = section('cluster-body');
    if (!root) return;
    const nodes = D.nodes;
    const obs = D.leaders.obs;
    if (!nodes.length && !D.nemesis.events.length && !obs.length) {
      root.appendChild(el('p', { class: 'muted' }, 'No node events and no leader observations were recorded.'));
      return;
    }
    root.appendChild(el('p', { class: 'muted' }, obs.length ? 'Leader from ' + D.leaders.source + '.' :
      'No leader observations (no leaders.jsonl, and nemesis ops carry no leader_before/leader_after).'));
    const legend = el('div', { class: 'legend' });
    const kinds = [];
    for (const s of D.nemesis.nodeSpans) if (kinds.indexOf(s.kind) < 0) kinds.push(s.kind);
    for (const k of kinds) {
      const s = el('span', { class: 'band-key' }); const sw = el('span', { class: 'swatch' }); sw.style.background = kindColor(k);
      s.appendChild(sw); s.appendChild(el('span', null, k === 'kill' ? 'killed (down)' : k === 'pause' ? 'paused' : k)); legend.appendChild(s);
    }
    const ls = el('span', { class: 'band-key' }); const lsw = el('span', { class: 'swatch leader-swatch' });
    ls.appendChild(lsw); ls.appendChild(el('span', null, 'leader')); legend.appendChild(ls);
    root.appendChild(legend);
    const holder = el('div', { class: 'chart-box cluster-box' });
    const brush = el('div', { class: 'brush' }); brush.hidden = true;
    root.appendChild(holder);
    const rowH = 28, top = 30;
    // leader segments: each observation holds until the next one
    const segs = [];
    for (let i = 0; i < obs.length; i++) {
      const s = obs[i][0] / 1000, e = i + 1 < obs.length ? obs[i + 1][0] / 1000 : endMs;
      if (segs.length && segs[segs.length - 1].leader === obs[i][1]) { segs[segs.length - 1].e = e; continue; }
      segs.push({ leader: obs[i][1], s: s, e: e });
    }
    function draw() {
      const W = Math.max(holder.clientWidth, 400), H = top + (nodes.length + 1) * rowH + 30;
      const svg = sv('svg', { width: W, height: H, class: 'cluster-svg' });
      const x = t => xOf(t, W);
      const clampX = t => Math.max(ML, Math.min(W - MR, x(t)));
      const rows = ['leader'].concat(nodes);
      rows.forEach((r, i) => {
        svg.appendChild(sv('text', { x: 4, y: top + i * rowH + 15, class: 'lane-label' }, r));
        svg.appendChild(sv('line', { x1: ML, x2: W - MR, y1: top + i * rowH + rowH - 1, y2: top + i * rowH + rowH - 1, class: 'lane' }));
      });
      for (const b of D.nemesis.bands) {
        if (b.e / 1000 < view.s || b.s / 1000 > view.e) continue;
        const r = sv('rect', { x: clampX(b.s / 1000), y: top - 4, width: Math.max(clampX(b.e / 1000) - clampX(b.s / 1000), 1), height: rows.length * rowH + 4, fill: kindColor(b.kind), opacity: 0.08 });
        svg.appendChild(r);
      }
      for (const s of D.nemesis.nodeSpans) {
        const i = nodes.indexOf(s.node);
        if (i < 0 || s.e / 1000 < view.s || s.s / 1000 > view.e) continue;
        const r = sv('rect', { x: clampX(s.s / 1000), y: top + (i + 1) * rowH + 4, width: Math.max(clampX(s.e / 1000) - clampX(s.s / 1000), 2), height: rowH - 12, fill: kindColor(s.kind), opacity: 0.75, rx: 2 });
        tip(r, s.node + ': ' + s.kind + ' from ' + secs(s.s / 1000) + ' to ' + (s.open ? 'the end (never healed in the history)' : secs(s.e / 1000)));
        svg.appendChild(r);
      }
      segs.forEach((g, j) => {
        if (g.e < view.s || g.s > view.e) return;
        const x0 = clampX(g.s), x1 = clampX(g.e);
        const r = sv('rect', { x: x0, y: top + 4, width: Math.max(x1 - x0, 1), height: rowH - 12, fill: g.leader === null ? '#ddd' : nodeColor(g.leader), rx: 2 });
        tip(r, (g.leader === null ? 'no leader' : 'leader ' + g.leader) + ' from ' + secs(g.s) + ' to ' + secs(g.e));
        svg.appendChild(r);
        if (x1 - x0 > 24) svg.appendChild(sv('text', { x: x0 + 4, y: top + 16, class: 'seg-label' }, g.leader === null ? 'none' : g.leader));
        const i = g.leader === null ? -1 : nodes.indexOf(g.leader);
        if (i >= 0) {
          const ln = sv('line', { x1: x0, x2: x1, y1: top + (i + 1) * rowH + 23, y2: top + (i + 1) * rowH + 23, class: 'leader-line', stroke: nodeColor(g.leader) });
          tip(ln, g.leader + ' is the leader from ' + secs(g.s) + ' to ' + secs(g.e));
          svg.appendChild(ln);
        }
        if (j > 0) {
          const m = sv('path', { d: 'M' + (x0 - 5) + ',' + (top - 10) + 'L' + (x0 + 5) + ',' + (top - 10) + 'L' + x0 + ',' + (top - 2) + 'Z', class: 'change-mark' });
          tip(m, 'leader change at ' + secs(g.s) + ': ' + (segs[j - 1].leader ?? 'none') + ' → ' + (g.leader ?? 'none'));
          svg.appendChild(m);
        }
      });
      for (const mk of D.marks) {
        const t = mk.t / 1000;
        if (t < view.s || t > view.e) continue;
        const ln = sv('line', { x1: x(t), x2: x(t), y1: top - 4, y2: top + rows.length * rowH, class: 'fail-mark' });
        tip(ln, secs(t) + ': ' + mk.label);
        svg.appendChild(ln);
      }
      for (const ev of D.nemesis.events) {
        const t = ev.s / 1000;
        if (t < view.s || t > view.e) continue;
        const m = sv('circle', { cx: x(t), cy: top + rows.length * rowH + 2, r: 3.5, fill: ev.err ? COLOR.fail : kindColor(ev.kind) });
        tip(m, secs(t) + ' ' + ev.f + (ev.nodes.length ? ' ' + ev.nodes.join(', ') : '') + (ev.err ? '\nerror: ' + ev.err : '') + (ev.info ? '\n' + ev.info : ''));
        svg.appendChild(m);
      }
      const tt = timeTicks(view.s, view.e, W - ML - MR);
      for (const t of tt.ticks) svg.appendChild(sv('text', { x: x(t), y: top + rows.length * rowH + 22, 'text-anchor': 'middle', class: 'tick' }, tickLabel(t, tt.step)));
      holder.replaceChildren(svg, brush);
    }
    attachBrush(holder, () => Math.max(holder.clientWidth, 400), () => holder.clientHeight, brush);
    viewListeners.push(draw);
    window.addEventListener('resize', draw);
    draw();
  }

  // ---- transactions (Elle): the anomaly table, then each anomaly's cycle as a graph and its transactions in time ----
  const EDGE_COLORS = { ww: '#1f77b4', wr: '#2ca02c', rw: '#d62728', process: '#7f7f7f', realtime: '#9467bd' };
  function renderElle() {
    const root = section('elle-body');
    if (!root) return;
    D.elle.forEach((checker, c) => {
      const head = el('p');
      head.appendChild(el('b', null, (D.elle.length > 1 ? checker.name + ' · ' : '') + checker.model + ', checked for ' + checker.cm));
      head.appendChild(el('span', null, (checker.txns !== null ? ' · ' + checker.txns + ' transactions' : '') +
        (checker.not.length ? ' · the anomalies rule out ' + checker.not.join(', ') + '; consistent at most with ' +
          (checker.allowed.join(' or ') || 'none of them') : '')));
      root.appendChild(head);
      if (checker.counts.length) {
        const table = el('table', { class: 'elle-table' });
        const hr = el('tr');
        for (const h of ['anomaly', 'found', 'verdict', 'first example']) hr.appendChild(el('th', null, h));
        table.appendChild(hr);
        for (const [kind, n, forbidden] of checker.counts) {
          const tr = el('tr', { class: forbidden ? 'bad-row' : '' });
          tr.appendChild(el('td', null, kind));
          tr.appendChild(el('td', null, String(n)));
          tr.appendChild(el('td', null, forbidden ? 'forbidden by ' + checker.cm : 'allowed by ' + checker.cm));
          const td = el('td');
          const first = checker.anomalies.findIndex(a => a.type === kind);
          if (first >= 0) td.appendChild(el('a', { href: '#elle-' + c + '-' + first }, 'ops ' + checker.anomalies[first].ops.join(', ')));
          tr.appendChild(td);
          table.appendChild(tr);
        }
        root.appendChild(table);
      }
      checker.anomalies.forEach((a, n) => {
        try { root.appendChild(elleAnomaly(a, c, n)); } catch (e) { fail('transactional anomaly ' + (n + 1), e); }
      });
      if (checker.total > checker.anomalies.length)
        root.appendChild(el('p', { class: 'muted' }, (checker.total - checker.anomalies.length) + ' more anomalies are in results.json.'));
      for (const u of checker.unknown) root.appendChild(el('p', { class: 'why' }, 'Not decided (' + u.search + '): ' + u.reason));
    });
  }
  function elleAnomaly(a, c, n) {
    const box = el('div', { class: 'elle-anomaly' + (a.forbidden ? ' forbidden' : ''), id: 'elle-' + c + '-' + n });
    box.appendChild(el('h3', null, a.type + (a.forbidden ? '' : ' (allowed)') + ' · ops ' + a.ops.join(', ') +
      (a.keys.length ? ' · key' + (a.keys.length > 1 ? 's ' : ' ') + a.keys.join(', ') : '')));
    const ol = el('ol', { class: 'elle-why' });
    for (const line of a.expl) ol.appendChild(el('li', null, line));
    box.appendChild(ol);
    if (a.cycle && a.cycle.nodes.length) {
      const row = el('div', { class: 'elle-row' });
      row.appendChild(cycleGraph(a.cycle, 'elle-' + c + '-' + n));
      row.appendChild(cycleTimes(a.cycle));
      box.appendChild(row);
      const ul = el('ul', { class: 'elle-txns' });
      for (const x of a.cycle.nodes)
        ul.appendChild(el('li', null, x.label + ' = ops ' + x.i + (x.d !== null ? '..' + x.d : '') + ', process ' + x.p + ', ' + x.outcome + ': ' + x.mops));
      box.appendChild(ul);
    }
    const tools = el('div', { class: 'tools' });
    for (const i of a.ops) {
      tools.appendChild(button('T' + i + ' in the timeline', () => {
        const k = findOp(i);
        if (k >= 0) timelineGoTo(k, true); else fail('timeline', new Error('op ' + i + ' is not among the embedded ops'));
      }));
    }
    box.appendChild(tools);
    return box;
  }
  // The cycle on a circle: each transaction a labelled box, each dependency a curved arrow coloured by type.
  function cycleGraph(cycle, id) {
    const nodes = cycle.nodes, k = nodes.length;
    const W = 440, H = k <= 2 ? 220 : 300, R = k <= 2 ? 70 : Math.min(110, 40 + 18 * k);
    const cx = W / 2, cy = H / 2 + 4;
    const svg = sv('svg', { class: 'elle-graph', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    tip(svg, 'the dependency cycle: ' + nodes.map(x => x.label).join(' → ') + ' → ' + nodes[0].label);
    const defs = sv('defs');
    for (const t in EDGE_COLORS) {
      const m = sv('marker', { id: id + '-arrow-' + t, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      m.appendChild(sv('path', { d: 'M0,0 L10,5 L0,10 z', fill: EDGE_COLORS[t] }));
      defs.appendChild(m);
    }
    svg.appendChild(defs);
    const pos = {};
    nodes.forEach((x, j) => {
      const ang = -Math.PI / 2 + 2 * Math.PI * j / k;
      pos[x.i] = { x: cx + R * Math.cos(ang), y: cy + R * Math.sin(ang) };
    });
    const BW = 64, BH = 30;
    cycle.edges.forEach(e => {
      const p = pos[e.from], q = pos[e.to];
      if (!p || !q) return;
      // a curve bowing outwards, so the arrows of a 2-cycle do not overlap
      const mx = (p.x + q.x) / 2, my = (p.y + q.y) / 2;
      let dx = mx - cx, dy = my - cy, len = Math.hypot(dx, dy);
      if (len < 1) { dx = -(q.y - p.y); dy = q.x - p.x; len = Math.hypot(dx, dy) || 1; }
      const bow = k <= 2 ? 60 : 28;
      const ctl = { x: mx + dx / len * bow, y: my + dy / len * bow };
      const clip = (from, toward) => { // leave the curve at the box's edge
        const vx = toward.x - from.x, vy = toward.y - from.y;
        const s = Math.min(Math.abs((BW / 2 + 3) / (vx || 1e-9)), Math.abs((BH / 2 + 3) / (vy || 1e-9)));
        return { x: from.x + vx * Math.min(s, 1), y: from.y + vy * Math.min(s, 1) };
      };
      const a = clip(p, ctl), b = clip(q, ctl);
      const color = EDGE_COLORS[e.type] || '#333';
      const g = sv('g', { class: 'elle-edge ' + e.type });
      g.appendChild(sv('path', { d: 'M' + a.x + ',' + a.y + ' Q' + ctl.x + ',' + ctl.y + ' ' + b.x + ',' + b.y, fill: 'none',
        stroke: color, 'stroke-width': e.type === 'rw' ? 2.2 : 1.6, 'stroke-dasharray': e.type === 'realtime' || e.type === 'process' ? '5 3' : '',
        'marker-end': 'url(#' + id + '-arrow-' + (EDGE_COLORS[e.type] ? e.type : 'ww') + ')' }));
      const lx = 0.25 * a.x + 0.5 * ctl.x + 0.25 * b.x, ly = 0.25 * a.y + 0.5 * ctl.y + 0.25 * b.y;
      const label = e.type + (e.key !== null ? ' k' + e.key : '');
      g.appendChild(sv('rect', { x: lx - label.length * 3.4 - 3, y: ly - 8, width: label.length * 6.8 + 6, height: 15, rx: 3, fill: '#fff', opacity: 0.85 }));
      g.appendChild(sv('text', { x: lx, y: ly + 3, 'text-anchor': 'middle', class: 'elle-edge-label', fill: color }, label));
      tip(g, e.why);
      svg.appendChild(g);
    });
    nodes.forEach(x => {
      const p = pos[x.i];
      const g = sv('g', { class: 'elle-node ' + x.outcome });
      g.appendChild(sv('rect', { x: p.x - BW / 2, y: p.y - BH / 2, width: BW, height: BH, rx: 6,
        fill: FILL[x.outcome] || '#eee', stroke: COLOR[x.outcome] || '#888', 'stroke-width': 1.5 }));
      g.appendChild(sv('text', { x: p.x, y: p.y - 1, 'text-anchor': 'middle', class: 'elle-node-label' }, x.label));
      g.appendChild(sv('text', { x: p.x, y: p.y + 11, 'text-anchor': 'middle', class: 'elle-node-sub' }, 'p' + x.p + ' ' + x.outcome));
      tip(g, x.label + ' (ops ' + x.i + (x.d !== null ? '..' + x.d : '') + ', process ' + x.p + ', ' + x.outcome + ')\n' + x.mops);
      svg.appendChild(g);
    });
    return svg;
  }
  // The cycle's transactions on a time axis: a bar each from invocation to completion.
  function cycleTimes(cycle) {
    const nodes = cycle.nodes.filter(x => x.s !== null);
    const W = 460, rowH = 24, top = 8, labelW = 52, H = top + rowH * nodes.length + 26;
    const svg = sv('svg', { class: 'elle-times', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    if (!nodes.length) return svg;
    let t0 = Infinity, t1 = -Infinity;
    for (const x of nodes) { t0 = Math.min(t0, x.s); t1 = Math.max(t1, x.c !== null ? x.c : x.s); }
    const span = Math.max(t1 - t0, 1), pad = span * 0.08;
    const lo = t0 - pad, hi = t1 + pad;
    const X = t => labelW + (t - lo) / (hi - lo) * (W - labelW - 10);
    nodes.forEach((x, j) => {
      const y = top + j * rowH;
      const end = x.c !== null ? x.c : hi;
      svg.appendChild(sv('text', { x: 4, y: y + 15, class: 'lane-label' }, x.label));
      const bar = sv('rect', { x: X(x.s), y: y + 3, width: Math.max(X(end) - X(x.s), 2), height: rowH - 8, rx: 3,
        fill: FILL[x.outcome] || '#eee', stroke: COLOR[x.outcome] || '#888', 'stroke-dasharray': x.c === null ? '4 2' : '' });
      tip(bar, x.label + ': invoked ' + secs(x.s / 1000) + (x.c !== null ? ', completed ' + secs(x.c / 1000) : ', never completed') + '\n' + x.mops);
      svg.appendChild(bar);
      const text = x.mops.length * 6.2 < X(end) - X(x.s) - 6 ? x.mops : '';
      if (text) svg.appendChild(sv('text', { x: X(x.s) + 4, y: y + 15, class: 'bar-label' }, text));
    });
    const axisY = top + rowH * nodes.length + 4;
    svg.appendChild(sv('line', { x1: labelW, x2: W - 10, y1: axisY, y2: axisY, stroke: '#999' }));
    svg.appendChild(sv('text', { x: labelW, y: axisY + 14, class: 'tick' }, secs(lo / 1000)));
    svg.appendChild(sv('text', { x: W - 10, y: axisY + 14, class: 'tick', 'text-anchor': 'end' }, secs(hi / 1000)));
    return svg;
  }

  // ---- links to a linearizability failure (the "jump to the first failure" one too) also scroll
  // its diagram back to the failing op ----
  function goToFailure(id) {
    const target = document.getElementById(id);
    if (!target) return false;
    target.scrollIntoView({ block: 'start' });
    if (linearFocus[id]) linearFocus[id]();
    return true;
  }
  function followFailureLinks() {
    document.addEventListener('click', ev => {
      const a = ev.target instanceof Element ? ev.target.closest('a[href^="#"]') : null;
      if (!a) return;
      const id = decodeURIComponent(a.getAttribute('href').slice(1));
      if (!linearFocus[id]) return;
      ev.preventDefault();
      history.replaceState(null, '', '#' + id);
      goToFailure(id);
    });
    if (location.hash.length > 1) goToFailure(decodeURIComponent(location.hash.slice(1)));
  }

  for (const [name, fn] of [['latency and throughput', renderPerf], ['timeline', renderTimeline],
    ['linearizability', renderLinear], ['transactions', renderElle], ['locks', renderLocks], ['counters', renderCounters], ['cluster events', renderCluster],
    ['failure links', followFailureLinks]]) {
    try { fn(); } catch (e) { fail(name, e); }
  }
  document.documentElement.setAttribute('data-report', 'rendered');
})();
