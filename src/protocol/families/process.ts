/**
 * Process and container families (host scope). A watched process is one row per watch (name or
 * /pattern/), summing over every matching process, so postgres with its hundred backends stays one
 * series; a watch that matches nothing is a row with `up = false` and `state = 'missing'`.
 * A container is one row per cgroup a container runtime created (docker, podman, CRI, systemd-nspawn).
 */
import { bytes, type FamilySpec, label, pct, rate } from './types.js';

export const processFamilies = {
  host_process: {
    name: 'host_process',
    help: 'Watched processes, one row per watch (name or /pattern/), summed over every matching process.',
    scope: 'host',
    columns: [
      label('watch', 'the watch as configured: a process name, or /regex/ over the command line'),
      { name: 'up', type: 'bool', help: 'at least one process matches' },
      { name: 'processes', type: 'int8', help: 'matching processes' },
      { name: 'pid', type: 'int8', help: 'pid of the oldest matching process (the main one)' },
      {
        name: 'state',
        type: 'text',
        help: 'state of the oldest matching process (running, sleeping, …) or missing',
      },
      pct('cpu_pct', 'CPU used by all matching processes over the last interval (%; 100 = one core)'),
      bytes('rss_bytes', 'resident memory, summed'),
      { name: 'fds', type: 'int8', help: 'open file descriptors, summed (null when not readable)' },
      { name: 'threads', type: 'int8', help: 'threads, summed' },
      rate('uptime_s', 'seconds since the oldest matching process started'),
    ],
  },
  host_container: {
    name: 'host_container',
    help: 'Containers found in the cgroup tree (v1 or v2): docker, podman, CRI runtimes, systemd-nspawn.',
    scope: 'host',
    columns: [
      label('runtime', 'docker, podman, containerd, crio or systemd-nspawn'),
      label('id', 'container id (machine name for systemd-nspawn)'),
      { name: 'cgroup', type: 'text', help: 'cgroup path, relative to the cgroup root' },
      pct('cpu_pct', 'CPU used over the last interval (%; 100 = one core)'),
      bytes('memory_current_bytes', 'memory charged to the cgroup (including page cache)'),
      bytes('memory_limit_bytes', 'memory limit (null when unlimited)'),
      rate('io_read_bytes_per_s', 'bytes read from block devices per second'),
      rate('io_write_bytes_per_s', 'bytes written to block devices per second'),
      { name: 'pids', type: 'int8', help: 'tasks in the cgroup' },
    ],
  },
} as const satisfies Record<string, FamilySpec>;
