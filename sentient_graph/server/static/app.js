// The sentient-graph dashboard: plain JS, no build step, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  token: localStorage.getItem("sentient-token") || "",
  graphs: {},          // name -> {name, ref, nodes, edges}
  thread: null,        // selected thread id
  graphName: null,     // graph drawn for it
  source: null,        // EventSource of the selected thread
  events: [],          // events of the selected thread
  lit: [],             // nodes in the order they first lit up (the browser test reads it)
};
window.__sentient = state;

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    const token = prompt("This server needs a token:");
    if (token) { state.token = token; localStorage.setItem("sentient-token", token); return api(method, path, body); }
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error((data && data.error && data.error.message) || res.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = attrs.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== "svg") node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// -- graphs -------------------------------------------------------------------
async function loadGraphs() {
  const graphs = await api("GET", "/graphs");
  const select = $("#graph");
  select.innerHTML = "";
  for (const g of graphs) { state.graphs[g.name] = g; select.append(el("option", { value: g.name }, g.name)); }
}

function graphForRef(ref) {
  for (const g of Object.values(state.graphs)) if (g.ref === ref) return g.name;
  return null;
}

function layout(graph) {
  // Layers by longest path from __start__, ignoring edges that go back (cycles).
  const depth = { __start__: 0 };
  const order = [];
  const visit = (node, seen) => {
    for (const e of graph.edges.filter((x) => x.source === node)) {
      if (seen.has(e.target)) continue;
      const d = depth[node] + 1;
      if (depth[e.target] === undefined || depth[e.target] < d) { depth[e.target] = d; visit(e.target, new Set([...seen, e.target])); }
    }
  };
  visit("__start__", new Set(["__start__"]));
  for (const n of graph.nodes) if (depth[n] === undefined) depth[n] = 1;
  const layers = {};
  for (const n of graph.nodes) (layers[depth[n]] = layers[depth[n]] || []).push(n);
  const pos = {};
  const maxDepth = Math.max(...Object.keys(layers).map(Number));
  for (const [d, nodes] of Object.entries(layers)) {
    nodes.forEach((n, i) => { pos[n] = { x: 70 + (Number(d) * 620) / Math.max(1, maxDepth), y: ((i + 1) * 300) / (nodes.length + 1) }; order.push(n); });
  }
  return pos;
}

function drawGraph(name) {
  const svg = $("#graph-view");
  svg.innerHTML = "";
  state.graphName = name;
  const graph = state.graphs[name];
  if (!graph) return;
  svg.setAttribute("viewBox", "0 0 760 320");
  const defs = el("defs", { svg: true });
  const marker = el("marker", { svg: true, id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(el("path", { svg: true, d: "M 0 0 L 10 5 L 0 10 z", fill: "#9aa3b5" }));
  defs.append(marker); svg.append(defs);
  const pos = layout(graph);
  for (const e of graph.edges) {
    const a = pos[e.source], b = pos[e.target];
    if (!a || !b) continue;
    const back = b.x <= a.x;
    const d = back ? `M ${a.x} ${a.y + 16} C ${a.x} ${a.y + 70}, ${b.x} ${b.y + 70}, ${b.x} ${b.y + 16}` : `M ${a.x + 48} ${a.y} L ${b.x - 48} ${b.y}`;
    svg.append(el("path", { svg: true, d, class: "edge" + (e.conditional ? " conditional" : "") }));
  }
  for (const n of graph.nodes) {
    const p = pos[n];
    const g = el("g", { svg: true, class: "node", "data-node": n, id: "node-" + n, transform: `translate(${p.x - 48}, ${p.y - 16})` });
    g.append(el("rect", { svg: true, width: "96", height: "32" }));
    const label = el("text", { svg: true, x: "48", y: "16" });
    label.textContent = n.replace(/^__(.*)__$/, "$1");
    g.append(label);
    svg.append(g);
  }
}

function light(node, cls) {
  const g = document.getElementById("node-" + node);
  if (!g) return;
  g.classList.remove("running", "done", "waiting", "failed");
  g.classList.add(cls);
  if (cls === "running" && !state.lit.includes(node)) state.lit.push(node);
}

// -- events -------------------------------------------------------------------
function onEvent(ev) {
  state.events.push(ev);
  if (![...$("#f-type").options].some((o) => o.value === ev.type)) $("#f-type").append(el("option", { value: ev.type }, ev.type));
  switch (ev.type) {
    case "run_started": light("__start__", "done"); break;
    case "node_started": light(ev.source, "running"); break;
    case "node_completed": light(ev.source, "done"); break;
    case "node_failed": light(ev.source, "failed"); break;
    case "interrupted": if (ev.source) light(ev.source, "waiting"); refreshThread(); break;
    case "run_completed": light("__end__", "done"); refreshThread(); loadHealth(); break;
    case "run_failed": case "run_cancelled": refreshThread(); break;
  }
  if (matches(ev)) $("#events").prepend(eventItem(ev));
}

function matches(ev) {
  const t = $("#f-type").value, n = $("#f-node").value.trim(), p = $("#f-priority").value;
  const rank = { low: 0, normal: 1, high: 2, critical: 3 };
  return (!t || ev.type === t) && (!n || (ev.source || "").includes(n)) && (!p || rank[ev.priority] >= rank[p]);
}

function eventItem(ev) {
  const time = new Date(ev.timestamp).toLocaleTimeString();
  return el("li", { class: "prio-" + ev.priority, "data-type": ev.type },
    el("span", { class: "seq" }, String(ev.seq)), el("span", { class: "type" }, ev.type), " ",
    ev.source || "", " ", el("small", {}, time));
}

function rerenderEvents() {
  const list = $("#events");
  list.innerHTML = "";
  for (const ev of state.events) if (matches(ev)) list.prepend(eventItem(ev));
}

function follow(threadId) {
  if (state.source) state.source.close();
  state.events = []; state.lit = []; $("#events").innerHTML = "";
  const q = new URLSearchParams({ follow: "true" });
  if (state.token) q.set("access_token", state.token);
  // EventSource reconnects by itself with Last-Event-ID; the server resumes right after it.
  const source = new EventSource(`/threads/${encodeURIComponent(threadId)}/events?${q}`);
  source.onmessage = (m) => onEvent(JSON.parse(m.data));
  for (const t of ["run_started", "node_started", "node_progress", "node_completed", "node_failed", "node_retried", "interrupted", "checkpoint_saved", "run_completed", "run_failed", "run_cancelled", "custom"])
    source.addEventListener(t, (m) => onEvent(JSON.parse(m.data)));
  state.source = source;
}

// -- threads --------------------------------------------------------------------
async function loadThreads() {
  const status = $("#status-filter").value;
  const threads = await api("GET", "/threads" + (status ? "?status=" + status : ""));
  const body = $("#threads tbody");
  body.innerHTML = "";
  for (const t of threads.slice(0, 200)) {
    const row = el("tr", { class: "thread" + (t.thread_id === state.thread ? " selected" : ""), "data-thread": t.thread_id },
      el("td", {}, t.thread_id), el("td", { class: "st st-" + t.status }, t.status + (t.stale ? " (stale)" : "")),
      el("td", {}, t.updated_at ? new Date(t.updated_at * 1000).toLocaleTimeString() : ""));
    row.onclick = () => select(t.thread_id);
    body.append(row);
  }
}

async function select(threadId) {
  state.thread = threadId;
  $("#selected").textContent = threadId;
  const info = await api("GET", `/threads/${encodeURIComponent(threadId)}`).catch(() => null);
  drawGraph((info && graphForRef(info.record.graph)) || $("#graph").value);
  follow(threadId);
  await refreshThread();
  loadThreads().catch(() => {});
}

async function refreshThread() {
  if (!state.thread) return;
  const tid = encodeURIComponent(state.thread);
  let info;
  try { info = await api("GET", `/threads/${tid}`); } catch (e) { $("#action-error").textContent = e.message; return; }
  const status = info.record.status;
  $("#run-status").textContent = status;
  $("#run-status").className = "status st-" + status;
  $("#resume").disabled = !["failed", "cancelled", "lost", "pending"].includes(status);
  $("#cancel").disabled = ["completed", "cancelled"].includes(status);
  const pending = info.state.interrupts || [];
  $("#interrupt").hidden = !(status === "interrupted" && pending.length);
  if (pending.length) $("#interrupt-value").textContent = JSON.stringify(pending[0].value, null, 2);
  const history = await api("GET", `/threads/${tid}/history?limit=50`).catch(() => []);
  const list = $("#history");
  list.innerHTML = "";
  for (const h of history) {
    const fork = el("button", { type: "button", class: "fork" }, "Fork");
    fork.onclick = async () => {
      try { const r = await api("POST", `/threads/${tid}/fork`, { checkpoint_id: h.checkpoint_id }); await select(r.thread_id); }
      catch (e) { $("#action-error").textContent = e.message; }
    };
    list.append(el("li", {}, el("span", {}, `step ${h.step} · ${h.source || ""} · next: ${(h.next || []).join(", ") || "-"}`), fork));
  }
}

// -- health and metrics -----------------------------------------------------
async function loadHealth() {
  try {
    const res = await fetch("/health");
    const h = await res.json();
    $("#health").textContent = "health " + h.status + (h.store && h.store.rtt_ms !== null ? ` · store ${h.store.rtt_ms} ms` : "");
    $("#health").className = "badge " + h.status;
    const metrics = await fetch("/metrics", { headers: state.token ? { Authorization: "Bearer " + state.token } : {} }).then((r) => r.text());
    const sum = (name) => metrics.split("\n").filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(" ").pop()), 0);
    $("#stats").textContent = `active runs ${h.active_runs} · subscribers ${h.subscribers} · events ${sum("sentient_events_total")} · failures ${sum("sentient_node_failures_total")} · retries ${sum("sentient_node_retries_total")}`;
  } catch (e) { $("#health").textContent = "health unknown"; $("#health").className = "badge degraded"; }
}

// -- actions ------------------------------------------------------------------
$("#start-form").onsubmit = async (e) => {
  e.preventDefault();
  $("#start-error").textContent = "";
  let input;
  try { input = JSON.parse($("#input").value || "null"); } catch (err) { $("#start-error").textContent = "input: not JSON"; return; }
  const body = { graph: $("#graph").value, input };
  if ($("#thread-id").value.trim()) body.thread_id = $("#thread-id").value.trim();
  try {
    drawGraph(body.graph);
    const run = await api("POST", "/runs", body);
    state.thread = run.thread_id;
    $("#selected").textContent = run.thread_id;
    follow(run.thread_id);
    await refreshThread();
    loadThreads().catch(() => {});
  } catch (err) { $("#start-error").textContent = err.message; }
};

$("#send-answer").onclick = async () => {
  const raw = $("#answer").value.trim();
  let value;
  try { value = JSON.parse(raw); } catch (err) { value = raw; }
  try {
    $("#interrupt").hidden = true;
    await api("POST", `/threads/${encodeURIComponent(state.thread)}/resume`, { value });
    await refreshThread();
  } catch (err) { $("#action-error").textContent = err.message; }
};
$("#resume").onclick = async () => {
  try { await api("POST", `/threads/${encodeURIComponent(state.thread)}/resume`, {}); await refreshThread(); }
  catch (err) { $("#action-error").textContent = err.message; }
};
$("#cancel").onclick = async () => {
  try { await api("POST", `/threads/${encodeURIComponent(state.thread)}/cancel`); await refreshThread(); }
  catch (err) { $("#action-error").textContent = err.message; }
};
for (const id of ["#f-type", "#f-node", "#f-priority"]) $(id).oninput = rerenderEvents;
$("#status-filter").onchange = () => loadThreads();

loadGraphs().then(() => drawGraph($("#graph").value)).catch((e) => { $("#start-error").textContent = e.message; });
loadThreads().catch(() => {});
loadHealth();
setInterval(() => loadThreads().catch(() => {}), 2000);
setInterval(loadHealth, 3000);
