/**
 * Seeding for benches that read host series: 24 h of raw host families written straight into the store
 * in SQL, as the ingest writer would have (time-major), with the rollup work it leaves pending.
 */
import type pg from 'pg';

const hourMs = 3_600_000;

/**
 * 24 h of raw host rows every 10 s for servers `ids`, in the order ingest writes them: by time, then host
 * (a host's rows of one collection side by side, hosts interleaved).
 */
export async function loadRaw(pool: pg.Pool, ids: number[], now: number): Promise<number> {
  const from = new Date(Math.floor((now - 24 * hourMs) / 10_000) * 10_000);
  const to = new Date(now);
  const series = `generate_series($2::timestamptz, $3::timestamptz, interval '10 seconds') t CROSS JOIN unnest($1::bigint[]) s`;
  // Smooth-ish values that differ per host and over time, so aggregates are not constant folding.
  const wave = (k: number) => `(50 + 40 * sin(extract(epoch FROM t) / ${600 + k * 37} + s * ${k + 1}))`;
  const statements = [
    `INSERT INTO pgvigil.host_cpu (server_id, ts, cpu, user_pct, nice_pct, system_pct, idle_pct, iowait_pct, irq_pct, softirq_pct, steal_pct)
     SELECT s, t, c, ${wave(1)} / 2, 0, ${wave(2)} / 5, 100 - ${wave(1)} / 2 - ${wave(2)} / 5, ${wave(3)} / 20, 0.1, 0.2, 0
       FROM ${series} CROSS JOIN unnest(ARRAY['total', '0', '1', '2', '3']) c ORDER BY t, s, c`,
    `INSERT INTO pgvigil.host_memory (server_id, ts, total_bytes, available_bytes, used_bytes, free_bytes, buffers_bytes, cached_bytes, swap_total_bytes, swap_used_bytes)
     SELECT s, t, 17179869184, (${wave(4)} * 1e8)::bigint, (${wave(5)} * 1e8)::bigint, 1e9, 1e8, 4e9, 2e9, 0 FROM ${series} ORDER BY t, s`,
    `INSERT INTO pgvigil.host_load (server_id, ts, load1, load5, load15)
     SELECT s, t, ${wave(6)} / 25, ${wave(7)} / 30, ${wave(8)} / 35 FROM ${series} ORDER BY t, s`,
    `INSERT INTO pgvigil.host_network (server_id, ts, interface, rx_bytes_per_s, tx_bytes_per_s, rx_packets_per_s, tx_packets_per_s, rx_errors_per_s, tx_errors_per_s, rx_drops_per_s, tx_drops_per_s)
     SELECT s, t, i, ${wave(9)} * 1e4, ${wave(10)} * 1e4, ${wave(11)} * 10, ${wave(12)} * 10, 0, 0, 0, 0
       FROM ${series} CROSS JOIN unnest(ARRAY['eth0', 'lo']) i ORDER BY t, s, i`,
    `INSERT INTO pgvigil.host_disk (server_id, ts, device, reads_per_s, writes_per_s, read_bytes_per_s, write_bytes_per_s, read_await_ms, write_await_ms, util_pct, in_progress)
     SELECT s, t, d, ${wave(13)}, ${wave(14)}, ${wave(13)} * 4096, ${wave(14)} * 4096, ${wave(15)} / 50, ${wave(16)} / 40, ${wave(17)}, 1
       FROM ${series} CROSS JOIN unnest(ARRAY['sda', 'sdb']) d ORDER BY t, s, d`,
  ];
  let rows = 0;
  for (const sql of statements) rows += (await pool.query(sql, [ids, from, to])).rowCount ?? 0;
  // What the ingest writer records: every (server, hour) with rows.
  await pool.query(
    `INSERT INTO pgvigil.rollup_pending (server_id, tier, bucket)
     SELECT s, 'hourly', h FROM unnest($1::bigint[]) s,
            generate_series(date_trunc('hour', $2::timestamptz), $3::timestamptz, interval '1 hour') h
     ON CONFLICT DO NOTHING`,
    [ids, from, to],
  );
  return rows;
}
