/**
 * The systemd units in deploy/systemd/ as systemd reads them: `systemd-analyze verify` must accept both
 * without a warning. verify also checks that ExecStart's binary exists and is executable; the units name
 * /usr/local/bin/pgvigil (where `npm install -g` puts it), so the test verifies copies that name this
 * tree's bin/pgvigil.js instead, with every other line as shipped. Also: the agent's unit gives node the
 * heap flags its --max-memory implies, and `pgvigil agent --print-systemd-unit` prints the shipped file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { heapFlags, memoryBounds } from '../src/agent/memory.js';
import { packageRoot } from '../src/version.js';
import { runCli } from './helpers/cli.js';
import { debianToolSkip } from './helpers/pg-cluster.js';

const run = promisify(execFile);
const systemdAnalyze = '/usr/bin/systemd-analyze';
const unitDir = join(packageRoot, 'deploy', 'systemd');
const units = ['pgvigil-agent.service', 'pgvigil-server.service'];
const installedBin = '/usr/local/bin/pgvigil';

function unitText(name: string): string {
  return readFileSync(join(unitDir, name), 'utf8');
}

/** The value of the last `key=` line of a unit (systemd's rule for single-valued settings). */
function setting(text: string, key: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.startsWith(`${key}=`));
  return lines.at(-1)?.slice(key.length + 1);
}

describe('systemd units', () => {
  const work = mkdtempSync(join(tmpdir(), 'pgvigil-units-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  test('systemd_analyze_verify_accepts_both_units_without_a_warning', {
    skip: debianToolSkip(systemdAnalyze, 'systemd'),
  }, async () => {
    const paths = units.map((name) => {
      const text = unitText(name);
      assert.ok(text.includes(`ExecStart=${installedBin} `), `${name} starts ${installedBin}`);
      const p = join(work, name);
      writeFileSync(
        p,
        text.replaceAll(`ExecStart=${installedBin} `, `ExecStart=${packageRoot}/bin/pgvigil.js `),
      );
      return p;
    });
    const r = await run(systemdAnalyze, ['verify', ...paths], { timeout: 60_000 }).catch(
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    assert.equal('code' in r ? r.code : 0, 0, `systemd-analyze verify failed: ${r.stderr}`);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  });

  test('the_agent_unit_bounds_memory_and_cpu_and_starts_node_under_the_heap_limit_of_its_budget', () => {
    const text = unitText('pgvigil-agent.service');
    assert.equal(setting(text, 'MemoryMax'), '64M');
    assert.equal(setting(text, 'CPUQuota'), '5%');
    assert.equal(setting(text, 'User'), 'pgvigil');
    assert.equal(setting(text, 'ProtectSystem'), 'strict');
    assert.equal(setting(text, 'NoNewPrivileges'), 'yes');
    assert.equal(setting(text, 'ReadOnlyPaths'), '/proc /sys');
    assert.equal(setting(text, 'StateDirectory'), 'pgvigil-agent');
    // Settings that would blind the collectors to other users' processes or break V8.
    for (const key of ['ProtectProc', 'ProcSubset', 'MemoryDenyWriteExecute', 'PrivateNetwork'])
      assert.equal(setting(text, key), undefined, `${key} is not set`);
    const budget = Number(/--max-memory (\d+)/.exec(setting(text, 'ExecStart') ?? '')?.[1]);
    assert.ok(budget > 0 && budget * 1024 * 1024 < 64 * 1024 * 1024, 'the budget fits under MemoryMax');
    const nodeOptions = text
      .split('\n')
      .map((l) => /^Environment="NODE_OPTIONS=(.*)"$/.exec(l)?.[1])
      .find((v) => v !== undefined);
    assert.equal(nodeOptions, heapFlags(memoryBounds(budget)).join(' '));
  });

  test('agent_print_systemd_unit_prints_the_shipped_unit', async () => {
    const r = await runCli(['agent', '--print-systemd-unit']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, unitText('pgvigil-agent.service'));
  });
});
