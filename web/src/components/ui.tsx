/** Small shared pieces of the pages: panels, states, badges, a copy button, tabs. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { navigate } from '../router';

export function Panel(p: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
  id?: string;
}) {
  return (
    <section class="panel" aria-labelledby={p.id ? `${p.id}-h` : undefined} id={p.id}>
      <header class="panel-head">
        <h2 id={p.id ? `${p.id}-h` : undefined}>{p.title}</h2>
        {p.actions ? <div class="panel-actions">{p.actions}</div> : null}
      </header>
      {p.children}
    </section>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted empty">{children}</p>;
}

const severityClass: Record<string, string> = {
  critical: 'bad',
  warning: 'warn',
  info: 'info',
  ok: 'good',
  up: 'good',
  degraded: 'warn',
  silent: 'warn',
  down: 'bad',
  unknown: 'muted',
};

/** A status or severity word in its colour (the word itself carries the meaning, not only the colour). */
export function Badge({ value }: { value: string }) {
  return <span class={`badge ${severityClass[value] ?? 'muted'}`}>{value}</span>;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="copy"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        });
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/** A code block with a copy button: SQL or a shell command to run. */
export function CodeBlock({ code, label }: { code: string; label?: string }) {
  // label names the copy button ("Copy SQL"), so several blocks on a page stay distinguishable.
  return (
    <div class="codeblock">
      <pre>
        <code>{code}</code>
      </pre>
      <CopyButton text={code} label={label ? `Copy ${label}` : undefined} />
    </div>
  );
}

/** An in-app link (pushes history instead of reloading the page). */
export function Link(p: {
  href: string;
  children: ComponentChildren;
  class?: string;
  'aria-current'?: 'page';
}) {
  return (
    <a
      href={p.href}
      class={p.class}
      aria-current={p['aria-current']}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(p.href);
      }}
    >
      {p.children}
    </a>
  );
}

export function Tabs(p: { tabs: readonly { id: string; label: string; href: string }[]; current: string }) {
  return (
    <nav class="tabs" aria-label="Sections">
      {p.tabs.map((t) => (
        <Link
          key={t.id}
          href={t.href}
          class={t.id === p.current ? 'tab current' : 'tab'}
          aria-current={t.id === p.current ? 'page' : undefined}
        >
          {t.label}
        </Link>
      ))}
    </nav>
  );
}
