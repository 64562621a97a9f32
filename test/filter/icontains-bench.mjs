// Micro benchmark of `*=` (case-insensitive contains) per event, before and after issue 14 item 11: 98
// distinct filters each with one non-matching `*=` needle, evaluated on one row, as the hub does per event.
// "before" is the previous predicate inlined here (each filter folds the value itself, with a replacement per
// capital); "after" is the built one (one shared fold per event per column, no allocation per capital).
// Run after `npx tsc -p tsconfig.build.json`:
//   node test/filter/icontains-bench.mjs   → one JSON line per value shape
import { compilePredicate, parseFilter } from '../../dist/filter/index.js';

const FILTERS = 98;
const ROUNDS = Number(process.env.ROUNDS ?? 40);

const columns = new Map([['body', { name: 'body', type: 'TEXT', kind: 'text', nullable: true, primaryKey: false, autoincrement: false }]]);

function oldAsciiLower(s) {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32)) : s;
}
function oldIcontains(needles) {
  const folded = needles.map(oldAsciiLower);
  return (row) => {
    const v = row.body ?? null;
    if (typeof v !== 'string') return false;
    const lower = oldAsciiLower(v);
    return folded.some((n) => lower.includes(n));
  };
}

const words = 'Lorem ipsum Dolor sit amet consectetur adipiscing Elit sed do eiusmod tempor'.split(' ');
let prose = '';
for (let i = 0; prose.length < 60_000; i++) prose += words[(i * 7) % words.length] + ' ';
prose = prose.slice(0, 60_000);
const shapes = {
  'prose-ascii': prose,
  'all-caps-ascii': prose.toUpperCase(),
  'all-caps-non-ascii': prose.toUpperCase().replace(/O/g, 'Ö'),
  // The common case must not get slower: a chat line.
  'short-chat': 'How do I reset my Password? Thanks, Ann',
};

const needles = Array.from({ length: FILTERS }, (_, i) => `NoMatch${i}`);
const before = needles.map((n) => oldIcontains([n]));
const after = needles.map((n) => compilePredicate(parseFilter({ 'body*': [n] }, columns)));

function msPerEvent(predicates, value) {
  // A fresh string per event, as each message's row is: nothing carries over from the previous one.
  const n = Math.min(20_000, Math.ceil((ROUNDS * 60_000) / value.length));
  const rows = Array.from({ length: n }, (_, i) => ({ body: String.fromCharCode(97 + (i % 26)) + value.slice(1) }));
  for (const p of predicates) p(rows[0]);
  const start = process.hrtime.bigint();
  for (const row of rows) for (const p of predicates) if (p(row)) throw new Error('unexpected match');
  return Number(process.hrtime.bigint() - start) / 1e6 / rows.length;
}

for (const [shape, value] of Object.entries(shapes)) {
  const b = msPerEvent(before, value);
  const a = msPerEvent(after, value);
  console.log(JSON.stringify({ shape, value_chars: value.length, filters: FILTERS, before_ms_per_event: +b.toFixed(4), after_ms_per_event: +a.toFixed(4), speedup: +(b / a).toFixed(1) }));
}
