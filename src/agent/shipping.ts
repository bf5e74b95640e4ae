/**
 * The agent's path to a server: collectors and log sources → batcher → spool (disk) → shipper → server.
 * Also enrollment (or the identity `pgvigil up` hands its built-in agent) and config pull.
 *
 * Every push interval the pending rows are sealed into one batch and appended to the spool; the shipper
 * sends spooled batches oldest first and acknowledges them only after the server committed them. Stopping
 * seals what is pending, so a clean stop loses nothing; a crash loses at most the rows of the interval
 * in progress (they were never sealed) — never a sealed batch.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { componentLogger, type Logger } from '../log.js';
import type { RemoteConfig } from '../protocol/agent-config.js';
import type { LogEntry } from '../protocol/logs.js';
import { Batcher } from './batcher.js';
import { CertificateKeeper } from './certificate.js';
import type { FamilyRows } from './collectors/types.js';
import { type AgentHealth, buildAgentHealth, DroppedContents } from './health.js';
import { AgentHttp, type TlsFiles } from './http.js';
import { type AgentIdentity, loadOrEnroll } from './identity.js';
import type { SourceCheckpoint } from './logs/positions.js';
import { volumeDropTotals } from './logs/volume.js';
import { RemoteConfigClient } from './remote-config.js';
import { Shipper } from './shipper.js';
import { type FsyncPolicy, Spool, type SpoolStats } from './spool/spool.js';

/**
 * When this agent process started (ms), in every batch's status: the server records each start so SLOs can
 * leave out the minutes after a restart (counters need two samples, statement deltas a baseline).
 */
const processStartedAtMs = Math.round(Date.now() - process.uptime() * 1000);

export interface ShippingOptions {
  serverUrl: string;
  /** Holds credential.json and spool/. */
  stateDir: string;
  enrollToken?: string;
  /** Given by `pgvigil up` for its built-in agent (no enrollment). */
  identity?: AgentIdentity;
  tls?: TlsFiles;
  pushIntervalMs: number;
  configPollMs?: number;
  fsync?: FsyncPolicy;
  spoolMaxBytes?: number;
  /** Push retry back-off: full jitter from `baseMs` doubling up to `capMs` (default 500 ms, 60 s). */
  retry?: { baseMs?: number; capMs?: number };
  targets?: string[];
  log: Logger;
  /** Applies a server-pushed config; throw to refuse it (the reason is reported to the server). */
  onConfig?: (config: RemoteConfig) => Promise<void> | void;
  /** The agent's self-report sent with each batch (collector health); `health` is added to it. */
  status?: () => Record<string, unknown>;
  /** How often the client certificate is checked for renewal (default hourly). */
  certificateCheckMs?: number;
}

export interface Shipping {
  identity: AgentIdentity;
  /** Rows of one collector run; `target` names the PostgreSQL target for target families. */
  addRows(rows: FamilyRows[], target?: string): void;
  setPushInterval(ms: number): void;
  /** Log entries of `source` and its checkpoint after them: both go into one spool record. */
  addLogs(entries: LogEntry[], source: string, checkpoint: SourceCheckpoint): void;
  /** Per log source, the newest checkpoint on disk in the spool: where reading resumes. */
  logCheckpoints(): Record<string, SourceCheckpoint>;
  /**
   * False while the spool cannot write to disk, or the batch being filled is full: log sources must
   * not be read (backpressure).
   */
  acceptsLogs(): boolean;
  /** While log reading is paused: try the disk again; true when reading may resume. */
  retryDisk(): Promise<boolean>;
  /** Seal now (tests, shutdown); resolves once the batch is in the spool. */
  flush(): Promise<void>;
  /** Pull the config now (SIGHUP). */
  reloadConfig(): Promise<void>;
  stats(): { spool: SpoolStats; shipper: Shipper['stats']; pendingRows: number };
  /** The agent's report on itself: spool, losses, retries, config reloads (also in every batch). */
  health(): AgentHealth;
  /** The client certificate in use (agent port), if any. */
  certificate(): { certificate: string; receivedAt: string } | undefined;
  stop(): Promise<void>;
}

export async function startShipping(opts: ShippingOptions): Promise<Shipping> {
  const { log } = opts;
  const http = new AgentHttp(opts.serverUrl, opts.tls);
  const identity =
    opts.identity ??
    (await loadOrEnroll({
      stateDir: opts.stateDir,
      serverUrl: opts.serverUrl,
      enrollToken: opts.enrollToken,
      http,
      targets: opts.targets,
      log,
    }));
  const spool = await Spool.open({
    dir: join(opts.stateDir, 'spool'),
    log,
    fsync: opts.fsync,
    maxBytes: opts.spoolMaxBytes,
  });
  const credential = () => identity.credential;
  // Before the first push: on the agent port the client certificate is the agent's credential (the bearer
  // goes along and must name the same agent); elsewhere the server answers that it issues none.
  const certificates = new CertificateKeeper({
    stateDir: opts.stateDir,
    http,
    agentId: identity.agentId,
    credential,
    log: componentLogger(log, 'certificate'),
    checkMs: opts.certificateCheckMs,
  });
  await certificates.start();
  const batcher = new Batcher(() => identity.agentId, spool, log, 50_000, hostname());
  const shipper = new Shipper({
    http,
    spool,
    credential,
    log: componentLogger(log, 'shipper'),
    backoffBaseMs: opts.retry?.baseMs,
    backoffCapMs: opts.retry?.capMs,
  });
  const config = new RemoteConfigClient(http, identity.agentId, credential, componentLogger(log, 'config'));

  const dropped = new DroppedContents();
  const health = (): AgentHealth => {
    const spoolStats = spool.stats();
    // Gaps not yet sent are still listed here: each seal reads this before the batcher claims them.
    dropped.settle(spool.pendingGaps(), spoolStats.ackedSeq);
    return buildAgentHealth({
      spool: spoolStats,
      shipper: shipper.stats,
      dropped,
      volume: volumeDropTotals(),
      configReloads: config.reloads,
    });
  };

  // Seals are serialized: each takes the seq the spool hands out next.
  let sealing: Promise<void> = Promise.resolve();
  const seal = (): Promise<void> => {
    sealing = sealing
      .then(async () => {
        const sealed = await batcher.seal({
          ...opts.status?.(),
          pushIntervalMs,
          startedAt: processStartedAtMs,
          health: health(),
        });
        if (sealed) {
          dropped.sealed(sealed.seq, sealed.rows, sealed.logs);
          shipper.wake();
        }
      })
      .catch((err: unknown) => log.error({ err }, 'could not seal a batch'));
    return sealing;
  };

  shipper.start();
  // Reported in every batch's status: the server's watchdog counts silence in push intervals.
  let pushIntervalMs = opts.pushIntervalMs;
  let pushTimer = setInterval(() => void seal(), opts.pushIntervalMs);
  const pollConfig = async () => {
    if (opts.onConfig) await config.poll(opts.onConfig);
  };
  void pollConfig();
  const configTimer = setInterval(() => void pollConfig(), opts.configPollMs ?? 300_000);
  log.info(
    { server: opts.serverUrl, agentId: identity.agentId, pushIntervalMs: opts.pushIntervalMs },
    'shipping to the server',
  );

  return {
    identity,
    addRows: (rows, target) => {
      batcher.addRows(rows, target);
      if (batcher.full()) void seal();
    },
    addLogs: (entries, source, checkpoint) => {
      batcher.addLogs(entries, source, checkpoint);
      if (batcher.full()) void seal();
    },
    logCheckpoints: () => spool.checkpoints(),
    // A full batcher is sealing already: reading more now would only grow the batch past the server's limit.
    acceptsLogs: () => spool.acceptsLogs() && !batcher.full(),
    retryDisk: () => spool.retryDisk(),
    flush: seal,
    setPushInterval: (ms) => {
      pushIntervalMs = ms;
      clearInterval(pushTimer);
      pushTimer = setInterval(() => void seal(), ms);
    },
    reloadConfig: pollConfig,
    stats: () => ({ spool: spool.stats(), shipper: shipper.stats, pendingRows: batcher.pendingRows }),
    health,
    certificate: () => certificates.certificate,
    stop: async () => {
      certificates.stop();
      clearInterval(pushTimer);
      clearInterval(configTimer);
      await seal();
      await shipper.stop();
      await spool.close();
      http.close();
    },
  };
}
