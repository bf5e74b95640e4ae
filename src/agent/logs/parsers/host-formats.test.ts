import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LogEntry } from '../../../protocol/logs.js';
import { EntryAssembler } from '../assemble.js';
import { parsers } from './index.js';
import { createJournaldParser, stripAnsi } from './journald.js';
import { createSyslogParser } from './syslog.js';

function entries(
  parser: string,
  text: string,
  now = Date.UTC(2026, 10, 22, 12),
  timezone = 'UTC',
): LogEntry[] {
  const asm = new EntryAssembler(parsers[parser]!, { source: 's', timezone });
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    const e = asm.push(line, now, 0);
    if (e) out.push(e);
  }
  out.push(...asm.flush());
  return out;
}

describe('syslog parser', () => {
  const parse = createSyslogParser({ timezone: 'UTC' });

  test('infers_the_year_of_rfc3164_lines', () => {
    const r = parse(
      'Nov 22 10:00:01 db1 sshd[811]: Accepted publickey for deploy from 10.0.0.9 port 5022 ssh2',
      Date.UTC(2026, 10, 22, 12),
    );
    assert.equal(r.ts, Date.UTC(2026, 10, 22, 10, 0, 1));
    assert.equal(r.component, 'sshd');
    assert.equal(r.context.host, 'db1');
    assert.equal(r.context.pid, 811);
    assert.equal(r.context.event, 'ssh_login');
    assert.equal(r.context.user, 'deploy');
  });

  test('puts_december_lines_read_in_january_in_the_previous_year', () => {
    const jan1 = Date.UTC(2027, 0, 1, 0, 5);
    assert.equal(parse('Dec 31 23:59:59 h cron[1]: x', jan1).ts, Date.UTC(2026, 11, 31, 23, 59, 59));
    assert.equal(parse('Jan  1 00:01:00 h cron[1]: x', jan1).ts, Date.UTC(2027, 0, 1, 0, 1));
  });

  test('reads_wall_clock_times_in_the_configured_zone', () => {
    const paris = createSyslogParser({ timezone: 'Europe/Paris' });
    // July: CEST, UTC+2; January: CET, UTC+1.
    assert.equal(paris('Jul  1 12:00:00 h app: x', Date.UTC(2026, 6, 2)).ts, Date.UTC(2026, 6, 1, 10));
    assert.equal(paris('Jan 15 12:00:00 h app: x', Date.UTC(2026, 0, 20)).ts, Date.UTC(2026, 0, 15, 11));
  });

  test('reads_rfc5424_with_priority_and_structured_data', () => {
    const r = parse(
      '<34>1 2026-10-11T22:14:15.003Z mymachine su 77 ID47 [exampleSDID@32473 iut="3"] \'su root\' failed',
      0,
    );
    assert.equal(r.ts, Date.UTC(2026, 9, 11, 22, 14, 15, 3));
    assert.equal(r.level, 'fatal'); // 34 = auth.crit
    assert.equal(r.component, 'su');
    assert.equal(r.context.pid, 77);
    assert.equal(r.context.msgid, 'ID47');
    assert.equal(r.context.structured_data, '[exampleSDID@32473 iut="3"]');
    assert.equal(r.message, "'su root' failed");
  });

  test('reads_iso_timestamped_rsyslog_lines_with_their_offset', () => {
    const r = parse(
      '2026-02-15T00:00:54.808228-06:00 web kernel: [UFW BLOCK] IN=eth0 SRC=203.0.113.7 DST=10.0.0.2 LEN=40',
      0,
    );
    assert.equal(r.ts, Date.UTC(2026, 1, 15, 6, 0, 54, 808));
    assert.equal(r.context.event, 'firewall_block');
    assert.equal(r.context.ip, '203.0.113.7');
  });

  test('recognises_failed_ssh_logins_and_the_oom_killer', () => {
    const f = parse(
      'Nov 22 10:00:01 db1 sshd[9]: Failed password for invalid user admin from 198.51.100.4 port 4242 ssh2',
      0,
    );
    assert.equal(f.context.event, 'ssh_auth_failed');
    assert.equal(f.context.invalid_user, true);
    assert.equal(f.context.ip, '198.51.100.4');
    assert.equal(f.level, 'warning');
    const k = parse(
      'Nov 22 10:00:01 db1 kernel: [123.4] Out of memory: Killed process 4242 (postgres) total-vm:1kB',
      0,
    );
    assert.equal(k.context.event, 'oom_kill');
    assert.equal(k.context.process, 'postgres');
    assert.equal(k.level, 'error');
  });

  test('recognises_kernel_disk_io_errors_with_their_device_and_full_disks', () => {
    const lines: Array<[string, string]> = [
      [
        'Nov 22 10:00:01 db1 kernel: [8123.456789] blk_update_request: I/O error, dev sdb, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0',
        'sdb',
      ],
      [
        'Nov 22 10:00:01 db1 kernel: [8123.456901] Buffer I/O error on dev sdb1, logical block 256, lost async page write',
        'sdb1',
      ],
      [
        'Nov 22 10:00:02 db1 kernel: [8124.000001] EXT4-fs error (device sdb1): ext4_find_entry:1455: inode #2: comm postgres: reading directory lblock 0',
        'sdb1',
      ],
      [
        'Nov 22 10:00:03 db1 kernel: [9001.1] I/O error, dev nvme0n1, sector 1234 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2',
        'nvme0n1',
      ],
      [
        'Nov 22 10:00:04 db1 kernel: [9002.2] XFS (dm-0): metadata I/O error in "xfs_da_read_buf+0x80" at daddr 0x2',
        'dm-0',
      ],
    ];
    for (const [line, device] of lines) {
      const r = parse(line, 0);
      assert.equal(r.context.event, 'io_error', line);
      assert.equal(r.context.device, device, line);
      assert.equal(r.level, 'error', line);
    }
    const full = parse(
      "Nov 22 10:00:05 db1 rsyslogd: file '/var/log/syslog': write error: No space left on device",
      0,
    );
    assert.equal(full.context.event, 'disk_full');
    // A line that only mentions a device is not an error.
    assert.equal(
      parse('Nov 22 10:00:06 db1 kernel: [1.0] sd 0:0:0:0: [sdb] Attached SCSI disk', 0).context.event,
      undefined,
    );
  });
});

describe('other host formats', () => {
  test('reads_apache_2_4_and_2_2_error_lines', () => {
    const [a, b] = entries(
      'apache_error',
      '[Wed Oct 11 14:32:52.123456 2026] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:50504] AH00037: Symbolic link not allowed\n[Wed Oct 11 14:32:53 2026] [warn] [client 127.0.0.1] old style',
    );
    assert.equal(a!.level, 'error');
    assert.equal(a!.component, 'core');
    assert.equal(a!.context.pid, 35708);
    assert.equal(a!.context.client, '72.15.99.187');
    assert.equal(a!.context.code, 'AH00037');
    assert.equal(a!.ts, '2026-10-11T14:32:52.123Z');
    assert.equal(b!.level, 'warning');
    assert.equal(b!.message, 'old style');
  });

  test('reads_nginx_error_lines_and_their_trailing_fields', () => {
    const [e] = entries(
      'nginx_error',
      '2026/11/22 03:04:05 [crit] 1234#5678: *9 connect() to unix:/run/php.sock failed (2: No such file or directory) while connecting to upstream, client: 10.0.0.1, server: example.org, request: "GET / HTTP/1.1", upstream: "fastcgi://unix:/run/php.sock:", host: "example.org"',
    );
    assert.equal(e!.level, 'fatal');
    assert.equal(e!.context.pid, 1234);
    assert.equal(e!.context.connection, 9);
    assert.equal(e!.context.client, '10.0.0.1');
    assert.equal(e!.context.request, 'GET / HTTP/1.1');
    assert.match(e!.message, /while connecting to upstream$/);
  });

  test('reads_simple_timestamp_lines_with_and_without_a_level', () => {
    const [a, b, c] = entries(
      'simple_timestamp',
      '[2026-11-22 10:00:00] ERROR: health check failed\n2026-11-22 10:00:01 all good\n2026-11-22T10:00:02+02:00 [warn] slow',
    );
    assert.equal(a!.level, 'error');
    assert.equal(a!.message, 'health check failed');
    assert.equal(b!.level, 'info');
    assert.equal(c!.level, 'warning');
    assert.equal(c!.ts, '2026-11-22T08:00:02.000Z');
  });

  test('reads_fail2ban_bans', () => {
    const [e] = entries(
      'fail2ban',
      '2026-11-22 10:00:00,123 fail2ban.actions        [812]: NOTICE  [sshd] Ban 198.51.100.4',
    );
    assert.equal(e!.level, 'notice');
    assert.equal(e!.component, 'fail2ban.actions');
    assert.equal(e!.context.event, 'fail2ban_ban');
    assert.equal(e!.context.jail, 'sshd');
    assert.equal(e!.context.ip, '198.51.100.4');
    assert.equal(e!.ts, '2026-11-22T10:00:00.123Z');
  });

  test('reads_certbot_lines_and_keeps_tracebacks_with_their_entry', () => {
    const [e, next] = entries(
      'certbot',
      [
        '2026-11-22 10:00:00,001:ERROR:certbot._internal.renewal:Failed to renew certificate example.org',
        'Traceback (most recent call last):',
        '  File "x.py", line 1',
        '2026-11-22 10:00:01,000:DEBUG:certbot._internal.main:done',
      ].join('\n'),
    );
    assert.equal(e!.level, 'error');
    assert.equal(e!.component, 'certbot._internal.renewal');
    assert.equal(e!.context.event, 'certificate_renewal_failed');
    assert.match(e!.message, /Traceback[\s\S]*line 1$/);
    assert.equal(next!.level, 'debug');
  });
});

describe('journald parser', () => {
  const parse = createJournaldParser({});

  test('decodes_a_byte_array_message_and_strips_ansi_colours', () => {
    const bytes = [...Buffer.from('\u001b[32mINFO\u001b[0m ready ✓')];
    const r = parse(
      JSON.stringify({
        MESSAGE: bytes,
        PRIORITY: '6',
        SYSLOG_IDENTIFIER: 'api',
        __REALTIME_TIMESTAMP: '1795345872345678',
        _PID: '42',
      }),
      0,
    );
    assert.equal(r.message, 'INFO ready ✓');
    assert.equal(r.ts, 1795345872345);
    assert.equal(r.component, 'api');
    assert.equal(r.context.pid, 42);
  });

  test('takes_the_level_from_priority_and_from_tracing_output', () => {
    assert.equal(parse(JSON.stringify({ MESSAGE: 'disk failing', PRIORITY: '2' }), 0).level, 'fatal');
    assert.equal(parse(JSON.stringify({ MESSAGE: 'x', PRIORITY: '4' }), 0).level, 'warning');
    const t = parse(
      JSON.stringify({ MESSAGE: '2026-11-22T10:00:00.5Z  WARN proxy::tls: handshake slow', PRIORITY: '6' }),
      0,
    );
    assert.equal(t.level, 'warning');
    assert.equal(t.component, 'proxy::tls');
    assert.equal(t.message, 'handshake slow');
    assert.equal(t.ts, Date.UTC(2026, 10, 22, 10, 0, 0, 500));
  });

  test('strips_osc_and_csi_sequences', () => {
    assert.equal(stripAnsi('\u001b]0;title\u0007a\u001b[1;31mb\u001b[0m'), 'ab');
  });
});
