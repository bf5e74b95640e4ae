import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fakeContext, fixture, metricOf, rowsOf } from '../../../../test/helpers/collect.js';
import {
  createFilesystemCollector,
  type FsUsage,
  filesystemRow,
  type MountInfo,
  parseMountinfo,
  selectFilesystems,
} from './filesystem.js';

const mountinfo = (kernel: string): string => readFileSync(fixture('proc', kernel, '1', 'mountinfo'), 'utf8');

test('parses_mountinfo_with_optional_fields_and_escaped_paths', () => {
  const mounts = parseMountinfo(mountinfo('6.1.0'));
  const root = mounts.find((m) => m.mountPoint === '/')!;
  assert.deepEqual(root, {
    mountId: 28,
    parentId: 1,
    device: '254:1',
    root: '/',
    mountPoint: '/',
    options: ['rw', 'relatime'],
    fsType: 'ext4',
    source: '/dev/vda1',
    superOptions: ['rw', 'discard', 'errors=remount-ro'],
  });
  assert.ok(
    mounts.some((m) => m.mountPoint === '/media/usb stick'),
    '\\040 is a space',
  );
  // An entry without optional fields (the overlay line) parses the same way.
  assert.equal(mounts.find((m) => m.fsType === 'overlay')?.source, 'overlay');
});

test('malformed_mountinfo_is_a_clear_error', () => {
  assert.throws(
    () => parseMountinfo('22 28 0:21 / /proc rw\n'),
    /mountinfo line 1: expected "id parent maj:min root mountpoint options … - type source options"/,
  );
  assert.throws(() => parseMountinfo('x 28 0:21 / /proc rw - proc proc rw\n'), /bad mount id/);
});

test('skips_pseudo_filesystems_hidden_mounts_and_duplicate_bind_mounts', () => {
  const kept = selectFilesystems(parseMountinfo(mountinfo('6.1.0'))).map((m) => m.mountPoint);
  assert.deepEqual(kept, [
    '/run',
    '/',
    '/var/lib/postgresql',
    '/mnt/nas',
    '/tmp',
    '/media/usb stick',
    '/data',
  ]);
  // /mnt/backups is a bind mount of a directory of the /var/lib/postgresql filesystem, /home a btrfs
  // subvolume of /data: the same space, counted once. The first /tmp is hidden by the second.
  const k414 = selectFilesystems(parseMountinfo(mountinfo('4.14.0'))).map((m) => m.mountPoint);
  assert.deepEqual(k414, ['/run', '/', '/srv/pgdata']);
});

test('of_duplicate_mounts_the_one_of_the_filesystem_root_is_kept', () => {
  const m = (id: number, root: string, point: string): MountInfo => ({
    mountId: id,
    parentId: 1,
    device: '8:1',
    root,
    mountPoint: point,
    options: ['rw'],
    fsType: 'ext4',
    source: '/dev/sda1',
    superOptions: ['rw'],
  });
  const kept = selectFilesystems([m(10, '/srv/data', '/data'), m(11, '/', '/mnt/disk')]);
  assert.deepEqual(
    kept.map((x) => x.mountPoint),
    ['/mnt/disk'],
  );
});

test('filesystem_without_an_inode_count_reports_null_inodes', () => {
  const mount = parseMountinfo(mountinfo('6.1.0')).find((x) => x.mountPoint === '/data')!;
  const usage: FsUsage = { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300, files: 0, ffree: 0 };
  const row = filesystemRow({ mount, usage, error: null });
  assert.equal(row.size_bytes, 4096 * 1000);
  assert.equal(row.used_bytes, 4096 * 600);
  assert.equal(row.avail_bytes, 4096 * 300);
  assert.equal(row.inodes_total, null);
  assert.equal(row.inodes_used, null);
});

test('statfs_of_each_selected_mount_under_the_rootfs', async () => {
  const rootFs = mkdtempSync(join(tmpdir(), 'pgvigil-rootfs-'));
  try {
    // Every selected mount point exists under the fake root except /mnt/nas: it fails like a stale mount.
    for (const p of ['/run', '/var/lib/postgresql', '/tmp', '/media/usb stick', '/data']) {
      mkdirSync(join(rootFs, p), { recursive: true });
    }
    const ctx = fakeContext({ procRoot: fixture('proc', '6.1.0'), rootFs });
    const rows = rowsOf(await createFilesystemCollector().collect(ctx), 'host_filesystem');
    const pg = rows.find((r) => r.mountpoint === '/var/lib/postgresql')!;
    assert.equal(pg.device, '/dev/vdb1');
    assert.equal(pg.fstype, 'xfs');
    assert.ok((pg.size_bytes as number) > 0);
    assert.ok((pg.used_bytes as number) + (pg.avail_bytes as number) <= (pg.size_bytes as number));
    const nas = rows.find((r) => r.mountpoint === '/mnt/nas')!;
    assert.equal(nas.size_bytes, null);
    const err = metricOf(ctx.exposed, 'node_filesystem_device_error');
    assert.equal(err.samples.find((s) => s.labels?.mountpoint === '/mnt/nas')?.value, 1);
    assert.equal(err.samples.find((s) => s.labels?.mountpoint === '/')?.value, 0);
    assert.equal(
      metricOf(ctx.exposed, 'node_filesystem_size_bytes').samples.some(
        (s) => s.labels?.mountpoint === '/mnt/nas',
      ),
      false,
    );
  } finally {
    rmSync(rootFs, { recursive: true, force: true });
  }
});

test('hung_statfs_times_out_and_is_not_asked_again_until_it_returns', async () => {
  let release: (() => void) | undefined;
  let released = false;
  let calls = 0;
  const usage: FsUsage = { bsize: 4096, blocks: 10, bfree: 5, bavail: 5, files: 10, ffree: 5 };
  const collector = createFilesystemCollector({
    statfsTimeoutMs: 30,
    statfs: (path) => {
      if (!path.endsWith('/mnt/nas') || released) return Promise.resolve(usage);
      calls++;
      return new Promise((resolve) => {
        release = () => resolve(usage);
      });
    },
  });
  const ctx = fakeContext({ procRoot: fixture('proc', '6.1.0') });
  const nas = async () =>
    rowsOf(await collector.collect(ctx), 'host_filesystem').find((r) => r.mountpoint === '/mnt/nas')!;
  assert.equal((await nas()).size_bytes, null, 'timed out');
  assert.equal((await nas()).size_bytes, null, 'still hung');
  assert.equal(calls, 1, 'the hung mount was not asked a second time');
  released = true;
  release!();
  await new Promise((r) => setImmediate(r));
  assert.equal((await nas()).size_bytes, 40960, 'asked again once the hung call returned');
});

test('falls_back_to_self_mountinfo_when_pid_1_is_not_readable', async () => {
  const procRoot = mkdtempSync(join(tmpdir(), 'pgvigil-proc-'));
  try {
    mkdirSync(join(procRoot, 'self'));
    writeFileSync(join(procRoot, 'self', 'mountinfo'), '28 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n');
    const rows = rowsOf(
      await createFilesystemCollector().collect(fakeContext({ procRoot })),
      'host_filesystem',
    );
    assert.deepEqual(
      rows.map((r) => r.mountpoint),
      ['/'],
    );
  } finally {
    rmSync(procRoot, { recursive: true, force: true });
  }
});
