/** The dashboard's entry: who is signed in, then the page the URL names. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentUser, keepSessionAlive, type Me, onSignedOut, type Role } from './api';
import { Layout } from './components/Layout';
import { Loading } from './components/ui';
import { FindingsPage } from './pages/Findings';
import { HostPage } from './pages/Host';
import { LogsPage } from './pages/Logs';
import { OverviewPage } from './pages/Overview';
import { PostgresPage } from './pages/Postgres';
import { SettingsPage } from './pages/Settings';
import { SignInPage } from './pages/SignIn';
import { match, type Params, useLocation } from './router';
import { can, SessionContext } from './session';
import './styles.css';

interface Route {
  pattern: string;
  page: (p: { params: Params }) => preact.JSX.Element;
  role?: Role;
}

/** Every page of the dashboard; a page's parts below its pattern live in its query string. */
const routes: Route[] = [
  { pattern: '/', page: OverviewPage },
  // The list of servers is the overview: /servers alone shows it rather than "no page".
  { pattern: '/servers', page: OverviewPage },
  { pattern: '/servers/:server', page: HostPage },
  { pattern: '/servers/:server/postgres/:target', page: PostgresPage },
  { pattern: '/servers/:server/postgres/:target/:tab', page: PostgresPage },
  { pattern: '/logs', page: LogsPage },
  { pattern: '/findings', page: FindingsPage },
  { pattern: '/findings/:id', page: FindingsPage },
  { pattern: '/settings', page: SettingsPage, role: 'admin' },
  { pattern: '/settings/:section', page: SettingsPage, role: 'admin' },
];

function NotFound({ what, title = 'Not found' }: { what: string; title?: string }) {
  return (
    <Layout title={title} timeRange={false}>
      <p>{what}</p>
    </Layout>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const loc = useLocation();
  useEffect(() => {
    currentUser().then(setMe, () => setMe(null));
    return onSignedOut(() => setMe(null));
  }, []);
  useEffect(() => keepSessionAlive(Boolean(me)), [me]);
  if (me === undefined) return <Loading what="pgvigil" />;
  if (me === null) return <SignInPage onSignedIn={setMe} />;
  let page = <NotFound what={`There is no page at ${loc.path}.`} />;
  for (const r of routes) {
    const params = match(r.pattern, loc.path);
    if (!params) continue;
    page =
      r.role && !can(me, r.role) ? (
        <NotFound
          title="Not allowed"
          what={`This page needs the ${r.role} role; you are signed in as ${me.role}.`}
        />
      ) : (
        <r.page params={params} />
      );
    break;
  }
  return <SessionContext.Provider value={me}>{page}</SessionContext.Provider>;
}

render(<App />, document.getElementById('app')!);
