/**
 * SQL literals for statements sent without parameters: the statements a group transaction sends in one
 * simple-query message (src/storage/copy-pipeline.ts), where the extended protocol's parameters cannot go.
 *
 * Every value is checked for its type before it is written: integers must be safe integers, floats finite,
 * text free of NUL (which the wire format cannot carry); text is always written in the escape-string form
 * (E'…', backslashes and quotes doubled), which reads the same whatever `standard_conforming_strings` says.
 */

/** A text literal (E'…'). */
export function textLiteral(s: string): string {
  if (s.includes('\0')) throw new Error('a NUL character cannot be sent in a statement');
  return `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** An integer literal (a safe integer). */
export function intText(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not a safe integer: ${n}`);
  return String(n);
}

function floatText(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return String(n);
}

function array(items: readonly string[], type: string): string {
  return items.length === 0 ? `'{}'::${type}[]` : `ARRAY[${items.join(',')}]::${type}[]`;
}

/** An array of integers, as `type` (bigint, int). */
export function intArray(values: ReadonlyArray<number | null>, type = 'bigint'): string {
  return array(
    values.map((v) => (v === null ? 'NULL' : intText(v))),
    type,
  );
}

export function floatArray(values: readonly number[]): string {
  return array(values.map(floatText), 'float8');
}

/** An array of text literals cast to `type` (text, uuid, jsonb); null for NULL. */
export function textArray(values: ReadonlyArray<string | null>, type = 'text'): string {
  return array(
    values.map((v) => (v === null ? 'NULL' : textLiteral(v))),
    type,
  );
}

export function byteaArray(values: readonly Buffer[]): string {
  return array(
    values.map((b) => `E'\\\\x${b.toString('hex')}'`),
    'bytea',
  );
}
