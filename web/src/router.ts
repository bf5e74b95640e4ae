/**
 * Page state lives in the URL (path + query), so a shared link reopens the same view and the back button
 * works. `navigate` pushes a new entry; `setQuery` replaces or pushes query parameters of the current page.
 */
import { useEffect, useState } from 'preact/hooks';

/** The named parts of a page's path pattern (`/servers/:server` → { server }). */
export type Params = Record<string, string>;

export interface Location {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();
function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}
function emit(): void {
  for (const fn of listeners) fn();
}
window.addEventListener('popstate', emit);

export function navigate(to: string, opts: { replace?: boolean; keepScroll?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  if (!opts.keepScroll) window.scrollTo(0, 0);
  emit();
}

/** The current page's URL with some query parameters changed (undefined or '' removes one). */
export function hrefWith(changes: Record<string, string | undefined>): string {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return `${window.location.pathname}${s ? `?${s}` : ''}`;
}

/** Sets (or with undefined removes) query parameters of the current path. */
export function setQuery(
  changes: Record<string, string | undefined>,
  opts: { replace?: boolean } = {},
): void {
  navigate(hrefWith(changes), { ...opts, keepScroll: true });
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const fn = () => setLoc(current());
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
    };
  }, []);
  return loc;
}

/** Matches `/servers/:id/host` against a path; the named parts, decoded, or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return undefined;
  const out: Record<string, string> = Object.create(null);
  for (let i = 0; i < p.length; i++) {
    const part = p[i]!;
    const seg = s[i]!;
    if (part.startsWith(':')) {
      try {
        out[part.slice(1)] = decodeURIComponent(seg);
      } catch {
        return undefined;
      }
    } else if (part !== seg) return undefined;
  }
  return out;
}

/** Query string of the current location to carry over to another page (the time range). */
export function keepQuery(keys: readonly string[] = ['from', 'to']): string {
  const q = new URLSearchParams(window.location.search);
  const out = new URLSearchParams();
  for (const k of keys) {
    const v = q.get(k);
    if (v) out.set(k, v);
  }
  const s = out.toString();
  return s ? `?${s}` : '';
}

const quarterHourMs = 15 * 60_000;

/**
 * The logs page for one server over [from, to] (ms), e.g. from a chart's range or a finding's time, with
 * the logs page's other filters when given.
 */
export function logsHref(
  server: number | undefined,
  from: number,
  to: number,
  filters: { source?: string; level?: string; q?: string } = {},
): string {
  const q = new URLSearchParams();
  if (server !== undefined) q.set('server', String(server));
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  q.set('from', String(Math.round(from)));
  q.set('to', String(Math.round(to)));
  return `/logs?${q}`;
}

/**
 * The metrics around one moment (ms): the host page, or the PostgreSQL page of `target`, from 15 minutes
 * before to 15 minutes after it.
 */
export function metricsHref(server: number, at: number, target?: number | null): string {
  const base = target ? `/servers/${server}/postgres/${target}` : `/servers/${server}`;
  return `${base}?from=${Math.round(at - quarterHourMs)}&to=${Math.round(at + quarterHourMs)}`;
}
