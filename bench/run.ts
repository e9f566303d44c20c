// `npm run bench`: the core's speed and memory beside bare baselines run in the same process.
// Prints a table, then one JSON line of figures. Run with --expose-gc for the heap row.
import { Eventor, StepStatus } from '../dist/index.js';

const quiet = { logging: { console: false } } as const;
const noop = async () => {};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** A chain: each step's success triggers the event that starts the next. */
function chainFlow(length: number): Eventor {
  const ev = new Eventor({ name: 'bench-chain', store: ':memory:', config: quiet });
  const events = Array.from({ length }, (_, i) => ev.addEvent(`e${i}`));
  for (let i = 0; i < length; i++) {
    const triggers = i + 1 < length ? { [StepStatus.success]: [events[i + 1]] } : {};
    ev.addAssoc(events[i], ev.addStep(`s${i}`, { func: noop, triggers }));
  }
  ev.triggerEvent(events[0], 1);
  return ev;
}

/** A fan-out: one event starts `width` steps at once. */
function fanOutFlow(width: number): Eventor {
  const ev = new Eventor({ name: 'bench-fanout', store: ':memory:', config: quiet });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ...Array.from({ length: width }, (_, i) => ev.addStep(`s${i}`, { func: noop })));
  ev.triggerEvent(go, 1);
  return ev;
}

async function runFlow(ev: Eventor): Promise<void> {
  if (!(await ev.run())) throw new Error(`benchmark flow ${ev.name} failed`);
  await ev.close();
}

/** Unmeasured runs first, so that every row measures code the JIT has compiled. */
const WARMUP = 3;

async function chainRow(length: number, repeats: number) {
  const ours: number[] = [];
  const bare: number[] = [];
  for (let r = -WARMUP; r < repeats; r++) {
    const ev = chainFlow(length);
    ours.push((await time(() => runFlow(ev))) * 1000 / length);
    bare.push((await time(async () => {
      for (let i = 0; i < length; i++) await noop();
    })) * 1000 / length);
  }
  return { ours: median(ours.slice(WARMUP)), bare: median(bare.slice(WARMUP)) };
}

async function fanOutRow(width: number, repeats: number) {
  const ours: number[] = [];
  const bare: number[] = [];
  for (let r = -WARMUP; r < repeats; r++) {
    const ev = fanOutFlow(width);
    ours.push(width / ((await time(() => runFlow(ev))) / 1000));
    bare.push(width / ((await time(() => Promise.all(Array.from({ length: width }, () => noop())))) / 1000));
  }
  return { ours: median(ours.slice(WARMUP)), bare: median(bare.slice(WARMUP)) };
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run node with --expose-gc for the heap row');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Heap kept per finished task: one step, `count` sequences, the Eventor kept open afterwards. */
async function heapRow(count: number) {
  const ev = new Eventor({ name: 'bench-heap', store: ':memory:', config: quiet });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('work', { func: noop }));
  await ev.run();
  const before = heapUsed();
  for (let i = 1; i <= count; i++) ev.triggerEvent(go, i);
  await ev.run();
  const ours = (heapUsed() - before) / count;
  await ev.close();

  // The bare baseline remembers what a hand-written runner must: each task's key and outcome.
  const kept = new Map<string, { status: string; result: unknown }>();
  const bareBefore = heapUsed();
  await Promise.all(Array.from({ length: count }, async (_, i) => kept.set(`work\u0000${i + 1}`, { status: 'success', result: await noop() })));
  const bare = (heapUsed() - bareBefore) / count;
  if (kept.size !== count) throw new Error('baseline lost tasks');
  return { ours, bare };
}

const rows: { name: string; unit: string; ours: number; bare: number; target: string; better: 'lower' | 'higher' }[] = [];
const chain = await chainRow(1000, 5);
rows.push({ name: 'chain of 1,000 no-op steps', unit: 'µs/step', ...chain, target: '≤ 40', better: 'lower' });
const fanOut = await fanOutRow(10_000, 5);
rows.push({ name: 'fan-out of 10,000 tasks', unit: 'tasks/s', ...fanOut, target: '≥ 50,000', better: 'higher' });
const heap = await heapRow(10_000);
rows.push({ name: 'heap kept per finished task', unit: 'bytes', ...heap, target: '≤ 1,024', better: 'lower' });

const fmt = (n: number) => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const header = ['row', 'unit', 'eventor', 'bare baseline', 'ratio', 'target'];
const table = rows.map((row) => [row.name, row.unit, fmt(row.ours), fmt(row.bare), `${(row.better === 'lower' ? row.ours / row.bare : row.bare / row.ours).toFixed(1)}×`, row.target]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of table) console.log(line(r));
console.log(JSON.stringify({
  store: 'memory',
  chain_us_per_step: +chain.ours.toFixed(2),
  chain_baseline_us_per_step: +chain.bare.toFixed(2),
  fanout_tasks_per_s: Math.round(fanOut.ours),
  fanout_baseline_tasks_per_s: Math.round(fanOut.bare),
  heap_bytes_per_task: Math.round(heap.ours),
  heap_baseline_bytes_per_task: Math.round(heap.bare),
}));
