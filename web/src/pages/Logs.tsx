import { Layout } from '../components/Layout';
import type { Params } from '../router';

export function LogsPage(_p: { params: Params }) {
  return (
    <Layout title="Logs">
      <p>Coming together.</p>
    </Layout>
  );
}
