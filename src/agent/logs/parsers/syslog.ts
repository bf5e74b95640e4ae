/**
 * syslog files (auth.log, syslog, messages, kern.log): RFC 3164 (`[<PRI>]Mon DD HH:MM:SS host app[pid]:
 * msg`, no year: inferred from the read time, rolling back a year for December lines read in January) and
 * RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), plus the ISO-timestamped traditional format
 * modern rsyslog writes (`2026-02-15T00:00:54.808228-06:00 host app[pid]: msg`). The level comes from PRI
 * when present, else from the message's words. A few security events are recognised (failed and accepted
 * SSH logins, sudo, the kernel's OOM killer, firewall blocks, disk I/O errors, full disks) so later analysis needs no re-parsing.
 */
import type { LogContext } from '../../../protocol/logs.js';
import { levelFromSyslogPriority, levelFromText } from '../levels.js';
import { digitsAt, inferYear, monthFromName, parseIsoTimestamp, wallClockToEpoch } from '../time.js';
import {
  defineParser,
  type LineParser,
  lineRecord,
  type ParsedRecord,
  type ParserOptions,
} from '../types.js';

const tagPattern = /^([^\s:[]+)(?:\[(\d+)\])?: ?/;
const sd5424 = /^(?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: |$)/;

/** Structured fields for well-known host security events. */
export function classifySyslogMessage(app: string, message: string, ctx: LogContext): void {
  if (app === 'sshd' || app.startsWith('sshd')) {
    let m = /^Failed (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)/.exec(message);
    if (m) {
      ctx.event = 'ssh_auth_failed';
      ctx.method = m[1]!;
      ctx.user = m[3]!;
      ctx.ip = m[4]!;
      ctx.port = Number(m[5]);
      if (m[2]) ctx.invalid_user = true;
      return;
    }
    m = /^Invalid user (.*?) from (\S+)(?: port (\d+))?/.exec(message);
    if (m) {
      ctx.event = 'ssh_invalid_user';
      ctx.user = m[1]!;
      ctx.ip = m[2]!;
      return;
    }
    m = /^Accepted (\S+) for (.*?) from (\S+) port (\d+)/.exec(message);
    if (m) {
      ctx.event = 'ssh_login';
      ctx.method = m[1]!;
      ctx.user = m[2]!;
      ctx.ip = m[3]!;
      ctx.port = Number(m[4]);
    }
    return;
  }
  if (app === 'sudo') {
    const m = /^\s*(\S+) : .*?COMMAND=(.*)$/.exec(message);
    if (m) {
      ctx.event = 'sudo';
      ctx.user = m[1]!;
      ctx.command = m[2]!;
    }
    return;
  }
  if (app === 'kernel') {
    let m = /Out of memory: Killed process (\d+) \(([^)]*)\)/.exec(message);
    if (m) {
      ctx.event = 'oom_kill';
      ctx.pid = Number(m[1]);
      ctx.process = m[2]!;
      return;
    }
    m = /\[UFW (BLOCK|ALLOW|AUDIT)\].*? SRC=(\S+) DST=(\S+)/.exec(message);
    if (m) {
      ctx.event = 'firewall_block';
      ctx.action = m[1]!.toLowerCase();
      ctx.ip = m[2]!;
      ctx.dst = m[3]!;
      return;
    }
    for (const re of ioErrorPatterns) {
      m = re.exec(message);
      if (m) {
        ctx.event = 'io_error';
        ctx.device = m[1]!;
        return;
      }
    }
  }
  if (message.includes('No space left on device')) ctx.event = 'disk_full';
}

/** Kernel lines that report a failing disk or filesystem; the first group is the device. */
const ioErrorPatterns = [
  /Buffer I\/O error on dev(?:ice)? ([\w.:-]+)/,
  /I\/O error,? dev ([\w.:-]+)/,
  /EXT[234]-fs error \(device ([\w.:-]+)\)/,
  /XFS \(([\w.:-]+)\):.*I\/O error/,
];

function parseTagAndMessage(rest: string, rec: ParsedRecord): void {
  const m = tagPattern.exec(rest);
  if (m) {
    rec.component = m[1]!;
    if (m[2]) rec.context.pid = Number(m[2]);
    rec.message = rest.slice(m[0].length);
  } else {
    rec.message = rest;
  }
}

export function createSyslogParser(opts: ParserOptions): LineParser {
  const tz = opts.timezone;
  return (line: string, now: number): ParsedRecord => {
    const rec = lineRecord(line, '');
    let i = 0;
    let priority: number | undefined;
    if (line.charCodeAt(0) === 60) {
      const close = line.indexOf('>');
      if (close > 1 && close <= 4) {
        const pri = Number(line.slice(1, close));
        if (Number.isInteger(pri) && pri >= 0 && pri <= 191) {
          priority = pri % 8;
          rec.context.facility = Math.floor(pri / 8);
          i = close + 1;
        }
      }
    }
    let rest: string | undefined;
    if (line.charCodeAt(i) === 49 && line.charCodeAt(i + 1) === 32) {
      // RFC 5424: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
      const parts = line.slice(i + 2).split(' ');
      const [stamp, host, app, procid, msgid] = parts;
      const t = stamp && stamp !== '-' ? parseIsoTimestamp(stamp, 0, tz) : undefined;
      if (t) rec.ts = t.ts;
      if (host && host !== '-') rec.context.host = host;
      rec.component = app && app !== '-' ? app : '';
      if (procid && procid !== '-' && /^\d+$/.test(procid)) rec.context.pid = Number(procid);
      if (msgid && msgid !== '-') rec.context.msgid = msgid;
      let msg = parts.slice(5).join(' ');
      const sd = sd5424.exec(msg);
      if (sd) {
        if (sd[0].trim() !== '-') rec.context.structured_data = sd[0].trim();
        msg = msg.slice(sd[0].length);
      }
      if (msg.charCodeAt(0) === 0xfeff) msg = msg.slice(1);
      rec.message = msg;
    } else {
      const month = monthFromName(line.slice(i, i + 3));
      if (month !== undefined && line.charCodeAt(i + 3) === 32) {
        // RFC 3164: "Mon DD HH:MM:SS" (day padded with a space or a zero).
        const d1 = line.charCodeAt(i + 4) === 32 ? 0 : digitsAt(line, i + 4, 1);
        const d2 = digitsAt(line, i + 5, 1);
        const hour = digitsAt(line, i + 7, 2);
        const minute = digitsAt(line, i + 10, 2);
        const second = digitsAt(line, i + 13, 2);
        if (d1 >= 0 && d2 >= 0 && hour >= 0 && minute >= 0 && second >= 0 && line.charCodeAt(i + 15) === 32) {
          const day = d1 * 10 + d2;
          const year = inferYear(month, day, now);
          rec.ts = wallClockToEpoch(year, month, day, hour, minute, second, 0, tz);
          i += 16;
          const sp = line.indexOf(' ', i);
          if (sp > i) {
            rec.context.host = line.slice(i, sp);
            rest = line.slice(sp + 1);
          } else {
            rest = line.slice(i);
          }
        }
      } else {
        const t = parseIsoTimestamp(line, i, tz);
        if (t && line.charCodeAt(t.end) === 32) {
          rec.ts = t.ts;
          const sp = line.indexOf(' ', t.end + 1);
          if (sp > t.end + 1) {
            rec.context.host = line.slice(t.end + 1, sp);
            rest = line.slice(sp + 1);
          } else {
            rest = line.slice(t.end + 1);
          }
        }
      }
      if (rest !== undefined) parseTagAndMessage(rest, rec);
      else rec.context.unparsed = true;
    }
    rec.level = priority !== undefined ? levelFromSyslogPriority(priority) : levelFromText(rec.message);
    classifySyslogMessage(rec.component, rec.message, rec.context);
    return rec;
  };
}

export const syslogParser = defineParser({
  name: 'syslog',
  component: '',
  description: 'syslog files: RFC 3164, RFC 5424 and ISO-timestamped rsyslog lines',
  create: createSyslogParser,
});
