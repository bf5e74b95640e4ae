/**
 * The effective configuration as TOML a person can read and reuse: every key with its value and, in a
 * comment, where the value came from. Secrets are masked: keys that hold a password, token or secret (not
 * the `*_file` keys, which hold paths), and the password inside any URL.
 */
import { stringify } from 'smol-toml';
import type { ResolvedValue } from './apply.js';

export const mask = '********';

/** A key whose value is itself a secret (a path to one, `*_file`, is not). */
export function isSecretKey(key: string): boolean {
  return /(^|_)(password|token|secret|credential)(_|$)/.test(key) && !key.endsWith('_file');
}

/** The string with the password of a URL in it masked (`postgres://u:********@h/db`, `?password=…`). */
export function maskUrlPassword(value: string): string {
  const prefix = /^([A-Za-z0-9_.:-]{1,100}=)(?=[a-z][a-z0-9+.-]*:\/\/)/i.exec(value)?.[1] ?? '';
  const rest = value.slice(prefix.length);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) return value;
  let u: URL;
  try {
    u = new URL(rest);
  } catch {
    return value;
  }
  let out = rest;
  if (u.password !== '') out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, `$1${mask}@`);
  out = out.replace(/([?&]password=)[^&#]*/gi, `$1${mask}`);
  return prefix + out;
}

export function maskValue(key: string, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (isSecretKey(key)) return Array.isArray(value) ? value.map(() => mask) : mask;
  if (typeof value === 'string') return maskUrlPassword(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? maskUrlPassword(v) : v));
  return value;
}

function describeSource(r: ResolvedValue, file: string | undefined): string {
  switch (r.source) {
    case 'cli':
      return `flag ${r.spec.flag}`;
    case 'env':
      return `environment ${r.env ?? r.spec.option.envVar ?? ''}`.trim();
    case 'config':
      return `${file ?? 'config file'}${r.line !== undefined ? `:${r.line}` : ''}`;
    default:
      return 'default';
  }
}

/**
 * The value as it was written where it came from: a file's raw TOML value, a default's description (the
 * up command's 10 s default is held as 10000 ms but written "10s"), else the value the option holds.
 */
function shownValue(r: ResolvedValue, raw: unknown): unknown {
  if (r.source === 'config' && raw !== undefined) return raw;
  if (r.source === 'default' && typeof r.spec.option.defaultValueDescription === 'string')
    return r.spec.option.defaultValueDescription.replace(/^"(.*)"$/, '$1');
  return r.value;
}

/** TOML text of the effective values; `raw` holds the file's values as written, by key. */
export function formatEffectiveConfig(
  title: string,
  values: ResolvedValue[],
  file: string | undefined,
  raw: Map<string, unknown> = new Map(),
): string {
  const rows = values.map((r) => {
    const v = maskValue(r.key, shownValue(r, raw.get(r.key)));
    const text =
      v === undefined || (Array.isArray(v) && v.length === 0 && r.source === undefined)
        ? `# ${r.key} =`
        : stringify({ [r.key]: v }).trim();
    return { text, source: v === undefined ? 'not set' : describeSource(r, file) };
  });
  const width = Math.min(60, Math.max(...rows.map((r) => r.text.length)));
  const lines = rows.map((r) => `${r.text.padEnd(width)}  # ${r.source}`);
  return `# ${title}\n${lines.join('\n')}\n`;
}
