/** Reloading a PostgreSQL section when the live feed says a new sample of its server is in. */
import { useRef } from 'preact/hooks';
import { useLive } from '../../live';

/** Calls `reload` on a sample (or a resync) for `server`, at most once per `minMs` (default 10 s). */
export function useLiveReload(server: number, reload: () => void, minMs = 10_000): void {
  const last = useRef(Date.now());
  useLive([server], (m) => {
    if (m.type !== 'sample' && m.type !== 'resync') return;
    const now = Date.now();
    if (now - last.current < minMs) return;
    last.current = now;
    reload();
  });
}

/** The current page's URL with some query parameters changed (undefined removes one). */
export function hrefWith(changes: Record<string, string | undefined>): string {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return `${window.location.pathname}${s ? `?${s}` : ''}`;
}
