import pg from 'pg';
import { startEmbeddedStore } from '/work/main/dist/src/storage/embedded.js';
import { planSeries, seriesSql, serverTails } from '/work/main/dist/src/storage/series.js';
import { defaultRetention } from '/work/main/dist/src/storage/partitions.js';
const silentLogger = { warn(){}, info(){}, error(){}, debug(){}, trace(){}, fatal(){}, child(){ return silentLogger; } };
const store = await startEmbeddedStore('/tmp/sq/data/data', silentLogger);
const pool = new pg.Pool({ connectionString: store.url, max: 1 });
const { rows: ids } = await pool.query('SELECT server_id FROM pgvigil.servers ORDER BY 1 LIMIT 100');
const now = new Date();
const variants = {
  as_is: (t) => t,
  float_counts: (t) => t.replace(/count\(("[a-z_]+")\) AS pv_n/g, 'count($1)::float8 AS pv_n').replace(/sum\(samples\) FILTER \(WHERE ("[a-z_]+") IS NOT NULL\) AS pv_n/g, '(sum(samples) FILTER (WHERE $1 IS NOT NULL))::float8 AS pv_n'),
};
const lat = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
let shown = false;
for (let k = 0; k < 200; k++) {
  const id = Number(ids[(k * 37) % ids.length].server_id);
  const plan = planSeries({ family: 'host_cpu', metrics: 'user_pct,system_pct', server: id, from: new Date(now - 86400000).toISOString(), to: now.toISOString() }, now, defaultRetention);
  const tails = (await serverTails(pool, [id], now)).get(id);
  const sql = seriesSql(plan, tails, 100000, { ordered: false });
  let ref;
  for (const [name, f] of Object.entries(variants)) {
    const text = f(sql.text);
    if (!shown && name !== 'as_is') { console.log(text); shown = true; }
    const t0 = performance.now();
    const { rows } = await pool.query({ text, values: sql.values, rowMode: 'array' });
    lat[name].push(performance.now() - t0);
    const j = JSON.stringify(rows.map((r) => r.join()).sort());
    if (ref === undefined) ref = j; else if (ref !== j) console.log('DIFFERENT', name);
  }
}
for (const [n, l] of Object.entries(lat)) { l.sort((a, b) => a - b); console.log(n, 'p50', l[100].toFixed(2), 'p95', l[190].toFixed(2)); }
await pool.end(); await store.stop();
