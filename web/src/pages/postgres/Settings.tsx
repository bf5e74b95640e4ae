/**
 * Settings changed from their defaults, with where each comes from and whether it waits for a restart.
 * Values may hold secrets (connection strings), so the API serves them to role user and up; a viewer is
 * told so and the page does not ask.
 */
import { useState } from 'preact/hooks';
import { fetchPgSettings, type PgSettings } from '../../api';
import { Empty, ErrorBox, Loading, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge, formatTime } from '../../format';
import { can, useMe } from '../../session';
import type { TargetParams } from '../Postgres';

export function SettingsSection(p: TargetParams) {
  const me = useMe();
  if (!can(me, 'user'))
    return (
      <Panel title="Changed settings" id="pg-settings">
        <p class="pg-needs-role">
          Settings need the <strong>user</strong> role: their values can hold secrets such as connection
          strings. Ask an administrator for it.
        </p>
      </Panel>
    );
  return <SettingsTable {...p} />;
}

function SettingsTable({ server, target }: TargetParams) {
  const [filter, setFilter] = useState('');
  const [withDefaults, setWithDefaults] = useState(false);
  const res = useData((signal) => fetchPgSettings(server, target, signal), [server, target]);
  const d = res.data;
  return (
    <Panel
      title="Changed settings"
      id="pg-settings"
      actions={
        <>
          <label>
            Filter{' '}
            <input
              type="search"
              value={filter}
              onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            <input
              type="checkbox"
              checked={withDefaults}
              onChange={(e) => setWithDefaults((e.target as HTMLInputElement).checked)}
            />{' '}
            also settings the checks read at their default
          </label>
        </>
      }
    >
      <ErrorBox error={res.error} />
      {res.loading && !d ? <Loading what="settings" /> : null}
      {d ? <Rows d={d} filter={filter} withDefaults={withDefaults} /> : null}
    </Panel>
  );
}

function Rows({ d, filter, withDefaults }: { d: PgSettings; filter: string; withDefaults: boolean }) {
  if (d.ts === null) return <Empty>No settings have been collected from this instance yet.</Empty>;
  const needle = filter.trim().toLowerCase();
  const rows = d.settings
    .filter((s) => withDefaults || s.is_default !== true)
    .filter((s) => !needle || s.name.toLowerCase().includes(needle));
  const pending = d.settings.filter((s) => s.pending_restart === true).length;
  return (
    <>
      <p class="muted">
        Seen {formatAge(d.ts)} (<time dateTime={d.ts}>{formatTime(d.ts)}</time>); the agent sends the settings
        when they change.
        {pending > 0 ? ` ${pending} changed in the configuration wait for a restart.` : ''}
      </p>
      {rows.length === 0 ? (
        <Empty>No setting matches.</Empty>
      ) : (
        <div class="table-wrap">
          <table class="pg-settings">
            <caption class="sr-only">Settings changed from their defaults</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
                <th scope="col">Unit</th>
                <th scope="col">Source</th>
                <th scope="col">Restart</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.name}>
                  <td>
                    <code>{s.name}</code>
                  </td>
                  <td class="pg-setting-value">{s.setting ?? '—'}</td>
                  <td>{s.unit ?? ''}</td>
                  <td>{s.is_default ? 'default' : (s.source ?? '—')}</td>
                  <td>{s.pending_restart ? <span class="badge warn">pending restart</span> : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
