/**
 * Sign-in. On a first start `pgvigil up` prints the generated admin password on its terminal; the hint
 * here says where to look.
 */
import { useState } from 'preact/hooks';
import { type Me, signIn } from '../api';

export function SignInPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  document.title = 'Sign in · pgvigil';
  return (
    <main id="main" class="signin">
      <h1>pgvigil</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          signIn(name, password).then(
            (s) => onSignedIn({ ...s.user, via: 'session' }),
            (err: unknown) => {
              setBusy(false);
              setError(err instanceof Error ? err.message : String(err));
            },
          );
        }}
      >
        <label for="signin-name">Name</label>
        <input
          id="signin-name"
          name="username"
          autocomplete="username"
          required
          maxLength={64}
          value={name}
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
        <label for="signin-password">Password</label>
        <input
          id="signin-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          maxLength={1024}
          value={password}
          onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
        />
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <p class="muted hint">
        First start? <code>pgvigil up</code> printed the password of the user <code>admin</code> on its
        terminal.
      </p>
    </main>
  );
}
