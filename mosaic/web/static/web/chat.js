// The chat view: a thin view over ChatConnection. Every message is an element keyed by its id
// (or, until the server acknowledges it, by its client_id), so a frame that arrives twice, or a
// history that repeats what is on screen, never shows anything twice.

import { ChatConnection } from "./connection.js";
import { renderMarkdown } from "./markdown.js";
import { formatTokens, routeLine, titleFrom } from "./format.js";

const RENDER_EVERY_MS = 50;
const CLIENT_HELP = `
Keys and page commands:
  Enter                  send (Shift+Enter: new line)
  Esc                    stop the reply being generated
  /new                   start a new conversation`;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

class ChatView {
  constructor(root) {
    this.root = root;
    this.list = $("messages");
    this.input = $("input");
    this.sendButton = $("send");
    this.stopButton = $("stop");
    this.byId = new Map(); // message id → {el, body, role, text, status}
    this.pendingEls = new Map(); // client_id → element
    this.tools = new Map(); // call_id → {el, result}
    this.dirty = new Set();
    this.renderTimer = null;
    this.running = false;
    this.session = null;
    this.title = root.dataset.title || "";
    this.chatUrl = root.dataset.chatUrl;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.connection = new ChatConnection(`${scheme}://${location.host}${root.dataset.socketPath}`, {
      conversationId: root.dataset.conversationId || "",
      agent: root.dataset.agent || "",
      handlers: {
        onFrame: (frame) => this.onFrame(frame),
        onState: (state) => this.onState(state),
        onRefused: (clientId, pending, frame) => this.onRefused(clientId, pending, frame),
      },
    });
  }

  start() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      } else if (event.key === "Escape" && this.running) {
        event.preventDefault();
        this.stop();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.running && event.target !== this.input) this.stop();
    });
    this.stopButton.addEventListener("click", () => this.stop());
    this.stick = true;
    this.list.addEventListener("scroll", () => {
      this.stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    });
    // Leaving the page (sign out included) closes the socket at once.
    window.addEventListener("pagehide", () => this.connection.stop());
    document.querySelector("form.logout")?.addEventListener("submit", () => this.connection.stop());
    this.connection.start();
    this.input.focus();
  }

  // --- what the user does --------------------------------------------------------------------

  submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    const command = text.trim();
    if (command.startsWith("/")) {
      if (command === "/new") {
        location.assign(this.chatUrl);
        return;
      }
      if (!this.connection.execute(command)) {
        this.note("error", "Not connected: the command was not sent. It is still in the box.");
        return;
      }
      this.input.value = "";
      return;
    }
    const clientId = this.connection.sendMessage(text);
    this.input.value = "";
    const bubble = this.userBubble(text);
    bubble.dataset.clientId = clientId;
    bubble.classList.add("pending");
    this.pendingEls.set(clientId, bubble);
    this.list.append(bubble);
    if (!this.title) this.setTitle(titleFrom(text));
    this.setRunning(true);
    this.scrollDown(true);
  }

  stop() {
    this.connection.cancel();
  }

  onRefused(clientId, pending, frame) {
    const bubble = this.pendingEls.get(clientId);
    if (bubble) {
      bubble.classList.remove("pending");
      bubble.classList.add("refused");
      bubble.append(el("p", "route", `not sent: ${frame.message}`));
      this.pendingEls.delete(clientId);
    }
    // Nothing is lost: the text goes back into an empty box.
    if (!this.input.value) this.input.value = pending.content;
    this.setRunning(false);
  }

  // --- frames --------------------------------------------------------------------------------

  onFrame(frame) {
    switch (frame.type) {
      case "session:info":
        this.session = frame;
        this.showSession();
        if (frame.conversation_id) this.rememberConversation(frame.conversation_id);
        break;
      case "conversation:history":
        this.renderHistory(frame);
        break;
      case "message:ack":
        this.acknowledge(frame);
        break;
      case "message:created":
        this.addStored(frame.message, { live: true });
        if (frame.message.role === "user") this.setRunning(true);
        this.scrollDown();
        break;
      case "message:delta":
      case "thinking:delta":
        this.appendDelta(frame);
        break;
      case "tool:call":
        this.toolCall(frame.call_id, frame.name, frame.arguments, frame.message_id);
        this.setRunning(true);
        this.scrollDown();
        break;
      case "tool:result":
        this.toolResult(frame.call_id, frame.name, frame.result, frame.is_error, frame.message_id);
        this.scrollDown();
        break;
      case "message:done":
        this.finish(frame);
        break;
      case "command:result":
        this.commandResult(frame);
        break;
      case "error":
        this.showError(frame);
        break;
      default:
        break;
    }
  }

  onState({ state, retryIn }) {
    const badge = $("connection");
    badge.dataset.state = state;
    const labels = {
      connecting: "connecting…",
      reconnecting: "reconnecting…",
      open: "opening…",
      ready: "● connected",
      "signed-out": "signed out",
    };
    badge.textContent = state === "down" ? `○ reconnecting in ${Math.ceil(retryIn / 1000)} s` : labels[state] || state;
    if (state === "signed-out") {
      this.setRunning(false);
      this.input.disabled = true;
      this.sendButton.disabled = true;
      const alert = el("div", "msg error");
      alert.setAttribute("role", "alert");
      alert.append("Your session has ended. ");
      const link = el("a", "", "Sign in again");
      link.href = `${this.root.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
      alert.append(link, " to go on with this conversation.");
      this.list.append(alert);
      this.scrollDown(true);
    }
  }

  rememberConversation(id) {
    const path = `${this.chatUrl}${id}/`;
    if (location.pathname !== path) history.replaceState(null, "", path);
    this.root.dataset.conversationId = id;
  }

  showSession() {
    const s = this.session;
    const model = $("model");
    const pinned = s.model_override ? "pinned" : "auto";
    model.textContent = `${s.agent} · ${s.provider}:${s.model} (${pinned})`;
    model.dataset.pinned = String(Boolean(s.model_override));
  }

  setTitle(title) {
    this.title = title;
    $("title").textContent = title || "New conversation";
    document.title = `${title || "Chat"} · Mosaic`;
  }

  setContext(tokens, window) {
    if (tokens === undefined) return;
    const share = window ? ` ${((100 * tokens) / window).toFixed(1)}%` : "";
    $("context").textContent = `ctx ${formatTokens(tokens)}${window ? `/${formatTokens(window)}` : ""}${share}`;
  }

  setRunning(running) {
    this.running = running;
    this.stopButton.hidden = !running;
    this.root.dataset.running = String(running);
  }

  // --- history -------------------------------------------------------------------------------

  renderHistory(frame) {
    this.byId.clear();
    this.tools.clear();
    this.list.replaceChildren();
    if (frame.title) this.setTitle(frame.title);
    this.setContext(frame.context_tokens, frame.context_window);
    if (frame.has_more) {
      const shown = frame.messages.length;
      this.list.append(el("p", "msg system", `Showing the last ${shown} of ${frame.message_count} messages.`));
    }
    const messages = frame.messages || [];
    const lastOfTurn = new Set();
    let lastAssistant = null;
    for (const message of messages) {
      if (message.role === "user" && lastAssistant) {
        lastOfTurn.add(lastAssistant);
        lastAssistant = null;
      }
      if (message.role === "assistant") lastAssistant = message.id;
    }
    if (lastAssistant) lastOfTurn.add(lastAssistant);
    for (const message of messages) {
      this.addStored(message, { routeLine: lastOfTurn.has(message.id) });
    }
    // Messages typed here that the server has not stored yet stay on screen, after the history.
    for (const bubble of this.pendingEls.values()) this.list.append(bubble);
    // A reply still being written shows up as the deltas that follow (and sets it running).
    this.setRunning(this.pendingEls.size > 0);
    this.scrollDown(true);
  }

  addStored(message, { live = false, routeLine: withRoute = false } = {}) {
    if (this.byId.has(message.id)) return;
    const role = message.role;
    if (role === "user") {
      // Typed here and stored, but the ack was lost with the connection: this is that bubble.
      const bubble = this.pendingEls.get(message.client_id) || this.userBubble(message.content);
      this.pendingEls.delete(message.client_id);
      bubble.classList.remove("pending");
      bubble.dataset.id = message.id;
      this.byId.set(message.id, { el: bubble, role });
      this.list.append(bubble);
    } else if (role === "assistant") {
      const record = this.assistantRecord(message.id);
      // A reply still streaming is replayed in full by the next frames; don't count it twice.
      record.text = message.status === "streaming" ? "" : message.content;
      this.render(record);
      if (message.status && message.status !== "complete" && message.status !== "streaming") {
        record.el.dataset.status = message.status;
      }
      if (withRoute && message.provider) {
        this.attachRoute(record, {
          provider: message.provider,
          model: message.model,
          routing: message.routing,
          status: message.status,
          latency_ms: message.latency_ms,
          usage: message.usage,
        });
      }
    } else if (role === "thinking") {
      const record = this.thinkingRecord(message.id);
      record.text = message.status === "streaming" ? "" : message.content;
      this.render(record);
    } else if (role === "tool_call") {
      this.toolCall(message.tool_call_id, message.tool_name, message.tool_arguments, message.id);
    } else if (role === "tool_result") {
      this.toolResult(message.tool_call_id, message.tool_name, message.content, message.is_error, message.id);
    } else if (role === "checkpoint") {
      const details = el("details", "msg checkpoint");
      details.append(el("summary", "", "Earlier messages, summarised"), el("div", "plain", message.content));
      this.byId.set(message.id, { el: details, role });
      this.list.append(details);
    } else {
      const note = el("div", "msg system plain", message.content);
      this.byId.set(message.id, { el: note, role });
      this.list.append(note);
    }
    if (live && role === "user") this.scrollDown(true);
  }

  userBubble(text) {
    const bubble = el("div", "msg user");
    bubble.append(el("div", "plain", text));
    return bubble;
  }

  assistantRecord(id) {
    let record = this.byId.get(id);
    if (!record) {
      const article = el("article", "msg assistant");
      article.dataset.id = id;
      const body = el("div", "markdown");
      article.append(body);
      record = { el: article, body, role: "assistant", text: "" };
      this.byId.set(id, record);
      this.list.append(article);
    }
    return record;
  }

  thinkingRecord(id) {
    let record = this.byId.get(id);
    if (!record) {
      const details = el("details", "msg thinking");
      details.dataset.id = id;
      const body = el("div", "markdown");
      details.append(el("summary", "", "Thinking"), body);
      record = { el: details, body, role: "thinking", text: "" };
      this.byId.set(id, record);
      this.list.append(details);
    }
    return record;
  }

  // --- the turn ------------------------------------------------------------------------------

  acknowledge(frame) {
    const bubble = this.pendingEls.get(frame.client_id);
    if (!bubble) return;
    this.pendingEls.delete(frame.client_id);
    const existing = this.byId.get(frame.message_id);
    if (existing && existing.el !== bubble) {
      bubble.remove(); // already on screen from the history: a resend the server had stored
      return;
    }
    bubble.classList.remove("pending");
    bubble.dataset.id = frame.message_id;
    this.byId.set(frame.message_id, { el: bubble, role: "user" });
  }

  appendDelta(frame) {
    const record = frame.type === "thinking:delta" ? this.thinkingRecord(frame.message_id) : this.assistantRecord(frame.message_id);
    record.text += frame.text;
    record.el.dataset.status = "streaming";
    this.setRunning(true);
    this.dirty.add(record);
    if (!this.renderTimer) {
      this.renderTimer = setTimeout(() => {
        this.renderTimer = null;
        for (const dirty of this.dirty) this.render(dirty);
        this.dirty.clear();
        this.scrollDown();
      }, RENDER_EVERY_MS);
    }
  }

  render(record) {
    record.body.replaceChildren(renderMarkdown(record.text));
  }

  finish(frame) {
    for (const dirty of this.dirty) this.render(dirty);
    this.dirty.clear();
    for (const record of this.byId.values()) {
      if (record.el.dataset.status === "streaming") delete record.el.dataset.status;
    }
    const record = this.assistantRecord(frame.message_id);
    if (frame.status && frame.status !== "complete") record.el.dataset.status = frame.status;
    this.attachRoute(record, frame);
    this.setRunning(false);
    $("announcer").textContent = frame.status === "complete" ? "Reply complete." : `Reply ${frame.status}.`;
    // Keep the context figure current, as the terminal does (its answer is not shown).
    this.connection.execute("/history", { silent: true });
    this.scrollDown();
  }

  attachRoute(record, info) {
    record.el.querySelector(":scope > .route")?.remove();
    const line = routeLine(info);
    const p = el("p", "route");
    p.append(el("span", "who", `↳ ${line.who}`));
    for (const tag of line.tags) p.append(" ", el("span", `tag tag-${tag}`, tag));
    p.append(el("span", "why", ` · ${line.reason}`));
    if (line.extra.length) p.append(el("span", "cost", ` · ${line.extra.join(" · ")}`));
    p.title = line.detail;
    record.el.append(p);
  }

  toolCall(callId, name, args, messageId) {
    let tool = this.tools.get(callId);
    if (!tool) {
      const details = el("details", "msg tool");
      details.dataset.callId = callId || "";
      const summary = el("summary");
      const pre = el("pre", "args");
      const result = el("div", "result");
      details.append(summary, pre, result);
      tool = { el: details, summary, pre, result, name: name || "tool" };
      this.tools.set(callId, tool);
      this.list.append(details);
    }
    if (messageId) this.byId.set(messageId, { el: tool.el, role: "tool_call" });
    const argsText = JSON.stringify(args ?? {});
    tool.name = name || tool.name;
    tool.summary.textContent = `⚙ ${tool.name}(${argsText.length > 80 ? `${argsText.slice(0, 79)}…` : argsText})`;
    tool.pre.textContent = JSON.stringify(args ?? {}, null, 2);
    return tool;
  }

  toolResult(callId, name, result, isError, messageId) {
    const tool = this.tools.get(callId) || this.toolCall(callId, name, {}, "");
    if (messageId) this.byId.set(messageId, { el: tool.el, role: "tool_result" });
    tool.result.replaceChildren(el("pre", isError ? "error" : "", result ?? ""));
    tool.el.dataset.status = isError ? "failed" : "complete";
    tool.summary.textContent = `${tool.summary.textContent.replace(/ [→✗].*$/, "")} ${isError ? "✗ failed" : "→ done"}`;
  }

  commandResult(frame) {
    if (frame.silent) {
      if (frame.data) this.setContext(frame.data.context_tokens, frame.data.context_window);
      return;
    }
    if (frame.data && frame.data.context_tokens !== undefined) {
      this.setContext(frame.data.context_tokens, frame.data.context_window);
    }
    const box = el("div", `msg command${frame.ok ? "" : " error"}`);
    box.append(el("p", "command-line", frame.command));
    const isHelp = /^\/help\b/.test(String(frame.command).trim());
    box.append(el("pre", "", `${frame.output}${isHelp ? `\n${CLIENT_HELP}` : ""}`));
    this.list.append(box);
    this.scrollDown(true);
  }

  showError(frame) {
    const box = el("div", "msg error");
    box.setAttribute("role", "alert");
    const messages = {
      not_found: "This conversation was not found (it may have been deleted, or belong to someone else).",
    };
    box.append(el("span", "", messages[frame.code] && !this.connection.ready ? messages[frame.code] : frame.message));
    box.append(el("span", "code", ` (${frame.code || "error"}${frame.retryable ? ", you can try again" : ""})`));
    this.list.append(box);
    // A provider error is followed by message:done (failed); a conflict leaves the turn running.
    const code = String(frame.code || "");
    if (code !== "conflict") this.setRunning(this.running && code.startsWith("provider_"));
    this.scrollDown(true);
  }

  note(kind, text) {
    const box = el("div", `msg ${kind}`, text);
    if (kind === "error") box.setAttribute("role", "alert");
    this.list.append(box);
    this.scrollDown(true);
  }

  // Follow new text only while the reader is at the bottom (not while they scroll back to read).
  scrollDown(force = false) {
    if (force || this.stick) this.list.scrollTop = this.list.scrollHeight;
  }
}

const root = document.getElementById("main");
if (root && root.classList.contains("chat")) new ChatView(root).start();
