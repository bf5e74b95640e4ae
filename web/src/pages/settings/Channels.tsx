/**
 * Notification channels: list, add (fields per type as the server accepts them), test send, enable or
 * disable, delete; and the dead letters with a retry. URLs' paths, secrets and passwords are write-only:
 * the server never returns them, so the list shows only where a channel sends (scheme, host, port).
 */
import { useState } from 'preact/hooks';
import {
  type ChannelRow,
  type ChannelType,
  createChannel,
  type DeadLetter,
  deleteChannel,
  listChannels,
  listDeadLetters,
  retryDeadLetter,
  setChannelEnabled,
  type TestSend,
  testChannel,
} from '../../api';
import { Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge } from '../../format';
import {
  ActionError,
  ConfirmButton,
  Field,
  InlineForm,
  inputValue,
  Listing,
  SelectField,
  ShownOnce,
  useAction,
} from './forms';

const types: { value: ChannelType; label: string }[] = [
  { value: 'webhook', label: 'Webhook (HMAC-signed JSON)' },
  { value: 'slack', label: 'Slack incoming webhook' },
  { value: 'alertmanager', label: 'Alertmanager (API v2)' },
  { value: 'email', label: 'E-mail (SMTP)' },
];

type Values = Record<string, string>;

/** The request's `config` for a type from the form's values; empty optional fields are left out. */
export function channelConfig(type: ChannelType, v: Values): Record<string, unknown> {
  const opt = (k: string) => (v[k]?.trim() ? { [k]: v[k]!.trim() } : {});
  switch (type) {
    case 'webhook':
      return { url: v.url?.trim() ?? '', ...opt('secret') };
    case 'slack':
      return { url: v.url?.trim() ?? '' };
    case 'alertmanager':
      return { url: v.url?.trim() ?? '', ...opt('username'), ...(v.username?.trim() ? opt('password') : {}) };
    case 'email':
      return {
        host: v.host?.trim() ?? '',
        ...(v.port?.trim() ? { port: Number(v.port) } : {}),
        security: v.security || 'starttls',
        ...opt('username'),
        ...(v.username?.trim() ? opt('password') : {}),
        from: v.from?.trim() ?? '',
        to: (v.to ?? '')
          .split(/[,\s]+/)
          .map((s) => s.trim())
          .filter(Boolean),
      };
  }
}

function TypeFields({ type, v, set }: { type: ChannelType; v: Values; set: (k: string, x: string) => void }) {
  const f = (k: string, label: string, extra: Record<string, unknown> = {}) => (
    <Field
      id={`ch-${k}`}
      label={label}
      value={v[k] ?? ''}
      onInput={(e) => set(k, inputValue(e))}
      {...extra}
    />
  );
  switch (type) {
    case 'webhook':
      return (
        <>
          {f('url', 'URL', { type: 'url', required: true, maxLength: 2048, placeholder: 'https://…' })}
          {f('secret', 'Signing secret (optional)', {
            type: 'password',
            autocomplete: 'off',
            minLength: 16,
            hint: 'At least 16 characters; empty: one is generated and shown once.',
          })}
        </>
      );
    case 'slack':
      return f('url', 'Incoming webhook URL', {
        type: 'url',
        required: true,
        maxLength: 2048,
        placeholder: 'https://hooks.slack.com/services/…',
      });
    case 'alertmanager':
      return (
        <>
          {f('url', 'Alertmanager base URL', {
            type: 'url',
            required: true,
            placeholder: 'http://alertmanager:9093',
          })}
          {f('username', 'Username (optional)', { autocomplete: 'off' })}
          {f('password', 'Password', {
            type: 'password',
            autocomplete: 'off',
            required: Boolean(v.username),
          })}
        </>
      );
    case 'email':
      return (
        <>
          {f('host', 'SMTP host', { required: true, maxLength: 253 })}
          <SelectField
            id="ch-security"
            label="Security"
            value={v.security || 'starttls'}
            options={['starttls', 'tls', 'none']}
            onChange={(x) => set('security', x)}
          />
          {f('port', 'Port', { type: 'number', min: 1, max: 65535, hint: 'Empty: 587, or 465 with tls.' })}
          {f('username', 'Username (optional)', { autocomplete: 'off' })}
          {f('password', 'Password', {
            type: 'password',
            autocomplete: 'off',
            required: Boolean(v.username),
          })}
          {f('from', 'From', { type: 'email', required: true })}
          {f('to', 'To', { required: true, hint: 'One or more addresses, separated by commas.' })}
        </>
      );
  }
}

function AddChannel({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [type, setType] = useState<ChannelType>('webhook');
  const [minSeverity, setMinSeverity] = useState('');
  const [allowPrivate, setAllowPrivate] = useState(false);
  const [v, setV] = useState<Values>({});
  const [secret, setSecret] = useState<{ name: string; secret: string }>();
  const action = useAction();
  if (secret)
    return (
      <ShownOnce
        title={`Signing secret of ${secret.name}:`}
        value={secret.secret}
        onDone={() => setSecret(undefined)}
      >
        <p class="muted">The receiver checks each request's HMAC-SHA256 signature with it.</p>
      </ShownOnce>
    );
  return (
    <InlineForm
      label="Add a notification channel"
      action={action}
      submit="Add channel"
      onSubmit={async () => {
        const r = await createChannel({
          name,
          type,
          config: channelConfig(type, v),
          ...(minSeverity ? { routing: { minSeverity } } : {}),
          allowPrivate,
        });
        if (r.secret) setSecret({ name: r.name, secret: r.secret });
        setName('');
        setV({});
        onAdded();
      }}
    >
      <Field
        id="ch-name"
        label="Name"
        required
        maxLength={100}
        value={name}
        onInput={(e) => setName(inputValue(e))}
      />
      <SelectField
        id="ch-type"
        label="Type"
        value={type}
        options={types}
        onChange={(x) => {
          setType(x as ChannelType);
          setV({});
          action.clear();
        }}
      />
      <TypeFields type={type} v={v} set={(k, x) => setV({ ...v, [k]: x })} />
      <SelectField
        id="ch-severity"
        label="Lowest severity sent"
        value={minSeverity}
        options={[{ value: '', label: 'every finding' }, 'warning', 'critical']}
        onChange={setMinSeverity}
      />
      <div class="field checkbox">
        <input
          id="ch-private"
          type="checkbox"
          checked={allowPrivate}
          onChange={(e) => setAllowPrivate((e.target as HTMLInputElement).checked)}
        />
        <label for="ch-private">Receiver on this host or a private network</label>
      </div>
    </InlineForm>
  );
}

function TestOutcome({ r }: { r: TestSend }) {
  const status = r.status === null ? '' : `answered ${r.status}, `;
  const why = [r.reason, r.error].filter(Boolean).join(': ');
  return (
    <span class="test-outcome" role="status">
      <span class={`badge ${r.ok ? 'good' : 'bad'}`}>{r.ok ? 'delivered' : 'failed'}</span> {status}
      {Math.round(r.latencyMs)} ms{why ? ` — ${why}` : ''}
    </span>
  );
}

function ChannelRowView({ c, reload }: { c: ChannelRow; reload: () => void }) {
  const action = useAction();
  const [outcome, setOutcome] = useState<TestSend>();
  return (
    <tr>
      <td>{c.name}</td>
      <td>{c.type}</td>
      <td>
        <code>{c.display}</code>
      </td>
      <td>{c.routing.minSeverity ?? <span class="muted">all</span>}</td>
      <td>
        <input
          type="checkbox"
          id={`ch-enabled-${c.channelId}`}
          aria-label={`${c.name} enabled`}
          checked={c.enabled}
          disabled={action.busy}
          onChange={(e) => {
            const on = (e.target as HTMLInputElement).checked;
            void action.run(() => setChannelEnabled(c.channelId, on)).then(reload);
          }}
        />
      </td>
      <td class="actions">
        <button
          type="button"
          disabled={action.busy}
          onClick={() => {
            setOutcome(undefined);
            void action.run(async () => setOutcome(await testChannel(c.channelId)));
          }}
        >
          {action.busy ? 'Sending…' : 'Send test'}
        </button>
        <ConfirmButton
          label="Delete"
          question={`Delete the channel ${c.name} with its queued and dead notifications?`}
          action={action}
          onConfirm={async () => {
            await deleteChannel(c.channelId);
            reload();
          }}
        />
        {outcome ? <TestOutcome r={outcome} /> : null}
        <ActionError action={action} />
      </td>
    </tr>
  );
}

function DeadRow({ d, reload }: { d: DeadLetter; reload: () => void }) {
  const action = useAction();
  return (
    <tr>
      <td>{d.channelName}</td>
      <td>
        <code>{d.findingKey}</code>
      </td>
      <td>{d.event}</td>
      <td class="num">{d.attempts}</td>
      <td>
        {d.lastStatus ?? ''} {d.lastError ?? ''}
      </td>
      <td>{d.lastAttemptAt ? formatAge(d.lastAttemptAt) : ''}</td>
      <td class="actions">
        <button
          type="button"
          disabled={action.busy}
          onClick={() => void action.run(() => retryDeadLetter(d.deliveryId)).then(reload)}
        >
          Retry
        </button>
        <ActionError action={action} />
      </td>
    </tr>
  );
}

export function ChannelsSection() {
  const channels = useData((s) => listChannels(s), []);
  const dead = useData((s) => listDeadLetters(s), []);
  return (
    <>
      <Panel title="Add a notification channel" id="add-channel">
        <AddChannel onAdded={channels.reload} />
      </Panel>
      <Panel title="Notification channels" id="channels">
        <Listing
          loaded={channels}
          what="channels"
          empty="No channels: findings are only shown here."
          head={['Name', 'Type', 'Sends to', 'Lowest severity', 'Enabled', 'Actions']}
          row={(c) => <ChannelRowView key={c.channelId} c={c} reload={channels.reload} />}
        />
      </Panel>
      <Panel
        title="Dead letters"
        id="dead-letters"
        actions={
          <button type="button" onClick={dead.reload}>
            Refresh
          </button>
        }
      >
        <Listing
          loaded={dead}
          what="dead letters"
          empty="None: every notification was delivered or is still being tried."
          head={['Channel', 'Finding', 'Event', 'Attempts', 'Last answer', 'Last try', 'Actions']}
          row={(d) => <DeadRow key={d.deliveryId} d={d} reload={dead.reload} />}
        />
      </Panel>
    </>
  );
}
