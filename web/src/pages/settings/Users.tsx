/** Users: who may sign in, with which role; add (password generated or set), change role, disable, reset. */
import { useState } from 'preact/hooks';
import { addUser, listUsers, type Role, type UserRow, updateUser } from '../../api';
import { Badge, Panel } from '../../components/ui';
import { useData } from '../../data';
import { formatTime } from '../../format';
import { useMe } from '../../session';
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

const roles: Role[] = ['viewer', 'user', 'admin'];

function AddUser({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [made, setMade] = useState<{ name: string; password: string }>();
  const action = useAction();
  if (made)
    return (
      <ShownOnce
        title={`Password of ${made.name}:`}
        value={made.password}
        onDone={() => setMade(undefined)}
      />
    );
  return (
    <InlineForm
      label="Add a user"
      action={action}
      submit="Add user"
      onSubmit={async () => {
        const r = await addUser({ name, role, ...(password ? { password } : {}) });
        setName('');
        setPassword('');
        if (r.password) setMade({ name: r.name, password: r.password });
        onAdded();
      }}
    >
      <Field
        id="user-name"
        label="Name"
        required
        maxLength={64}
        autocomplete="off"
        value={name}
        onInput={(e) => setName(inputValue(e))}
      />
      <SelectField
        id="user-role"
        label="Role"
        value={role}
        options={roles}
        onChange={(v) => setRole(v as Role)}
      />
      <Field
        id="user-password"
        label="Password (optional)"
        type="password"
        autocomplete="new-password"
        minLength={10}
        maxLength={1024}
        hint="At least 10 characters; leave empty to have one generated and shown once."
        value={password}
        onInput={(e) => setPassword(inputValue(e))}
      />
    </InlineForm>
  );
}

function ResetPassword({ user, onDone }: { user: UserRow; onDone: (set: boolean) => void }) {
  const [password, setPassword] = useState('');
  const action = useAction();
  return (
    <InlineForm
      label={`New password for ${user.name}`}
      action={action}
      submit="Set password"
      onSubmit={async () => {
        await updateUser(user.userId, { password });
        onDone(true);
      }}
    >
      <Field
        id={`reset-${user.userId}`}
        label={`New password for ${user.name}`}
        type="password"
        autocomplete="new-password"
        required
        minLength={10}
        maxLength={1024}
        hint="Ends their sessions."
        value={password}
        onInput={(e) => setPassword(inputValue(e))}
      />
      <button type="button" onClick={() => onDone(false)}>
        Cancel
      </button>
    </InlineForm>
  );
}

function UserRowView({ user, reload }: { user: UserRow; reload: () => void }) {
  const me = useMe();
  const action = useAction();
  const [resetting, setResetting] = useState(false);
  const [notice, setNotice] = useState<string>();
  const self = user.userId === me.userId;
  return (
    <tr>
      <td>
        {user.name}
        {self ? <span class="muted"> (you)</span> : null}
      </td>
      <td>
        <label class="sr-only" for={`role-${user.userId}`}>
          Role of {user.name}
        </label>
        <select
          id={`role-${user.userId}`}
          value={user.role}
          disabled={action.busy}
          onChange={(e) => {
            const role = inputValue(e) as Role;
            void action.run(() => updateUser(user.userId, { role })).then(reload);
          }}
        >
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </td>
      <td>{user.disabled ? <Badge value="disabled" /> : <span class="muted">active</span>}</td>
      <td>{formatTime(user.createdAt)}</td>
      <td class="actions">
        {resetting ? (
          <ResetPassword
            user={user}
            onDone={(set) => {
              setResetting(false);
              setNotice(set ? `New password set; ${user.name}'s sessions ended.` : undefined);
            }}
          />
        ) : (
          <button
            type="button"
            onClick={() => {
              setNotice(undefined);
              setResetting(true);
            }}
          >
            Reset password
          </button>
        )}
        {user.disabled ? (
          <button
            type="button"
            disabled={action.busy}
            onClick={() => void action.run(() => updateUser(user.userId, { disabled: false })).then(reload)}
          >
            Enable
          </button>
        ) : (
          <ConfirmButton
            label="Disable"
            question={`Disable ${user.name}? Their sessions end now.`}
            action={action}
            onConfirm={async () => {
              await updateUser(user.userId, { disabled: true });
              reload();
            }}
          />
        )}
        {notice ? (
          <p role="status" class="muted">
            {notice}
          </p>
        ) : null}
        <ActionError action={action} />
      </td>
    </tr>
  );
}

export function UsersSection() {
  const users = useData((s) => listUsers(s), []);
  return (
    <>
      <Panel title="Add a user" id="add-user">
        <AddUser onAdded={users.reload} />
      </Panel>
      <Panel title="Users" id="users">
        <Listing
          loaded={users}
          what="users"
          empty="No users."
          head={['Name', 'Role', 'State', 'Added', 'Actions']}
          row={(u) => <UserRowView key={u.userId} user={u} reload={users.reload} />}
        />
      </Panel>
    </>
  );
}
