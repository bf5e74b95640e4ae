/**
 * Filesystem space and inodes per mount point: the mount table from /proc/1/mountinfo (the host's mount
 * namespace, as node_exporter reads it; /proc/self/mountinfo when pid 1 is not readable), sizes from
 * statfs(2) through `fs.statfs` — no `df`.
 *
 * Skipped: pseudo filesystems (node_exporter's default type list, plus a few more without space of their
 * own), the kernel's own trees (/proc, /sys, /dev) and container runtimes' layer mounts, mounts hidden by
 * a later mount on the same point, and duplicate mounts of one device (bind mounts, btrfs subvolumes:
 * the same space would be counted twice) — of those the mount of the filesystem's root is kept.
 *
 * A statfs that fails (permission denied, stale NFS handle) yields a row of nulls and
 * node_filesystem_device_error 1; one that hangs (a dead NFS server) times out, and that mount point is
 * not asked again until the hung call returns, so the agent's I/O threads are not used up one by one.
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fieldsOf, isMissing, linesOf, ParseError, readKernelFile } from '../proc.js';
import type { Collector, ExposedMetric, Row } from '../types.js';

const file = '/proc/<pid>/mountinfo';

export interface MountInfo {
  mountId: number;
  parentId: number;
  /** "major:minor" of the device (st_dev of files on it). */
  device: string;
  /** The directory of the filesystem mounted here ("/" unless a bind mount of a subdirectory). */
  root: string;
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** The kernel escapes space, tab, newline and backslash in mountinfo paths as octal (\040). */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses a mountinfo file (proc(5)): "id parent maj:min root point options [optional…] - type source super". */
export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of linesOf(text)) {
    const f = fieldsOf(line.text);
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || f.length < sep + 3) {
      throw new ParseError(
        file,
        'expected "id parent maj:min root mountpoint options … - type source options"',
        line,
      );
    }
    const mountId = Number(f[0]);
    const parentId = Number(f[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId) || !/^\d+:\d+$/.test(f[2]!)) {
      throw new ParseError(file, 'bad mount id, parent id or device number', line);
    }
    out.push({
      mountId,
      parentId,
      device: f[2]!,
      root: unescapeMountPath(f[3]!),
      mountPoint: unescapeMountPath(f[4]!),
      options: f[5]!.split(','),
      fsType: f[sep + 1]!,
      source: unescapeMountPath(f[sep + 2]!),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

/** node_exporter's default --collector.filesystem.fs-types-exclude, plus types that have no space of their own. */
export const pseudoFsTypes =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs|efivarfs|ramfs|binder|fuse\.lxcfs|fuse\.gvfsd-fuse|fuse\.portal)$/;

/** node_exporter's upstream default --collector.filesystem.mount-points-exclude. */
export const excludedMountPoints =
  /^\/(dev|proc|run\/credentials\/.+|sys|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;

/** The mounts worth a statfs, in mount order (see the module header for what is skipped and why). */
export function selectFilesystems(mounts: MountInfo[]): MountInfo[] {
  const candidates = mounts.filter(
    (m) => !pseudoFsTypes.test(m.fsType) && !excludedMountPoints.test(m.mountPoint),
  );
  // A later mount on the same point hides the earlier one: statfs would see only the top one.
  const top = new Map<string, MountInfo>();
  for (const m of candidates) {
    top.delete(m.mountPoint);
    top.set(m.mountPoint, m);
  }
  const byDevice = new Map<string, MountInfo>();
  for (const m of top.values()) {
    const seen = byDevice.get(m.device);
    if (seen === undefined || (seen.root !== '/' && m.root === '/')) byDevice.set(m.device, m);
  }
  const keep = new Set(byDevice.values());
  return [...top.values()].filter((m) => keep.has(m));
}

export interface FsUsage {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

export interface FilesystemSample {
  mount: MountInfo;
  usage: FsUsage | null;
  error: string | null;
}

export function filesystemRow(s: FilesystemSample): Row {
  const u = s.usage;
  // Filesystems that allocate inodes dynamically (btrfs, vfat…) report 0 of 0: no limit, not "0 inodes".
  const inodes = u !== null && u.files > 0;
  return {
    mountpoint: s.mount.mountPoint,
    device: s.mount.source,
    fstype: s.mount.fsType,
    size_bytes: u && u.blocks * u.bsize,
    used_bytes: u && (u.blocks - u.bfree) * u.bsize,
    avail_bytes: u && u.bavail * u.bsize,
    inodes_total: inodes ? u.files : null,
    inodes_used: inodes ? u.files - u.ffree : null,
    inodes_free: inodes ? u.ffree : null,
  };
}

export function filesystemExposition(samples: FilesystemSample[]): ExposedMetric[] {
  const metric = (name: string, help: string): ExposedMetric => ({ name, help, type: 'gauge', samples: [] });
  const size = metric('node_filesystem_size_bytes', 'Filesystem size in bytes.');
  const free = metric('node_filesystem_free_bytes', 'Filesystem free space in bytes.');
  const avail = metric(
    'node_filesystem_avail_bytes',
    'Filesystem space available to non-root users in bytes.',
  );
  const files = metric('node_filesystem_files', 'Filesystem total file nodes.');
  const filesFree = metric('node_filesystem_files_free', 'Filesystem total free file nodes.');
  const readonly = metric('node_filesystem_readonly', 'Filesystem read-only status.');
  const deviceError = metric(
    'node_filesystem_device_error',
    'Whether an error occurred while getting statistics for the given device.',
  );
  for (const s of samples) {
    const labels = { device: s.mount.source, fstype: s.mount.fsType, mountpoint: s.mount.mountPoint };
    deviceError.samples.push({ labels, value: s.usage === null ? 1 : 0 });
    readonly.samples.push({ labels, value: s.mount.options.includes('ro') ? 1 : 0 });
    const u = s.usage;
    if (u === null) continue;
    size.samples.push({ labels, value: u.blocks * u.bsize });
    free.samples.push({ labels, value: u.bfree * u.bsize });
    avail.samples.push({ labels, value: u.bavail * u.bsize });
    files.samples.push({ labels, value: u.files });
    filesFree.samples.push({ labels, value: u.ffree });
  }
  return [avail, deviceError, files, filesFree, free, readonly, size];
}

export interface FilesystemCollectorOptions {
  /** How long one statfs may take before its mount point counts as hung (default 5 s). */
  statfsTimeoutMs?: number;
  /** The statfs call (tests replace it to simulate hung or failing mounts). */
  statfs?: (path: string) => Promise<FsUsage>;
}

async function statfsUsage(path: string): Promise<FsUsage> {
  const s = await statfs(path);
  return {
    bsize: s.bsize,
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
  };
}

export function createFilesystemCollector(options: FilesystemCollectorOptions = {}): Collector {
  const timeoutMs = options.statfsTimeoutMs ?? 5_000;
  const statfsCall = options.statfs ?? statfsUsage;
  /** Mount points whose statfs is still running after its timeout. */
  const hung = new Set<string>();

  async function usageOf(path: string, mountPoint: string): Promise<FsUsage> {
    if (hung.has(mountPoint)) throw new Error('an earlier statfs has not returned (hung mount?)');
    let timer: NodeJS.Timeout | undefined;
    const call = statfsCall(path);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        hung.add(mountPoint);
        void call.then(
          () => hung.delete(mountPoint),
          () => hung.delete(mountPoint),
        );
        reject(new Error(`statfs did not return within ${timeoutMs} ms (hung mount?)`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    name: 'filesystem',
    defaultEnabled: true,
    intervalMs: 10_000,
    async collect(ctx) {
      let text: string;
      try {
        text = readKernelFile(ctx.procRoot, '1/mountinfo');
      } catch (err) {
        // Without permission to read pid 1 (unprivileged agent) our own namespace is the best view.
        if (!isMissing(err) && errnoCode(err) !== 'EACCES') throw err;
        text = readKernelFile(ctx.procRoot, 'self/mountinfo');
      }
      const ts = ctx.now();
      const rootFs = ctx.rootFs ?? '/';
      const mounts = selectFilesystems(parseMountinfo(text));
      const samples = await Promise.all(
        mounts.map(async (mount): Promise<FilesystemSample> => {
          try {
            return {
              mount,
              usage: await usageOf(join(rootFs, mount.mountPoint), mount.mountPoint),
              error: null,
            };
          } catch (err) {
            const message = `${mount.mountPoint}: ${(err as Error).message}`;
            ctx.log.debug({ err, mountpoint: mount.mountPoint }, 'statfs failed');
            return { mount, usage: null, error: message };
          }
        }),
      );
      ctx.expose?.(filesystemExposition(samples));
      return [{ family: 'host_filesystem', ts, rows: samples.map(filesystemRow) }];
    },
  };
}
