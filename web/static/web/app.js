// Tally's web page: a client of the token API, like any other.
// Every piece of user or model text goes into the page through textContent, never as HTML.
"use strict";

(() => {
  const API = "/api/";
  const TOKEN_KEY = "tally.token";

  const $ = (id) => document.getElementById(id);
  const state = { token: localStorage.getItem(TOKEN_KEY), conversation: null, order: null, busy: false };

  // --- the API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, headers) {
      super((body && body.detail) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
      this.headers = headers;
    }
  }

  function headers(extra) {
    const h = { Accept: "application/json", ...extra };
    if (state.token) h.Authorization = `Token ${state.token}`;
    return h;
  }

  async function readJson(response) {
    const type = response.headers.get("Content-Type") || "";
    if (response.status === 204 || !type.includes("json")) return null;
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(API + path, init);
    const data = await readJson(response);
    if (!response.ok) {
      const error = new ApiError(response.status, data, response.headers);
      if (response.status === 401 && state.token) signedOut("Your session has ended. Please log in again.");
      throw error;
    }
    return data;
  }

  // Server-Sent Events from a fetch() body: yields {event, data} as each block completes.
  async function* sseEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseEvent(block);
        if (event) yield event;
      }
    }
    const rest = (buffer + decoder.decode()).trim();
    if (rest) {
      const event = parseEvent(rest);
      if (event) yield event;
    }
  }

  function parseEvent(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return null;
    try {
      return { event, data: JSON.parse(data.join("\n")) };
    } catch {
      return { event, data: { text: data.join("\n") } };
    }
  }

  // --- the live socket ------------------------------------------------------------------------------
  // Chats go over one WebSocket when it is open, so every page of the user that shows the same
  // conversation sees each question and its answer as they are written; without one (no
  // WebSocket, or it is down) they go over HTTP with Server-Sent Events, as before.

  const WS_STATUS = {
    insufficient_tokens: 402,
    throttled: 429,
    provider_unavailable: 502,
    provider_auth_failed: 502,
    provider_invalid_request: 502,
    provider_error: 502,
    provider_not_configured: 503,
    provider_rate_limited: 503,
    overloaded: 503,
    database_unavailable: 503,
    provider_timeout: 504,
    turn_expired: 504,
  };

  const live = {
    socket: null,
    ready: false,
    reconnected: false,
    retry: 1000,
    timer: null,
    pinger: null,
    turns: new Map(), // this page's questions in flight, by turn id: { bubble, resolve, reject }
    remote: new Map(), // answers to another page's questions, by turn id: their bubbles

    open() {
      if (!("WebSocket" in window) || !state.token || this.socket) return;
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const socket = new WebSocket(`${scheme}://${location.host}/ws/chat/`, ["tally", `tally.token.${state.token}`]);
      this.socket = socket;
      socket.addEventListener("message", (message) => this.receive(JSON.parse(message.data)));
      socket.addEventListener("close", (event) => this.closed(socket, event.code));
    },

    close() {
      clearTimeout(this.timer);
      const socket = this.socket;
      this.reset();
      this.reconnected = false;
      if (socket) socket.close(1000);
    },

    reset() {
      this.socket = null;
      this.ready = false;
      clearInterval(this.pinger);
      delete $("chat").dataset.live;
      for (const turn of this.turns.values()) turn.reject(new Error("The connection closed."));
      this.turns.clear();
      this.dropRemote();
    },

    dropRemote() {
      for (const bubble of this.remote.values()) bubble.classList.remove("pending");
      this.remote.clear();
    },

    closed(socket, code) {
      if (socket !== this.socket) return;
      this.reset();
      if (code === 4001 || code === 4029 || !state.token) return; // HTTP serves this page now
      this.reconnected = true;
      this.timer = setTimeout(() => this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, 30000);
    },

    send(payload) {
      this.socket.send(JSON.stringify(payload));
    },

    follow(conversation) {
      this.dropRemote();
      if (this.ready) this.send({ type: "follow", conversation });
    },

    ask(text, bubble) {
      return new Promise((resolve, reject) => {
        const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
        this.turns.set(id, { bubble, resolve, reject });
        this.send({ type: "message", id, message: text, conversation: state.conversation });
      });
    },

    receive(event) {
      if (event.type === "ready") {
        this.ready = true;
        this.retry = 1000;
        // Twice per idle period, so a page left open is not closed as idle.
        const every = Math.max(1, (event.idle_timeout || 300) / 2) * 1000;
        this.pinger = setInterval(() => this.ready && this.send({ type: "ping" }), every);
        this.follow(state.conversation);
        if (this.reconnected && state.conversation && !state.busy) {
          // Answers may have been stored while the socket was down.
          openConversation(state.conversation, $("chat-title").textContent);
        }
        return;
      }
      if (event.type === "following") {
        $("chat").dataset.live = String(event.conversation ?? "new");
        return;
      }
      const own = this.turns.get(event.turn);
      if (own) {
        if (event.type === "delta") {
          own.bubble.querySelector(".text").append(document.createTextNode(event.message));
          own.bubble.scrollIntoView({ block: "end" });
        } else if (event.type === "done" || event.type === "error") {
          this.turns.delete(event.turn);
          own.resolve(event);
        }
        return;
      }
      if (event.conversation !== state.conversation) return;
      if (event.type === "user") {
        addMessage("user", event.message);
        const bubble = addMessage("assistant", "");
        bubble.classList.add("pending");
        this.remote.set(event.turn, bubble);
        updateEmpty();
        return;
      }
      const bubble = this.remote.get(event.turn);
      if (!bubble) return;
      if (event.type === "delta") {
        bubble.querySelector(".text").append(document.createTextNode(event.message));
        bubble.scrollIntoView({ block: "end" });
      } else if (event.type === "done" || event.type === "error") {
        this.remote.delete(event.turn);
        bubble.classList.remove("pending");
        if (event.type === "done") {
          finished(bubble, event.chat);
        } else {
          markFailed(bubble, "No answer.");
          setBalance(event.tokens_remaining);
        }
      }
    },
  };

  // --- messages for people ------------------------------------------------------------------------

  function fieldErrors(body) {
    const errors = body && body.errors;
    if (!errors) return "";
    return Object.entries(errors)
      .map(([field, messages]) => {
        const text = [].concat(messages).join(" ");
        return field === "non_field_errors" ? text : `${field}: ${text}`;
      })
      .join(" ");
  }

  function retryAfter(error) {
    const seconds = error.body.retry_after ?? Number.parseInt(error.headers?.get("Retry-After") || "", 10);
    return Number.isFinite(seconds) ? seconds : null;
  }

  const PROVIDER_TROUBLE = {
    502: "The assistant's model failed to answer.",
    503: "No model is available to answer right now.",
    504: "The assistant's model took too long to answer.",
  };

  function describe(error) {
    if (!(error instanceof ApiError)) return "Could not reach Tally. Check your connection and try again.";
    const { status, body } = error;
    if (status === 402) {
      return `You are out of tokens: this chat costs ${body.required ?? "?"} and your balance is ` +
        `${body.tokens ?? "?"}. Ask the shop's staff for a top-up.`;
    }
    if (status === 429) {
      const wait = retryAfter(error);
      return wait === null ? "Slow down: too many requests. Please wait a moment and try again."
        : `Slow down: too many requests. Try again in ${wait} second${wait === 1 ? "" : "s"}.`;
    }
    if (status in PROVIDER_TROUBLE) {
      const wait = retryAfter(error);
      return `${PROVIDER_TROUBLE[status]} ${body.detail || ""} Your chat was refunded; you were not charged.` +
        (wait === null ? "" : ` Try again in ${wait} seconds.`);
    }
    return [body.detail || `Something went wrong (HTTP ${status}).`, fieldErrors(body)].filter(Boolean).join(" ");
  }

  function show(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  const notice = (text) => show($("notice"), text);

  // --- signing in and out -------------------------------------------------------------------------

  async function submitAuth(form, path, fields) {
    const errorBox = form.querySelector(".form-error");
    const button = form.querySelector("button[type=submit]");
    show(errorBox, "");
    show($("auth-message"), "");
    const body = {};
    for (const name of fields) body[name] = form.elements[name].value;
    if (!body.username || !body.password) {
      show(errorBox, "Enter a username and a password.");
      return;
    }
    button.disabled = true;
    try {
      const data = await api(path, { method: "POST", body });
      form.reset();
      await signedIn(data.token);
    } catch (error) {
      show(errorBox, describe(error));
      form.elements.username.focus();
    } finally {
      button.disabled = false;
    }
  }

  async function signedIn(token) {
    state.token = token;
    localStorage.setItem(TOKEN_KEY, token);
    let me;
    try {
      me = await api("me/");
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) show($("auth-message"), describe(error));
      return;
    }
    $("who").textContent = me.username;
    state.staff = Boolean(me.is_staff);
    setBalance(me.tokens);
    $("auth").hidden = true;
    for (const id of ["app", "balance", "who", "show-usage", "logout", "toggle-conversations"]) $(id).hidden = false;
    newChat();
    live.open();
    await Promise.all([loadConversations(), loadDraftOrder()]);
  }

  function signedOut(message) {
    live.close();
    state.token = null;
    state.conversation = null;
    localStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    for (const id of ["balance", "who", "show-usage", "logout", "toggle-conversations"]) $(id).hidden = true;
    $("usage").hidden = true;
    $("staff-tools").hidden = true;
    $("chat").hidden = false;
    $("auth").hidden = false;
    $("messages").replaceChildren();
    $("conversation-list").replaceChildren();
    showOrder(null);
    notice("");
    show($("auth-message"), message);
    $("login-username").focus();
  }

  async function logout() {
    try {
      await api("logout/", { method: "POST" });
    } catch {
      // Already invalid or unreachable: forgetting the token locally is what matters.
    }
    signedOut("You are logged out.");
  }

  // --- balance -------------------------------------------------------------------------------------

  function setBalance(tokens) {
    if (typeof tokens === "number") $("balance-value").textContent = String(tokens);
  }

  async function refreshBalance() {
    try {
      setBalance((await api("tokens/")).tokens);
    } catch {
      // The next chat or page load tries again.
    }
  }

  // --- conversations -------------------------------------------------------------------------------

  async function loadConversations() {
    let page;
    try {
      page = await api("conversations/?page_size=100");
    } catch (error) {
      notice(describe(error));
      return;
    }
    const list = $("conversation-list");
    list.replaceChildren(
      ...page.results.map((conversation) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.id = String(conversation.id);
        const title = document.createElement("span");
        title.className = "conversation-title";
        title.textContent = conversation.title || `Conversation ${conversation.id}`;
        const when = document.createElement("time");
        when.dateTime = conversation.updated_at;
        when.textContent = new Date(conversation.updated_at).toLocaleString();
        button.append(title, when);
        if (conversation.id === state.conversation) button.setAttribute("aria-current", "true");
        button.addEventListener("click", () => openConversation(conversation.id, title.textContent));
        item.append(button);
        return item;
      }),
    );
    $("conversations-empty").hidden = page.results.length > 0;
  }

  function markCurrent() {
    for (const button of $("conversation-list").querySelectorAll("button")) {
      if (Number(button.dataset.id) === state.conversation) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  async function openConversation(id, title) {
    if (state.busy) return;
    if (!$("usage").hidden) hideUsage();
    state.conversation = id;
    live.follow(id);
    $("chat-title").textContent = title;
    markCurrent();
    closeSidebar();
    notice("");
    $("messages").replaceChildren();
    let page;
    try {
      page = await api(`conversations/${id}/messages/?page_size=100`);
    } catch (error) {
      notice(describe(error));
      return;
    }
    for (const message of page.results) {
      const bubble = addMessage(message.role, message.content);
      if (message.role === "assistant") showSources(bubble, message.sources);
      if (message.status === "failed") markFailed(bubble, "Not answered (refunded).");
    }
    updateEmpty();
    $("chat-input").focus();
  }

  function newChat() {
    if (state.busy) return;
    state.conversation = null;
    live.follow(null);
    $("chat-title").textContent = "New chat";
    $("messages").replaceChildren();
    notice("");
    markCurrent();
    updateEmpty();
    closeSidebar();
    $("chat-input").focus();
  }

  // --- the chat ------------------------------------------------------------------------------------

  function addMessage(role, text) {
    const item = document.createElement("li");
    item.className = `message ${role}`;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = role === "user" ? "You said:" : "Tally:";
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    item.append(who, body);
    $("messages").append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function showSources(bubble, sources) {
    bubble.querySelector(".sources")?.remove();
    if (!sources || !sources.length) return;
    const box = document.createElement("div");
    box.className = "sources";
    const label = document.createElement("span");
    label.textContent = "Sources: ";
    const list = document.createElement("ul");
    for (const source of sources) {
      const item = document.createElement("li");
      item.textContent = source.source;
      item.title = source.kind;
      list.append(item);
    }
    box.append(label, list);
    bubble.append(box);
  }

  function markFailed(bubble, text) {
    bubble.classList.add("failed");
    const body = bubble.querySelector(".text");
    if (!body.textContent) {
      body.textContent = text;
    } else if (!bubble.querySelector(".failed-note")) {
      const note = document.createElement("p");
      note.className = "failed-note";
      note.textContent = "The answer was interrupted.";
      body.after(note);
    }
  }

  function updateEmpty() {
    $("chat-empty").hidden = $("messages").children.length > 0;
  }

  async function sendChat(text) {
    state.busy = true;
    $("send").disabled = true;
    $("chat").setAttribute("aria-busy", "true");
    notice("");
    addMessage("user", text);
    const bubble = addMessage("assistant", "");
    bubble.classList.add("pending");
    const output = bubble.querySelector(".text");
    updateEmpty();
    try {
      if (live.ready) await chatLive(text, bubble);
      else await chatOverHttp(text, bubble, output);
    } catch (error) {
      if (error instanceof ApiError && error.status === 402) setBalance(error.body.tokens);
      markFailed(bubble, "No answer.");
      notice(describe(error));
    } finally {
      bubble.classList.remove("pending");
      state.busy = false;
      $("send").disabled = false;
      $("chat").removeAttribute("aria-busy");
      if (state.token) {
        await Promise.all([refreshBalance(), loadConversations()]);
      }
    }
  }

  async function chatOverHttp(text, bubble, output) {
    const response = await fetch(API + "chat/", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ message: text, conversation: state.conversation, stream: true }),
    });
    if (!response.ok) {
      const error = new ApiError(response.status, await readJson(response), response.headers);
      if (response.status === 401) signedOut("Your session has ended. Please log in again.");
      throw error;
    }
    if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      finished(bubble, await response.json());
      return;
    }
    let answered = false;
    for await (const { event, data } of sseEvents(response)) {
      if (event === "delta") {
        output.append(document.createTextNode(data.text || ""));
        bubble.scrollIntoView({ block: "end" });
      } else if (event === "done") {
        finished(bubble, data);
        answered = true;
      } else if (event === "error") {
        setBalance(data.tokens_remaining);
        markFailed(bubble, "No answer.");
        notice(`The assistant could not answer: ${data.detail || "the model failed."} ` +
          "Your chat was refunded; you were not charged.");
        answered = true;
      }
    }
    if (!answered) {
      markFailed(bubble, "No answer.");
      notice("The answer was cut off. If you were charged, the chat will be refunded.");
    }
  }

  async function chatLive(text, bubble) {
    let event;
    try {
      event = await live.ask(text, bubble);
    } catch {
      markFailed(bubble, "No answer.");
      notice("The connection was lost while the answer was being written. The server still " +
        "finishes and stores it (or refunds the chat): it appears here once the page reconnects.");
      return;
    }
    if (event.type === "done") {
      finished(bubble, event.chat);
      return;
    }
    setBalance(event.tokens_remaining);
    throw new ApiError(WS_STATUS[event.code] ?? 400, event);
  }

  function finished(bubble, data) {
    bubble.querySelector(".text").textContent = data.response;
    showSources(bubble, data.sources);
    setBalance(data.tokens_remaining);
    if (data.conversation && data.conversation !== state.conversation) {
      state.conversation = data.conversation;
      $("chat-title").textContent = data.message.length > 60 ? `${data.message.slice(0, 60)}…` : data.message;
    }
    if (data.order) showOrder(data.order);
  }

  // --- the order panel -----------------------------------------------------------------------------

  async function loadDraftOrder() {
    try {
      const page = await api("orders/?page_size=100");
      showOrder(page.results.find((order) => order.status === "draft") || null);
    } catch {
      showOrder(null);
    }
  }

  function money(amount, currency) {
    return `${currency} ${amount}`;
  }

  function showOrder(order, message = "") {
    state.order = order;
    const panel = $("order-panel");
    if (!order) {
      panel.hidden = true;
      return;
    }
    $("order-title").textContent = `Your order #${order.number}`;
    $("order-status").textContent = order.status;
    $("order-items").replaceChildren(
      ...order.items.map((item) => {
        const row = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = `${item.quantity} × ${item.name}${item.note ? ` (${item.note})` : ""}`;
        const total = document.createElement("span");
        total.className = "amount";
        total.textContent = money(item.line_total, order.currency);
        row.append(name, total);
        return row;
      }),
    );
    if (!order.items.length) {
      const row = document.createElement("li");
      row.className = "muted";
      row.textContent = "No items yet.";
      $("order-items").append(row);
    }
    $("order-total").textContent = money(order.total, order.currency);
    $("order-message").textContent = message;
    const draft = order.status === "draft";
    $("order-confirm").hidden = !draft || !order.items.length;
    $("order-cancel").hidden = !draft;
    panel.dataset.status = order.status;
    panel.hidden = false;
  }

  async function orderAction(action) {
    const order = state.order;
    if (!order) return;
    const buttons = [$("order-confirm"), $("order-cancel")];
    for (const button of buttons) button.disabled = true;
    try {
      const updated = await api(`orders/${order.id}/${action}/`, { method: "POST" });
      const done = action === "confirm" ? "Order confirmed. Thank you!" : "Order cancelled.";
      showOrder(updated, done);
      $("order-title").focus();
    } catch (error) {
      $("order-message").textContent = describe(error);
      if (error instanceof ApiError && error.status === 409) await loadDraftOrder();
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  // --- usage -------------------------------------------------------------------------------------

  const DAY_MS = 86400000;
  const isoDay = (time) => new Date(time).toISOString().slice(0, 10);
  const KINDS = {
    signup_grant: "Signup grant",
    chat_charge: "Chat",
    refund: "Refund",
    settle: "Settlement",
    top_up: "Top-up",
    adjustment: "Adjustment",
  };

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = String(text);
    row.append(td);
  }

  function usageRows(tbody, rows, first) {
    tbody.replaceChildren(
      ...rows.map((r) => {
        const row = document.createElement("tr");
        for (const value of [first(r), r.chats, r.refunds, r.tokens_spent]) cell(row, value);
        return row;
      }),
    );
  }

  function drawChart(days, spent) {
    const svg = $("usage-chart");
    const NS = "http://www.w3.org/2000/svg";
    svg.querySelectorAll("rect, line").forEach((node) => node.remove());
    const top = Math.max(1, ...days.map((d) => spent.get(d) || 0));
    const width = 600 / days.length;
    days.forEach((day, i) => {
      const tokens = spent.get(day) || 0;
      const height = Math.round((tokens / top) * 150);
      const bar = document.createElementNS(NS, "rect");
      bar.setAttribute("x", String(i * width + 2));
      bar.setAttribute("y", String(160 - height));
      bar.setAttribute("width", String(width - 4));
      bar.setAttribute("height", String(height));
      bar.dataset.day = day;
      bar.dataset.tokens = String(tokens);
      const tip = document.createElementNS(NS, "title");
      tip.textContent = `${day}: ${tokens} tokens`;
      bar.append(tip);
      svg.append(bar);
    });
    const base = document.createElementNS(NS, "line");
    for (const [name, value] of [["x1", 0], ["x2", 600], ["y1", 160], ["y2", 160]]) base.setAttribute(name, String(value));
    base.setAttribute("stroke", "currentColor");
    svg.append(base);
  }

  async function showUsage() {
    $("chat").hidden = true;
    $("usage").hidden = false;
    $("show-usage").setAttribute("aria-expanded", "true");
    closeSidebar();
    $("usage-title").focus();
    const now = Date.now();
    const days = Array.from({ length: 30 }, (_, i) => isoDay(now - (29 - i) * DAY_MS));
    const range = `from=${days[0]}&to=${days[29]}&page_size=100`;
    try {
      const [usage, history] = await Promise.all([
        api(`usage/?group_by=day&${range}`),
        api("tokens/history/?page_size=20"),
      ]);
      const spent = new Map(usage.results.map((r) => [r.day, r.tokens_spent]));
      drawChart(days, spent);
      const chats = usage.results.reduce((n, r) => n + r.chats, 0);
      const total = usage.results.reduce((n, r) => n + r.tokens_spent, 0);
      $("usage-summary").textContent = `${chats} chat${chats === 1 ? "" : "s"}, ${total} tokens spent.`;
      usageRows($("usage-days").tBodies[0], usage.results, (r) => r.day);
      $("usage-ledger").replaceChildren(
        ...history.results.map((entry) => {
          const item = document.createElement("li");
          const what = document.createElement("span");
          const when = new Date(entry.created_at).toLocaleString();
          what.textContent = `${when} · ${KINDS[entry.kind] || entry.kind}${entry.model ? ` (${entry.model})` : ""}`;
          const amount = document.createElement("span");
          amount.textContent = `${entry.delta > 0 ? "+" : ""}${entry.delta} → ${entry.balance_after}`;
          item.append(what, amount);
          return item;
        }),
      );
      if (state.staff) {
        $("staff-tools").hidden = false;
        const everyone = await api(`admin/usage/?group_by=user&${range}`);
        usageRows($("usage-users").tBodies[0], everyone.results, (r) => r.user);
      }
    } catch (error) {
      $("usage-summary").textContent = describe(error);
    }
  }

  function hideUsage() {
    $("usage").hidden = true;
    $("chat").hidden = false;
    $("show-usage").setAttribute("aria-expanded", "false");
    $("chat-input").focus();
  }

  async function topUp(form) {
    const errorBox = form.querySelector(".form-error");
    const done = form.querySelector(".form-done");
    show(errorBox, "");
    done.textContent = "";
    const body = {
      username: form.elements.username.value.trim(),
      amount: Number.parseInt(form.elements.amount.value, 10),
      note: form.elements.note.value,
    };
    try {
      const result = await api("admin/top-ups/", { method: "POST", body });
      done.textContent = `Topped up ${result.username} by ${result.amount}: ${result.tokens} tokens now.`;
      form.reset();
      await Promise.all([refreshBalance(), showUsage()]);
    } catch (error) {
      show(errorBox, describe(error));
    }
  }

  // --- the narrow-screen conversation drawer ------------------------------------------------------

  function closeSidebar() {
    $("sidebar").classList.remove("open");
    $("toggle-conversations").setAttribute("aria-expanded", "false");
  }

  function toggleSidebar() {
    const open = $("sidebar").classList.toggle("open");
    $("toggle-conversations").setAttribute("aria-expanded", String(open));
    if (open) $("new-chat").focus();
  }

  // --- wiring --------------------------------------------------------------------------------------

  function start() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submitAuth(event.currentTarget, "login/", ["username", "password"]);
    });
    $("register-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submitAuth(event.currentTarget, "register/", ["username", "email", "password"]);
    });
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("chat-input");
      const text = input.value.trim();
      if (!text || state.busy) return;
      input.value = "";
      sendChat(text);
    });
    $("chat-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("chat-form").requestSubmit();
      }
    });
    $("new-chat").addEventListener("click", () => {
      if (!$("usage").hidden) hideUsage();
      newChat();
    });
    $("show-usage").addEventListener("click", () => ($("usage").hidden ? showUsage() : hideUsage()));
    $("back-to-chat").addEventListener("click", hideUsage);
    $("top-up-form").addEventListener("submit", (event) => {
      event.preventDefault();
      topUp(event.currentTarget);
    });
    $("logout").addEventListener("click", logout);
    $("toggle-conversations").addEventListener("click", toggleSidebar);
    $("order-confirm").addEventListener("click", () => orderAction("confirm"));
    $("order-cancel").addEventListener("click", () => orderAction("cancel"));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && $("sidebar").classList.contains("open")) {
        closeSidebar();
        $("toggle-conversations").focus();
      }
    });
    $("order-title").tabIndex = -1;

    if (state.token) signedIn(state.token);
    else $("login-username").focus();
  }

  start();
})();
