// The LevelDB store layer: records round-trip through msgpackr, keys group them by run and
// recovery, one open store per folder (in this process or another), and stores that cannot be
// read (damaged, or written by an unknown format version) are refused without being touched.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { decode, encode } from '../src/store/codec.js';
import {
  EventorError,
  StoreError,
  StoreFormatError,
  StoreLockedError,
  type DelayRecord,
  type EventRecord,
  type RunRecord,
  type Store,
  type TaskContext,
  type TaskRecord,
  type TaskStatus,
} from '../src/index.js';
import { RECORD_VERSION } from '../src/model/records.js';
import { LevelStore } from '../src/store/level-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { errorOf, LIMIT, makeEventor, Recorder, taskRecord as storedTask } from './helpers.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const levelStoreModule = fileURLToPath(new URL('../src/store/level-store.ts', import.meta.url));

/** A fresh folder for one test, removed (after `cleanups`, e.g. closing stores) when the test ends. */
function tempDir(t: TestContext): { root: string; folder: string; cleanups: (() => Promise<unknown> | unknown)[] } {
  const root = mkdtempSync(join(tmpdir(), 'eventor-store-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups) await cleanup();
    rmSync(root, { recursive: true, force: true });
  });
  return { root, folder: join(root, 'store'), cleanups };
}

/** Opens a LevelStore that is closed when the test ends (close twice is harmless). */
async function openStore(dir: ReturnType<typeof tempDir>, folder = dir.folder): Promise<LevelStore> {
  const store = new LevelStore(folder);
  await store.open();
  dir.cleanups.push(() => store.close().catch(() => undefined));
  return store;
}

const now = Date.now();

function runRecord(runId: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    v: RECORD_VERSION,
    kind: 'run',
    runId,
    name: 'flow',
    startedAt: now,
    recovery: 0,
    status: 'running',
    updatedAt: now,
    fingerprint: '0123456789abcdef',
    parents: [-1],
    steps: ['s1', 's2'],
    events: ['start', 'done'],
    counts: {},
    ...extra,
  };
}

/** A task record (its machine's persisted snapshot) of `status`, with `context` over the machine's context. */
function taskRecord(runId: string, recovery: number, step: string, sequence: string, status: TaskStatus = 'success', context: Partial<TaskContext> = {}): TaskRecord {
  return storedTask(runId, step, sequence, status, { recovery, at: now, context });
}

function eventRecord(runId: string, recovery: number, event: string, sequence: string): EventRecord {
  return { v: RECORD_VERSION, kind: 'event', runId, recovery, event, sequence, at: now };
}

function delayRecord(runId: string, recovery: number, event: string, sequence: string, extra: Partial<DelayRecord> = {}): DelayRecord {
  return { v: RECORD_VERSION, kind: 'delay', runId, recovery, event, sequence, dueAt: now + 60_000, done: false, ...extra };
}

/** Every key and value of a LevelDB folder, as text, to compare a store before and after. */
async function dump(folder: string): Promise<Record<string, string>> {
  const db = new ClassicLevel<string, string>(folder, { keyEncoding: 'utf8', valueEncoding: 'hex' });
  await db.open({ createIfMissing: false });
  try {
    return Object.fromEntries(await db.iterator().all());
  } finally {
    await db.close();
  }
}

/**
 * The files of a folder with their contents, to check that nothing was deleted or rewritten;
 * LevelDB's own info log (LOG, rotated to LOG.old at each open) is left out.
 */
function filesOf(folder: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(folder)
      .filter((name) => !/^LOG(\.old)?$/.test(name))
      .map((name) => [name, readFileSync(join(folder, name)).toString('hex')]),
  );
}

// -- records --------------------------------------------------------------------------------

test('LevelStore round-trips run, task, event and delay records through msgpackr', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  const run = runRecord('r1', { status: 'failure', counts: { success: 1, failure: 1 } });
  const result = { rows: [1, 2, 3], nested: { text: 'é✓', when: new Date(1_700_000_000_000), big: 2n ** 70n }, bytes: new Uint8Array([1, 2, 3]), none: null };
  const s1 = taskRecord('r1', 0, 's1', '1', 'success', { result, dueAt: now + 5 });
  const s2 = taskRecord('r1', 0, 's2', '1', 'failure', { error: { name: 'RangeError', message: 'math domain error', stack: 'RangeError: math domain error\n    at here' } });
  const fired = eventRecord('r1', 0, 'start', '1');
  const delay = delayRecord('r1', 0, 'done', '1');
  await store.write([run, s1, s2, fired, delay]);
  await store.close();

  const reopened = await openStore(dir);
  assert.deepEqual(await reopened.listRuns(), [run]);
  assert.deepEqual(await reopened.getRun('r1'), run);
  assert.equal(await reopened.getRun('nope'), undefined);
  const state = await reopened.loadRecovery('r1', 0);
  assert.deepEqual(state.tasks.sort((a, b) => a.context.step.localeCompare(b.context.step)), [s1, s2]);
  assert.deepEqual(state.events, [fired]);
  assert.deepEqual(state.delays, [delay]);
  const back = state.tasks[0].context.result as typeof result;
  assert.ok(back.nested.when instanceof Date, 'a Date comes back as a Date');
  assert.equal(typeof back.nested.big, 'bigint');
});

test('a Map in a task result comes back as a Map, with its keys', LIMIT, async (t) => {
  // The message for results that cannot be stored lists maps as plain data that can.
  const dir = tempDir(t);
  const store = await openStore(dir);
  const result = new Map<unknown, unknown>([['a', 1], [2, 'two']]);
  await store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1', 'success', { result })]);
  const [task] = (await store.loadRecovery('r1', 0)).tasks;
  const back = task.context.result;
  assert.ok(back instanceof Map, `the result came back as ${Object.prototype.toString.call(back)}: ${JSON.stringify(back)}`);
  assert.deepEqual(back, result);
});

test('a Set in a task result comes back as a Set', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1', 'success', { result: new Set(['x', 'y']) })]);
  const [task] = (await store.loadRecovery('r1', 0)).tasks;
  assert.deepEqual(task.context.result, new Set(['x', 'y']));
});

test('a later record with the same key replaces the earlier one', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1', 'ready', { attempts: 0 }), delayRecord('r1', 0, 'later', '1')]);
  await store.write([taskRecord('r1', 0, 's1', '1', 'active')]);
  // One batch may hold two records of one key: the later one wins.
  await store.write([
    taskRecord('r1', 0, 's1', '1', 'failure'),
    taskRecord('r1', 0, 's1', '1', 'success', { result: 'final' }),
    delayRecord('r1', 0, 'later', '1', { done: true }),
    runRecord('r1', { status: 'success', counts: { success: 1 } }),
  ]);
  const state = await store.loadRecovery('r1', 0);
  assert.equal(state.tasks.length, 1);
  assert.equal(state.tasks[0].value, 'success');
  assert.equal(state.tasks[0].status, 'done');
  assert.equal(state.tasks[0].context.result, 'final');
  assert.equal(state.delays.length, 1);
  assert.equal(state.delays[0].done, true);
  const runs = await store.listRuns();
  assert.equal(runs.length, 1);
  assert.equal(runs[0].status, 'success');
});

test('loadRecovery returns only the records of that run and recovery', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([
    runRecord('r1', { recovery: 1, parents: [-1, 0] }),
    runRecord('r10'),
    taskRecord('r1', 0, 's1', '1', 'success', { result: 'rec0' }),
    taskRecord('r1', 0, 's2', '1', 'failure'),
    eventRecord('r1', 0, 'start', '1'),
    delayRecord('r1', 0, 'done', '1'),
    taskRecord('r1', 1, 's1', '1', 'success', { attempts: 0, skippedFrom: 0, result: 'rec0' }),
    taskRecord('r1', 1, 's2', '1', 'success', { result: 'rec1' }),
    eventRecord('r1', 1, 'start', '1'),
    eventRecord('r1', 1, 'done', '1'),
    // A run whose id starts with the other's, and a recovery whose number starts with 1.
    taskRecord('r10', 0, 's1', '1', 'success', { result: 'other run' }),
    eventRecord('r10', 0, 'start', '1'),
    taskRecord('r1', 10, 's1', '1', 'success', { result: 'recovery 10' }),
  ]);
  const first = await store.loadRecovery('r1', 0);
  assert.deepEqual(first.tasks.map((task) => `${task.context.step}:${task.value}`).sort(), ['s1:success', 's2:failure']);
  assert.deepEqual(first.events.map((event) => event.event), ['start']);
  assert.equal(first.delays.length, 1);
  const second = await store.loadRecovery('r1', 1);
  assert.deepEqual(second.tasks.map((task) => `${task.context.step}:${task.context.result}`).sort(), ['s1:rec0', 's2:rec1']);
  assert.deepEqual(second.events.map((event) => event.event).sort(), ['done', 'start']);
  assert.deepEqual(second.delays, []);
  assert.deepEqual((await store.loadRecovery('r1', 10)).tasks.map((task) => task.context.result), ['recovery 10']);
  assert.deepEqual((await store.loadRecovery('r10', 0)).tasks.map((task) => task.context.result), ['other run']);
  assert.deepEqual(await store.loadRecovery('r1', 2), { tasks: [], events: [], delays: [] });
  assert.deepEqual(await store.loadRecovery('nope', 0), { tasks: [], events: [], delays: [] });
});

test('listRuns lists every run of the store and nothing else', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  assert.deepEqual(await store.listRuns(), []);
  await store.write([runRecord('a', { startedAt: now - 2000 }), taskRecord('a', 0, 's1', '1'), runRecord('b', { startedAt: now - 1000 }), eventRecord('b', 0, 'start', '1'), runRecord('c')]);
  const runs = await store.listRuns();
  assert.deepEqual(runs.map((run) => run.runId).sort(), ['a', 'b', 'c']);
  assert.ok(runs.every((run) => run.kind === 'run'));
});

test('deleteRun removes a run and all its records, and leaves other runs alone', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([
    runRecord('r1', { recovery: 1, parents: [-1, 0] }),
    taskRecord('r1', 0, 's1', '1'),
    taskRecord('r1', 1, 's1', '1'),
    eventRecord('r1', 0, 'start', '1'),
    delayRecord('r1', 1, 'done', '1'),
    runRecord('r10'),
    taskRecord('r10', 0, 's1', '1', 'success', { result: 'kept' }),
    eventRecord('r10', 0, 'start', '1'),
    delayRecord('r10', 0, 'done', '1'),
    runRecord('r'),
    taskRecord('r', 0, 's1', '1', 'success', { result: 'kept too' }),
  ]);
  await store.deleteRun('r1');
  assert.deepEqual((await store.listRuns()).map((run) => run.runId).sort(), ['r', 'r10']);
  assert.equal(await store.getRun('r1'), undefined);
  for (const recovery of [0, 1]) assert.deepEqual(await store.loadRecovery('r1', recovery), { tasks: [], events: [], delays: [] });
  const other = await store.loadRecovery('r10', 0);
  assert.deepEqual(other.tasks.map((task) => task.context.result), ['kept']);
  assert.equal(other.events.length, 1);
  assert.equal(other.delays.length, 1);
  assert.deepEqual((await store.loadRecovery('r', 0)).tasks.map((task) => task.context.result), ['kept too']);
  await store.close();
  // Nothing of r1 is left in the folder at all.
  const keys = Object.keys(await dump(dir.folder));
  assert.deepEqual(keys.filter((key) => key.includes('\u0000r1\u0000') || key === 'run\u0000r1'), []);
  assert.equal(keys.length, 6);
});

test('every record an Eventor writes carries the current format version (RECORD_VERSION); the run record its fingerprint, steps and events', LIMIT, async (t) => {
  const dir = tempDir(t);
  const ev = makeEventor(t, { name: 'versioned', store: dir.folder });
  dir.cleanups.push(() => ev.close());
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const later = ev.addEvent('later');
  ev.addAssoc(start, ev.addStep('s1', { func: () => 'one', triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: () => 'two' }));
  ev.addAssoc(done, later, { delay: 0.01 });
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  await ev.close();

  const raw = await dump(dir.folder);
  const records = Object.values(raw).map((hex) => decode(Buffer.from(hex, 'hex')) as { v: number; kind: string });
  assert.deepEqual([...new Set(records.map((record) => record.kind))].sort(), ['delay', 'event', 'run', 'task']);
  for (const record of records) assert.equal(record.v, RECORD_VERSION, `record ${JSON.stringify(record)}`);

  const store = await openStore(dir);
  const [run] = await store.listRuns();
  assert.equal(run.name, 'versioned');
  assert.equal(run.runId, ev.runId);
  assert.equal(run.status, 'success');
  assert.match(run.fingerprint, /^[0-9a-f]{8,}$/);
  assert.deepEqual([...run.steps].sort(), ['s1', 's2']);
  assert.deepEqual([...run.events].sort(), ['done', 'later', 'start']);
  assert.deepEqual(run.counts, { success: 2 });
  const state = await store.loadRecovery(run.runId, 0);
  assert.deepEqual(state.tasks.map((task) => `${task.context.step}:${task.value}:${task.context.result}`).sort(), ['s1:success:one', 's2:success:two']);
  assert.deepEqual(state.events.map((event) => event.event).sort(), ['done', 'later', 'start']);
  assert.deepEqual(state.delays.map((delay) => `${delay.event}:${delay.done}`), ['later:true']);
});

// -- one open store per folder ---------------------------------------------------------------

test('a second LevelStore opening a folder that an open one holds gets StoreLockedError naming the folder; after close it opens', LIMIT, async (t) => {
  const dir = tempDir(t);
  const holder = await openStore(dir);
  await holder.write([runRecord('r1')]);
  const error = await errorOf(() => new LevelStore(dir.folder).open());
  assert.ok(error instanceof StoreLockedError, String(error));
  assert.ok(error instanceof StoreError);
  assert.ok(error instanceof EventorError);
  assert.equal(error.name, 'StoreLockedError');
  assert.equal(error.location, dir.folder);
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.match(error.message, /close|wait|another store/);
  await holder.close();
  const second = await openStore(dir);
  assert.deepEqual((await second.listRuns()).map((run) => run.runId), ['r1']);
});

test('a second Eventor on a store that an open Eventor holds gets StoreLockedError; after close it works', LIMIT, async (t) => {
  const dir = tempDir(t);
  const first = makeEventor(t, { name: 'locked', store: dir.folder });
  dir.cleanups.push(() => first.close());
  assert.deepEqual(await first.listRuns(), []);
  const second = makeEventor(t, { name: 'locked', store: dir.folder });
  dir.cleanups.push(() => second.close());
  let ran = false;
  const start = second.addEvent('start');
  second.addAssoc(start, second.addStep('s1', { func: () => (ran = true) }));
  second.triggerEvent(start, 1);
  const listed = await errorOf(() => second.listRuns());
  assert.ok(listed instanceof StoreLockedError, String(listed));
  assert.ok(listed.message.includes(dir.folder), listed.message);
  const running = await errorOf(() => second.run());
  assert.ok(running instanceof StoreLockedError, String(running));
  assert.equal(ran, false);
  await first.close();
  await second.close();
  const third = makeEventor(t, { name: 'locked', store: dir.folder });
  dir.cleanups.push(() => third.close());
  const go = third.addEvent('start');
  third.addAssoc(go, third.addStep('s1', { func: () => (ran = true) }));
  third.triggerEvent(go, 1);
  assert.equal(await third.run(), true);
  assert.equal(ran, true);
});

test('an Eventor that has not used its store yet does not hold the folder', LIMIT, async (t) => {
  const dir = tempDir(t);
  const idle = makeEventor(t, { name: 'idle', store: dir.folder });
  dir.cleanups.push(() => idle.close());
  idle.addEvent('start');
  // Let any deferred work of the constructor happen.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const store = new LevelStore(dir.folder);
  dir.cleanups.unshift(() => store.close().catch(() => undefined));
  await store.open();
  await store.write([runRecord('by-store')]);
  await store.close();
  assert.deepEqual((await idle.listRuns()).map((run) => run.runId), ['by-store']);
});

test('an Eventor closed without having run releases its store folder', LIMIT, async (t) => {
  const dir = tempDir(t);
  const unused = makeEventor(t, { name: 'unused', store: dir.folder });
  unused.addEvent('start');
  await new Promise((resolve) => setTimeout(resolve, 20));
  await unused.close();
  const store = new LevelStore(dir.folder);
  dir.cleanups.unshift(() => store.close().catch(() => undefined));
  await store.open();
  assert.deepEqual(await store.listRuns(), []);
});

test('of two Eventors made on one folder, the one that uses its store first gets it, every time', LIMIT, async (t) => {
  const dir = tempDir(t);
  const outcomes: string[] = [];
  for (let round = 0; round < 20; round++) {
    const folder = join(dir.root, `store-${round}`);
    const first = makeEventor(t, { name: 'race', store: folder });
    const second = makeEventor(t, { name: 'race', store: folder });
    dir.cleanups.push(() => first.close(), () => second.close());
    const start = first.addEvent('start');
    first.addAssoc(start, first.addStep('s1', { func: () => 'ran' }));
    first.triggerEvent(start, 1);
    const ok = await first.run().catch((error: Error) => error.name);
    const other = await second.listRuns().then(() => 'opened', (error: Error) => error.name);
    outcomes.push(`${ok}/${other}`);
    await first.close();
    await second.close();
  }
  assert.deepEqual(outcomes, Array(20).fill('true/StoreLockedError'));
});

/** Starts a child process that opens the store folder and holds it; resolves once it says so. */
async function holdInChild(dir: ReturnType<typeof tempDir>): Promise<ChildProcess> {
  const script = join(dir.root, 'hold.mts');
  writeFileSync(
    script,
    [
      `import { LevelStore } from ${JSON.stringify(levelStoreModule)};`,
      `const store = new LevelStore(process.argv[2]);`,
      `await store.open();`,
      `await store.write([${JSON.stringify(runRecord('from-child'))}]);`,
      `setInterval(() => {}, 60_000);`,
      `process.stdout.write('ready\\n');`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir.folder], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  dir.cleanups.unshift(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('ready\n')) resolve();
    });
    child.on('exit', (code, signal) => reject(new Error(`the holding child ended (${code ?? signal}) before it was ready:\n${stderr}`)));
    child.on('error', reject);
  });
  return child;
}

test('a store held by another process gets StoreLockedError; once that process is killed (SIGKILL) its lock is taken over', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const child = await holdInChild(dir);
  const error = await errorOf(() => new LevelStore(dir.folder).open());
  assert.ok(error instanceof StoreLockedError, String(error));
  assert.ok(error.message.includes(dir.folder), error.message);
  const ev = makeEventor(t, { name: 'held', store: dir.folder });
  dir.cleanups.push(() => ev.close());
  const fromEventor = await errorOf(() => ev.listRuns());
  assert.ok(fromEventor instanceof StoreLockedError, String(fromEventor));
  await ev.close();

  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  // The dead process left its LOCK file behind; it no longer holds the folder.
  assert.ok(readdirSync(dir.folder).includes('LOCK'));
  const store = await openStore(dir);
  assert.deepEqual((await store.listRuns()).map((run) => run.runId), ['from-child']);
  await store.close();
  const after = makeEventor(t, { name: 'held', store: dir.folder });
  dir.cleanups.push(() => after.close());
  assert.deepEqual((await after.listRuns()).map((run) => run.runId), ['from-child']);
});

// -- stores that cannot be read --------------------------------------------------------------

/** Writes a record with the raw classic-level API, encoded as the store's codec encodes. */
async function writeRaw(folder: string, key: string, value: unknown): Promise<void> {
  mkdirSync(folder, { recursive: true });
  const db = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  await db.put(key, encode(value));
  await db.close();
}

test('a record of an unknown format version makes listRuns fail with StoreFormatError giving the version and what to do', LIMIT, async (t) => {
  const dir = tempDir(t);
  await writeRaw(dir.folder, 'run\u0000x', { ...runRecord('x'), v: 99 });
  const store = await openStore(dir);
  const error = await errorOf(() => store.listRuns());
  assert.ok(error instanceof StoreFormatError, String(error));
  assert.ok(error instanceof StoreError);
  assert.equal(error.name, 'StoreFormatError');
  assert.match(error.message, /\b99\b/);
  assert.match(error.message, new RegExp(`version ${RECORD_VERSION}\\b`));
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.match(error.message, /use the Eventor version that wrote it|new store/);
  const got = await errorOf(() => store.getRun('x'));
  assert.ok(got instanceof StoreFormatError, String(got));
  await store.close();
  // Nothing was rewritten or deleted.
  const raw = await dump(dir.folder);
  assert.deepEqual(Object.keys(raw), ['run\u0000x']);
});

test('an Eventor recovering or listing a store with an unknown format version gets StoreFormatError', LIMIT, async (t) => {
  const dir = tempDir(t);
  await writeRaw(dir.folder, 'run\u0000x', { ...runRecord('x'), v: 99 });
  const before = await dump(dir.folder);
  let ran = false;
  for (const runMode of ['recover', 'continue'] as const) {
    const ev = makeEventor(t, { name: 'flow', store: dir.folder, runMode });
    dir.cleanups.push(() => ev.close());
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s1', { func: () => (ran = true) }));
    ev.triggerEvent(start, 1);
    const listed = await errorOf(() => ev.listRuns());
    assert.ok(listed instanceof StoreFormatError, `${runMode} listRuns: ${String(listed)}`);
    const error = await errorOf(() => ev.run());
    assert.ok(error instanceof StoreFormatError, `${runMode} run: ${String(error)}`);
    assert.match(error.message, /\b99\b/);
    await ev.close();
  }
  assert.equal(ran, false);
  assert.deepEqual(await dump(dir.folder), before);
});

test('a task record of an unknown format version makes loadRecovery fail with StoreFormatError', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([runRecord('x')]);
  await store.close();
  // A task record as the Eventor of format version 1 wrote it, before records were machine snapshots.
  const older = { v: 1, kind: 'task', runId: 'x', recovery: 0, step: 's1', sequence: '1', status: 'success', attempts: 1, at: now };
  await writeRaw(dir.folder, 'task\u0000x\u0000000000\u0000s1\u00001', older);
  const reopened = await openStore(dir);
  const error = await errorOf(() => reopened.loadRecovery('x', 0));
  assert.ok(error instanceof StoreFormatError, String(error));
  assert.match(error.message, /version 1\b/);
  assert.match(error.message, new RegExp(`reads version ${RECORD_VERSION}\\b`));
});

test('a store folder whose CURRENT file is garbage gives a StoreError naming the folder, and nothing is deleted', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1')]);
  await store.close();
  writeFileSync(join(dir.folder, 'CURRENT'), 'this is not a manifest name');
  const before = filesOf(dir.folder);
  const error = await errorOf(() => new LevelStore(dir.folder).open());
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(!(error instanceof StoreLockedError));
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.match(error.message, /damaged|cannot be opened/);
  assert.deepEqual(filesOf(dir.folder), before);

  const ev = makeEventor(t, { name: 'damaged', store: dir.folder });
  dir.cleanups.push(() => ev.close());
  const start = ev.addEvent('start');
  let ran = false;
  ev.addAssoc(start, ev.addStep('s1', { func: () => (ran = true) }));
  ev.triggerEvent(start, 1);
  const fromRun = await errorOf(() => ev.run());
  assert.ok(fromRun instanceof StoreError, String(fromRun));
  assert.ok(fromRun.message.includes(dir.folder), fromRun.message);
  assert.equal(ran, false);
  await ev.close();
  assert.deepEqual(filesOf(dir.folder), before);
});

test('a store folder whose CURRENT names a missing manifest gives a StoreError naming the folder, and nothing is deleted', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  await store.write([runRecord('r1')]);
  await store.close();
  writeFileSync(join(dir.folder, 'CURRENT'), 'MANIFEST-999999\n');
  const before = filesOf(dir.folder);
  const error = await errorOf(() => new LevelStore(dir.folder).open());
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.deepEqual(filesOf(dir.folder), before);
});

test('a store folder whose table and manifest files are garbage gives a StoreError naming the folder, and nothing is deleted', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  const records = Array.from({ length: 200 }, (_, i) => taskRecord('r1', 0, 's1', String(i), 'success', { result: 'x'.repeat(200) }));
  await store.write([runRecord('r1'), ...records]);
  await store.close();
  for (const name of readdirSync(dir.folder)) {
    if (/^MANIFEST-|\.ldb$|\.sst$/.test(name)) writeFileSync(join(dir.folder, name), Buffer.alloc(statSync(join(dir.folder, name)).size + 64, 0xa5));
  }
  const before = filesOf(dir.folder);
  const error = await errorOf(async () => {
    const damaged = new LevelStore(dir.folder);
    await damaged.open();
    try {
      await damaged.listRuns();
      await damaged.loadRecovery('r1', 0);
    } finally {
      await damaged.close();
    }
  });
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.deepEqual(Object.keys(filesOf(dir.folder)), Object.keys(before));
});

test('a regular file where the store folder should be gives a StoreError naming it, and the file is left as it was', LIMIT, async (t) => {
  const dir = tempDir(t);
  writeFileSync(dir.folder, 'precious');
  const error = await errorOf(() => new LevelStore(dir.folder).open());
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.equal(readFileSync(dir.folder, 'utf8'), 'precious');

  const ev = makeEventor(t, { name: 'file', store: dir.folder });
  dir.cleanups.push(() => ev.close());
  const listed = await errorOf(() => ev.listRuns());
  assert.ok(listed instanceof StoreError, String(listed));
  assert.ok(listed.message.includes(dir.folder), listed.message);
  await ev.close();
  assert.equal(readFileSync(dir.folder, 'utf8'), 'precious');
});

// -- results that cannot be stored -----------------------------------------------------------

/** Runs one step returning `value` on `store`; returns run()'s outcome and the step's last record. */
async function runReturning(t: TestContext, store: string, value: () => unknown) {
  const ev = makeEventor(t, { name: 'storable', store });
  const recorder = new Recorder(ev);
  const start = ev.addEvent('start');
  const after = ev.addEvent('after');
  let afterRan = false;
  ev.addAssoc(start, ev.addStep('s1', { func: value, triggers: { success: [after] } }));
  ev.addAssoc(after, ev.addStep('s2', { func: () => (afterRan = true) }));
  ev.triggerEvent(start, 1);
  const ok = await ev.run();
  await ev.close();
  return { ok, last: recorder.of('s1').at(-1), afterRan };
}

for (const [what, value] of [
  ['a function', () => function helper() {}],
  ['an object with a method', () => ({ f() {} })],
  ['an array holding a function', () => [1, () => 2]],
  ['a symbol', () => Symbol('s')],
  ['an object that refers to itself', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    return loop;
  }],
] as const) {
  test(`a step returning ${what} fails on a LevelDB store, saying it cannot be stored`, LIMIT, async (t) => {
    const dir = tempDir(t);
    const { ok, last, afterRan } = await runReturning(t, dir.folder, value);
    assert.equal(ok, false);
    assert.equal(last?.status, 'failure');
    assert.match(last?.error?.message ?? '', /cannot be stored/);
    assert.equal(afterRan, false);
    // The failure, not the unstorable value, is on record; the store stays readable.
    const store = await openStore(dir);
    const [run] = await store.listRuns();
    assert.equal(run.status, 'failure');
    const [task] = (await store.loadRecovery(run.runId, 0)).tasks.filter((record) => record.context.step === 's1');
    assert.equal(task.value, 'failure');
    assert.match(task.context.error?.message ?? '', /cannot be stored/);
  });
}

test("a step returning an object with a method succeeds on ':memory:'", LIMIT, async (t) => {
  const result = { f() {} };
  const { ok, last, afterRan } = await runReturning(t, ':memory:', () => result);
  assert.equal(ok, true);
  assert.equal(last?.status, 'success');
  assert.equal(last?.result, result);
  assert.equal(afterRan, true);
});

test('assertStorable refuses functions on LevelStore and accepts plain data; MemoryStore accepts anything', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = new LevelStore(dir.folder);
  dir.cleanups.push(() => store.close().catch(() => undefined));
  assert.throws(() => store.assertStorable({ nested: { f() {} } }), /cannot be stored/);
  assert.throws(() => store.assertStorable(new Map([['k', () => 1]])), /cannot be stored/);
  store.assertStorable({ a: [1, 'two', null, new Date(), new Uint8Array(2), new Set([1]), new Map([['k', 1]])] });
  store.assertStorable(undefined);
  const memory: Store = new MemoryStore();
  memory.assertStorable({ f() {} });
});
