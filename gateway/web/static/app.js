// Entry point: who am I (GET /auth/me), the log-in and sign-up forms, and
// the chat screen wired to the Chat controller. Rendering is redone from
// the store on every change; the lists are small enough for that to be
// simpler than patching.
import { api, plainWords } from "./api.js";
import { Chat } from "./chat.js";
import { h, conversationItem, messageItem, presenceLine, typingLine, connectionText, bannerText } from "./view.js";

const $ = (sel) => document.querySelector(sel);

async function boot() {
  try {
    showChat(await api("GET", "/auth/me"));
  } catch (err) {
    showAuth(err.status === 401 ? "" : err.message);
  }
}

// --- log in, sign up ------------------------------------------------------

function showAuth(message) {
  $("#chat").hidden = true;
  $("#auth").hidden = false;
  $("#auth-error").textContent = message || "";
}

function authForm(form, path, fields) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(fields.map((f) => [f, form.elements[f].value]));
    form.querySelector("button").disabled = true;
    try {
      const { user } = await api("POST", path, data);
      form.reset();
      showChat(user);
    } catch (err) {
      $("#auth-error").textContent = err.message;
    } finally {
      form.querySelector("button").disabled = false;
    }
  });
}
authForm($("#login-form"), "/auth/login", ["login", "password"]);
authForm($("#signup-form"), "/auth/signup", ["username", "email", "password"]);

// --- the chat screen --------------------------------------------------------

let chat = null;
let everOnline = false;
let composing = null; // {mode: "reply"|"edit", message}

function showChat(me) {
  $("#auth").hidden = true;
  $("#chat").hidden = false;
  $("#me").textContent = me.username;
  chat = new Chat(me, {
    onError: showError,
    onSignedOut: (problem) => {
      chat.stop();
      chat = null;
      showAuth(plainWords(problem));
    },
  });
  chat.store.addEventListener("change", (e) => render(e.detail));
  chat.conn.addEventListener("change", renderConnection);
  renderConnection();
  chat.start().catch((err) => showError(err.message));
}

let errorTimer;
function showError(message) {
  $("#chat-error").textContent = message;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { $("#chat-error").textContent = ""; }, 8000);
}

function renderConnection() {
  const conn = chat.conn;
  if (conn.state === "online") everOnline = true;
  $("#connection").dataset.state = conn.state;
  $("#connection").textContent = connectionText(conn);
  const text = bannerText(conn, everOnline, plainWords);
  $("#banner").hidden = !text;
  $("#banner").dataset.state = conn.state;
  $("#banner").textContent = text;
}

function render(what) {
  const store = chat.store;
  $("#conversations").replaceChildren(...store.sorted().map((c) => conversationItem(store, c)));
  const c = store.conversations.get(store.openId);
  $("#conversation").hidden = !c;
  $("#nothing-open").hidden = !!c;
  if (!c) return;
  $("#conversation-title").textContent = store.title(c);
  $("#conversation-presence").textContent = presenceLine(store, c);
  $("#typing").textContent = typingLine(store.typingNames(c.id));
  if (what === "typing" || what === "presence") return;
  renderMessages(store, c, what === "open");
}

function renderMessages(store, c, opened) {
  const list = $("#messages");
  const fromBottom = list.scrollHeight - list.scrollTop - list.clientHeight;
  const messages = [...(store.messages.get(c.id)?.values() || [])].sort((a, b) => a.seq - b.seq);
  const pending = [...store.outbox.values()].filter((m) => m.conversationId === c.id);
  const older = store.hasOlder.get(c.id) ? [h("li", { class: "older" }, "Scroll up for older messages")] : [];
  list.replaceChildren(
    ...older,
    ...messages.map((m) => messageItem(store, c, m, false)),
    ...pending.map((m) => messageItem(store, c, m, true)),
  );
  // Stay at the bottom when we were there; otherwise keep the view still
  // (older pages are added above).
  list.scrollTop = opened || fromBottom < 40 ? list.scrollHeight : list.scrollHeight - list.clientHeight - fromBottom;
}

// Typing lines expire on their own; redraw them every second.
setInterval(() => {
  const c = chat?.store.conversations.get(chat.store.openId);
  if (c) $("#typing").textContent = typingLine(chat.store.typingNames(c.id));
}, 1000);

$("#logout").addEventListener("click", async () => {
  try {
    await api("POST", "/auth/logout");
  } catch {
    // The gateway clears the cookies whatever happens; start over anyway.
  }
  location.reload();
});

$("#conversations").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-id]");
  if (li) chat.open(li.dataset.id).catch((err) => showError(err.message));
});

$("#messages").addEventListener("scroll", () => {
  if ($("#messages").scrollTop < 40) chat.loadOlder();
});

document.addEventListener("visibilitychange", () => chat?.markRead());

// Message actions: reply, react, edit, delete, retry.
$("#messages").addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  const li = button.closest("li.message");
  const store = chat.store;
  const cid = store.openId;
  const message = store.messages.get(cid)?.get(li.dataset.id);
  try {
    switch (button.dataset.action) {
      case "retry":
        return chat.retry(li.dataset.clientMsgId);
      case "reply":
        return compose("reply", message);
      case "edit":
        return compose("edit", message);
      case "react":
        return await chat.react(cid, message, button.dataset.emoji);
      case "delete":
        if (confirm("Delete this message for everyone?")) await chat.remove(cid, message.id);
    }
  } catch (err) {
    showError(err.message);
  }
});

function compose(mode, message) {
  composing = { mode, message };
  const box = $("#composer-context");
  box.hidden = false;
  box.querySelector("span").textContent = mode === "edit" ? "Editing your message" : `Replying to ${chat.store.name(message.senderId)}: ${message.body}`;
  const body = $("#composer").elements.body;
  if (mode === "edit") body.value = message.body;
  body.focus();
}

function endCompose() {
  composing = null;
  $("#composer-context").hidden = true;
}
$("#composer-cancel").addEventListener("click", endCompose);

$("#composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const field = e.target.elements.body;
  const body = field.value.trim();
  const cid = chat.store.openId;
  if (!body || !cid) return;
  const context = composing;
  if (context?.mode === "edit") {
    try {
      await chat.edit(cid, context.message.id, body);
    } catch (err) {
      return showError(err.message); // keep the text to try again
    }
  } else {
    chat.send(cid, body, context?.message.id);
  }
  field.value = "";
  endCompose();
});

$("#composer").elements.body.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("#composer").requestSubmit();
  } else if (e.key === "Escape") {
    endCompose();
  }
});

$("#composer").elements.body.addEventListener("input", (e) => {
  if (chat.store.openId) chat.typing(chat.store.openId, e.target.value !== "");
});

// --- new conversation -----------------------------------------------------

let searchTimer;
const selected = new Map(); // user id → name

$("#new-chat").elements.query.addEventListener("input", (e) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => searchPeople(e.target.value.trim()), 250);
});

async function searchPeople(query) {
  if (!query) {
    renderPeople([]);
    return;
  }
  try {
    const page = await api("GET", `/users?limit=10&query=${encodeURIComponent(query)}`);
    renderPeople(page.users.filter((u) => u.userId !== chat.store.me.id));
  } catch (err) {
    showError(err.message);
  }
}

function renderPeople(users) {
  const shown = new Map(users.map((u) => [u.userId, u.displayName || u.username]));
  for (const [id, name] of selected) shown.set(id, name);
  $("#people").replaceChildren(...[...shown].map(([id, name]) => h("li", {},
    h("label", {}, h("input", { type: "checkbox", value: id, checked: selected.has(id) }), ` ${name}`))));
}

$("#people").addEventListener("change", (e) => {
  const box = e.target;
  if (box.checked) selected.set(box.value, box.parentElement.textContent.trim());
  else selected.delete(box.value);
});

$("#new-chat").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const ids = [...selected.keys()];
  const title = form.elements.title.value.trim();
  if (!ids.length) return showError("Pick someone to chat with first.");
  if (ids.length > 1 && !title) return showError("Give the group a title.");
  try {
    await chat.create(ids, title);
    selected.clear();
    form.reset();
    renderPeople([]);
  } catch (err) {
    showError(err.message);
  }
});

boot();
