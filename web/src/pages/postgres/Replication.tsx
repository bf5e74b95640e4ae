/**
 * Replication and WAL: lag of each standby over the range (bytes and seconds), the replication slots now
 * with the WAL they hold back, this instance's own lag when it is a standby, WAL generation, and the
 * logical replication subscriptions of this instance now.
 */

import { fetchPgReplication, type PgReplication } from '../../api';
import { Chart } from '../../components/Chart';
import { Empty, ErrorBox, Loading, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge, formatBytes, formatValue } from '../../format';
import { samples, useLiveReload } from '../../live';
import { useTimeRange } from '../../time';
import type { TargetParams } from '../Postgres';
import { WalRateChart } from './Overview';
import { perLabel, useFamily } from './series';

const standbyName = (l: { application_name?: string; client_addr?: string }) =>
  `${l.application_name || '(unnamed)'}${l.client_addr ? ` at ${l.client_addr}` : ''}`;

export function ReplicationSection({ server, target }: TargetParams) {
  const range = useTimeRange();
  const now = useData((signal) => fetchPgReplication(server, target, signal), [server, target]);
  useLiveReload([server], samples, now.reload, 10_000);
  const lag = useFamily('pg_replication', server, target, ['replay_lag_bytes', 'replay_lag_s'], range);
  const standbySide = useFamily(
    'pg_standby',
    server,
    target,
    ['receive_replay_lag_bytes', 'replay_lag_s'],
    range,
  );
  const wal = useFamily('pg_wal', server, target, ['bytes', 'lsn_bytes'], range);
  const r = now.data;
  const frame = { from: range.from, to: range.to };
  const lagBytes = perLabel(lag.data, 'replay_lag_bytes', standbyName);
  const lagSeconds = perLabel(lag.data, 'replay_lag_s', standbyName);
  const noStandbys = lag.data !== undefined && lagBytes.length === 0 && lagSeconds.length === 0;
  const ownLag = (standbySide.data?.series.length ?? 0) > 0;
  return (
    <>
      <ErrorBox error={now.error ?? lag.error ?? wal.error ?? standbySide.error} />
      {now.loading && !r ? <Loading what="replication" /> : null}
      <div class="grid">
        <Panel title="Standbys" id="pg-standbys">
          {lag.data === undefined && !lag.error ? (
            <Loading what="standby lag" />
          ) : noStandbys ? (
            <Empty>No standbys: no standby streamed from this instance in this range.</Empty>
          ) : (
            <>
              <Chart
                title="Replay lag, bytes"
                unit="bytes"
                {...frame}
                stepSeconds={lag.data?.stepSeconds ?? 60}
                series={lagBytes}
              />
              <Chart
                title="Replay lag, seconds"
                unit="seconds"
                {...frame}
                stepSeconds={lag.data?.stepSeconds ?? 60}
                series={lagSeconds}
              />
            </>
          )}
          {r ? <StandbysTable r={r} /> : null}
        </Panel>
        <Panel title="WAL" id="pg-wal">
          <WalRateChart wal={wal.data} from={range.from} to={range.to} />
          {ownLag ? (
            <Chart
              title="This standby's replay lag, bytes"
              unit="bytes"
              {...frame}
              stepSeconds={standbySide.data?.stepSeconds ?? 60}
              series={perLabel(standbySide.data, 'receive_replay_lag_bytes', () => 'received, not replayed')}
            />
          ) : null}
          {r?.standby ? (
            <p>
              This instance is a standby: receiver {r.standby.receiver_status || 'not running'}
              {r.standby.sender ? `, streaming from ${r.standby.sender}` : ''}, replay{' '}
              {formatValue('seconds', r.standby.replay_lag_s)} behind.
            </p>
          ) : null}
        </Panel>
      </div>
      <Panel title="Replication slots" id="pg-slots">
        {r ? <SlotsTable r={r} /> : null}
      </Panel>
      <Panel title="Subscriptions" id="pg-subscriptions">
        {r ? <SubscriptionsTable r={r} /> : null}
      </Panel>
    </>
  );
}

function SubscriptionsTable({ r }: { r: PgReplication }) {
  if (r.subscriptions === null)
    return (
      <Empty>Subscriptions were not collected: {r.notCollected.pg_subscriptions ?? 'unknown reason'}.</Empty>
    );
  if (r.subscriptions.length === 0)
    return <Empty>No logical replication subscriptions on this instance.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Logical replication subscriptions now</caption>
        <thead>
          <tr>
            <th scope="col">Subscription</th>
            <th scope="col">Database</th>
            <th scope="col">Apply worker</th>
            <th scope="col">Received up to</th>
            <th scope="col" class="num">
              Last message
            </th>
            <th scope="col" class="num">
              Errors (apply / sync)
            </th>
          </tr>
        </thead>
        <tbody>
          {r.subscriptions.map((s) => {
            const state =
              s.enabled === false
                ? { cls: 'warn', text: 'disabled' }
                : s.worker_pid === null
                  ? { cls: s.enabled ? 'bad' : 'warn', text: 'not running' }
                  : { cls: 'good', text: `pid ${s.worker_pid}` };
            return (
              <tr key={`${s.datname}/${s.subname}`}>
                <td>{s.subname}</td>
                <td>{s.datname || '—'}</td>
                <td>
                  <span class={`badge ${state.cls}`}>{state.text}</span>
                  {s.sync_workers ? ` + ${s.sync_workers} syncing` : ''}
                </td>
                <td>{s.received_lsn ?? '—'}</td>
                <td class="num">
                  {s.last_msg_age_s === null ? '—' : `${formatValue('seconds', s.last_msg_age_s)} ago`}
                </td>
                <td class="num">
                  {s.apply_error_count === null
                    ? '—'
                    : `${s.apply_error_count} / ${s.sync_error_count ?? '—'}`}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function StandbysTable({ r }: { r: PgReplication }) {
  if (r.standbys === null)
    return <Empty>Standbys were not collected: {r.notCollected.pg_replication ?? 'unknown reason'}.</Empty>;
  if (r.standbys.length === 0) return <Empty>No standbys are connected now.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Standbys connected now</caption>
        <thead>
          <tr>
            <th scope="col">Standby</th>
            <th scope="col">State</th>
            <th scope="col">Sync</th>
            <th scope="col" class="num">
              Replay lag
            </th>
            <th scope="col" class="num">
              Replay lag, time
            </th>
            <th scope="col">Connected</th>
          </tr>
        </thead>
        <tbody>
          {r.standbys.map((s) => (
            <tr key={s.pid}>
              <td>{standbyName(s)}</td>
              <td>{s.state ?? '—'}</td>
              <td>{s.sync_state ?? '—'}</td>
              <td class="num">{formatValue('bytes', s.replay_lag_bytes)}</td>
              <td class="num">{formatValue('seconds', s.replay_lag_s)}</td>
              <td>{formatAge(s.backend_start)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SlotsTable({ r }: { r: PgReplication }) {
  if (r.slots === null)
    return (
      <Empty>Slots were not collected: {r.notCollected.pg_replication_slots ?? 'unknown reason'}.</Empty>
    );
  if (r.slots.length === 0) return <Empty>No replication slots.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Replication slots now</caption>
        <thead>
          <tr>
            <th scope="col">Slot</th>
            <th scope="col">Type</th>
            <th scope="col">Database</th>
            <th scope="col">Consumer</th>
            <th scope="col" class="num">
              Retained WAL
            </th>
            <th scope="col">WAL status</th>
            <th scope="col" class="num">
              Room before loss
            </th>
          </tr>
        </thead>
        <tbody>
          {r.slots.map((s) => (
            <tr key={s.slot_name}>
              <td>{s.slot_name}</td>
              <td>{s.slot_type ?? '—'}</td>
              <td>{s.datname || '—'}</td>
              <td>
                <span class={`badge ${s.active ? 'good' : 'warn'}`}>{s.active ? 'active' : 'inactive'}</span>
              </td>
              <td class="num">{s.retained_bytes === null ? '—' : formatBytes(s.retained_bytes)}</td>
              <td>{s.wal_status ?? '—'}</td>
              <td class="num">{formatValue('bytes', s.safe_wal_size_bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
