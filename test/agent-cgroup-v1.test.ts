/**
 * Containers on this machine's real cgroup v1 hierarchies: the test makes a cgroup where the docker
 * cgroupfs driver would (docker/<64 hex>) in every v1 controller it has, moves a busy shell into it, and
 * the container collector must find it with the CPU the shell burns and its one task. Needs root and
 * cgroup v1 (v2 is covered by the fixture trees); elsewhere the test says why it is skipped.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createContainerCollector } from '../src/agent/collectors/container.js';
import type { CollectContext } from '../src/agent/collectors/types.js';
import { silentLogger } from '../src/log.js';

const base = '/sys/fs/cgroup';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a_container_cgroup_on_this_hosts_cgroup_v1_is_found_with_its_cpu_and_tasks', async (t) => {
  if (existsSync(join(base, 'cgroup.controllers'))) {
    t.skip('this host runs cgroup v2; v2 is covered by test/fixtures/cgroup/v2');
    return;
  }
  if (!existsSync(join(base, 'cpuacct'))) {
    t.skip(`no cgroup v1 cpuacct hierarchy under ${base}`);
    return;
  }
  if (process.getuid?.() !== 0) {
    t.skip('creating a cgroup needs root');
    return;
  }
  const id = randomBytes(32).toString('hex');
  const controllers = ['cpuacct', 'memory', 'pids', 'blkio'].filter((c) => existsSync(join(base, c)));
  const created: string[] = [];
  const shell = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  try {
    for (const c of controllers) {
      const parent = join(base, c, 'docker');
      if (!existsSync(parent)) {
        mkdirSync(parent);
        created.push(parent);
      }
      const dir = join(parent, id);
      mkdirSync(dir);
      created.push(dir);
      writeFileSync(join(dir, 'cgroup.procs'), String(shell.pid));
    }
    const collector = createContainerCollector();
    let mono = performance.now();
    const ctx: CollectContext = {
      procRoot: '/proc',
      sysRoot: '/sys',
      now: Date.now,
      monotonic: () => mono,
      log: silentLogger(),
      signal: new AbortController().signal,
    };
    await collector.collect(ctx);
    await sleep(1000);
    mono = performance.now();
    const [family] = await collector.collect(ctx);
    const row = family!.rows.find((r) => r.id === id);
    assert.ok(row, `the cgroup docker/${id} is found`);
    assert.equal(row.runtime, 'docker');
    assert.equal(row.cgroup, `/docker/${id}`);
    assert.ok(
      (row.cpu_pct as number) > 20 && (row.cpu_pct as number) <= 105,
      `a busy shell: ${row.cpu_pct} % of a core`,
    );
    if (controllers.includes('pids')) assert.equal(row.pids, 1);
    if (controllers.includes('memory')) {
      assert.equal(typeof row.memory_current_bytes, 'number');
      assert.equal(row.memory_limit_bytes, null, 'no limit set');
    }
  } finally {
    shell.kill('SIGKILL');
    await new Promise((r) =>
      shell.exitCode !== null || shell.signalCode !== null ? r(null) : shell.once('exit', r),
    );
    // A cgroup can be removed once its last task is gone, which the kernel notes a moment after exit.
    for (const dir of created.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(dir);
          break;
        } catch {
          await sleep(20);
        }
      }
    }
  }
});
