import { Layout } from '../components/Layout';
import type { Params } from '../router';

export function FindingsPage(_p: { params: Params }) {
  return (
    <Layout title="Findings">
      <p>Coming together.</p>
    </Layout>
  );
}
