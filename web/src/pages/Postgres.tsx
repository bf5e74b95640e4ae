/**
 * One PostgreSQL target: its sections as tabs (`/servers/:server/postgres/:target/:tab`), each in
 * ./postgres/<Section>.tsx. Every section reads the page's one time range.
 */
import { Layout } from '../components/Layout';
import { Tabs } from '../components/ui';
import { keepQuery, type Params } from '../router';
import { ActivitySection } from './postgres/Activity';
import { ObjectsSection } from './postgres/Objects';
import { OverviewSection } from './postgres/Overview';
import { ReplicationSection } from './postgres/Replication';
import { SettingsSection } from './postgres/Settings';
import { StatementsSection } from './postgres/Statements';

export interface TargetParams {
  server: number;
  target: number;
}

const sections = [
  { id: 'overview', label: 'Overview', view: OverviewSection },
  { id: 'activity', label: 'Activity', view: ActivitySection },
  { id: 'statements', label: 'Statements', view: StatementsSection },
  { id: 'objects', label: 'Tables and indexes', view: ObjectsSection },
  { id: 'replication', label: 'Replication and WAL', view: ReplicationSection },
  { id: 'settings', label: 'Settings', view: SettingsSection },
] as const;

export function PostgresPage({ params }: { params: Params }) {
  const server = Number(params.server);
  const target = Number(params.target);
  const tab = sections.find((s) => s.id === (params.tab ?? 'overview'));
  const base = `/servers/${server}/postgres/${target}`;
  const q = keepQuery();
  if (!Number.isSafeInteger(server) || !Number.isSafeInteger(target) || !tab) {
    return (
      <Layout title="PostgreSQL">
        <p>There is no such PostgreSQL page.</p>
      </Layout>
    );
  }
  const View = tab.view;
  return (
    <Layout title="PostgreSQL">
      <Tabs
        current={tab.id}
        tabs={sections.map((s) => ({
          id: s.id,
          label: s.label,
          href: `${base}${s.id === 'overview' ? '' : `/${s.id}`}${q}`,
        }))}
      />
      <View server={server} target={target} />
    </Layout>
  );
}
