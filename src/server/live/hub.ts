/**
 * The live feed hub of one server instance: its WebSocket clients, what each is subscribed to, and one
 * dedicated PostgreSQL connection that LISTENs on `pgvigil_live`, where every instance publishes
 * (notify.ts). A message reaches the clients of every instance, whichever instance made it.
 *
 * Guarantees:
 * - `subscribed` is sent only once the LISTEN connection is up, so nothing published after it is missed
 *   while the store is reachable.
 * - Losing that connection is never silent: every client gets `resync` {state: "lost"} at once and
 *   `resync` {state: "restored"} when the hub has listened again (reconnecting with backoff); messages in
 *   between may be missing and clients reload through the REST API.
 * - Memory stays bounded: a client whose unsent bytes exceed `maxBufferedBytes` is closed with code 1013
 *   (counted in pgvigil_live_dropped_clients_total); client count, subscriptions per client, inbound frame
 *   size and inbound messages in flight are all capped; a client that stops answering pings is cut off.
 * - The LISTEN connection is opened when the first client connects, not at start: an instance nobody
 *   watches costs the store nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { RawData, WebSocket } from 'ws';
import type { ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import { listenLive, liveChannel, ping } from '../../storage/queries/live.sql.js';
import {
  messageTargets,
  parseClientMessage,
  parseLiveMessage,
  type SampleMessage,
  type ServerMessage,
  type SubscribeRequest,
} from './messages.js';
import type { LiveMetrics } from './metrics.js';
import { serializeLiveMessage } from './notify.js';

export interface LiveLimits {
  /** WebSocket clients on this instance. */
  maxClients: number;
  /** Servers plus targets one client may subscribe to. */
  maxSubscriptions: number;
  /** Unsent bytes beyond which a client is closed as too slow. */
  maxBufferedBytes: number;
  /** Largest inbound frame; a larger one closes the connection with 1009. */
  maxPayloadBytes: number;
}

export const defaultLiveLimits: LiveLimits = {
  maxClients: 1000,
  maxSubscriptions: 256,
  maxBufferedBytes: 1024 * 1024,
  maxPayloadBytes: 16 * 1024,
};

/** Close codes: RFC 6455's "try again later" for slow consumers and a full instance. */
export const closeCodes = {
  slowConsumer: 1013,
  tooManyClients: 1013,
  goingAway: 1001,
  policy: 1008,
  /** The credential the feed was opened with expired or was revoked: refresh it and reconnect. */
  credentialExpired: 4401,
} as const;

export interface HubOptions {
  /** The store's connection URL (for the dedicated LISTEN connection). */
  storeUrl: string;
  log: Logger;
  metrics: LiveMetrics;
  limits?: Partial<LiveLimits>;
  /** Backoff between attempts to listen again after losing the store. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How often clients are pinged (one unanswered ping closes them) and the LISTEN connection checked. */
  pingIntervalMs?: number;
  /** How long `subscribe` waits for the LISTEN connection before answering with `resync` lost. */
  listenWaitMs?: number;
  /** How long a client closed by the server has to read its close frame before its socket is cut. */
  closeGraceMs?: number;
}

/** What the server is started with (AppOptions.live). */
export interface LiveOptions extends Omit<HubOptions, 'storeUrl' | 'log' | 'metrics'> {
  /** Origins (scheme://host[:port]) besides the server's own that may open the feed from a browser. */
  allowedOrigins?: readonly string[];
  /** How often an open feed re-checks its credential (ms, default 60 s). */
  recheckMs?: number;
}

/** PGVIGIL_LIVE_ORIGINS: comma-separated origins allowed besides the server's own. */
export function liveOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): LiveOptions {
  const list = (env.PGVIGIL_LIVE_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  return { allowedOrigins: list };
}

/** Inbound messages one client may have waiting; more is a protocol violation. */
const maxPendingRequests = 16;
/** Targets whose previous transaction count is kept for rates. */
const maxRateEntries = 100_000;
const maxRateGapMs = 10 * 60_000;

function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

class LiveClient {
  readonly servers = new Set<number>();
  readonly targets = new Set<number>();
  /** Told `resync` lost and not yet restored. */
  toldLost = false;
  alive = true;
  closed = false;
  private pending = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly socket: WebSocket,
    private readonly hub: LiveHub,
  ) {
    socket.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => hub.detach(this));
  }

  send(
    message: ServerMessage | string,
    type: string = typeof message === 'string' ? 'raw' : message.type,
  ): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > this.hub.limits.maxBufferedBytes) {
      this.hub.drop(
        this,
        'slow-consumer',
        closeCodes.slowConsumer,
        `client too slow: more than ${this.hub.limits.maxBufferedBytes} bytes unsent`,
      );
      return;
    }
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    this.hub.metrics.messages.inc({ type });
  }

  error(code: ErrorCode, message: string, id?: string | number): void {
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), code, message });
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (isBinary) {
      this.error('LIVE_MESSAGE_INVALID', 'binary frames are not accepted; send JSON text');
      return;
    }
    if (this.pending >= maxPendingRequests) {
      this.hub.drop(this, 'protocol', closeCodes.policy, 'too many messages in flight');
      return;
    }
    this.pending++;
    const text = frameText(data);
    this.chain = this.chain
      .then(() => this.handle(text))
      .catch((err: Error) => this.hub.log.warn({ err }, 'live client message failed'))
      .finally(() => {
        this.pending--;
      });
  }

  private async handle(text: string): Promise<void> {
    const parsed = parseClientMessage(text, this.hub.limits.maxSubscriptions);
    if (!parsed.ok) {
      this.error('LIVE_MESSAGE_INVALID', parsed.message);
      return;
    }
    const req = parsed.request;
    if (req.type === 'subscribe') await this.subscribe(req);
    else this.unsubscribe(req);
  }

  private async subscribe(req: SubscribeRequest): Promise<void> {
    const servers = [...new Set(req.servers)].filter((s) => !this.servers.has(s));
    const targets = [...new Set(req.targets)].filter((t) => !this.targets.has(t));
    const total = this.servers.size + this.targets.size + servers.length + targets.length;
    if (total > this.hub.limits.maxSubscriptions) {
      this.error(
        'LIVE_SUBSCRIPTIONS_LIMIT',
        `at most ${this.hub.limits.maxSubscriptions} servers and targets per connection; unsubscribe some first`,
        req.id,
      );
      return;
    }
    const listening = await this.hub.whenListening();
    if (this.closed) return;
    for (const s of servers) this.hub.index(this, 'server', s, true);
    for (const t of targets) this.hub.index(this, 'target', t, true);
    this.acknowledge(req.id);
    if (!listening && !this.toldLost) this.hub.tellLost(this);
  }

  private unsubscribe(req: SubscribeRequest): void {
    const all = req.servers.length === 0 && req.targets.length === 0;
    for (const s of all ? [...this.servers] : req.servers) this.hub.index(this, 'server', s, false);
    for (const t of all ? [...this.targets] : req.targets) this.hub.index(this, 'target', t, false);
    this.acknowledge(req.id);
  }

  private acknowledge(id: string | number | undefined): void {
    this.send({
      type: 'subscribed',
      ...(id !== undefined ? { id } : {}),
      servers: [...this.servers].sort((a, b) => a - b),
      targets: [...this.targets].sort((a, b) => a - b),
    });
  }
}

type ListenState = 'idle' | 'connecting' | 'listening' | 'lost' | 'closed';

export class LiveHub {
  readonly limits: LiveLimits;
  readonly log: Logger;
  readonly metrics: LiveMetrics;
  private readonly clients = new Set<LiveClient>();
  private readonly byServer = new Map<number, Set<LiveClient>>();
  private readonly byTarget = new Map<number, Set<LiveClient>>();
  private readonly lastTransactions = new Map<number, { ts: number; total: number }>();
  private state: ListenState = 'idle';
  /** When the hub stopped (or had not yet started) listening. */
  private downSince = Date.now();
  private waiters = new Set<() => void>();
  private listenClient: pg.Client | undefined;
  private loop: Promise<void> | undefined;
  private readonly stopped = new AbortController();
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HubOptions) {
    this.limits = { ...defaultLiveLimits, ...opts.limits };
    this.log = opts.log;
    this.metrics = opts.metrics;
    opts.metrics.clients.set(() => this.clients.size);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Whether another client may connect now (checked before the upgrade, and again after it). */
  hasRoom(): boolean {
    return this.state !== 'closed' && this.clients.size < this.limits.maxClients;
  }

  attach(socket: WebSocket): LiveClient | undefined {
    if (!this.hasRoom()) {
      this.metrics.dropped.inc({ reason: 'too-many-clients' });
      socket.close(
        this.state === 'closed' ? closeCodes.goingAway : closeCodes.tooManyClients,
        'too many live clients',
      );
      return undefined;
    }
    const client = new LiveClient(socket, this);
    this.clients.add(client);
    this.start();
    if (this.pingTimer === undefined) {
      this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs ?? 30_000).unref();
    }
    return client;
  }

  detach(c: LiveClient): void {
    c.closed = true;
    if (!this.clients.delete(c)) return;
    for (const s of c.servers) this.index(c, 'server', s, false);
    for (const t of c.targets) this.index(c, 'target', t, false);
  }

  /** Closes a client on the server's initiative, counted by reason. */
  drop(c: LiveClient, reason: string, code: number, text: string): void {
    if (c.closed) return;
    this.metrics.dropped.inc({ reason });
    this.log.info({ reason, buffered: c.socket.bufferedAmount }, 'live client closed by the server');
    this.detach(c);
    this.closeSocket(c.socket, code, text);
  }

  private closeSocket(socket: WebSocket, code: number, text: string): void {
    // The close frame queues behind unsent data: a client that never reads it is cut off after the grace.
    const cut = setTimeout(() => socket.terminate(), this.opts.closeGraceMs ?? 10_000).unref();
    socket.once('close', () => clearTimeout(cut));
    socket.close(code, text);
  }

  index(c: LiveClient, kind: 'server' | 'target', id: number, add: boolean): void {
    const map = kind === 'server' ? this.byServer : this.byTarget;
    const own = kind === 'server' ? c.servers : c.targets;
    if (add) {
      own.add(id);
      let set = map.get(id);
      if (!set) {
        set = new Set();
        map.set(id, set);
      }
      set.add(c);
    } else {
      own.delete(id);
      const set = map.get(id);
      set?.delete(c);
      if (set?.size === 0) map.delete(id);
    }
  }

  tellLost(c: LiveClient): void {
    c.toldLost = true;
    c.send({
      type: 'resync',
      state: 'lost',
      since: this.downSince,
      reason: 'this server is not receiving live messages from the store; messages may be missed',
    });
  }

  /** Resolves true once the LISTEN connection is up, false if it is not within `listenWaitMs`. */
  whenListening(): Promise<boolean> {
    if (this.state === 'listening') return Promise.resolve(true);
    if (this.state === 'closed') return Promise.resolve(false);
    this.start();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.state === 'listening');
      };
      const timer = setTimeout(done, this.opts.listenWaitMs ?? 5000).unref();
      this.waiters.add(done);
    });
  }

  /** Starts listening (once); the loop keeps a LISTEN connection until `close`. */
  private start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.loop = this.listenLoop();
  }

  private async listenLoop(): Promise<void> {
    const min = this.opts.reconnectMinMs ?? 250;
    const max = this.opts.reconnectMaxMs ?? 30_000;
    let delay = min;
    while (!this.stopped.signal.aborted) {
      const client = new pg.Client({
        connectionString: this.opts.storeUrl,
        application_name: 'pgvigil-live',
        keepAlive: true,
        connectionTimeoutMillis: 10_000,
      });
      let signalLost: (why: string) => void = () => {};
      const lost = new Promise<string>((resolve) => {
        signalLost = resolve;
      });
      client.on('error', (err) => signalLost(err.message));
      client.on('end', () => signalLost('connection closed'));
      client.on('notification', (n) => {
        if (n.channel === liveChannel && n.payload !== undefined) this.dispatch(n.payload);
      });
      try {
        await client.connect();
        await listenLive(client);
      } catch (err) {
        client.end().catch(() => {});
        this.log.warn({ err }, 'live feed cannot listen; retrying');
        await sleep(delay * (0.5 + Math.random() / 2), undefined, {
          signal: this.stopped.signal,
          ref: false,
        }).catch(() => {});
        delay = Math.min(max, delay * 2);
        continue;
      }
      if (this.stopped.signal.aborted) {
        await client.end().catch(() => {});
        return;
      }
      delay = min;
      this.listenClient = client;
      this.listening();
      const connection = new AbortController();
      const why = await Promise.race([
        lost,
        this.watch(client, AbortSignal.any([this.stopped.signal, connection.signal])),
      ]);
      connection.abort();
      this.listenClient = undefined;
      client.end().catch(() => {});
      if (this.stopped.signal.aborted) return;
      this.metrics.notifyErrors.inc({ reason: 'listen-lost' });
      this.log.warn({ reason: why }, 'live feed lost its LISTEN connection; reconnecting');
      this.becameLost();
    }
  }

  /** Resolves when the connection stops answering (checked every ping interval) or the hub closes. */
  private async watch(client: pg.Client, signal: AbortSignal): Promise<string> {
    const every = this.opts.pingIntervalMs ?? 30_000;
    while (!signal.aborted) {
      try {
        await sleep(every, undefined, { signal, ref: false });
      } catch {
        return 'closed';
      }
      const answered = await Promise.race([
        ping(client).then(
          () => true,
          () => false,
        ),
        sleep(10_000, false, { ref: false }),
      ]);
      if (!answered) return 'the store did not answer a check within 10 s';
    }
    return 'closed';
  }

  private listening(): void {
    this.state = 'listening';
    for (const w of [...this.waiters]) w();
    const since = this.downSince;
    for (const c of this.clients) {
      if (!c.toldLost) continue;
      c.toldLost = false;
      c.send({
        type: 'resync',
        state: 'restored',
        since,
        reason: 'live messages flow again; reload current state, messages since `since` may be missing',
      });
    }
  }

  private becameLost(): void {
    this.state = 'lost';
    this.downSince = Date.now();
    for (const c of this.clients) if (!c.toldLost) this.tellLost(c);
  }

  private dispatch(payload: string): void {
    if (this.clients.size === 0) return;
    // Most notifications concern hosts nobody here watches: decide from the head without parsing.
    const head = /^\{"type":"[a-z_]+","serverId":(\d+)[,}]/.exec(payload);
    if (head && this.byTarget.size === 0 && !this.byServer.has(Number(head[1]))) return;
    const m = parseLiveMessage(payload);
    if (!m) {
      this.metrics.notifyErrors.inc({ reason: 'bad-payload' });
      return;
    }
    if (m.type === 'sample') this.fillRates(m);
    const whole = new Set(this.byServer.get(m.serverId));
    const partial = new Map<LiveClient, Set<number>>();
    for (const t of messageTargets(m)) {
      for (const c of this.byTarget.get(t) ?? []) {
        if (whole.has(c)) continue;
        if (m.type !== 'sample') whole.add(c);
        else {
          let s = partial.get(c);
          if (!s) {
            s = new Set();
            partial.set(c, s);
          }
          s.add(t);
        }
      }
    }
    if (whole.size > 0) {
      const text = serializeLiveMessage(m);
      for (const c of whole) c.send(text, m.type);
    }
    if (m.type === 'sample') {
      // Subscribed to some of the host's targets only: those targets' summaries.
      for (const [c, ids] of partial) {
        c.send(serializeLiveMessage({ ...m, targets: m.targets.filter((t) => ids.has(t.targetId)) }), m.type);
      }
    }
  }

  /** Transactions per second from the previous sample of the same target, where the batch had no rate. */
  private fillRates(m: SampleMessage): void {
    for (const t of m.targets) {
      const tx = t.transactions;
      if (!tx) continue;
      const prev = this.lastTransactions.get(t.targetId);
      if (
        tx.perSec === null &&
        prev !== undefined &&
        tx.ts > prev.ts &&
        tx.ts - prev.ts <= maxRateGapMs &&
        tx.total >= prev.total
      ) {
        tx.perSec = Math.round(((tx.total - prev.total) / ((tx.ts - prev.ts) / 1000)) * 100) / 100;
      }
      if (prev === undefined || tx.ts > prev.ts) {
        if (this.lastTransactions.size >= maxRateEntries) this.lastTransactions.clear();
        this.lastTransactions.set(t.targetId, { ts: tx.ts, total: tx.total });
      }
    }
  }

  private ping(): void {
    for (const c of [...this.clients]) {
      if (!c.alive) {
        this.metrics.dropped.inc({ reason: 'unresponsive' });
        this.detach(c);
        c.socket.terminate();
        continue;
      }
      c.alive = false;
      c.socket.ping();
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopped.abort();
    clearInterval(this.pingTimer);
    for (const w of [...this.waiters]) w();
    const sockets = [...this.clients].map((c) => c.socket);
    for (const c of [...this.clients]) this.detach(c);
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.readyState === s.CLOSED) return resolve();
            const cut = setTimeout(() => {
              s.terminate();
              resolve();
            }, 1000).unref();
            s.once('close', () => {
              clearTimeout(cut);
              resolve();
            });
            s.close(closeCodes.goingAway, 'server shutting down');
          }),
      ),
    );
    await this.listenClient?.end().catch(() => {});
    await this.loop;
  }
}
