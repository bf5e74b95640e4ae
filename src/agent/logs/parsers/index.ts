/** The parsers, by the name a source's `parser` setting and `logs parse --parser` use. */
import type { LogParserSpec } from '../types.js';
import { apacheErrorParser } from './apache-error.js';
import { certbotParser } from './certbot.js';
import { fail2banParser } from './fail2ban.js';
import { journaldParser } from './journald.js';
import { nginxErrorParser } from './nginx-error.js';
import { postgresStderrParser } from './postgres.js';
import { postgresAzureParser } from './postgres-azure.js';
import { postgresCloudSqlParser } from './postgres-cloudsql.js';
import { postgresCnpgParser } from './postgres-cnpg.js';
import { postgresCsvParser } from './postgres-csv.js';
import { postgresHerokuParser } from './postgres-heroku.js';
import { postgresJsonParser } from './postgres-json.js';
import { postgresRdsParser } from './postgres-rds.js';
import { postgresSyslogParser } from './postgres-syslog.js';
import { simpleTimestampParser } from './simple-timestamp.js';
import { syslogParser } from './syslog.js';

/** Null-prototype, so that a configured name such as `constructor` finds no parser. */
export const parsers: Record<string, LogParserSpec> = Object.assign(
  Object.create(null),
  Object.fromEntries(
    [
      postgresStderrParser,
      postgresCsvParser,
      postgresJsonParser,
      syslogParser,
      apacheErrorParser,
      nginxErrorParser,
      simpleTimestampParser,
      fail2banParser,
      certbotParser,
      journaldParser,
      // Wrapped PostgreSQL formats after the others, so that existing listings keep their order.
      postgresSyslogParser,
      postgresRdsParser,
      postgresCnpgParser,
      postgresCloudSqlParser,
      postgresHerokuParser,
      postgresAzureParser,
    ].map((p) => [p.name, p]),
  ),
);

export function parserNames(): string[] {
  return Object.keys(parsers);
}
