/** API tokens for scripts: list, create (the token is shown once), revoke. */
import { useState } from 'preact/hooks';
import { type ApiTokenRow, createApiToken, listApiTokens, type Role, revokeApiToken } from '../../api';
import { Badge, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatAge, formatTime } from '../../format';
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

function TokenRow({ t, reload }: { t: ApiTokenRow; reload: () => void }) {
  const action = useAction();
  const expired = t.expiresAt ? Date.parse(t.expiresAt) < Date.now() : false;
  return (
    <tr>
      <td>{t.name}</td>
      <td>
        <code>{t.prefix}…</code>
      </td>
      <td>{t.role}</td>
      <td>{formatTime(t.createdAt)}</td>
      <td>{t.expiresAt ? formatTime(t.expiresAt) : <span class="muted">never</span>}</td>
      <td>{t.lastUsedAt ? formatAge(t.lastUsedAt) : <span class="muted">never</span>}</td>
      <td class="actions">
        {t.revoked ? (
          <Badge value="revoked" />
        ) : expired ? (
          <Badge value="expired" />
        ) : (
          <ConfirmButton
            label="Revoke"
            question={`Revoke the token ${t.name}? Scripts using it are refused from now on.`}
            action={action}
            onConfirm={async () => {
              await revokeApiToken(t.tokenId);
              reload();
            }}
          />
        )}
        <ActionError action={action} />
      </td>
    </tr>
  );
}

export function ApiTokensSection() {
  const tokens = useData((s) => listApiTokens(s), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [expires, setExpires] = useState('90d');
  const [made, setMade] = useState<{ name: string; token: string }>();
  const action = useAction();
  return (
    <>
      <Panel title="Create an API token" id="add-token">
        {made ? (
          <ShownOnce title={`API token ${made.name}:`} value={made.token} onDone={() => setMade(undefined)}>
            <p class="muted">
              Send it as <code>Authorization: Bearer …</code>. It acts with its role, never more than yours.
            </p>
          </ShownOnce>
        ) : (
          <InlineForm
            label="Create an API token"
            action={action}
            submit="Create token"
            onSubmit={async () => {
              const r = await createApiToken({ name, role, ...(expires ? { expires } : {}) });
              setMade({ name, token: r.token });
              setName('');
              tokens.reload();
            }}
          >
            <Field
              id="token-name"
              label="Name"
              required
              maxLength={100}
              hint="What it is for, e.g. ci-deploy."
              value={name}
              onInput={(e) => setName(inputValue(e))}
            />
            <SelectField
              id="token-role"
              label="Role"
              value={role}
              options={['viewer', 'user', 'admin']}
              onChange={(v) => setRole(v as Role)}
            />
            <Field
              id="token-expires"
              label="Expires after"
              maxLength={10}
              hint="Like 90d or 12h; empty: until revoked."
              value={expires}
              onInput={(e) => setExpires(inputValue(e))}
            />
          </InlineForm>
        )}
      </Panel>
      <Panel title="API tokens" id="tokens">
        <Listing
          loaded={tokens}
          what="API tokens"
          empty="No API tokens yet."
          head={['Name', 'Starts with', 'Role', 'Created', 'Expires', 'Last used', 'Actions']}
          row={(t) => <TokenRow key={t.tokenId} t={t} reload={tokens.reload} />}
        />
      </Panel>
    </>
  );
}
