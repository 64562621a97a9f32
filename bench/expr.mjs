// Cost per message of a typical expression chain: the three POST defaults plus a typical prepare, evaluated
// with compiled closures exactly as the pipeline does. Run after `npm run build`:
//   node bench/expr.mjs            → {"name":"expr-chain","us_per_msg":…,"iterations":…}
// Optional: ITERATIONS=500000 node bench/expr.mjs
import { compileExpression } from '../dist/expr/index.js';

const ITERATIONS = Number(process.env.ITERATIONS ?? 300_000);
const WARMUP = 50_000;
const HOOK = { names: ['msg', 'handler'], writable: ['msg'] };

const sources = {
  'message_default.POST.id': 'msg.id = uuid()',
  'message_default.POST.user': 'msg.user = handler.current_user ? handler.current_user.id : null',
  'message_default.POST.timestamp': 'msg.timestamp = now()',
  prepare: "msg.length = (msg.body ?? '').length; msg.body.length > 500 ? reject('too long') : ''",
};
const chain = Object.entries(sources).map(([key, source]) =>
  compileExpression(source, { ...HOOK, path: `url.chat.kwargs.${key}` }),
);

const handler = {
  name: 'chat',
  current_user: { id: 'alice@example.org', role: 'member' },
  session: { id: 'sess-1' },
  args: { topic: ['help'] },
  request: { ip: '127.0.0.1', headers: { 'user-agent': 'bench' } },
};
const bodies = ['hello', 'how do I reset my password?', 'thanks!', 'x'.repeat(300)];

/** One message through the chain, as the pipeline would run it. */
function handle(i) {
  const msg = { _method: 'POST', body: bodies[i & 3], topic: 'help' };
  const scope = { msg, handler };
  for (const run of chain) run(scope);
  return msg;
}

let check = 0;
for (let i = 0; i < WARMUP; i++) check += handle(i).length;
const start = process.hrtime.bigint();
for (let i = 0; i < ITERATIONS; i++) check += handle(i).length;
const elapsedNs = Number(process.hrtime.bigint() - start);

// The checksum keeps the work observable; a wrong one means the chain stopped doing its job.
const expected = (WARMUP + ITERATIONS) / 4 * bodies.reduce((n, b) => n + b.length, 0);
if (check !== expected) throw new Error(`checksum ${check} != ${expected}`);
const sample = handle(0);
if (sample.user !== 'alice@example.org' || !sample.timestamp.endsWith('Z') || sample.id.length !== 36) {
  throw new Error(`unexpected message ${JSON.stringify(sample)}`);
}

console.log(JSON.stringify({ name: 'expr-chain', us_per_msg: Number((elapsedNs / ITERATIONS / 1000).toFixed(3)), iterations: ITERATIONS }));
