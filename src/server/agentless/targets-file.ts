/**
 * `--agentless-targets-file`: agentless targets declared in a file of their own — TOML (`[[target]]`
 * tables) or, for a name ending in `.json`, JSON (`{ "target": [ … ] }`) — for operators who keep their
 * configuration in files rather than calling the API. Read at start and on SIGHUP.
 *
 * Guarantees:
 * - the file holds passwords, so one that its group or others may read is refused (as ssh and libpq's
 *   .pgpass refuse theirs), and no error message repeats a URL;
 * - the whole file is checked before anything is stored: an invalid file changes nothing and is named with
 *   the target and the field at fault;
 * - a target of the file is created when no target has its name and changed (URL sealed again, CA bundle,
 *   interval) when one has; a target dropped from the file is left as it is, with its history (removing
 *   it is `DELETE /api/v1/agentless-targets/:id`), and the log says so.
 */
import { readFileSync, statSync } from 'node:fs';
import type pg from 'pg';
import { parse, TomlError } from 'smol-toml';
import { PgvigilError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SecretBox } from '../../secrets.js';
import { listAgentlessTargets } from '../../storage/queries/agentless.sql.js';
import { checkCaBundle, parseTargetUrl } from './connection.js';
import {
  type AgentlessTargetInput,
  changeAgentlessTarget,
  createAgentlessTarget,
  defaultAgentlessIntervalSeconds,
} from './targets.js';

/** A targets file larger than this is not one a person wrote. */
export const maxTargetsFileBytes = 1024 * 1024;
/** Targets one file may declare (the poller's list is read in one query). */
export const maxTargetsInFile = 1000;
/** The same rule as the API's (src/server/routes/agentless.ts): the target's server name too. */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const maxUrlLength = 2048;
const maxCaBytes = 262_144;
const keys = new Set(['name', 'url', 'ca_file', 'interval_seconds']);

function bad(path: string, message: string): never {
  throw new PgvigilError('BAD_ARGUMENT', `--agentless-targets-file ${path}: ${message}`);
}

/** A declared target: the API's input, with the CA bundle still a path. */
export interface DeclaredTarget {
  name: string;
  url: string;
  caFile?: string;
  intervalSeconds?: number;
}

/** The targets in a file's text (pure): `json` for JSON, else TOML. */
export function parseTargetsText(text: string, format: 'toml' | 'json', path: string): DeclaredTarget[] {
  let doc: unknown;
  try {
    doc = format === 'json' ? JSON.parse(text) : parse(text);
  } catch (err) {
    const where = err instanceof TomlError ? ` at line ${err.line}` : '';
    // The parser's message may quote the line, which may hold a password: only its first words are kept.
    bad(path, `not valid ${format.toUpperCase()}${where}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    bad(path, 'expected a table of [[target]]');
  const unknown = Object.keys(doc).filter((k) => k !== 'target');
  if (unknown.length > 0)
    bad(path, `unknown top-level key "${unknown[0]!.slice(0, 40)}": targets go in [[target]] tables`);
  const list = Object.hasOwn(doc, 'target') ? (doc as { target: unknown }).target : [];
  if (!Array.isArray(list)) bad(path, '"target" must be a list of tables ([[target]])');
  if (list.length > maxTargetsInFile) bad(path, `${list.length} targets; at most ${maxTargetsInFile}`);
  const seen = new Set<string>();
  return list.map((t: unknown, i: number) => {
    const at = `target ${i + 1}`;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) bad(path, `${at}: expected a table`);
    const extra = Object.keys(t).find((k) => !keys.has(k));
    if (extra !== undefined)
      bad(path, `${at}: unknown key "${extra.slice(0, 40)}" (name, url, ca_file, interval_seconds)`);
    const field = (k: string): unknown =>
      Object.hasOwn(t, k) ? (t as Record<string, unknown>)[k] : undefined;
    const name = field('name');
    if (typeof name !== 'string' || !namePattern.test(name))
      bad(path, `${at}: name must be 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    const named = `target ${name}`;
    if (seen.has(name)) bad(path, `${named} is declared twice`);
    seen.add(name);
    const url = field('url');
    if (typeof url !== 'string' || url.length === 0 || url.length > maxUrlLength)
      bad(path, `${named}: url must be a postgres:// URL of at most ${maxUrlLength} characters`);
    const caFile = field('ca_file');
    if (caFile !== undefined && (typeof caFile !== 'string' || caFile.length === 0 || caFile.length > 4096))
      bad(path, `${named}: ca_file must be a path`);
    const interval = field('interval_seconds');
    if (interval !== undefined && (typeof interval !== 'number' || !(interval >= 1 && interval <= 60)))
      bad(path, `${named}: interval_seconds must be a number from 1 to 60`);
    return {
      name,
      url,
      ...(caFile !== undefined ? { caFile: caFile as string } : {}),
      ...(interval !== undefined ? { intervalSeconds: interval as number } : {}),
    };
  });
}

/** Reads and checks the file (and the CA bundles it names); throws BAD_ARGUMENT naming what is wrong. */
export function readTargetsFile(path: string): AgentlessTargetInput[] {
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0)
      bad(path, `holds passwords, so it must be readable by its owner only (chmod 600 ${path})`);
    if (st.size > maxTargetsFileBytes) bad(path, `larger than ${maxTargetsFileBytes} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof PgvigilError) throw err;
    bad(path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const declared = parseTargetsText(text, path.toLowerCase().endsWith('.json') ? 'json' : 'toml', path);
  return declared.map((d) => {
    let caPem: string | undefined;
    if (d.caFile !== undefined) {
      try {
        if (statSync(d.caFile).size > maxCaBytes)
          bad(path, `target ${d.name}: ca_file is over ${maxCaBytes} bytes`);
        caPem = readFileSync(d.caFile, 'utf8');
      } catch (err) {
        if (err instanceof PgvigilError) throw err;
        bad(
          path,
          `target ${d.name}: cannot read ca_file ${d.caFile} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        );
      }
    }
    return {
      name: d.name,
      url: d.url,
      ...(caPem !== undefined ? { caPem } : {}),
      ...(d.intervalSeconds !== undefined ? { intervalSeconds: d.intervalSeconds } : {}),
    };
  });
}

export interface AppliedTargets {
  created: string[];
  changed: string[];
  /** Targets in the store that the file does not declare (left as they are). */
  notInFile: string[];
}

/**
 * Creates or changes the file's targets. Every target is checked (URL, sslmode, CA bundle) before the first
 * is stored, so a bad one changes nothing; an error names the target and never the URL.
 */
export async function applyTargetsFile(
  pool: pg.Pool,
  box: SecretBox,
  path: string,
  log: Logger,
): Promise<AppliedTargets> {
  const targets = readTargetsFile(path);
  for (const t of targets) {
    try {
      parseTargetUrl(t.url);
      if (t.caPem !== undefined) checkCaBundle(t.caPem);
    } catch (err) {
      if (err instanceof PgvigilError) bad(path, `target ${t.name}: ${err.message}`);
      throw err;
    }
  }
  const existing = new Map(
    (await listAgentlessTargets(pool, maxTargetsInFile * 10)).map(
      (r) => [r.name, Number(r.target_id)] as const,
    ),
  );
  const out: AppliedTargets = { created: [], changed: [], notInFile: [] };
  for (const t of targets) {
    try {
      const id = existing.get(t.name);
      if (id === undefined) {
        await createAgentlessTarget(pool, box, t);
        out.created.push(t.name);
      } else {
        await changeAgentlessTarget(pool, box, id, {
          url: t.url,
          caPem: t.caPem ?? null,
          intervalSeconds: t.intervalSeconds ?? defaultAgentlessIntervalSeconds,
        });
        out.changed.push(t.name);
      }
    } catch (err) {
      if (err instanceof PgvigilError) bad(path, `target ${t.name}: ${err.message}`);
      throw err;
    }
  }
  const declared = new Set(targets.map((t) => t.name));
  out.notInFile = [...existing.keys()].filter((n) => !declared.has(n));
  log.info(
    { file: path, created: out.created, changed: out.changed, notInFile: out.notInFile },
    out.notInFile.length > 0
      ? 'agentless targets file applied; targets it does not declare stay until deleted through the API'
      : 'agentless targets file applied',
  );
  return out;
}
