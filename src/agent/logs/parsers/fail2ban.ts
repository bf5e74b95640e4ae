/**
 * fail2ban.log: `2024-01-02 03:04:05,678 fail2ban.actions [1234]: NOTICE  [sshd] Ban 1.2.3.4`. Ban, unban
 * and "Found" lines become events with the jail and address. Lines without the time continue the entry.
 */
import { levelFromText, levelFromWord } from '../levels.js';
import { parseIsoTimestamp } from '../time.js';
import {
  defineParser,
  type LineParser,
  lineRecord,
  type ParsedRecord,
  type ParserOptions,
} from '../types.js';

const body = /^ (\S+)\s*(?:\[(\d+)\])?: (\w+)\s+(.*)$/;
const jailEvent = /^\[([^\]]+)\] (Ban|Unban|Restore Ban|Found|Ignore|already banned)\s*(\S+)?/;

export function createFail2banParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string): ParsedRecord => {
    const rec = lineRecord(line, 'fail2ban');
    const t = parseIsoTimestamp(line, 0, tz);
    const m = t ? body.exec(line.slice(t.end)) : null;
    if (!t || !m) {
      rec.continues = 'text';
      rec.level = levelFromText(line);
      return rec;
    }
    rec.ts = t.ts;
    rec.component = m[1]!;
    if (m[2]) rec.context.pid = Number(m[2]);
    rec.level = levelFromWord(m[3]!) ?? levelFromText(m[4]!);
    rec.message = m[4]!;
    const j = jailEvent.exec(rec.message);
    if (j) {
      rec.context.jail = j[1]!;
      const action = j[2]!;
      rec.context.event =
        action === 'Ban' || action === 'Restore Ban'
          ? 'fail2ban_ban'
          : action === 'Unban'
            ? 'fail2ban_unban'
            : action === 'Found'
              ? 'fail2ban_found'
              : 'fail2ban_other';
      if (j[3]) rec.context.ip = j[3];
    }
    return rec;
  };
}

export const fail2banParser = defineParser({
  name: 'fail2ban',
  component: 'fail2ban',
  description: 'fail2ban.log',
  create: createFail2banParser,
});
