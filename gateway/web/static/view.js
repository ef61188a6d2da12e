// Rendering: pure functions from the store to DOM nodes. Text always goes
// in with textContent (h's string children), never as HTML, so a message
// body cannot inject markup.

export const REACTIONS = ["👍", "❤️", "😂", "🎉"];

// h builds an element: h("li", {class: "x", dataset: {id}}, child, "text").
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "");

function presenceText(p) {
  if (!p) return "";
  return p.online ? "online" : `last seen ${time(p.lastSeenAt)}`;
}

export function conversationItem(store, c) {
  const other = store.other(c);
  const p = other && store.presence.get(other);
  const last = c.lastMessage;
  const preview = last ? `${store.name(last.senderId)}: ${last.deleted ? "message deleted" : last.body}` : "No messages yet";
  return h("li", { class: c.id === store.openId ? "active" : "", dataset: { id: c.id } },
    h("button", { type: "button" },
      h("span", { class: "presence-dot", dataset: { online: p ? String(p.online) : "unknown" }, title: presenceText(p) }),
      h("span", { class: "name" }, store.title(c)),
      c.unreadCount > 0 ? h("span", { class: "unread", "aria-label": `${c.unreadCount} unread` }, String(c.unreadCount)) : null,
      h("span", { class: "last" }, preview)));
}

// messageItem renders one message; pending ones (from the outbox) have no
// id or seq yet.
export function messageItem(store, c, m, pending) {
  const mine = m.senderId === store.me.id || pending;
  const replied = m.replyToId && store.messages.get(c.id)?.get(m.replyToId);
  const classes = ["message", mine ? "mine" : "theirs", pending ? "pending" : "", m.deleted ? "deleted" : ""].join(" ");
  return h("li", {
    class: classes,
    dataset: { id: m.id || "", seq: m.seq || "", clientMsgId: m.clientMsgId, sender: mine ? store.me.id : m.senderId },
  },
  h("div", { class: "meta" },
    h("span", { class: "sender" }, mine ? "You" : store.name(m.senderId)), " ",
    h("time", { datetime: m.createdAt || "" }, time(m.createdAt)),
    m.editedAt && !m.deleted ? h("span", { class: "edited" }, " (edited)") : null),
  m.replyToId ? h("blockquote", { class: "reply" }, replied
    ? `↪ ${store.name(replied.senderId)}: ${replied.deleted ? "message deleted" : replied.body}`
    : "↪ an earlier message") : null,
  h("p", { class: "body" }, m.deleted ? "This message was deleted." : m.body),
  reactions(store, m),
  pending ? null : actions(store, m, mine),
  mine ? receipt(store, c, m, pending) : null);
}

function reactions(store, m) {
  if (!m.reactions?.length) return null;
  return h("ul", { class: "reactions" }, m.reactions.map((r) => h("li", {},
    h("button", {
      type: "button", class: r.userIds?.includes(store.me.id) ? "reaction mine" : "reaction",
      dataset: { action: "react", emoji: r.emoji }, title: (r.userIds || []).map((id) => store.name(id)).join(", "),
    }, `${r.emoji} ${r.count}`))));
}

function actions(store, m, mine) {
  if (m.deleted) return null;
  return h("div", { class: "actions" },
    h("button", { type: "button", dataset: { action: "reply" } }, "Reply"),
    REACTIONS.map((e) => h("button", { type: "button", dataset: { action: "react", emoji: e }, "aria-label": `React ${e}` }, e)),
    mine ? h("button", { type: "button", dataset: { action: "edit" } }, "Edit") : null,
    mine ? h("button", { type: "button", dataset: { action: "delete" } }, "Delete") : null);
}

function receipt(store, c, m, pending) {
  if (pending) {
    return h("span", { class: "receipt", dataset: { state: m.error ? "failed" : "sending" } },
      m.error ? `Not sent: ${m.error} ` : "Sending…",
      m.error ? h("button", { type: "button", dataset: { action: "retry" } }, "Retry") : null);
  }
  if (m.deleted) return null;
  const readers = store.readBy(c, m.seq);
  if (!readers.length) return h("span", { class: "receipt", dataset: { state: "sent" } }, "✓ Sent");
  const text = c.kind === "direct" ? "✓✓ Seen" : `✓✓ Seen by ${readers.map((r) => store.name(r.userId)).join(", ")}`;
  return h("span", { class: "receipt", dataset: { state: "seen" } }, text);
}

export function presenceLine(store, c) {
  const other = store.other(c);
  if (other) return presenceText(store.presence.get(other));
  return `${c.members?.length || 0} members`;
}

export function typingLine(names) {
  if (!names.length) return "";
  return names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

const CONNECTION_TEXT = {
  online: "Connected",
  connecting: "Connecting…",
  offline: "Offline",
  stopped: "Disconnected",
};

export function connectionText(conn) {
  return CONNECTION_TEXT[conn.state] || conn.state;
}

// bannerText explains a state other than online, or returns "".
export function bannerText(conn, everOnline, plainWords) {
  switch (conn.state) {
    case "offline":
      return "You are offline. Messages you write are kept and sent when you are back.";
    case "connecting":
      if (!everOnline) return "";
      return conn.problem ? `Reconnecting… ${plainWords(conn.problem)}` : "Reconnecting…";
    case "stopped":
      return plainWords(conn.problem);
    default:
      return "";
  }
}
