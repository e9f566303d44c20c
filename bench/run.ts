// `npm run bench`: the core's speed and memory beside bare baselines run in the same process.
// Prints a table, then one JSON line of figures. Run with --expose-gc for the heap row.
import { ClassicLevel } from 'classic-level';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, Eventor, RunMode, StepStatus, type RunConfigInput } from '../dist/index.js';
import { DEFAULT_RUN_CONFIG } from '../dist/model/config.js';
import { encode } from '../dist/store/codec.js';
import { clusterRows, type ClusterRow } from './cluster.js';
import { sshRow } from './ssh.js';
import { startupRows } from './startup.js';

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

// Made on first use, so that a child process of this file that needs none leaves none behind.
let scratch: string | undefined;
function scratchFolder(): string {
  if (scratch === undefined) {
    const made = mkdtempSync(join(tmpdir(), 'eventor-bench-'));
    process.on('exit', () => rmSync(made, { recursive: true, force: true }));
    scratch = made;
  }
  return scratch;
}
let folders = 0;
/** A fresh LevelDB folder for one measured run. */
const newFolder = () => join(scratchFolder(), `db-${folders++}`);
/** The JSON log files of runs on LevelDB go to the temp folder, not to `.eventor/logs` under the working directory. */
const logdir = () => join(scratchFolder(), 'logs');

/** What a chain may vary beside its length and store: its config, how many sequences run it, the run mode. */
interface ChainOptions {
  config?: RunConfigInput;
  sequences?: number;
  runMode?: RunMode;
}

/** A chain: each step's success triggers the event that starts the next; triggered for `sequences` sequences. */
function chainFlow(length: number, store = ':memory:', { config = quiet, sequences = 1, runMode = RunMode.restart }: ChainOptions = {}): Eventor {
  const ev = new Eventor({ name: 'bench-chain', store, runMode, config: { ...config, logdir: config.logdir ?? logdir() } });
  const events = Array.from({ length }, (_, i) => ev.addEvent(`e${i}`));
  for (let i = 0; i < length; i++) {
    const triggers = i + 1 < length ? { [StepStatus.success]: [events[i + 1]] } : {};
    ev.addAssoc(events[i], ev.addStep(`s${i}`, { func: noop, triggers }));
  }
  for (let sequence = 1; sequence <= sequences; sequence++) ev.triggerEvent(events[0], sequence);
  return ev;
}

/** A fan-out: one event starts `width` steps at once. */
function fanOutFlow(width: number, store = ':memory:'): Eventor {
  const ev = new Eventor({ name: 'bench-fanout', store, config: { ...quiet, logdir: logdir() } });
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

/**
 * In a child process: µs per step of the memory chain with console logging on, beside the same
 * chain with it off. The child's stderr is a pipe, as under a CI runner or `| tee`, so the lines
 * really cost a write to a pipe; the parent reads them and throws them away.
 */
function consoleChainJob(length: number, repeats: number) {
  const perStep = (ms: number) => (ms * 1000) / length;
  return measure(
    repeats,
    async () => perStep(await time(() => runFlow(chainFlow(length, ':memory:', { config: { logging: { console: true } } })))),
    async () => perStep(await time(() => runFlow(chainFlow(length, ':memory:')))),
  );
}

/** The chain on LevelDB with `durability: 'sync'`, or why this build refuses the setting. */
async function syncChainRow(length: number, repeats: number): Promise<{ ours: number; bare: number; note: string }> {
  const perStep = (ms: number) => (ms * 1000) / length;
  const config = { ...quiet, durability: 'sync' } as RunConfigInput;
  const bare = async () => perStep(await time(() => bareSyncWrites(length)));
  try {
    const figures = await measure(repeats, async () => perStep(await time(() => runFlow(chainFlow(length, newFolder(), { config })))), bare);
    // An unknown config key is kept and ignored today, so a build without the setting would measure the plain chain.
    const known = 'durability' in DEFAULT_RUN_CONFIG;
    return { ...figures, note: known ? '' : 'config.durability has no default in this build: it may be ignored' };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const figures: number[] = [];
    for (let r = 0; r < repeats; r++) figures.push(await bare());
    return { ours: Number.NaN, bare: median(figures), note: `n/a: ${error.message}` };
  }
}

/** By hand: per step, one write of a ~200-byte record and an fdatasync, as a write-ahead log at its cheapest. */
async function bareSyncWrites(length: number): Promise<void> {
  const folder = newFolder();
  mkdirSync(folder, { recursive: true });
  const fd = openSync(join(folder, 'wal'), 'a');
  const entry = Buffer.alloc(200, 'x');
  try {
    for (let i = 0; i < length; i++) {
      writeSync(fd, entry);
      fdatasyncSync(fd);
      await noop();
    }
  } finally {
    closeSync(fd);
  }
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
  const ev = new Eventor({ name: 'bench-recovery', store, runMode, config: { ...quiet, logdir: logdir() } });
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

/** What a job run in a child process prints as its last stdout line, and how much it wrote to stderr. */
interface ChildReport {
  [key: string]: unknown;
  stderrBytes: number;
}

/**
 * Runs `job` of this file in a child process with stdout and stderr as pipes: the last stdout
 * line is its JSON report; stderr is read and thrown away (only its size and tail are kept).
 */
function inChild(job: string, ...jobArgs: string[]): Promise<ChildReport> {
  return inChildWith([], job, ...jobArgs);
}

/** As inChild, with Node options of its own for the child. */
function inChildWith(nodeArgs: string[], job: string, ...jobArgs: string[]): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...nodeArgs, fileURLToPath(import.meta.url), `--child=${job}`, ...jobArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrBytes = 0;
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderrBytes += Buffer.byteLength(chunk);
      stderrTail = (stderrTail + chunk).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exited with ${signal ?? `code ${code}`}`);
        resolve({ ...(JSON.parse(last) as Record<string, unknown>), stderrBytes });
      } catch (error) {
        reject(new Error(`bench job ${job}: ${(error as Error).message}${stderrTail ? `; stderr ends: ${stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      }
    });
  });
}

/** Peak resident set of this process so far, in MB. */
const peakRssMb = () => process.resourceUsage().maxRSS / 1024;

const SCALE_STEPS = 1000;
const SCALE_SEQUENCES = 1000;

/**
 * In a child process: the scale chain on LevelDB in `folder`, restarted or recovered; never throws, reports the failure.
 * Its log file (two lines a task, as a run on LevelDB writes by default) goes beside `folder`, so that the parent
 * removes it even when the child dies.
 */
async function scaleJob(folder: string, runMode: RunMode): Promise<Record<string, unknown>> {
  try {
    const config = { ...quiet, logdir: `${folder}-logs` };
    const ms = await time(() => runFlow(chainFlow(SCALE_STEPS, folder, { config, sequences: SCALE_SEQUENCES, runMode })));
    return { ms, peakRssMb: peakRssMb() };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), peakRssMb: peakRssMb() };
  }
}

/** A record key of the hand-written scale run: one per task, as a store that keeps each task's latest record. */
const scaleKey = (step: number, sequence: number) => `task\u0000s${step}\u0000${sequence}`;

/** In a child process, by hand: 1,000 sequences each awaiting, per step, one batch of its task's active and success records. */
async function bareScaleJob(folder: string): Promise<Record<string, unknown>> {
  const ms = await time(async () => {
    const db = new ClassicLevel<string, Uint8Array>(folder, { valueEncoding: 'view' });
    await db.open();
    await Promise.all(Array.from({ length: SCALE_SEQUENCES }, async (_, s) => {
      for (let step = 0; step < SCALE_STEPS; step++) {
        const key = scaleKey(step, s + 1);
        await db.batch([
          { type: 'put', key, value: record('task', `s${step}`, 'active') },
          { type: 'put', key, value: record('task', `s${step}`, 'success') },
        ]);
        await noop();
      }
    }));
    await db.close();
  });
  return { ms, peakRssMb: peakRssMb() };
}

/** In a child process, by hand: read every task record of the bare scale run and write each again as skipped, 10,000 a batch. */
async function bareScaleRecoverJob(folder: string): Promise<Record<string, unknown>> {
  const ms = await time(async () => {
    const db = new ClassicLevel<string, Uint8Array>(folder, { valueEncoding: 'view' });
    await db.open();
    let skipped: { type: 'put'; key: string; value: Uint8Array }[] = [];
    for await (const [key, value] of db.iterator({ gte: 'task\u0000', lt: 'task\u0000\uffff' })) {
      skipped.push({ type: 'put', key: `${key}+`, value });
      if (skipped.length === 10_000) {
        await db.batch(skipped);
        skipped = [];
      }
    }
    if (skipped.length) await db.batch(skipped);
    await db.close();
  });
  return { ms, peakRssMb: peakRssMb() };
}

/** Runs one job in this process (the child side of `inChild`) and prints its report as one JSON line. */
async function child(job: string, jobArgs: string[]): Promise<void> {
  const [folder] = jobArgs;
  const jobs: Record<string, () => Promise<unknown>> = {
    'console-chain': () => consoleChainJob(1000, 5),
    'scale-run': () => scaleJob(folder, RunMode.restart),
    'scale-recover': () => scaleJob(folder, RunMode.recover),
    'bare-scale-run': () => bareScaleJob(folder),
    'bare-scale-recover': () => bareScaleRecoverJob(folder),
  };
  const run = jobs[job];
  if (!run) throw new Error(`unknown bench job ${job}; known: ${Object.keys(jobs).join(', ')}`);
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}

/** A job's time and peak RSS, or its failure. */
type Outcome = { ms: number; peakRssMb: number } | { failed: string; peakRssMb?: number };

/**
 * The old-space limit of the scale jobs' processes, ours and the baseline's alike: 256 MB for
 * the runs, 512 MB for the recoveries (which hold what they replay besides). V8 lets a heap grow
 * well beyond what is live before it collects; the limit makes it collect instead, so that the
 * peak RSS shows what a run holds rather than how lazily V8 cleans up.
 */
const SCALE_HEAP_MB = { run: 256, recover: 512 };
const heapOf = (job: string) => (job.endsWith('recover') ? SCALE_HEAP_MB.recover : SCALE_HEAP_MB.run);

/** Runs a scale job in its own child process; a job that throws or dies is a failure to print, not a crash of the bench. */
async function outcomeOf(job: string, folder: string): Promise<Outcome> {
  try {
    const report = await inChildWith([`--max-old-space-size=${heapOf(job)}`], job, folder);
    if (typeof report.error === 'string') return { failed: report.error, peakRssMb: report.peakRssMb as number };
    return { ms: report.ms as number, peakRssMb: report.peakRssMb as number };
  } catch (error) {
    return { failed: (error as Error).message };
  }
}

/** `--scale`: a million no-op tasks on LevelDB and the recovery of that run, each in a child process of its own, with its peak RSS. */
async function scaleMain(): Promise<void> {
  const tasks = SCALE_STEPS * SCALE_SEQUENCES;
  const ours = newFolder();
  const bare = newFolder();
  const run = await outcomeOf('scale-run', ours);
  const recovery = 'ms' in run ? await outcomeOf('scale-recover', ours) : { failed: 'not run: the run before it failed' };
  for (const made of [ours, `${ours}-logs`]) rmSync(made, { recursive: true, force: true });
  const bareRun = await outcomeOf('bare-scale-run', bare);
  const bareRecovery = 'ms' in bareRun ? await outcomeOf('bare-scale-recover', bare) : { failed: 'not run: the run before it failed' };
  rmSync(bare, { recursive: true, force: true });

  const seconds = (o: Outcome) => ('ms' in o ? `${(o.ms / 1000).toFixed(1)} s` : `failed: ${o.failed}`);
  const rss = (o: Outcome) => (o.peakRssMb === undefined ? '—' : `${Math.round(o.peakRssMb).toLocaleString('en-US')} MB`);
  const header = ['row', 'eventor', 'peak RSS', 'bare baseline', 'bare peak RSS', 'target'];
  const name = `${SCALE_SEQUENCES.toLocaleString('en-US')} sequences × ${SCALE_STEPS.toLocaleString('en-US')} steps`;
  const table = [
    [`LevelDB: ${tasks.toLocaleString('en-US')} no-op tasks (${name})`, seconds(run), rss(run), seconds(bareRun), rss(bareRun), 'peak RSS < 400 MB'],
    ['LevelDB: recover that run (every task skipped)', seconds(recovery), rss(recovery), seconds(bareRecovery), rss(bareRecovery), 'completes'],
  ];
  printTable(header, table);
  console.log(`(each job in a process of its own: node --max-old-space-size=${SCALE_HEAP_MB.run} for the runs, ${SCALE_HEAP_MB.recover} for the recoveries)`);
  const figure = (o: Outcome) => ('ms' in o ? +(o.ms / 1000).toFixed(2) : null);
  const megabytes = (o: Outcome) => (o.peakRssMb === undefined ? null : Math.round(o.peakRssMb));
  console.log(JSON.stringify({
    scale_run_s: figure(run),
    scale_run_peak_rss_mb: megabytes(run),
    scale_run_baseline_s: figure(bareRun),
    scale_run_baseline_peak_rss_mb: megabytes(bareRun),
    scale_recovery_s: figure(recovery),
    scale_recovery_peak_rss_mb: megabytes(recovery),
    scale_recovery_baseline_s: figure(bareRecovery),
    scale_recovery_baseline_peak_rss_mb: megabytes(bareRecovery),
    ...('failed' in run ? { scale_run_failed: run.failed } : {}),
    ...('failed' in recovery ? { scale_recovery_failed: recovery.failed } : {}),
  }));
}

/** Prints rows of cells as a table with a ruled header. */
function printTable(header: string[], table: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of table) console.log(line(r));
}

/** The default rows, each beside its bare baseline, then one JSON line of figures. */
async function main(): Promise<void> {
  const rows: { name: string; unit: string; ours: number; bare: number; target: string; better: 'lower' | 'higher'; note?: string }[] = [];
  const chain = await chainRow(1000, 5);
  rows.push({ name: 'memory: chain of 1,000 no-op steps', unit: 'µs/step', ...chain, target: '≤ 40', better: 'lower' });
  const fanOut = await fanOutRow(10_000, 5);
  rows.push({ name: 'memory: fan-out of 10,000 tasks', unit: 'tasks/s', ...fanOut, target: '≥ 40,000', better: 'higher' });
  const heap = await heapRow(10_000);
  rows.push({ name: 'memory: heap kept per finished task', unit: 'bytes', ...heap, target: '≤ 1,024', better: 'lower' });
  const consoleReport = await inChild('console-chain');
  const consoleChain = { ours: consoleReport.ours as number, bare: consoleReport.bare as number };
  const consoleExtra = consoleChain.ours - consoleChain.bare;
  rows.push({ name: 'console logging on, to a pipe, chain of 1,000 steps', unit: 'µs/step', ...consoleChain, target: '≤ +10 beside logging off', better: 'lower', note: `${consoleExtra >= 0 ? '+' : ''}${consoleExtra.toFixed(1)} µs/step for ${Math.round(consoleReport.stderrBytes / 1024).toLocaleString('en-US')} KB of lines` });
  const levelChain = await chainRow(1000, 5, newFolder);
  rows.push({ name: 'LevelDB: chain of 1,000 no-op steps', unit: 'µs/step', ...levelChain, target: '≤ 80', better: 'lower' });
  const syncChain = await syncChainRow(1000, 5);
  rows.push({ name: "LevelDB chain, durability: 'sync'", unit: 'µs/step', ...syncChain, target: '≤ 300', better: 'lower' });
  const levelFanOut = await fanOutRow(10_000, 5, newFolder);
  rows.push({ name: 'LevelDB: fan-out of 10,000 tasks', unit: 'tasks/s', ...levelFanOut, target: '≥ 30,000', better: 'higher' });
  const recovery = await recoveryRow(10_000, 3);
  rows.push({ name: 'LevelDB: recover a finished 10,000-task run', unit: 'ms', ...recovery, target: '≤ 300', better: 'lower' });

  const commandChain = await commandRow(1000, true);
  rows.push({ name: 'command: chain of 1,000 `true`', unit: 'µs/step', ...commandChain, target: '≤ 1.2× bare', better: 'lower' });
  const commandParallel = await commandRow(1000, false);
  rows.push({ name: 'command: 1,000 `true`, 8 at once', unit: 'µs/task', ...commandParallel, target: '≤ 1.2× bare', better: 'lower' });
  const workers = await workerRow(10_000);
  rows.push({ name: 'worker: 10,000 no-op tasks', unit: 'tasks/s', ...workers, target: '≤ 1.2× bare', better: 'higher' });

  // Steps on agents over NATS (bench/cluster.ts): its own nats-server and agents, stopped and removed whatever happens.
  let cluster: ClusterRow[];
  try {
    cluster = await clusterRows();
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    cluster = [{ name: 'cluster: rows not run', unit: '', ours: Number.NaN, bare: Number.NaN, target: '', better: 'lower', note: `failed: ${why.slice(0, 300)}`, json: { cluster_failed: why } }];
  }
  try {
    cluster.push(await sshRow());
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    cluster.push({ name: 'SSH: launch agents on 2 hosts, until both said hello', unit: 's', ours: Number.NaN, bare: Number.NaN, target: '—', better: 'lower', note: `failed: ${why.slice(0, 300)}`, json: { ssh_launch_failed: why } });
  }
  try {
    cluster.push(...(await startupRows()));
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    cluster.push({ name: 'CLI: start-up rows not run', unit: '', ours: Number.NaN, bare: Number.NaN, target: '', better: 'lower', note: `failed: ${why.slice(0, 300)}`, json: { startup_failed: why } });
  }
  for (const { json: _json, ...row } of cluster) rows.push(row);
  const clusterFailed = cluster.some((row) => row.note?.startsWith('failed'));

  const fmt = (n: number) => (Number.isNaN(n) ? 'n/a' : n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
  const ratio = (row: (typeof rows)[number]) => (Number.isNaN(row.ours) ? '—' : `${(row.better === 'lower' ? row.ours / row.bare : row.bare / row.ours).toFixed(1)}×`);
  const header = ['row', 'unit', 'eventor', 'bare baseline', 'ratio', 'target', 'note'];
  printTable(header, rows.map((row) => [row.name, row.unit, fmt(row.ours), fmt(row.bare), ratio(row), row.target, row.note ?? '']));
  const twoPlaces = (n: number) => (Number.isNaN(n) ? null : +n.toFixed(2));
  console.log(JSON.stringify({
    chain_us_per_step: +chain.ours.toFixed(2),
    chain_baseline_us_per_step: +chain.bare.toFixed(2),
    fanout_tasks_per_s: Math.round(fanOut.ours),
    fanout_baseline_tasks_per_s: Math.round(fanOut.bare),
    heap_bytes_per_task: Math.round(heap.ours),
    heap_baseline_bytes_per_task: Math.round(heap.bare),
    level_chain_us_per_step: +levelChain.ours.toFixed(2),
    level_chain_baseline_us_per_step: +levelChain.bare.toFixed(2),
    console_chain_us_per_step: twoPlaces(consoleChain.ours),
    console_chain_off_us_per_step: twoPlaces(consoleChain.bare),
    console_chain_extra_us_per_step: twoPlaces(consoleExtra),
    level_sync_chain_us_per_step: twoPlaces(syncChain.ours),
    level_sync_chain_baseline_us_per_step: twoPlaces(syncChain.bare),
    ...(syncChain.note ? { level_sync_chain_note: syncChain.note } : {}),
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
    ...Object.assign({}, ...cluster.map((row) => row.json)),
  }));
  // A cluster row that could not be measured is printed as n/a with its reason, and fails the bench.
  if (clusterFailed) process.exitCode = 1;
}

const args = process.argv.slice(2);
const job = args.find((arg) => arg.startsWith('--child='));
if (job) await child(job.slice('--child='.length), args.filter((arg) => !arg.startsWith('--')));
else if (args.includes('--scale')) await scaleMain();
else await main();
