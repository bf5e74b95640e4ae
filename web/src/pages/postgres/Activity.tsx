/**
 * What the instance is doing: sessions by state and by wait event (now, and over the range), and the
 * blocking tree — each blocked session under the session it waits for. Reloads on live samples of the
 * server (at most once per 5 s).
 */

import type { PgActivity, PgBlocker, PgLockWait, SeriesResponse } from '../../api';
import { fetchPgActivity } from '../../api';
import { Chart } from '../../components/Chart';
import { Badge, Empty, ErrorBox, Loading, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge, formatCount, formatValue } from '../../format';
import { samples, useLiveReload } from '../../live';
import { useMe } from '../../session';
import { useTimeRange } from '../../time';
import type { TargetParams } from '../Postgres';
import { pointsOf, useFamily } from './series';

export function ActivitySection({ server, target }: TargetParams) {
  const range = useTimeRange();
  const now = useData((signal) => fetchPgActivity(server, target, signal), [server, target]);
  useLiveReload([server], samples, now.reload, 5000);
  const states = useFamily('pg_activity', server, target, ['count'], range);
  const waits = useFamily('pg_wait_events', server, target, ['count'], range);
  const a = now.data;
  return (
    <>
      <ErrorBox error={now.error ?? states.error ?? waits.error} />
      {now.loading && !a ? <Loading what="activity" /> : null}
      {a ? <InstanceLine a={a} /> : null}
      {a ? <Summary a={a} /> : null}
      <Panel title="Blocking" id="pg-blocking">
        {a ? <BlockingTree a={a} /> : null}
      </Panel>
      <div class="grid">
        <Panel title="Sessions by state" id="pg-states">
          <Chart
            title="Server processes by state"
            unit="count"
            from={range.from}
            to={range.to}
            stepSeconds={states.data?.stepSeconds ?? 60}
            series={grouped(states.data, (l) => stateName(seriesState(l)))}
          />
          {a?.summary ? <StatesTable byState={a.summary.byState} /> : null}
        </Panel>
        <Panel title="Wait events" id="pg-waits">
          <WaitEventsChart
            res={waits.data}
            failed={waits.error !== undefined}
            from={range.from}
            to={range.to}
          />
          {a ? <WaitEventsTable a={a} /> : null}
        </Panel>
      </div>
    </>
  );
}

type SeriesRes = SeriesResponse | undefined;

/**
 * The page's words for the activity summary's state keys: '(none)' is a background process (no state),
 * '(hidden)' one the agent's role may not see.
 */
function stateName(state: string): string {
  if (state === '(hidden)') return '(not visible to the agent)';
  return state === '(none)' ? '(background)' : state;
}

/**
 * A chart series' state as the summary's key: without a state, a process is a background one when it has a
 * backend type, and one the agent's role may not see when it has none (every visible process has one; the
 * summary tells them by their unknown waits, which the collector reports for exactly those groups).
 */
function seriesState(l: Record<string, string>): string {
  return l.state || (l.backend_type ? '(none)' : '(hidden)');
}

/** Sums the series by the key `keyOf` gives their labels: one chart line per key, the largest first. */
function grouped(res: SeriesRes, keyOf: (labels: Record<string, string>) => string, top = 8) {
  const by = new Map<string, Map<number, number>>();
  for (const s of res?.series ?? []) {
    const key = keyOf(s.labels);
    const m = by.get(key) ?? new Map<number, number>();
    for (const [t, v] of s.points) m.set(t, (m.get(t) ?? 0) + v);
    by.set(key, m);
  }
  const total = (m: Map<number, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  return [...by]
    .sort((x, y) => total(y[1]) - total(x[1]))
    .slice(0, top)
    .map(([label, m]) => ({ label, points: pointsOf(m) }));
}

function WaitEventsChart(p: { res: SeriesRes; failed: boolean; from: number; to: number }) {
  const series = grouped(p.res, (l) => `${l.wait_event_type}: ${l.wait_event}`);
  if (!p.res) return p.failed ? null : <Loading what="wait events" />;
  // Nobody waited at all in the range: say so rather than drawing an empty frame.
  if (series.length === 0) return <Empty>No process waited on anything in this range.</Empty>;
  return (
    <Chart
      title="Processes waiting, by wait event"
      unit="count"
      from={p.from}
      to={p.to}
      stepSeconds={p.res?.stepSeconds ?? 60}
      series={series}
    />
  );
}

function InstanceLine({ a }: { a: PgActivity }) {
  const i = a.instance;
  if (!i) return <p class="muted">No collection of this instance in the last 10 minutes.</p>;
  return (
    <p class="muted pg-now">
      Now: collected {formatAge(i.ts)}
      {i.serverVersion ? `, PostgreSQL ${i.serverVersion}` : ''}
      {i.inRecovery ? ', standby' : ''}
      {i.up === false ? (
        <>
          {' '}
          <Badge value="down" /> {i.error}
        </>
      ) : null}
    </p>
  );
}

function Summary({ a }: { a: PgActivity }) {
  const s = a.summary;
  if (!s) return null;
  const items: [string, string][] = [
    ['processes', formatCount(s.processes)],
    ['active', formatCount(s.byState.active ?? 0)],
    ['idle in transaction', formatCount(s.idleInTransaction)],
    ['waiting for a lock', formatCount(s.waiting)],
    ['blocked', formatCount(s.blocked)],
    ['longest transaction', formatValue('seconds', s.longestTransactionS)],
    ['longest statement', formatValue('seconds', s.longestQueryS)],
  ];
  return (
    <>
      <div class="stats pg-stats">
        {items.map(([k, v]) => (
          <div class="stat" key={k}>
            <div class="v">{v}</div>
            <div class="k">{k}</div>
          </div>
        ))}
      </div>
      {s.hidden > 0 ? (
        <p class="muted">
          {formatCount(s.hidden)} of the {formatCount(s.processes)} processes belong to roles the agent's role
          may not see: whether they wait, are blocked or how old their transactions are is unknown, and the
          waits, blocks and ages above leave them out. Grant it pg_monitor to see them (as a superuser:{' '}
          <code>GRANT pg_monitor TO &lt;the agent's role&gt;;</code>).
        </p>
      ) : null}
    </>
  );
}

function StatesTable({ byState }: { byState: Record<string, number> }) {
  const rows = Object.entries(byState).sort((x, y) => y[1] - x[1]);
  return (
    <table>
      <caption class="sr-only">Server processes by state now</caption>
      <thead>
        <tr>
          <th scope="col">State now</th>
          <th scope="col" class="num">
            Processes
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([state, n]) => (
          <tr key={state}>
            <td>{stateName(state)}</td>
            <td class="num">{formatCount(n)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function WaitEventsTable({ a }: { a: PgActivity }) {
  if (a.waitEvents === null)
    return (
      <Empty>Wait events were not collected: {a.notCollected.pg_wait_events ?? 'unknown reason'}.</Empty>
    );
  if (a.waitEvents.length === 0) return <Empty>Nobody waits on anything now.</Empty>;
  return (
    <table>
      <caption class="sr-only">Processes waiting now, by wait event</caption>
      <thead>
        <tr>
          <th scope="col">Wait event type</th>
          <th scope="col">Wait event</th>
          <th scope="col" class="num">
            Processes now
          </th>
        </tr>
      </thead>
      <tbody>
        {a.waitEvents.map((w) => (
          <tr key={`${w.wait_event_type}/${w.wait_event}`}>
            <td>{w.wait_event_type}</td>
            <td>{w.wait_event}</td>
            <td class="num">{formatCount(w.count)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// Blocking tree -----------------------------------------------------------------------------------------

interface TreeNode {
  pid: number;
  wait?: PgLockWait;
  blocker?: PgBlocker;
  children: TreeNode[];
}

/**
 * Roots are the blockers that wait for nobody (the heads of the chains); under every process, those
 * waiting for it directly. A cycle (a deadlock not yet detected) has no head: its lowest pid stands in.
 */
export function blockingTree(waits: readonly PgLockWait[], blockers: readonly PgBlocker[]): TreeNode[] {
  const waitOf = new Map(waits.map((w) => [w.pid, w]));
  const blockerOf = new Map(blockers.map((b) => [b.pid, b]));
  const waitersOf = new Map<number, PgLockWait[]>();
  for (const w of waits) for (const p of w.blocking_pids) waitersOf.set(p, [...(waitersOf.get(p) ?? []), w]);
  const build = (pid: number, path: Set<number>): TreeNode => {
    const next = new Set(path).add(pid);
    const children =
      path.size >= 8
        ? []
        : (waitersOf.get(pid) ?? []).filter((w) => !next.has(w.pid)).map((w) => build(w.pid, next));
    return { pid, wait: waitOf.get(pid), blocker: blockerOf.get(pid), children };
  };
  let heads = blockers.filter((b) => !b.waiting).map((b) => b.pid);
  if (heads.length === 0 && blockers.length > 0) heads = [Math.min(...blockers.map((b) => b.pid))];
  return heads.map((pid) => build(pid, new Set()));
}

function BlockingTree({ a }: { a: PgActivity }) {
  if (a.lockWaits === null || a.blockers === null)
    return <Empty>Lock waits were not collected: {a.notCollected.pg_lock_waits ?? 'unknown reason'}.</Empty>;
  if (a.lockWaits.length === 0) return <Empty>No session is blocked by another now.</Empty>;
  const roots = blockingTree(a.lockWaits, a.blockers);
  return (
    <ul class="pg-blocktree" aria-label="Blocking sessions and the sessions they block">
      {roots.map((n) => (
        <TreeItem key={n.pid} node={n} />
      ))}
    </ul>
  );
}

function TreeItem({ node }: { node: TreeNode }) {
  const w = node.wait;
  const s = node.blocker?.session;
  const who = w
    ? { user: w.usename, db: w.datname, app: w.application_name }
    : { user: s?.usename, db: s?.datname, app: s?.application_name };
  return (
    <li>
      <div class={`pg-session ${w ? 'blocked' : 'blocking'}`}>
        <div class="pg-session-head">
          <strong>pid {node.pid}</strong>{' '}
          {w ? <span class="badge warn">blocked</span> : <span class="badge bad">blocking</span>}
          {node.children.length > 0 && w ? <span class="badge bad">blocking</span> : null}
          <span class="pg-who">
            {who.user || '—'} @ {who.db || '—'}
            {who.app ? ` · ${who.app}` : ''}
          </span>
        </div>
        <dl class="pg-facts">
          {w ? (
            <>
              <dt>waiting</dt>
              <dd>{formatValue('seconds', w.wait_s)}</dd>
              <dt>wait event</dt>
              <dd>Lock</dd>
              <dt>waits for</dt>
              <dd>{w.blocking_pids.map((p) => `pid ${p}`).join(', ')}</dd>
            </>
          ) : s ? (
            <>
              <dt>state</dt>
              <dd>{s.state || '—'}</dd>
              <dt>transaction open</dt>
              <dd>{formatValue('seconds', s.xact_age_s)}</dd>
            </>
          ) : (
            <>
              <dt>details</dt>
              <dd>not collected (not among the oldest open transactions)</dd>
            </>
          )}
          {node.children.length > 0 ? (
            <>
              <dt>blocks</dt>
              <dd>{node.children.length}</dd>
            </>
          ) : null}
        </dl>
        <QueryText text={w ?? s ?? null} />
      </div>
      {node.children.length > 0 ? (
        <ul>
          {node.children.map((c) => (
            <TreeItem key={c.pid} node={c} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function QueryText({ text }: { text: { query: string | null; queryRedacted: boolean } | null }) {
  const me = useMe();
  if (me.role === 'viewer' || text?.queryRedacted)
    return <p class="muted pg-query-hidden">Statement hidden for your role.</p>;
  if (!text?.query) return <p class="muted">No statement text.</p>;
  return (
    <pre class="pg-query">
      <code>{text.query}</code>
    </pre>
  );
}
