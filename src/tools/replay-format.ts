/**
 * The replay file format (docs/replay.md): NDJSON, one batch a line — the ingest wire format
 * (src/protocol/batch.ts) plus `time`, when the batch arrives (ms since the epoch or ISO 8601 with its
 * zone), and optionally `server`, the host it came from (default "replay"). `agentId` and `seq` may be
 * left out: a replay enrols its own agent per server and numbers the batches itself. Lines must come in
 * time order.
 *
 * Parsing is pure and bounded: a line longer than `maxLineBytes`, not JSON, or without a valid time or
 * families object is refused with a message; the batch itself is validated by ingest as it is pushed.
 */

export const replayLimits = {
  /** One line (the ingest route's compressed body limit is 8 MiB; a line is uncompressed JSON). */
  maxLineBytes: 16 * 1024 * 1024,
  /** Lines in one file. */
  maxLines: 2_000_000,
  /** Length of a server name. */
  maxServerName: 253,
};

export interface ReplayLine {
  time: number;
  server: string;
  families: Record<string, unknown>;
  logs?: unknown;
  gaps?: unknown;
  status?: unknown;
}

export type ParsedLine = { ok: true; line: ReplayLine } | { ok: false; message: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** ms since the epoch from a number or an ISO 8601 string that names its zone; undefined otherwise. */
export function timeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : undefined;
  if (typeof v !== 'string' || !/(Z|[+-]\d\d:?\d\d)$/i.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

export function parseReplayLine(text: string): ParsedLine {
  if (Buffer.byteLength(text) > replayLimits.maxLineBytes)
    return { ok: false, message: `longer than ${replayLimits.maxLineBytes} bytes` };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `not JSON: ${(err as Error).message}` };
  }
  if (!isObject(v)) return { ok: false, message: 'not a JSON object' };
  if (v.v !== undefined && v.v !== 1) return { ok: false, message: `v: ${JSON.stringify(v.v)}, expected 1` };
  const time = timeOf(v.time);
  if (time === undefined)
    return { ok: false, message: 'time: expected ms since the epoch or ISO 8601 with a zone (Z or ±hh:mm)' };
  const server = v.server === undefined ? 'replay' : v.server;
  if (typeof server !== 'string' || server === '' || server.length > replayLimits.maxServerName)
    return { ok: false, message: `server: expected a name of 1 to ${replayLimits.maxServerName} characters` };
  if (!isObject(v.families)) return { ok: false, message: 'families: expected an object' };
  const line: ReplayLine = { time, server, families: v.families };
  if (v.logs !== undefined) line.logs = v.logs;
  if (v.gaps !== undefined) line.gaps = v.gaps;
  if (v.status !== undefined) line.status = v.status;
  return { ok: true, line };
}

/**
 * The same tables with every `ts` moved by `shiftMs` (numbers stay numbers, ISO strings become ms). A
 * table that is not of the wire's shape is returned as it is: ingest names what is wrong with it.
 */
export function shiftTables(tables: Record<string, unknown>, shiftMs: number): Record<string, unknown> {
  if (shiftMs === 0) return tables;
  const out: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(tables)) out[name] = shiftTable(t, shiftMs);
  return out;
}

export function shiftTable(t: unknown, shiftMs: number): unknown {
  if (shiftMs === 0 || !isObject(t) || !Array.isArray(t.columns) || !Array.isArray(t.rows)) return t;
  const i = t.columns.indexOf('ts');
  if (i < 0) return t;
  return {
    ...t,
    rows: t.rows.map((r) => {
      if (!Array.isArray(r)) return r;
      const ms = timeOf(r[i]);
      if (ms === undefined) return r;
      const copy = [...r];
      copy[i] = ms + shiftMs;
      return copy;
    }),
  };
}
