/**
 * Agents: each enrolled agent with its last contact, version and what it said about the configuration
 * pushed to it; revoke one, or view and replace its pushed configuration (applied at its next pull).
 */
import { useState } from 'preact/hooks';
import { type AgentRow, getAgent, listAgents, pushAgentConfig, revokeAgent } from '../../api';
import { ErrorBox, Link, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge, formatTime } from '../../format';
import { ActionError, ConfirmButton, Listing, useAction } from './forms';

const presenceClass: Record<AgentRow['presence'], string> = {
  online: 'good',
  degraded: 'warn',
  offline: 'bad',
  unknown: 'muted',
};

function ConfigStatus({ a }: { a: AgentRow }) {
  const s = a.configStatus;
  if (!s) return <span class="muted">{a.configured ? 'pushed, not applied yet' : 'none pushed'}</span>;
  if (s.applied === false)
    return (
      <span>
        <span class="badge bad">refused</span> {s.error}
      </span>
    );
  return (
    <span>
      <span class="badge good">applied</span> <span class="muted">{s.at ? formatAge(s.at) : ''}</span>
    </span>
  );
}

/** Target passwords come back as *** and would be stored as such if pushed unchanged. */
const hiddenPassword = /:\*\*\*@|password=\*\*\*/;

function ConfigEditor({ agent, onClose }: { agent: AgentRow; onClose: () => void }) {
  const loaded = useData((s) => getAgent(agent.agentId, s), [agent.agentId]);
  const [text, setText] = useState<string>();
  const action = useAction();
  const shown = text ?? (loaded.data ? JSON.stringify(loaded.data.config, null, 2) : '');
  const id = `config-${agent.agentId}`;
  return (
    <form
      class="config-editor"
      aria-label={`Pushed configuration of ${agent.hostname}`}
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          let config: unknown;
          try {
            config = JSON.parse(shown);
          } catch (err) {
            throw new Error(`not JSON: ${(err as Error).message}`);
          }
          if (typeof config !== 'object' || config === null || Array.isArray(config))
            throw new Error('the configuration is a JSON object, like {"collectIntervalMs": 30000}');
          if (hiddenPassword.test(shown))
            throw new Error(
              'a target URL still has its password as ***: type the real password (or remove it)',
            );
          await pushAgentConfig(agent.agentId, config as Record<string, unknown>);
          setText(undefined);
          loaded.reload();
        });
      }}
    >
      <label for={id}>Pushed configuration of {agent.hostname} (JSON)</label>
      <textarea
        id={id}
        rows={10}
        spellcheck={false}
        aria-describedby={`${id}-hint`}
        value={shown}
        disabled={loaded.data === undefined}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <small id={`${id}-hint`} class="muted">
        Keys: collectIntervalMs, pushIntervalMs, collectors {'{enable, disable}'}, watchProcesses, logSources,
        targets. Pushing replaces the whole configuration; the agent applies it at its next pull. Passwords in
        target URLs are shown as ***.
      </small>
      <ActionError action={action} />
      <ErrorBox error={loaded.error} />
      <div class="fields">
        <button type="submit" class="primary" disabled={action.busy || loaded.data === undefined}>
          Push configuration
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}

function AgentRowView({ a, reload }: { a: AgentRow; reload: () => void }) {
  const action = useAction();
  const [editing, setEditing] = useState(false);
  return (
    <>
      <tr>
        <td>
          <Link href={`/servers/${a.serverId}`}>{a.hostname}</Link>
          {a.serverName !== a.hostname ? <div class="muted">{a.serverName}</div> : null}
        </td>
        <td>
          {a.revokedAt ? (
            <span class="badge muted">revoked</span>
          ) : (
            <span class={`badge ${presenceClass[a.presence]}`} title={a.presenceReason ?? undefined}>
              {a.presence}
            </span>
          )}
        </td>
        <td title={a.lastSeenAt ? formatTime(a.lastSeenAt) : undefined}>
          {a.lastSeenAt ? formatAge(a.lastSeenAt) : <span class="muted">never</span>}
        </td>
        <td>{a.version ?? <span class="muted">—</span>}</td>
        <td>
          <ConfigStatus a={a} />
        </td>
        <td class="actions">
          <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
            {editing ? 'Hide config' : 'Config'}
          </button>
          {a.revokedAt ? null : (
            <ConfirmButton
              label="Revoke"
              question={`Revoke ${a.hostname}? It is refused until it enrolls again.`}
              action={action}
              onConfirm={async () => {
                await revokeAgent(a.agentId);
                reload();
              }}
            />
          )}
          <ActionError action={action} />
        </td>
      </tr>
      {editing ? (
        <tr>
          <td colSpan={6}>
            <ConfigEditor
              agent={a}
              onClose={() => {
                setEditing(false);
                reload();
              }}
            />
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** The API's default page of agents (the most recently seen first). */
const agentLimit = 500;

export function AgentsSection() {
  const agents = useData((s) => listAgents(s), []);
  return (
    <Panel
      title="Agents"
      id="agents"
      actions={
        <button type="button" onClick={agents.reload}>
          Refresh
        </button>
      }
    >
      <Listing
        loaded={agents}
        what="agents"
        empty={
          <>
            No agent has enrolled yet: create an <Link href="/settings/enrollment">enrollment token</Link>.
          </>
        }
        head={['Host', 'Presence', 'Last seen', 'Version', 'Pushed config', 'Actions']}
        row={(a) => <AgentRowView key={a.agentId} a={a} reload={agents.reload} />}
      />
      {agents.data?.length === agentLimit ? (
        <p class="muted">The {agentLimit} most recently seen agents are shown.</p>
      ) : null}
    </Panel>
  );
}
