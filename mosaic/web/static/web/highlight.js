// Syntax highlighting for code blocks: a small tokenizer per language family.
//
// It never builds HTML from text: every token becomes a text node or a <span> whose
// textContent is set, so code can contain anything and stays inert.

const C_LIKE = {
  line: "//",
  block: ["/*", "*/"],
  strings: ['"', "'", "`"],
};

const KEYWORDS = {
  python: "and as assert async await break class continue def del elif else except finally for from global if import in is lambda match case nonlocal not or pass raise return try while with yield",
  js: "async await break case catch class const continue debugger default delete do else export extends finally for from function if import in instanceof let new of return static super switch this throw try typeof var void while with yield interface type enum implements private public protected readonly",
  go: "break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var",
  rust: "as async await break const continue crate dyn else enum extern fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait type unsafe use where while",
  c: "auto break case catch char class const continue default delete do double else enum extern final float for goto if import inline int long namespace new package private protected public register return short signed sizeof static struct super switch template this throw throws try typedef union unsigned using var virtual void volatile while fun val when override",
  sh: "if then else elif fi case esac for while until do done in function return local export readonly declare unset shift exit set",
  sql: "select from where and or not insert into values update set delete create table index view drop alter add primary key foreign references join left right inner outer full on group by order having limit offset as distinct union all case when then else end is null like in exists between returning with",
  ruby: "alias and begin break case class def defined do else elsif end ensure for if in module next not or redo rescue retry return self super then undef unless until when while yield require",
  css: "",
  data: "",
};

const LITERALS = "true false null nil None True False undefined NaN Infinity";

const LANGUAGES = {
  python: { keywords: "python", line: "#", strings: ['"""', "'''", '"', "'"] },
  js: { keywords: "js", ...C_LIKE },
  go: { keywords: "go", ...C_LIKE },
  rust: { keywords: "rust", line: "//", block: ["/*", "*/"], strings: ['"'] },
  c: { keywords: "c", ...C_LIKE },
  sh: { keywords: "sh", line: "#", strings: ['"', "'"] },
  sql: { keywords: "sql", line: "--", block: ["/*", "*/"], strings: ["'", '"'], caseless: true },
  ruby: { keywords: "ruby", line: "#", strings: ['"', "'"] },
  css: { keywords: "css", block: ["/*", "*/"], strings: ['"', "'"] },
  data: { keywords: "data", line: "#", strings: ['"', "'"] },
  markup: { markup: true },
};

const ALIASES = {
  python: "python", py: "python", python3: "python",
  javascript: "js", js: "js", jsx: "js", ts: "js", tsx: "js", typescript: "js", mjs: "js",
  json: "data", yaml: "data", yml: "data", toml: "data", ini: "data",
  go: "go", golang: "go",
  rust: "rust", rs: "rust",
  c: "c", h: "c", cpp: "c", "c++": "c", cc: "c", java: "c", kotlin: "c", kt: "c",
  cs: "c", csharp: "c", swift: "c", scala: "c", dart: "c", php: "c",
  sh: "sh", bash: "sh", shell: "sh", zsh: "sh", console: "sh",
  sql: "sql", postgres: "sql", postgresql: "sql", sqlite: "sql",
  ruby: "ruby", rb: "ruby",
  css: "css", scss: "css",
  html: "markup", xml: "markup", svg: "markup",
};

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const compiled = new Map();

function compile(name) {
  if (compiled.has(name)) return compiled.get(name);
  const spec = LANGUAGES[name];
  const parts = [];
  const kinds = [];
  const add = (source, kind) => {
    parts.push(`(${source})`);
    kinds.push(kind);
  };
  if (spec.markup) {
    add("<!--[\\s\\S]*?(?:-->|$)", "comment");
    add("</?[A-Za-z][\\w:-]*", "keyword");
    add('"[^"]*"|\'[^\']*\'', "string");
  } else {
    if (spec.block) {
      add(`${escapeRegExp(spec.block[0])}[\\s\\S]*?(?:${escapeRegExp(spec.block[1])}|$)`, "comment");
    }
    if (spec.line) add(`${escapeRegExp(spec.line)}[^\\n]*`, "comment");
    for (const quote of spec.strings) {
      const q = escapeRegExp(quote);
      let body;
      if (quote.length === 3) body = "[\\s\\S]*?(?:" + q + "|$)";
      else if (quote === "`") body = "(?:\\\\[\\s\\S]|[^\\\\`])*(?:`|$)";
      else body = "(?:\\\\.|[^\\\\" + quote + "\\n])*(?:" + q + "|(?=\\n)|$)";
      add(q + body, "string");
    }
    add("\\b(?:0x[\\da-fA-F_]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b", "number");
    add("[A-Za-z_$][\\w$]*", "word");
  }
  const words = new Set((KEYWORDS[spec.keywords] || "").split(" ").filter(Boolean));
  const result = {
    regex: new RegExp(parts.join("|"), "g"),
    kinds,
    keywords: spec.caseless ? new Set([...words].map((w) => w.toLowerCase())) : words,
    caseless: Boolean(spec.caseless),
  };
  compiled.set(name, result);
  return result;
}

const LITERAL_SET = new Set(LITERALS.split(" "));

function classify(kind, token, language, next) {
  if (kind !== "word") return kind;
  const key = language.caseless ? token.toLowerCase() : token;
  if (language.keywords.has(key)) return "keyword";
  if (LITERAL_SET.has(token)) return "literal";
  if (next === "(") return "function";
  return null;
}

export function languageOf(info) {
  const name = (info || "").trim().split(/\s+/)[0].toLowerCase();
  return ALIASES[name] || null;
}

// Fill `target` (a <code> element) with `text`, highlighted for the language named by `info`
// (the fence's info string). Unknown languages get plain text.
export function highlightInto(target, text, info) {
  const name = languageOf(info);
  if (!name) {
    target.textContent = text;
    return;
  }
  const language = compile(name);
  const { regex, kinds } = language;
  const fragment = document.createDocumentFragment();
  let last = 0;
  regex.lastIndex = 0;
  for (let match = regex.exec(text); match; match = regex.exec(text)) {
    if (match[0] === "") {
      regex.lastIndex += 1;
      continue;
    }
    const group = match.findIndex((value, index) => index > 0 && value !== undefined);
    const kind = classify(kinds[group - 1], match[0], language, text[regex.lastIndex]);
    if (match.index > last) fragment.append(text.slice(last, match.index));
    if (kind) {
      const span = document.createElement("span");
      span.className = `tok-${kind}`;
      span.textContent = match[0];
      fragment.append(span);
    } else {
      fragment.append(match[0]);
    }
    last = regex.lastIndex;
  }
  if (last < text.length) fragment.append(text.slice(last));
  target.replaceChildren(fragment);
}
