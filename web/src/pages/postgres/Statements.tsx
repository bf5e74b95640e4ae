/**
 * Top statements of the page's time range (as pganalyze's query list): total time, calls, mean, rows and
 * shared blocks, each statement with a sparkline of its time per step — the list and every sparkline in
 * one request. The sort is in the URL (`sort`), and so is the statement whose history is open
 * (`statement=<queryid>`, with `dbid`/`userid`), so back returns to the list.
 *
 * Statement texts are for roles user and admin: for a viewer the page asks the API for none (`text=false`,
 * and never the text endpoint) and says they are hidden.
 */

import {
  fetchStatementHistory,
  fetchStatementText,
  fetchTopStatements,
  type StatementHistory,
  type StatementOrder,
  type StatementStep,
  type TopStatement,
} from '../../api';
import { Chart, type ChartSeries } from '../../components/Chart';
import { SortHeader } from '../../components/SortHeader';
import { Sparkline } from '../../components/Sparkline';
import { CodeBlock, Empty, ErrorBox, Link, Loading, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatValue } from '../../format';
import { samples, useLiveReload } from '../../live';
import { hrefWith, setQuery, useLocation } from '../../router';
import { can, useMe } from '../../session';
import { rangeKey, type TimeRange, useTimeRange } from '../../time';
import type { TargetParams } from '../Postgres';

const columns: { key: StatementOrder; label: string; title: string }[] = [
  { key: 'total_time', label: 'Total time', title: 'execution and planning time, summed over the range' },
  { key: 'calls', label: 'Calls', title: 'executions in the range' },
  { key: 'mean_time', label: 'Mean', title: 'execution time per call' },
  { key: 'rows', label: 'Rows', title: 'rows returned or affected' },
  { key: 'shared_blks_hit', label: 'Blocks hit', title: 'shared buffer hits (8 KiB blocks)' },
  { key: 'shared_blks_read', label: 'Blocks read', title: 'shared blocks read from the OS or disk' },
];
const orders = new Set<string>(columns.map((c) => c.key));

const cell: Record<StatementOrder, (s: TopStatement) => string> = {
  total_time: (s) => formatValue('ms', s.total_time_ms),
  calls: (s) => formatValue('count', s.calls),
  mean_time: (s) => formatValue('ms', s.mean_exec_time_ms),
  rows: (s) => formatValue('count', s.rows),
  shared_blks_hit: (s) => formatValue('count', s.shared_blks_hit),
  shared_blks_read: (s) => formatValue('count', s.shared_blks_read),
};

function oid(v: string | null): number | undefined {
  return v !== null && /^\d{1,10}$/.test(v) ? Number(v) : undefined;
}

export function StatementsSection({ server, target }: TargetParams) {
  const loc = useLocation();
  const statement = loc.query.get('statement');
  if (statement && /^-?\d{1,20}$/.test(statement)) {
    return (
      <StatementView
        server={server}
        target={target}
        queryid={statement}
        dbid={oid(loc.query.get('dbid'))}
        userid={oid(loc.query.get('userid'))}
      />
    );
  }
  const sort = loc.query.get('sort') ?? 'total_time';
  return (
    <StatementList
      server={server}
      target={target}
      order={orders.has(sort) ? (sort as StatementOrder) : 'total_time'}
    />
  );
}

function StatementList({ server, target, order }: TargetParams & { order: StatementOrder }) {
  const me = useMe();
  const mayRead = can(me, 'user');
  const range = useTimeRange();
  const { data, error, loading, reload } = useData(
    (signal) =>
      fetchTopStatements({ server, target, from: range.from, to: range.to, order, text: mayRead }, signal),
    [server, target, rangeKey(range), order, mayRead],
  );
  useLiveReload([server], samples, reload);
  const orderLabel = columns.find((c) => c.key === order)?.label.toLowerCase();
  return (
    <Panel
      title="Top statements"
      id="statements"
      actions={<span class="muted">{data ? `${data.statements.length} shown, by ${orderLabel}` : null}</span>}
    >
      <ErrorBox error={error} />
      {!data && loading ? <Loading what="statements" /> : null}
      {data && data.statements.length === 0 ? (
        <Empty>
          No statements in this range. The agent reads pg_stat_statements: the extension must be in
          shared_preload_libraries and created in the database it connects to.
        </Empty>
      ) : null}
      {data && data.statements.length > 0 ? (
        <div class="table-wrap">
          <table class="statements">
            <caption class="sr-only">Top statements of the range, sorted by {orderLabel}</caption>
            <thead>
              <tr>
                <th scope="col">Statement</th>
                {columns.map((c) => (
                  <SortHeader
                    key={c.key}
                    num
                    label={c.label}
                    title={c.title}
                    active={c.key === order ? 'desc' : undefined}
                    onSort={() => setQuery({ sort: c.key === 'total_time' ? undefined : c.key })}
                  />
                ))}
                <th scope="col">Time per step</th>
              </tr>
            </thead>
            <tbody>
              {data.statements.map((s) => (
                <StatementRow
                  key={`${s.queryid}/${s.dbid}/${s.userid}`}
                  s={s}
                  range={range}
                  mayRead={mayRead}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p class="muted note">
        The agent sends each interval's top statements by time, calls and I/O; a statement's sums cover the
        intervals in which it made a top list, and the sparkline breaks where it did not.
      </p>
    </Panel>
  );
}

/** A statement's first 160 characters on one line (whitespace collapsed); the history shows it whole. */
function preview(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 160 ? `${one.slice(0, 160)}…` : one;
}

function StatementRow({ s, range, mayRead }: { s: TopStatement; range: TimeRange; mayRead: boolean }) {
  const href = hrefWith({ statement: s.queryid, dbid: String(s.dbid), userid: String(s.userid) });
  const where = [s.datname, s.usename].filter(Boolean).join(' · ');
  return (
    <tr>
      <td class="stmt">
        <Link href={href} class="stmt-link">
          {s.query !== null ? <code>{preview(s.query)}</code> : <span>Statement {s.queryid}</span>}
        </Link>
        <div class="muted small">
          {where}
          {s.query === null && (s.queryRedacted || !mayRead) ? ' · text hidden for your role' : null}
          {s.query === null && mayRead && !s.queryRedacted ? ' · no text stored' : null}
        </div>
      </td>
      {columns.map((c) => (
        <td key={c.key} class="num">
          {cell[c.key](s)}
        </td>
      ))}
      <td>
        <Sparkline
          points={s.spark ?? []}
          from={range.from}
          to={range.to}
          label={`time per step of statement ${s.queryid}`}
        />
      </td>
    </tr>
  );
}

/** value(step) per second of the time the step's intervals cover. */
function perSecond(
  steps: StatementStep[],
  value: (s: StatementStep) => number | null,
): ChartSeries['points'] {
  return steps.map((s) => {
    const v = value(s);
    return [s.ts, v === null || s.covered_s <= 0 ? null : v / s.covered_s] as const;
  });
}

function historyCharts(
  h: StatementHistory,
): { title: string; unit: 'perSec' | 'ms'; series: ChartSeries[] }[] {
  const steps = h.steps;
  return [
    {
      title: 'Calls per second',
      unit: 'perSec',
      series: [{ label: 'calls/s', points: perSecond(steps, (s) => s.calls) }],
    },
    {
      title: 'Mean execution time',
      unit: 'ms',
      series: [
        {
          label: 'mean',
          points: steps.map((s) => [s.ts, s.calls ? (s.exec_time_ms ?? 0) / s.calls : null] as const),
        },
      ],
    },
    {
      title: 'Rows per second',
      unit: 'perSec',
      series: [{ label: 'rows/s', points: perSecond(steps, (s) => s.rows) }],
    },
    {
      title: 'Shared blocks per second',
      unit: 'perSec',
      series: [
        { label: 'hit', points: perSecond(steps, (s) => s.shared_blks_hit) },
        { label: 'read', points: perSecond(steps, (s) => s.shared_blks_read) },
        { label: 'dirtied', points: perSecond(steps, (s) => s.shared_blks_dirtied) },
        { label: 'written', points: perSecond(steps, (s) => s.shared_blks_written) },
      ],
    },
  ];
}

function StatementView(p: TargetParams & { queryid: string; dbid?: number; userid?: number }) {
  const me = useMe();
  const mayRead = can(me, 'user');
  const range = useTimeRange();
  const key = { server: p.server, target: p.target, queryid: p.queryid, dbid: p.dbid, userid: p.userid };
  const history = useData(
    (signal) => fetchStatementHistory({ ...key, from: range.from, to: range.to }, signal),
    [p.server, p.target, p.queryid, p.dbid, p.userid, rangeKey(range)],
  );
  useLiveReload([p.server], samples, history.reload);
  const h = history.data;
  const sum = (f: (s: StatementStep) => number | null) =>
    h ? h.steps.reduce((a, s) => a + (f(s) ?? 0), 0) : null;
  const calls = sum((s) => s.calls);
  const exec = sum((s) => s.exec_time_ms);
  const back = hrefWith({ statement: undefined, dbid: undefined, userid: undefined });
  return (
    <>
      <p class="crumbs">
        <Link href={back}>← All statements</Link>
      </p>
      <Panel title={`Statement ${p.queryid}`} id="statement">
        <ErrorBox error={history.error} />
        {!h && history.loading ? <Loading what="the statement's history" /> : null}
        {h ? (
          <>
            <div class="stats">
              <Stat
                k="runs as"
                v={h.runsAs.map((r) => [r.datname, r.usename].filter(Boolean).join(' · ')).join(', ') || '—'}
              />
              <Stat k="calls in range" v={formatValue('count', calls)} />
              <Stat k="execution time" v={formatValue('ms', exec)} />
              <Stat k="mean" v={formatValue('ms', calls ? (exec ?? 0) / calls : null)} />
              <Stat
                k="rows"
                v={formatValue(
                  'count',
                  sum((s) => s.rows),
                )}
              />
            </div>
            {h.steps.length === 0 ? <Empty>This statement made no top list in this range.</Empty> : null}
          </>
        ) : null}
        <h3>Text</h3>
        {mayRead ? (
          <StatementText {...key} />
        ) : (
          <p class="muted">
            The statement text is hidden for your role ({me.role}); roles user and admin see it.
          </p>
        )}
      </Panel>
      {h && h.steps.length > 0 ? (
        <Panel title="Over the range" id="statement-history">
          <div class="grid stmt-charts">
            {historyCharts(h).map((c) => (
              <Chart
                key={c.title}
                title={c.title}
                unit={c.unit}
                series={c.series}
                from={range.from}
                to={range.to}
                stepSeconds={h.stepSeconds}
              />
            ))}
          </div>
        </Panel>
      ) : null}
    </>
  );
}

function Stat({ k, v }: { k: string; v: string }) {
  return (
    <div class="stat">
      <div class="v">{v}</div>
      <div class="k">{k}</div>
    </div>
  );
}

function StatementText(key: {
  server: number;
  target: number;
  queryid: string;
  dbid?: number;
  userid?: number;
}) {
  const { data, error, loading } = useData(
    (signal) => fetchStatementText(key, signal),
    [key.server, key.target, key.queryid, key.dbid, key.userid],
  );
  if (error) return <ErrorBox error={error} />;
  if (!data && loading) return <Loading what="the statement text" />;
  const texts = [...new Set(data?.texts.map((t) => t.query) ?? [])];
  if (texts.length === 0) return <Empty>No text was stored for this statement.</Empty>;
  return (
    <>
      {texts.map((t) => (
        <CodeBlock key={t} code={t} label="statement" />
      ))}
      {data?.texts.some((t) => t.truncated) ? (
        <p class="muted small">The text was cut to the agent's configured length.</p>
      ) : null}
    </>
  );
}
