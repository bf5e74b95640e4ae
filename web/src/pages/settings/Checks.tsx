/**
 * Check thresholds: every check with its default thresholds and the overrides in force (everywhere, for a
 * server, or for one PostgreSQL target of it); set an override or clear one.
 */
import { useState } from 'preact/hooks';
import {
  type CheckInfo,
  type CheckOverride,
  type CheckScope,
  clearCheckSettings,
  listChecks,
  putCheckSettings,
} from '../../api';
import { Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatBytes } from '../../format';
import { ActionError, ConfirmButton, Field, InlineForm, inputValue, Listing, useAction } from './forms';

function scopeText(o: { serverId: number | null; targetId: number | null }): string {
  if (o.serverId === null) return 'every server';
  return o.targetId === null ? `server ${o.serverId}` : `server ${o.serverId}, target ${o.targetId}`;
}

/** A threshold with its unit; bytes in human form (10 GiB rather than 10737418240). */
const valueText = (v: number, unit: string | undefined) =>
  unit === 'bytes' ? formatBytes(v) : `${v}${unit ? ` ${unit}` : ''}`;

function Override({ check, o, reload }: { check: CheckInfo; o: CheckOverride; reload: () => void }) {
  const action = useAction();
  const scope: CheckScope = {
    ...(o.serverId === null ? {} : { serverId: o.serverId }),
    ...(o.targetId === null ? {} : { targetId: o.targetId }),
  };
  const values = Object.entries(o.thresholds)
    .map(([k, x]) => `${k} = ${valueText(x, check.thresholds[k]?.unit)}`)
    .join(', ');
  return (
    <li>
      <strong>{scopeText(o)}:</strong>{' '}
      {o.enabled ? values || 'defaults' : <span class="badge muted">off</span>}{' '}
      {o.updatedBy ? <span class="muted">by {o.updatedBy}</span> : null}{' '}
      <ConfirmButton
        label="Clear"
        question={`Clear the override of ${check.id} for ${scopeText(o)}?`}
        action={action}
        onConfirm={async () => {
          await clearCheckSettings(check.id, scope);
          reload();
        }}
      />
      <ActionError action={action} />
    </li>
  );
}

function EditOverride({ check, onDone }: { check: CheckInfo; onDone: (changed: boolean) => void }) {
  const [server, setServer] = useState('');
  const [target, setTarget] = useState('');
  const [enabled, setEnabled] = useState(true);
  const [v, setV] = useState<Record<string, string>>({});
  const action = useAction();
  const base = `edit-${check.id.replace(/[^\w-]/g, '_')}`;
  return (
    <InlineForm
      label={`Override ${check.title}`}
      action={action}
      submit="Save override"
      onSubmit={async () => {
        const thresholds: Record<string, number> = {};
        for (const [k, x] of Object.entries(v)) if (x.trim() !== '') thresholds[k] = Number(x);
        await putCheckSettings(check.id, {
          ...(server.trim() ? { serverId: Number(server) } : {}),
          ...(target.trim() ? { targetId: Number(target) } : {}),
          enabled,
          thresholds,
        });
        onDone(true);
      }}
    >
      <Field
        id={`${base}-server`}
        label="Server id"
        type="number"
        min={1}
        hint="Empty: every server."
        value={server}
        onInput={(e) => setServer(inputValue(e))}
      />
      <Field
        id={`${base}-target`}
        label="Target id"
        type="number"
        min={1}
        hint="Empty: every target of it."
        value={target}
        onInput={(e) => setTarget(inputValue(e))}
      />
      <div class="field checkbox">
        <input
          id={`${base}-enabled`}
          type="checkbox"
          checked={enabled}
          onChange={(e) => setEnabled((e.target as HTMLInputElement).checked)}
        />
        <label for={`${base}-enabled`}>Check on</label>
      </div>
      {Object.entries(check.thresholds).map(([k, t]) => (
        <Field
          key={k}
          id={`${base}-${k}`}
          label={`${k}${t.unit ? ` (${t.unit})` : ''}`}
          type="number"
          step="any"
          min={t.min}
          max={t.max}
          placeholder={String(t.default)}
          hint={t.help ? `${t.help} Default ${t.default}.` : `Default ${t.default}.`}
          value={v[k] ?? ''}
          onInput={(e) => setV({ ...v, [k]: inputValue(e) })}
        />
      ))}
      <button type="button" onClick={() => onDone(false)}>
        Cancel
      </button>
    </InlineForm>
  );
}

function CheckRow({ check, reload }: { check: CheckInfo; reload: () => void }) {
  const [editing, setEditing] = useState(false);
  const defaults = Object.entries(check.thresholds);
  return (
    <tr>
      <td>
        <div>{check.title}</div>
        <code class="muted">{check.id}</code>
        {check.offByDefault ? (
          <div>
            <span class="badge muted" title={check.offByDefault}>
              off by default
            </span>
          </div>
        ) : null}
      </td>
      <td>{check.group}</td>
      <td>
        {defaults.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="plain">
            {defaults.map(([k, t]) => (
              <li key={k} title={t.help}>
                {k} = {valueText(t.default, t.unit)}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td>
        {check.overrides.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="plain">
            {check.overrides.map((o) => (
              <Override key={`${o.serverId}-${o.targetId}`} check={check} o={o} reload={reload} />
            ))}
          </ul>
        )}
        {editing ? (
          <EditOverride
            check={check}
            onDone={(changed) => {
              setEditing(false);
              if (changed) reload();
            }}
          />
        ) : (
          <button type="button" onClick={() => setEditing(true)} aria-label={`Override ${check.id}`}>
            Override
          </button>
        )}
      </td>
    </tr>
  );
}

export function ChecksSection() {
  const checks = useData((s) => listChecks(s), []);
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const shown = checks.data?.filter(
    (c) => !f || c.id.toLowerCase().includes(f) || c.title.toLowerCase().includes(f) || c.group.includes(f),
  );
  return (
    <Panel
      title="Check thresholds"
      id="checks"
      actions={
        <>
          <label for="checks-filter">Filter</label>
          <input
            id="checks-filter"
            type="search"
            value={filter}
            onInput={(e) => setFilter(inputValue(e))}
            placeholder="id, title or group"
          />
        </>
      }
    >
      <p class="muted">
        An override applies everywhere, to one server, or to one PostgreSQL target of a server; the narrowest
        one wins, and empty thresholds keep their defaults.
      </p>
      <Listing
        loaded={{ ...checks, data: shown }}
        what="checks"
        empty="No check matches."
        head={['Check', 'Group', 'Default thresholds', 'Overrides']}
        row={(c) => <CheckRow key={c.id} check={c} reload={checks.reload} />}
      />
    </Panel>
  );
}
