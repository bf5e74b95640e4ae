/**
 * Config files as users meet them, through the real `pgvigil` command: `config check` naming the line of a
 * mistake, `config print` showing where each value comes from, the precedence defaults < file <
 * environment < flags in a running agent, the agent re-reading its file on SIGHUP (and keeping its
 * configuration when the new file is wrong), and the two log formats.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from '../src/storage/cluster.js';
import { runCli, startCli } from './helpers/cli.js';
import { createTestDatabase } from './helpers/db.js';
import { until } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const servingLine = /serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/;

describe('config check and print', () => {
  test('a_mistake_on_a_known_line_is_reported_with_file_line_and_key', async () => {
    const path = file('agent.toml', [
      '# the agent of db1',
      'listen = "127.0.0.1:9100"',
      '',
      'watch_process = ["postgres"]',
      '',
      '',
      'intervl = "5s"',
      'logs = "no"',
    ]);
    const r = await runCli(['config', 'check', path]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`${path}:7: key "intervl": unknown key \\(did you mean "interval"\\?\\)`),
    );
    assert.match(r.stderr, new RegExp(`${path}:8: key "logs": expected true or false, got a string`));

    const syntax = file('server.toml', ['port = 8470', 'host = "0.0.0.0']);
    const s = await runCli(['config', 'check', syntax]);
    assert.equal(s.code, 2);
    assert.match(s.stderr, new RegExp(`${syntax}:2:\\d+: TOML syntax error`));

    const good = file('good-agent.toml', ['listen = "127.0.0.1:9100"', 'interval = "30s"']);
    const ok = await runCli(['config', 'check', good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ok \(agent, 2 key\(s\)\)/);
  });

  test('print_shows_each_value_with_its_source_env_over_file_and_masks_secrets', async () => {
    const path = file('server.toml', [
      'host = "0.0.0.0"',
      'port = 9000',
      'database_url = "postgres://pgvigil:s3cret@db:5432/pgvigil"',
    ]);
    const r = await runCli(['config', 'print', '--config', path], { PGVIGIL_PORT: '9100' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^host = "0\\.0\\.0\\.0" +# ${path}:1$`, 'm'));
    assert.match(
      r.stdout,
      /^port = 9100 +# environment PGVIGIL_PORT$/m,
      'the environment wins over the file',
    );
    assert.match(r.stdout, /^database_url = "postgres:\/\/pgvigil:\*{8}@db:5432\/pgvigil"/m);
    assert.doesNotMatch(r.stdout, /s3cret/);
    assert.match(r.stdout, /^log_level = "warn" +# environment PGVIGIL_LOG_LEVEL$/m);
    assert.match(r.stdout, /^# tls_cert = +# not set$/m);
  });
});

describe('precedence in a running agent', () => {
  test('file_sets_what_no_flag_or_variable_gives_env_beats_file_and_a_flag_beats_both', async () => {
    const path = file('prec.toml', [
      'listen = "127.0.0.1:0"',
      'interval = "3s"',
      'proc_root = "/no/such/proc"',
    ]);
    // The file's proc_root is wrong: the start is refused naming the file's line.
    const fromFile = await runCli(['agent', '--config', path]);
    assert.equal(fromFile.code, 2);
    assert.match(fromFile.stderr, new RegExp(`${path}:3: key "proc_root": /no/such/proc: no such directory`));

    // The environment overrides the file: the agent starts, with the file's interval.
    const env = startCli(['agent', '--config', path], { PGVIGIL_PROC_ROOT: '/proc' });
    try {
      const m = await env.waitFor(/serving .*every (\S+)\)/);
      assert.equal(m[1], '3s', 'the interval comes from the file');
    } finally {
      assert.equal(await env.stop(), 0, env.output().stderr);
    }

    // A flag overrides the environment and the file.
    const flag = await runCli(['agent', '--config', path, '--proc-root', '/no/such/flag'], {
      PGVIGIL_PROC_ROOT: '/proc',
    });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--proc-root \/no\/such\/flag: no such directory/);
    const interval = startCli(['agent', '--config', path, '--interval', '2s'], {
      PGVIGIL_PROC_ROOT: '/proc',
    });
    try {
      assert.equal((await interval.waitFor(/serving .*every (\S+)\)/))[1], '2s');
    } finally {
      await interval.stop();
    }
  });
});

describe('server', () => {
  test('the_server_listens_where_its_file_says_unless_a_flag_says_otherwise', async () => {
    const db = await createTestDatabase('config_server');
    const [filePort, flagPort] = [await freePort(), await freePort()];
    const path = file('server.toml', ['host = "127.0.0.1"', `port = ${filePort}`, 'log_format = "json"']);
    try {
      for (const [args, port] of [
        [[], filePort],
        [['--port', String(flagPort)], flagPort],
      ] as const) {
        const server = startCli(['server', '--config', path, ...args], { DATABASE_URL: db.url });
        try {
          await server.waitFor(new RegExp(`server listening: http://127\\.0\\.0\\.1:${port} `), 30_000);
        } finally {
          assert.equal(await server.stop(), 0, server.output().stderr);
        }
      }
    } finally {
      await db.drop();
    }
  });
});

describe('SIGHUP', () => {
  test('the_agent_reloads_its_config_file_and_keeps_the_running_one_when_the_new_file_is_wrong', async () => {
    const path = file('hup.toml', [
      'listen = "127.0.0.1:0"',
      'interval = "1s"',
      'watch_process = ["pgvigil-none-a"]',
    ]);
    const agent = startCli(['agent', '--config', path]);
    try {
      const url = (await agent.waitFor(servingLine))[1]!;
      const metrics = async () => (await fetch(url)).text();
      assert.match(await metrics(), /pgvigil_process_up\{watch="pgvigil-none-a"\} 0/);

      file('hup.toml', ['listen = "127.0.0.1:0"', 'interval = "1s"', 'watch_process = ["pgvigil-none-b"]']);
      agent.child.kill('SIGHUP');
      await until(
        async () => /watch="pgvigil-none-b"/.test(await metrics()),
        15_000,
        'the new watch on /metrics',
      );
      assert.doesNotMatch(await metrics(), /watch="pgvigil-none-a"/);

      file('hup.toml', [
        'listen = "127.0.0.1:0"',
        'interval = "1s"',
        'watch_process = ["pgvigil-none-c"]',
        'watch_procss = ["x"]',
      ]);
      agent.child.kill('SIGHUP');
      await until(() => /config file not applied/.test(agent.output().stderr), 15_000, 'the refusal logged');
      assert.match(agent.output().stderr, /hup\.toml:4: key \\"watch_procss\\": unknown key/);
      await new Promise((r) => setTimeout(r, 1500));
      const after = await metrics();
      assert.match(after, /watch="pgvigil-none-b"/, 'the running configuration stays');
      assert.doesNotMatch(after, /watch="pgvigil-none-c"/);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output().stderr);
    }
  });
});

describe('log format', () => {
  test('text_gives_one_readable_line_per_event_and_json_one_object_per_line', async () => {
    const text = startCli([
      'agent',
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'info',
      '--log-format',
      'text',
    ]);
    try {
      await text.waitFor(servingLine);
      await until(() => /agent running/.test(text.output().stderr), 5000, 'the running line');
    } finally {
      await text.stop();
    }
    assert.match(
      text.output().stderr,
      /^\d\d:\d\d:\d\d INFO {2}agent running {2}url=http:\/\/127\.0\.0\.1:\d+ /m,
    );
    assert.doesNotMatch(text.output().stderr, /^\{/m);

    // Not a terminal: JSON by default, and with --log-format json.
    for (const args of [[], ['--log-format', 'json']]) {
      const json = startCli(['agent', '--listen', '127.0.0.1:0', '--log-level', 'info', ...args]);
      try {
        await json.waitFor(servingLine);
        await until(() => /agent running/.test(json.output().stderr), 5000, 'the running line');
      } finally {
        await json.stop();
      }
      const lines = json.output().stderr.trim().split('\n');
      const running = lines
        .map((l) => JSON.parse(l) as { msg: string; level: number })
        .find((e) => e.msg === 'agent running');
      assert.equal(running?.level, 30);
    }
  });
});

describe('log format on a terminal', () => {
  test('on_a_terminal_the_default_is_text', async (t) => {
    const { existsSync } = await import('node:fs');
    const { spawn } = await import('node:child_process');
    const { binPath } = await import('./helpers/cli.js');
    if (!existsSync('/usr/bin/script')) return t.skip('needs script(1) for a pseudo-terminal');
    const cmd = `${process.execPath} ${binPath} agent --listen 127.0.0.1:0 --log-level info`;
    const child = spawn('/usr/bin/script', ['-qec', cmd, '/dev/null'], {
      env: Object.fromEntries(
        Object.entries({ ...process.env, PGVIGIL_LOG_LEVEL: 'info', NO_COLOR: '1' }).filter(
          ([k]) => k !== 'PGVIGIL_LOG_FORMAT',
        ),
      ),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      await until(() => /agent running/.test(out), 15_000, 'the running line on the terminal');
    } finally {
      child.kill('SIGTERM');
    }
    assert.match(out, /^\d\d:\d\d:\d\d INFO {2}agent running {2}url=http:\/\/127\.0\.0\.1:\d+ /m);
    assert.doesNotMatch(out, /"msg":/);
  });
});

describe('example files', () => {
  test('the_examples_pass_config_check_and_show_every_key_of_their_command', async () => {
    const { packageRoot } = await import('../src/version.js');
    const { readFileSync } = await import('node:fs');
    for (const [kind, example] of [
      ['agent', 'agent.toml'],
      ['server', 'server.toml'],
      ['up', 'server.toml'],
    ] as const) {
      const path = join(packageRoot, 'docs', 'examples', example);
      const check = await runCli(['config', 'check', path, '--kind', kind]);
      assert.equal(check.code, 0, check.stderr);
      const printed = await runCli(['config', 'print', '--kind', kind]);
      const keys = [...printed.stdout.matchAll(/^(?:# )?([a-z0-9_]+) =/gm)].map((m) => m[1]!);
      assert.ok(keys.length > 5, printed.stdout);
      const text = readFileSync(path, 'utf8');
      const missing = keys.filter((k) => !new RegExp(`^(?:# )?${k} =`, 'm').test(text));
      assert.deepEqual(missing, [], `docs/examples/${example} documents every ${kind} key`);
    }
  });
});
