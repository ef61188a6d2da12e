// What the client knows: conversations, the loaded messages of each, the
// last eventSeq seen per conversation (what `sync` asks from), messages
// waiting to be sent, presence and typing. Every change goes through the
// apply* methods, for live events and sync replies alike, so a replayed
// event and a live one land the same way; the UI re-renders on "change".

export class Store extends EventTarget {
  constructor(me) {
    super();
    this.me = me; // {id, username}
    this.conversations = new Map(); // id → Conversation (REST shape)
    this.messages = new Map(); // conversation id → Map(message id → Message)
    this.hasOlder = new Map(); // conversation id → bool
    this.lastEventSeq = new Map(); // conversation id → last eventSeq applied
    this.outbox = new Map(); // clientMsgId → {conversationId, clientMsgId, body, replyToId, error}
    this.presence = new Map(); // user id → {online, lastSeenAt}
    this.typing = new Map(); // conversation id → Map(user id → expiry ms)
    this.names = new Map(); // user id → display name
    this.openId = null;
  }

  changed(what) {
    this.dispatchEvent(new CustomEvent("change", { detail: what }));
  }

  name(userId) {
    if (userId === this.me.id) return "You";
    return this.names.get(userId) || "someone";
  }

  // title is a conversation's name: its title, or the other member's name.
  title(c) {
    if (c.kind === "group") return c.title || "Group";
    const other = c.members?.find((m) => m.userId !== this.me.id);
    return other ? this.name(other.userId) : "Just you";
  }

  other(c) {
    return c.kind === "direct" ? c.members?.find((m) => m.userId !== this.me.id)?.userId : null;
  }

  // putConversation stores a conversation from REST, or from an event
  // (fromEvent): an event's payload is the same for every member, so it
  // carries none of my own figures (read mark, unread count, last message),
  // and its lastSeq is left to the message events that follow it.
  putConversation(c, fromEvent = false) {
    const old = this.conversations.get(c.id);
    for (const m of c.members || []) {
      if (m.displayName || m.username) this.names.set(m.userId, m.displayName || m.username);
    }
    const merged = { ...old, ...c };
    if (old && fromEvent) {
      merged.lastSeq = old.lastSeq;
      merged.lastActivityAt = old.lastActivityAt > c.lastActivityAt ? old.lastActivityAt : c.lastActivityAt;
      for (const m of merged.members || []) { // keep the read marks receipts show
        const was = old.members?.find((o) => o.userId === m.userId);
        if (was) m.lastReadSeq = Math.max(was.lastReadSeq || 0, m.lastReadSeq || 0);
      }
    }
    this.conversations.set(c.id, merged);
    if (!old) this.lastEventSeq.set(c.id, c.lastEventSeq || 0); // later, only events move it
    this.changed("conversations");
  }

  // seen records the eventSeq of an applied event.
  seen(conversationId, eventSeq) {
    if (eventSeq > (this.lastEventSeq.get(conversationId) || 0)) this.lastEventSeq.set(conversationId, eventSeq);
  }

  sorted() {
    return [...this.conversations.values()].sort((a, b) => (b.lastActivityAt || "").localeCompare(a.lastActivityAt || ""));
  }

  // putMessages stores a page of history.
  putMessages(conversationId, list, hasOlder) {
    const byId = this.messages.get(conversationId) || new Map();
    for (const m of list) byId.set(m.id, m);
    this.messages.set(conversationId, byId);
    if (hasOlder !== undefined) this.hasOlder.set(conversationId, hasOlder);
    this.changed("messages");
  }

  // applyMessage stores a new or changed message (message:new, :updated,
  // :deleted): the newer eventSeq wins, so a replay never undoes an edit.
  applyMessage(m) {
    const byId = this.messages.get(m.conversationId); // absent: history not loaded yet
    const old = byId?.get(m.id);
    if (byId && (!old || (m.eventSeq || 0) >= (old.eventSeq || 0))) byId.set(m.id, m);
    if (m.clientMsgId && m.senderId === this.me.id) this.outbox.delete(m.clientMsgId);
    const c = this.conversations.get(m.conversationId);
    if (c) {
      if (m.seq > (c.lastSeq || 0)) { // a new message, not a replay or a change
        c.lastSeq = m.seq;
        c.lastActivityAt = m.createdAt;
        if (m.senderId !== this.me.id && m.seq > (c.lastReadSeq || 0)) c.unreadCount = (c.unreadCount || 0) + 1;
      }
      const last = c.lastMessage;
      if (!last || last.seq < m.seq || (last.id === m.id && (m.eventSeq || 0) >= (last.eventSeq || 0))) c.lastMessage = m;
    }
    this.changed("messages");
  }

  // applyRead handles conversation:read {conversationId, userId, seq}.
  applyRead(r) {
    const c = this.conversations.get(r.conversationId);
    if (!c) return;
    const member = c.members?.find((m) => m.userId === r.userId);
    if (member) member.lastReadSeq = Math.max(member.lastReadSeq || 0, r.seq);
    if (r.userId === this.me.id && r.seq >= (c.lastReadSeq || 0)) {
      c.lastReadSeq = r.seq;
      c.unreadCount = r.seq >= (c.lastSeq || 0) ? 0 : countUnread(this, c);
    }
    this.changed("messages");
  }

  applyTyping({ conversationId, userId, typing }) {
    if (userId === this.me.id) return;
    const users = this.typing.get(conversationId) || new Map();
    if (typing) users.set(userId, Date.now() + 6000);
    else users.delete(userId);
    this.typing.set(conversationId, users);
    this.changed("typing");
  }

  typingNames(conversationId) {
    const now = Date.now();
    const users = this.typing.get(conversationId) || new Map();
    return [...users].filter(([, until]) => until > now).map(([id]) => this.name(id));
  }

  applyPresence({ userId, online, lastSeenAt }) {
    this.presence.set(userId, { online, lastSeenAt });
    this.changed("presence");
  }

  // readBy returns the other members who have read up to seq.
  readBy(c, seq) {
    return (c.members || []).filter((m) => m.userId !== this.me.id && (m.lastReadSeq || 0) >= seq);
  }
}

// countUnread counts the loaded messages of others after my read mark; a
// conversation whose history is not loaded keeps the server's figure.
function countUnread(store, c) {
  const byId = store.messages.get(c.id);
  if (!byId) return c.unreadCount || 0;
  let n = 0;
  for (const m of byId.values()) if (m.senderId !== store.me.id && m.seq > c.lastReadSeq && !m.deleted) n++;
  return n;
}
