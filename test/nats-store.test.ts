// The NATS KV store against a real nats-server: the contract LevelStore keeps (records round-trip,
// keys group them by run and recovery, damaged records are refused), one supervisor per bucket
// with a lock that a dead supervisor's successor takes over, named errors for a server that cannot
// be reached, and whole runs recovered from another process.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encode } from '../src/store/codec.js';
import { EventorError, StoreError, StoreFormatError, StoreLockedError, UnstorableResultError, Eventor, type DelayRecord, type EventorOptions, type EventRecord, type RunRecord, type TaskContext, type TaskRecord, type TaskStatus } from '../src/index.js';
import { RECORD_VERSION, type StoreRecord } from '../src/model/records.js';
import { createStore } from '../src/store/open-store.js';
import { kvKeyOf, LOCK_KEY, NatsStore, type NatsStoreOptions } from '../src/store/nats-store.js';
import { recordKey, runKey } from '../src/store/store.js';
import { errorOf, taskRecord as storedTask } from './helpers.js';
import { freePort, NatsServer, spawnProcess, type Child } from './nats-harness.js';

const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';

const LIMIT = { timeout: 60_000 } as const;
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const indexModule = fileURLToPath(new URL('../src/index.ts', import.meta.url));

// -- helpers ----------------------------------------------------------------------------------

/**
 * One test's nats-server, stores, Eventors, children and temp folder. Cleanup goes in that order
 * reversed: stores and Eventors first (their connection would go on reconnecting to a stopped
 * server), then children, then the server, then the folder.
 */
interface Lab {
  server: NatsServer;
  url: string;
  root: string;
  closers: (() => Promise<unknown>)[];
  context: TestContext;
}

async function lab(t: TestContext, auth: { user?: string; pass?: string } = {}): Promise<Lab> {
  const serverHooks: (() => unknown)[] = [];
  const childHooks: (() => unknown)[] = [];
  const root = mkdtempSync(join(tmpdir(), 'eventor-nats-store-'));
  const closers: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const hook of childHooks.splice(0)) await hook();
    for (const hook of serverHooks.splice(0)) await hook();
    rmSync(root, { recursive: true, force: true });
  });
  const server = await NatsServer.start({ after: (fn: () => unknown) => serverHooks.push(fn) } as unknown as TestContext, auth);
  return { server, url: server.url, root, closers, context: { after: (fn: () => unknown) => childHooks.push(fn) } as unknown as TestContext };
}

/** A NatsStore on the lab's server, closed when the test ends (close twice is harmless). */
function storeOf(where: Lab, bucket = 'runs', options: NatsStoreOptions = {}): NatsStore {
  const store = new NatsStore(`${where.url}/${bucket}`, options);
  where.closers.push(() => store.close());
  return store;
}

async function openStore(where: Lab, bucket = 'runs', options: NatsStoreOptions = {}): Promise<NatsStore> {
  const store = storeOf(where, bucket, options);
  await store.open();
  return store;
}

/** The bucket seen by a plain KV client, as an operator with the nats CLI would see it. */
async function rawBucket(where: Lab, bucket = 'runs'): Promise<{ nc: NatsConnection; kv: KV }> {
  const nc = await connect({ servers: where.url, noAsyncTraces: true });
  where.closers.push(() => nc.close());
  const kv = await new Kvm(nc).create(bucket, { history: 1 });
  return { nc, kv };
}

async function keysOf(kv: KV): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  return keys.sort();
}

/** A quiet Eventor on the lab's bucket, closed when the test ends. */
function eventor(where: Lab, options: EventorOptions = {}): Eventor {
  const ev = new Eventor({ name: 'nats', store: `${where.url}/runs`, ...options, config: { logdir: join(where.root, 'logs'), ...options.config, logging: { console: false } } });
  where.closers.push(() => ev.close());
  return ev;
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

function taskRecord(runId: string, recovery: number, step: string, sequence: string, status: TaskStatus = 'success', context: Partial<TaskContext> = {}): TaskRecord {
  return storedTask(runId, step, sequence, status, { recovery, at: now, context });
}

function eventRecord(runId: string, recovery: number, event: string, sequence: string): EventRecord {
  return { v: RECORD_VERSION, kind: 'event', runId, recovery, event, sequence, at: now };
}

function delayRecord(runId: string, recovery: number, event: string, sequence: string, extra: Partial<DelayRecord> = {}): DelayRecord {
  return { v: RECORD_VERSION, kind: 'delay', runId, recovery, event, sequence, dueAt: now + 60_000, done: false, ...extra };
}

const byStep = (a: TaskRecord, b: TaskRecord) => (a.context.step < b.context.step ? -1 : a.context.step > b.context.step ? 1 : 0);

/** Polls `check` until it holds, for what another process or a timer does; fails with `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// -- records ----------------------------------------------------------------------------------

test('NatsStore round-trips run, task, event and delay records through msgpackr, across a reopen', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  assert.equal(store.durable, true);
  assert.equal(store.location, `${where.url}/runs`);
  const run = runRecord('r1', { status: 'failure', counts: { success: 1, failure: 1 } });
  const result = { rows: [1, 2, 3], nested: { text: 'é✓', when: new Date(1_700_000_000_000), big: 2n ** 70n }, bytes: new Uint8Array([1, 2, 3]), none: null, map: new Map<unknown, unknown>([['a', 1], [2, 'two']]), set: new Set(['x']) };
  const s1 = taskRecord('r1', 0, 's1', '1', 'success', { result, dueAt: now + 5 });
  const s2 = taskRecord('r1', 0, 's2', '1', 'failure', { error: { name: 'RangeError', message: 'math domain error', stack: 'RangeError: math domain error\n    at here' } });
  const fired = eventRecord('r1', 0, 'start', '1');
  const delay = delayRecord('r1', 0, 'done', '1');
  await store.write([run, s1, s2, fired, delay]);
  await store.close();

  const reopened = await openStore(where);
  assert.deepEqual(await reopened.listRuns(), [run]);
  assert.deepEqual(await reopened.getRun('r1'), run);
  assert.equal(await reopened.getRun('nope'), undefined);
  const state = await reopened.loadRecovery('r1', 0);
  assert.deepEqual(state.tasks.sort(byStep), [s1, s2]);
  assert.deepEqual(state.events, [fired]);
  assert.deepEqual(state.delays, [delay]);
  const back = state.tasks[0].context.result as typeof result;
  assert.ok(back.nested.when instanceof Date, 'a Date comes back as a Date');
  assert.equal(typeof back.nested.big, 'bigint');
  assert.ok(back.map instanceof Map && back.set instanceof Set);
  const streamed: TaskRecord[] = [];
  for await (const task of reopened.eachTask('r1', 0)) streamed.push(task);
  assert.deepEqual(streamed.sort(byStep), [s1, s2]);
});

test('a later record with the same key replaces the earlier one, in a later batch or the same one', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  await store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1', 'ready', { attempts: 0 }), delayRecord('r1', 0, 'later', '1')]);
  await store.write([taskRecord('r1', 0, 's1', '1', 'active')]);
  await store.write([
    taskRecord('r1', 0, 's1', '1', 'failure'),
    taskRecord('r1', 0, 's1', '1', 'success', { result: 'final' }),
    delayRecord('r1', 0, 'later', '1', { done: true }),
    runRecord('r1', { status: 'success', counts: { success: 1 } }),
  ]);
  const state = await store.loadRecovery('r1', 0);
  assert.equal(state.tasks.length, 1);
  assert.equal(state.tasks[0].value, 'success');
  assert.equal(state.tasks[0].context.result, 'final');
  assert.equal(state.delays.length, 1);
  assert.equal(state.delays[0].done, true);
  const runs = await store.listRuns();
  assert.equal(runs.length, 1);
  assert.equal(runs[0].status, 'success');
});

test('loadRecovery and eachTask return only the records of that run and recovery', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
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
  const streamed: string[] = [];
  for await (const task of store.eachTask('r1', 1)) streamed.push(String(task.context.result));
  assert.deepEqual(streamed.sort(), ['rec0', 'rec1']);
});

test('listRuns lists every run of the bucket and nothing else (not the lock)', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  assert.deepEqual(await store.listRuns(), []);
  await store.write([runRecord('a', { startedAt: now - 2000 }), taskRecord('a', 0, 's1', '1'), runRecord('b', { startedAt: now - 1000 }), eventRecord('b', 0, 'start', '1'), runRecord('c')]);
  const runs = await store.listRuns();
  assert.deepEqual(runs.map((run) => run.runId).sort(), ['a', 'b', 'c']);
  assert.ok(runs.every((run) => run.kind === 'run'));
});

test('deleteRun removes a run and all its records, leaves other runs alone, and leaves no delete markers', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
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
  const { kv } = await rawBucket(where);
  const keys = await keysOf(kv);
  // Six records and the lock; the stream holds nothing else, not even markers of what was deleted.
  assert.equal(keys.length, 7, keys.join('\n'));
  assert.ok(keys.includes(LOCK_KEY));
  assert.equal((await kv.status()).values, 7);
});

test('names beyond the Basic Multilingual Plane, and names with dots, wildcards and separators, round-trip and never share a key', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  const names = ['😀', '𝄞 clef', 'a.b', '*', '>', 'a b', 'ü', '\ufffd', '', '\u0000', 'x\u0000y', '\u0001', '\u00010000', '=', '-_/', 'a'.repeat(300)];
  const runId = '🏃 run.1';
  const records: StoreRecord[] = [runRecord(runId)];
  for (const [i, name] of names.entries()) {
    records.push(taskRecord(runId, 0, name, name, 'success', { result: i }));
    records.push(eventRecord(runId, 0, name, name));
  }
  await store.write(records);
  for (const record of records) assert.match(kvKeyOf(recordKey(record)), /^[-/_=.a-zA-Z0-9]+$/, 'every KV key is one NATS KV accepts');
  assert.deepEqual(await store.getRun(runId), runRecord(runId));
  const state = await store.loadRecovery(runId, 0);
  assert.equal(state.tasks.length, names.length, 'no two names made one key');
  for (const [i, name] of names.entries()) {
    const task = state.tasks.find((record) => record.context.step === name);
    assert.equal(task?.context.sequence, name, JSON.stringify(name));
    assert.equal(task?.context.result, i);
  }
  assert.deepEqual(state.events.map((event) => event.event).sort(), [...names].sort());
  assert.deepEqual((await store.listRuns()).map((run) => run.runId), [runId]);
  // Half a character is refused by validation before anything runs; its key is still its own.
  const halves = ['\ud800', '\udc00', '\ufffd', '\ud83dx'].map((name) => kvKeyOf(recordKey(taskRecord(runId, 0, name, '1'))));
  assert.equal(new Set(halves).size, 4);
  await store.deleteRun(runId);
  assert.deepEqual(await store.loadRecovery(runId, 0), { tasks: [], events: [], delays: [] });
});

test('a batch longer than the put window, read back by loadRecovery and eachTask', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  const tasks = Array.from({ length: 5_000 }, (_, i) => taskRecord('big', 0, 's', String(i), 'success', { result: i }));
  await store.write([runRecord('big'), ...tasks]);
  let count = 0;
  for await (const task of store.eachTask('big', 0)) count += task.context.result === Number(task.context.sequence) ? 1 : 0;
  assert.equal(count, 5_000);
  assert.equal((await store.loadRecovery('big', 0)).tasks.length, 5_000);
});

test('a name too long for a NATS subject, or a record larger than a NATS message, is refused before anything of the batch is put', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  const long = await errorOf(() => store.write([runRecord('r1'), taskRecord('r1', 0, 'x'.repeat(5_000), '1')]));
  assert.ok(long instanceof StoreError, String(long));
  assert.match(long.message, /too long/);
  assert.equal(await store.getRun('r1'), undefined, 'nothing of the batch was put');
  const huge = await errorOf(() => store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1', 'success', { result: 'x'.repeat(2 * 1024 * 1024) })]));
  assert.ok(huge instanceof StoreError, String(huge));
  assert.match(huge.message, /max_payload/);
  assert.equal(await store.getRun('r1'), undefined);
  assert.throws(() => store.assertStorable('x'.repeat(2 * 1024 * 1024)), UnstorableResultError);
  store.assertStorable({ small: 'result' });
  assert.throws(() => store.assertStorable(() => 1), UnstorableResultError);
});

// -- records that cannot be read ----------------------------------------------------------------

test('a damaged or foreign record is a StoreFormatError naming the bucket and the key, and nothing is changed', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  await store.write([runRecord('x'), taskRecord('x', 0, 's1', '1')]);
  const { kv } = await rawBucket(where);
  const taskKey = recordKey(taskRecord('x', 0, 's2', '1'));
  await kv.put(kvKeyOf(taskKey), new Uint8Array([0xc1, 0xff, 0x00]));
  const loaded = await errorOf(() => store.loadRecovery('x', 0));
  assert.ok(loaded instanceof StoreFormatError, String(loaded));
  assert.ok(loaded instanceof StoreError && loaded instanceof EventorError);
  assert.ok(loaded.message.includes(store.location), loaded.message);
  assert.ok(loaded.message.includes(JSON.stringify(taskKey)), loaded.message);
  assert.ok(loaded.message.includes(kvKeyOf(taskKey)), 'the KV key, to delete it with the nats CLI');
  const streamed = await errorOf(async () => {
    for await (const task of store.eachTask('x', 0)) void task;
  });
  assert.ok(streamed instanceof StoreFormatError, String(streamed));

  // A run record under a task's key, and a run record of another format version.
  await kv.put(kvKeyOf(taskKey), encode(runRecord('x')));
  const foreign = await errorOf(() => store.loadRecovery('x', 0));
  assert.ok(foreign instanceof StoreFormatError, String(foreign));
  assert.match(foreign.message, /run record under a task key/);
  await kv.put(kvKeyOf(runKey('v99')), encode({ ...runRecord('v99'), v: 99 }));
  const listed = await errorOf(() => store.listRuns());
  assert.ok(listed instanceof StoreFormatError, String(listed));
  assert.match(listed.message, /\b99\b/);
  assert.match(listed.message, new RegExp(`version ${RECORD_VERSION}\\b`));
  assert.ok(listed.message.includes(store.location), listed.message);
  const got = await errorOf(() => store.getRun('v99'));
  assert.ok(got instanceof StoreFormatError, String(got));
  assert.deepEqual(await keysOf(kv), [LOCK_KEY, kvKeyOf(runKey('v99')), kvKeyOf(runKey('x')), kvKeyOf(taskKey), kvKeyOf(recordKey(taskRecord('x', 0, 's1', '1')))].sort(), 'nothing was deleted');
});

test('a lock record that is not an Eventor lock is a StoreFormatError, and is left alone', LIMIT, async (t) => {
  const where = await lab(t);
  const { kv } = await rawBucket(where);
  await kv.put(LOCK_KEY, 'not json');
  const error = await errorOf(() => storeOf(where).open());
  assert.ok(error instanceof StoreFormatError, String(error));
  assert.ok(error.message.includes(`${where.url}/runs`), error.message);
  assert.equal((await kv.get(LOCK_KEY))?.string(), 'not json');
});

// -- one supervisor per bucket ------------------------------------------------------------------

test('a second store opening a bucket that an open one holds gets StoreLockedError naming the holder host; after close it opens', LIMIT, async (t) => {
  const where = await lab(t);
  const holder = await openStore(where);
  await holder.write([runRecord('r1')]);
  const error = await errorOf(() => storeOf(where).open());
  assert.ok(error instanceof StoreLockedError, String(error));
  assert.ok(error instanceof StoreError);
  assert.equal(error.name, 'StoreLockedError');
  assert.equal(error.location, `${where.url}/runs`);
  assert.ok(error.message.includes(`${where.url}/runs`), error.message);
  assert.ok(error.message.includes(`host ${hostname()}`), error.message);
  assert.ok(error.message.includes(`pid ${process.pid}`), error.message);
  assert.ok(error.stack?.startsWith(`StoreLockedError: ${error.message}`), 'the stack says the same');
  // Another bucket on the same server is another store.
  await openStore(where, 'other');
  await holder.close();
  const second = await openStore(where);
  assert.deepEqual((await second.listRuns()).map((run) => run.runId), ['r1']);
});

test('a lock not refreshed within its TTL (a supervisor that died) is taken over; a fresh one from another host is not', LIMIT, async (t) => {
  const where = await lab(t);
  const { kv } = await rawBucket(where);
  await kv.put(LOCK_KEY, JSON.stringify({ host: 'elsewhere', pid: 4242, at: Date.now(), ttl: 15_000 }));
  const fresh = await errorOf(() => storeOf(where).open());
  assert.ok(fresh instanceof StoreLockedError, String(fresh));
  assert.ok(fresh.message.includes('host elsewhere (pid 4242'), fresh.message);

  await kv.put(LOCK_KEY, JSON.stringify({ host: 'elsewhere', pid: 4242, at: Date.now() - 60_000, ttl: 15_000 }));
  const store = await openStore(where);
  const lock = (await kv.get(LOCK_KEY))?.json<{ host: string; pid: number; at: number }>();
  assert.equal(lock?.host, hostname());
  assert.equal(lock?.pid, process.pid);
  await store.write([runRecord('after-takeover')]);
  await store.close();
  const released = await kv.get(LOCK_KEY);
  assert.equal(released?.operation, 'DEL', 'close() releases the lock');
  // A released lock is taken with create again.
  await (await openStore(where)).close();
});

test('the holder refreshes its lock; a holder whose lock was taken over meanwhile writes no more, and says by whom', LIMIT, async (t) => {
  const where = await lab(t);
  const { kv } = await rawBucket(where);
  const store = await openStore(where, 'runs', { lockTtlMs: 900, refreshMs: 100 });
  const first = await kv.get(LOCK_KEY);
  await until('the lock is refreshed', async () => ((await kv.get(LOCK_KEY))?.revision ?? 0) > (first?.revision ?? 0));
  await store.write([runRecord('r1')]);

  // Another supervisor takes the lock over, as it would after this one stalled past the TTL.
  await kv.put(LOCK_KEY, JSON.stringify({ host: 'successor', pid: 7, at: Date.now(), ttl: 15_000 }));
  let refused: unknown;
  await until('a write is refused', async () => {
    try {
      await store.write([runRecord('r1', { status: 'success' })]);
      return false;
    } catch (error) {
      refused = error;
      return true;
    }
  });
  assert.ok(refused instanceof StoreLockedError, String(refused));
  assert.match((refused as Error).message, /taken over by host successor/);
  await store.close();
  assert.equal((await kv.get(LOCK_KEY))?.json<{ host: string }>().host, 'successor', "close() leaves the successor's lock alone");
});

test('two Eventors on one bucket: the second gets StoreLockedError naming the host, and runs once the first is closed', LIMIT, async (t) => {
  const where = await lab(t);
  const first = eventor(where);
  assert.deepEqual(await first.listRuns(), []);
  const second = eventor(where);
  let ran = false;
  const start = second.addEvent('start');
  second.addAssoc(start, second.addStep('s1', { func: () => (ran = true) }));
  second.triggerEvent(start, 1);
  const running = await errorOf(() => second.run());
  assert.ok(running instanceof StoreLockedError, String(running));
  assert.ok(running.message.includes(`host ${hostname()}`), running.message);
  assert.equal(ran, false);
  await first.close();
  await second.close();
  const third = eventor(where);
  const go = third.addEvent('start');
  third.addAssoc(go, third.addStep('s1', { func: () => (ran = true) }));
  third.triggerEvent(go, 1);
  assert.equal(await third.run(), true);
  assert.equal(ran, true);
});

// -- reaching NATS ------------------------------------------------------------------------------

test('a NATS that cannot be reached is a StoreError naming the URL, at once', LIMIT, async (t) => {
  const where = await lab(t);
  const port = where.server.port;
  await where.server.stop();
  const started = Date.now();
  const error = await errorOf(() => new NatsStore(`nats://127.0.0.1:${port}/runs`).open());
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(!(error instanceof StoreLockedError));
  assert.ok(error.message.includes(`nats://127.0.0.1:${port}/runs`), error.message);
  assert.match(error.message, /cannot be reached/);
  assert.ok(Date.now() - started < 10_000, 'nothing waits for a server that is not there');

  const ev = eventor(where, { store: `nats://127.0.0.1:${port}/runs` });
  const start = ev.addEvent('start');
  let ran = false;
  ev.addAssoc(start, ev.addStep('s1', { func: () => (ran = true) }));
  ev.triggerEvent(start, 1);
  const fromRun = await errorOf(() => ev.run());
  assert.ok(fromRun instanceof StoreError, String(fromRun));
  assert.equal(ran, false);
});

test('a NATS without JetStream is a StoreError that says to start it with -js', LIMIT, async (t) => {
  const where = await lab(t);
  const port = await freePort();
  const plain = spawnProcess(where.context, NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port)]);
  await plain.waitFor(/Server is ready/);
  const store = new NatsStore(`nats://127.0.0.1:${port}/runs`);
  where.closers.push(() => store.close());
  const error = await errorOf(() => store.open());
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(error.message.includes(`nats://127.0.0.1:${port}/runs`), error.message);
  assert.match(error.message, /JetStream.*-js/);
});

test('a store URL that names no bucket, a bad one, or is not a NATS URL is a StoreError from createStore', () => {
  for (const location of ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4222/', 'nats://127.0.0.1:4222/a/b', 'nats://127.0.0.1:4222/a.b', 'nats://u:hunter2@127.0.0.1:4222/a b', 'nats://127.0.0.1:4222/runs?x=1', 'nats://']) {
    const error = (() => {
      try {
        createStore(location);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    assert.ok(error instanceof StoreError, `${location}: ${String(error)}`);
    assert.ok(!(error as Error).message.includes('hunter2'), (error as Error).message);
  }
  const store = createStore('nats://127.0.0.1:4222/runs');
  assert.ok(store instanceof NatsStore);
  assert.equal(store.durable, true);
});

test('credentials: in the URL or in the nats settings; refused ones are a StoreError that never shows the password', LIMIT, async (t) => {
  const where = await lab(t, { user: 'eventor', pass: 's3cr#t' });
  const port = where.server.port;
  const inUrl = createStore(`nats://eventor:${encodeURIComponent('s3cr#t')}@127.0.0.1:${port}/runs`);
  where.closers.push(() => inUrl.close());
  assert.equal(inUrl.location, `nats://127.0.0.1:${port}/runs`, 'the location never carries credentials');
  await inUrl.open();
  await inUrl.write([runRecord('r1')]);
  await inUrl.close();

  const inSettings = createStore(`nats://127.0.0.1:${port}/runs`, { nats: { user: 'eventor', pass: 's3cr#t' } });
  where.closers.push(() => inSettings.close());
  await inSettings.open();
  assert.deepEqual((await inSettings.listRuns()).map((run) => run.runId), ['r1']);
  await inSettings.close();

  for (const store of [createStore(`nats://eventor:wrong-pass@127.0.0.1:${port}/runs`), createStore(`nats://127.0.0.1:${port}/runs`, { nats: { user: 'eventor', pass: 'wrong-pass' } }), createStore(`nats://127.0.0.1:${port}/runs`)]) {
    where.closers.push(() => store.close());
    const error = await errorOf(() => store.open());
    assert.ok(error instanceof StoreError, String(error));
    assert.match(error.message, /refused the credentials/);
    assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message);
    assert.ok(!error.message.includes('wrong-pass') && !error.message.includes('s3cr'), error.message);
  }
});

test('a write while the server is down waits for it and goes in once it is back; reads go on too', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  await store.write([runRecord('r1'), taskRecord('r1', 0, 's1', '1', 'active')]);
  await where.server.stop();
  const started = Date.now();
  const pending = store.write([taskRecord('r1', 0, 's1', '1', 'success', { result: 'while down' })]);
  await where.server.restart();
  await pending;
  assert.ok(Date.now() - started < 5_000, `the write took ${Date.now() - started} ms: it should not wait out a request timeout`);
  assert.deepEqual((await store.loadRecovery('r1', 0)).tasks.map((task) => task.context.result), ['while down']);
  await where.server.restart();
  await store.write([taskRecord('r1', 0, 's2', '1', 'success', { result: 'after restart' })]);
  assert.deepEqual((await store.loadRecovery('r1', 0)).tasks.map((task) => task.context.result).sort(), ['after restart', 'while down']);
});

test('close() while the server is down does not hang: a write still waiting for it is refused, and the lock goes stale', LIMIT, async (t) => {
  const where = await lab(t);
  const store = await openStore(where);
  await store.write([runRecord('r1')]);
  await where.server.stop();
  const pending = errorOf(() => store.write([runRecord('r1', { status: 'success' })]));
  await store.close();
  const error = await pending;
  assert.ok(error instanceof StoreError, String(error));
  assert.match(error.message, /closed while (NATS was unreachable|a put waited for NATS)|cannot be written/);
});

// -- whole runs ---------------------------------------------------------------------------------

/**
 * The flow of the recovery tests as a module of its own, so that this process and a child build
 * the very same flow: s1 squares 3; s2 takes the square root of `param` (failing below 0, and
 * hanging when asked to, for a supervisor to be killed in); s3 divides s1's result by s2's.
 */
function writeFlowModule(where: Lab): string {
  const file = join(where.root, 'flow.mts');
  writeFileSync(
    file,
    `import { Eventor, StepStatus, StepReplay, currentStep } from ${JSON.stringify(indexModule)};
export function build(options, { param, calls, hang = false }) {
  const ev = new Eventor({ name: 'shared', ...options, config: { logdir: ${JSON.stringify(join(where.root, 'logs'))}, logging: { console: false } } });
  const count = (name) => (calls[name] = (calls[name] ?? 0) + 1);
  const run1 = ev.addEvent('run_step1');
  const done1 = ev.addEvent('done_step1');
  const run2 = ev.addEvent('run_step2');
  const done2 = ev.addEvent('done_step2');
  const run3 = ev.addEvent('run_step3', { expr: [done1, done2] });
  const s1 = ev.addStep('s1', { func: ({ x }) => (count('s1'), x * x), kwargs: { x: 3 }, triggers: { [StepStatus.success]: [done1, run2] } });
  const s2 = ev.addStep('s2', {
    func: ({ x }) => {
      count('s2');
      if (hang) return new Promise(() => { setInterval(() => {}, 60_000); process.stdout.write('s2 started ' + currentStep().runId + '\\n'); });
      if (x < 0) throw new RangeError('math domain error');
      return Math.sqrt(x);
    },
    kwargs: { x: param },
    triggers: { [StepStatus.success]: [done2] },
    recovery: { [StepStatus.failure]: StepReplay.rerun, [StepStatus.success]: StepReplay.skip },
  });
  const s3 = ev.addStep('s3', { func: () => (count('s3'), 9 / 3) });
  ev.addAssoc(run1, s1);
  ev.addAssoc(run2, s2);
  ev.addAssoc(run3, s3);
  ev.triggerEvent(run1, 3);
  return ev;
}
`,
  );
  return file;
}

type BuildFlow = (options: EventorOptions, flow: { param: number; calls: Record<string, number>; hang?: boolean }) => Eventor;

async function flowOf(where: Lab): Promise<{ file: string; build: BuildFlow }> {
  const file = writeFlowModule(where);
  const { build } = (await import(file)) as { build: BuildFlow };
  return { file, build };
}

/** A child process that builds the flow module's flow and runs it with `runMode`, printing what ran. */
function runInChild(where: Lab, file: string, runMode: string, param: number, hang = false): Child {
  const script = join(where.root, `run-${runMode}-${hang ? 'hang' : 'plain'}.mts`);
  writeFileSync(
    script,
    `import { build } from ${JSON.stringify(file)};
const calls = {};
const ev = build({ store: process.argv[2], runMode: ${JSON.stringify(runMode)} }, { param: ${param}, calls, hang: ${hang} });
const ok = await ev.run();
const runs = await ev.listRuns();
await ev.close();
process.stdout.write('outcome ' + JSON.stringify({ ok, calls, runId: ev.runId, runs }) + '\\n');
`,
  );
  return spawnProcess(where.context, process.execPath, ['--import', 'tsx', script, `${where.url}/runs`], { cwd: projectRoot });
}

test('a run on a NATS bucket that failed is recovered by an Eventor in another process, which skips what succeeded', { timeout: 120_000 }, async (t) => {
  const where = await lab(t);
  const { file, build } = await flowOf(where);
  const calls: Record<string, number> = {};
  const first = build({ store: `${where.url}/runs` }, { param: -9, calls });
  where.closers.push(() => first.close());
  assert.equal(await first.run(), false);
  assert.deepEqual(calls, { s1: 1, s2: 1 });
  const runId = first.runId;
  await first.close();

  const child = runInChild(where, file, 'recover', 9);
  const [, json] = await child.waitFor(/outcome (.*)\n/, 60_000);
  const outcome = JSON.parse(json) as { ok: boolean; calls: Record<string, number>; runId: string; runs: { runId: string; recoveries: number; status: string; tasks: Record<string, number> }[] };
  assert.equal((await child.exited).code, 0, child.output());
  assert.equal(outcome.ok, true, child.output());
  assert.equal(outcome.runId, runId, 'the recovery takes up the first run');
  assert.deepEqual(outcome.calls, { s2: 1, s3: 1 }, 's1 is not executed again');
  assert.deepEqual(outcome.runs.map((run) => [run.runId, run.recoveries, run.status, run.tasks]), [[runId, 1, 'success', { success: 3 }]]);

  const store = await openStore(where);
  const { tasks } = await store.loadRecovery(runId, 1);
  const s1 = tasks.find((task) => task.context.step === 's1');
  assert.equal(s1?.context.result, 9);
  assert.equal(s1?.context.skippedFrom, 0);
  assert.equal(tasks.find((task) => task.context.step === 's3')?.context.result, 3);
  const earlier = await store.loadRecovery(runId, 0);
  assert.deepEqual(earlier.tasks.map((task) => `${task.context.step}:${task.value}`).sort(), ['s1:success', 's2:failure']);
});

test('a supervisor killed (SIGKILL) mid-step holds the bucket until its lock goes stale; then a recovery here takes it over and reruns only that step', { timeout: 120_000 }, async (t) => {
  const where = await lab(t);
  const { file, build } = await flowOf(where);
  const child = runInChild(where, file, 'restart', 4, true);
  const [, runId] = await child.waitFor(/s2 started (\S+)\n/, 60_000);
  child.kill('SIGKILL');
  await child.exited;

  const held = await errorOf(() => storeOf(where).open());
  assert.ok(held instanceof StoreLockedError, String(held));
  assert.ok(held.message.includes(`host ${hostname()} (pid ${child.pid}`), held.message);
  // Its lock goes stale as 15 s without a refresh would make it.
  const { kv } = await rawBucket(where);
  const lock = await kv.get(LOCK_KEY);
  assert.ok(lock);
  await kv.update(LOCK_KEY, JSON.stringify({ ...lock.json<object>(), at: Date.now() - 60_000 }), lock.revision);

  const reader = await openStore(where);
  const { tasks } = await reader.loadRecovery(runId, 0);
  assert.deepEqual(tasks.map((task) => `${task.context.step}:${task.value}`).sort(), ['s1:success', 's2:active']);
  await reader.close();

  const calls: Record<string, number> = {};
  const recovery = build({ store: `${where.url}/runs`, runMode: 'recover' as EventorOptions['runMode'] }, { param: 4, calls });
  where.closers.push(() => recovery.close());
  assert.equal(await recovery.run(), true);
  assert.equal(recovery.runId, runId);
  assert.deepEqual(calls, { s2: 1, s3: 1 }, 's1 is skipped, s2 runs again, s3 runs');
  const [run] = await recovery.listRuns();
  assert.deepEqual([run.recoveries, run.status, run.tasks], [1, 'success', { success: 3 }]);
});
