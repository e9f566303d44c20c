// Regression tests for the store defects of issue 8: names beyond the Basic Multilingual Plane
// (defect 2), damaged records (defect 7), YAML alias bombs and cycles (defect 10), and the store
// side of I/O failures, unstorable results and releasing the folder's lock (defect 4).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import {
  Eventor,
  FlowFileError,
  loadFlow,
  MemoryStore,
  RunMode,
  StepStatus,
  StoreError,
  StoreFormatError,
  UnstorableResultError,
  ValidationError,
  type EventorOptions,
  type RunRecord,
  type Store,
  type TaskContext,
  type TaskRecord,
} from '../src/index.js';
import { RECORD_VERSION, type StoreRecord } from '../src/model/records.js';
import { decode, encode } from '../src/store/codec.js';
import { LevelStore } from '../src/store/level-store.js';
import { eventor } from './cli-helpers.js';
import { errorOf, LIMIT, makeEventor, Recorder, taskRecord as storedTask } from './helpers.js';

/** A fresh folder for one test; `cleanups` (closing stores and Eventors) run before it is removed. */
function tempDir(t: TestContext): { root: string; folder: string; cleanups: (() => unknown)[] } {
  const root = mkdtempSync(join(tmpdir(), 'eventor-defects-'));
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    rmSync(root, { recursive: true, force: true });
  });
  return { root, folder: join(root, 'store'), cleanups };
}

/** An Eventor on `folder` that is closed when the test ends. */
function onFolder(t: TestContext, dir: ReturnType<typeof tempDir>, options: EventorOptions = {}): Eventor {
  const ev = makeEventor(t, { name: 'defects', store: dir.folder, ...options });
  dir.cleanups.push(() => ev.close());
  return ev;
}

/** Every key and value of a LevelDB folder (values as hex), to show that a read changed nothing. */
async function dump(folder: string): Promise<Record<string, string>> {
  const db = new ClassicLevel<string, string>(folder, { keyEncoding: 'utf8', valueEncoding: 'hex' });
  await db.open({ createIfMissing: false });
  try {
    return Object.fromEntries(await db.iterator().all());
  } finally {
    await db.close();
  }
}

/** Puts raw bytes under a key with classic-level itself, as a damaged disk would leave them. */
async function putRaw(folder: string, key: string, bytes: Uint8Array): Promise<void> {
  mkdirSync(folder, { recursive: true });
  const db = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    await db.put(key, bytes);
  } finally {
    await db.close();
  }
}

const now = Date.now();

function runRecord(runId: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { v: RECORD_VERSION, kind: 'run', runId, name: 'flow', startedAt: now, recovery: 0, status: 'success', updatedAt: now, fingerprint: 'f', parents: [-1], steps: ['s1'], events: ['start'], counts: {}, ...extra };
}

/** A successful task record (its machine's persisted snapshot) of `step` for `sequence`, with `context` over the machine's context. */
function taskRecord(runId: string, step: string, sequence = '1', context: Partial<TaskContext> = {}): TaskRecord {
  return storedTask(runId, step, sequence, 'success', { at: now, context });
}

// -- defect 2: names beyond the Basic Multilingual Plane --------------------------------------

/** Two steps: `first` succeeds and triggers `second`, which fails unless `fixed`; counts each run. */
function twoSteps(t: TestContext, dir: ReturnType<typeof tempDir>, first: string, second: string, calls: Record<string, number>, fixed: boolean, options: EventorOptions = {}): Eventor {
  const ev = onFolder(t, dir, options);
  const start = ev.addEvent('start');
  const next = ev.addEvent('next');
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  ev.addAssoc(start, ev.addStep(first, { func: () => (count(first), 'first done'), triggers: { [StepStatus.success]: [next] } }));
  ev.addAssoc(next, ev.addStep(second, { func: () => {
    count(second);
    if (!fixed) throw new Error('not yet');
    return 'second done';
  } }));
  ev.triggerEvent(start, 1);
  return ev;
}

for (const [first, second] of [['𝔡', '🚀'], ['🚀', '𝔡']]) {
  test(`regression (defect 2): a step named outside the BMP is skipped on recovery, not re-run (${first} then ${second})`, LIMIT, async (t) => {
    const dir = tempDir(t);
    const calls: Record<string, number> = {};
    const failed = twoSteps(t, dir, first, second, calls, false);
    assert.equal(await failed.run(), false);
    await failed.close();
    assert.deepEqual(calls, { [first]: 1, [second]: 1 });

    const recovery = twoSteps(t, dir, first, second, calls, true, { runMode: RunMode.recover });
    const records = new Recorder(recovery);
    assert.equal(await recovery.run(), true);
    assert.equal(recovery.runId, failed.runId);
    assert.deepEqual(calls, { [first]: 1, [second]: 2 }, `${first} ran again: ${records.describe()}`);
    assert.deepEqual(records.statuses(first, '1'), ['success']);
    assert.equal(records.find(first, '1', 'success').result, 'first done', 'the skipped step keeps its result');
  });
}

test('regression (defect 2): a run id that starts outside the BMP is listed, recovered by id and deleted', LIMIT, async (t) => {
  const dir = tempDir(t);
  const calls: Record<string, number> = {};
  const runId = '🚀-launch';
  const failed = twoSteps(t, dir, 's1', 's2', calls, false, { runId });
  assert.equal(await failed.run(), false);
  await failed.close();

  const lister = onFolder(t, dir);
  assert.deepEqual((await lister.listRuns()).map((run) => run.runId), [runId]);
  await lister.close();

  const recovery = twoSteps(t, dir, 's1', 's2', calls, true, { runMode: RunMode.recover, runId });
  assert.equal(await recovery.run(), true);
  assert.deepEqual(calls, { s1: 1, s2: 2 });
  await recovery.close();

  const cleaner = onFolder(t, dir);
  assert.deepEqual(await cleaner.deleteRuns({ olderThanDays: 0 }), [runId]);
  await cleaner.close();
  assert.deepEqual(Object.keys(await dump(dir.folder)), [], 'nothing of the run is left');
});

test('regression (defect 2): run ids and names beyond the BMP or holding the key separator keep to their own run, on LevelStore and MemoryStore', LIMIT, async (t) => {
  const dir = tempDir(t);
  const level = new LevelStore(dir.folder);
  dir.cleanups.push(() => level.close());
  await level.open();
  const names = ['a', 'a\u0000b', 'a\u0001', '😀', '\u{10ffff}x', '\uffff', '\ue000'];
  for (const store of [level, new MemoryStore()] as Store[]) {
    const what = store.location;
    const records: StoreRecord[] = [];
    for (const runId of names) {
      records.push(runRecord(runId));
      // Each run has a step of each name; the sequence names the run, so records cannot be mistaken.
      for (const step of names) records.push(taskRecord(runId, step, `${runId}/${step}`));
      records.push({ v: RECORD_VERSION, kind: 'event', runId, recovery: 0, event: '𝔢', sequence: runId, at: now });
      records.push({ v: RECORD_VERSION, kind: 'delay', runId, recovery: 0, event: '𝔢', sequence: runId, dueAt: now, done: false });
    }
    await store.write(records);
    assert.deepEqual((await store.listRuns()).map((run) => run.runId).sort(), [...names].sort(), what);
    for (const runId of names) {
      assert.equal((await store.getRun(runId))?.runId, runId, `${what} getRun(${JSON.stringify(runId)})`);
      const state = await store.loadRecovery(runId, 0);
      assert.deepEqual(state.tasks.map((task) => task.context.sequence).sort(), names.map((step) => `${runId}/${step}`).sort(), `${what} tasks of ${JSON.stringify(runId)}`);
      assert.deepEqual(state.events.map((event) => event.sequence), [runId]);
      assert.deepEqual(state.delays.map((delay) => delay.sequence), [runId]);
    }
    await store.deleteRun('a');
    assert.deepEqual((await store.listRuns()).map((run) => run.runId).sort(), names.filter((name) => name !== 'a').sort(), what);
    assert.equal((await store.loadRecovery('a\u0000b', 0)).tasks.length, names.length, `${what}: deleting run 'a' left run 'a\\u0000b' whole`);
    for (const runId of names.slice(1)) await store.deleteRun(runId);
    assert.deepEqual(await store.listRuns(), [], what);
    for (const runId of names) assert.deepEqual(await store.loadRecovery(runId, 0), { tasks: [], events: [], delays: [] }, what);
  }
  await level.close();
  assert.deepEqual(Object.keys(await dump(dir.folder)), []);
});

test('regression (defect 2): a step, event or sequence holding half a character is refused before anything runs, since no store keeps it', LIMIT, async (t) => {
  let ran = false;
  for (const [what, build] of [
    ['step', (ev: Eventor) => ev.addAssoc(ev.addEvent('start'), ev.addStep('half\ud835', { func: () => (ran = true) }))],
    ['event', (ev: Eventor) => ev.addAssoc(ev.addEvent('start\udc00'), ev.addStep('s1', { func: () => (ran = true) }))],
  ] as const) {
    const ev = makeEventor(t);
    build(ev);
    ev.triggerEvent(what === 'event' ? 'start\udc00' : 'start', 1);
    const error = await errorOf(() => ev.run());
    assert.ok(error instanceof ValidationError, `${what}: ${String(error)}`);
    assert.match(error.message, /half a character/);
  }
  const ev = makeEventor(t);
  ev.addAssoc(ev.addEvent('start'), ev.addStep('s1', { func: () => (ran = true) }));
  ev.triggerEvent('start', 'seq\ud800');
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof ValidationError, String(error));
  assert.match(error.message, /sequence/);
  assert.equal(ran, false);
});

// -- defect 7: damaged records -----------------------------------------------------------------

/** Runs a two-step flow on the folder to its end and returns its run id. */
async function storedRun(t: TestContext, dir: ReturnType<typeof tempDir>): Promise<string> {
  const ev = twoSteps(t, dir, 's1', 's2', {}, true);
  assert.equal(await ev.run(), true);
  await ev.close();
  return ev.runId;
}

/** Bytes that msgpackr cannot decode: a whole value followed by more (`Data read, but end of buffer not reached`). */
const GARBAGE = Buffer.from('010203ff', 'hex');

test('regression (defect 7): random bytes under a task key make recovery fail with StoreFormatError naming the folder and the key, and change nothing', LIMIT, async (t) => {
  const dir = tempDir(t);
  const runId = await storedRun(t, dir);
  const key = `task\u0000${runId}\u0000000000\u0000s1\u00001`;
  assert.ok(key in (await dump(dir.folder)), 'the key is a real task key');
  assert.throws(() => decode(GARBAGE));
  await putRaw(dir.folder, key, GARBAGE);
  const before = await dump(dir.folder);

  const calls: Record<string, number> = {};
  const recovery = twoSteps(t, dir, 's1', 's2', calls, true, { runMode: RunMode.recover });
  const error = await errorOf(() => recovery.run());
  await recovery.close();
  assert.ok(error instanceof StoreFormatError, String(error));
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.ok(error.message.includes(JSON.stringify(key)), error.message);
  assert.match(error.message, /damaged record/);
  assert.doesNotMatch(error.message, /format version/);
  assert.deepEqual(calls, {}, 'no step ran');
  assert.deepEqual(await dump(dir.folder), before);
});

test('regression (defect 7): random bytes under a run key make listRuns and recover fail with StoreFormatError naming the folder and the key, and change nothing', LIMIT, async (t) => {
  const dir = tempDir(t);
  const runId = await storedRun(t, dir);
  const key = `run\u0000${runId}`;
  await putRaw(dir.folder, key, GARBAGE);
  const before = await dump(dir.folder);

  const lister = onFolder(t, dir);
  const listed = await errorOf(() => lister.listRuns());
  assert.ok(listed instanceof StoreFormatError, String(listed));
  assert.ok(listed.message.includes(dir.folder) && listed.message.includes(JSON.stringify(key)), listed.message);
  await lister.close();
  for (const options of [{ runMode: RunMode.recover }, { runMode: RunMode.recover, runId }]) {
    const recovery = twoSteps(t, dir, 's1', 's2', {}, true, options);
    const error = await errorOf(() => recovery.run());
    assert.ok(error instanceof StoreFormatError, `${JSON.stringify(options)}: ${String(error)}`);
    assert.ok(error.message.includes(dir.folder) && error.message.includes(JSON.stringify(key)), error.message);
    await recovery.close();
  }
  assert.deepEqual(await dump(dir.folder), before);
});

test('regression (defect 7): a record of the wrong shape is a damaged record; only a sound record of another v is of another format version', LIMIT, async (t) => {
  const dir = tempDir(t);
  const task = taskRecord('r1', 's1');
  const taskKey = 'task\u0000r1\u0000000000\u0000s1\u00001';
  const damaged: [string, unknown][] = [
    ['a number', 42],
    ['a string', 'task'],
    ['null', null],
    ['an array', [1, 'task']],
    ['a map', new Map<string, unknown>([['v', 1], ['kind', 'task']])],
    ['an object without kind', { v: 1, runId: 'r1' }],
    ['an object without v', { ...task, v: undefined }],
    ['a v that is text', { ...task, v: '2' }],
    ['a run record under a task key', runRecord('r1')],
    ['a status that is a number', { ...task, value: 42 }],
    ['a status that does not exist', { ...task, value: 'done' }],
    ['an XState actor status other than active or done', { ...task, status: 'success' }],
    ['a context that is not an object', { ...task, context: 'ctx' }],
    ['a sequence that is a number', { ...task, context: { ...task.context, sequence: 1 } }],
    ['attempts that are text', { ...task, context: { ...task.context, attempts: 'one' } }],
    ['an error that is text', { ...task, value: 'failure', context: { ...task.context, error: 'boom' } }],
    ['a v of another version but no run id', { v: RECORD_VERSION + 1, kind: 'task' }],
  ];
  for (const [what, value] of damaged) {
    await putRaw(dir.folder, taskKey, encode(value));
    const store = new LevelStore(dir.folder);
    await store.open();
    const error = await errorOf(() => store.loadRecovery('r1', 0));
    await store.close();
    assert.ok(error instanceof StoreFormatError, `${what}: ${String(error)}`);
    assert.match(error.message, /damaged record/, what);
    assert.doesNotMatch(error.message, /format version \d/, what);
    assert.ok(error.message.includes(dir.folder) && error.message.includes(JSON.stringify(taskKey)), `${what}: ${error.message}`);
  }
  const otherVersions = [
    // A task record as format version 1 wrote it, before records were machine snapshots.
    { v: 1, kind: 'task', runId: 'r1', recovery: 0, step: 's1', sequence: '1', status: 'success', attempts: 1, at: now },
    { ...task, v: RECORD_VERSION + 1 },
    { v: 7, kind: 'task', runId: 'r1', recovery: 0, shape: 'of the future' },
  ];
  for (const value of otherVersions) {
    await putRaw(dir.folder, taskKey, encode(value));
    const store = new LevelStore(dir.folder);
    await store.open();
    const error = await errorOf(() => store.loadRecovery('r1', 0));
    await store.close();
    assert.ok(error instanceof StoreFormatError, String(error));
    assert.match(error.message, new RegExp(`format version ${value.v}\\b`));
  }
  // A sound record still reads.
  await putRaw(dir.folder, taskKey, encode(task));
  const store = new LevelStore(dir.folder);
  dir.cleanups.push(() => store.close());
  await store.open();
  assert.deepEqual((await store.loadRecovery('r1', 0)).tasks, [task]);
});

// -- defect 10: YAML alias bombs and cycles -----------------------------------------------------

/** Writes a flow file into the test's folder and returns its path. */
function flowFile(dir: ReturnType<typeof tempDir>, name: string, text: string): string {
  mkdirSync(dir.root, { recursive: true });
  const path = join(dir.root, name);
  writeFileSync(path, text);
  return path;
}

/** The classic "billion laughs": nine levels of nine aliases each, 9^9 strings if expanded. */
const ALIAS_BOMB = [
  'lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
  ...'bcdefgh'.split('').map((name, i) => {
    const previous = 'abcdefgh'[i];
    return `${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`;
  }),
  'steps:',
  '  - name: s1',
  '    command: "true"',
  '    args: *h',
].join('\n');

const quiet = { store: ':memory:', config: { logging: { console: false } } } as const;

/** Asserts that loadFlow and `eventor run` both refuse `path` with a FlowFileError naming it, and no stack. */
function assertRefused(path: string, pattern: RegExp): void {
  const error = (() => {
    try {
      loadFlow(path, quiet);
    } catch (thrown) {
      return thrown;
    }
    return undefined;
  })();
  assert.ok(error instanceof FlowFileError, `loadFlow: ${(error as Error)?.stack ?? String(error)}`);
  assert.ok(error.message.startsWith(path), error.message);
  assert.match(error.message, pattern);
  const { code, stderr } = eventor('run', path);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /FlowFileError: /);
  assert.ok(stderr.includes(path), stderr);
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack');
}

test('regression (defect 10): a YAML alias bomb is a FlowFileError naming the file, from loadFlow and eventor run', LIMIT, (t) => {
  const dir = tempDir(t);
  assertRefused(flowFile(dir, 'bomb.yaml', ALIAS_BOMB), /alias bomb/);
});

test('regression (defect 10): a self-referential YAML alias is a FlowFileError naming the file and the entry, from loadFlow and eventor run', LIMIT, (t) => {
  const dir = tempDir(t);
  const cases: [string, string, RegExp][] = [
    ['args.yaml', 'steps: &steps\n  - name: s1\n    command: "true"\n    args: *steps\n', /steps\[0\]\.args: holds itself/],
    ['expr.yaml', 'events:\n  - name: a\n  - name: b\n    expr: &e [a, *e]\nsteps: []\nassocs: []\n', /events\[1\]\.expr\[1\]: holds itself/],
    ['requires.yaml', 'steps:\n  - name: a\n    command: "true"\n  - name: b\n    command: "true"\n    requires: &r [[a, success], { or: *r }]\n', /steps\[1\]\.requires\[1\]\.or: holds itself/],
    ['kwargs.yaml', 'steps:\n  - name: a\n    command: "true"\n    kwargs: &k { again: *k }\n', /steps\[0\]\.kwargs\.again: holds itself/],
  ];
  for (const [name, text, pattern] of cases) assertRefused(flowFile(dir, name, text), pattern);
});

test('regression (defect 10): an alias to no anchor is a FlowFileError naming the file and the line', LIMIT, (t) => {
  const dir = tempDir(t);
  const path = flowFile(dir, 'unresolved.yaml', 'steps:\n  - name: s1\n    command: "true"\n    config: *defaults\n');
  assert.throws(() => loadFlow(path, quiet), (error: unknown) => error instanceof FlowFileError && error.line === 4 && /alias \*defaults names no anchor/.test(error.message));
});

// -- defect 4, the store's part: I/O errors, unstorable results, the folder's lock --------------

test('regression (defect 4): a LevelDB write that fails on I/O (the folder removed) is a StoreError naming the folder', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = new LevelStore(dir.folder);
  dir.cleanups.push(() => store.close());
  await store.open();
  await store.write([runRecord('r1')]);
  rmSync(dir.folder, { recursive: true, force: true });
  // LevelDB writes to its open log until the 4 MB write buffer fills; the new log then fails.
  const big = 'x'.repeat(1 << 20);
  let error: unknown;
  // A write may throw at once or reject later: either way its error is caught.
  const write = async (i: number) => store.write([taskRecord('r1', `s${i}`, '1', { result: big })]);
  for (let i = 0; i < 64 && error === undefined; i++) error = await write(i).then(() => undefined, (thrown: unknown) => thrown);
  assert.ok(error instanceof StoreError, `the write failed with ${(error as Error)?.stack ?? String(error)}`);
  assert.ok(error.message.includes(dir.folder), error.message);
  assert.ok((error as Error).cause, 'the I/O error is its cause');
  await store.close();
  const again = new LevelStore(dir.folder);
  dir.cleanups.push(() => again.close());
  await again.open();
  assert.deepEqual(await again.listRuns(), []);
});

test('regression (defect 4): assertStorable throws UnstorableResultError for functions, symbols, cycles and an array nested 2,000 deep', LIMIT, async (t) => {
  const dir = tempDir(t);
  const store = new LevelStore(dir.folder);
  const nested = (depth: number) => {
    let value: unknown = 'bottom';
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };
  const loop: Record<string, unknown> = { a: 1 };
  loop.self = { back: loop };
  const throwing = { get broken() {
    throw new Error('getter fails');
  } };
  for (const [what, value, pattern] of [
    ['a function', () => 1, /is a function/],
    ['a function inside', { rows: [1, { f() {} }] }, /the result\.rows\[1\]\.f is a function/],
    ['a symbol', Symbol('s'), /is a symbol/],
    ['a symbol as a map value', new Map([['k', Symbol('s')]]), /is a symbol/],
    ['a cycle', loop, /refers to itself/],
    ['an array nested 2,000 deep', nested(2_000), /nested too deeply/],
    ['an array nested 200,000 deep', nested(200_000), /nested too deeply/],
    ['a getter that throws', throwing, /getter fails/],
  ] as const) {
    assert.throws(() => store.assertStorable(value), (error: unknown) => {
      assert.ok(error instanceof UnstorableResultError, `${what}: ${(error as Error)?.stack ?? String(error)}`);
      assert.match(error.message, /cannot be stored/, what);
      assert.match(error.message, pattern, what);
      return true;
    });
  }
  const shared = { x: 1 };
  store.assertStorable({ a: shared, b: shared, deep: nested(100), when: new Date(), bytes: new Uint8Array(3), map: new Map([[1, new Set([2])]]) });
});

test('regression (defect 4): close() releases the folder even while open() is still going, and a cut-off read is a StoreError', LIMIT, async (t) => {
  const dir = tempDir(t);
  const first = new LevelStore(dir.folder);
  const opening = first.open();
  await first.close();
  await opening;
  const second = new LevelStore(dir.folder);
  dir.cleanups.push(() => second.close());
  await second.open();
  await second.write(Array.from({ length: 2_000 }, (_, i) => runRecord(`r${i}`, { name: 'x'.repeat(100) })));
  const listing = second.listRuns().then((runs) => runs.length, (error: unknown) => error);
  await second.close();
  const listed = await listing;
  assert.ok(listed === 2_000 || (listed instanceof StoreError && (listed as Error).message.includes(dir.folder)), `listRuns cut off by close: ${(listed as Error)?.stack ?? String(listed)}`);
  const third = new LevelStore(dir.folder);
  dir.cleanups.push(() => third.close());
  await third.open();
  assert.equal((await third.listRuns()).length, 2_000);
});
