// The chat controller: turns server events and user actions into store
// changes. The rules a chat UI must follow (DESIGN "The client's rules"):
//   - every change of a conversation has the next eventSeq; the last one
//     seen per conversation is what `sync` asks from after every (re)connect
//     and on `sync:required`; a jump in eventSeq means something was missed;
//   - a gap in a sync answer means "refetch over REST";
//   - a message is sent with a clientMsgId chosen here and resent with the
//     same id until acknowledged, so a resend never makes a duplicate.
import { api } from "./api.js";
import { Connection, retryable } from "./connection.js";
import { Store } from "./store.js";

const PAGE = 30;
const TYPING_RENEW_MS = 3000;

export class Chat {
  constructor(me, { onError, onSignedOut }) {
    this.store = new Store(me);
    this.onError = onError;
    this.conn = new Connection({
      onEvent: (name, payload) => this.onEvent(name, payload),
      onConnect: () => this.onConnect(),
      onSignedOut,
    });
    this.syncing = null;
    this.syncAgain = false;
    this.flushing = false;
    this.loadingOlder = false;
    this.readSent = new Map(); // conversation id → seq last reported read
    this.typingSince = 0;
    this.typingTimer = null;
    this.pendingNames = new Set();
  }

  async start() {
    let cursor;
    do {
      const page = await api("GET", `/conversations?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      for (const c of page.conversations) this.store.putConversation(c);
      cursor = page.nextCursor;
    } while (cursor);
    this.lookUpNames();
    this.conn.start();
  }

  stop() {
    this.conn.stop();
  }

  async onConnect() {
    await this.sync();
    this.flushOutbox();
    this.markRead();
    this.queryPresence([...this.store.conversations.values()]);
  }

  // queryPresence asks for the current presence of the members of the
  // given conversations (presence:query, at most 100 ids a call); later
  // changes arrive as presence events.
  async queryPresence(conversations) {
    const ids = new Set();
    for (const c of conversations) {
      for (const m of c.members || []) if (m.userId !== this.store.me.id) ids.add(m.userId);
    }
    const all = [...ids];
    for (let i = 0; i < all.length; i += 100) {
      try {
        const ack = await this.conn.command("presence:query", { userIds: all.slice(i, i + 100) });
        for (const p of ack.presence) this.store.applyPresence(p);
      } catch {
        return; // presence is a hint: the next connect asks again
      }
    }
  }

  // --- events -----------------------------------------------------------

  onEvent(name, p) {
    switch (name) {
      case "message:new":
      case "message:updated":
      case "message:deleted":
      case "conversation:new":
      case "conversation:updated":
      case "conversation:read":
        return this.live(name, p);
      case "typing":
        return this.store.applyTyping(p);
      case "presence":
        return this.store.applyPresence(p);
      case "sync:required":
        return this.sync();
    }
  }

  // apply stores one conversation event, live or replayed by sync. A
  // replayed event carries the current state (an edited message's newest
  // body), so its payload's eventSeq may be later than the event's own.
  apply(name, p) {
    if (name.startsWith("message:")) this.applyMessage(p);
    else if (name === "conversation:read") this.store.applyRead(p);
    else {
      const known = this.store.conversations.has(p.id);
      this.store.putConversation(p, true);
      if (!known || name === "conversation:updated") this.queryPresence([p]); // new people
    }
  }

  // live applies an event that arrived on the socket. When its eventSeq is
  // not the next one, something was missed: apply it anyway (newer wins)
  // and sync from the last contiguous one.
  async live(name, p) {
    const conversationId = p.conversationId || p.id;
    const eventSeq = name.startsWith("conversation:") && name !== "conversation:read" ? p.lastEventSeq : p.eventSeq;
    if (!this.store.conversations.has(conversationId)) {
      await this.refetch(conversationId);
      this.apply(name, p);
      return;
    }
    const last = this.store.lastEventSeq.get(conversationId) || 0;
    this.apply(name, p);
    if (!eventSeq || eventSeq <= last + 1) this.store.seen(conversationId, eventSeq || 0);
    else this.sync();
  }

  applyMessage(m) {
    this.store.applyMessage(m);
    if (m.conversationId === this.store.openId) this.markRead();
    this.lookUpNames();
  }

  // sync asks for everything after the last eventSeq seen, once at a time.
  async sync() {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        const conversations = Object.fromEntries(this.store.lastEventSeq);
        let ack;
        try {
          ack = await this.conn.command("sync", { conversations });
        } catch (err) {
          if (!retryable(err)) this.onError(err.message);
          return; // the next connect syncs again
        }
        for (const ev of ack.events) {
          if (!this.store.conversations.has(ev.conversationId)) await this.refetch(ev.conversationId);
          this.apply(ev.type, ev.payload);
          this.store.seen(ev.conversationId, ev.eventSeq);
        }
        for (const gap of ack.gaps || []) await this.refetch(gap.conversationId);
      } while (this.syncAgain);
    })().finally(() => { this.syncing = null; });
    return this.syncing;
  }

  // refetch reloads a conversation over REST (a gap, or one we did not
  // know), and its newest messages if they were loaded.
  async refetch(conversationId) {
    try {
      const c = await api("GET", `/conversations/${conversationId}`);
      const known = this.store.conversations.has(c.id);
      this.store.putConversation(c);
      if (!known) this.queryPresence([c]);
      this.store.lastEventSeq.set(c.id, c.lastEventSeq || 0);
      if (this.store.messages.has(c.id)) {
        this.store.messages.delete(c.id);
        await this.loadMessages(c.id);
      }
    } catch (err) {
      if (err.status === 404) {
        this.store.conversations.delete(conversationId);
        this.store.lastEventSeq.delete(conversationId);
        this.store.changed("conversations");
      } else {
        this.onError(err.message);
      }
    }
  }

  // lookUpNames fetches the profiles of senders no member list named.
  lookUpNames() {
    const ids = new Set();
    for (const c of this.store.conversations.values()) {
      for (const m of c.members || []) ids.add(m.userId);
    }
    for (const id of ids) {
      if (id === this.store.me.id || this.store.names.has(id) || this.pendingNames.has(id)) continue;
      this.pendingNames.add(id);
      api("GET", `/users/${id}`).then((p) => {
        this.store.names.set(id, p.displayName || p.username);
        this.store.changed("names");
      }).catch(() => {}).finally(() => this.pendingNames.delete(id));
    }
  }

  // --- history ----------------------------------------------------------

  async open(conversationId) {
    this.store.openId = conversationId;
    this.store.changed("open");
    if (!this.store.messages.has(conversationId)) await this.loadMessages(conversationId);
    this.markRead();
  }

  async loadMessages(conversationId) {
    const page = await api("GET", `/conversations/${conversationId}/messages?limit=${PAGE}`);
    this.store.putMessages(conversationId, page.messages, page.hasMore);
  }

  // loadOlder fetches the page before the oldest loaded message (infinite
  // scroll); it resolves false when there is nothing more.
  async loadOlder() {
    const id = this.store.openId;
    if (!id || this.loadingOlder || !this.store.hasOlder.get(id)) return false;
    const loaded = [...(this.store.messages.get(id)?.values() || [])];
    const oldest = Math.min(...loaded.map((m) => m.seq));
    this.loadingOlder = true;
    try {
      const page = await api("GET", `/conversations/${id}/messages?limit=${PAGE}&before=${oldest}`);
      this.store.putMessages(id, page.messages, page.hasMore);
      return true;
    } catch (err) {
      this.onError(err.message);
      return false;
    } finally {
      this.loadingOlder = false;
    }
  }

  // markRead reports the open conversation read up to its newest message
  // while the page is visible.
  markRead() {
    const c = this.store.conversations.get(this.store.openId);
    if (!c || document.visibilityState !== "visible" || !this.conn.socket.connected) return;
    const seq = c.lastSeq || 0;
    if (seq === 0 || seq <= (c.lastReadSeq || 0) || seq <= (this.readSent.get(c.id) || 0)) return;
    this.readSent.set(c.id, seq);
    this.conn.command("conversation:read", { conversationId: c.id, seq }).then(() => {
      this.store.applyRead({ conversationId: c.id, userId: this.store.me.id, seq });
    }).catch(() => this.readSent.delete(c.id));
  }

  // --- sending ----------------------------------------------------------

  send(conversationId, body, replyToId) {
    const item = { conversationId, clientMsgId: newClientMsgId(), body, replyToId, senderId: this.store.me.id, createdAt: new Date().toISOString() };
    this.store.outbox.set(item.clientMsgId, item);
    this.store.changed("messages");
    this.typing(conversationId, false);
    this.flushOutbox();
  }

  retry(clientMsgId) {
    const item = this.store.outbox.get(clientMsgId);
    if (!item) return;
    item.error = null;
    this.store.changed("messages");
    this.flushOutbox();
  }

  // flushOutbox sends waiting messages one at a time, in the order written,
  // including those written while it runs.
  async flushOutbox() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const item = [...this.store.outbox.values()].find((m) => !m.error);
        if (!item || !this.conn.socket.connected) return; // the rest goes on the next connect
        try {
          const ack = await this.conn.command("message:send", {
            conversationId: item.conversationId, clientMsgId: item.clientMsgId, body: item.body,
            ...(item.replyToId ? { replyToId: item.replyToId } : {}),
          });
          this.store.outbox.delete(item.clientMsgId);
          this.applyMessage(ack.message);
        } catch (err) {
          if (retryable(err)) {
            setTimeout(() => this.flushOutbox(), err.problem.retryAfterMs || 1000);
            return;
          }
          item.error = err.message;
          this.store.changed("messages");
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  async edit(conversationId, messageId, body) {
    const ack = await this.conn.command("message:edit", { conversationId, messageId, body });
    this.store.applyMessage(ack.message);
  }

  async remove(conversationId, messageId) {
    const ack = await this.conn.command("message:delete", { conversationId, messageId });
    this.store.applyMessage(ack.message);
  }

  async react(conversationId, message, emoji) {
    const mine = message.reactions?.find((r) => r.emoji === emoji)?.userIds?.includes(this.store.me.id);
    const path = `/conversations/${conversationId}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`;
    const updated = await api(mine ? "DELETE" : "PUT", path);
    if (updated) this.store.applyMessage(updated);
  }

  async create(memberIds, title) {
    const body = memberIds.length === 1 && !title
      ? { kind: "direct", members: memberIds }
      : { kind: "group", title, members: memberIds };
    const c = await api("POST", "/conversations", body);
    this.store.putConversation(c);
    this.lookUpNames();
    this.queryPresence([c]);
    await this.open(c.id);
  }

  // typing tells the others that I am (or stopped) typing: renewed every
  // few seconds while I type, stopped after a pause or when I send.
  typing(conversationId, active) {
    clearTimeout(this.typingTimer);
    const now = Date.now();
    if (!active) {
      if (this.typingSince) this.conn.signal("typing", { conversationId, typing: false });
      this.typingSince = 0;
      return;
    }
    if (now - this.typingSince > TYPING_RENEW_MS) {
      this.conn.signal("typing", { conversationId, typing: true });
      this.typingSince = now;
    }
    this.typingTimer = setTimeout(() => this.typing(conversationId, false), TYPING_RENEW_MS);
  }
}

// newClientMsgId returns a random id. crypto.randomUUID exists only in
// secure contexts (HTTPS or localhost); getRandomValues works everywhere.
function newClientMsgId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return "c-" + [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

