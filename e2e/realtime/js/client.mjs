// One browser-like session of the official socket.io-client against a
// Parley gateway, driven by e2e/realtime's interop test. It prints one JSON
// object per line on stdout and exits 0 when it saw what it was told to
// expect, non-zero otherwise.
//
// Environment:
//   PARLEY_URL           gateway base URL
//   PARLEY_COOKIE        Cookie header (parley_session=...), may be empty
//   PARLEY_ORIGIN        Origin header
//   PARLEY_TRANSPORTS    comma-separated, e.g. "websocket" or "polling,websocket"
//   PARLEY_UPGRADE       "false" to stay on the first transport
//   PARLEY_EXPECT_REFUSAL "1": succeed on connect_error, fail on connect
//   PARLEY_CONVERSATION, PARLEY_CLIENT_MSG_ID, PARLEY_BODY: what to send
//   PARLEY_EXPECT_BODY   body of a message from someone else to wait for
import { io } from "socket.io-client";

const env = process.env;
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const refusal = env.PARLEY_EXPECT_REFUSAL === "1";

const extraHeaders = { Origin: env.PARLEY_ORIGIN };
if (env.PARLEY_COOKIE) extraHeaders.Cookie = env.PARLEY_COOKIE;

const socket = io(env.PARLEY_URL, {
  transports: (env.PARLEY_TRANSPORTS || "websocket").split(","),
  upgrade: env.PARLEY_UPGRADE !== "false",
  extraHeaders,
  reconnection: false,
  timeout: 10000,
});

const finish = (code, o) => {
  out(o);
  socket.disconnect();
  process.exit(code);
};
const deadline = setTimeout(() => finish(2, { event: "timeout" }), 20000);

let acked = false;
let delivered = false;
const maybeDone = () => {
  if (acked && delivered) {
    clearTimeout(deadline);
    // Let a duplicate delivery, if any, arrive before reporting done.
    setTimeout(() => finish(0, { event: "done", transport: socket.io.engine.transport.name }), 500);
  }
};

socket.onAny((name, payload) => {
  out({ event: "received", name, payload });
  if (name === "message:new" && payload && payload.body === env.PARLEY_EXPECT_BODY) {
    delivered = true;
    maybeDone();
  }
});

socket.on("connect_error", (err) => {
  clearTimeout(deadline);
  finish(refusal ? 0 : 1, { event: "connect_error", message: err.message, data: err.data ?? null });
});

socket.on("connect", async () => {
  out({ event: "connected", id: socket.id, transport: socket.io.engine.transport.name });
  if (refusal) {
    clearTimeout(deadline);
    finish(1, { event: "unexpected_connect" });
    return;
  }
  try {
    const ack = await socket.timeout(10000).emitWithAck("message:send", {
      conversationId: env.PARLEY_CONVERSATION,
      clientMsgId: env.PARLEY_CLIENT_MSG_ID,
      body: env.PARLEY_BODY,
    });
    out({ event: "ack", ack });
    acked = true;
    maybeDone();
  } catch (err) {
    clearTimeout(deadline);
    finish(1, { event: "ack_error", message: String(err) });
  }
});
