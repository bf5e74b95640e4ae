// Rewrites the generated check catalogue in docs/findings.md from the built checks:
//
//   npm run build && node scripts/gen-findings-doc.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { withCatalogue } from '../dist/src/intelligence/checks/catalogue.js';
import { checks } from '../dist/src/intelligence/checks/index.js';

const path = new URL('../docs/findings.md', import.meta.url);
writeFileSync(path, withCatalogue(readFileSync(path, 'utf8'), checks));
