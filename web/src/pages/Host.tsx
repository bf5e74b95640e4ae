import { Layout } from '../components/Layout';
import type { Params } from '../router';

export function HostPage(_p: { params: Params }) {
  return (
    <Layout title="Host">
      <p>Coming together.</p>
    </Layout>
  );
}
