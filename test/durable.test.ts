// Durable runs on a LevelDB store: the default store folder, restart / recover / continue,
// the errors that refuse a recovery (leaving the store as it was), run housekeeping, and
// recovering what a killed process left behind.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import {
  currentStep,
  Eventor,
  EventorError,
  FlowChangedError,
  NoRunToRecoverError,
  or,
  RecoveryError,
  RunMode,
  RunNotFoundError,
  StepReplay,
  StepStatus,
  VolatileStoreError,
  ConfigError,
  type EventorOptions,
  type RunRecord,
  type TaskContext,
  type TaskRecord,
  type TaskStatus,
} from '../src/index.js';
import { RECORD_VERSION, type StoreRecord } from '../src/model/records.js';
import { LevelStore } from '../src/store/level-store.js';
import { fingerprintFlow } from '../src/model/fingerprint.js';
import { deferred, errorOf, LIMIT, makeEventor, Recorder, sleep, taskRecord } from './helpers.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const indexModule = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const DAY = 86_400_000;

// -- helpers ----------------------------------------------------------------------------------

/** One test's store folder, and the Eventors made on it, all closed before the folder goes. */
interface Lab {
  root: string;
  store: string;
  eventors: Eventor[];
}

function lab(t: TestContext): Lab {
  const root = mkdtempSync(join(tmpdir(), 'eventor-durable-'));
  const made: Lab = { root, store: join(root, 'store'), eventors: [] };
  t.after(async () => {
    for (const ev of made.eventors) await ev.close();
    rmSync(root, { recursive: true, force: true });
  });
  return made;
}

/** A quiet Eventor on the lab's store (makeEventor with the store and options given). */
function open(t: TestContext, where: Lab, options: EventorOptions = {}): Eventor {
  const ev = makeEventor(t, { name: 'durable', store: where.store, ...options });
  where.eventors.push(ev);
  return ev;
}

/** Every key and value of a store folder, to show that a refused recovery changed nothing. */
async function dump(folder: string): Promise<Record<string, string>> {
  const db = new ClassicLevel<string, string>(folder, { keyEncoding: 'utf8', valueEncoding: 'hex' });
  await db.open({ createIfMissing: false });
  try {
    return Object.fromEntries(await db.iterator().all());
  } finally {
    await db.close();
  }
}

/** Reads a store with LevelStore directly (no Eventor may hold it meanwhile). */
async function withStore<T>(folder: string, use: (store: LevelStore) => Promise<T>): Promise<T> {
  const store = new LevelStore(folder);
  await store.open();
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

type Counts = Record<string, number>;

interface RecoveryFlowOptions extends EventorOptions {
  param: number;
  calls: Counts;
  /** currentStep().recovery as s2 saw it, each time it ran. */
  seen?: number[];
}

/**
 * The seed's recovery example, built from src: s1 square(3) triggers done_step1 and run_step2;
 * s2 sqrt(param) triggers done_step2; s3 divide(9, 3) runs on run_step3 = done_step1 and
 * done_step2; run_step1 is triggered with sequence 3.
 */
function recoveryFlow(t: TestContext, where: Lab, { param, calls, seen = [], ...options }: RecoveryFlowOptions): Eventor {
  const ev = open(t, where, { name: 'recovery', ...options });
  const ev1s = ev.addEvent('run_step1');
  const ev1d = ev.addEvent('done_step1');
  const ev2s = ev.addEvent('run_step2');
  const ev2d = ev.addEvent('done_step2');
  const ev3s = ev.addEvent('run_step3', { expr: [ev1d, ev2d] });
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const s1 = ev.addStep('s1', {
    func: ({ x }: { x: number }) => {
      count('s1');
      return x * x;
    },
    kwargs: { x: 3 },
    triggers: { [StepStatus.success]: [ev1d, ev2s] },
  });
  const s2 = ev.addStep('s2', {
    func: ({ x }: { x: number }) => {
      count('s2');
      seen.push(currentStep().recovery);
      if (x < 0) throw new RangeError('math domain error');
      return Math.sqrt(x);
    },
    kwargs: { x: param },
    triggers: { [StepStatus.success]: [ev2d] },
    recovery: { [StepStatus.failure]: StepReplay.rerun, [StepStatus.success]: StepReplay.skip },
  });
  const s3 = ev.addStep('s3', {
    func: ({ x, y }: { x: number; y: number }) => {
      count('s3');
      return x / y;
    },
    kwargs: { x: 9, y: 3 },
  });
  ev.addAssoc(ev1s, s1);
  ev.addAssoc(ev2s, s2);
  ev.addAssoc(ev3s, s3);
  ev.triggerEvent(ev1s, 3);
  return ev;
}

/** Runs the recovery flow's first run, which fails in s2 (sqrt(-9)); returns its run id. */
async function failedFirstRun(t: TestContext, where: Lab, calls: Counts, options: EventorOptions = {}): Promise<string> {
  const ev = recoveryFlow(t, where, { param: -9, calls, ...options });
  assert.equal(await ev.run(), false);
  await ev.close();
  return ev.runId;
}

interface DelayFlowOptions extends EventorOptions {
  calls: Counts;
  /** Date.now() at the start of each step, by step. */
  starts?: Record<string, number[]>;
  delay?: number;
}

/** The seed's delay example: s1, then s2 `delay` s after s1, then s3 `delay` s after s2. */
function delayFlow(t: TestContext, where: Lab, { calls, starts = {}, delay = 0.2, ...options }: DelayFlowOptions): Eventor {
  const ev = open(t, where, { name: 'delay-continue', ...options });
  const prog = (progname: string) => {
    const { name } = currentStep();
    calls[name] = (calls[name] ?? 0) + 1;
    (starts[name] ??= []).push(Date.now());
    return progname;
  };
  const ev1s = ev.addEvent('run_step1');
  const ev2s = ev.addEvent('run_step2');
  const ev3s = ev.addEvent('run_step3');
  const s1 = ev.addStep('s1', { func: prog, args: ['prog1'], triggers: { [StepStatus.success]: [ev2s] } });
  const s2 = ev.addStep('s2', { func: prog, args: ['prog2'], triggers: { [StepStatus.success]: [ev3s] } });
  const s3 = ev.addStep('s3', { func: prog, args: ['prog3'] });
  ev.addAssoc(ev1s, s1, { delay: 0 });
  ev.addAssoc(ev2s, s2, { delay });
  ev.addAssoc(ev3s, s3, { delay });
  ev.triggerEvent(ev1s, 1);
  return ev;
}

/** A run record as the runtime writes it, for faking runs in a store. */
function fakeRun(runId: string, startedAt: number, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    v: RECORD_VERSION,
    kind: 'run',
    runId,
    name: 'durable',
    startedAt,
    recovery: 0,
    status: 'success',
    updatedAt: startedAt,
    fingerprint: '0000000000000000',
    parents: [-1],
    steps: ['s1'],
    events: ['start'],
    counts: { success: 1 },
    ...extra,
  };
}

/** A task record of `step` for sequence 1, as the runtime writes it, with `context` over its machine's context. */
function fakeTask(runId: string, step: string, status: TaskStatus, context: Partial<TaskContext> = {}): TaskRecord {
  return taskRecord(runId, step, '1', status, { context });
}

// -- the default store ------------------------------------------------------------------------

test("with no store option, an Eventor keeps its runs in .eventor/<name> under the current directory", LIMIT, async (t) => {
  const where = lab(t);
  const cwd = process.cwd();
  let ev: Eventor;
  process.chdir(where.root);
  try {
    ev = new Eventor({ name: 'x', config: { logging: { console: false } } });
    where.eventors.push(ev);
  } finally {
    process.chdir(cwd);
  }
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s1', { func: () => 'kept' }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  await ev.close();
  const folder = join(where.root, '.eventor', 'x');
  assert.ok(existsSync(folder), `${folder} exists`);
  await withStore(folder, async (store) => {
    const runs = await store.listRuns();
    assert.deepEqual(runs.map((run) => run.runId), [ev.runId]);
    assert.equal(runs[0].name, 'x');
    const { tasks } = await store.loadRecovery(ev.runId, 0);
    assert.deepEqual(tasks.map((task) => `${task.context.step}:${task.value}:${task.context.result}`), ['s1:success:kept']);
  });
});

test('a flow run in a child process with no store option keeps its runs in .eventor/<name> of its working directory', { timeout: 120_000 }, async (t) => {
  const where = lab(t);
  const script = join(where.root, 'flow.mts');
  writeFileSync(
    script,
    [
      `import { Eventor } from ${JSON.stringify(indexModule)};`,
      `const ev = new Eventor({ name: 'childflow', config: { logging: { console: false } } });`,
      `const start = ev.addEvent('start');`,
      `ev.addAssoc(start, ev.addStep('s1', { func: () => 1 }));`,
      `ev.triggerEvent(start, 1);`,
      `const ok = await ev.run();`,
      `await ev.close();`,
      `process.stdout.write(ev.runId + ' ' + ok + '\\n');`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], { cwd: where.root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, stderr);
  const [runId, ok] = stdout.trim().split(' ');
  assert.equal(ok, 'true');
  const runs = await withStore(join(where.root, '.eventor', 'childflow'), (store) => store.listRuns());
  assert.deepEqual(runs.map((run) => run.runId), [runId]);
});

// -- RunMode.restart --------------------------------------------------------------------------

test('RunMode.restart (the default) makes a new run with a new runId each time', LIMIT, async (t) => {
  const where = lab(t);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const ev = open(t, where, i === 1 ? { runMode: RunMode.restart } : {});
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s1', { func: () => i }));
    ev.triggerEvent(start, 1);
    assert.equal(await ev.run(), true);
    ids.push(ev.runId);
    await ev.close();
    await sleep(2);
  }
  assert.equal(new Set(ids).size, 3, `run ids: ${ids.join(', ')}`);
  const lister = open(t, where);
  assert.deepEqual((await lister.listRuns()).map((run) => run.runId), ids);
});

test('RunMode.restart uses the runId given', LIMIT, async (t) => {
  const where = lab(t);
  const ev = open(t, where, { runId: 'nightly-2026-11-23' });
  assert.equal(ev.runId, 'nightly-2026-11-23');
  const start = ev.addEvent('start');
  const ids: string[] = [];
  ev.addAssoc(start, ev.addStep('s1', { func: () => ids.push(currentStep().runId) }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(ids, ['nightly-2026-11-23']);
  assert.deepEqual((await ev.listRuns()).map((run) => run.runId), ['nightly-2026-11-23']);
});

test('RunMode.restart with the runId of a run already in the store is refused with RecoveryError, and the store is left as it was', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls, { runId: 'taken' });
  const before = await dump(where.store);
  const again: Counts = {};
  const ev = recoveryFlow(t, where, { param: 9, calls: again, runId: 'taken' });
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof RecoveryError, String(error));
  assert.ok(error instanceof EventorError);
  assert.match(error.message, /taken/);
  assert.match(error.message, /RunMode\.recover|RunMode\.continue|without giving runId/);
  assert.deepEqual(again, {});
  await ev.close();
  assert.deepEqual(await dump(where.store), before);
});

// -- RunMode.recover --------------------------------------------------------------------------

test("the seed's recovery: the first run fails in s2; the recovery skips s1, keeps its result, and runs s2 and s3", LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const seen: number[] = [];
  const first = recoveryFlow(t, where, { param: -9, calls, seen });
  const firstRecords = new Recorder(first);
  assert.equal(await first.run(), false);
  assert.deepEqual(calls, { s1: 1, s2: 1 });
  assert.deepEqual(seen, [0], 'currentStep().recovery is 0 in the first run');
  const failure = firstRecords.find('s2', '3', 'failure');
  assert.equal(failure.error?.name, 'RangeError');
  assert.equal(firstRecords.find('s1', '3', 'success').result, 9);
  await first.close();

  const recovery = recoveryFlow(t, where, { param: 9, calls, seen, runMode: RunMode.recover });
  const records = new Recorder(recovery);
  assert.equal(await recovery.run(), true);
  assert.equal(recovery.runId, first.runId, 'the recovery takes up the first run');
  assert.deepEqual(calls, { s1: 1, s2: 2, s3: 1 }, 's1 is not executed again');
  assert.deepEqual(seen, [0, 1], 'currentStep().recovery is 1 in s2 during the recovery');
  const s1 = records.of('s1', '3');
  assert.deepEqual(s1.map((record) => record.status), ['success'], records.describe());
  assert.equal(s1[0].result, 9, 's1 keeps its earlier result');
  assert.equal(records.find('s2', '3', 'success').result, 3);
  assert.equal(records.find('s3', '3', 'success').result, 3);
  assert.equal(records.runs('s2'), 1);
  assert.equal(records.runs('s3'), 1);
  await recovery.close();

  await withStore(where.store, async (store) => {
    const [run] = await store.listRuns();
    assert.equal(run.recovery, 1);
    const { tasks } = await store.loadRecovery(run.runId, 1);
    const s1Record = tasks.find((task) => task.context.step === 's1');
    assert.equal(s1Record?.value, 'success');
    assert.equal(s1Record?.context.result, 9);
    assert.equal(s1Record?.context.skippedFrom, 0, 's1 is on record as skipped, its outcome kept from the first run');
    assert.equal(tasks.find((task) => task.context.step === 's2')?.context.skippedFrom, undefined);
    // The first run's records are still there, as they were.
    const earlier = await store.loadRecovery(run.runId, 0);
    assert.deepEqual(earlier.tasks.map((task) => `${task.context.step}:${task.value}`).sort(), ['s1:success', 's2:failure']);
  });
});

test('a step skipped in a recovery keeps its earlier result as it was returned: a Map stays a Map, a Date a Date', LIMIT, async (t) => {
  const where = lab(t);
  const returned = { byRegion: new Map([['east', 3], ['west', 4]]), at: new Date(1_700_000_000_000), tags: new Set(['a']) };
  const build = (runMode: RunMode, fail: boolean) => {
    const ev = open(t, where, { runMode });
    const start = ev.addEvent('start');
    const loaded = ev.addEvent('loaded');
    ev.addAssoc(start, ev.addStep('load', { func: () => returned, triggers: { success: [loaded] } }));
    ev.addAssoc(loaded, ev.addStep('report', {
      func: () => {
        if (fail) throw new Error('report failed');
      },
    }));
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart, true);
  assert.equal(await first.run(), false);
  await first.close();
  const recovery = build(RunMode.recover, false);
  const records = new Recorder(recovery);
  assert.equal(await recovery.run(), true);
  const kept = records.find('load', '1', 'success').result as typeof returned;
  assert.ok(kept.at instanceof Date);
  assert.deepEqual(kept.tags, new Set(['a']));
  assert.ok(kept.byRegion instanceof Map, `the Map came back as ${JSON.stringify(kept.byRegion)}`);
  assert.deepEqual(kept, returned);
});

test('a recovery logs which steps it skipped and which run it recovers', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const runId = await failedFirstRun(t, where, calls);
  const lines: string[] = [];
  const ev = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover, logSink: (line) => lines.push(line), config: { logging: { console: true } } });
  assert.equal(await ev.run(), true);
  const text = lines.join('\n');
  assert.ok(text.includes(`Recovering (recovery 1) run ${runId}`), text);
  assert.match(text, /\[ Step s1\/3 \] Skipped: success in recovery 0/);
  assert.doesNotMatch(text, /\[ Step s1\/3 \] Trying to run/);
  assert.match(text, /\[ Step s2\/3 \] Trying to run/);
});

test('recover takes up the latest run by default, and the run given by runId otherwise', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const older = await failedFirstRun(t, where, calls);
  await sleep(5);
  const newer = await failedFirstRun(t, where, calls);
  assert.notEqual(older, newer);

  const latest = recoveryFlow(t, where, { param: 9, calls: {}, runMode: RunMode.recover });
  assert.equal(await latest.run(), true);
  assert.equal(latest.runId, newer);
  await latest.close();

  const given = recoveryFlow(t, where, { param: 9, calls: {}, runMode: RunMode.recover, runId: older });
  assert.equal(await given.run(), true);
  assert.equal(given.runId, older);
  const runs = await given.listRuns();
  assert.deepEqual(runs.map((run) => [run.runId, run.recoveries, run.status]), [
    [older, 1, 'success'],
    [newer, 1, 'success'],
  ]);
});

test('a second recovery after a successful one executes no step and still resolves true', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls);
  const recovery = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover });
  assert.equal(await recovery.run(), true);
  await recovery.close();
  const before = { ...calls };

  const seen: number[] = [];
  const second = recoveryFlow(t, where, { param: 9, calls, seen, runMode: RunMode.recover });
  const records = new Recorder(second);
  assert.equal(await second.run(), true);
  assert.deepEqual(calls, before, 'no step function executed');
  assert.deepEqual(seen, []);
  assert.equal(records.records.filter((record) => record.status === 'active').length, 0, records.describe());
  assert.deepEqual(records.records.map((record) => `${record.step}:${record.status}`).sort(), ['s1:success', 's2:success', 's3:success']);
  assert.equal(records.find('s2', '3', 'success').result, 3, 'the skipped s2 keeps the result of recovery 1');
  const [run] = await second.listRuns();
  assert.equal(run.recoveries, 2);
  assert.equal(run.status, 'success');
});

test('recoveryRun picks which recovery to take up; the default is the latest', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls);
  const one = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover });
  assert.equal(await one.run(), true);
  await one.close();
  assert.deepEqual(calls, { s1: 1, s2: 2, s3: 1 });

  // Taking up recovery 1 explicitly: everything succeeded there, nothing runs.
  const latest = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover, recoveryRun: 1 });
  assert.equal(await latest.run(), true);
  await latest.close();
  assert.deepEqual(calls, { s1: 1, s2: 2, s3: 1 });

  // Taking up the first run again: s2 failed there, so it runs again, and s3 with it.
  const seen: number[] = [];
  const fromFirst = recoveryFlow(t, where, { param: 9, calls, seen, runMode: RunMode.recover, recoveryRun: 0 });
  assert.equal(await fromFirst.run(), true);
  assert.deepEqual(calls, { s1: 1, s2: 3, s3: 2 });
  assert.deepEqual(seen, [3], 'the new recovery is numbered after the latest');
  const [run] = await fromFirst.listRuns();
  assert.equal(run.recoveries, 3);
});

test('a step whose recovery map says success → rerun runs again in a recovery; the others are skipped', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const build = (runMode: RunMode, fail: boolean) => {
    const ev = open(t, where, { runMode });
    const start = ev.addEvent('start');
    const aDone = ev.addEvent('a_done');
    const bDone = ev.addEvent('b_done');
    const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
    ev.addAssoc(start, ev.addStep('a', { func: () => count('a'), triggers: { success: [aDone] } }));
    ev.addAssoc(aDone, ev.addStep('b', {
      func: () => `b ran in recovery ${currentStep().recovery} (${count('b')})`,
      triggers: { success: [bDone] },
      recovery: { [StepStatus.success]: StepReplay.rerun },
    }));
    ev.addAssoc(bDone, ev.addStep('c', {
      func: () => {
        count('c');
        if (fail) throw new Error('c fails the first time');
      },
    }));
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart, true);
  assert.equal(await first.run(), false);
  await first.close();
  assert.deepEqual(calls, { a: 1, b: 1, c: 1 });
  const recovery = build(RunMode.recover, false);
  const records = new Recorder(recovery);
  assert.equal(await recovery.run(), true);
  assert.deepEqual(calls, { a: 1, b: 2, c: 2 });
  assert.equal(records.runs('a'), 0);
  assert.equal(records.find('b', '1', 'success').result, 'b ran in recovery 1 (2)');
});

for (const where of ['first', 'downstream'] as const) {
  test(`a ${where} step whose recovery map says failure → skip is not run again: its failure is replayed and run() resolves false`, LIMIT, async (t) => {
    const folder = lab(t);
    const calls: Counts = {};
    const build = (runMode: RunMode) => {
      const ev = open(t, folder, { runMode });
      const start = ev.addEvent('start');
      const go = ev.addEvent('go');
      const handled = ev.addEvent('handled');
      // 'first': the failed step is triggered by the event given to triggerEvent, and replayed
      // as soon as run() applies it; 'downstream': by a step that runs again in the recovery,
      // so that it is replayed while the run is going.
      ev.addAssoc(start, ev.addStep('before', { func: () => 'before', triggers: { success: [go] }, recovery: { [StepStatus.success]: StepReplay.rerun } }));
      ev.addAssoc(where === 'first' ? start : go, ev.addStep('flaky', {
        func: () => {
          calls.flaky = (calls.flaky ?? 0) + 1;
          throw new Error('flaky failed');
        },
        recovery: { [StepStatus.failure]: StepReplay.skip },
      }));
      ev.addAssoc(start, ev.addStep('fine', { func: () => (calls.fine = (calls.fine ?? 0) + 1), triggers: { success: [handled] } }));
      ev.triggerEvent(start, 1);
      return ev;
    };
    const first = build(RunMode.restart);
    assert.equal(await first.run(), false);
    await first.close();
    const recovery = build(RunMode.recover);
    const records = new Recorder(recovery);
    const ok = await recovery.run();
    assert.equal(calls.flaky, 1, 'the failed step is not run again');
    const replayed = records.find('flaky', '1', 'failure');
    assert.equal(replayed.error?.message, 'flaky failed');
    const [run] = await recovery.listRuns();
    assert.equal(run.tasks.failure, 1);
    assert.equal(ok, false, 'the replayed failure is not handled, so run() resolves false');
    assert.equal(run.status, 'failure');
  });
}

// -- RunMode.continue -------------------------------------------------------------------------

test("the seed's delay example in passes of run({ maxLoops: 1 }): each step runs once, none before its due time", { timeout: 120_000 }, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const starts: Record<string, number[]> = {};
  const first = delayFlow(t, where, { calls, starts });
  assert.equal(await first.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { s1: 1 });
  assert.deepEqual(await first.countTodos(), { total: 1, byStep: { s2: 1 } });
  const runId = first.runId;
  await first.close();
  // A task's due time is in its machine's context while it waits (the machine clears it on ready): note it from the store after each pass.
  const dueAt: Record<string, number> = {};
  const noteDueTimes = () =>
    withStore(where.store, async (store) => {
      for (const task of (await store.loadRecovery(runId, 0)).tasks) if (task.value === 'waiting') dueAt[task.context.step] ??= task.context.dueAt as number;
    });
  await noteDueTimes();

  let passes = 1;
  const todos: string[] = [];
  for (;;) {
    const ev = delayFlow(t, where, { calls, starts, runMode: RunMode.continue });
    const { total, byStep } = await ev.countTodos();
    todos.push(`${total}:${Object.keys(byStep).join(',')}`);
    if (total === 0) {
      await ev.close();
      break;
    }
    await sleep(40);
    assert.equal(await ev.run({ maxLoops: 1 }), true);
    assert.equal(ev.runId, runId);
    await ev.close();
    await noteDueTimes();
    passes++;
    assert.ok(passes < 200, 'the passes come to an end');
  }
  assert.deepEqual(calls, { s1: 1, s2: 1, s3: 1 }, 'each step ran exactly once over all passes');
  assert.ok(todos.includes('1:s2') && todos.includes('1:s3'), todos.join(' '));
  assert.equal(todos.at(-1), '0:');

  await withStore(where.store, async (store) => {
    const [run] = await store.listRuns();
    assert.equal(run.runId, runId);
    assert.equal(run.recovery, 0, 'continue keeps the same recovery');
    assert.equal(run.status, 'success');
    const tasks = new Map((await store.loadRecovery(runId, 0)).tasks.map((task) => [task.context.step, task]));
    const s1 = tasks.get('s1') as TaskRecord;
    const s2 = tasks.get('s2') as TaskRecord;
    const s3 = tasks.get('s3') as TaskRecord;
    assert.deepEqual([s1.value, s2.value, s3.value], ['success', 'success', 'success']);
    assert.ok(dueAt.s2 >= s1.at + 200, 's2 was due 0.2 s after s1 finished');
    assert.ok(starts.s2[0] >= dueAt.s2, `s2 started ${dueAt.s2 - starts.s2[0]} ms before its due time`);
    assert.ok(dueAt.s3 >= s2.at + 200);
    assert.ok(starts.s3[0] >= dueAt.s3, `s3 started ${dueAt.s3 - starts.s3[0]} ms before its due time`);
  });
});

test('countTodos() reads the stored run before run() in continue mode, and reports the waiting step', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const first = delayFlow(t, where, { calls, delay: 60 });
  assert.equal(await first.run({ maxLoops: 1 }), true);
  await first.close();
  const ev = delayFlow(t, where, { calls, delay: 60, runMode: RunMode.continue });
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  assert.equal(ev.runId, first.runId);
  // Asking again, and running a loop in which nothing is due yet, changes nothing.
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  assert.deepEqual(calls, { s1: 1 });
  const [run] = await ev.listRuns();
  assert.equal(run.status, 'waiting');
});

test('a due time already past when continuing fires at once, within the same run({ maxLoops: 1 })', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const first = delayFlow(t, where, { calls, delay: 0.1 });
  await first.run({ maxLoops: 1 });
  await first.close();
  await sleep(150);
  const ev = delayFlow(t, where, { calls, delay: 0.1, runMode: RunMode.continue });
  const records = new Recorder(ev);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { s1: 1, s2: 1 });
  assert.deepEqual(records.statuses('s2', '1'), ['ready', 'active', 'success']);
  assert.deepEqual(records.of('s1'), [], 'the finished s1 stays finished');
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s3: 1 } });
});

test('in continue mode, triggering the first event again for its sequence is not new work; a new sequence is', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const first = delayFlow(t, where, { calls, delay: 60 });
  await first.run({ maxLoops: 1 });
  await first.close();
  const ev = delayFlow(t, where, { calls, delay: 60, runMode: RunMode.continue });
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  ev.triggerEvent('run_step1', 1);
  ev.triggerEvent('run_step2', 1);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { s1: 1 });
  ev.triggerEvent('run_step1', 2);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { s1: 2 });
  assert.deepEqual(await ev.countTodos(), { total: 2, byStep: { s2: 2 } });
});

test('continuing a run with nothing left to do runs nothing and resolves true', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const first = delayFlow(t, where, { calls, delay: 0 });
  assert.equal(await first.run(), true);
  await first.close();
  assert.deepEqual(calls, { s1: 1, s2: 1, s3: 1 });
  const ev = delayFlow(t, where, { calls, delay: 0, runMode: RunMode.continue });
  assert.deepEqual(await ev.countTodos(), { total: 0, byStep: {} });
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { s1: 1, s2: 1, s3: 1 });
});

test('in continue mode, an expression event whose sources fired in an earlier pass fires when the remaining source fires', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const build = (runMode: RunMode) => {
    const ev = open(t, where, { runMode });
    const count = () => {
      const { name } = currentStep();
      calls[name] = (calls[name] ?? 0) + 1;
    };
    const start = ev.addEvent('start');
    const aDone = ev.addEvent('a_done');
    const bDone = ev.addEvent('b_done');
    const cDone = ev.addEvent('c_done');
    const all = ev.addEvent('all', { expr: [aDone, bDone, cDone] });
    const any = ev.addEvent('any', { expr: or(aDone, cDone) });
    ev.addAssoc(start, ev.addStep('a', { func: count, triggers: { success: [aDone] } }));
    ev.addAssoc(start, ev.addStep('b', { func: count, triggers: { success: [bDone] } }));
    ev.addAssoc(start, ev.addStep('c', { func: count, triggers: { success: [cDone] } }), { delay: 0.15 });
    ev.addAssoc(all, ev.addStep('join', { func: count }));
    ev.addAssoc(any, ev.addStep('either', { func: count }));
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart);
  assert.equal(await first.run({ maxLoops: 1 }), true);
  await first.close();
  assert.deepEqual(calls, { a: 1, b: 1, either: 1 });
  await sleep(200);
  const second = build(RunMode.continue);
  assert.deepEqual(await second.countTodos(), { total: 1, byStep: { c: 1 } });
  assert.equal(await second.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { a: 1, b: 1, either: 1, c: 1, join: 1 });
  assert.deepEqual(await second.countTodos(), { total: 0, byStep: {} });
});

test('in continue mode, a delayed association to an event waits for its due time, then fires once', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const build = (runMode: RunMode) => {
    const ev = open(t, where, { runMode });
    const start = ev.addEvent('start');
    const later = ev.addEvent('later');
    ev.addAssoc(start, ev.addStep('first', { func: () => (calls.first = (calls.first ?? 0) + 1) }));
    ev.addAssoc(start, later, { delay: 0.15 });
    ev.addAssoc(later, ev.addStep('second', { func: () => (calls.second = (calls.second ?? 0) + 1) }));
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart);
  assert.equal(await first.run({ maxLoops: 1 }), true);
  await first.close();
  assert.deepEqual(calls, { first: 1 });
  const waiting = build(RunMode.continue);
  assert.equal((await waiting.countTodos()).total, 1, 'the delayed event is work not finished');
  await waiting.close();
  await sleep(200);
  const due = build(RunMode.continue);
  assert.equal(await due.run({ maxLoops: 1 }), true);
  await due.close();
  assert.deepEqual(calls, { first: 1, second: 1 });
  const done = build(RunMode.continue);
  assert.deepEqual(await done.countTodos(), { total: 0, byStep: {} });
  assert.equal(await done.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, { first: 1, second: 1 });
});

test('continuing a run that failed does not report success: run() resolves false and the run stays a failure', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const build = (runMode: RunMode) => {
    const ev = open(t, where, { runMode });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('broken', {
      func: () => {
        calls.broken = (calls.broken ?? 0) + 1;
        throw new Error('broken');
      },
    }));
    ev.addAssoc(start, ev.addStep('later', { func: () => (calls.later = (calls.later ?? 0) + 1) }), { delay: 0.05 });
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart);
  assert.equal(await first.run({ maxLoops: 1 }), false);
  await first.close();
  const [failed] = await withStore(where.store, (store) => store.listRuns());
  assert.equal(failed.status, 'failure');
  await sleep(80);
  const again = build(RunMode.continue);
  const ok = await again.run({ maxLoops: 1 });
  const [run] = await again.listRuns();
  assert.equal(calls.broken, 1, 'the failed task stays failed');
  assert.equal(run.tasks.failure, 1);
  assert.equal(ok, false, 'the recovery still holds an unhandled failure');
  assert.equal(run.status, 'failure', `listRuns shows ${run.status} for a run whose task failed`);
});

// -- refusals, each leaving the store as it was -----------------------------------------------

/** Checks that `error` is the named class, a RecoveryError exported from the root, whose message says what to do. */
function assertRefusal(error: unknown, kind: abstract new (...args: never[]) => Error, advice: RegExp): void {
  assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
  assert.ok(error instanceof RecoveryError, `${kind.name} is a RecoveryError`);
  assert.ok(error instanceof EventorError);
  assert.equal(error.name, kind.name);
  assert.match(error.message, advice);
}

for (const runMode of [RunMode.recover, RunMode.continue]) {
  test(`${runMode} with no earlier run fails with NoRunToRecoverError; the store stays empty and no step runs`, LIMIT, async (t) => {
    const where = lab(t);
    const calls: Counts = {};
    const ev = recoveryFlow(t, where, { param: 9, calls, runMode });
    assert.deepEqual(await ev.listRuns(), []);
    const error = await errorOf(() => ev.run());
    assertRefusal(error, NoRunToRecoverError, /RunMode\.restart/);
    assert.ok((error as Error).message.includes(where.store), (error as Error).message);
    assert.deepEqual(calls, {});
    assert.deepEqual(await ev.listRuns(), []);
    await ev.close();
    assert.deepEqual(await dump(where.store), {});
  });

  test(`${runMode} with a runId not in the store fails with RunNotFoundError; the store is left as it was`, LIMIT, async (t) => {
    const where = lab(t);
    const calls: Counts = {};
    await failedFirstRun(t, where, calls);
    const before = await dump(where.store);
    const mark = { ...calls };
    const ev = recoveryFlow(t, where, { param: 9, calls, runMode, runId: 'no-such-run' });
    const listed = await ev.listRuns();
    const error = await errorOf(() => ev.run());
    assertRefusal(error, RunNotFoundError, /listRuns\(\)|leave runId out/);
    assert.match((error as Error).message, /no-such-run/);
    assert.deepEqual(calls, mark);
    assert.deepEqual(await ev.listRuns(), listed);
    await ev.close();
    assert.deepEqual(await dump(where.store), before);
  });

  test(`${runMode} with a flow whose steps and events differ fails with FlowChangedError naming them; the store is left as it was`, LIMIT, async (t) => {
    const where = lab(t);
    const calls: Counts = {};
    const runId = await failedFirstRun(t, where, calls);
    const before = await dump(where.store);
    const mark = { ...calls };
    const ev = open(t, where, { name: 'recovery', runMode });
    const ev1s = ev.addEvent('run_step1');
    const ev1d = ev.addEvent('done_step1');
    ev.addEvent('run_step2');
    ev.addEvent('done_step2');
    ev.addEvent('run_step3', { expr: [ev1d] });
    ev.addEvent('audit');
    ev.addAssoc(ev1s, ev.addStep('s1', { func: () => (calls.s1 = (calls.s1 ?? 0) + 1), triggers: { success: [ev1d] } }));
    ev.addStep('s2', { func: () => (calls.s2 = (calls.s2 ?? 0) + 1) });
    ev.addStep('s4', { func: () => (calls.s4 = (calls.s4 ?? 0) + 1) });
    ev.triggerEvent(ev1s, 3);
    const listed = await ev.listRuns();
    const error = await errorOf(() => ev.run());
    assertRefusal(error, FlowChangedError, /RunMode\.restart|the flow that made it/);
    const changed = error as FlowChangedError;
    assert.equal(changed.runId, runId);
    assert.deepEqual([...changed.added].sort(), ['event audit', 'step s4']);
    assert.deepEqual(changed.removed, ['step s3']);
    assert.match(changed.message, /added .*s4/);
    assert.match(changed.message, /added .*audit/);
    assert.match(changed.message, /removed .*s3/);
    assert.deepEqual(calls, mark);
    assert.deepEqual(await ev.listRuns(), listed);
    await ev.close();
    assert.deepEqual(await dump(where.store), before);
  });

  test(`${runMode} with ':memory:' is refused by the constructor with VolatileStoreError`, () => {
    const error = (() => {
      try {
        new Eventor({ name: 'volatile', store: ':memory:', runMode, config: { logging: { console: false } } });
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    assertRefusal(error, VolatileStoreError, /LevelDB folder/);
    assert.match((error as Error).message, /:memory:/);
  });
}

test('a flow whose associations changed (same steps and events) is refused with FlowChangedError saying so', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls);
  const before = await dump(where.store);
  const ev = open(t, where, { name: 'recovery', runMode: RunMode.recover });
  const ev1s = ev.addEvent('run_step1');
  const ev1d = ev.addEvent('done_step1');
  const ev2s = ev.addEvent('run_step2');
  const ev2d = ev.addEvent('done_step2');
  const ev3s = ev.addEvent('run_step3', { expr: [ev1d, ev2d] });
  const s1 = ev.addStep('s1', { func: () => 9, triggers: { success: [ev1d, ev2s] } });
  const s2 = ev.addStep('s2', { func: () => 3, triggers: { success: [ev2d] } });
  const s3 = ev.addStep('s3', { func: () => 3 });
  ev.addAssoc(ev1s, s1);
  ev.addAssoc(ev2s, s2, { delay: 5 });
  ev.addAssoc(ev3s, s3);
  ev.triggerEvent(ev1s, 3);
  const error = await errorOf(() => ev.run());
  assertRefusal(error, FlowChangedError, /associations, triggers or expressions changed/);
  assert.deepEqual((error as FlowChangedError).added, []);
  assert.deepEqual((error as FlowChangedError).removed, []);
  await ev.close();
  assert.deepEqual(await dump(where.store), before);
});

test('recover with a changed argument (not a changed flow) is accepted: that is how the seed fixes sqrt(-9)', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls);
  const ev = recoveryFlow(t, where, { param: 16, calls, runMode: RunMode.recover });
  const records = new Recorder(ev);
  assert.equal(await ev.run(), true);
  assert.equal(records.find('s2', '3', 'success').result, 4);
});

test('a recoveryRun beyond the latest recovery fails with RunNotFoundError; the store is left as it was', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls);
  const before = await dump(where.store);
  const mark = { ...calls };
  const ev = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover, recoveryRun: 1 });
  const listed = await ev.listRuns();
  const error = await errorOf(() => ev.run());
  assertRefusal(error, RunNotFoundError, /recoveryRun/);
  assert.match((error as Error).message, /\b1\b/);
  assert.deepEqual(calls, mark);
  assert.deepEqual(await ev.listRuns(), listed);
  await ev.close();
  assert.deepEqual(await dump(where.store), before);
});

test('after a refused recovery the same store recovers normally', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  await failedFirstRun(t, where, calls);
  const refused = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover, runId: 'nope' });
  assert.ok((await errorOf(() => refused.run())) instanceof RunNotFoundError);
  await refused.close();
  const ev = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover });
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, { s1: 1, s2: 2, s3: 1 });
});

// -- housekeeping -----------------------------------------------------------------------------

test('listRuns() gives each run with its id, name, start, recoveries, status and task counts, oldest first', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const startedBefore = Date.now();
  const failed = await failedFirstRun(t, where, calls);
  await sleep(5);
  const lister = open(t, where, { name: 'recovery' });
  const [afterFailure] = await lister.listRuns();
  await lister.close();
  assert.equal(afterFailure.runId, failed);
  assert.equal(afterFailure.name, 'recovery');
  assert.ok(afterFailure.startedAt instanceof Date);
  assert.ok(afterFailure.startedAt.getTime() >= startedBefore && afterFailure.startedAt.getTime() <= Date.now());
  assert.equal(afterFailure.recoveries, 0);
  assert.equal(afterFailure.status, 'failure');
  assert.deepEqual(afterFailure.tasks, { success: 1, failure: 1 });

  const succeeded = recoveryFlow(t, where, { param: 9, calls: {} });
  assert.equal(await succeeded.run(), true);
  await succeeded.close();
  await sleep(5);
  const recovery = recoveryFlow(t, where, { param: 9, calls: {}, runMode: RunMode.recover, runId: failed });
  assert.equal(await recovery.run(), true);
  const runs = await recovery.listRuns();
  assert.deepEqual(runs.map((run) => run.runId), [failed, succeeded.runId], 'oldest first');
  assert.deepEqual(
    runs.map(({ runId, name, recoveries, status, tasks }) => ({ runId, name, recoveries, status, tasks })),
    [
      { runId: failed, name: 'recovery', recoveries: 1, status: 'success', tasks: { success: 3 } },
      { runId: succeeded.runId, name: 'recovery', recoveries: 0, status: 'success', tasks: { success: 3 } },
    ],
  );
  assert.equal(runs[0].startedAt.getTime(), afterFailure.startedAt.getTime(), 'a recovery keeps the start of the run');
});

test("listRuns() shows 'waiting', 'stopped' and 'running' runs", LIMIT, async (t) => {
  const where = lab(t);
  // waiting: one loop ended with a delay pending.
  const waiting = delayFlow(t, where, { calls: {}, name: 'durable', delay: 60 });
  assert.equal(await waiting.run({ maxLoops: 1 }), true);
  await waiting.close();
  await sleep(2);
  // stopped: cancelled while a step ran.
  const stopped = open(t, where);
  const go = stopped.addEvent('start');
  const started = deferred();
  stopped.addAssoc(go, stopped.addStep('slow', {
    func: () => new Promise((resolve) => {
      started.resolve();
      currentStep().signal.addEventListener('abort', () => resolve('aborted'));
    }),
  }));
  stopped.triggerEvent(go, 1);
  const stoppedRun = stopped.run();
  await started.promise;
  await stopped.cancel('enough');
  assert.equal(await stoppedRun, false);
  await stopped.close();
  await sleep(2);
  // running: asked while a step is still going.
  const running = open(t, where);
  const begin = running.addEvent('start');
  const release = deferred();
  const inside = deferred();
  running.addAssoc(begin, running.addStep('held', { func: async () => { inside.resolve(); await release.promise; } }));
  running.triggerEvent(begin, 1);
  const run = running.run();
  await inside.promise;
  const whileRunning = await running.listRuns();
  release.resolve();
  assert.equal(await run, true);
  assert.deepEqual(whileRunning.map((summary) => [summary.runId, summary.status]), [
    [waiting.runId, 'waiting'],
    [stopped.runId, 'stopped'],
    [running.runId, 'running'],
  ]);
  assert.deepEqual(whileRunning[0].tasks, { success: 1, waiting: 1 });
  assert.equal((await running.listRuns())[2].status, 'success');
});

test('deleteRuns({ olderThanDays }) deletes the runs started longer ago, with all their records, and keeps the others', LIMIT, async (t) => {
  const where = lab(t);
  const now = Date.now();
  const old: StoreRecord[] = [
    fakeRun('ten-days', now - 10 * DAY),
    fakeTask('ten-days', 's1', 'success'),
    fakeRun('six-days', now - 6 * DAY, { recovery: 1, parents: [-1, 0] }),
    fakeTask('six-days', 's1', 'failure'),
    { ...fakeTask('six-days', 's1', 'success'), recovery: 1 },
    fakeRun('two-days', now - 2 * DAY),
    fakeTask('two-days', 's1', 'success'),
  ];
  await withStore(where.store, (store) => Promise.resolve(store.write(old)));
  const ev = open(t, where);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s1', { func: () => 1 }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  const deleted = await ev.deleteRuns({ olderThanDays: 5 });
  assert.deepEqual([...deleted].sort(), ['six-days', 'ten-days']);
  assert.deepEqual((await ev.listRuns()).map((run) => run.runId), ['two-days', ev.runId]);
  assert.deepEqual(await ev.deleteRuns({ olderThanDays: 5 }), []);
  await ev.close();
  await withStore(where.store, async (store) => {
    for (const runId of ['ten-days', 'six-days']) {
      for (const recovery of [0, 1]) assert.deepEqual(await store.loadRecovery(runId, recovery), { tasks: [], events: [], delays: [] });
    }
    assert.equal((await store.loadRecovery('two-days', 0)).tasks.length, 1);
  });
});

test('deleteRuns({ olderThanDays: 0 }) deletes every earlier run but never the current one, even from inside a step', LIMIT, async (t) => {
  const where = lab(t);
  const earlier: string[] = [];
  for (let i = 0; i < 2; i++) {
    const ev = open(t, where);
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s1', { func: () => i }));
    ev.triggerEvent(start, 1);
    await ev.run();
    earlier.push(ev.runId);
    await ev.close();
  }
  await sleep(5);
  const ev = open(t, where);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  let deletedInside: string[] = [];
  ev.addAssoc(start, ev.addStep('cleanup', { func: async () => (deletedInside = await ev.deleteRuns({ olderThanDays: 0 })), triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('after', { func: () => 'after' }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual([...deletedInside].sort(), [...earlier].sort());
  await sleep(5);
  assert.deepEqual(await ev.deleteRuns({ olderThanDays: 0 }), []);
  const runs = await ev.listRuns();
  assert.deepEqual(runs.map((run) => [run.runId, run.status]), [[ev.runId, 'success']]);
  assert.deepEqual(runs[0].tasks, { success: 2 });
});

test('deleteRuns() in a recovery never deletes the run being recovered', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const failed = await failedFirstRun(t, where, calls);
  await sleep(5);
  const ev = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover });
  assert.equal(await ev.run(), true);
  assert.deepEqual(await ev.deleteRuns({ olderThanDays: 0 }), []);
  assert.deepEqual((await ev.listRuns()).map((run) => run.runId), [failed]);
});

test('deleteRuns() asked of a recover-mode Eventor before run() keeps the run it is to recover', LIMIT, async (t) => {
  const where = lab(t);
  const calls: Counts = {};
  const failed = await failedFirstRun(t, where, calls);
  await sleep(5);
  const ev = recoveryFlow(t, where, { param: 9, calls, runMode: RunMode.recover });
  const deleted = await ev.deleteRuns({ olderThanDays: 0 });
  assert.deepEqual(deleted, [], `deleted ${deleted.join(', ')}`);
  assert.equal(await ev.run(), true);
  assert.equal(ev.runId, failed);
});

test('deleteRuns() refuses a negative or missing number of days with ConfigError', LIMIT, async (t) => {
  const where = lab(t);
  const ev = open(t, where);
  assert.deepEqual(await ev.listRuns(), []);
  for (const olderThanDays of [-1, Number.NaN, undefined as unknown as number]) {
    const error = await errorOf(() => ev.deleteRuns({ olderThanDays }));
    assert.ok(error instanceof ConfigError, String(error));
    assert.match((error as Error).message, /olderThanDays/);
  }
});

test('config dayToKeepDb deletes runs older than that many days when a new run starts', LIMIT, async (t) => {
  const where = lab(t);
  const now = Date.now();
  await withStore(where.store, (store) =>
    Promise.resolve(store.write([fakeRun('ancient', now - 30 * DAY), fakeTask('ancient', 's1', 'success'), fakeRun('recent', now - 1 * DAY)])),
  );
  const keepAll = open(t, where);
  const begin = keepAll.addEvent('start');
  keepAll.addAssoc(begin, keepAll.addStep('s1', { func: () => 1 }));
  keepAll.triggerEvent(begin, 1);
  assert.equal(await keepAll.run(), true);
  assert.deepEqual((await keepAll.listRuns()).map((run) => run.runId), ['ancient', 'recent', keepAll.runId], 'dayToKeepDb 0 (the default) keeps every run');
  await keepAll.close();

  const lines: string[] = [];
  const ev = open(t, where, { config: { dayToKeepDb: 7, logging: { console: true } }, logSink: (line) => lines.push(line) });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s1', { func: () => 1 }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual((await ev.listRuns()).map((run) => run.runId), ['recent', keepAll.runId, ev.runId]);
  assert.match(lines.join('\n'), /Deleted 1 run/);
  await ev.close();
  await withStore(where.store, async (store) => assert.deepEqual(await store.loadRecovery('ancient', 0), { tasks: [], events: [], delays: [] }));
});

// -- what a crash leaves behind ---------------------------------------------------------------

/** The flow of the crash tests: a (success) → a_done → b; b → b_done → c. */
function crashFlow(t: TestContext, where: Lab, calls: Counts, options: EventorOptions = {}): Eventor {
  const ev = open(t, where, { name: 'crashy', ...options });
  const start = ev.addEvent('start');
  const aDone = ev.addEvent('a_done');
  const bDone = ev.addEvent('b_done');
  const step = (result: string) => () => {
    const { name } = currentStep();
    calls[name] = (calls[name] ?? 0) + 1;
    return result;
  };
  ev.addAssoc(start, ev.addStep('a', { func: step('A'), triggers: { success: [aDone] } }));
  ev.addAssoc(aDone, ev.addStep('b', { func: step('B'), triggers: { success: [bDone] } }));
  ev.addAssoc(bDone, ev.addStep('c', { func: step('C') }));
  ev.triggerEvent(start, 1);
  return ev;
}

test('a run killed (SIGKILL) while a step was active is recovered: that task runs again, the successful ones are skipped', { timeout: 120_000 }, async (t) => {
  const where = lab(t);
  const script = join(where.root, 'crashy.mts');
  writeFileSync(
    script,
    [
      `import { Eventor, currentStep } from ${JSON.stringify(indexModule)};`,
      `const ev = new Eventor({ name: 'crashy', store: process.argv[2], config: { logging: { console: false } } });`,
      `const start = ev.addEvent('start');`,
      `const aDone = ev.addEvent('a_done');`,
      `const bDone = ev.addEvent('b_done');`,
      `ev.addAssoc(start, ev.addStep('a', { func: () => 'A', triggers: { success: [aDone] } }));`,
      `ev.addAssoc(aDone, ev.addStep('b', { func: () => new Promise(() => { setInterval(() => {}, 60_000); process.stdout.write('b started ' + currentStep().runId + '\\n'); }), triggers: { success: [bDone] } }));`,
      `ev.addAssoc(bDone, ev.addStep('c', { func: () => 'C' }));`,
      `ev.triggerEvent(start, 1);`,
      `await ev.run();`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, where.store], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const runId = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /b started (\S+)\n/.exec(stdout);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code, signal) => reject(new Error(`the flow ended (${code ?? signal}) before b started:\n${stderr}`)));
  });
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;

  const calls: Counts = {};
  const lister = crashFlow(t, where, calls);
  const [left] = await lister.listRuns();
  await lister.close();
  assert.equal(left.runId, runId);
  assert.equal(left.status, 'running', 'the killed run never recorded its end');
  await withStore(where.store, async (store) => {
    const { tasks } = await store.loadRecovery(runId, 0);
    assert.deepEqual(tasks.map((task) => `${task.context.step}:${task.value}`).sort(), ['a:success', 'b:active']);
  });

  const ev = crashFlow(t, where, calls, { runMode: RunMode.recover });
  const records = new Recorder(ev);
  assert.equal(await ev.run(), true);
  assert.equal(ev.runId, runId);
  assert.deepEqual(calls, { b: 1, c: 1 }, 'a is skipped, b runs again, c runs');
  assert.equal(records.find('a', '1', 'success').result, 'A');
  const [run] = await ev.listRuns();
  assert.deepEqual([run.recoveries, run.status, run.tasks], [1, 'success', { success: 3 }]);
});

/** Writes, as a killed process would have left them, a run whose task `b` was active (or ready). */
async function leaveCrashedRun(t: TestContext, where: Lab, bStatus: TaskStatus): Promise<string> {
  const model = crashFlow(t, where, {}, { store: ':memory:' });
  const fingerprint = fingerprintFlow(model.toSpec());
  await model.close();
  const runId = 'crashed-run';
  const now = Date.now();
  const run = fakeRun(runId, now - 1000, { name: 'crashy', status: 'running', fingerprint, steps: ['a', 'b', 'c'], events: ['start', 'a_done', 'b_done'], counts: {} });
  const records: StoreRecord[] = [
    run,
    fakeTask(runId, 'a', 'success', { result: 'A' }),
    fakeTask(runId, 'b', bStatus),
    { v: RECORD_VERSION, kind: 'event', runId, recovery: 0, event: 'start', sequence: '1', at: now },
    { v: RECORD_VERSION, kind: 'event', runId, recovery: 0, event: 'a_done', sequence: '1', at: now },
  ];
  await withStore(where.store, (store) => Promise.resolve(store.write(records)));
  return runId;
}

for (const mode of [RunMode.recover, RunMode.continue]) {
  test(`${mode} of a run left with a task active reruns that task and skips the successful ones`, LIMIT, async (t) => {
    const where = lab(t);
    const runId = await leaveCrashedRun(t, where, 'active');
    const calls: Counts = {};
    const lines: string[] = [];
    const ev = crashFlow(t, where, calls, { runMode: mode, logSink: (line) => lines.push(line), config: { logging: { console: true } } });
    if (mode === RunMode.continue) assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { b: 1 } });
    const records = new Recorder(ev);
    assert.equal(await ev.run(), true);
    assert.equal(ev.runId, runId);
    assert.deepEqual(calls, { b: 1, c: 1 });
    assert.equal(records.runs('a'), 0);
    assert.equal(records.find('b', '1', 'success').result, 'B');
    const [run] = await ev.listRuns();
    assert.equal(run.status, 'success');
    assert.equal(run.recoveries, mode === RunMode.recover ? 1 : 0);
    if (mode === RunMode.continue) assert.match(lines.join('\n'), /\[ Step b\/1 \] was active when the run stopped; it runs again/);
  });
}

test('continue of a run left with a task ready runs it once', LIMIT, async (t) => {
  const where = lab(t);
  await leaveCrashedRun(t, where, 'ready');
  const calls: Counts = {};
  const ev = crashFlow(t, where, calls, { runMode: RunMode.continue });
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { b: 1 } });
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, { b: 1, c: 1 });
});
