// Junction's admin dashboard. Polls /status and /metrics.json once a second, keeps the last
// two minutes in memory and draws them on <canvas>: no libraries and no other requests, so the
// page can be compiled into the binary and works where the admin port has no internet.
//
// Rates are computed here from consecutive samples (delta / delta time) rather than by the
// server, so the server only keeps cumulative counters, like Prometheus.
//
// For tests, window.junctionDashboard holds the number of successful polls and every series;
// each chart canvas has id="chart-<series>" and data-points = the points it drew.

"use strict";

(() => {
  const POLL_MS = 1000;
  const KEEP = 120; // samples: two minutes at one a second
  const SPAN_S = (KEEP * POLL_MS) / 1000; // the charts' time axis
  const GAP_S = 2.5; // samples further apart than this (missed polls) are not joined by a line
  const FETCH_TIMEOUT_MS = 2500; // a hung request must not stop the polling
  const BUILTIN_APPS = new Set(["health", "none"]); // the gateway's own answers
  const ROUTE_SERIES = ["requests_per_s", "p50_ms", "p99_ms", "error_pct"];

  // One chart per series. `floor` is the smallest top of the y axis (an idle server draws a
  // flat line at the bottom, not noise blown up to full height); `cap` the largest.
  const CHARTS = [
    { name: "requests_per_s", title: "Requests/s", color: "#2563eb", floor: 1 },
    { name: "error_pct", title: "5xx errors", unit: "%", color: "#dc2626", floor: 1, cap: 100 },
    { name: "p50_ms", title: "Latency p50", unit: "ms", color: "#0891b2", floor: 1 },
    { name: "p99_ms", title: "Latency p99", unit: "ms", color: "#7c3aed", floor: 1 },
    // Pool saturation is read against the whole pool, so its axis is always 0-100 %.
    { name: "wsgi_busy_pct", title: "WSGI threads busy", unit: "%", color: "#d97706",
      floor: 100, cap: 100 },
    { name: "asgi_busy_pct", title: "ASGI tasks / limit", unit: "%", color: "#059669",
      floor: 1, cap: 100 },
    { name: "loop_lag_p99_ms", title: "Event-loop lag p99", unit: "ms", color: "#be185d",
      floor: 1 },
    { name: "connections", title: "Open connections", color: "#475569", floor: 5, integer: true },
  ];

  const state = {
    samples: 0, // successful polls
    times: [], // the server's clock (Unix seconds) at each sample, aligned with every series
    series: Object.fromEntries(CHARTS.map((c) => [c.name, []])),
    routes: {}, // "<app> <route>" -> { requests_per_s, p50_ms, p99_ms, error_pct: [...] }
  };
  window.junctionDashboard = state;

  let prev = null; // the previous successful sample: { time, metrics }
  let lastStatus = null;
  let lastTime = null; // the server's clock at the last sample (Unix seconds)
  let lastAt = 0; // performance.now() when that sample arrived
  let details = {}; // per chart: the text under its value (e.g. "3 / 8 threads, 0 queued")
  let notServed = new Set(); // charts whose kind of app is not served: "n/a", not "—"
  const routeRows = new Map(); // key -> { row, cells, spark }
  const $ = (id) => document.getElementById(id);

  // --- polling -------------------------------------------------------------------------------

  async function getJSON(url) {
    const response = await fetch(url, {
      cache: "no-store",
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  // Never throws: a failed fetch shows the badge and the next poll tries again; a bug in the
  // page is reported on the console (where tests look) and the polling goes on.
  async function poll() {
    const started = performance.now();
    let fetched = null;
    try {
      fetched = await Promise.all([getJSON("/status"), getJSON("/metrics.json")]);
      setBadge(true, "");
    } catch (err) {
      setBadge(false, String(err && err.message ? err.message : err));
    }
    try {
      if (fetched) record(fetched[0], fetched[1]);
      render();
    } catch (err) {
      console.error("junction dashboard:", err);
    }
    // One poll at a time: the next starts a second after this one started, or at once if the
    // answers took longer than that.
    setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
  }

  function setBadge(live, why) {
    const badge = $("badge");
    badge.className = "badge " + (live ? "live" : "down");
    badge.textContent = live ? "live" : "disconnected";
    badge.title = live ? "polling every second" : `retrying every second: ${why}`;
    document.body.classList.toggle("stale", !live);
  }

  // --- arithmetic on samples -----------------------------------------------------------------

  function push(list, value) {
    list.push(value);
    if (list.length > KEEP) list.shift();
  }

  const pushGap = (route) => ROUTE_SERIES.forEach((name) => push(route[name], null));

  const num = (v) => (typeof v === "number" && isFinite(v) ? v : 0);

  // The histogram of one interval: the difference of two cumulative histograms, bucket by
  // bucket. `before` missing means the histogram is new (it started at zero). Returns null
  // when a bucket went down or the bounds changed: the process restarted in between.
  function histogramDelta(now, before) {
    if (!now || !Array.isArray(now.bounds) || !Array.isArray(now.counts)) return null;
    if (now.counts.length !== now.bounds.length + 1) return null;
    if (!before) return { bounds: now.bounds, counts: now.counts.map(num) };
    if (!sameBounds(now.bounds, before.bounds) || before.counts.length !== now.counts.length) {
      return null;
    }
    const counts = now.counts.map((c, i) => num(c) - num(before.counts[i]));
    return counts.some((c) => c < 0) ? null : { bounds: now.bounds, counts };
  }

  function sameBounds(a, b) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
  }

  // The q-quantile of a cumulative histogram, as Prometheus' histogram_quantile computes it:
  // find the bucket the rank falls in and interpolate linearly inside it (the first bucket
  // starts at 0). A rank in the +Inf bucket gives the largest finite bound, since nothing
  // better is known. Null when the histogram is empty.
  function quantile(q, hist) {
    if (!hist) return null;
    const { bounds, counts } = hist;
    const total = counts[counts.length - 1];
    if (!(total > 0)) return null;
    const rank = q * total;
    const i = counts.findIndex((c) => c >= rank);
    if (i < 0 || i >= bounds.length) return bounds[bounds.length - 1];
    const lower = i === 0 ? 0 : bounds[i - 1];
    const below = i === 0 ? 0 : counts[i - 1];
    return lower + ((bounds[i] - lower) * (rank - below)) / (counts[i] - below);
  }

  // Adds histogram b into a (same bounds), for the latency of all routes together.
  function addHistogram(a, b) {
    if (!b) return a;
    if (!a) return { bounds: b.bounds, counts: b.counts.slice() };
    if (!sameBounds(a.bounds, b.bounds)) return a; // cannot be merged; should not happen
    b.counts.forEach((c, i) => (a.counts[i] += c));
    return a;
  }

  const ms = (seconds) => (seconds === null ? null : seconds * 1000);
  const routeKey = (r) => `${r.app} ${r.route}`;

  // What one route did between two samples. A counter that went down means a restart: that
  // interval counts as nothing, rather than as a huge negative (or, worse, a plausible) rate.
  function routeInterval(now, before) {
    const b = before || { requests: 0, status: {}, duration: null };
    const requests = num(now.requests) - num(b.requests);
    const errors = num(now.status && now.status["5xx"]) - num(b.status && b.status["5xx"]);
    const hist = histogramDelta(now.duration, b.duration || null);
    if (requests < 0 || errors < 0 || (now.duration && !hist)) {
      return { requests: 0, errors: 0, hist: null };
    }
    return { requests, errors, hist };
  }

  function record(status, metrics) {
    const time = typeof metrics.time === "number" ? metrics.time : Date.now() / 1000;
    const routes = Array.isArray(metrics.routes) ? metrics.routes : [];
    const wsgi = metrics.wsgi || {};
    const asgi = metrics.asgi || {};
    // The server's clock times the interval: the browser's timers drift and stall in
    // background tabs, the sample's own timestamp does not.
    const dt = prev ? time - prev.time : 0;
    const before = new Map();
    if (prev) for (const r of prev.metrics.routes || []) before.set(routeKey(r), r);

    let requests = 0;
    let errors = 0;
    let latency = null;
    const seen = new Set();
    for (const r of routes) {
      const key = routeKey(r);
      seen.add(key);
      if (!state.routes[key]) {
        state.routes[key] = { app: String(r.app), route: String(r.route), total: 0 };
        for (const name of ROUTE_SERIES) state.routes[key][name] = [];
      }
      const series = state.routes[key];
      series.total = num(r.requests);
      if (!(dt > 0)) {
        pushGap(series);
        continue;
      }
      const iv = routeInterval(r, before.get(key));
      requests += iv.requests;
      errors += iv.errors;
      latency = addHistogram(latency, iv.hist);
      push(series.requests_per_s, iv.requests / dt);
      push(series.p50_ms, ms(quantile(0.5, iv.hist)));
      push(series.p99_ms, ms(quantile(0.99, iv.hist)));
      push(series.error_pct, iv.requests > 0 ? (100 * iv.errors) / iv.requests : 0);
    }
    // A route that is gone (a restart forgot it) keeps its row and its time axis.
    for (const [key, series] of Object.entries(state.routes)) if (!seen.has(key)) pushGap(series);

    const threads = num(wsgi.threads);
    const limit = num(asgi.limit);
    let lag = null;
    if (limit > 0 && dt > 0) {
      const lagBefore = prev && prev.metrics.asgi ? prev.metrics.asgi.loop_lag : null;
      lag = ms(quantile(0.99, histogramDelta(asgi.loop_lag, lagBefore)));
    }
    const s = state.series;
    // Rates need an interval, so the first sample has none (null: nothing drawn). Latency
    // is null in an interval without requests: there is no latency to show, not a zero one.
    push(s.requests_per_s, dt > 0 ? requests / dt : null);
    push(s.error_pct, dt > 0 ? (requests > 0 ? (100 * errors) / requests : 0) : null);
    push(s.p50_ms, dt > 0 ? ms(quantile(0.5, latency)) : null);
    push(s.p99_ms, dt > 0 ? ms(quantile(0.99, latency)) : null);
    push(s.wsgi_busy_pct, threads > 0 ? (100 * num(wsgi.busy)) / threads : null);
    push(s.asgi_busy_pct, limit > 0 ? (100 * num(asgi.tasks)) / limit : null);
    push(s.loop_lag_p99_ms, lag);
    push(s.connections, metrics.connections ? num(metrics.connections.open) : null);

    details = {
      requests_per_s: `${num(metrics.in_flight)} in flight`,
      error_pct: dt > 0 ? `${errors} of ${requests} requests` : "",
      p50_ms: "all routes",
      p99_ms: "all routes",
      wsgi_busy_pct: threads > 0
        ? `${num(wsgi.busy)} / ${threads} threads, ${num(wsgi.queued)} queued`
        : "no WSGI app",
      asgi_busy_pct: limit > 0 ? `${num(asgi.tasks)} / ${limit} tasks` : "no ASGI app",
      loop_lag_p99_ms: limit > 0 ? "asyncio loop" : "no ASGI app",
      connections: metrics.connections ? `${num(metrics.connections.accepted)} accepted` : "",
    };
    notServed = new Set([
      ...(threads > 0 ? [] : ["wsgi_busy_pct"]),
      ...(limit > 0 ? [] : ["asgi_busy_pct", "loop_lag_p99_ms"]),
    ]);
    prev = { time, metrics };
    lastStatus = status;
    lastTime = time;
    lastAt = performance.now();
    push(state.times, time);
    state.samples += 1;
  }

  // --- formatting ----------------------------------------------------------------------------

  // Three significant figures or so, no thousands separators (tests parse these back).
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a < 0.995) return v.toFixed(2); // (not "1.00": 0.999 rounds up to the next format)
    if (a < 9.95) return v.toFixed(1);
    return v.toFixed(0);
  }

  const count = (v) => (typeof v === "number" ? v.toLocaleString("en-US") : "—");

  function fmtAxis(v) {
    if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
    if (v >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
    return `${+v.toPrecision(3)}`;
  }

  function fmtDuration(seconds) {
    if (!(seconds >= 0)) return "—";
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${pad(m)}m`;
    if (m > 0) return `${m}m ${pad(s % 60)}s`;
    return `${s}s`;
  }

  const last = (list) => (list.length ? list[list.length - 1] : null);

  // --- drawing -------------------------------------------------------------------------------

  // The smallest "round" number (1, 2, 2.5 or 5 times a power of ten) at or above v.
  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // The right end of the time axis: the server's clock, advanced by the browser's while polls
  // fail, so an outage scrolls by as a gap instead of being squeezed out of the chart.
  const axisEnd = () => lastTime + (performance.now() - lastAt) / 1000;

  // Draws `values` (null = no value) at their sample times on a fixed two-minute axis ending
  // now, so a fresh page fills in from the right, the way time passes. A series newer than
  // the page is aligned with the last of state.times. Axes and grid only when `axes` (the
  // big charts, not sparklines). Sets data-points to the number of points drawn.
  function plot(canvas, values, { color, floor = 1, cap = Infinity, axes = true }) {
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return 0;
    // The backing store follows the CSS size and the screen's pixel density: sharp lines.
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const pad = axes ? { l: 34, r: 4, t: 6, b: 15 } : { l: 1, r: 1, t: 2, b: 2 };
    const w = width - pad.l - pad.r;
    const h = height - pad.t - pad.b;
    const end = axisEnd();
    const times = state.times.slice(state.times.length - values.length);
    const points = []; // [time, value], null value = a gap
    values.forEach((v, i) => {
      if (end - times[i] <= SPAN_S) points.push([times[i], v !== null && isFinite(v) ? v : null]);
    });
    const finite = points.filter(([, v]) => v !== null).map(([, v]) => v);
    const top = Math.min(cap, niceCeil(Math.max(floor, ...finite)));
    const x = (t) => pad.l + w * (1 - (end - t) / SPAN_S);
    const y = (v) => pad.t + h * (1 - Math.min(Math.max(v, 0), top) / top);

    if (axes) {
      ctx.font = "10px system-ui, sans-serif";
      ctx.lineWidth = 1;
      ctx.textBaseline = "middle";
      ctx.textAlign = "right";
      for (const f of [0, 0.5, 1]) {
        const gy = Math.round(y(top * f)) + 0.5;
        ctx.strokeStyle = f === 0 ? "#cfd4da" : "#eceef1";
        ctx.beginPath();
        ctx.moveTo(pad.l, gy);
        ctx.lineTo(pad.l + w, gy);
        ctx.stroke();
        ctx.fillStyle = "#8a94a3";
        ctx.fillText(fmtAxis(top * f), pad.l - 5, gy);
      }
      ctx.textBaseline = "alphabetic";
      const labels = [[0, "−2m", "left"], [0.5, "−1m", "center"], [1, "now", "right"]];
      for (const [f, text, align] of labels) {
        ctx.textAlign = align;
        ctx.fillText(text, pad.l + w * f, height - 3);
      }
    }

    // Consecutive values make one segment; a null (no data) or missed polls leave a gap.
    const segments = [];
    let run = [];
    let before = -Infinity;
    for (const [t, v] of points) {
      if (v === null || t - before > GAP_S) {
        if (run.length) segments.push(run);
        run = [];
      }
      if (v !== null) run.push([x(t), y(v)]);
      before = t;
    }
    if (run.length) segments.push(run);

    const base = y(0);
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = axes ? 1.6 : 1.2;
    ctx.lineJoin = "round";
    for (const seg of segments) {
      if (seg.length === 1) { // a lone point would be invisible as a line
        ctx.beginPath();
        ctx.arc(seg[0][0], seg[0][1], 1.8, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      seg.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
      ctx.stroke();
      ctx.lineTo(seg[seg.length - 1][0], base);
      ctx.lineTo(seg[0][0], base);
      ctx.closePath();
      ctx.globalAlpha = 0.1;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    canvas.dataset.points = String(finite.length);
    return finite.length;
  }

  // --- the page ------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function buildCharts() {
    const holder = $("charts");
    for (const chart of CHARTS) {
      const figure = el("figure", "chart");
      const caption = el("figcaption");
      caption.append(el("span", "title", chart.title));
      const value = el("span", "value", "—");
      value.id = `value-${chart.name}`;
      caption.append(value);
      const detail = el("div", "detail", "");
      detail.id = `detail-${chart.name}`;
      const canvas = el("canvas");
      canvas.id = `chart-${chart.name}`;
      canvas.dataset.points = "0";
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${chart.title}, last two minutes`);
      figure.append(caption, detail, canvas);
      holder.append(figure);
    }
  }

  function render() {
    renderHeader();
    for (const chart of CHARTS) {
      const values = state.series[chart.name];
      plot($(`chart-${chart.name}`), values, chart);
      const value = $(`value-${chart.name}`);
      const latest = last(values);
      const na = notServed.has(chart.name);
      value.classList.toggle("na", na);
      value.textContent = na ? "n/a" : chart.integer ? count(latest) : fmt(latest);
      if (chart.unit && latest !== null) value.append(el("span", "unit", chart.unit));
      $(`detail-${chart.name}`).textContent = details[chart.name] || "";
    }
    renderRoutes();
    renderWorkers();
  }

  function renderHeader() {
    const st = lastStatus;
    if (!st) return;
    $("fact-version").textContent = st.version || "—";
    $("fact-python").textContent = st.python || "—";
    $("fact-uptime").textContent = fmtDuration(lastTime - num(st.started));
    const workers = Array.isArray(st.workers) ? st.workers.length : 0;
    $("fact-workers").textContent = `${workers} (pid ${st.pid})`;
    const listeners = (Array.isArray(st.listeners) ? st.listeners : [])
      .map((l) => `${l.address} (${l.kind})`)
      .join(", ");
    $("fact-listeners").textContent = listeners || "—";
    $("fact-listeners").title = listeners;
  }

  // Order: the apps' routes as /status lists them, then any others, the gateway's own
  // (health, no route) last.
  function routeOrder(keys) {
    const routes = lastStatus && Array.isArray(lastStatus.routes) ? lastStatus.routes : [];
    const listed = routes.map(routeKey);
    const rank = (key) => {
      const r = state.routes[key];
      const i = listed.indexOf(key);
      return [BUILTIN_APPS.has(r.app) ? 1 : 0, i < 0 ? listed.length : i];
    };
    return keys.sort((a, b) => {
      const [ba, ia] = rank(a);
      const [bb, ib] = rank(b);
      return ba - bb || ia - ib || a.localeCompare(b);
    });
  }

  function renderRoutes() {
    const body = $("routes").tBodies[0];
    const keys = routeOrder(Object.keys(state.routes));
    $("routes-empty").hidden = keys.length > 0;
    keys.forEach((key) => {
      let row = routeRows.get(key);
      if (!row) row = makeRouteRow(key);
      body.append(row.tr); // moves an existing row into sorted place; canvases keep content
      const r = state.routes[key];
      const errors = last(r.error_pct);
      row.cells.rps.textContent = fmt(last(r.requests_per_s));
      row.cells.p50.textContent = fmt(last(r.p50_ms));
      row.cells.p99.textContent = fmt(last(r.p99_ms));
      row.cells.err.textContent = fmt(errors);
      row.cells.err.classList.toggle("bad", errors > 0);
      row.cells.total.textContent = count(r.total);
      plot(row.spark, r.requests_per_s, { color: "#2563eb", floor: 1, axes: false });
    });
  }

  function makeRouteRow(key) {
    const r = state.routes[key];
    const tr = el("tr");
    tr.dataset.key = key;
    tr.dataset.app = r.app;
    tr.dataset.route = r.route;
    const builtin = BUILTIN_APPS.has(r.app);
    const app = el("td", "app" + (builtin ? " builtin" : ""), r.app);
    const route = el("td", "route" + (builtin ? " builtin" : ""),
                     r.route === "" ? "(no route)" : r.route);
    const cells = {};
    for (const name of ["rps", "p50", "p99", "err", "total"]) {
      cells[name] = el("td", `num ${name}`, "—");
    }
    const sparkCell = el("td", "spark-col");
    const spark = el("canvas", "spark");
    spark.dataset.points = "0";
    sparkCell.append(spark);
    tr.append(app, route, cells.rps, cells.p50, cells.p99, cells.err, cells.total, sparkCell);
    const row = { tr, cells, spark };
    routeRows.set(key, row);
    return row;
  }

  function renderWorkers() {
    const st = lastStatus;
    if (!st) return;
    const body = $("workers").tBodies[0];
    const rows = (Array.isArray(st.workers) ? st.workers : []).map((w) => {
      const tr = el("tr");
      tr.dataset.pid = String(w.pid);
      const state = String(w.state || "");
      const stateCell = el("td");
      stateCell.append(el("span", `state ${state}`, state));
      tr.append(
        el("td", "num pid", String(w.pid)),
        stateCell,
        el("td", "started", `${fmtDuration(lastTime - num(w.started))} ago`),
        el("td", "num", count(w.requests)),
        el("td", "num", (num(w.rss_bytes) / 1048576).toFixed(1)),
        el("td", "num", count(w.connections)),
      );
      return tr;
    });
    body.replaceChildren(...rows); // a few rows: rebuilding them is simpler than patching
  }

  function start() {
    buildCharts();
    // Redraw at once when the window is resized, not at the next poll.
    window.addEventListener("resize", () => {
      try { render(); } catch (err) { console.error("junction dashboard:", err); }
    });
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
