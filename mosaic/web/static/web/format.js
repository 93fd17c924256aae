// Plain formatting shared by the chat view (the same words as the terminal's route line).

export function formatTokens(count) {
  const n = Number(count) || 0;
  if (n < 1000) return String(n);
  if (n < 1000000) return `${(n / 1000).toFixed(1)}k`.replace(".0k", "k");
  return `${(n / 1000000).toFixed(1)}M`.replace(".0M", "M");
}

export function formatLatency(ms) {
  if (!ms) return "";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

// The server's rule for a conversation's title (conversations/services.py, _title_from).
export function titleFrom(text, limit = 80) {
  const line = text.split(/\s+/).filter(Boolean).join(" ");
  return line.length <= limit ? line : `${line.slice(0, limit - 1).trimEnd()}…`;
}

// The line under every answer: who answered, why, what it cost.
// Returns {who, tags, reason, extra, detail} for the view to lay out.
export function routeLine({ provider, model, routing, status, latency_ms: latency, usage }) {
  const who = provider ? `${provider}:${model}` : model || "unknown model";
  const tags = [];
  let reason = "routing: no decision recorded";
  let detail = "";
  if (routing) {
    if (routing.override) tags.push("override");
    if (routing.failover) tags.push("failover");
    const rule = typeof routing.rule === "object" && routing.rule ? routing.rule.name : routing.rule;
    reason = routing.reason || (rule ? `rule ${rule}` : "routing: no reason given");
    const lines = [`reason: ${reason}`];
    if (rule) lines.push(`rule: ${rule}`);
    const c = routing.classification;
    if (c) lines.push(`classified: ${[c.task_type, c.complexity, c.domain, c.cost_tier].filter(Boolean).join(", ")}`);
    const fallbacks = (routing.fallbacks || []).map((f) => (typeof f === "string" ? f : `${f.provider}:${f.model}`));
    if (fallbacks.length) lines.push(`fallbacks: ${fallbacks.join(", ")}`);
    for (const s of routing.skipped || []) lines.push(`skipped ${s.provider}:${s.model}: ${s.reason}`);
    detail = lines.join("\n");
  }
  const extra = [];
  if (status && status !== "complete") extra.push(status);
  const took = formatLatency(latency);
  if (took) extra.push(took);
  if (usage && (usage.input_tokens || usage.output_tokens)) {
    extra.push(`${formatTokens(usage.input_tokens)}→${formatTokens(usage.output_tokens)} tok`);
  }
  return { who, tags, reason, extra, detail };
}
