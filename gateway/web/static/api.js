// REST calls to the gateway (/api/v1). The session lives in HttpOnly
// cookies the gateway sets, so no token ever passes through JavaScript:
// every call is same-origin with credentials, and a 401 token_expired is
// answered by one POST /auth/refresh and one retry (README "Refresh").

const BASE = "/api/v1";

// ApiError carries the problem+json the gateway answered.
export class ApiError extends Error {
  constructor(problem) {
    super(plainWords(problem));
    this.problem = problem;
    this.status = problem.status || 0;
    this.code = problem.code || "";
  }
}

// One refresh at a time: concurrent 401s wait for the same one.
let refreshing = null;

// refreshSession asks the gateway for a new session token (from the refresh
// cookie). It rejects with ApiError when the user must log in again.
export function refreshSession() {
  if (!refreshing) {
    refreshing = call("POST", "/auth/refresh", undefined, false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

// api sends one request and returns the parsed JSON body (null for 204).
export function api(method, path, body) {
  return call(method, path, body, true);
}

async function call(method, path, body, mayRefresh) {
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError({ status: 0, code: "network", title: "network error" });
  }
  if (res.ok) {
    return res.status === 204 ? null : res.json();
  }
  let problem;
  try {
    problem = await res.json();
  } catch {
    problem = { status: res.status, title: res.statusText };
  }
  problem.status ||= res.status;
  const retryAfter = res.headers.get("Retry-After");
  if (retryAfter) problem.retryAfterMs = Number(retryAfter) * 1000;
  if (mayRefresh && res.status === 401 && problem.code === "token_expired") {
    await refreshSession();
    return call(method, path, body, false);
  }
  throw new ApiError(problem);
}

// Messages for the codes a person can do something about; anything else
// falls back to the problem's own detail or title.
const PLAIN = {
  network: "Cannot reach Parley. Check your connection.",
  invalid_credentials: "Wrong username or password.",
  unauthorized: "Please log in.",
  session_revoked: "You were signed out. Please log in again.",
  token_expired: "Your session expired. Please log in again.",
  cross_origin_refused: "This page may not talk to Parley from another site.",
  unavailable: "Parley is unavailable right now. Try again in a moment.",
  link_unavailable: "Not connected to chat right now. Try again in a moment.",
  gateway_timeout: "Parley took too long to answer. Try again.",
  overloaded: "Parley is busy. Try again in a moment.",
  internal: "Something went wrong on our side.",
  not_found: "That no longer exists, or you cannot see it.",
  message_deleted: "That message was deleted.",
};

// plainWords turns a problem (REST or socket ack) into a sentence for people.
export function plainWords(problem) {
  if (!problem) return "Something went wrong.";
  if (Array.isArray(problem.errors) && problem.errors.length) {
    return problem.errors.map((e) => `${label(e.field)} ${e.message}`).join("; ") + ".";
  }
  if (problem.status === 429 || problem.code?.startsWith("too_many")) {
    const s = Math.ceil((problem.retryAfterMs || 0) / 1000);
    return s > 0 ? `Too many attempts. Try again in ${s} s.` : "Too many attempts. Try again shortly.";
  }
  let text = PLAIN[problem.code] || problem.detail || problem.title || "Something went wrong.";
  if (problem.status >= 500 && problem.traceId) text += ` (reference ${problem.traceId})`;
  return text;
}

function label(field) {
  const name = String(field || "").split(".").pop();
  return name ? name.charAt(0).toUpperCase() + name.slice(1) + ":" : "";
}
