/**
 * Amazon RDS and Aurora PostgreSQL logs (the files `aws rds download-db-log-file-portion` returns, or
 * CloudWatch Logs exports of them). The service fixes log_line_prefix to `%t:%r:%u@%d:[%p]:`, e.g.
 * `2026-12-03 07:50:05 UTC:10.0.0.5(51240):bob@app:[2046]:ERROR:  division by zero`; background processes
 * leave the client part empty (`…UTC::@:[2001]:LOG:  checkpoint starting: time`). This is the stderr
 * parser with that prefix as its default (`--prefix` still overrides it).
 */
import { defineParser, type LineParser, type ParserOptions } from '../types.js';
import { createPostgresStderrParser } from './postgres.js';

export const rdsLogLinePrefix = '%t:%r:%u@%d:[%p]:';

export function createPostgresRdsParser(opts: ParserOptions): LineParser {
  return createPostgresStderrParser({ ...opts, prefix: opts.prefix ?? rdsLogLinePrefix });
}

export const postgresRdsParser = defineParser({
  name: 'postgresql_rds',
  component: 'postgres',
  description: "Amazon RDS / Aurora PostgreSQL log (log_line_prefix '%t:%r:%u@%d:[%p]:')",
  create: createPostgresRdsParser,
  postgres: true,
});
