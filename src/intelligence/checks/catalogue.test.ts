import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { packageRoot } from '../../version.js';
import { withCatalogue } from './catalogue.js';
import { checks } from './index.js';

test('every_check_id_is_unique_and_named_after_its_group', () => {
  const ids = checks.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length);
  const prefix: Record<string, string> = {
    postgres: 'pg.',
    host: 'host.',
    process: 'process.',
    logs: 'logs.',
    security: 'security.',
    watchdog: 'watchdog.',
    slo: 'slo.',
    anomaly: 'anomaly.',
  };
  for (const c of checks) assert.ok(c.id.startsWith(prefix[c.group]!), `${c.id} in group ${c.group}`);
});

test('every_threshold_default_lies_within_its_range_and_every_check_documents_evidence_and_action', () => {
  for (const c of checks) {
    assert.ok(c.doc.evidence.length > 0 && c.doc.action.length > 0, c.id);
    for (const [name, s] of Object.entries(c.thresholds)) {
      assert.ok(s.min === undefined || s.default >= s.min, `${c.id}.${name} default below min`);
      assert.ok(s.max === undefined || s.default <= s.max, `${c.id}.${name} default above max`);
    }
  }
});

test('docs_findings_md_lists_the_checks_as_they_are', () => {
  const doc = readFileSync(`${packageRoot}/docs/findings.md`, 'utf8');
  assert.equal(
    doc,
    withCatalogue(doc, checks),
    'docs/findings.md is out of date: run node scripts/gen-findings-doc.mjs',
  );
});
