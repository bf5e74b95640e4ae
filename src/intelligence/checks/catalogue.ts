/**
 * The check catalogue as Markdown: the generated part of docs/findings.md (between its `checks:begin` and
 * `checks:end` markers), made from the checks themselves so the documentation cannot drift from them.
 * `node scripts/gen-findings-doc.mjs` rewrites it; a test fails when it is out of date.
 */
import { anomalySlices } from './anomalies.js';
import { statementChecksIntervalMs, statementHourSlices } from './postgres-statements.js';
import type { Check, CheckGroup } from './types.js';

/** The job that runs the checks of each read made in slices (src/server/jobs/findings.ts). */
const slicedJobs: Record<string, string> = {
  [statementHourSlices]: `the statement checks' job, every ${statementChecksIntervalMs / 60_000} minutes`,
  [anomalySlices]: "the anomaly checks' job, at the findings job's interval (every minute by default)",
};

const groupTitles: Record<CheckGroup, string> = {
  postgres: 'PostgreSQL',
  host: 'Host',
  process: 'Watched processes',
  logs: 'Logs',
  security: 'Security',
  watchdog: 'Watchdog',
  slo: 'Service level objectives',
  anomaly: 'Anomalies (against baselines)',
};

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function catalogueMarkdown(checks: readonly Check[]): string {
  const out: string[] = [];
  for (const group of Object.keys(groupTitles) as CheckGroup[]) {
    const list = checks.filter((c) => c.group === group);
    if (list.length === 0) continue;
    out.push(`### ${groupTitles[group]}`, '');
    for (const c of list) {
      out.push(`#### \`${c.id}\` — ${c.title}`, '');
      const runs =
        c.mode === 'ingest'
          ? `on ingest (${c.scope} scope; reads ${c.inputs.join(', ')})`
          : c.slices
            ? `in ${slicedJobs[c.slices] ?? 'its own job'} on every instance, the fleet in slices`
            : c.intervalMs
              ? `in the findings job, at most every ${c.intervalMs / 60_000} minutes`
              : 'in the findings job';
      out.push(`Kind: ${c.kind}. Runs ${runs}. Resolves after ${c.clearAfter ?? 2} clear evaluation(s).`, '');
      if (c.offByDefault) out.push(`Off until switched on: ${c.offByDefault}.`, '');
      out.push(`- Evidence: ${c.doc.evidence}`, `- Action: ${c.doc.action}`, '');
      const t = Object.entries(c.thresholds);
      if (t.length > 0) {
        out.push('| threshold | default | unit | meaning |', '| --- | --- | --- | --- |');
        for (const [name, s] of t)
          out.push(`| \`${name}\` | ${s.default} | ${cell(s.unit)} | ${cell(s.help)} |`);
        out.push('');
      }
    }
  }
  return out.join('\n');
}

export const catalogueMarkers = { begin: '<!-- checks:begin (generated) -->', end: '<!-- checks:end -->' };

/** docs/findings.md with its generated part replaced. */
export function withCatalogue(doc: string, checks: readonly Check[]): string {
  const b = doc.indexOf(catalogueMarkers.begin);
  const e = doc.indexOf(catalogueMarkers.end);
  if (b < 0 || e < b) throw new Error('docs/findings.md lacks the checks:begin / checks:end markers');
  return `${doc.slice(0, b + catalogueMarkers.begin.length)}\n\n${catalogueMarkdown(checks)}\n${doc.slice(e)}`;
}
