// The chat socket, protocol v1 (docs/websocket-protocol.md), as the terminal client speaks it.
//
// - Authenticates with the page's session cookie (the browser sends it; the server checks the
//   page's Origin).
// - Reconnects after a drop with exponential backoff and jitter (0.5, 1, 2, 4, 8, then every
//   10 s, each ±20 %), reopens the same conversation, pins the /model choice again (a new socket
//   is a new session), and resends every message whose turn has not finished, with its original
//   client_id: the server stores and answers a client_id once, so a resend is always safe.
// - Sends a ping every 20 s and reconnects if no frame arrives within 10 s of it (a phone that
//   changed networks keeps a dead socket open otherwise).
// - A new conversation is opened only when the first message or command is sent, so that
//   visiting the page creates no empty conversations.
// - Close code 4401 (not signed in, or signed out meanwhile) ends it: no reconnect.

export const CLOSE_UNAUTHENTICATED = 4401;
const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;
const REFUSED_CODES = new Set(["invalid_frame", "invalid_json", "too_large", "invalid", "unknown_type"]);

export function newClientId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}

export class Backoff {
  constructor({ initial = 500, maximum = 10000, factor = 2, jitter = 0.2 } = {}) {
    Object.assign(this, { initial, maximum, factor, jitter, attempt: 0 });
  }

  next() {
    const base = Math.min(this.maximum, this.initial * this.factor ** this.attempt);
    this.attempt += 1;
    const spread = 1 - this.jitter + Math.random() * 2 * this.jitter;
    return Math.min(this.maximum, base * spread);
  }

  reset() {
    this.attempt = 0;
  }
}

// Client ids of user messages with a finished assistant reply after them (as the TUI decides).
export function answeredClientIds(messages) {
  const answered = new Set();
  let waiting = [];
  for (const message of messages) {
    if (message.role === "user") waiting.push(message.client_id || "");
    else if (message.role === "assistant" && message.status !== "streaming") {
      waiting.filter(Boolean).forEach((id) => answered.add(id));
      waiting = [];
    }
  }
  return answered;
}

export class ChatConnection {
  // handlers: onFrame(frame), onState({state, retryIn, reason}), onRefused(pending, frame)
  constructor(url, { conversationId = "", agent = "", handlers = {} } = {}) {
    this.url = url;
    this.conversationId = conversationId;
    this.agent = agent;
    this.modelOverride = "";
    this.handlers = handlers;
    this.backoff = new Backoff();
    this.pending = new Map(); // client_id → {content, acked, messageId}
    this.silentCommands = [];
    this.queuedCommands = []; // typed before the conversation was open
    this.wantOpen = Boolean(conversationId);
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.openedOnce = false;
    this.pingTimer = null;
    this.pongTimer = null;
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.clearTimers();
    if (this.ws) this.ws.close(1000, "page closed");
  }

  emitState(state, extra = {}) {
    this.handlers.onState?.({ state, ...extra });
  }

  connect() {
    this.emitState(this.openedOnce ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.scheduleReconnect(String(error));
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.startPings();
      if (this.wantOpen || this.conversationId) {
        this.emitState("open");
        this.sendOpen();
      } else {
        this.backoff.reset();
        this.emitState("ready"); // connected; the conversation opens with the first message
      }
    });
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.clearTimers();
      if (event.code === CLOSE_UNAUTHENTICATED) {
        this.stopped = true;
        this.emitState("signed-out");
        return;
      }
      if (!this.stopped) this.scheduleReconnect(event.reason || `code ${event.code}`);
    });
  }

  scheduleReconnect(reason) {
    const delay = this.backoff.next();
    this.emitState("down", { retryIn: delay, reason });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // Drop the socket now; it reconnects as after any drop (used by tests and the "retry" link).
  reconnectNow() {
    if (this.ws) this.ws.close(4000, "reconnect");
    else {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  startPings() {
    this.clearTimers();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.ws?.close(4000, "no answer to ping"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  clearTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  ensureOpen() {
    if (this.wantOpen) return;
    this.wantOpen = true;
    this.sendOpen();
  }

  sendOpen() {
    const frame = { type: "conversation:open" };
    if (this.conversationId) frame.conversation_id = this.conversationId;
    if (this.agent && !this.openedOnce) frame.agent = this.agent;
    if (this.modelOverride) frame.model = this.modelOverride;
    this.ready = false;
    this.send(frame);
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // --- what the user does --------------------------------------------------------------------

  sendMessage(content) {
    const clientId = newClientId();
    this.pending.set(clientId, { content, acked: false, messageId: "" });
    if (this.ready) this.send({ type: "message:send", content, client_id: clientId });
    else this.ensureOpen();
    return clientId;
  }

  execute(command, { silent = false } = {}) {
    if (!this.ready && !silent && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.queuedCommands.push(command);
      this.ensureOpen();
      return true;
    }
    const sent = this.ready && this.send({ type: "command:execute", command });
    if (sent && silent) this.silentCommands.push(command.trim());
    return sent;
  }

  cancel() {
    return this.send({ type: "message:cancel" });
  }

  // --- frames in -----------------------------------------------------------------------------

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    clearTimeout(this.pongTimer);
    switch (frame.type) {
      case "pong":
        return;
      case "session:info":
        if (frame.conversation_id) this.conversationId = frame.conversation_id;
        this.modelOverride = frame.model_override || "";
        break;
      case "conversation:history":
        this.ready = true;
        this.openedOnce = true;
        this.backoff.reset();
        this.emitState("ready");
        this.resendUnanswered(frame.messages || []);
        for (const command of this.queuedCommands.splice(0)) {
          this.send({ type: "command:execute", command });
        }
        break;
      case "message:ack": {
        const pending = this.pending.get(frame.client_id);
        if (pending) Object.assign(pending, { acked: true, messageId: frame.message_id });
        break;
      }
      case "message:done":
        // One turn at a time: every acknowledged message's turn is over.
        for (const [clientId, pending] of this.pending) {
          if (pending.acked) this.pending.delete(clientId);
        }
        break;
      case "command:result":
        if (this.silentCommands[0] === String(frame.command || "").trim()) {
          this.silentCommands.shift();
          frame.silent = true;
        }
        break;
      case "error":
        if (!this.ready && frame.code === "not_found") {
          this.stopped = true;
          this.ws?.close(1000, "conversation not found");
        }
        if (REFUSED_CODES.has(frame.code)) {
          // The server refused what we sent last; a message it never stored must not be
          // resent forever. Hand it back to the page (which puts the text back in the box).
          for (const [clientId, pending] of this.pending) {
            if (!pending.acked) {
              this.pending.delete(clientId);
              this.handlers.onRefused?.(clientId, pending, frame);
            }
          }
        }
        break;
      default:
        break;
    }
    this.handlers.onFrame?.(frame);
  }

  resendUnanswered(messages) {
    if (!this.pending.size) return;
    const answered = answeredClientIds(messages);
    for (const [clientId, pending] of this.pending) {
      if (answered.has(clientId)) {
        this.pending.delete(clientId);
      } else {
        this.send({ type: "message:send", content: pending.content, client_id: clientId });
      }
    }
  }
}
