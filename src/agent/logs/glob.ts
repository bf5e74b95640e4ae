/**
 * Minimal path globbing for log sources (`/var/log/postgresql/*.log`, `/var/log/nginx/*error.log*`):
 * `*`, `?` and `[…]` within path components, no `**`. Node 20 has no fs.glob; this is all sources need.
 * Unreadable directories yield nothing (a missing default source is skipped quietly).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export function hasGlobChars(path: string): boolean {
  return /[*?[]/.test(path);
}

function componentRegex(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        let set = pattern.slice(i + 1, close);
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        re += `[${set.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

/** Paths matching an absolute pattern, sorted. A pattern without glob characters is returned as is. */
export async function expandGlob(pattern: string): Promise<string[]> {
  if (!hasGlobChars(pattern)) return [pattern];
  const parts = pattern.split('/');
  let bases = [parts[0] === '' ? '/' : '.'];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '') continue;
    const next: string[] = [];
    if (!hasGlobChars(part)) {
      for (const b of bases) next.push(join(b, part));
    } else {
      const re = componentRegex(part);
      for (const b of bases) {
        let names: string[];
        try {
          names = await readdir(b);
        } catch {
          continue;
        }
        for (const n of names)
          if (re.test(n) && !(n.startsWith('.') && !part.startsWith('.'))) next.push(join(b, n));
      }
    }
    bases = next;
  }
  return bases.sort();
}
