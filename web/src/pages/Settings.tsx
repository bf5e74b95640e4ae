/**
 * Settings (admin only; main.tsx refuses the route to other roles before this page runs, so it makes
 * no admin request for them). One section at a time, named in the path: /settings/<section>.
 */
import type { JSX } from 'preact';
import { Layout } from '../components/Layout';
import { Link, Tabs } from '../components/ui';
import type { Params } from '../router';
import { AgentsSection } from './settings/Agents';
import { ApiTokensSection } from './settings/ApiTokens';
import { ChannelsSection } from './settings/Channels';
import { ChecksSection } from './settings/Checks';
import { EnrollTokensSection } from './settings/EnrollTokens';
import { RetentionSection } from './settings/Retention';
import { UsersSection } from './settings/Users';

export const settingsSections: readonly { id: string; label: string; page: () => JSX.Element }[] = [
  { id: 'users', label: 'Users', page: UsersSection },
  { id: 'tokens', label: 'API tokens', page: ApiTokensSection },
  { id: 'enrollment', label: 'Enrollment tokens', page: EnrollTokensSection },
  { id: 'agents', label: 'Agents', page: AgentsSection },
  { id: 'notifications', label: 'Notification channels', page: ChannelsSection },
  { id: 'retention', label: 'Retention', page: RetentionSection },
  { id: 'checks', label: 'Check thresholds', page: ChecksSection },
];

export function SettingsPage({ params }: { params: Params }) {
  const id = params.section ?? 'users';
  const section = settingsSections.find((s) => s.id === id);
  return (
    <Layout title={section ? `Settings: ${section.label}` : 'Settings'} timeRange={false}>
      <Tabs
        tabs={settingsSections.map((s) => ({ id: s.id, label: s.label, href: `/settings/${s.id}` }))}
        current={section?.id ?? ''}
      />
      {section ? (
        <section.page key={section.id} />
      ) : (
        <p>
          There is no settings section “{id}”. <Link href="/settings/users">Users</Link>
        </p>
      )}
    </Layout>
  );
}
