// Reading what the server says about a failed UDF: the line of the user's
// code a Python traceback points at, and the UDF's prints from the
// X-UDF-Logs header (a Go-quoted string). Pure: no DOM, so that
// `node --test` can check it.

const FRAME = /^[ \t]*File "([^"\n]+)", line (\d+)(?:, in (.+?))?[ \t]*$/gm;
const SECTION = /^Traceback \(most recent call last\):[ \t]*$/m;

// Files that are not the user's: the standard library, installed packages,
// the runtime's own fused module, frozen importlib frames.
const LIBRARY = /(?:site-packages|dist-packages|[\\/]lib[\\/]python\d[^\\/]*[\\/]|^<frozen |[\\/]pyruntime[\\/]|[\\/]fused[\\/]_[a-z]+\.py$|runner\.py$)/;

export function isLibraryFile(file) {
  return LIBRARY.test(file);
}

// frames lists every `File "...", line N[, in f]` of text, in order: a frame
// without a function is where a SyntaxError points.
export function frames(text) {
  const out = [];
  for (const m of String(text || '').matchAll(FRAME)) {
    out.push({ file: m[1], line: Number(m[2]), func: m[3] || '' });
  }
  return out;
}

// matches says whether a file name matches a hint: a part of it, or a RegExp.
function matches(file, hint) {
  return hint instanceof RegExp ? hint.test(file) : file.includes(hint);
}

function lineIn(list, hint) {
  if (!list.length) return null;
  const last = list[list.length - 1];
  const named = hint ? list.filter((f) => matches(f.file, hint)) : [];
  // A SyntaxError (or IndentationError) names the file and line it could not
  // read, without a function: the user's code when it is not a library's.
  if (!last.func && !isLibraryFile(last.file) && (!named.length || matches(last.file, hint))) return last.line;
  let file = null;
  if (named.length) file = named[0].file;
  if (!file) {
    const own = list.find((f) => !isLibraryFile(f.file));
    if (own) file = own.file;
  }
  if (!file) return null;
  for (let i = list.length - 1; i >= 0; i--) if (list[i].file === file) return list[i].line;
  return null;
}

// failingLine is the line of the UDF's code a traceback points at: the last
// frame whose file is the UDF's (the first that matches hint, a part of its
// file name or a RegExp, when some does; else the first frame that is not a
// library's, which is the UDF's own function), or the line a SyntaxError
// names. Of chained tracebacks the last
// that points into the user's code wins. null when no line is found.
export function failingLine(text, hint) {
  const s = String(text || '');
  const parts = s.split(SECTION);
  for (let i = parts.length - 1; i >= 0; i--) {
    const n = lineIn(frames(parts[i]), hint || '');
    if (n !== null) return n;
  }
  return null;
}

// errorLine is the line to mark for a failed answer: the server's own "line"
// when it gives one, else the traceback's, looked for in the error text and
// then in the logs.
export function errorLine(body, hint) {
  if (body && Number.isInteger(body.line) && body.line > 0) return body.line;
  if (!body) return null;
  const a = failingLine(body.error, hint);
  if (a !== null) return a;
  return failingLine(body.logs, hint);
}

const SIMPLE = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };

// unquoteGo reads a string written by Go's strconv.Quote/QuoteToASCII (the
// X-UDF-Logs header): \n, \t, \\, \", \xHH, \ooo, \uHHHH and \UHHHHHHHH. Text
// that is not quoted is returned as it is.
export function unquoteGo(s) {
  const text = String(s || '');
  if (text.length < 2 || text[0] !== '"' || text[text.length - 1] !== '"') return text;
  const body = text.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\' || i + 1 >= body.length) { out += c; continue; }
    const e = body[++i];
    if (e in SIMPLE) { out += SIMPLE[e]; continue; }
    let hex = '';
    if (e === 'x') hex = body.substr(i + 1, 2);
    else if (e === 'u') hex = body.substr(i + 1, 4);
    else if (e === 'U') hex = body.substr(i + 1, 8);
    if (hex && /^[0-9a-fA-F]+$/.test(hex) && hex.length === { x: 2, u: 4, U: 8 }[e]) {
      const cp = parseInt(hex, 16);
      // A \x byte of 0x80 or more is a byte that was not UTF-8.
      out += e === 'x' && cp >= 0x80 ? '\uFFFD' : String.fromCodePoint(cp > 0x10ffff ? 0xfffd : cp);
      i += hex.length;
      continue;
    }
    const oct = body.substr(i, 3);
    if (/^[0-7]{3}$/.test(oct)) {
      const cp = parseInt(oct, 8);
      out += cp >= 0x80 ? '\uFFFD' : String.fromCharCode(cp);
      i += 2;
      continue;
    }
    out += '\\' + e;
  }
  return out;
}
