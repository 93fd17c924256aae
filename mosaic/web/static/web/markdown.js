// A small Markdown renderer that is safe by construction.
//
// It builds DOM nodes and sets only textContent and a few attributes: no string of text is ever
// parsed as HTML, so markup in a message (<script>, <img onerror>, anything) shows as text.
// Links keep only http:, https: and mailto: URLs; anything else (javascript:, data:, relative
// paths) is shown as plain text. Images are shown as links, never loaded.
//
// The subset: paragraphs (a newline is a line break), # headings, ``` and ~~~ fenced code
// (an unclosed fence while streaming runs to the end), indented lists (-, *, +, 1.), > quotes,
// --- rules, | tables |, `code`, **bold**, *italic*, ~~strike~~, [links](url), <autolinks>
// and bare URLs, \-escapes.

import { highlightInto } from "./highlight.js";

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

export function safeUrl(raw) {
  const text = (raw || "").trim();
  if (!text) return null;
  let url;
  try {
    url = new URL(text); // absolute URLs only: no base, so relative paths are refused
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function link(href, label) {
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  if (typeof label === "string") a.textContent = label;
  else a.append(label);
  return a;
}

// --- inline --------------------------------------------------------------------------------------

const INLINE_SOURCE = new RegExp(
  [
    "\\\\([\\\\`*_{}\\[\\]()#+\\-.!~|<>])", // 1 escaped character
    "(`+)([\\s\\S]*?[^`])\\2(?!`)", // 2, 3 code span
    "(!?)\\[([^\\]\\n]*)\\]\\(\\s*<?([^()\\s<>]*(?:\\([^()\\s]*\\)[^()\\s<>]*)*)>?(?:\\s+\"[^\"]*\")?\\s*\\)", // 4, 5, 6 link / image
    "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 7 bold
    "__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)", // 8 bold
    "~~(?=\\S)([\\s\\S]*?\\S)~~", // 9 strike
    "\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*(?!\\*)", // 10 italic
    "(?<![\\w_])_(?=[^\\s_])([\\s\\S]*?[^\\s_])_(?![\\w_])", // 11 italic
    "<((?:https?:\\/\\/|mailto:)[^>\\s]+)>", // 12 autolink
    "(https?:\\/\\/[^\\s<>\"'`]*[^\\s<>\"'`.,:;!?)\\]])", // 13 bare URL
  ].join("|"),
  "g",
);

function appendText(parent, text) {
  // A newline inside a paragraph is a line break (as in chat apps), not a space.
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (index > 0) parent.append(el("br"));
    if (line) parent.append(line);
  });
}

export function renderInline(text, parent) {
  // A regex of its own per call: the function recurses, and a shared /g regex's lastIndex
  // would be moved by the inner call.
  const inline = new RegExp(INLINE_SOURCE.source, "g");
  let last = 0;
  for (let m = inline.exec(text); m; m = inline.exec(text)) {
    if (m.index > last) appendText(parent, text.slice(last, m.index));
    last = inline.lastIndex;
    if (m[1] !== undefined) {
      parent.append(m[1]);
    } else if (m[2] !== undefined) {
      const code = el("code");
      code.textContent = m[3].replace(/^ (.*) $/s, "$1");
      parent.append(code);
    } else if (m[5] !== undefined) {
      const [isImage, label, target] = [m[4] === "!", m[5], m[6]];
      const href = safeUrl(target);
      if (!href) {
        // Not a URL we link to: show what was written, as text.
        appendText(parent, m[0]);
      } else if (isImage) {
        parent.append(link(href, `🖼 ${label || "image"}`));
      } else {
        const inner = document.createDocumentFragment();
        renderInline(label || href, inner);
        parent.append(link(href, inner));
      }
    } else if (m[7] !== undefined || m[8] !== undefined) {
      const strong = el("strong");
      renderInline(m[7] ?? m[8], strong);
      parent.append(strong);
    } else if (m[9] !== undefined) {
      const del = el("del");
      renderInline(m[9], del);
      parent.append(del);
    } else if (m[10] !== undefined || m[11] !== undefined) {
      const em = el("em");
      renderInline(m[10] ?? m[11], em);
      parent.append(em);
    } else {
      const target = m[12] ?? m[13];
      const href = safeUrl(target);
      if (href) parent.append(link(href, target));
      else appendText(parent, m[0]);
    }
  }
  if (last < text.length) appendText(parent, text.slice(last));
}

// --- blocks --------------------------------------------------------------------------------------

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TABLE_DIVIDER = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function isBlockStart(line, next) {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    LIST_ITEM.test(line) ||
    QUOTE.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_DIVIDER.test(next) && next.includes("-"))
  );
}

function renderList(lines, start, parent) {
  // Items at the first item's indentation; deeper lines belong to the item above them.
  const first = LIST_ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = el(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  let i = start;
  let item = null;
  let body = [];
  const flush = () => {
    if (item) {
      renderBlocks(body.join("\n"), item);
      list.append(item);
    }
  };
  while (i < lines.length) {
    const line = lines[i];
    const match = LIST_ITEM.exec(line);
    if (match && match[1].length <= indent + 1 && /\d/.test(match[2]) === ordered) {
      flush();
      item = el("li");
      body = [match[3]];
    } else if (line.trim() === "") {
      const next = lines[i + 1];
      if (next === undefined || !(/^\s+/.test(next) || LIST_ITEM.test(next))) break;
      body.push("");
    } else if (/^\s/.test(line) && line.search(/\S/) > indent) {
      body.push(line.slice(Math.min(line.search(/\S/), indent + 2)));
    } else if (match || isBlockStart(line, lines[i + 1])) {
      break;
    } else {
      body.push(line.trim()); // a lazy continuation of the item's paragraph
    }
    i += 1;
  }
  flush();
  parent.append(list);
  return i;
}

export function renderBlocks(text, parent) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1];
      const code = [];
      i += 1;
      while (i < lines.length && !new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`).test(lines[i])) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end of a reply still streaming)
      const pre = el("pre");
      const codeEl = el("code");
      if (fence[2]) {
        codeEl.dataset.language = fence[2].toLowerCase();
        pre.dataset.language = fence[2].toLowerCase();
      }
      highlightInto(codeEl, code.join("\n"), fence[2]);
      pre.append(codeEl);
      parent.append(pre);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      // Messages sit under the page's h1 and the conversation's h2.
      const h = el(`h${Math.min(6, heading[1].length + 2)}`);
      renderInline(heading[2], h);
      parent.append(h);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(el("hr"));
      i += 1;
      continue;
    }
    if (LIST_ITEM.test(line)) {
      i = renderList(lines, i, parent);
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) {
        quoted.push(QUOTE.exec(lines[i])[1]);
        i += 1;
      }
      const blockquote = el("blockquote");
      renderBlocks(quoted.join("\n"), blockquote);
      parent.append(blockquote);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      const wrap = el("div", "table-wrap");
      const table = el("table");
      const head = el("thead");
      const headRow = el("tr");
      for (const cell of splitRow(line)) {
        const th = el("th");
        renderInline(cell, th);
        headRow.append(th);
      }
      head.append(headRow);
      table.append(head);
      const bodyEl = el("tbody");
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim() !== "") {
        const tr = el("tr");
        for (const cell of splitRow(lines[i])) {
          const td = el("td");
          renderInline(cell, td);
          tr.append(td);
        }
        bodyEl.append(tr);
        i += 1;
      }
      table.append(bodyEl);
      wrap.append(table);
      parent.append(wrap);
      continue;
    }
    const paragraph = [line];
    i += 1;
    while (i < lines.length && lines[i].trim() !== "" && !isBlockStart(lines[i], lines[i + 1])) {
      paragraph.push(lines[i]);
      i += 1;
    }
    const p = el("p");
    renderInline(paragraph.join("\n"), p);
    parent.append(p);
  }
}

// The whole message as a fragment, ready to replace an element's children.
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  renderBlocks(text || "", fragment);
  return fragment;
}
