// The task machine at work in real runs: what the store keeps is the machine's snapshot and
// restores into a live XState actor, the runtime shows only statuses the machine reached, the
// machine's retry due time is what goes on record, and the XState inspector sees every task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createActor, type AnyActorRef, type InspectionEvent } from 'xstate';
import { Eventor, LevelStore, OptionError, Sequent, StepStatus, taskMachine, type TaskRecord, type TaskStatus } from '../src/index.js';
import { LIMIT, makeEventor, Recorder, tempDir } from './helpers.js';

/** Every task record of a run's first recovery in a LevelDB folder, by step (sequence 1). */
async function storedTasks(folder: string, runId: string): Promise<Map<string, TaskRecord>> {
  const store = new LevelStore(folder);
  await store.open();
  try {
    const { tasks } = await store.loadRecovery(runId, 0);
    return new Map(tasks.map((task) => [task.context.step, task]));
  } finally {
    await store.close();
  }
}

/**
 * A live task actor restored from a stored record, as a user would write it. XState's types ask
 * for the machine's input even with a snapshot (XState itself does not use it then): the
 * record's context serves.
 */
function restore(record: TaskRecord) {
  return createActor(taskMachine, { snapshot: record, input: record.context }).start();
}

/** The id an inspection event's actor was given (`supervisor:<runId>`, `task:<step>/<sequence>`, ...). */
const idOf = (event: InspectionEvent): string => (event.actorRef as AnyActorRef).id;

/** The snapshots the inspector saw an actor take, each new one once (XState reports a refused event with the same snapshot). */
function snapshotsOf(events: readonly InspectionEvent[], id: string): { value: unknown; status: string }[] {
  const snapshots: { value: unknown; status: string }[] = [];
  let last: unknown;
  for (const event of events) {
    if (event.type !== '@xstate.snapshot' || idOf(event) !== id || event.snapshot === last) continue;
    last = event.snapshot;
    snapshots.push(event.snapshot as unknown as { value: unknown; status: string });
  }
  return snapshots;
}

test('a task stored by a run on LevelDB restores into a live XState actor, which goes on from where it stood', LIMIT, async (t) => {
  const folder = join(tempDir(t), 'store');
  const ev = makeEventor(t, { name: 'restore', store: folder });
  const start = ev.addEvent('start');
  const later = ev.addEvent('later');
  ev.addAssoc(start, ev.addStep('first', { func: () => 'one', triggers: { [StepStatus.success]: [later] } }));
  ev.addAssoc(later, ev.addStep('delayed', { func: () => 'two' }), { delay: 3600 });
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  await ev.close();

  const tasks = await storedTasks(folder, ev.runId);
  const waiting = tasks.get('delayed') as TaskRecord;
  assert.equal(waiting.value, 'waiting');
  assert.equal(waiting.status, 'active');
  const dueAt = waiting.context.dueAt as number;
  assert.ok(dueAt > waiting.at, 'the delay is on record as an absolute due time');

  const actor = restore(waiting);
  assert.equal(actor.getSnapshot().value, waiting.value);
  assert.deepEqual(actor.getSnapshot().context, waiting.context);
  actor.send({ type: 'due', at: dueAt - 1 });
  assert.equal(actor.getSnapshot().value, 'waiting', 'not due yet');
  actor.send({ type: 'due', at: dueAt });
  assert.equal(actor.getSnapshot().value, 'ready');
  actor.send({ type: 'start', at: dueAt + 1, granted: true });
  assert.equal(actor.getSnapshot().value, 'active');
  assert.equal(actor.getSnapshot().context.attempts, 1);
  actor.stop();

  // A finished task restores as a final snapshot, with its result.
  const finished = tasks.get('first') as TaskRecord;
  const done = restore(finished);
  assert.equal(done.getSnapshot().status, 'done');
  assert.equal(done.getSnapshot().value, 'success');
  assert.equal(done.getSnapshot().context.result, 'one');
});

test('a step with retries: 1 that fails twice shows exactly ready, active, retrying, ready, active, failure: in subscribe(), in its machine and in the store', LIMIT, async (t) => {
  const folder = join(tempDir(t), 'store');
  const inspected: InspectionEvent[] = [];
  const ev = makeEventor(t, { name: 'retried', store: folder, inspect: (event) => inspected.push(event) });
  const records = new Recorder(ev);
  const start = ev.addEvent('start');
  let tries = 0;
  ev.addAssoc(start, ev.addStep('flaky', { func: () => { throw new Error(`try ${++tries}`); }, config: { retries: 1, retryDelay: 0 } }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  await ev.close();

  const lived: TaskStatus[] = ['ready', 'active', 'retrying', 'ready', 'active', 'failure'];
  assert.deepEqual(records.statuses('flaky', '1'), lived, records.describe());
  assert.equal(records.find('flaky', '1', 'retrying').error?.message, 'try 1');
  assert.equal(records.find('flaky', '1', 'failure').error?.message, 'try 2');
  assert.deepEqual(snapshotsOf(inspected, 'task:flaky/1').map((snapshot) => snapshot.value), lived, 'subscribe() reports each snapshot the machine took, and no other');

  const stored = (await storedTasks(folder, ev.runId)).get('flaky') as TaskRecord;
  assert.equal(stored.value, 'failure');
  assert.equal(stored.status, 'done');
  assert.equal(stored.context.attempts, 2);
  assert.equal(stored.context.error?.message, 'try 2');
  assert.equal(tries, 2);
});

for (const tries of [1, 2]) {
  test(`after try ${tries} of a step with retryDelay and retryBackoff, the stored retrying record is due retryDelay × retryBackoff^${tries - 1} after the failure`, LIMIT, async (t) => {
    const folder = join(tempDir(t), 'store');
    const ev = makeEventor(t, { name: 'backoff', store: folder });
    const thrownAt: number[] = [];
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('flaky', {
      func: () => {
        thrownAt.push(Date.now());
        throw new Error('not yet');
      },
      config: { retries: 3, retryDelay: 0.05, retryBackoff: 4 },
    }));
    ev.triggerEvent(start, 1);
    // Each loop ends with the retry waiting: the run stops there, with the retry on record.
    assert.equal(await ev.run({ maxLoops: tries }), true);
    await ev.close();

    const record = (await storedTasks(folder, ev.runId)).get('flaky') as TaskRecord;
    assert.equal(record.value, 'retrying');
    assert.equal(record.context.attempts, tries);
    assert.equal(thrownAt.length, tries);
    const wait = 50 * 4 ** (tries - 1);
    const dueAt = record.context.dueAt as number;
    // The machine was told of the failure after the step threw and before the record was taken.
    assert.ok(dueAt >= thrownAt[tries - 1] + wait, `due at ${dueAt}, before the failure at ${thrownAt[tries - 1]} + ${wait} ms`);
    assert.ok(dueAt <= record.at + wait, `due at ${dueAt}, after the record's time ${record.at} + ${wait} ms`);
  });
}

test("the XState inspector sees the supervisor and every task actor, and each task's snapshots walk ready → active → success", LIMIT, async (t) => {
  const inspected: InspectionEvent[] = [];
  const ev = makeEventor(t, { name: 'inspected', store: ':memory:', inspect: (event) => inspected.push(event) });
  const start = ev.addEvent('start');
  const aDone = ev.addEvent('a_done');
  const bDone = ev.addEvent('b_done');
  ev.addAssoc(start, ev.addStep('a', { func: () => 'A', triggers: { [StepStatus.success]: [aDone] } }));
  ev.addAssoc(aDone, ev.addStep('b', { func: () => 'B', triggers: { [StepStatus.success]: [bDone] } }));
  ev.addAssoc(bDone, ev.addStep('c', { func: () => 'C' }));
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  assert.equal(await ev.run(), true);

  const actors = inspected.filter((event) => event.type === '@xstate.actor').map(idOf);
  assert.ok(actors.includes(`supervisor:${ev.runId}`), `actors seen: ${actors.join(', ')}`);
  assert.ok(actors.includes('lifecycle'), `actors seen: ${actors.join(', ')}`);
  for (const event of ['start', 'a_done', 'b_done']) assert.ok(actors.includes(`event:${event}`), `event actor ${event}; actors seen: ${actors.join(', ')}`);
  const tasks = ['a', 'b', 'c'].flatMap((step) => ['1', '2'].map((sequence) => `task:${step}/${sequence}`));
  assert.deepEqual(actors.filter((id) => id.startsWith('task:')).sort(), tasks);
  // One XState system: every actor's root is the supervisor.
  const supervisor = inspected.find((event) => event.type === '@xstate.actor' && idOf(event) === `supervisor:${ev.runId}`) as InspectionEvent;
  assert.deepEqual([...new Set(inspected.map((event) => event.rootId))], [supervisor.rootId]);

  for (const id of tasks) {
    const snapshots = snapshotsOf(inspected, id);
    assert.deepEqual(snapshots.map((snapshot) => snapshot.value), ['ready', 'active', 'success'], id);
    assert.equal(snapshots.at(-1)?.status, 'done', `${id} ends final`);
  }
});

test('an inspect option that is not an inspection observer is an OptionError naming it, for Eventor and Sequent alike', () => {
  for (const inspect of [42, 'yes', null, {}, { next: 1 }]) {
    for (const make of [() => new Eventor({ store: ':memory:', inspect } as never), () => new Sequent({ store: ':memory:', inspect } as never)]) {
      assert.throws(make, (error: unknown) => error instanceof OptionError && /inspect/.test((error as Error).message), `inspect ${JSON.stringify(inspect)}`);
    }
  }
});
