// Browser scenarios of the reference web client, driven by e2e/browser's Go
// test: playwright-core runs the system's Chromium against a gateway the
// test started. One run plays one scenario and exits 0 when every step
// passed. Every wait is on a DOM condition with a deadline, never a pause.
//
//   node scenarios.mjs <chat|offline|restart|expiry>
//
// Environment: PARLEY_URL (gateway base URL), CHROMIUM (executable),
// SCREENSHOTS (folder for the screenshots; created).
//
// stdout: one JSON object per line: {"step": ...} as the run progresses,
// {"need": "stop-gateway"|"start-gateway"} when the Go side must act (it
// answers with one line on stdin once done), {"error": ...} on failure.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const URL = process.env.PARLEY_URL;
const SHOTS = process.env.SCREENSHOTS;
const WAIT = 20000; // the longest any one condition may take
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const suffix = Math.random().toString(36).slice(2, 8);

const stdin = createInterface({ input: process.stdin });
const answers = stdin[Symbol.asyncIterator]();
async function need(what) {
  out({ need: what });
  const { value, done } = await answers.next();
  if (done || value.trim() !== "ok") throw new Error(`${what}: the test answered ${JSON.stringify(value)}`);
}

let current = "start";
const step = (name) => { current = name; out({ step: name }); };
const pageErrors = [];

async function signUp(browser, name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 620 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("dialog", (d) => d.accept());
  page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
  await page.goto(URL + "/");
  const user = { name: name + suffix, context, page };
  await page.fill("#signup-form [name=username]", user.name);
  await page.fill("#signup-form [name=email]", `${user.name}@example.com`);
  await page.fill("#signup-form [name=password]", `a long passphrase ${suffix}`);
  await page.click("#signup-form button");
  await online(user);
  return user;
}

const online = (u) => u.page.locator('#connection[data-state="online"]').waitFor();
const bubble = (u, text) => u.page.locator("#messages li.message", { hasText: text });
const sent = (u, text) => u.page.locator("#messages li.message:not(.pending)", { hasText: text }).waitFor();

// openChat starts a chat from a with b through the search box: a direct
// one, or a group when a title is given. A just-registered user reaches the
// user and chat services a moment after signing up, so a miss is searched
// again (bounded).
async function openChat(a, b, title = "") {
  for (let attempt = 1; ; attempt++) {
    await a.page.fill("#new-chat [name=query]", "");
    await a.page.fill("#new-chat [name=query]", b.name);
    await a.page.fill("#new-chat [name=title]", title);
    try {
      await a.page.locator("#people label", { hasText: b.name }).waitFor({ timeout: 3000 });
      await a.page.locator("#people label", { hasText: b.name }).locator("input").check();
      await a.page.click("#new-chat button");
      await a.page.waitForFunction((want) => !document.querySelector("#conversation").hidden
        && document.querySelector("#conversation-title").textContent === want
        || document.querySelector("#chat-error").textContent !== "", title || b.name, { timeout: 5000 });
      if (await a.page.textContent("#conversation-title") === (title || b.name)) return;
    } catch (err) {
      if (attempt >= 10) throw err;
    }
    if (attempt >= 10) throw new Error(`could not open a chat with ${b.name}: ${await a.page.textContent("#chat-error")}`);
  }
}

// listItem is the entry of the conversation named name in u's list.
const listItem = (u, name) => u.page.locator("#conversations li").filter({ has: u.page.locator(".name", { hasText: name }) });

// pair signs up two users; the first opens a direct chat and writes first,
// and the second opens it and sees that message.
async function pair(browser, first, second, hello) {
  const a = await signUp(browser, first);
  const b = await signUp(browser, second);
  await openChat(a, b);
  await send(a, hello);
  await openFromList(b, a.name);
  await bubble(b, hello).waitFor();
  return [a, b];
}

async function openFromList(u, name) {
  await listItem(u, name).click();
  await u.page.locator("#conversation:not([hidden])").waitFor();
}

async function send(u, text) {
  await u.page.fill("#composer textarea", text);
  await u.page.press("#composer textarea", "Enter");
}

async function act(u, text, action) {
  const li = bubble(u, text);
  await li.hover();
  await li.locator(`button[data-action="${action.split(" ")[0]}"]${action.includes(" ") ? `[data-emoji="${action.split(" ")[1]}"]` : ""}`).click();
}

// snapshot runs in a page: what the user sees of the open conversation,
// without the words that depend on who looks ("You", receipts).
function snapshot() {
  return JSON.stringify([...document.querySelectorAll("#messages li.message")].map((li) => ({
    seq: li.dataset.seq,
    sender: li.dataset.sender,
    pending: li.classList.contains("pending"),
    body: li.querySelector(".body").textContent,
    edited: li.querySelector(".edited") !== null,
    reactions: [...li.querySelectorAll(".reaction")].map((r) => r.textContent).join(" "),
    reply: li.querySelector(".reply") !== null,
  })));
}

// sameView waits until b sees what a sees now, and returns it.
async function sameView(a, b) {
  const want = await a.page.evaluate(snapshot);
  try {
    await b.page.waitForFunction(`(${snapshot})() === ${JSON.stringify(want)}`, null, { timeout: WAIT });
  } catch {
    throw new Error(`views differ:\n${want}\n${await b.page.evaluate(snapshot)}`);
  }
  return JSON.parse(want);
}

async function shot(u, file) {
  mkdirSync(SHOTS, { recursive: true });
  await u.page.screenshot({ path: join(SHOTS, file) });
}

// fillHistory runs in a page: it sends "Filler <from..to>" over REST,
// waiting out a 429 for as long as the gateway says.
async function fillHistory({ cid, from, to }) {
  for (let i = from; i <= to; i++) {
    const res = await fetch(`/api/v1/conversations/${cid}/messages`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ clientMsgId: `fill-${i}`, body: `Filler ${i}` }),
    });
    if (res.status === 429) {
      await new Promise((r) => setTimeout(r, Number(res.headers.get("Retry-After") || 1) * 1000));
      i--;
    } else if (!res.ok) {
      throw new Error(`send ${i}: ${res.status} ${await res.text()}`);
    }
  }
}

// --- scenarios -------------------------------------------------------------

async function chat(browser) {
  step("sign up alice and bob");
  const a = await signUp(browser, "alice");
  const b = await signUp(browser, "bob");

  step("bob logs out and in again");
  await b.page.click("#logout");
  await b.page.locator("#login-form").waitFor();
  await b.page.fill("#login-form [name=login]", b.name);
  await b.page.fill("#login-form [name=password]", "wrong password");
  await b.page.click("#login-form button");
  await b.page.locator("#auth-error", { hasText: "Wrong username or password." }).waitFor();
  await b.page.fill("#login-form [name=password]", `a long passphrase ${suffix}`);
  await b.page.click("#login-form button");
  await online(b);

  step("alice opens a direct chat and writes: bob is online");
  await openChat(a, b);
  await a.page.locator("#conversation-presence", { hasText: "online" }).waitFor();
  await send(a, "Hello Bob, lunch today?");
  await sent(a, "Hello Bob, lunch today?");
  await send(a, "The place by the river");
  await sent(a, "The place by the river");

  step("alice starts a group with bob");
  await openChat(a, b, "Weekend hike");
  await send(a, "Who is in for Saturday?");
  await sent(a, "Who is in for Saturday?");

  step("bob's list shows both chats, their last messages and unread counts");
  const item = listItem(b, a.name);
  await item.locator(".unread", { hasText: "2" }).waitFor();
  await item.locator(".last", { hasText: "The place by the river" }).waitFor();
  await item.locator('.presence-dot[data-online="true"]').waitFor();
  await listItem(b, "Weekend hike").locator(".unread", { hasText: "1" }).waitFor();
  await listItem(b, "Weekend hike").locator(".last", { hasText: "Who is in for Saturday?" }).waitFor();
  await shot(b, "conversation-list.png");
  await openFromList(a, b.name);

  step("bob opens it: alice sees her messages read");
  await openFromList(b, a.name);
  await bubble(b, "Hello Bob, lunch today?").waitFor();
  await item.locator(".unread").waitFor({ state: "detached" });
  await bubble(a, "The place by the river").locator('.receipt[data-state="seen"]').waitFor();

  step("bob types: alice sees it");
  await b.page.click("#composer textarea");
  await b.page.keyboard.type("Sure, at noo");
  await a.page.locator("#typing", { hasText: `${b.name} is typing` }).waitFor();

  step("bob answers and reacts, alice replies");
  await b.page.keyboard.type("n!");
  await b.page.press("#composer textarea", "Enter");
  await bubble(a, "Sure, at noon!").waitFor();
  await act(b, "Hello Bob, lunch today?", "react 👍");
  await bubble(a, "Hello Bob, lunch today?").locator(".reaction", { hasText: "👍 1" }).waitFor();
  await act(a, "Sure, at noon!", "reply");
  await send(a, "Great, see you there");
  await bubble(b, "Great, see you there").locator(".reply", { hasText: "Sure, at noon!" }).waitFor();
  await bubble(a, "Great, see you there").locator('.receipt[data-state="seen"]').waitFor();

  step("alice edits a message, bob sees the edit");
  await act(a, "The place by the river", "edit");
  await a.page.fill("#composer textarea", "The place by the old bridge");
  await a.page.press("#composer textarea", "Enter");
  await bubble(b, "The place by the old bridge").locator(".edited").waitFor();

  step("screenshot: a chat with typing, receipts and a reaction");
  await b.page.click("#composer textarea");
  await b.page.keyboard.type("On my w");
  await a.page.locator("#typing", { hasText: `${b.name} is typing` }).waitFor();
  await shot(a, "chat.png");
  await sameView(a, b);

  step("history: alice reloads and scrolls up to the first message");
  const cid = await a.page.locator("#conversations li.active").getAttribute("data-id");
  await Promise.all([a, b].map((u) => u.page.evaluate(fillHistory, { cid, from: u === a ? 1 : 15, to: u === a ? 14 : 28 })));
  await a.page.reload();
  await online(a);
  await openFromList(a, b.name);
  await bubble(a, "Filler 28").waitFor();
  if (await bubble(a, "Hello Bob, lunch today?").count() !== 0) throw new Error("the first page holds the whole history");
  await a.page.locator("#messages li.older").waitFor();
  await a.page.locator("#messages").evaluate((el) => { el.scrollTop = 0; });
  await bubble(a, "Hello Bob, lunch today?").waitFor();
  await a.page.locator("#messages li.older").waitFor({ state: "detached" });
}

async function offline(browser) {
  step("sign up carol and dave, chat once");
  const [c, d] = await pair(browser, "carol", "dave", "Are you there?");
  await send(d, "Yes, for a minute");
  await sent(c, "Yes, for a minute");
  await send(c, "I will fix this typo");
  await bubble(d, "I will fix this typo").waitFor();

  step("dave goes offline: the banner says so, carol sees him gone");
  await c.page.locator("#conversation-presence", { hasText: "online" }).waitFor();
  await d.context.setOffline(true);
  await d.page.locator('#banner[data-state="offline"]').waitFor();
  await d.page.locator('#connection[data-state="offline"]').waitFor();
  await c.page.locator("#conversation-presence", { hasText: "last seen" }).waitFor();
  await send(d, "Written while offline");
  await bubble(d, "Written while offline").locator('.receipt[data-state="sending"]').waitFor();
  await shot(d, "offline.png");

  step("carol writes, edits, deletes and reacts meanwhile");
  await send(c, "Missed one");
  await send(c, "Missed two, soon deleted");
  await send(c, "Missed three");
  await sent(c, "Missed three");
  await act(c, "I will fix this typo", "edit");
  await c.page.fill("#composer textarea", "I fixed this typo");
  await c.page.press("#composer textarea", "Enter");
  await bubble(c, "I fixed this typo").locator(".edited").waitFor();
  await act(c, "Missed two, soon deleted", "delete");
  await c.page.locator("#messages li.message.deleted").waitFor();
  await act(c, "Yes, for a minute", "react 🎉");
  await bubble(c, "Yes, for a minute").locator(".reaction", { hasText: "🎉 1" }).waitFor();
  if (await bubble(d, "Missed one").count() !== 0) throw new Error("dave got a message while offline");

  step("dave comes back: his message goes out and he sees exactly carol's view");
  await d.context.setOffline(false);
  await online(d);
  await c.page.locator("#conversation-presence", { hasText: "online" }).waitFor();
  await d.page.locator("#banner").waitFor({ state: "hidden" });
  await sent(d, "Written while offline");
  await sent(c, "Written while offline");
  const seen = await sameView(c, d);
  const bodies = seen.map((m) => m.body).join(" | ");
  for (const want of ["Missed one", "Missed three", "I fixed this typo", "This message was deleted."]) {
    if (!bodies.includes(want)) throw new Error(`dave's view lacks ${want}: ${bodies}`);
  }
  if (bodies.includes("soon deleted")) throw new Error(`dave's view shows a deleted message: ${bodies}`);
  if (seen.filter((m) => m.body === "Written while offline").length !== 1) throw new Error(`the offline message is not there exactly once: ${bodies}`);
}

async function restart(browser) {
  step("sign up erin and frank, chat once");
  const [e, f] = await pair(browser, "erin", "frank", "Before the restart");

  step("the gateway stops: both pages show it");
  await need("stop-gateway");
  await e.page.locator('#connection[data-state="connecting"]').waitFor();
  await e.page.locator("#banner", { hasText: "Reconnecting" }).waitFor();
  await f.page.locator('#connection[data-state="connecting"]').waitFor();
  await send(e, "Written during the restart");
  await bubble(e, "Written during the restart").locator('.receipt[data-state="sending"]').waitFor();

  step("the gateway is back: the pages recover on their own");
  await need("start-gateway");
  await online(e);
  await online(f);
  await sent(e, "Written during the restart");
  await bubble(f, "Written during the restart").waitFor();
  await send(f, "After the restart");
  await bubble(e, "After the restart").waitFor();
  await e.page.locator("#banner").waitFor({ state: "hidden" });
  await sameView(e, f);
}

// expiry runs on a stack whose session tokens live a few seconds: the
// gateway cuts each socket when its token expires, and the client must
// refresh over REST and carry on by itself.
async function expiry(browser) {
  step("sign up gina and hank, chat once");
  const [g, h] = await pair(browser, "gina", "hank", "Before the expiry");

  step("gina's token expires: the page refreshes its session and reconnects");
  await g.page.waitForResponse((r) => r.url().endsWith("/api/v1/auth/refresh") && r.status() === 200);
  await online(g);
  await send(g, "After a refresh");
  await sent(g, "After a refresh");
  await bubble(h, "After a refresh").waitFor();

  step("hank answers across his own refreshes");
  await h.page.waitForResponse((r) => r.url().endsWith("/api/v1/auth/refresh") && r.status() === 200);
  await send(h, "Still here");
  await bubble(g, "Still here").waitFor();
  await sameView(g, h);
  if (await g.page.locator("#auth").isVisible()) throw new Error("gina was sent back to the log-in form");
}

const scenarios = { chat, offline, restart, expiry };

async function main() {
  const name = process.argv[2];
  if (!scenarios[name]) throw new Error(`unknown scenario ${name}`);
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true });
  try {
    await scenarios[name](browser);
    if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join("; ")}`);
    out({ step: "done" });
  } catch (err) {
    for (const [i, ctx] of browser.contexts().entries()) {
      for (const page of ctx.pages()) {
        await page.screenshot({ path: join(SHOTS, `failed-${name}-${i}.png`) }).catch(() => {});
      }
    }
    throw err;
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (err) => {
  out({ error: String(err.stack || err), step: current, pageErrors });
  process.exit(1);
});
