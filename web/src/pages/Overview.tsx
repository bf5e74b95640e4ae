import { Layout } from '../components/Layout';
import type { Params } from '../router';

export function OverviewPage(_p: { params: Params }) {
  return (
    <Layout title="Overview">
      <p>Coming together.</p>
    </Layout>
  );
}
