import { readFileSync } from 'node:fs';

/** The package root: two levels above this file, both in `src/` (tsx) and in `dist/src/` (compiled) layouts. */
export const packageRoot: string = findPackageRoot();

function findPackageRoot(): string {
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string };
      if (pkg.name === 'pgvigil') return decodeURIComponent(dir.pathname).replace(/\/$/, '');
    } catch {
      // not here; look one level up
    }
    dir = new URL('..', dir);
  }
  throw new Error('pgvigil: cannot find its own package.json');
}

export const version: string = (
  JSON.parse(readFileSync(`${packageRoot}/package.json`, 'utf8')) as { version: string }
).version;
