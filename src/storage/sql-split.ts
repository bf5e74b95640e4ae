/**
 * Splits a SQL script into statements, so that a failing migration can name the exact statement and line.
 * Understands what can hide a semicolon: quoted strings and identifiers, dollar quotes, and comments.
 */
export interface SqlStatement {
  sql: string;
  /** 1-based line of the statement's first non-blank character in the script. */
  line: number;
}

export function splitSqlStatements(script: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  let start = 0;
  let i = 0;
  const n = script.length;
  const push = (end: number) => {
    const raw = script.slice(start, end);
    const body = stripComments(raw).trim();
    if (body !== '') {
      const lead = raw.length - raw.trimStart().length;
      out.push({ sql: raw.trim(), line: lineAt(script, firstCode(script, start + lead, end)) });
    }
  };
  while (i < n) {
    const c = script[i];
    if (c === "'" || c === '"') {
      i = skipQuoted(script, i, c);
    } else if (c === '-' && script[i + 1] === '-') {
      const nl = script.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === '/' && script[i + 1] === '*') {
      i = skipBlockComment(script, i);
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i, i + 64));
      if (m) {
        const close = script.indexOf(m[0], i + m[0].length);
        i = close < 0 ? n : close + m[0].length;
      } else {
        i++;
      }
    } else if (c === ';') {
      push(i + 1);
      i++;
      start = i;
    } else {
      i++;
    }
  }
  push(n);
  return out;
}

function skipQuoted(s: string, i: number, q: string): number {
  let j = i + 1;
  while (j < s.length) {
    if (s[j] === q) {
      if (s[j + 1] === q) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return s.length;
}

function skipBlockComment(s: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < s.length) {
    if (s[j] === '/' && s[j + 1] === '*') {
      depth++;
      j += 2;
    } else if (s[j] === '*' && s[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return s.length;
}

function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

/** Position of the first character that is neither blank nor inside a comment. */
function firstCode(s: string, from: number, to: number): number {
  let i = from;
  while (i < to) {
    if (/\s/.test(s[i]!)) i++;
    else if (s[i] === '-' && s[i + 1] === '-') {
      const nl = s.indexOf('\n', i);
      i = nl < 0 ? to : nl + 1;
    } else if (s[i] === '/' && s[i + 1] === '*') i = skipBlockComment(s, i);
    else return i;
  }
  return from;
}

function lineAt(s: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < s.length; i++) if (s[i] === '\n') line++;
  return line;
}
