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
    setBalance(me.tokens);
    $("auth").hidden = true;
    for (const id of ["app", "balance", "who", "logout", "toggle-conversations"]) $(id).hidden = false;
    newChat();
    await Promise.all([loadConversations(), loadDraftOrder()]);
  }

  function signedOut(message) {
    state.token = null;
    state.conversation = null;
    localStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    for (const id of ["balance", "who", "logout", "toggle-conversations"]) $(id).hidden = true;
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
    state.conversation = id;
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
    $("new-chat").addEventListener("click", newChat);
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
