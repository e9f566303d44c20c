// `npm run bench`: the core's speed and memory beside bare baselines run in the same process.
// Prints a table, then one JSON line of figures. Run with --expose-gc for the heap row.
import { ClassicLevel } from 'classic-level';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Eventor, RunMode, StepStatus } from '../dist/index.js';
import { encode } from '../dist/store/codec.js';

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

const scratch = mkdtempSync(join(tmpdir(), 'eventor-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
let folders = 0;
/** A fresh LevelDB folder for one measured run. */
const newFolder = () => join(scratch, `db-${folders++}`);

/** A chain: each step's success triggers the event that starts the next. */
function chainFlow(length: number, store = ':memory:'): Eventor {
  const ev = new Eventor({ name: 'bench-chain', store, config: quiet });
  const events = Array.from({ length }, (_, i) => ev.addEvent(`e${i}`));
  for (let i = 0; i < length; i++) {
    const triggers = i + 1 < length ? { [StepStatus.success]: [events[i + 1]] } : {};
    ev.addAssoc(events[i], ev.addStep(`s${i}`, { func: noop, triggers }));
  }
  ev.triggerEvent(events[0], 1);
  return ev;
}

/** A fan-out: one event starts `width` steps at once. */
function fanOutFlow(width: number, store = ':memory:'): Eventor {
  const ev = new Eventor({ name: 'bench-fanout', store, config: quiet });
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

/** Runs each side `repeats` times after the warm-up, alternating, and takes the medians. */
async function measure(repeats: number, ours: () => Promise<number>, bare: () => Promise<number>) {
  const figures = { ours: [] as number[], bare: [] as number[] };
  for (let r = -WARMUP; r < repeats; r++) {
    figures.ours.push(await ours());
    figures.bare.push(await bare());
  }
  return { ours: median(figures.ours.slice(WARMUP)), bare: median(figures.bare.slice(WARMUP)) };
}

/** µs per step of a chain of `length` steps, on the store given (memory by default). */
function chainRow(length: number, repeats: number, store?: () => string) {
  const perStep = (ms: number) => (ms * 1000) / length;
  return measure(
    repeats,
    async () => perStep(await time(() => runFlow(chainFlow(length, store?.())))),
    async () => perStep(await time(() => (store ? bareLevelChain(length) : (async () => { for (let i = 0; i < length; i++) await noop(); })()))),
  );
}

/** Tasks per second of a fan-out of `width` steps, on the store given (memory by default). */
function fanOutRow(width: number, repeats: number, store?: () => string) {
  const perSecond = (ms: number) => width / (ms / 1000);
  return measure(
    repeats,
    async () => perSecond(await time(() => runFlow(fanOutFlow(width, store?.())))),
    async () => perSecond(await time(() => (store ? bareLevelFanOut(width) : Promise.all(Array.from({ length: width }, () => noop()))))),
  );
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

/** A record shaped like the ones Eventor writes, for the hand-written LevelDB baselines. */
function record(kind: string, step: string, status: string) {
  return encode({ v: 1, kind, runId: '20261123T000000.000-000000', recovery: 0, step, sequence: '1', status, attempts: 1, at: Date.now() });
}

/** The same chain by hand on LevelDB: per step, one awaited batch of the four records Eventor writes. */
async function bareLevelChain(length: number): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(newFolder(), { valueEncoding: 'view' });
  await db.open();
  for (let i = 0; i < length; i++) {
    const step = `s${i}`;
    await db.batch(['event', 'ready', 'active', 'success'].map((status) => ({ type: 'put' as const, key: `${step}\u0000${status}`, value: record('task', step, status) })));
    await noop();
  }
  await db.close();
}


/** The same fan-out by hand on LevelDB: a batch of ready and active records, the tasks, a batch of results. */
async function bareLevelFanOut(width: number): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(newFolder(), { valueEncoding: 'view' });
  await db.open();
  const keys = Array.from({ length: width }, (_, i) => `s${i}`);
  await db.batch(keys.map((step) => ({ type: 'put' as const, key: step, value: record('task', step, 'active') })));
  await Promise.all(keys.map(() => noop()));
  await db.batch(keys.map((step) => ({ type: 'put' as const, key: step, value: record('task', step, 'success') })));
  await db.close();
}


/** One step over `count` sequences: the shape of a batch job over many files. */
function sequencesFlow(count: number, store: string, runMode: RunMode): Eventor {
  const ev = new Eventor({ name: 'bench-recovery', store, runMode, config: quiet });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('work', { func: noop }));
  for (let i = 1; i <= count; i++) ev.triggerEvent(go, i);
  return ev;
}

/** Recovering a finished run of `count` tasks: every task is skipped, and its skip recorded. */
async function recoveryRow(count: number, repeats: number) {
  const ours: number[] = [];
  const bare: number[] = [];
  for (let r = -1; r < repeats; r++) {
    const folder = newFolder();
    await runFlow(sequencesFlow(count, folder, RunMode.restart));
    ours.push(await time(() => runFlow(sequencesFlow(count, folder, RunMode.recover))));
    // By hand: read every task record of the run back, and write each again as skipped.
    bare.push(await time(async () => {
      const db = new ClassicLevel<string, Uint8Array>(folder, { valueEncoding: 'view' });
      await db.open();
      const skipped = [];
      for await (const [key, value] of db.iterator({ gte: 'task\u0000', lt: 'task\u0000\uffff' })) skipped.push({ type: 'put' as const, key: `${key}+`, value });
      await db.batch(skipped);
      await db.close();
    }));
  }
  return { ours: median(ours.slice(1)), bare: median(bare.slice(1)) };
}

/** Spawns `true` and waits for it, as a plain Node script would. */
function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => spawn('true', [], { stdio: 'ignore' }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`true exited ${code}`)))).on('error', reject));
}

/** `count` runs of `fn`, at most `limit` at once. */
async function limited(count: number, limit: number, fn: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next++ < count) await fn();
  }));
}

/** `count` command steps running `true`: in a chain, or from one event with `maxConcurrent`. */
function commandFlow(count: number, chain: boolean, maxConcurrent = 0): Eventor {
  const ev = new Eventor({ name: 'bench-command', store: ':memory:', config: { ...quiet, maxConcurrent } });
  if (chain) {
    const events = Array.from({ length: count }, (_, i) => ev.addEvent(`e${i}`));
    for (let i = 0; i < count; i++) ev.addAssoc(events[i], ev.addStep(`s${i}`, { command: ['true'], triggers: i + 1 < count ? { [StepStatus.success]: [events[i + 1]] } : {} }));
    ev.triggerEvent(events[0], 1);
  } else {
    const go = ev.addEvent('go');
    ev.addAssoc(go, ev.addStep('true', { command: ['true'] }));
    for (let i = 1; i <= count; i++) ev.triggerEvent(go, i);
  }
  return ev;
}

async function commandRow(count: number, chain: boolean) {
  const ours = await time(() => runFlow(commandFlow(count, chain, chain ? 0 : 8)));
  const bare = await time(() => (chain ? limited(count, 1, spawnTrue) : limited(count, 8, spawnTrue)));
  return { ours: (ours * 1000) / count, bare: (bare * 1000) / count };
}

const noopModule = fileURLToPath(new URL('./noop-step.mjs', import.meta.url));

/** `count` worker tasks of the no-op module step, one sequence each. */
function workerFlow(count: number): Eventor {
  const ev = new Eventor({ name: 'bench-worker', store: ':memory:', config: { ...quiet, executor: 'worker' } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('noop', { module: noopModule, export: 'noop', args: [1] }));
  for (let i = 1; i <= count; i++) ev.triggerEvent(go, i);
  return ev;
}

/** The same tasks on a hand-written pool of threads, one message per task. */
async function bareWorkers(count: number): Promise<void> {
  const threads = Array.from({ length: availableParallelism() }, () => new Worker(new URL('./bare-worker.mjs', import.meta.url)));
  let next = 0;
  await Promise.all(threads.map((thread) => new Promise<void>((resolve) => {
    const send = () => (next < count ? thread.postMessage({ id: next++, n: 1 }) : resolve());
    thread.on('message', send);
    send();
  })));
  await Promise.all(threads.map((thread) => thread.terminate()));
}

async function workerRow(count: number) {
  await runFlow(workerFlow(200));
  const ours = await time(() => runFlow(workerFlow(count)));
  const bare = await time(() => bareWorkers(count));
  return { ours: count / (ours / 1000), bare: count / (bare / 1000) };
}

const rows: { name: string; unit: string; ours: number; bare: number; target: string; better: 'lower' | 'higher' }[] = [];
const chain = await chainRow(1000, 5);
rows.push({ name: 'memory: chain of 1,000 no-op steps', unit: 'µs/step', ...chain, target: '≤ 40', better: 'lower' });
const fanOut = await fanOutRow(10_000, 5);
rows.push({ name: 'memory: fan-out of 10,000 tasks', unit: 'tasks/s', ...fanOut, target: '≥ 50,000', better: 'higher' });
const heap = await heapRow(10_000);
rows.push({ name: 'memory: heap kept per finished task', unit: 'bytes', ...heap, target: '≤ 1,024', better: 'lower' });
const levelChain = await chainRow(1000, 5, newFolder);
rows.push({ name: 'LevelDB: chain of 1,000 no-op steps', unit: 'µs/step', ...levelChain, target: '≤ 120', better: 'lower' });
const levelFanOut = await fanOutRow(10_000, 5, newFolder);
rows.push({ name: 'LevelDB: fan-out of 10,000 tasks', unit: 'tasks/s', ...levelFanOut, target: '≥ 30,000', better: 'higher' });
const recovery = await recoveryRow(10_000, 3);
rows.push({ name: 'LevelDB: recover a finished 10,000-task run', unit: 'ms', ...recovery, target: '≤ 500', better: 'lower' });

const commandChain = await commandRow(1000, true);
rows.push({ name: 'command: chain of 1,000 `true`', unit: 'µs/step', ...commandChain, target: '≤ 1.2× bare', better: 'lower' });
const commandParallel = await commandRow(1000, false);
rows.push({ name: 'command: 1,000 `true`, 8 at once', unit: 'µs/task', ...commandParallel, target: '≤ 1.2× bare', better: 'lower' });
const workers = await workerRow(10_000);
rows.push({ name: 'worker: 10,000 no-op tasks', unit: 'tasks/s', ...workers, target: '≤ 1.2× bare', better: 'higher' });

const fmt = (n: number) => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const header = ['row', 'unit', 'eventor', 'bare baseline', 'ratio', 'target'];
const table = rows.map((row) => [row.name, row.unit, fmt(row.ours), fmt(row.bare), `${(row.better === 'lower' ? row.ours / row.bare : row.bare / row.ours).toFixed(1)}×`, row.target]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of table) console.log(line(r));
console.log(JSON.stringify({
  chain_us_per_step: +chain.ours.toFixed(2),
  chain_baseline_us_per_step: +chain.bare.toFixed(2),
  fanout_tasks_per_s: Math.round(fanOut.ours),
  fanout_baseline_tasks_per_s: Math.round(fanOut.bare),
  heap_bytes_per_task: Math.round(heap.ours),
  heap_baseline_bytes_per_task: Math.round(heap.bare),
  level_chain_us_per_step: +levelChain.ours.toFixed(2),
  level_chain_baseline_us_per_step: +levelChain.bare.toFixed(2),
  level_fanout_tasks_per_s: Math.round(levelFanOut.ours),
  level_fanout_baseline_tasks_per_s: Math.round(levelFanOut.bare),
  level_recovery_10k_ms: +recovery.ours.toFixed(1),
  level_recovery_10k_baseline_ms: +recovery.bare.toFixed(1),
  command_chain_us_per_step: Math.round(commandChain.ours),
  command_chain_baseline_us_per_step: Math.round(commandChain.bare),
  command_parallel_us_per_task: Math.round(commandParallel.ours),
  command_parallel_baseline_us_per_task: Math.round(commandParallel.bare),
  worker_tasks_per_s: Math.round(workers.ours),
  worker_baseline_tasks_per_s: Math.round(workers.bare),
}));
