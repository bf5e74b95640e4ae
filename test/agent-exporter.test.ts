/**
 * The real `pgvigil agent --listen` process on this machine: its /metrics passes `promtool check metrics`
 * (Debian package prometheus), serves node_exporter's names and its own health, and the process starts,
 * refuses bad arguments and stops as a service should.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli, startCli } from './helpers/cli.js';
import {
  nodeExporterPath,
  type ParsedMetric,
  parsePromText,
  promtoolPath,
  requireTool,
  sampleValue,
  startNodeExporter,
} from './helpers/prometheus.js';

async function promtool(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(promtoolPath, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.stdin.end(text);
  return { code: await code, output };
}

async function withAgent<T>(args: string[], fn: (metricsUrl: string) => Promise<T>): Promise<T> {
  const agent = startCli(['agent', '--listen', '127.0.0.1:0', '--interval', '1s', ...args]);
  try {
    const m = await agent.waitFor(/serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
    return await fn(m[1]!);
  } finally {
    assert.equal(
      await agent.stop('SIGTERM'),
      0,
      `agent exits 0 on SIGTERM; stderr: ${agent.output().stderr}`,
    );
  }
}

const memTotalBytes = (): number =>
  Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;

test('metrics_of_the_running_agent_pass_promtool_check_metrics', async (t) => {
  if (!requireTool(t, promtoolPath, 'prometheus')) return;
  await withAgent(['--watch-process', 'node', '--watch-process', 'no-such-process-pgvigil'], async (url) => {
    const body = await (await fetch(url)).text();
    const { code, output } = await promtool(body);
    assert.equal(output, '', 'promtool reports no problem');
    assert.equal(code, 0);
  });
});

test('agent_serves_node_exporter_names_and_its_own_health', async () => {
  await withAgent(['--watch-process', 'no-such-process-pgvigil'], async (url) => {
    const res = await fetch(url);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const m = parsePromText(await res.text());
    for (const name of [
      'node_cpu_seconds_total',
      'node_load1',
      'node_filesystem_size_bytes',
      'node_network_receive_bytes_total',
      'node_disk_read_bytes_total',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(m.has(name), `${name} is served`);
    }
    assert.equal(m.get('node_cpu_seconds_total')!.type, 'counter');
    assert.equal(sampleValue(m, 'node_memory_memtotal_bytes'), memTotalBytes());
    assert.ok(sampleValue(m, 'node_filesystem_size_bytes', { mountpoint: '/' }) > 0);
    for (const collector of ['cpu', 'memory', 'load', 'disk', 'filesystem', 'network', 'process']) {
      assert.equal(sampleValue(m, 'pgvigil_collector_up', { collector }), 1, `${collector} is up`);
    }
    assert.equal(
      sampleValue(m, 'pgvigil_process_up', { watch: 'no-such-process-pgvigil' }),
      0,
      'missing is reported',
    );
    // The agent stays small: it never loads the server or the store client.
    assert.ok(sampleValue(m, 'process_resident_memory_bytes') < 80 * 1024 * 1024);
  });
});

test('node_exporter_memory_names_on_request', async () => {
  await withAgent(['--node-exporter-memory-names'], async (url) => {
    const m = parsePromText(await (await fetch(url)).text());
    assert.equal(sampleValue(m, 'node_memory_MemTotal_bytes'), memTotalBytes());
    assert.ok(!m.has('node_memory_memtotal_bytes'));
  });
});

test('every_node_metric_the_agent_serves_is_one_node_exporter_serves_with_the_same_type', async (t) => {
  if (!requireTool(t, nodeExporterPath, 'prometheus-node-exporter')) return;
  const ne = await startNodeExporter();
  try {
    const theirs = await ne.scrape();
    await withAgent(['--node-exporter-memory-names'], async (url) => {
      const ours = parsePromText(await (await fetch(url)).text());
      const checked: string[] = [];
      for (const [name, metric] of ours as Map<string, ParsedMetric>) {
        if (!name.startsWith('node_')) continue;
        const twin = theirs.get(name);
        assert.ok(twin, `${name}: node_exporter has no such metric`);
        assert.equal(metric.type, twin.type, `${name} has node_exporter's type`);
        const ourLabels = Object.keys(metric.samples[0]?.labels ?? {}).sort();
        const theirLabels = Object.keys(twin.samples[0]?.labels ?? {}).sort();
        assert.deepEqual(ourLabels, theirLabels, `${name} has node_exporter's label names`);
        checked.push(name);
      }
      assert.ok(checked.length > 60, `${checked.length} node_* metrics checked`);
    });
  } finally {
    await ne.stop();
  }
});

test('agent_without_listen_or_with_bad_values_exits_2_with_a_clear_message', async () => {
  const none = await runCli(['agent']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /nothing to do: .*--listen HOST:PORT/);
  const interval = await runCli(['agent', '--listen', '127.0.0.1:0', '--interval', '10']);
  assert.equal(interval.code, 2);
  assert.match(interval.stderr, /--interval "10": expected a duration such as 500ms, 1s, 10s or 1m/);
  const listen = await runCli(['agent', '--listen', 'localhost']);
  assert.equal(listen.code, 2);
  assert.match(listen.stderr, /--listen "localhost": expected HOST:PORT/);
  const root = await runCli(['agent', '--listen', '127.0.0.1:0', '--proc-root', '/nonexistent']);
  assert.equal(root.code, 2);
  assert.match(root.stderr, /--proc-root \/nonexistent: no such directory/);
  assert.doesNotMatch(
    none.stderr + interval.stderr + listen.stderr + root.stderr,
    /\n\s+at /,
    'no stack trace',
  );
});

test('a_second_agent_on_a_port_in_use_exits_2', async () => {
  await withAgent([], async (url) => {
    const port = new URL(url).port;
    const second = await runCli(['agent', '--listen', `127.0.0.1:${port}`]);
    assert.equal(second.code, 2);
    assert.match(second.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
  });
});

test('agent_commands_have_their_help_and_other_commands_still_reach_the_full_program', async () => {
  const agentHelp = await runCli(['agent', '--help']);
  assert.equal(agentHelp.code, 0);
  assert.match(agentHelp.stdout, /--watch-process <name\|\/regex\/>/);
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /agent \[options\]/);
  assert.match(help.stdout, /server \[options\]/);
});
