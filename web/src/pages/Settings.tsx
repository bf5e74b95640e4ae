import { Layout } from '../components/Layout';
import type { Params } from '../router';

export function SettingsPage(_p: { params: Params }) {
  return (
    <Layout title="Settings">
      <p>Coming together.</p>
    </Layout>
  );
}
