/**
 * The ledger-prune job. The ingest ledger only has to remember batches that could still arrive again: a
 * retry older than raw retention would have every row refused anyway. Gaps are kept (the UI shows them).
 */
import type { RetentionPolicy } from '../../storage/partitions.js';
import { deleteLedgerRowsBefore } from '../../storage/queries/ledger.sql.js';
import { effectiveRetention } from '../settings.js';
import type { Job } from './runner.js';

export function ledgerPruneJob(retention: RetentionPolicy): Job {
  return {
    name: 'ledger-prune',
    intervalMs: 6 * 3_600_000,
    run: async ({ pool, log, now }) => {
      const { rawDays } = await effectiveRetention(pool, retention);
      const deleted = await deleteLedgerRowsBefore(
        pool,
        new Date(now.getTime() - (rawDays + 1) * 86_400_000),
      );
      if (deleted) log.info({ deleted }, 'ingest ledger pruned');
    },
  };
}
