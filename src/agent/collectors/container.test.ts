import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fakeContext, fixture, metricOf, rowsOf } from '../../../test/helpers/collect.js';
import {
  createContainerCollector,
  detectCgroupLayout,
  identifyContainer,
  parseBlkioServiceBytes,
  parseCpuStatV2,
  parseIoStatV2,
  parseMemoryLimitV1,
  parseMemoryMax,
} from './container.js';
import { NotApplicableError } from './types.js';

const id = (c: string): string => c.repeat(64 / c.length);
const docker = '1f3c5a7e9b2d4f6a8c0e1f3c5a7e9b2d4f6a8c0e1f3c5a7e9b2d4f6a8c0e1f3c';
const podman = '2a4c6e8f0b1d3f5a7c9e2a4c6e8f0b1d3f5a7c9e2a4c6e8f0b1d3f5a7c9e2a4c';
const rootless = '3b5d7f9a1c2e4a6c8e0b3b5d7f9a1c2e4a6c8e0b3b5d7f9a1c2e4a6c8e0b3b5d';
const containerd = '4c6e8a0b2d3f5b7d9f1c4c6e8a0b2d3f5b7d9f1c4c6e8a0b2d3f5b7d9f1c4c6e';
const dockerCgroupfs = '5d7f9b1c3e4a6c8e0a2d5d7f9b1c3e4a6c8e0a2d5d7f9b1c3e4a6c8e0a2d5d7f';
const dockerV1Systemd = '6e8a0c2e4b5d7f9b1d3e6e8a0c2e4b5d7f9b1d3e6e8a0c2e4b5d7f9b1d3e6e8a';
const podmanV1 = '7f9b1d3f5c6e8a0c2e4f7f9b1d3f5c6e8a0c2e4f7f9b1d3f5c6e8a0c2e4f7f9b';

test('identifies_docker_podman_cri_and_nspawn_cgroups_by_name', () => {
  const a = id('ab');
  assert.deepEqual(identifyContainer(`/system.slice/docker-${a}.scope`), { runtime: 'docker', id: a });
  assert.deepEqual(identifyContainer(`/docker/${a}`), { runtime: 'docker', id: a });
  assert.deepEqual(identifyContainer(`/machine.slice/libpod-${a}.scope`), { runtime: 'podman', id: a });
  assert.deepEqual(identifyContainer(`/libpod_parent/libpod-${a}`), { runtime: 'podman', id: a });
  assert.deepEqual(identifyContainer(`/kubepods.slice/x/cri-containerd-${a}.scope`), {
    runtime: 'containerd',
    id: a,
  });
  assert.deepEqual(identifyContainer(`/kubepods.slice/x/crio-${a}.scope`), { runtime: 'crio', id: a });
  assert.deepEqual(identifyContainer('/machine.slice/machine-debian\\x2dbookworm.scope'), {
    runtime: 'systemd-nspawn',
    id: 'debian-bookworm',
  });
  assert.equal(identifyContainer(`/system.slice/libpod-conmon-${a}.scope`), null, 'conmon is a helper');
  assert.equal(identifyContainer(`/system.slice/crio-conmon-${a}.scope`), null);
  assert.equal(identifyContainer('/system.slice/ssh.service'), null);
  assert.equal(identifyContainer('/user.slice/user-1000.slice/session-3.scope'), null);
  assert.equal(
    identifyContainer(`/docker/${a.slice(0, 12)}`),
    null,
    'a short id is not how runtimes name cgroups',
  );
});

test('parses_cgroup_files_and_reads_unlimited_as_null', () => {
  assert.equal(parseCpuStatV2('usage_usec 123\nuser_usec 100\n').usageUsec, 123);
  assert.throws(() => parseCpuStatV2('user_usec 100\n', 'x/cpu.stat'), /x\/cpu.stat: no usage_usec line/);
  assert.equal(parseMemoryMax('max\n'), null);
  assert.equal(parseMemoryMax('536870912\n'), 536870912);
  assert.equal(parseMemoryLimitV1('9223372036854771712\n'), null);
  assert.equal(parseMemoryLimitV1('1073741824\n'), 1073741824);
  assert.deepEqual(parseIoStatV2(''), { readBytes: 0, writeBytes: 0 }, 'no line: no I/O yet');
  assert.deepEqual(parseIoStatV2('8:0 rbytes=1 wbytes=2 rios=1\n259:0 rbytes=10 wbytes=20\n'), {
    readBytes: 11,
    writeBytes: 22,
  });
  assert.throws(() => parseIoStatV2('sda rbytes=1\n'), /io.stat line 1: expected "major:minor key=value …"/);
  assert.deepEqual(parseBlkioServiceBytes('8:0 Read 5\n8:0 Write 7\n8:0 Total 12\nTotal 12\n'), {
    readBytes: 5,
    writeBytes: 7,
  });
  assert.throws(() => parseBlkioServiceBytes('8:0 Read\n'), /expected "major:minor Op bytes"/);
});

test('finds_containers_in_a_cgroup_v2_tree', async () => {
  const ctx = fakeContext({ sysRoot: fixture('cgroup', 'v2') });
  const rows = rowsOf(await createContainerCollector().collect(ctx), 'host_container');
  const byId = new Map(rows.map((r) => [r.id, r]));
  assert.deepEqual(
    rows.map((r) => `${r.runtime}:${r.id}`).sort(),
    [
      `containerd:${containerd}`,
      `docker:${docker}`,
      `docker:${dockerCgroupfs}`,
      `podman:${podman}`,
      `podman:${rootless}`,
      'systemd-nspawn:debian-bookworm',
    ].sort(),
  );
  const d = byId.get(docker)!;
  assert.equal(d.cgroup, `/system.slice/docker-${docker}.scope`);
  assert.equal(d.memory_current_bytes, 268435456);
  assert.equal(d.memory_limit_bytes, null, 'memory.max "max": no limit');
  assert.equal(d.pids, 12);
  assert.equal(d.cpu_pct, null, 'first sample');
  assert.equal(byId.get(podman)!.memory_limit_bytes, 536870912);
  const r = byId.get(rootless)!;
  assert.equal(r.cgroup, `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${rootless}.scope`);
  assert.equal(r.pids, null, 'pids controller not enabled there: null, not 0');
  assert.equal(r.io_read_bytes_per_s, null);
  const read = metricOf(ctx.exposed, 'pgvigil_container_io_read_bytes_total');
  assert.equal(
    read.samples.find((s) => s.labels?.id === podman)?.value,
    4096 + 100000,
    'summed over devices',
  );
  assert.equal(
    metricOf(ctx.exposed, 'pgvigil_container_cpu_seconds_total').samples.find((s) => s.labels?.id === docker)
      ?.value,
    123.456789,
  );
});

test('container_cpu_and_io_rates_over_the_interval', async () => {
  const sysRoot = mkdtempSync(join(tmpdir(), 'pgvigil-cgroup-'));
  try {
    cpSync(fixture('cgroup', 'v2'), sysRoot, { recursive: true });
    const dir = join(sysRoot, 'fs/cgroup/system.slice', `docker-${docker}.scope`);
    const collector = createContainerCollector();
    const ctx = fakeContext({ sysRoot });
    await collector.collect(ctx);
    // 10 s later: 5 s of CPU (50 % of one core), 1 MiB read, nothing written.
    writeFileSync(join(dir, 'cpu.stat'), `usage_usec ${123456789 + 5_000_000}\n`);
    writeFileSync(join(dir, 'io.stat'), '8:0 rbytes=2097152 wbytes=524288 rios=300 wios=128\n');
    ctx.advance(10_000);
    const row = rowsOf(await collector.collect(ctx), 'host_container').find((r) => r.id === docker)!;
    assert.equal(row.cpu_pct, 50);
    assert.equal(row.io_read_bytes_per_s, 1048576 / 10);
    assert.equal(row.io_write_bytes_per_s, 0);
  } finally {
    rmSync(sysRoot, { recursive: true, force: true });
  }
});

test('finds_containers_in_cgroup_v1_hierarchies', async () => {
  const layout = detectCgroupLayout(fixture('cgroup', 'v1'));
  assert.equal(layout.version, 1);
  const ctx = fakeContext({ sysRoot: fixture('cgroup', 'v1') });
  const rows = rowsOf(await createContainerCollector().collect(ctx), 'host_container');
  const byId = new Map(rows.map((r) => [r.id, r]));
  assert.equal(rows.length, 3);
  const cgroupfs = byId.get(docker)!;
  assert.equal(cgroupfs.runtime, 'docker');
  assert.equal(cgroupfs.cgroup, `/docker/${docker}`);
  assert.equal(cgroupfs.memory_limit_bytes, null, 'v1 "no limit" is the page counter maximum');
  assert.equal(cgroupfs.pids, 12);
  const systemd = byId.get(dockerV1Systemd)!;
  assert.equal(systemd.memory_limit_bytes, 1073741824);
  assert.equal(byId.get(podmanV1)!.runtime, 'podman');
  assert.equal(byId.get(podmanV1)!.pids, null, 'no cgroup in the pids hierarchy');
  const written = metricOf(ctx.exposed, 'pgvigil_container_io_written_bytes_total');
  assert.equal(
    written.samples.find((s) => s.labels?.id === dockerV1Systemd)?.value,
    200,
    'the _recursive file wins',
  );
  assert.equal(
    metricOf(ctx.exposed, 'pgvigil_container_cpu_seconds_total').samples.find(
      (s) => s.labels?.id === dockerV1Systemd,
    )?.value,
    5,
    'cpuacct.usage is in nanoseconds',
  );
});

test('no_cgroup_filesystem_is_not_applicable', async () => {
  await assert.rejects(
    createContainerCollector().collect(fakeContext({ sysRoot: fixture('proc', '4.14.0') })),
    (err: unknown) => err instanceof NotApplicableError && /no cgroup v2 or v1/.test(err.message),
  );
});
