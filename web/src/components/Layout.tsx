/** The frame of every signed-in page: navigation (what the role allows), the time picker, sign-out. */
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { notifySignedOut, signOut } from '../api';
import { keepQuery, useLocation } from '../router';
import { can, useMe } from '../session';
import { useTimeRange } from '../time';
import { TimePicker } from './TimePicker';
import { Link } from './ui';

export function Layout(p: { title: string; children: ComponentChildren; timeRange?: boolean }) {
  const me = useMe();
  useEffect(() => {
    document.title = `${p.title} · pgvigil`;
  }, [p.title]);
  const loc = useLocation();
  const range = useTimeRange();
  const q = keepQuery();
  const items = [
    { href: '/', label: 'Overview', active: loc.path === '/' || loc.path.startsWith('/servers') },
    { href: '/findings', label: 'Findings', active: loc.path.startsWith('/findings') },
    { href: '/logs', label: 'Logs', active: loc.path.startsWith('/logs') },
    ...(can(me, 'admin')
      ? [{ href: '/settings', label: 'Settings', active: loc.path.startsWith('/settings') }]
      : []),
  ];
  return (
    <div class="frame">
      <header class="topbar">
        <Link href={`/${q}`} class="brand">
          pgvigil
        </Link>
        <nav aria-label="Main" class="mainnav">
          {items.map((i) => (
            <Link
              key={i.href}
              href={`${i.href}${q}`}
              class={i.active ? 'current' : undefined}
              aria-current={i.active ? 'page' : undefined}
            >
              {i.label}
            </Link>
          ))}
        </nav>
        <div class="topbar-right">
          {p.timeRange === false ? null : <TimePicker range={range} />}
          <span class="who" title={`signed in as ${me.name} (${me.role})`}>
            {me.name} <span class="muted">({me.role})</span>
          </span>
          <button
            type="button"
            onClick={() => {
              void signOut()
                .catch(() => undefined)
                .then(notifySignedOut);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <h1>{p.title}</h1>
        {p.children}
      </main>
    </div>
  );
}
