/**
 * Configuration the server pushes to an agent: pulled with ETag (default every 5 minutes and on SIGHUP),
 * validated before anything changes, applied without a restart, and the outcome reported back. A config
 * that fails validation is refused with the reason; the running one stays.
 */
import type { Logger } from '../log.js';
import { parseRemoteConfig, type RemoteConfig } from '../protocol/agent-config.js';
import { type AgentHttp, errorMessage } from './http.js';

export class RemoteConfigClient {
  private etag: string | undefined;
  /** Outcomes of pulls that were not "unchanged", for the agent's health report. */
  readonly reloads = { applied: 0, rejected: 0, failed: 0 };

  constructor(
    private readonly http: AgentHttp,
    private readonly agentId: string,
    private readonly credential: () => string,
    private readonly log: Logger,
  ) {}

  /**
   * Fetches the config; calls `apply` only when it changed and is valid, then reports the outcome.
   * Network or server trouble is logged and leaves everything as it is.
   */
  async poll(
    apply: (config: RemoteConfig) => Promise<void> | void,
  ): Promise<'unchanged' | 'applied' | 'rejected' | 'failed'> {
    const outcome = await this.pull(apply);
    if (outcome !== 'unchanged') this.reloads[outcome]++;
    return outcome;
  }

  private async pull(
    apply: (config: RemoteConfig) => Promise<void> | void,
  ): Promise<'unchanged' | 'applied' | 'rejected' | 'failed'> {
    let res: Awaited<ReturnType<AgentHttp['request']>>;
    try {
      res = await this.http.request('GET', `/api/v1/agents/${this.agentId}/config`, {
        authorization: `Bearer ${this.credential()}`,
        ...(this.etag ? { 'if-none-match': this.etag } : {}),
      });
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'could not fetch the agent config');
      return 'failed';
    }
    if (res.status === 304) return 'unchanged';
    if (res.status !== 200) {
      this.log.warn({ status: res.status, reason: errorMessage(res) }, 'could not fetch the agent config');
      return 'failed';
    }
    const etag = String(res.headers.etag ?? '');
    const body = JSON.parse(res.body.toString('utf8')) as { config?: unknown };
    const parsed = parseRemoteConfig(body.config);
    let outcome: 'applied' | 'rejected';
    let error: string | undefined;
    if (!parsed.ok) {
      outcome = 'rejected';
      error = parsed.error;
    } else {
      try {
        await apply(parsed.config);
        outcome = 'applied';
      } catch (err) {
        outcome = 'rejected';
        error = (err as Error).message;
      }
    }
    this.etag = etag;
    if (outcome === 'rejected')
      this.log.error({ reason: error }, 'server-pushed config rejected; keeping the current one');
    else this.log.info({ etag }, 'server-pushed config applied');
    await this.http
      .request(
        'POST',
        `/api/v1/agents/${this.agentId}/config-status`,
        { authorization: `Bearer ${this.credential()}`, 'content-type': 'application/json' },
        Buffer.from(
          JSON.stringify({
            etag,
            applied: outcome === 'applied',
            ...(error ? { error: error.slice(0, 4000) } : {}),
          }),
        ),
      )
      .catch(() => {});
    return outcome;
  }
}
