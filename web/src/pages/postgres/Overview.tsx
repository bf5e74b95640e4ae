/**
 * The health of one instance over the page's range: throughput, cache, connections, trouble counters,
 * checkpoints and WAL, and how close each database is to transaction ID wraparound.
 */
import type { SeriesResponse } from '../../api';
import { Chart } from '../../components/Chart';
import { Empty, ErrorBox, Loading, Panel } from '../../components/ui';
import { formatCount, formatValue } from '../../format';
import { useTimeRange } from '../../time';
import type { TargetParams } from '../Postgres';
import { perLabel, pointsOf, ratePoints, sumOf, useFamily } from './series';

const dbMetrics = [
  'xact_commit',
  'xact_rollback',
  'blks_hit',
  'blks_read',
  'numbackends',
  'deadlocks',
  'conflicts',
  'temp_bytes',
  'temp_files',
] as const;
const bgwriterMetrics = [
  'checkpoints_timed',
  'checkpoints_req',
  'buffers_checkpoint',
  'buffers_clean',
  'buffers_backend',
] as const;

export function OverviewSection({ server, target }: TargetParams) {
  const range = useTimeRange();
  const db = useFamily('pg_database', server, target, dbMetrics, range);
  const inst = useFamily('pg_instance', server, target, ['max_connections', 'backends'], range);
  const bg = useFamily('pg_bgwriter', server, target, bgwriterMetrics, range);
  const wal = useFamily('pg_wal', server, target, ['bytes', 'lsn_bytes'], range);
  const wrap = useFamily(
    'pg_wraparound',
    server,
    target,
    ['xid_age', 'xid_freeze_max_pct', 'xid_wraparound_pct'],
    range,
  );
  const d = db.data;
  const frame = { from: range.from, to: range.to };
  const hit = sumOf(d, 'blks_hit');
  const read = sumOf(d, 'blks_read');
  // A step that read no block at all has no ratio (not 100 %).
  const hitRatio = pointsOf(hit, (h, t) => {
    const all = h + (read.get(t) ?? 0);
    return all > 0 ? (100 * h) / all : null;
  });
  const step = d?.stepSeconds ?? 60;
  const perStep = `per ${formatValue('seconds', step)}`;

  return (
    <>
      <ErrorBox error={db.error ?? inst.error ?? bg.error ?? wal.error ?? wrap.error} />
      {db.loading && !d ? <Loading what="database statistics" /> : null}
      <div class="grid">
        <Panel title="Throughput and cache" id="pg-throughput">
          <Chart
            title="Transactions per second"
            unit="perSec"
            {...frame}
            stepSeconds={step}
            series={[
              { label: 'commits', points: ratePoints(d, 'xact_commit') },
              { label: 'rollbacks', points: ratePoints(d, 'xact_rollback') },
            ]}
          />
          <Chart
            title="Cache hit ratio"
            unit="percent"
            {...frame}
            stepSeconds={step}
            max={100}
            series={[{ label: 'blocks found in shared buffers', points: hitRatio }]}
          />
        </Panel>
        <Panel title="Connections" id="pg-connections">
          <Chart
            title="Connections and max_connections"
            unit="count"
            {...frame}
            stepSeconds={step}
            series={[
              { label: 'client backends (by database)', points: pointsOf(sumOf(d, 'numbackends')) },
              { label: 'all server processes', points: pointsOf(sumOf(inst.data, 'backends')) },
              { label: 'max_connections', points: pointsOf(sumOf(inst.data, 'max_connections')) },
            ]}
          />
          <Chart
            title={`Deadlocks and recovery conflicts (${perStep})`}
            unit="count"
            {...frame}
            stepSeconds={step}
            series={[
              { label: 'deadlocks', points: pointsOf(sumOf(d, 'deadlocks')) },
              { label: 'conflicts', points: pointsOf(sumOf(d, 'conflicts')) },
              { label: 'temporary files', points: pointsOf(sumOf(d, 'temp_files')) },
            ]}
          />
          <Chart
            title="Temporary file bytes per second"
            unit="bytesPerSec"
            {...frame}
            stepSeconds={step}
            series={[{ label: 'written to temporary files', points: ratePoints(d, 'temp_bytes') }]}
          />
        </Panel>
        <Panel title="Checkpoints and WAL" id="pg-checkpoints">
          <Chart
            title={`Checkpoints (${perStep})`}
            unit="count"
            {...frame}
            stepSeconds={bg.data?.stepSeconds ?? step}
            series={[
              { label: 'timed', points: pointsOf(sumOf(bg.data, 'checkpoints_timed')) },
              { label: 'requested', points: pointsOf(sumOf(bg.data, 'checkpoints_req')) },
            ]}
          />
          <Chart
            title="Buffers written per second"
            unit="perSec"
            {...frame}
            stepSeconds={bg.data?.stepSeconds ?? step}
            series={[
              { label: 'by checkpoints', points: ratePoints(bg.data, 'buffers_checkpoint') },
              { label: 'by the background writer', points: ratePoints(bg.data, 'buffers_clean') },
              { label: 'by backends', points: ratePoints(bg.data, 'buffers_backend') },
            ]}
          />
          <WalRateChart wal={wal.data} from={range.from} to={range.to} />
        </Panel>
        <Panel title="Transaction ID wraparound" id="pg-wraparound">
          <Chart
            title="Age of the oldest unfrozen XID, % of autovacuum_freeze_max_age"
            unit="percent"
            {...frame}
            stepSeconds={wrap.data?.stepSeconds ?? step}
            series={perLabel(wrap.data, 'xid_freeze_max_pct', (l) => l.datname ?? '?')}
          />
          <WraparoundTable res={wrap.data} />
        </Panel>
      </div>
    </>
  );
}

/** WAL bytes per second: pg_stat_wal's bytes (14+), else the movement of the WAL position. */
export function WalRateChart(p: { wal: SeriesResponse | undefined; from: number; to: number }) {
  const bytes = ratePoints(p.wal, 'bytes');
  const points = bytes.length > 0 ? bytes : ratePoints(p.wal, 'lsn_bytes');
  return (
    <Chart
      title="WAL generated per second"
      unit="bytesPerSec"
      from={p.from}
      to={p.to}
      stepSeconds={p.wal?.stepSeconds ?? 60}
      series={[{ label: 'WAL bytes', points }]}
    />
  );
}

/** The newest value of each database's ages: distance to a forced vacuum and to wraparound (2^31). */
function WraparoundTable({ res }: { res: SeriesResponse | undefined }) {
  const rows = new Map<string, { age?: number; freeze?: number; wrap?: number }>();
  for (const s of res?.series ?? []) {
    const last = s.points.at(-1)?.[1];
    if (last === undefined) continue;
    const name = s.labels.datname ?? '?';
    const row = rows.get(name) ?? {};
    if (s.metric === 'xid_age') row.age = last;
    if (s.metric === 'xid_freeze_max_pct') row.freeze = last;
    if (s.metric === 'xid_wraparound_pct') row.wrap = last;
    rows.set(name, row);
  }
  if (rows.size === 0) return <Empty>No wraparound ages in this range.</Empty>;
  const list = [...rows].sort((a, b) => (b[1].wrap ?? 0) - (a[1].wrap ?? 0));
  return (
    <div class="table-wrap">
      <table class="pg-wrap">
        <caption class="sr-only">Newest transaction ID age per database</caption>
        <thead>
          <tr>
            <th scope="col">Database</th>
            <th scope="col" class="num">
              XID age
            </th>
            <th scope="col" class="num">
              of autovacuum_freeze_max_age
            </th>
            <th scope="col" class="num">
              of 2^31 (wraparound)
            </th>
          </tr>
        </thead>
        <tbody>
          {list.map(([name, r]) => (
            <tr key={name}>
              <td>{name}</td>
              <td class="num">{r.age === undefined ? '—' : formatCount(r.age)}</td>
              <td class="num">{formatValue('percent', r.freeze)}</td>
              <td class="num">{formatValue('percent', r.wrap)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
