// The leaderboard page: plain JavaScript and SVG, no library, no build step. It reads the REST API
// (the same auth: a bearer token kept in this tab's sessionStorage).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 5000;
const SERIES_HOURS = 6;
const form = document.getElementById("controls");
const state = { finest: null, timer: null, shown: null, shownEnd: null };

function el(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function status(text, error = false) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

async function api(path, params = {}) {
  const token = form.token.value || sessionStorage.getItem("topk-token") || "";
  const tenant = form.tenant.value.trim();  // empty: the token's tenant (an admin's: default)
  const query = new URLSearchParams(tenant ? { ...params, tenant } : params).toString();
  const response = await fetch(path + (query ? "?" + query : ""), {
    headers: token ? { Authorization: "Bearer " + token } : {},
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${response.status}: ${body.detail || response.statusText}`);
  return body;
}

function utcMs(local) {  // a datetime-local value, read as UTC
  return local ? String(Date.parse(local + "Z")) : "";
}

function selection() {
  return {
    view: form.view.value, window: form.window.value, dimension: form.dimension.value || "all",
    value: form.value.value || "all", k: form.k.value || "10", start: utcMs(form.start.value),
    end: utcMs(form.end.value), last: form.last.value.trim(), baseline: form.baseline.value || "6",
    share: form.share.value || "1", minCount: form.min_count.value || "10",
  };
}

const changeCells = (r) =>
  [r.rank, r.item, r.change, `[${r.change_lower_bound}, ${r.change_upper_bound}]`, r.count, r.baseline];

// What each view asks and shows: its request, its table's columns, and each row as a bar with bounds.
const VIEWS = {
  top: {
    columns: ["#", "item", "count", "bounds", "guaranteed"],
    cells: (r) => [r.rank, r.item, r.count, `[${r.lower_bound}, ${r.upper_bound}]`],
    bar: (r) => [r.count, r.lower_bound, r.upper_bound],
  },
  trend: {
    columns: ["#", "item", "change", "change bounds", "count", "baseline mean", "guaranteed"],
    cells: changeCells,
    bar: (r) => [r.change, Math.max(0, r.change_lower_bound), r.change_upper_bound],
  },
  growing: {
    columns: ["#", "item", "growth ×", "growth bounds", "count", "baseline mean", "guaranteed"],
    cells: changeCells,
    bar: (r) => [r.change, r.change_lower_bound, r.change_upper_bound],
  },
  frequent: {
    columns: ["#", "item", "count", "bounds", "certainly above"],
    cells: (r) => [r.rank, r.item, r.count, `[${r.lower_bound}, ${r.upper_bound}]`],
    bar: (r) => [r.count, r.lower_bound, r.upper_bound],
  },
};

function range(q) {  // From/To, else Last, else (for views over a range) the chosen window's length
  if (q.start && q.end) return { start: q.start, end: q.end };
  if (q.last) return { last: q.last };
  return q.view === "top" ? null : { last: q.window === "all" ? "1h" : q.window };
}

async function ask(q) {
  const base = { dimension: q.dimension, value: q.value }, span = range(q);
  if (q.view === "rising" || q.view === "falling") {
    return api("/api/v1/trending", { ...base, ...span, k: q.k, baseline: q.baseline, direction: q.view });
  }
  if (q.view === "growing") {
    return api("/api/v1/trending", { ...base, ...span, k: q.k, baseline: q.baseline, min_count: q.minCount });
  }
  if (q.view === "frequent") return api("/api/v1/frequent", { ...base, ...span, phi: String(Number(q.share) / 100) });
  return span ? api("/api/v1/topk/historical", { ...base, ...span, k: q.k })
              : api("/api/v1/topk", { ...base, k: q.k, window: q.window });
}

async function show() {
  const q = selection();
  alerts();
  try {
    render(await ask(q), q);
    status("updated " + new Date().toISOString().slice(11, 19) + " UTC");
  } catch (err) {
    status(err.message, true);
    render(null, q);
  }
}

// The tenant's latest data alerts: items certainly above its share of a window's events.
async function alerts() {
  const meta = document.getElementById("alerts-meta"), tbody = document.querySelector("#alerts-table tbody");
  try {
    const body = await api("/api/v1/alerts", { limit: "50" });
    const pct = (x) => `${Number((x * 100).toPrecision(4))}%`;
    tbody.replaceChildren(...body.alerts.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.item = a.item;
      const cells = [a.window, a.start.slice(0, 16).replace("T", " "), `${a.dimension} = ${a.value}`, a.item,
                     `[${a.lowerBound}, ${a.upperBound}] of ${a.totalEvents}`,
                     `${pct(a.lowerBound / a.totalEvents)} to ${pct(a.upperBound / a.totalEvents)}`, `> ${pct(a.phi)}`];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));
    if (!body.feed) {
      meta.textContent = "no alerts topic configured on this API (--alerts-topic)";
      return;
    }
    const lag = body.feed.caughtUp ? "" : " · still reading the alerts topic";
    meta.textContent = `${body.alerts.length} latest alert(s) of tenant ${body.tenant}${lag}` +
      (body.feed.error ? ` · reader: ${body.feed.error}` : "");
  } catch (err) {
    tbody.replaceChildren();
    meta.textContent = err.message;
  }
}

function describe(m, q) {
  const fresh = m.freshness && m.freshness.counted_through ? ` · counted through ${m.freshness.counted_through}` : "";
  const span = `${q.dimension}=${q.value} · ${m.window ? m.window + " window " : ""}[${m.start}, ${m.end}) · ` +
    `${m.total_events} events`;
  if (m.measure === "growth") {
    return `${span} · grew against the mean of ${m.baseline.periods} range(s) from ${m.baseline.start}, ` +
      `among items counted ${m.min_count}+ times · any item not listed grew at most ×${m.unlisted_bound} · ` +
      `${m.guaranteed} guaranteed${fresh}`;
  }
  if (m.baseline) {
    return `${span} · ${m.direction} against the mean of ${m.baseline.periods} range(s) from ${m.baseline.start} · ` +
      `any item not listed changed by at most ${m.unlisted_bound} · ${m.guaranteed} guaranteed${fresh}`;
  }
  if (m.threshold !== undefined) {
    return `${span} · threshold ${m.threshold} (${Number((m.phi * 100).toPrecision(6))}%) · ` +
      `${m.complete ? "complete: no item above it is missing" : "may miss items (share below 1/capacity)"}${fresh}`;
  }
  return `${span} · every count within +${m.error_bound} · ${m.guaranteed} guaranteed · ` +
    `${m.windows_merged} window(s) merged${fresh}`;
}

function render(body, q) {
  const view = VIEWS[q.view === "rising" || q.view === "falling" ? "trend" : q.view];
  const rows = body ? body.results : [];
  const m = body ? body.metadata : null;
  document.getElementById("meta").textContent = m ? describe(m, q) : "";
  document.getElementById("answer").dataset.windowStart = m ? m.start : "";
  state.shownEnd = m ? Date.parse(m.end) : null;  // an item's history ends where the answer does
  document.getElementById("answer").dataset.view = q.view;
  document.querySelector("#table thead tr").replaceChildren(...view.columns.map((c) => {
    const th = document.createElement("th");
    th.textContent = c;
    return th;
  }));
  const tbody = document.querySelector("#table tbody");
  tbody.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.item = r.item;
    tr.className = r.guaranteed ? "sure" : "";
    for (const text of [...view.cells(r), r.guaranteed ? "\u2605" : ""]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => detail(r.item, q));
    return tr;
  }));
  bars(rows.map((r) => ({ item: r.item, guaranteed: r.guaranteed, bar: view.bar(r) })), q);
}

function bars(rows, q) {  // each row: item, guaranteed, bar: [value, lower, upper]
  const chart = document.getElementById("chart");
  const rowH = 22, labelW = 190, width = 720, plotW = width - labelW - 20;
  chart.setAttribute("viewBox", `0 0 ${width} ${Math.max(rowH * rows.length, rowH) + 4}`);
  const max = Math.max(1, ...rows.map((r) => r.bar[2]));
  const x = (v) => labelW + (Math.max(0, v) / max) * plotW;
  chart.replaceChildren(...rows.flatMap((r, i) => {
    const [value, lower, upper] = r.bar, y = i * rowH + 2, mid = y + rowH / 2 - 1;
    const bar = el("rect", { x: labelW, y: y + 3, width: x(value) - labelW, height: rowH - 8,
                             class: r.guaranteed ? "bar sure" : "bar", "data-item": r.item });
    bar.append(el("title", {}, `${r.item}: ${value}, true value in [${lower}, ${upper}]`));
    bar.addEventListener("click", () => detail(r.item, q));
    return [
      el("text", { x: labelW - 6, y: mid + 4, class: "label" }, (r.guaranteed ? "\u2605 " : "") + r.item),
      bar,
      el("line", { x1: x(lower), x2: x(upper), y1: mid, y2: mid, class: "whisker" }),
      el("line", { x1: x(lower), x2: x(lower), y1: mid - 5, y2: mid + 5, class: "whisker" }),
      el("line", { x1: x(upper), x2: x(upper), y1: mid - 5, y2: mid + 5, class: "whisker" }),
    ];
  }));
}

async function detail(item, q) {
  const end = q.end ? Number(q.end) : state.shownEnd || Date.now();
  const params = { window: state.finest, dimension: q.dimension, value: q.value,
                   start: String(end - SERIES_HOURS * 3600000), end: String(end) };
  const section = document.getElementById("detail");
  section.hidden = false;
  document.getElementById("detail-title").textContent = `${item}: count per ${state.finest} window, last ${SERIES_HOURS} h`;
  try {
    const body = await api("/api/v1/series", { ...params, item });  // any item: a path cannot hold . or ..
    series(body.points);
    document.getElementById("detail-meta").textContent =
      `${body.points.length} stored window(s) · total estimate ${body.points.reduce((s, p) => s + p.count, 0)}`;
  } catch (err) {
    series([]);
    document.getElementById("detail-meta").textContent = err.message;
  }
}

function series(points) {
  const chart = document.getElementById("series");
  const width = 720, height = 200, left = 50, bottom = 24, n = Math.max(points.length, 1);
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const max = Math.max(1, ...points.map((p) => p.upper_bound));
  const w = (width - left - 10) / n, y = (v) => height - bottom - (v / max) * (height - bottom - 10);
  const nodes = [el("text", { x: left - 6, y: y(max) + 4, class: "label" }, String(max)),
                 el("text", { x: left - 6, y: y(0), class: "label" }, "0")];
  points.forEach((p, i) => {
    const x0 = left + i * w, mid = x0 + w / 2;
    const bar = el("rect", { x: x0 + w * 0.1, y: y(p.count), width: w * 0.8, height: y(0) - y(p.count), class: "bar",
                             "data-start": p.window_start });
    bar.append(el("title", {}, `${p.window_start}: ${p.count}, true count in [${p.lower_bound}, ${p.upper_bound}]`));
    nodes.push(bar, el("line", { x1: mid, x2: mid, y1: y(p.lower_bound), y2: y(p.upper_bound), class: "whisker" }));
    if (i % Math.ceil(n / 6) === 0) {
      nodes.push(el("text", { x: mid, y: height - 6, class: "tick" }, p.window_start.slice(11, 16)));
    }
  });
  chart.replaceChildren(...nodes);
}

function live() {
  clearInterval(state.timer);
  if (form.live.checked) state.timer = setInterval(show, REFRESH_MS);
}

async function init() {
  form.token.value = sessionStorage.getItem("topk-token") || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("topk-token", form.token.value);
    init_windows().then(show);
  });
  form.live.addEventListener("change", live);
  for (const name of ["view", "window", "dimension", "value", "k", "start", "end", "last", "baseline", "min_count", "share", "tenant"]) {
    form[name].addEventListener("change", show);
  }
  await init_windows();
  await show();
  live();
}

async function init_windows() {
  try {
    const body = await api("/api/v1/windows");
    const chosen = form.window.value;
    form.window.replaceChildren(...body.windows.map((w) => new Option(w.label, w.label)));
    form.window.value = body.windows.some((w) => w.label === chosen) ? chosen : body.windows[0].label;
    form.k.max = body.max_k;
    state.finest = body.windows.find((w) => w.size_ms > 0).label;
  } catch (err) {
    status(err.message, true);
  }
}

init();
