#!/usr/bin/env node
// Re-renders a saved bench run (bench/results/*.json) with the current report code: prints the tables and the
// targets, and with --write-doc replaces the results section of docs/performance.md. Nothing is measured again.
//
//   node bench/render.mjs bench/results/latest-full.json [--write-doc]
import fs from 'node:fs';
import { renderMarkdown, targets, writeDoc } from './lib/report.mjs';

const file = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node bench/render.mjs <results.json> [--write-doc]');
  process.exit(2);
}
const results = JSON.parse(fs.readFileSync(file, 'utf8'));
results.targets = targets(results);
const md = renderMarkdown(results);
console.log(md);
if (process.argv.includes('--write-doc')) writeDoc(md);
