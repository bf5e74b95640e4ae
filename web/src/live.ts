/**
 * The live feed (GET /api/v1/live, docs/api.md "Live feed"): one WebSocket for the whole page, opened
 * when the first component subscribes, with the union of everyone's servers; reconnects with backoff.
 * Messages go to every listener; `resync` means some may be lost, so listeners reload through the API.
 */
import { useEffect, useRef } from 'preact/hooks';
import { refreshSession } from './api';

export interface LiveMessage {
  type:
    | 'sample'
    | 'agent_status'
    | 'alert_fired'
    | 'alert_resolved'
    | 'incident_opened'
    | 'incident_resolved'
    | 'subscribed'
    | 'error'
    | 'resync';
  serverId?: number;
  [key: string]: unknown;
}

interface Listener {
  servers: readonly number[];
  fn: (m: LiveMessage) => void;
}

const listeners = new Set<Listener>();
let socket: WebSocket | undefined;
let retryMs = 1000;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

function wanted(): number[] {
  const all = new Set<number>();
  for (const l of listeners) for (const s of l.servers) all.add(s);
  return [...all].slice(0, 256);
}

function subscribe(): void {
  if (socket?.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: 'unsubscribe' }));
  const servers = wanted();
  if (servers.length > 0) socket.send(JSON.stringify({ type: 'subscribe', servers }));
}

function connect(): void {
  if (socket || listeners.size === 0) return;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live`);
  socket = ws;
  ws.onopen = () => {
    retryMs = 1000;
    subscribe();
  };
  ws.onmessage = (e) => {
    let m: LiveMessage;
    try {
      m = JSON.parse(String(e.data)) as LiveMessage;
    } catch {
      return;
    }
    for (const l of listeners) {
      if (m.serverId === undefined || l.servers.length === 0 || l.servers.includes(m.serverId)) l.fn(m);
    }
  };
  ws.onclose = (e) => {
    socket = undefined;
    if (listeners.size === 0) return;
    // 4401: the access token expired while connected; refresh it, then reconnect.
    const again = () => {
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(30_000, retryMs * 2);
    };
    if (e.code === 4401) void refreshSession().then(again);
    else again();
  };
}

/**
 * Calls `fn` for feed messages about `servers` (all messages when empty: alerts and agent status of the
 * whole fleet are sent to every subscriber of a server, so an empty list only hears fleet-wide ones).
 */
export function useLive(servers: readonly number[], fn: (m: LiveMessage) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  const key = servers.join(',');
  useEffect(() => {
    const l: Listener = { servers, fn: (m) => ref.current(m) };
    listeners.add(l);
    if (socket) subscribe();
    else connect();
    return () => {
      listeners.delete(l);
      if (listeners.size === 0) {
        clearTimeout(retryTimer);
        socket?.close(1000);
        socket = undefined;
      } else subscribe();
    };
  }, [key]);
}

/** What most pages reload on: a new batch of the server is stored. */
export const samples: readonly LiveMessage['type'][] = ['sample'];

/**
 * Reloads (through `reload`) when a feed message about `servers` that `wants` (its types, or a test)
 * arrives, at most once per `everyMs`: a burst of alerts makes one reload at once and one at the end of
 * the window, not fifty. `resync` always counts, as messages may have been lost.
 */
export function useLiveReload(
  servers: readonly number[],
  wants: readonly LiveMessage['type'][] | ((m: LiveMessage) => boolean),
  reload: () => void,
  everyMs = 10_000,
): void {
  const last = useRef(0);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  useEffect(() => () => clearTimeout(pending.current), []);
  useLive(servers, (m) => {
    const wanted = typeof wants === 'function' ? wants(m) : wants.includes(m.type);
    if (m.type !== 'resync' && !wanted) return;
    if (pending.current !== undefined) return;
    const wait = last.current + everyMs - Date.now();
    pending.current = setTimeout(
      () => {
        pending.current = undefined;
        last.current = Date.now();
        reloadRef.current();
      },
      Math.max(0, wait),
    );
  });
}
