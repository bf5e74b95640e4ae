/**
 * Enrollment tokens for agents: list, create, revoke. After creating one the page shows the exact command
 * that enrolls an agent with this server (docs/agent.md, "Shipping to a server").
 */
import { useState } from 'preact/hooks';
import { createEnrollToken, type EnrollTokenRow, listEnrollTokens, revokeEnrollToken } from '../../api';
import { Badge, CodeBlock, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatTime } from '../../format';
import {
  ActionError,
  ConfirmButton,
  Field,
  InlineForm,
  inputValue,
  Listing,
  ShownOnce,
  useAction,
} from './forms';

/** A shell word: left bare when it is safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that enrolls an agent. The token goes in PGVIGIL_ENROLL_TOKEN rather than --enroll-token,
 * which every user of the host could read in `ps` (the agent warns about it).
 */
export function agentCommand(serverUrl: string, token: string): string {
  return `PGVIGIL_ENROLL_TOKEN=${shellWord(token)} pgvigil agent --server ${shellWord(serverUrl)}`;
}

function EnrollRow({ t, reload }: { t: EnrollTokenRow; reload: () => void }) {
  const action = useAction();
  const expired = t.expiresAt ? Date.parse(t.expiresAt) < Date.now() : false;
  const spent = t.usesLeft === 0;
  return (
    <tr>
      <td>
        <code>{t.prefix}…</code>
      </td>
      <td>{t.note ?? <span class="muted">—</span>}</td>
      <td class="num">{t.usesLeft ?? <span class="muted">unlimited</span>}</td>
      <td class="num">{t.agents}</td>
      <td>{formatTime(t.createdAt)}</td>
      <td>{t.expiresAt ? formatTime(t.expiresAt) : <span class="muted">never</span>}</td>
      <td class="actions">
        {t.revokedAt ? (
          <Badge value="revoked" />
        ) : (
          <>
            {expired ? <Badge value="expired" /> : spent ? <Badge value="used up" /> : null}
            <ConfirmButton
              label="Revoke"
              question={`Revoke the enrollment token ${t.prefix}…? Agents enrolled with it keep working.`}
              action={action}
              onConfirm={async () => {
                await revokeEnrollToken(t.tokenId);
                reload();
              }}
            />
          </>
        )}
        <ActionError action={action} />
      </td>
    </tr>
  );
}

export function EnrollTokensSection() {
  const tokens = useData((s) => listEnrollTokens(s), []);
  const [uses, setUses] = useState('1');
  const [expires, setExpires] = useState('1d');
  const [note, setNote] = useState('');
  const [made, setMade] = useState<string>();
  const action = useAction();
  const server = window.location.origin;
  return (
    <>
      <Panel title="Create an enrollment token" id="add-enroll">
        {made ? (
          <ShownOnce title="Enrollment token:" value={made} onDone={() => setMade(undefined)}>
            <h3 id="agent-command-h">Run on the host to monitor</h3>
            <div class="agent-command">
              <CodeBlock code={agentCommand(server, made)} label="agent command" />
            </div>
            <p class="muted">
              Add <code>--postgres postgres://pgvigil@localhost/postgres</code> for a PostgreSQL on that host,
              and <code>--ca FILE</code> for a private CA. The agent keeps its credential in{' '}
              <code>--state-dir</code> (default <code>/var/lib/pgvigil-agent</code>) and needs the token only
              once. See docs/agent.md for a systemd unit that keeps the token in a file.
            </p>
          </ShownOnce>
        ) : (
          <InlineForm
            label="Create an enrollment token"
            action={action}
            submit="Create token"
            onSubmit={async () => {
              const n = uses.trim() === '' ? undefined : Number(uses);
              const r = await createEnrollToken({
                ...(n === undefined ? {} : { uses: n }),
                ...(expires ? { expires } : {}),
                ...(note ? { note } : {}),
              });
              setMade(r.token);
              setNote('');
              tokens.reload();
            }}
          >
            <Field
              id="enroll-uses"
              label="Agents it may enroll"
              type="number"
              min={1}
              max={1000000}
              hint="Empty: unlimited."
              value={uses}
              onInput={(e) => setUses(inputValue(e))}
            />
            <Field
              id="enroll-expires"
              label="Expires after"
              maxLength={10}
              hint="Like 1d or 2h; empty: never."
              value={expires}
              onInput={(e) => setExpires(inputValue(e))}
            />
            <Field
              id="enroll-note"
              label="Note"
              maxLength={200}
              hint="What it is for."
              value={note}
              onInput={(e) => setNote(inputValue(e))}
            />
          </InlineForm>
        )}
      </Panel>
      <Panel title="Enrollment tokens" id="enroll-tokens">
        <Listing
          loaded={tokens}
          what="enrollment tokens"
          empty="No enrollment tokens yet."
          head={['Starts with', 'Note', 'Uses left', 'Agents', 'Created', 'Expires', 'Actions']}
          row={(t) => <EnrollRow key={t.tokenId} t={t} reload={tokens.reload} />}
        />
      </Panel>
    </>
  );
}
