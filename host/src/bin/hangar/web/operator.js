"use strict";
// Hangar operator page: the apps, and the settings, logs, records and jobs of one.

const TOKEN_KEY = "hangar-operator-token";
const MAX_LOG_LINES = 500;
const op = { token: null, apps: [], selected: null, logSeq: null, logGen: 0, logTimer: null };

const $ = (id) => document.getElementById(id);
const asArray = (x) => (Array.isArray(x) ? x : []);
const str = (x) => (x === undefined || x === null ? "" : String(x));
const isObj = (x) => x !== null && typeof x === "object";
const enc = encodeURIComponent;

// Build an element: attrs (class, text, on<event>, anything else as attribute) and children.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

// A 401: the token form is already showing the error.
class AuthError extends Error {}

// Call the operator API with the bearer token; reject with the server's error.
async function opApi(method, path, body) {
  const headers = { Authorization: `Bearer ${op.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res, text, data = null;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    text = await res.text();
  } catch (e) {
    throw new Error(`Cannot reach the server (${e.message}); is \`hangar serve\` running?`);
  }
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  const msg = str((data && data.error) || `${method} ${path} failed: HTTP ${res.status}`);
  if (res.status === 401) {
    showTokenForm(msg);
    throw new AuthError(msg);
  }
  if (!res.ok) throw new Error(msg);
  return data;
}

// Show an error in #op-error (401s show the token form instead); no argument clears it.
function showError(e) {
  if (e instanceof AuthError) return;
  $("op-error").textContent = e ? e.message || String(e) : "";
  $("op-error").hidden = !e;
}

// ---------------------------------------------------------------- token

// Take `#token=...` from the URL into sessionStorage, and drop it from the URL.
function tokenFromHash() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    let t = m[1];
    try { t = decodeURIComponent(t); } catch { /* keep it raw */ }
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// Show the token form (with why), forgetting the token; `start` shows the page.
function showTokenForm(error) {
  stopLogs();
  op.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  toggleViews(false);
  $("token-error").textContent = error || "";
  $("token-input").focus();
}

function toggleViews(authed) {
  $("token-view").hidden = authed;
  $("op-main").hidden = !authed;
  $("forget-token").hidden = !authed;
}

function start(token) {
  op.token = token;
  toggleViews(true);
  loadApps();
}

// ---------------------------------------------------------------- apps

async function loadApps() {
  try {
    op.apps = asArray(await opApi("GET", "/api/operator/apps")).filter((a) => isObj(a) && a.id !== undefined);
    $("apps").tBodies[0].replaceChildren(...op.apps.map(appRow));
    if (!op.apps.length) $("apps").tBodies[0].append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "No apps installed." })));
  } catch (e) {
    showError(e);
  }
}

// Permissions, events and commands, one short line each.
const appUses = (a) => [["permissions", a.permissions], ["events", a.events], ["commands", a.commands]]
  .filter(([, list]) => asArray(list).length).map(([label, list]) => el("div", { text: `${label}: ${list.map(str).join(", ")}` }));

function appRow(a) {
  const enabled = a.status === "enabled";
  const toggle = el("button", { type: "button", class: `toggle ${enabled ? "danger" : "primary"}`, text: enabled ? "Disable" : "Enable" });
  toggle.addEventListener("click", () => toggleApp(a, enabled, toggle));
  return el("tr", { class: `app${a.id === op.selected ? " selected" : ""}`, "data-app-id": str(a.id) },
    el("td", {}, el("button", { type: "button", class: "app-name", text: str(a.name || a.id), onclick: () => selectApp(a.id) }),
      el("span", { class: "app-id", text: str(a.id) })),
    el("td", { text: str(a.version) }),
    el("td", { class: `status status-${str(a.status).toLowerCase().replace(/[^a-z-]/g, "")}`, text: str(a.status) }),
    el("td", { class: "why", text: str(a.status_reason) }),
    el("td", { class: "tags" }, appUses(a)),
    el("td", {}, toggle));
}

// Enable or disable an app, then show the list as it now is.
async function toggleApp(a, enabled, button) {
  button.disabled = true;
  try {
    await opApi("POST", `/api/operator/apps/${enc(a.id)}/${enabled ? "disable" : "enable"}`);
    showError(null);
  } catch (e) {
    showError(e);
    if (e instanceof AuthError) return;
  }
  await loadApps(); // its status may have changed either way
}

// Select an app: mark its row and load its panels.
function selectApp(id) {
  op.selected = id;
  for (const row of document.querySelectorAll("#apps .app")) row.classList.toggle("selected", row.dataset.appId === id);
  $("app-panels").hidden = false;
  $("selected-title").textContent = `App ${id}`;
  loadPanel("settings", "settings", renderSettings);
  loadPanel("records", "records", renderRecords);
  loadPanel("jobs", "jobs", renderJobs);
  startLogs();
}

// Load one panel of the selected app; errors show inline.
async function loadPanel(boxId, suffix, render) {
  const app = op.selected;
  if (app === null) return;
  try {
    const data = await opApi("GET", `/api/operator/apps/${enc(app)}/${suffix}`);
    if (app === op.selected) $(boxId).replaceChildren(render(asArray(data), app));
  } catch (e) {
    if (app === op.selected && !(e instanceof AuthError)) $(boxId).replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

// ---------------------------------------------------------------- settings

// Choices as [{value, label}], from strings, {key|value|id, label|text|...} objects or a {key: label} map.
function normChoices(raw) {
  if (isObj(raw) && !Array.isArray(raw)) return Object.entries(raw).map(([k, v]) => ({ value: k, label: str(v) }));
  return asArray(raw).map((c) => {
    if (!isObj(c)) return { value: str(c), label: str(c) };
    const value = str(c.key ?? c.value ?? c.id);
    return { value, label: str(c.label ?? c.text ?? c.i18nLabel ?? c.i18n_label ?? (c.key !== undefined ? c.value : null) ?? value) };
  });
}

// A select of `choices` (plus the current value(s) if missing) with `selected` chosen.
function selectInput(id, choices, selected, multiple) {
  const wanted = new Set(asArray(selected).map(str));
  const extra = [...wanted].filter((v) => v !== "" && !choices.some((c) => c.value === v)).map((v) => ({ value: v, label: v }));
  return el("select", { id, multiple }, [...choices, ...extra].map((c) => {
    const o = el("option", { value: c.value, text: c.label });
    o.selected = wanted.has(c.value);
    return o;
  }));
}

// An input element with its value set.
function valued(tag, attrs, value) {
  const node = el(tag, attrs);
  node.value = value;
  return node;
}

// A typed input for a setting, with a reader that returns its JSON value (or throws).
function settingInput(s, id) {
  const value = s.value ?? s.default;
  const type = str(s.type).toLowerCase();
  if (type === "bool" || type === "boolean") {
    const box = el("input", { id, type: "checkbox" });
    box.checked = value === true;
    return { node: box, read: () => box.checked };
  }
  if (type === "int" || type === "integer" || type === "number") {
    const num = valued("input", { id, type: "number", step: type === "number" ? "any" : "1" }, str(value));
    return { node: num, read: () => {
      const n = Number(num.value);
      if (num.value.trim() === "" || !(type === "number" ? Number.isFinite(n) : Number.isInteger(n))) throw new Error("Enter a whole number.");
      return n;
    } };
  }
  const choices = normChoices(s.choices ?? s.values);
  if (type === "select") {
    const sel = selectInput(id, choices, [value], false);
    return { node: sel, read: () => sel.value };
  }
  if (type === "multi-select" || type === "multiselect") {
    const sel = selectInput(id, choices, value, true);
    return { node: sel, read: () => [...sel.selectedOptions].map((o) => o.value) };
  }
  if (type === "string" || type === "text") {
    const text = valued("input", { id, type: "text" }, str(value));
    return { node: text, read: () => text.value };
  }
  const area = valued("textarea", { id, rows: "3" }, JSON.stringify(value ?? null, null, 2)); // unknown types: JSON
  return { node: area, read: () => {
    try { return JSON.parse(area.value); } catch (e) { throw new Error(`Enter valid JSON (${e.message}).`); }
  } };
}

// Save one setting; errors show next to its input.
async function saveSetting(app, s, input, slot, button) {
  slot.textContent = "";
  slot.classList.remove("ok");
  button.disabled = true;
  try {
    const r = await opApi("PUT", `/api/operator/apps/${enc(app)}/settings/${enc(s.id)}`, { value: input.read() });
    if (r && r.ok === false) throw new Error(str(r.error) || "The setting was not saved.");
    slot.textContent = "Saved.";
    slot.classList.add("ok");
  } catch (e) {
    if (!(e instanceof AuthError)) slot.textContent = e.message;
  }
  button.disabled = false;
}

function settingRow(app, s) {
  const id = `setting-${str(s.id).replace(/[^\w-]/g, "_")}`;
  const input = settingInput(s, id);
  const slot = el("div", { class: "setting-error", "data-setting": str(s.id), role: "alert" });
  const save = el("button", { type: "button", class: "save primary", "data-setting": str(s.id), text: "Save" });
  save.addEventListener("click", () => saveSetting(app, s, input, slot, save));
  const hint = [s.description, s.required && "required", `type ${str(s.type)}`, `default ${JSON.stringify(s.default ?? null)}`];
  return el("div", { class: "setting", "data-setting-id": str(s.id) },
    el("label", { for: id, text: str(s.label || s.id) }), input.node, save,
    el("div", { class: "setting-hint", text: hint.filter(Boolean).join(" · ") }), slot);
}

function renderSettings(list, app) {
  const rows = list.filter((s) => isObj(s) && s.id !== undefined);
  return rows.length ? el("div", {}, rows.map((s) => settingRow(app, s))) : el("p", { class: "muted", text: "This app has no settings." });
}

// ---------------------------------------------------------------- logs

function stopLogs() {
  op.logGen++;
  clearTimeout(op.logTimer);
}

function startLogs() {
  stopLogs();
  op.logSeq = null;
  $("logs").replaceChildren();
  pollLogs(op.logGen, op.selected);
}

const logTime = (t) => (typeof t === "number" ? new Date(t > 1e11 ? t : t * 1000).toLocaleTimeString() : str(t));

// Append new lines (keeping the last MAX_LOG_LINES), following the bottom.
function appendLogs(lines) {
  const box = $("logs");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
  for (const l of lines.filter(isObj)) {
    const seq = Number(l.seq);
    if (op.logSeq !== null && !(seq > op.logSeq)) continue;
    if (Number.isFinite(seq)) op.logSeq = seq;
    const level = str(l.level).toLowerCase().replace(/[^a-z]/g, "") || "info";
    box.append(el("div", { class: `log-line level-${level}`, "data-seq": str(l.seq) },
      el("span", { class: "log-time", text: `${logTime(l.time)} ` }), el("span", { class: "log-level", text: `${level.toUpperCase()} ` }),
      l.source ? el("span", { class: "log-source", text: `[${str(l.source)}] ` }) : null, el("span", { class: "log-message", text: str(l.message) })));
  }
  while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// Poll every second for lines after the last seq, until stopped.
async function pollLogs(gen, app) {
  try {
    const lines = await opApi("GET", `/api/operator/apps/${enc(app)}/logs?after=${op.logSeq ?? 0}`);
    if (gen === op.logGen) appendLogs(asArray(lines));
  } catch (e) {
    if (e instanceof AuthError || gen !== op.logGen) return;
    showError(new Error(`Logs: ${e.message}`));
  }
  if (gen === op.logGen) op.logTimer = setTimeout(() => pollLogs(gen, app), 1000);
}

// ---------------------------------------------------------------- records & jobs

const pretty = (v) => el("pre", { class: "json", text: JSON.stringify(v, null, 2) ?? "null" });
const table = (cls, heads, rows) => el("table", { class: cls },
  el("thead", {}, el("tr", {}, heads.map((h) => el("th", { text: h })))), el("tbody", {}, rows));

// Record data may arrive as a string of JSON.
function recordData(d) {
  try { return typeof d === "string" ? JSON.parse(d) : d; } catch { return d; }
}

function renderRecords(list) {
  const records = list.filter(isObj);
  if (!records.length) return el("p", { class: "muted", text: "No records." });
  return table("records-table", ["ID", "Data", "Associations"], records.map((r) => el("tr", { class: "record", "data-record-id": str(r.id) },
    el("td", { text: str(r.id) }), el("td", {}, pretty(recordData(r.data))),
    el("td", {}, asArray(r.associations).map((a) => el("div", { text: isObj(a) ? `${str(a.model)}: ${str(a.id)}` : str(a) }))))));
}

// A job field for display: timestamps as dates, objects as JSON.
function jobCell(key, v) {
  if (typeof v === "number" && v > 1e11 && /due|time|at$|created|updated/.test(key)) return new Date(v).toLocaleString();
  return isObj(v) ? JSON.stringify(v) : str(v);
}

// Generic rows: the usual job fields first, then whatever else the jobs carry.
function renderJobs(list) {
  const jobs = list.filter(isObj);
  if (!jobs.length) return el("p", { class: "muted", text: "No jobs." });
  const preferred = ["id", "processor", "status", "due", "attempts", "error"];
  const seen = new Set(jobs.flatMap((j) => Object.keys(j)));
  const keys = [...preferred.filter((k) => seen.has(k)), ...[...seen].filter((k) => !preferred.includes(k))];
  return table("jobs-table", keys, jobs.map((j) => el("tr", { class: "job", "data-job-id": str(j.id) }, keys.map((k) =>
    el("td", { class: `job-${k.replace(/[^\w-]/g, "")}`, title: j[k] === undefined ? null : JSON.stringify(j[k]), text: jobCell(k, j[k]) })))));
}

// ---------------------------------------------------------------- boot

function wire() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return void ($("token-error").textContent = "Enter the operator token.");
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    start(token);
  });
  $("forget-token").addEventListener("click", () => showTokenForm(""));
  $("apps-refresh").addEventListener("click", () => { showError(null); loadApps(); });
  $("records-refresh").addEventListener("click", () => loadPanel("records", "records", renderRecords));
  $("jobs-refresh").addEventListener("click", () => loadPanel("jobs", "jobs", renderJobs));
  window.addEventListener("hashchange", () => { if (/token=/.test(location.hash)) start(tokenFromHash()); });
}

function boot() {
  wire();
  const token = tokenFromHash();
  if (token) start(token);
  else showTokenForm("");
}

window.addEventListener("unhandledrejection", (ev) => showError(ev.reason || new Error("unexpected error")));
document.addEventListener("DOMContentLoaded", boot);
