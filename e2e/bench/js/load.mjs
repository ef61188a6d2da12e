// Message-path load generator for e2e/bench: the official socket.io-client
// over WebSocket, one socket per user, driven by the Go benchmark through
// JSON lines on stdin; it answers with one JSON value per line on stdout.
//
// Commands (stdin):
//   {"cmd":"connect","senders":[{"url","cookie","conversationId"}],
//    "receivers":[{"url","cookie","conversationId"}],"origin"?}
//                                                        → {"event":"ready",...}
// Every conversation that is written to has the same number of receivers
// (its slots): a message is delivered when each of its conversation's
// receivers got it (dlv[slot][i]).
//   {"cmd":"run","name","segments":[{"rate","ms"}],"ackTimeoutMs","drainMs",
//    "guard"?:{"outstandingSec","failRatio"}}             → {"event":"result",...}
//   {"cmd":"hold","sockets":[{"url","cookie"}]}          → {"event":"held",...}
//   {"cmd":"release"}                                    → {"event":"released"}
//   {"cmd":"quit"}                                       → exits 0
//
// A run sends at a fixed offered rate per segment, round robin over the
// senders, each message with its own clientMsgId. Every latency counts from
// the moment the message was due, not from when this process got round to
// sending it, so a late generator cannot hide queueing (the lag column says
// how late it was). The guard, when given, stops a ramp at the end of a
// segment that clearly fell behind; the Go side decides what was sustained.
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

let senders = [];
let receivers = [];
let slots = 0; // receivers per conversation
const slotOf = []; // receiver index → its position in its conversation
const byConv = new Map(); // conversation id → its receivers' indexes
const lost = []; // {role, index, reason, atMs}

function open(url, cookie, origin) {
  return io(url, {
    transports: ["websocket"],
    extraHeaders: { Cookie: cookie, Origin: origin || url },
    reconnection: false,
    timeout: 20000,
  });
}

// connected resolves when the socket is connected, rejects on connect_error.
function connected(sock) {
  return new Promise((resolve, reject) => {
    if (sock.connected) return resolve();
    sock.once("connect", resolve);
    sock.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

// held are idle sockets, opened only to be counted in a server's memory.
let held = [];

async function hold(cmd) {
  const t0 = performance.now();
  const opened = cmd.sockets.map((s) => open(s.url, s.cookie, cmd.origin));
  held = held.concat(opened);
  for (let i = 0; i < opened.length; i += 100) {
    await Promise.all(opened.slice(i, i + 100).map(connected));
  }
  out({ event: "held", sockets: held.filter((s) => s.connected).length, ms: Math.round(performance.now() - t0) });
}

function release() {
  for (const s of held) s.disconnect();
  held = [];
  out({ event: "released" });
}

// current holds the delivery bookkeeping of the run in progress.
let current = null;

// connectAll opens the command's sockets, added to those already open (a
// later connect adds senders, e.g. for a burst that must stay under flood
// control).
async function connectAll(cmd) {
  const t0 = performance.now();
  const make = (role, list, offset) =>
    list.map((s, k) => {
      const index = offset + k;
      const sock = open(s.url, s.cookie, cmd.origin);
      sock.on("disconnect", (reason) => lost.push({ role, index, reason, atMs: Date.now() }));
      if (process.env.PARLEY_BENCH_DEBUG) {
        sock.onAny((name, payload) => process.stderr.write(`${role} ${index} ${name} ${JSON.stringify(payload).slice(0, 300)}\n`));
      }
      if (role === "receiver") {
        sock.on("message:new", (m) => current && current.delivered(index, m));
      }
      return { sock, conversationId: s.conversationId };
    });
  const newSenders = make("sender", cmd.senders || [], senders.length);
  const newReceivers = make("receiver", cmd.receivers || [], receivers.length);
  newReceivers.forEach((r, k) => {
    const list = byConv.get(r.conversationId) || [];
    slotOf[receivers.length + k] = list.length;
    list.push(receivers.length + k);
    byConv.set(r.conversationId, list);
  });
  senders = senders.concat(newSenders);
  receivers = receivers.concat(newReceivers);
  const counts = new Set(senders.map((s) => (byConv.get(s.conversationId) || []).length));
  if (counts.size !== 1) throw new Error(`conversations written to must have the same number of receivers, got ${[...counts]}`);
  slots = [...counts][0];
  const all = [...newSenders, ...newReceivers];
  // Open in small batches: the handshake verifies a session token each.
  for (let i = 0; i < all.length; i += 50) {
    await Promise.all(all.slice(i, i + 50).map((s) => connected(s.sock)));
  }
  // Every socket answers a command before any clock starts.
  await Promise.all(
    all.map(async (s) => {
      // A client retries a refusal that says when (DESIGN §9): hundreds of
      // syncs at once may be refused as overloaded.
      for (;;) {
        const ack = await s.sock.timeout(20000).emitWithAck("sync", { conversations: {} });
        if (ack && ack.ok) break;
        if (!ack || !ack.retryAfterMs) throw new Error(`sync refused: ${JSON.stringify(ack)}`);
        await new Promise((r) => setTimeout(r, ack.retryAfterMs));
      }
    }),
  );
  out({ event: "ready", senders: senders.length, receivers: receivers.length, ms: Math.round(performance.now() - t0) });
}

function run(cmd) {
  return new Promise((resolve) => {
    const segs = cmd.segments;
    const total = segs.reduce((n, s) => n + Math.floor((s.rate * s.ms) / 1000), 0);
    const due = new Float64Array(total); // ms from the run's start
    const lag = new Float32Array(total).fill(-1); // how late the emit was
    const ack = new Float64Array(total).fill(-1); // ms from the run's start
    const code = new Array(total).fill(""); // "" ok, else "<status> <code>" or "timeout"/"socket lost"
    const retry = new Int32Array(total).fill(-1); // retryAfterMs of a refusal
    const nrcv = slots;
    const dlv = Array.from({ length: nrcv }, () => new Float64Array(total).fill(-1));
    const codes = new Map([["", 0]]);
    let dup = 0;
    let foreign = 0;
    let ok = 0;
    let acked = 0;
    const dcount = new Uint16Array(total); // receivers that got message i
    let pendingDlv = 0; // deliveries still owed for messages acked ok
    let sent = 0;
    const prefix = `${cmd.name}-${Date.now().toString(36)}-`;
    const cpu0 = process.cpuUsage();
    const start = performance.now() + 20;
    const startedAt = Date.now() + 20;

    // Due times: segment after segment, evenly spaced within each.
    {
      let i = 0;
      let t = 0;
      for (const s of segs) {
        const n = Math.floor((s.rate * s.ms) / 1000);
        for (let k = 0; k < n; k++) due[i++] = t + (k * 1000) / s.rate;
        t += s.ms;
      }
    }
    const segEnd = [];
    {
      let n = 0;
      for (const s of segs) segEnd.push((n += Math.floor((s.rate * s.ms) / 1000)));
    }

    current = {
      delivered(r, m) {
        const id = m && typeof m.clientMsgId === "string" ? m.clientMsgId : "";
        if (!id.startsWith(prefix)) {
          foreign++;
          return;
        }
        const i = Number(id.slice(prefix.length));
        if (!(i >= 0 && i < total)) return;
        const d = dlv[slotOf[r]];
        if (d[i] >= 0) {
          dup++;
          return;
        }
        d[i] = performance.now() - start;
        dcount[i]++;
        if (ack[i] >= 0 && code[i] === "") pendingDlv--;
        maybeDone();
      },
    };

    let stoppedAt = -1; // index of the first message not sent (guard)
    let finished = false;
    let drainTimer = null;
    const limit = () => (stoppedAt >= 0 ? stoppedAt : total);
    const maybeDone = () => {
      if (finished || sent < limit()) return;
      if (acked === limit() && pendingDlv === 0) finish();
    };

    const send = (i) => {
      const now = performance.now() - start;
      lag[i] = now - due[i];
      const s = senders[i % senders.length];
      sent++;
      s.sock.timeout(cmd.ackTimeoutMs).emit(
        "message:send",
        {
          conversationId: s.conversationId,
          clientMsgId: prefix + i,
          body: `benchmark message ${i}: the quick brown fox jumps over the lazy dog`,
        },
        (err, a) => {
          ack[i] = performance.now() - start;
          acked++;
          if (err) {
            code[i] = s.sock.connected ? "timeout" : "socket lost";
          } else if (a && a.ok) {
            ok++;
            pendingDlv += nrcv - dcount[i];
          } else {
            const e = (a && a.error) || {};
            code[i] = `${e.status ?? "?"} ${e.code ?? "?"}`;
            if (a && typeof a.retryAfterMs === "number") retry[i] = a.retryAfterMs;
          }
          maybeDone();
        },
      );
    };

    // guardTrips reports whether the segment that ends at message i fell
    // clearly behind: too many acks outstanding or too many refusals.
    let seg = 0;
    let segFailBase = 0;
    const failures = () => acked - ok;
    const guardTrips = (i) => {
      const g = cmd.guard;
      if (!g) return false;
      const outstanding = i - acked;
      const segN = i - (seg === 0 ? 0 : segEnd[seg - 1]);
      return outstanding > g.outstandingSec * segs[seg].rate || failures() - segFailBase > g.failRatio * segN;
    };

    let next = 0;
    const tick = () => {
      const now = performance.now() - start;
      while (next < total && due[next] <= now) {
        send(next++);
        if (next === segEnd[seg] && next < total) {
          if (guardTrips(next)) {
            stoppedAt = next;
            break;
          }
          segFailBase = failures();
          seg++;
        }
      }
      if (stoppedAt < 0 && next < total) {
        setTimeout(tick, Math.max(0, due[next] - (performance.now() - start)));
        return;
      }
      drainTimer = setTimeout(finish, cmd.drainMs);
      maybeDone();
    };

    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(drainTimer);
      current = null;
      const n = limit();
      const cpu = process.cpuUsage(cpu0);
      const codeIdx = code.slice(0, n).map((c) => {
        if (!codes.has(c)) codes.set(c, codes.size);
        return codes.get(c);
      });
      out({
        event: "result",
        name: cmd.name,
        startedAtMs: startedAt,
        wallMs: performance.now() - start,
        cpuMs: (cpu.user + cpu.system) / 1000,
        sent: n,
        stoppedEarly: stoppedAt >= 0,
        codes: [...codes.keys()],
        due: Array.from(due.subarray(0, n), round),
        lag: Array.from(lag.subarray(0, n), round),
        ack: Array.from(ack.subarray(0, n), round),
        code: codeIdx,
        retry: Array.from(retry.subarray(0, n)),
        dlv: dlv.map((d) => Array.from(d.subarray(0, n), round)),
        duplicates: dup,
        foreign,
        lost: lost.splice(0),
      });
      resolve();
    };

    setTimeout(tick, Math.max(0, start - performance.now()));
  });
}

const round = (x) => Math.round(x * 100) / 100;

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
rl.on("line", (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    const cmd = JSON.parse(line);
    try {
      switch (cmd.cmd) {
        case "connect":
          await connectAll(cmd);
          break;
        case "run":
          await run(cmd);
          break;
        case "hold":
          await hold(cmd);
          break;
        case "release":
          release();
          break;
        case "quit":
          for (const s of [...senders, ...receivers]) s.sock.disconnect();
          process.exit(0);
          break;
        default:
          out({ event: "error", message: `unknown command ${cmd.cmd}` });
      }
    } catch (err) {
      out({ event: "error", message: String(err && err.stack ? err.stack : err) });
    }
  });
});
rl.on("close", () => process.exit(0));
