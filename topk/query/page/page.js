// The leaderboard page: plain JavaScript and SVG, no library, no build step. It reads the REST API
// (the same auth: a bearer token kept in this tab's sessionStorage).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 5000;
const SERIES_HOURS = 6;
const form = document.getElementById("controls");
const state = { finest: null, timer: null, shown: null };

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
    window: form.window.value, dimension: form.dimension.value || "all", value: form.value.value || "all",
    k: form.k.value || "10", start: utcMs(form.start.value), end: utcMs(form.end.value),
  };
}

async function show() {
  const q = selection();
  const base = { k: q.k, dimension: q.dimension, value: q.value };
  try {
    const body = q.start && q.end
      ? await api("/api/v1/topk/historical", { ...base, start: q.start, end: q.end })
      : await api("/api/v1/topk", { ...base, window: q.window });
    render(body, q);
    status("updated " + new Date().toISOString().slice(11, 19) + " UTC");
  } catch (err) {
    status(err.message, true);
    render(null, q);
  }
}

function render(body, q) {
  const rows = body ? body.results : [];
  const m = body ? body.metadata : null;
  document.getElementById("meta").textContent = m
    ? `${q.dimension}=${q.value} · ${m.window ? m.window + " window " : ""}[${m.start}, ${m.end}) · ` +
      `${m.total_events} events · every count within +${m.error_bound} · ${m.guaranteed} guaranteed · ` +
      `${m.windows_merged} window(s) merged`
    : "";
  document.getElementById("answer").dataset.windowStart = m ? m.start : "";
  const tbody = document.querySelector("#table tbody");
  tbody.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.item = r.item;
    tr.className = r.guaranteed ? "sure" : "";
    for (const text of [r.rank, r.item, r.count, `[${r.lower_bound}, ${r.upper_bound}]`, r.guaranteed ? "\u2605" : ""]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => detail(r.item, q));
    return tr;
  }));
  bars(rows, q);
}

function bars(rows, q) {
  const chart = document.getElementById("chart");
  const rowH = 22, labelW = 190, width = 720, plotW = width - labelW - 20;
  chart.setAttribute("viewBox", `0 0 ${width} ${Math.max(rowH * rows.length, rowH) + 4}`);
  const max = Math.max(1, ...rows.map((r) => r.upper_bound));
  const x = (v) => labelW + (v / max) * plotW;
  chart.replaceChildren(...rows.flatMap((r, i) => {
    const y = i * rowH + 2, mid = y + rowH / 2 - 1;
    const bar = el("rect", { x: labelW, y: y + 3, width: x(r.count) - labelW, height: rowH - 8,
                             class: r.guaranteed ? "bar sure" : "bar", "data-item": r.item });
    bar.append(el("title", {}, `${r.item}: ${r.count}, true count in [${r.lower_bound}, ${r.upper_bound}]`));
    bar.addEventListener("click", () => detail(r.item, q));
    return [
      el("text", { x: labelW - 6, y: mid + 4, class: "label" }, (r.guaranteed ? "\u2605 " : "") + r.item),
      bar,
      el("line", { x1: x(r.lower_bound), x2: x(r.upper_bound), y1: mid, y2: mid, class: "whisker" }),
      el("line", { x1: x(r.lower_bound), x2: x(r.lower_bound), y1: mid - 5, y2: mid + 5, class: "whisker" }),
      el("line", { x1: x(r.upper_bound), x2: x(r.upper_bound), y1: mid - 5, y2: mid + 5, class: "whisker" }),
    ];
  }));
}

async function detail(item, q) {
  const end = q.end ? Number(q.end) : Date.now();
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
  for (const name of ["window", "dimension", "value", "k", "start", "end", "tenant"]) {
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
