"use strict";
// Hangar reference web chat: rooms, messages, rich blocks, app views and
// action buttons, all over the JSON API of `hangar serve`.

const state = {
  user: null, room: null, rooms: [], buttons: [], // who, where, and what the apps offer
  thread: null, // thread root the composer replies in
  latestSeq: 0, refreshing: false, dirty: false, // refresh serialisation
  sending: false, stream: null,
  roomsKey: "", buttonsKey: "", // signatures of what is rendered
  messageCache: new Map(), // message id -> {key, node}
  viewJson: { modal: null, bar: null }, // JSON of each rendered view
  dismissed: new Map(), // view id -> JSON hidden locally (closed or submitted)
  viewErrors: new Map(), // view id -> last field errors
  preview: { timer: null, seq: 0 }, // debounce timer and request counter
};

const $ = (id) => document.getElementById(id);
const asArray = (x) => (Array.isArray(x) ? x : []);
const str = (x) => (x === undefined || x === null ? "" : String(x));
const isObj = (x) => x !== null && typeof x === "object";
let uid = 0; // counter for generated element ids

// ---------------------------------------------------------------- helpers

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

// Call the API; resolve to parsed JSON, reject with the server's error message.
async function api(method, path, body) {
  const json = { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let res, text, data = null;
  try {
    res = await fetch(path, { method, ...(body === undefined ? {} : json) });
    text = await res.text();
  } catch (e) {
    throw new Error(`Cannot reach the server (${e.message}); is \`hangar serve\` running?`);
  }
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (res.ok) return data;
  throw Object.assign(new Error(str((data && data.error) || `${method} ${path} failed: HTTP ${res.status}`)), { status: res.status });
}
const get = (path) => api("GET", path);
const post = (path, body) => api("POST", path, body);

// Show a transient message in #toast.
let toastTimer = null;
function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
}

// Run an async action, turning any failure into a toast.
async function guard(fn) {
  try { return await fn(); } catch (e) { toast(e && e.message ? e.message : String(e)); return undefined; }
}

// POST an interaction; an `{ok:false,error}` answer is a toast too.
const interact = (body) => guard(async () => {
  const r = await post("/api/interact", body);
  if (r && r.ok === false && r.error) toast(str(r.error));
  requestRefresh();
});

// Only absolute http(s) URLs are used for links and images.
function safeUrl(u) {
  try { return ["http:", "https:"].includes(new URL(u).protocol) ? new URL(u).href : null; } catch { return null; }
}

// Only `#hex` or a plain colour word is used as a colour.
const safeColor = (c) => (typeof c === "string" && /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30})$/.test(c) ? c : null);

// ---------------------------------------------------------------- markdown

function escapeHtml(s) {
  const map = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  return String(s).replace(/[&<>"']/g, (c) => map[c]);
}

// Bold and italic on already-escaped text.
// Bold is **text** or, as chat apps write it (Slack, Rocket.Chat), *text*.
const emphasis = (html) => html
  .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
  .replace(/(^|[^\w*])\*([^*\n]+)\*(?=$|[^\w*])/g, "$1<strong>$2</strong>")
  .replace(/(^|[^\w])_([^_\n]+)_(?=$|[^\w])/g, "$1<em>$2</em>");

// The one markdown renderer: escape everything first, then allow **bold**
// (or *bold*), _italic_, `code` and [text](http/https url) only. Returns safe HTML.
function markdownHtml(src) {
  const stash = [];
  const keep = (html) => `\u0000${stash.push(html) - 1}\u0000`;
  let html = escapeHtml(String(src).replace(/\u0000/g, ""));
  html = html.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${code}</code>`));
  html = html.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()<>"']+)\)/g, (_, text, url) =>
    keep(`<a href="${url}" target="_blank" rel="noopener noreferrer">${emphasis(text)}</a>`));
  html = emphasis(html).replace(/\u0000(\d+)\u0000/g, (_, i) => stash[Number(i)]);
  return html.replace(/\n/g, "<br>");
}

// A block Text: markdown (safely rendered) or plain.
function renderText(t, cls) {
  const node = el("span", { class: cls });
  if (isObj(t) && t.markdown) node.innerHTML = markdownHtml(str(t.text));
  else node.textContent = isObj(t) ? str(t.text) : str(t);
  return node;
}

// ---------------------------------------------------------------- blocks

// A block action from an element of a message (ctx.message) or a view (ctx.view).
function blockAction(ctx, blockId, actionId, value) {
  const body = { type: "block-action", user: state.user, action_id: actionId };
  if (ctx.message) body.message = ctx.message;
  if (ctx.view) body.view = ctx.view;
  if (blockId) body.block_id = blockId;
  if (value !== undefined && value !== null) body.value = value;
  return interact(body);
}

// An image (http/https only), or nothing.
function renderImage(img, cls) {
  const src = safeUrl(img && img.url);
  return src ? el("img", { class: cls, src, alt: str(img.alt), loading: "lazy" }) : null;
}

// The attributes every interactive element carries.
const hooks = (e, blockId, ctx) => ({
  "data-action-id": str(e.action_id), "data-block-id": blockId, "data-initial": str(e.initial), disabled: ctx.disabled,
});

function renderButton(e, ctx, blockId) {
  const style = ["primary", "danger"].includes(e.style) ? e.style : "normal";
  return el("button", {
    type: "button", class: `block-button style-${style}`, ...hooks(e, blockId, ctx), "data-value": e.value,
    text: str(e.text), onclick: () => blockAction(ctx, blockId, e.action_id, e.value),
  });
}

// A select or date picker: outside input blocks a change is a block action.
function onChangeAct(node, e, ctx, blockId) {
  if (!ctx.input) node.addEventListener("change", () => blockAction(ctx, blockId, e.action_id, node.value));
  return node;
}

function renderSelect(e, ctx, blockId) {
  const node = el("select", { class: "block-select", ...hooks(e, blockId, ctx) });
  const hasInitial = asArray(e.choices).some((c) => c && c.value === e.initial);
  if (!hasInitial) node.append(el("option", { value: "", text: str(e.placeholder) || "Choose…", disabled: true }));
  for (const c of asArray(e.choices)) node.append(el("option", { value: str(c && c.value), text: str(c && c.text) }));
  node.value = hasInitial ? e.initial : "";
  return onChangeAct(node, e, ctx, blockId);
}

function renderDate(e, ctx, blockId) {
  const node = el("input", { type: "date", class: "block-date", ...hooks(e, blockId, ctx), "aria-label": e.placeholder || "Date" });
  node.value = str(e.initial);
  return onChangeAct(node, e, ctx, blockId);
}

function renderTextInput(e, ctx, blockId) {
  const node = el(e.multiline ? "textarea" : "input", {
    class: "block-text-input", ...hooks(e, blockId, ctx), placeholder: e.placeholder, maxlength: e.max_length,
    type: e.multiline ? null : "text", rows: e.multiline ? 3 : null,
  });
  node.value = str(e.initial);
  return node;
}

// A "⋯" button; its menu of choices exists only while open.
function renderOverflow(e, ctx, blockId) {
  const wrap = el("span", { class: "overflow" });
  const toggle = el("button", {
    type: "button", class: "overflow-toggle", ...hooks(e, blockId, ctx), "aria-haspopup": "true",
    "aria-expanded": "false", "aria-label": "More options", text: "⋯",
  });
  const close = () => { wrap.querySelector(".overflow-menu")?.remove(); toggle.setAttribute("aria-expanded", "false"); };
  toggle.addEventListener("click", () => {
    if (wrap.querySelector(".overflow-menu")) return close();
    wrap.append(el("div", { class: "overflow-menu", role: "menu" }, asArray(e.choices).filter(isObj).map((c) => el("button", {
      type: "button", role: "menuitem", class: "overflow-choice", "data-action-id": str(e.action_id), "data-block-id": blockId,
      "data-value": str(c.value), text: str(c.text), onclick: () => { close(); blockAction(ctx, blockId, e.action_id, str(c.value)); },
    }))));
    toggle.setAttribute("aria-expanded", "true");
  });
  wrap.append(toggle);
  return wrap;
}

const ELEMENTS = new Map([
  ["button", renderButton], ["static-select", renderSelect], ["overflow", renderOverflow],
  ["date-picker", renderDate], ["text-input", renderTextInput],
]);

// An interactive element; unknown kinds render nothing.
function renderElement(e, ctx, blockId) {
  const render = isObj(e) ? ELEMENTS.get(e.type) : null;
  return render ? render(e, ctx, blockId) : null;
}

function renderSection(b, ctx, blockId) {
  const fields = asArray(b.fields);
  const a = b.accessory;
  const acc = isObj(a) && a.type === "image" ? renderImage(a, "accessory-image") : renderElement(a, ctx, blockId);
  return el("div", {},
    el("div", { class: "section-main" }, b.text ? renderText(b.text, "section-text") : null,
      fields.length ? el("div", { class: "fields" }, fields.map((f) => renderText(f, "field"))) : null),
    acc ? el("div", { class: "accessory" }, acc) : null);
}

const renderContext = (b) => el("div", {}, asArray(b.elements).filter(isObj).map((e) =>
  (e.type === "image" ? renderImage(e, "context-image") : e.type === "text" ? renderText(e, "context-text") : null)));

const renderImageBlock = (b) =>
  el("figure", {}, b.title ? el("figcaption", { text: str(b.title) }) : null, renderImage(b.image, "image-block-img"));

const renderActions = (b, ctx, blockId) =>
  el("div", { class: "actions-row" }, asArray(b.elements).map((e) => renderElement(e, ctx, blockId)));

// An input block: label, the element (state only; disabled outside views), hint and error slot.
function renderInput(b, ctx, blockId) {
  const field = renderElement(b.element, { ...ctx, input: true, disabled: !ctx.view }, blockId);
  const id = `input-${++uid}`;
  if (field) {
    field.id = id;
    field.classList.add("input-value");
    if (!b.optional) field.setAttribute("aria-required", "true");
  }
  return el("div", {},
    el("label", { for: id, text: str(b.label) }, b.optional ? el("span", { class: "optional", text: " (optional)" }) : null),
    field, b.hint ? el("div", { class: "hint", text: str(b.hint) }) : null,
    el("div", { class: "field-error", "data-block-id": blockId, role: "alert", hidden: true }));
}

const BLOCKS = new Map([
  ["section", renderSection], ["context", renderContext], ["divider", () => el("hr")],
  ["image", renderImageBlock], ["actions", renderActions], ["input", renderInput],
]);

// A list of blocks; unknown or broken blocks are skipped.
function renderBlocks(blocks, ctx) {
  const wrap = el("div", { class: "blocks" });
  for (const b of asArray(blocks)) {
    const render = isObj(b) ? BLOCKS.get(b.type) : null;
    if (!render) continue;
    try {
      const node = render(b, ctx, str(b.block_id));
      node.classList.add("block", `block-${b.type}`);
      node.dataset.blockId = str(b.block_id);
      wrap.append(node);
    } catch (e) { console.warn("skipped a block", b, e); }
  }
  return wrap;
}

// A card with a colour bar, title (linked if http/https), text, fields and image.
function renderAttachment(a) {
  const href = safeUrl(a.title_link);
  const title = href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: str(a.title) }) : str(a.title);
  const fields = asArray(a.fields).filter(isObj);
  const card = el("div", { class: "attachment" },
    a.author_name ? el("div", { class: "attachment-author", text: str(a.author_name) }) : null,
    a.title ? el("div", { class: "attachment-title" }, title) : null,
    a.text ? el("div", { class: "attachment-text", text: str(a.text) }) : null,
    fields.length ? el("div", { class: "fields" }, fields.map((f) => el("div", { class: f.short ? "field short" : "field long" },
      el("div", { class: "field-title", text: str(f.title) }), el("div", { text: str(f.value) })))) : null,
    renderImage({ url: a.image_url, alt: a.title }, "attachment-image"));
  if (safeColor(a.color)) card.style.borderLeftColor = safeColor(a.color);
  return card;
}

// ---------------------------------------------------------------- action buttons

const buttonsFor = (context) => state.buttons.filter((b) => isObj(b) && b.context === context);

// An app's action button; `extra()` adds message/thread at click time.
function actionButton(button, cls, extra) {
  return el("button", {
    type: "button", class: `action-button ${cls}`, "data-app": button.app, "data-button-id": button.id,
    title: `${str(button.label)} (${str(button.app)})`, text: str(button.label),
    onclick: () => interact({ type: "action-button", user: state.user, app: button.app, button: button.id, room: state.room, ...extra() }),
  });
}

// Room-header and composer buttons.
function renderActionButtons() {
  $("room-actions").replaceChildren(...buttonsFor("room-action").map((b) => actionButton(b, "room-action", () => ({}))));
  $("composer-actions").replaceChildren(...buttonsFor("message-box-action").map((b) =>
    actionButton(b, "box-action", () => (state.thread ? { thread: state.thread } : {}))));
}

// ---------------------------------------------------------------- messages

function renderAvatar(m, name) {
  const src = safeUrl(m.avatar);
  return src ? el("img", { class: "avatar", src, alt: "" })
    : el("span", { class: "avatar", "aria-hidden": "true", text: (name[0] || "?").toUpperCase() });
}

function renderReactions(reactions) {
  const entries = Object.entries(isObj(reactions) ? reactions : {}).filter(([, users]) => asArray(users).length);
  return entries.length ? el("div", { class: "reactions" }, entries.map(([emoji, users]) =>
    el("span", { class: "reaction", title: users.join(", "), text: `${emoji} ${users.length}` }))) : null;
}

// The per-message menu: reply in thread and the apps' message actions.
function renderMessageActions(m) {
  return el("div", { class: "message-actions" },
    el("button", { type: "button", class: "reply-button", text: "Reply in thread", onclick: () => setThread(m.thread || m.id, m) }),
    buttonsFor("message-action").map((b) => actionButton(b, "message-action", () => (m.thread ? { message: m.id, thread: m.thread } : { message: m.id }))));
}

function renderTime(ms) {
  const time = new Date(Number(ms));
  if (Number.isNaN(time.getTime())) return null;
  return el("time", { class: "time", datetime: time.toISOString(), text: time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) });
}

function renderMessage(m) {
  const sender = str(m.sender);
  const isApp = sender.startsWith("app:"); // an app's bot user
  const name = isApp ? `${sender.slice(4)} (app)` : sender;
  const cls = ["message", m.notice && "notice", m.thread && "reply", isApp && "from-app"].filter(Boolean).join(" ");
  return el("article", { class: cls, "data-id": str(m.id), tabindex: "-1" },
    renderAvatar(m, str(m.alias) || name),
    el("div", { class: "message-body" },
      el("div", { class: "message-header" },
        m.thread ? el("span", { class: "thread-marker", text: "↳ in thread" }) : null,
        m.alias ? el("span", { class: "alias", text: str(m.alias) }) : null,
        el("span", { class: "sender", text: name }),
        isApp ? el("span", { class: "badge", text: "APP" }) : null,
        m.notice ? el("span", { class: "badge notice-badge", text: "NOTICE" }) : null,
        renderTime(m.timestamp), m.edited_at ? el("span", { class: "edited", text: "(edited)" }) : null),
      el("div", { class: "text", text: str(m.text) }),
      asArray(m.blocks).length ? renderBlocks(m.blocks, { message: m.id }) : null,
      asArray(m.attachments).length ? el("div", { class: "attachments" }, m.attachments.filter(isObj).map(renderAttachment)) : null,
      renderReactions(m.reactions)),
    renderMessageActions(m));
}

// Put thread replies right after their root (recursively); orphans stay in place.
function orderThreads(msgs) {
  const ids = new Set(msgs.map((m) => m.id));
  const isReply = (m) => m.thread && m.thread !== m.id && ids.has(m.thread);
  const replies = new Map();
  for (const m of msgs) if (isReply(m)) replies.set(m.thread, [...(replies.get(m.thread) || []), m]);
  const out = [], seen = new Set();
  const emit = (m) => {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    out.push(m);
    for (const r of replies.get(m.id) || []) emit(r);
  };
  msgs.filter((m) => !isReply(m)).forEach(emit);
  msgs.forEach(emit); // anything left (cycles)
  return out;
}

// Render messages by id: unchanged ones keep their node, updated ones are replaced in place.
function renderMessages(list) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const visible = asArray(list).filter((m) => isObj(m) && m.id !== undefined && (!m.visible_to || m.visible_to === state.user));
  const cache = new Map();
  const nodes = orderThreads(visible).map((m) => {
    const key = JSON.stringify(m);
    const old = state.messageCache.get(m.id);
    let node = old && old.key === key ? old.node : null;
    try { node = node || renderMessage(m); } catch (e) { console.warn("skipped a message", m, e); return null; }
    cache.set(m.id, { key, node });
    return node;
  }).filter(Boolean);
  state.messageCache = cache;
  nodes.forEach((node, i) => { if (box.children[i] !== node) box.insertBefore(node, box.children[i] || null); });
  while (box.children.length > nodes.length) box.lastElementChild.remove();
  if (!nodes.length) box.replaceChildren(el("p", { class: "empty", text: "No messages yet. Say hello!" }));
  if (atBottom || box.dataset.room !== state.room) box.scrollTop = box.scrollHeight;
  box.dataset.room = state.room;
}

// ---------------------------------------------------------------- rooms

function renderRoomItem(r) {
  const active = r.id === state.room;
  const label = str(r.name || r.id);
  const cls = `room kind-${str(r.kind) || "channel"}${active ? " active" : ""}${r.member === false ? " not-member" : ""}`;
  return el("li", { class: cls, "data-room-id": str(r.id) },
    el("button", { type: "button", class: "room-link", text: label, "aria-current": active ? "page" : null, onclick: () => selectRoom(r.id) }),
    r.member === false ? el("button", { type: "button", class: "join-button", text: "Join", "aria-label": `Join ${label}`, onclick: () => joinRoom(r.id) }) : null);
}

// The sidebar (member rooms first) and the header title.
function renderRooms() {
  const key = JSON.stringify([state.rooms, state.room]);
  if (key !== state.roomsKey) {
    state.roomsKey = key;
    const rooms = state.rooms.filter((r) => isObj(r) && r.id !== undefined);
    rooms.sort((a, b) => (b.member !== false) - (a.member !== false));
    $("rooms").replaceChildren(...rooms.map(renderRoomItem));
  }
  const room = state.rooms.find((r) => isObj(r) && r.id === state.room);
  const title = $("room-title");
  title.textContent = room ? str(room.name || room.id) : str(state.room);
  title.className = `kind-${room ? str(room.kind) : "channel"}`;
  document.title = `${title.textContent} · Hangar chat`;
}

// Switch to a room: clear its messages and refresh.
function selectRoom(id) {
  if (id === state.room) return;
  state.room = id;
  state.messageCache = new Map();
  $("messages").replaceChildren();
  setThread(null);
  hidePreview();
  updateUrl();
  renderRooms();
  requestRefresh();
}

// Join (or create) a room by id or name, then open it.
const joinRoom = (name) => guard(async () => {
  await post("/api/join", { room: name, user: state.user });
  state.rooms = asArray(await get(`/api/rooms?user=${encodeURIComponent(state.user)}`));
  const room = state.rooms.find((r) => isObj(r) && (r.id === name || r.name === name));
  if (room && room.id !== state.room) return selectRoom(room.id);
  renderRooms();
  requestRefresh();
});

// Keep user and room in the URL so a reload comes back here.
function updateUrl() {
  const params = new URLSearchParams(location.search);
  params.set("user", state.user);
  if (state.room) params.set("room", state.room);
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

// ---------------------------------------------------------------- views

// Values of every input block element, keyed by block and action id.
const collectState = (container) => [...container.querySelectorAll(".input-value")].map((n) => ({
  block_id: str(n.dataset.blockId), action_id: str(n.dataset.actionId), value: str(n.value),
}));

function showViewError(container, message) {
  const node = container.querySelector(".view-error");
  node.textContent = message || "";
  node.hidden = !message;
}

// Show field errors under their inputs (clearing the others); errors for unknown blocks go to the view.
function showFieldErrors(container, errors) {
  const slots = [...container.querySelectorAll(".field-error")];
  const known = new Set(slots.map((s) => s.dataset.blockId));
  const other = Object.keys(errors).filter((k) => !known.has(k)).map((k) => `${k}: ${str(errors[k])}`);
  if (other.length) showViewError(container, other.join("; "));
  for (const slot of slots) {
    const msg = Object.prototype.hasOwnProperty.call(errors, slot.dataset.blockId) ? str(errors[slot.dataset.blockId]) : "";
    slot.textContent = msg;
    slot.hidden = !msg;
    const block = slot.closest(".block");
    block?.classList.toggle("invalid", Boolean(msg));
    block?.querySelector(".input-value")?.setAttribute("aria-invalid", String(Boolean(msg)));
  }
}

// Hide a view locally until its JSON changes.
function dismissView(view, slot) {
  state.dismissed.set(view.id, JSON.stringify(view));
  state.viewErrors.delete(view.id);
  drawView(slot, null);
}

// Submit a view's state: ok closes it, field errors keep it open.
async function submitView(view, slot, container) {
  showViewError(container, "");
  try {
    const r = await post("/api/interact", { type: "view-submit", user: state.user, view: view.id, state: collectState(container) });
    if (r && r.ok === false) {
      const errors = isObj(r.errors) ? r.errors : {};
      state.viewErrors.set(view.id, errors);
      showFieldErrors(container, errors);
      if (r.error || !Object.keys(errors).length) showViewError(container, str(r.error || "The app did not accept the form."));
    } else {
      dismissView(view, slot);
    }
  } catch (e) {
    showViewError(container, e.message);
  }
  requestRefresh();
}

async function closeView(view, slot) {
  try { await post("/api/interact", { type: "view-closed", user: state.user, view: view.id }); } catch (e) { toast(e.message); }
  dismissView(view, slot);
  requestRefresh();
}

// Build a view's DOM (modal dialog or contextual bar panel) inside `container`.
function buildView(container, view, slot) {
  const isModal = slot === "modal";
  const titleId = `view-title-${++uid}`;
  const closeLabel = str(view.close) || "Close";
  const close = () => closeView(view, slot);
  container.append(el("div", isModal ? { class: "modal-dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId } : { class: "bar-inner" },
    el("header", { class: "view-header" }, el("h2", { id: titleId, text: str(view.title) }),
      isModal ? null : el("button", { type: "button", class: "view-close icon-button", "aria-label": closeLabel, text: "×", onclick: close })),
    el("div", { class: "view-body" }, renderBlocks(view.blocks, { view: view.id })),
    el("p", { class: "view-error error", role: "alert", hidden: true }),
    el("footer", { class: "view-footer" },
      el("button", { type: "button", id: isModal ? "modal-close" : null, class: "view-close-button", text: closeLabel, onclick: close }),
      view.submit ? el("button", { type: "button", id: isModal ? "modal-submit" : null, class: "primary view-submit",
        text: str(view.submit), onclick: () => submitView(view, slot, container) }) : null)));
}

// Show `view` in its slot ("modal" or "bar"), only rebuilding when its JSON changed;
// a rebuilt view keeps what the user typed into inputs whose initial value is unchanged.
function drawView(slot, view) {
  const container = slot === "modal" ? $("modal") : $("contextual-bar");
  const json = view ? JSON.stringify(view) : null;
  if (state.viewJson[slot] === json) return;
  state.viewJson[slot] = json;
  const sameView = view && container.dataset.viewId === view.id;
  const key = (n) => `${n.dataset.blockId}\u0001${n.dataset.actionId}\u0001${n.dataset.initial}\u0001${n.tagName}`;
  const typed = new Map(sameView ? [...container.querySelectorAll(".input-value")].map((n) => [key(n), n.value]) : []);
  container.replaceChildren();
  container.hidden = !view;
  if (!view) return delete container.dataset.viewId;
  container.dataset.viewId = view.id;
  buildView(container, view, slot);
  for (const n of container.querySelectorAll(".input-value")) if (typed.has(key(n))) n.value = typed.get(key(n));
  showFieldErrors(container, state.viewErrors.get(view.id) || {});
  if (!sameView && slot === "modal") container.querySelector(".input-value, button")?.focus();
}

// Show this user's latest modal and contextual bar, skipping locally dismissed ones.
function renderViews(views) {
  const mine = asArray(views).filter((v) => isObj(v) && v.id !== undefined && (!v.user || v.user === state.user));
  const present = new Set(mine.map((v) => v.id));
  for (const id of [...state.dismissed.keys()]) if (!present.has(id)) state.dismissed.delete(id);
  const shown = mine.filter((v) => state.dismissed.get(v.id) !== JSON.stringify(v));
  drawView("modal", shown.filter((v) => v.kind !== "contextual-bar").pop() || null);
  drawView("bar", shown.filter((v) => v.kind === "contextual-bar").pop() || null);
}

// ---------------------------------------------------------------- refresh

// Ask for a refresh; at most one runs, and one more follows if asked meanwhile.
function requestRefresh() {
  if (!state.user) return;
  if (state.refreshing) state.dirty = true;
  else runRefreshes();
}

// Each pass records the seq it started for once it has rendered.
async function runRefreshes() {
  state.refreshing = true;
  do {
    state.dirty = false;
    const seq = state.latestSeq;
    try { await refreshOnce(); } catch (e) { toast(e.message || String(e)); }
    document.body.dataset.seq = String(seq);
  } while (state.dirty);
  state.refreshing = false;
}

// Fetch rooms, messages, views and action buttons; render what arrived, report what failed.
async function refreshOnce() {
  const user = encodeURIComponent(state.user);
  const room = state.room;
  const [buttons, rooms, messages, views] = await Promise.allSettled([
    get("/api/action-buttons"),
    get(`/api/rooms?user=${user}`),
    room ? get(`/api/rooms/${encodeURIComponent(room)}/messages?limit=100&user=${user}`) : Promise.resolve([]),
    get(`/api/views?user=${user}`),
  ]);
  const errors = [];
  const take = (r, use) => {
    try { if (r.status === "fulfilled") use(r.value); else errors.push(str(r.reason && r.reason.message)); } catch (e) { errors.push(e.message); }
  };
  take(buttons, (v) => {
    state.buttons = asArray(v);
    const key = JSON.stringify(state.buttons);
    if (key === state.buttonsKey) return;
    state.buttonsKey = key;
    state.messageCache = new Map(); // message menus change too
    renderActionButtons();
  });
  take(rooms, (v) => { state.rooms = asArray(v); renderRooms(); });
  if (room === state.room) take(messages, renderMessages);
  else state.dirty = true;
  take(views, renderViews);
  if (errors.length) toast(errors.join(" · "));
}

// Live updates: every `change` event triggers a (serialised) refresh.
function connectStream() {
  if (state.stream) return;
  const status = $("connection");
  const es = new EventSource("/api/stream");
  state.stream = es;
  es.addEventListener("change", (ev) => {
    try { if (typeof JSON.parse(ev.data).seq === "number") state.latestSeq = JSON.parse(ev.data).seq; } catch { /* still refresh */ }
    requestRefresh();
  });
  es.onopen = () => { status.textContent = "live"; status.className = "connection online"; };
  es.onerror = () => { status.textContent = "reconnecting…"; status.className = "connection offline"; };
}

// ---------------------------------------------------------------- composer

// Set (or clear) the thread the composer replies in.
function setThread(root, message) {
  state.thread = root || null;
  $("thread-bar").hidden = !state.thread;
  if (!state.thread) return;
  const text = message && message.id === root ? `: ${str(message.text).slice(0, 60)}` : "";
  $("thread-label").textContent = `Replying in thread${text}`;
  $("composer").focus();
}

function showWarning(message) {
  $("send-warning").textContent = message || "";
  $("send-warning").hidden = !message;
}

// What a send/command report says went wrong, if anything.
function reportProblem(r) {
  if (!isObj(r)) return "";
  if (r.prevented === true || r.stored === false) {
    let by = r.prevented_by ?? r.blocked_by ?? r.app ?? r.by;
    by = Array.isArray(by) ? by.join(", ") : isObj(by) ? JSON.stringify(by) : str(by);
    return `message was blocked by ${by || "an app"}${r.error ? `: ${str(r.error)}` : ""}`;
  }
  return str(r.error);
}

// Send the composer's text: a message, or a slash command.
async function sendComposer() {
  const composer = $("composer");
  const text = composer.value;
  if (!text.trim() || state.sending || !state.room) return;
  state.sending = true;
  hidePreview();
  showWarning("");
  const base = { room: state.room, user: state.user, ...(state.thread ? { thread: state.thread } : {}) };
  composer.value = ""; // cleared at once; restored if the send fails
  try {
    const report = text.trimStart().startsWith("/")
      ? await post("/api/command", { ...base, line: text.trim() })
      : await post("/api/send", { ...base, text });
    showWarning(reportProblem(report));
  } catch (e) {
    if (!composer.value) composer.value = text;
    showWarning(e.message);
  } finally {
    state.sending = false;
    requestRefresh();
  }
}

function hidePreview() {
  clearTimeout(state.preview.timer);
  state.preview.seq++; // drops any answer in flight
  $("preview").hidden = true;
  $("preview").replaceChildren();
}

// Pick a preview item: the app handles it, the composer clears.
async function pickPreview(line, item) {
  hidePreview();
  $("composer").value = "";
  await guard(async () => {
    const r = await post("/api/pick", { room: state.room, user: state.user, line, item: { id: item.id, text: item.text } });
    if (reportProblem(r)) showWarning(reportProblem(r));
  });
  requestRefresh();
}

// Fetch and show the preview for a command line; 4xx or no items means no popup.
async function loadPreview(line) {
  const seq = ++state.preview.seq;
  let data = null;
  try { data = await post("/api/preview", { room: state.room, user: state.user, line }); } catch (e) {
    if (!(e.status >= 400 && e.status < 500)) toast(e.message); // a 4xx just means no preview
  }
  if (seq !== state.preview.seq || $("composer").value.trim() !== line) return;
  const items = asArray(data && data.items).filter(isObj);
  if (!items.length) return hidePreview();
  $("preview").replaceChildren(
    el("div", { class: "preview-app", text: data.app ? `${str(data.app)} (app)` : "Suggestions" }),
    ...items.map((item) => el("button", {
      type: "button", class: "preview-item", "data-item-id": str(item.id), text: str(item.text), onclick: () => pickPreview(line, item),
    })));
  $("preview").hidden = false;
}

// Debounced: while a `/command args` line is typed, ask for its preview.
function onComposerInput() {
  clearTimeout(state.preview.timer);
  const line = $("composer").value.trim();
  if (!/^\/\S/.test(line) || line.includes("\n")) return hidePreview();
  state.preview.timer = setTimeout(() => loadPreview(line), 250);
}

// Enter sends, Shift+Enter is a newline, Escape closes the preview.
function onComposerKey(ev) {
  if (ev.key === "Escape") hidePreview();
  if (ev.key !== "Enter" || ev.shiftKey || ev.isComposing) return;
  ev.preventDefault();
  sendComposer();
}

// ---------------------------------------------------------------- login & boot

function showLogin(error) {
  $("login-view").hidden = false;
  $("app").hidden = true;
  $("login-error").textContent = error || "";
  $("login-name").focus();
}

// Log in (creating the user), pick the room, start live updates.
async function login(name, wantedRoom) {
  let data;
  try { data = await post("/api/login", { user: name }); } catch (e) { return showLogin(e.message); }
  state.user = str((data && data.user) || name);
  state.rooms = asArray(data && data.rooms);
  const find = (test) => state.rooms.find((r) => isObj(r) && test(r));
  const room = (wantedRoom && find((r) => r.id === wantedRoom || r.name === wantedRoom))
    || (!wantedRoom && (find((r) => r.id === "general") || find((r) => r.member !== false)));
  state.room = room ? room.id : wantedRoom || "general";
  $("me").textContent = state.user;
  $("login-view").hidden = true;
  $("app").hidden = false;
  updateUrl();
  renderRooms();
  connectStream();
  requestRefresh();
  $("composer").focus();
}

function wire() {
  const on = (id, type, fn) => $(id).addEventListener(type, fn);
  on("login-form", "submit", (ev) => {
    ev.preventDefault();
    const name = $("login-name").value.trim();
    if (name) login(name, new URLSearchParams(location.search).get("room"));
    else showLogin("Enter a user name.");
  });
  on("join-form", "submit", (ev) => {
    ev.preventDefault();
    const name = $("join-name").value.trim();
    $("join-name").value = "";
    if (name) joinRoom(name);
  });
  on("composer", "keydown", onComposerKey);
  on("composer", "input", onComposerInput);
  on("send-button", "click", sendComposer);
  on("thread-cancel", "click", () => setThread(null));
  on("modal", "keydown", (ev) => { if (ev.key === "Escape") $("modal-close")?.click(); });
  document.addEventListener("click", (ev) => { // a click elsewhere closes overflow menus
    if (!ev.target.closest?.(".overflow")) document.querySelectorAll(".overflow-menu").forEach((m) => m.remove());
  });
}

function boot() {
  wire();
  const params = new URLSearchParams(location.search);
  if (params.get("user")) login(params.get("user"), params.get("room"));
  else showLogin("");
}

window.addEventListener("unhandledrejection", (ev) => toast(str((ev.reason && ev.reason.message) || ev.reason)));
document.addEventListener("DOMContentLoaded", boot);
