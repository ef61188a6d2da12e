// The plain server the gateway's idle-socket memory is compared with: a
// minimal socket.io 4.8 server that authenticates each handshake by its
// session cookie (the EdDSA JWT auth-service mints, verified with the public
// key in the PEM file PARLEY_SESSION_PUBLIC_KEY: algorithm, issuer, audience
// and expiry checked) and puts the socket in its user's room, as a Node chat
// server would. It prints {"event":"listening","port":N} once it listens.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createPublicKey, verify } from "node:crypto";
import { Server } from "socket.io";

const key = createPublicKey(readFileSync(process.env.PARLEY_SESSION_PUBLIC_KEY));
const b64 = (s) => Buffer.from(s, "base64url");

// userOf returns the user a session cookie belongs to, or null.
function userOf(cookieHeader) {
  const m = /(?:^|;\s*)parley_session=([^;]+)/.exec(cookieHeader || "");
  if (!m) return null;
  const [h, p, s] = m[1].split(".");
  if (!h || !p || !s) return null;
  try {
    if (JSON.parse(b64(h)).alg !== "EdDSA") return null;
    if (!verify(null, Buffer.from(`${h}.${p}`), key, b64(s))) return null;
    const c = JSON.parse(b64(p));
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
    if (c.iss !== "parley-auth" || !aud.includes("parley-gateway") || !(c.exp * 1000 > Date.now())) return null;
    return typeof c.sub === "string" ? c.sub : null;
  } catch {
    return null;
  }
}

const http = createServer();
const io = new Server(http);
io.use((socket, next) => {
  const user = userOf(socket.request.headers.cookie);
  if (!user) return next(new Error("unauthorized"));
  socket.data.userId = user;
  socket.join(`user:${user}`);
  next();
});
http.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ event: "listening", port: http.address().port }) + "\n");
});
