// The Socket.IO connection and its visible state. It follows the client's
// rules of the gateway README: refresh over REST when the gateway says
// token_expired (at connect, or by cutting the socket at the token's
// expiry), never retry a refusal in a loop, and go quiet while the browser
// says it is offline.
import { io } from "./vendor/socket.io.esm.min.js";
import { refreshSession, plainWords } from "./api.js";

const COMMAND_TIMEOUT_MS = 12000;

// Connection states shown to the user:
//   connecting   first connect or a reconnect in progress
//   online       connected; commands flow
//   offline      the browser is offline; waiting for it to come back
//   stopped      refused for good (the reason is in `problem`)
export class Connection extends EventTarget {
  constructor({ onEvent, onConnect, onSignedOut }) {
    super();
    this.state = "connecting";
    this.problem = null;
    this.onSignedOut = onSignedOut;
    this.socket = io({
      autoConnect: false,
      withCredentials: true,
      reconnectionDelay: 300,
      reconnectionDelayMax: 2000,
    });
    this.socket.on("connect", () => {
      this.setState("online");
      onConnect();
    });
    this.socket.on("connect_error", (err) => this.refused(err));
    this.socket.on("disconnect", (reason) => this.lost(reason));
    this.socket.onAny((name, payload) => onEvent(name, payload));
    this.goOffline = () => { this.socket.disconnect(); this.setState("offline"); };
    this.goOnline = () => this.start();
    window.addEventListener("offline", this.goOffline);
    window.addEventListener("online", this.goOnline);
  }

  start() {
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    this.setState("connecting");
    this.socket.connect();
  }

  stop() {
    window.removeEventListener("offline", this.goOffline);
    window.removeEventListener("online", this.goOnline);
    this.socket.disconnect();
  }

  setState(state, problem = null) {
    this.state = state;
    this.problem = problem;
    this.dispatchEvent(new Event("change"));
  }

  // A refusal from the gateway's middleware carries a problem in err.data;
  // anything else is a transport failure Socket.IO retries by itself.
  async refused(err) {
    const problem = err.data;
    if (!problem || !problem.code) {
      this.setState(navigator.onLine ? "connecting" : "offline");
      return;
    }
    switch (problem.code) {
      case "token_expired":
        return this.refreshAndReconnect();
      case "unauthorized":
      case "session_revoked":
        return this.onSignedOut(problem);
      case "unavailable":
        this.setState("connecting", problem);
        setTimeout(() => this.start(), problem.retryAfterMs || 1000);
        return;
      default: // too_many_sockets and the like: say so, do not loop
        this.setState("stopped", problem);
    }
  }

  lost(reason) {
    if (reason === "io client disconnect") return; // we closed it (offline, logout)
    if (reason === "io server disconnect") {
      // The gateway cut the socket: its session token expired or the
      // session was ended. A refresh tells which.
      this.refreshAndReconnect();
      return;
    }
    this.setState(navigator.onLine ? "connecting" : "offline"); // Socket.IO reconnects
  }

  async refreshAndReconnect() {
    this.setState("connecting");
    try {
      await refreshSession();
    } catch (err) {
      if (err.status === 401) return this.onSignedOut(err.problem);
      this.setState("connecting", err.problem);
      setTimeout(() => this.refreshAndReconnect(), 2000);
      return;
    }
    this.start();
  }

  // command emits a command and resolves with its ack; a failure is thrown
  // as an Error with the problem and plain words.
  async command(event, data) {
    if (!this.socket.connected) {
      throw commandError({ status: 503, code: "link_unavailable" });
    }
    let ack;
    try {
      ack = await this.socket.timeout(COMMAND_TIMEOUT_MS).emitWithAck(event, data);
    } catch {
      throw commandError({ status: 504, code: "gateway_timeout" });
    }
    if (!ack || !ack.ok) throw commandError(ack?.error || { status: 500, code: "internal" });
    return ack;
  }

  // signal emits without an ack (typing).
  signal(event, data) {
    if (this.socket.connected) this.socket.emit(event, data);
  }
}

function commandError(problem) {
  const err = new Error(plainWords(problem));
  err.problem = problem;
  return err;
}

// retryable says whether a failed command may succeed unchanged later.
export function retryable(err) {
  const p = err.problem || {};
  return p.status >= 500 || p.code === "overloaded" || p.code === "too_many_commands" || p.status === 429;
}
