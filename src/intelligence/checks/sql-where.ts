/**
 * Reading a normalised statement text (pg_stat_statements: constants replaced by `$n`) just enough to say
 * which table it reads and which of that table's columns its WHERE clause compares — the columns a
 * missing index would cover. Deliberately NOT a SQL parser: a bounded scan of the first WHERE clause
 * after the table is named, split on AND/OR, keeping predicates of the form `[alias.]column <op> …`.
 * Anything it cannot read gives no column (the finding then proposes EXPLAIN instead of an index), never a
 * wrong one invented from a function call or a subquery.
 *
 * Bounds: the text is cut to `maxTextLength` characters before any regular expression runs, and the
 * result to `maxColumns` names.
 */

export const maxTextLength = 8192;
export const maxColumns = 8;

const identPart = `(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const clauseEnd =
  /\b(?:ORDER\s+BY|GROUP\s+BY|HAVING|LIMIT|OFFSET|RETURNING|UNION|INTERSECT|EXCEPT|WINDOW|FOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY))\b|;/i;
const reserved = new Set([
  'not',
  'exists',
  'select',
  'case',
  'true',
  'false',
  'null',
  'and',
  'or',
  'where',
  'on',
  'current_date',
  'current_timestamp',
  'now',
]);

function unquote(id: string): string {
  return id.startsWith('"') ? id.slice(1, -1).replaceAll('""', '"') : id.toLowerCase();
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The name as it would appear in SQL text: bare when it is a plain lower-case name, else quoted. */
function nameRe(name: string): string {
  const plain = /^[a-z_][a-z0-9_$]*$/.test(name);
  return plain ? `(?:${escapeRe(name)}|"${escapeRe(name)}")` : `"${escapeRe(name.replaceAll('"', '""'))}"`;
}

/** Where the table is named after FROM/JOIN/UPDATE/INTO (optionally schema-qualified), and its alias. */
export function findTableReference(
  text: string,
  schema: string,
  table: string,
): { index: number; alias: string | null; joins: boolean } | null {
  const t = text.slice(0, maxTextLength);
  const re = new RegExp(
    String.raw`\b(FROM|JOIN|UPDATE)\s+(?:ONLY\s+)?(?:${nameRe(schema)}\s*\.\s*)?${nameRe(table)}(?![A-Za-z0-9_$."])(?:\s+(?:AS\s+)?(${identPart}))?`,
    'i',
  );
  const m = re.exec(t);
  if (!m) return null;
  let alias = m[2] ? unquote(m[2]) : null;
  if (
    alias &&
    (reserved.has(alias) ||
      /^(where|join|inner|left|right|full|cross|on|using|set|natural|limit|order|group)$/.test(alias))
  )
    alias = null;
  const joins = /\bJOIN\b/i.test(t) || /\bFROM\s+[^()]*?,/i.test(t.slice(m.index));
  return { index: m.index, alias, joins };
}

/**
 * The columns of `schema.table` that the statement's WHERE clause compares to something, equality first
 * (the order an index should list them in), at most `maxColumns`. `[]` when the table is not found or
 * nothing can be read.
 */
export function whereColumns(text: string, schema: string, table: string): string[] {
  const t = text.slice(0, maxTextLength);
  const ref = findTableReference(t, schema, table);
  if (!ref) return [];
  const after = t.slice(ref.index);
  const w = /\bWHERE\b/i.exec(after);
  if (!w) return [];
  let clause = after.slice(w.index + w[0].length);
  const end = clauseEnd.exec(clause);
  if (end) clause = clause.slice(0, end.index);
  // A closing parenthesis that was not opened inside the clause ends it (the WHERE of a subquery).
  let depth = 0;
  for (let i = 0; i < clause.length; i++) {
    const c = clause[i];
    if (c === '(') depth++;
    else if (c === ')') {
      if (depth === 0) {
        clause = clause.slice(0, i);
        break;
      }
      depth--;
    }
  }
  const predicate = new RegExp(
    String.raw`^\(*\s*(?:(${identPart})\s*\.\s*)?(${identPart})\s*(=|<>|!=|<=|>=|<|>|\bIN\b|\bLIKE\b|\bILIKE\b|\bBETWEEN\b|\bIS\b)`,
    'i',
  );
  const equal: string[] = [];
  const other: string[] = [];
  for (const part of clause.split(/\b(?:AND|OR)\b/i).slice(0, 64)) {
    const m = predicate.exec(part.trim());
    if (!m) continue;
    const qualifier = m[1] ? unquote(m[1]) : null;
    const column = unquote(m[2]!);
    if (reserved.has(column) || column.startsWith('$')) continue;
    if (qualifier !== null) {
      if (qualifier !== (ref.alias ?? table) && qualifier !== table) continue;
    } else if (ref.joins) {
      // Unqualified with several tables: the column may belong to another one.
      continue;
    }
    const op = m[3]!.toUpperCase();
    const list = op === '=' || op === 'IN' || op === 'IS' ? equal : other;
    if (!equal.includes(column) && !other.includes(column)) list.push(column);
  }
  return [...equal, ...other].slice(0, maxColumns);
}
