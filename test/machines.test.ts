// The pure XState machines of src/machines, driven directly with createActor. Every task event
// carries the time it happened (`at`): the machine decides due times, retries and deadlines from
// it, so these tests give fixed times and never wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, type Actor } from 'xstate';
import { taskMachine, type TaskEvent, type TaskInput } from '../src/machines/task.machine.js';
import { eventLogic } from '../src/machines/event.machine.js';
import { supervisorMachine } from '../src/machines/supervisor.machine.js';
import { timeoutMessage } from '../src/model/errors.js';
import type { Expr } from '../src/model/expr.js';
import type { EarlierOutcome } from '../src/model/records.js';

// -- task machine -----------------------------------------------------------------------------

/** A fixed clock reading: the machine only compares the times it is given. */
const T = 1_700_000_000_000;
const boom = { name: 'Error', message: 'boom', stack: 'Error: boom\n    at here' };

/** A started task actor, and the statuses (snapshot values) it went through, the first included. */
function taskActor(input: Partial<TaskInput> = {}): { actor: Actor<typeof taskMachine>; seen: string[] } {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1', ...input } });
  const seen: string[] = [];
  // Observers hear of every event, a refused one too (with the same snapshot): only new snapshots count.
  let last: unknown;
  actor.subscribe((snapshot) => {
    if (snapshot !== last) seen.push(String(snapshot.value));
    last = snapshot;
  });
  actor.start();
  return { actor, seen };
}

/** Sends `event` and checks that the machine refused it: the very same snapshot, so its status and context are unchanged. */
function assertRefuses(actor: Actor<typeof taskMachine>, event: TaskEvent, why: string): void {
  const before = actor.getSnapshot();
  const { value, context } = before;
  actor.send(event);
  const after = actor.getSnapshot();
  assert.equal(after.value, value, `${why}: the status stays ${String(value)}`);
  assert.deepEqual(after.context, context, `${why}: the context is unchanged`);
  // The runtime tells a refused event by this: its snapshot is the one it had.
  assert.equal(after, before, `${why}: the machine keeps its snapshot`);
}

const earlier = (outcome: Partial<EarlierOutcome> & Pick<EarlierOutcome, 'status'>): EarlierOutcome => ({ recovery: 0, ...outcome });

test('a task without a delay starts ready, goes active on a granted start, then success with its result', () => {
  const { actor, seen } = taskActor();
  assert.equal(actor.getSnapshot().value, 'ready');
  assert.equal(actor.getSnapshot().context.attempts, 0);
  actor.send({ type: 'start', at: T, granted: true });
  assert.equal(actor.getSnapshot().value, 'active');
  assert.equal(actor.getSnapshot().context.attempts, 1);
  actor.send({ type: 'succeed', at: T + 5, result: { rows: 3 } });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'success');
  assert.equal(snapshot.status, 'done');
  assert.deepEqual(snapshot.context.result, { rows: 3 });
  assert.equal(snapshot.context.error, undefined);
  assert.equal(snapshot.context.skippedFrom, undefined, 'a task that ran was not skipped');
  assert.deepEqual(seen, ['ready', 'active', 'success']);
});

test('an active task that fails with no retries goes to failure with its error', () => {
  const { actor } = taskActor({ sequence: '2' });
  actor.send({ type: 'start', at: T, granted: true });
  actor.send({ type: 'fail', at: T + 5, error: boom });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'failure');
  assert.equal(snapshot.status, 'done');
  assert.deepEqual(snapshot.context.error, boom);
  assert.equal(snapshot.context.result, undefined);
  assert.equal(snapshot.context.step, 's1');
  assert.equal(snapshot.context.sequence, '2');
});

test('a start whose resources cannot be taken makes a ready task wait in acquiring, until a granted start makes it active', () => {
  const { actor, seen } = taskActor();
  actor.send({ type: 'start', at: T, granted: false });
  assert.equal(actor.getSnapshot().value, 'acquiring');
  assert.equal(actor.getSnapshot().context.attempts, 0, 'no try started');
  assertRefuses(actor, { type: 'start', at: T + 1, granted: false }, 'a start still not granted');
  actor.send({ type: 'start', at: T + 2, granted: true });
  assert.equal(actor.getSnapshot().value, 'active');
  assert.equal(actor.getSnapshot().context.attempts, 1);
  assert.deepEqual(seen, ['ready', 'acquiring', 'active']);
});

test('a delayed task stays waiting until a due event at or past its due time', () => {
  const dueAt = T + 60_000;
  const { actor, seen } = taskActor({ dueAt });
  assert.equal(actor.getSnapshot().value, 'waiting');
  assert.equal(actor.getSnapshot().context.dueAt, dueAt);
  assertRefuses(actor, { type: 'start', at: T, granted: true }, 'a waiting task cannot start');
  assertRefuses(actor, { type: 'due', at: dueAt - 1 }, 'a due event before the due time');
  actor.send({ type: 'due', at: dueAt });
  assert.equal(actor.getSnapshot().value, 'ready');
  assert.equal(actor.getSnapshot().context.dueAt, dueAt, "a ready task keeps the due time it waited for, for a recovery that reruns it");
  actor.send({ type: 'start', at: dueAt + 1, granted: true });
  assert.equal(actor.getSnapshot().value, 'active');
  assert.deepEqual(seen, ['waiting', 'ready', 'active']);
});

test('a task refuses outcomes before it is active, a due event once ready or active, and anything once final', () => {
  const { actor } = taskActor();
  assertRefuses(actor, { type: 'succeed', at: T, result: 'too early' }, 'succeed to a ready task');
  assertRefuses(actor, { type: 'fail', at: T, error: boom }, 'fail to a ready task');
  assertRefuses(actor, { type: 'due', at: T }, 'due to a ready task');
  assertRefuses(actor, { type: 'resume' }, 'resume to a ready task');
  actor.send({ type: 'start', at: T, granted: true });
  assertRefuses(actor, { type: 'start', at: T + 1, granted: true }, 'a second start to an active task');
  assertRefuses(actor, { type: 'due', at: T + 1 }, 'due to an active task');
  actor.send({ type: 'succeed', at: T + 2, result: 'ok' });
  for (const event of [
    { type: 'fail', at: T + 3, error: { name: 'Error', message: 'too late' } },
    { type: 'succeed', at: T + 3, result: 'again' },
    { type: 'start', at: T + 3, granted: true },
    { type: 'due', at: T + 3 },
    { type: 'resume' },
  ] as TaskEvent[]) {
    assertRefuses(actor, event, `${event.type} to a finished task`);
  }
  assert.equal(actor.getSnapshot().value, 'success');
  assert.equal(actor.getSnapshot().context.result, 'ok');
  assert.equal(actor.getSnapshot().context.error, undefined);
});

test('resume (continue mode) takes a task that was active when its run stopped back to ready, its tries counted', () => {
  const { actor } = taskActor({ timeoutMs: 1000 });
  actor.send({ type: 'start', at: T, granted: true });
  assert.equal(actor.getSnapshot().context.deadlineAt, T + 1000);
  actor.send({ type: 'resume' });
  assert.equal(actor.getSnapshot().value, 'ready');
  assert.equal(actor.getSnapshot().context.deadlineAt, undefined, 'the interrupted try has no deadline left');
  assert.equal(actor.getSnapshot().context.attempts, 1);
});

// -- retries, decided by the machine -----------------------------------------------------------

test('a failed try with tries left goes retrying, due retryDelay × retryBackoff^(tries - 1) after the failure; the last try fails the task', () => {
  const { actor, seen } = taskActor({ retries: 2, retryDelayMs: 1000, retryBackoff: 3 });
  actor.send({ type: 'start', at: T, granted: true });
  actor.send({ type: 'fail', at: T + 10, error: boom });
  let snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'retrying');
  assert.equal(snapshot.status, 'active', 'a retrying task is not final');
  assert.equal(snapshot.context.dueAt, T + 10 + 1000, 'the first retry waits retryDelay');
  assert.deepEqual(snapshot.context.error, boom, 'the failed try keeps its error while it waits');
  assertRefuses(actor, { type: 'start', at: T + 20, granted: true }, 'a retrying task cannot start');
  assertRefuses(actor, { type: 'due', at: T + 1009 }, 'a due event before the retry time');
  actor.send({ type: 'due', at: T + 1010 });
  snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'ready');
  assert.equal(snapshot.context.error, undefined);
  assert.equal(snapshot.context.dueAt, undefined);

  actor.send({ type: 'start', at: T + 2000, granted: true });
  assert.equal(actor.getSnapshot().context.attempts, 2);
  actor.send({ type: 'fail', at: T + 2500, error: boom });
  assert.equal(actor.getSnapshot().value, 'retrying');
  assert.equal(actor.getSnapshot().context.dueAt, T + 2500 + 1000 * 3, 'the second retry waits retryDelay × retryBackoff');
  actor.send({ type: 'due', at: T + 5500 });
  actor.send({ type: 'start', at: T + 6000, granted: true });
  const last = { name: 'Error', message: 'third time' };
  actor.send({ type: 'fail', at: T + 6001, error: last });
  snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'failure', 'no try is left after 1 + retries tries');
  assert.equal(snapshot.context.attempts, 3);
  assert.deepEqual(snapshot.context.error, last);
  assert.deepEqual(seen, ['ready', 'active', 'retrying', 'ready', 'active', 'retrying', 'ready', 'active', 'failure']);
});

test('without retryBackoff every retry waits retryDelay', () => {
  const { actor } = taskActor({ retries: 2, retryDelayMs: 500 });
  actor.send({ type: 'start', at: T, granted: true });
  actor.send({ type: 'fail', at: T + 1, error: boom });
  assert.equal(actor.getSnapshot().context.dueAt, T + 501);
  actor.send({ type: 'due', at: T + 501 });
  actor.send({ type: 'start', at: T + 600, granted: true });
  actor.send({ type: 'fail', at: T + 700, error: boom });
  assert.equal(actor.getSnapshot().context.dueAt, T + 1200);
});

test('a failure while the run is stopping ends the task, whatever tries are left', () => {
  const { actor } = taskActor({ retries: 3, retryDelayMs: 1000 });
  actor.send({ type: 'start', at: T, granted: true });
  actor.send({ type: 'fail', at: T + 1, error: boom, stopping: true });
  assert.equal(actor.getSnapshot().value, 'failure');
  assert.equal(actor.getSnapshot().context.dueAt, undefined);
});

// -- timeouts, decided by the machine ----------------------------------------------------------

test('a try that succeeds after its deadline is a StepTimeoutError failure; one that succeeds by the deadline is a success', () => {
  const late = taskActor({ timeoutMs: 500 }).actor;
  late.send({ type: 'start', at: T, granted: true });
  assert.equal(late.getSnapshot().context.deadlineAt, T + 500);
  late.send({ type: 'succeed', at: T + 501, result: 'too late' });
  const snapshot = late.getSnapshot();
  assert.equal(snapshot.value, 'failure');
  assert.equal(snapshot.context.error?.name, 'StepTimeoutError');
  assert.equal(snapshot.context.error?.message, timeoutMessage('s1', '1', 500));
  assert.equal(snapshot.context.result, undefined, 'a late result is not kept');

  const inTime = taskActor({ timeoutMs: 500 }).actor;
  inTime.send({ type: 'start', at: T, granted: true });
  inTime.send({ type: 'succeed', at: T + 500, result: 'just in time' });
  assert.equal(inTime.getSnapshot().value, 'success');
  assert.equal(inTime.getSnapshot().context.result, 'just in time');
  assert.equal(inTime.getSnapshot().context.deadlineAt, undefined);
});

test('a try that succeeds after its deadline, with tries left, is retried', () => {
  const { actor } = taskActor({ timeoutMs: 500, retries: 1, retryDelayMs: 100 });
  actor.send({ type: 'start', at: T, granted: true });
  actor.send({ type: 'succeed', at: T + 900, result: 'too late' });
  assert.equal(actor.getSnapshot().value, 'retrying');
  assert.equal(actor.getSnapshot().context.error?.name, 'StepTimeoutError');
  assert.equal(actor.getSnapshot().context.dueAt, T + 1000);
});

// -- a recovery's replay, decided by the machine -----------------------------------------------

test('a recovery replays an earlier success by default: success with skippedFrom, its result, and no try', () => {
  const { actor, seen } = taskActor({ earlier: earlier({ status: 'success', result: 'earlier result', recovery: 2 }) });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'success');
  assert.equal(snapshot.status, 'done');
  assert.equal(snapshot.context.result, 'earlier result');
  assert.equal(snapshot.context.skippedFrom, 2, 'the recovery whose outcome was kept');
  assert.equal(snapshot.context.attempts, 0, 'a skipped task never ran');
  assert.equal(snapshot.context.earlier, undefined, 'the machine has decided: the earlier outcome is no longer needed');
  assert.deepEqual(seen, ['success'], 'it never was ready');
});

test('a recovery skips a delayed task that succeeded before: success, not waiting', () => {
  const { actor } = taskActor({ dueAt: T + 60_000, earlier: earlier({ status: 'success', result: 42 }) });
  assert.equal(actor.getSnapshot().value, 'success');
  assert.equal(actor.getSnapshot().context.result, 42);
  assert.equal(actor.getSnapshot().context.dueAt, undefined);
});

test("a recovery with { failure: 'skip' } replays an earlier failure with its error, and no try", () => {
  const error = { name: 'RangeError', message: 'math domain error' };
  const { actor } = taskActor({ earlier: earlier({ status: 'failure', error }), replay: { failure: 'skip' } });
  assert.equal(actor.getSnapshot().value, 'failure');
  assert.deepEqual(actor.getSnapshot().context.error, error);
  assert.equal(actor.getSnapshot().context.skippedFrom, 0);
  assert.equal(actor.getSnapshot().context.attempts, 0);
});

test('a recovery reruns an earlier failure by default: the task is ready, without the earlier error', () => {
  const { actor } = taskActor({ earlier: earlier({ status: 'failure', error: boom }) });
  assert.equal(actor.getSnapshot().value, 'ready');
  assert.equal(actor.getSnapshot().context.error, undefined);
  assert.equal(actor.getSnapshot().context.skippedFrom, undefined);
});

test("a recovery with { success: 'rerun' } makes an earlier success ready to run again", () => {
  const { actor } = taskActor({ earlier: earlier({ status: 'success', result: 'old' }), replay: { success: 'rerun' } });
  assert.equal(actor.getSnapshot().value, 'ready');
  assert.equal(actor.getSnapshot().context.result, undefined);
  assert.equal(actor.getSnapshot().context.earlier, undefined);
  actor.send({ type: 'start', at: T, granted: true });
  actor.send({ type: 'succeed', at: T + 1, result: 'new' });
  assert.equal(actor.getSnapshot().context.result, 'new');
});

test('a recovery reruns a task that was active (interrupted): it is ready', () => {
  const { actor } = taskActor({ earlier: earlier({ status: 'active' }), replay: { active: 'skip' } });
  assert.equal(actor.getSnapshot().value, 'ready', 'only a finished outcome can be replayed');
});

test('a rerun of a delayed task keeps the due time its earlier run was counting to', () => {
  const { actor } = taskActor({ dueAt: T + 60_000, earlier: earlier({ status: 'waiting', dueAt: T + 5_000 }) });
  assert.equal(actor.getSnapshot().value, 'waiting');
  assert.equal(actor.getSnapshot().context.dueAt, T + 5_000);
  actor.send({ type: 'due', at: T + 5_000 });
  assert.equal(actor.getSnapshot().value, 'ready');
});

test('a skip that reclaims its resources waits in acquiring, and a granted start replays the earlier success without going active', () => {
  const { actor, seen } = taskActor({ earlier: earlier({ status: 'success', result: 'locked', recovery: 1 }), reclaims: true });
  assert.equal(actor.getSnapshot().value, 'acquiring');
  assert.deepEqual(actor.getSnapshot().context.replayed, { status: 'success', result: 'locked', error: undefined, recovery: 1 });
  assertRefuses(actor, { type: 'start', at: T, granted: false }, 'a start whose resources are still taken');
  actor.send({ type: 'start', at: T + 1, granted: true });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'success');
  assert.equal(snapshot.context.result, 'locked');
  assert.equal(snapshot.context.skippedFrom, 1);
  assert.equal(snapshot.context.attempts, 0);
  assert.equal(snapshot.context.replayed, undefined);
  assert.deepEqual(seen, ['acquiring', 'success']);
});

test("a skip that reclaims its resources replays an earlier failure once they are granted", () => {
  const { actor } = taskActor({ earlier: earlier({ status: 'failure', error: boom }), replay: { failure: 'skip' }, reclaims: true });
  assert.equal(actor.getSnapshot().value, 'acquiring');
  actor.send({ type: 'start', at: T, granted: true });
  assert.equal(actor.getSnapshot().value, 'failure');
  assert.deepEqual(actor.getSnapshot().context.error, boom);
  assert.equal(actor.getSnapshot().context.attempts, 0);
});

// -- event machine ----------------------------------------------------------------------------

function eventActor(name: string, expr?: Expr) {
  const actor = createActor(eventLogic, { input: expr === undefined ? { name } : { name, expr } });
  const fired: string[] = [];
  actor.on('fired', ({ sequence }) => fired.push(sequence));
  actor.start();
  return { actor, fired };
}

test('an event fires once per sequence', () => {
  const { actor, fired } = eventActor('start');
  actor.send({ type: 'trigger', sequence: '1' });
  actor.send({ type: 'trigger', sequence: '1' });
  actor.send({ type: 'trigger', sequence: '2' });
  actor.send({ type: 'trigger', sequence: '1' });
  actor.send({ type: 'trigger', sequence: '2' });
  assert.deepEqual(fired, ['1', '2']);
  assert.deepEqual([...actor.getSnapshot().context.fired].sort(), ['1', '2']);
});

test('an and expression event fires once all its events fired for the same sequence', () => {
  const { actor, fired } = eventActor('both', { op: 'and', items: ['a', 'b'] });
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  actor.send({ type: 'source', source: 'b', sequence: '2' });
  assert.deepEqual(fired, [], 'a for 1 and b for 2 is neither');
  actor.send({ type: 'source', source: 'b', sequence: '1' });
  assert.deepEqual(fired, ['1']);
  actor.send({ type: 'source', source: 'a', sequence: '2' });
  assert.deepEqual(fired, ['1', '2']);
});

test('an or expression event fires on the first of its events, once', () => {
  const { actor, fired } = eventActor('either', { op: 'or', items: ['a', 'b'] });
  actor.send({ type: 'source', source: 'b', sequence: '1' });
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  actor.send({ type: 'source', source: 'a', sequence: '2' });
  assert.deepEqual(fired, ['1', '2']);
});

test('a nested expression and(a, or(b, c)) is evaluated per sequence', () => {
  const { actor, fired } = eventActor('x', { op: 'and', items: ['a', { op: 'or', items: ['b', 'c'] }] });
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  actor.send({ type: 'source', source: 'c', sequence: '2' });
  actor.send({ type: 'source', source: 'b', sequence: '3' });
  actor.send({ type: 'source', source: 'c', sequence: '3' });
  assert.deepEqual(fired, []);
  actor.send({ type: 'source', source: 'c', sequence: '1' });
  assert.deepEqual(fired, ['1']);
  actor.send({ type: 'source', source: 'a', sequence: '3' });
  assert.deepEqual(fired, ['1', '3']);
  actor.send({ type: 'source', source: 'b', sequence: '1' });
  assert.deepEqual(fired, ['1', '3'], 'a fired event does not fire again');
});

test('the same source twice does not complete an and expression', () => {
  const { actor, fired } = eventActor('both', { op: 'and', items: ['a', 'b'] });
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  assert.deepEqual(fired, []);
});

test('an expression event triggered directly fires, and its expression does not fire it again', () => {
  const { actor, fired } = eventActor('both', { op: 'and', items: ['a', 'b'] });
  actor.send({ type: 'trigger', sequence: '1' });
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  actor.send({ type: 'source', source: 'b', sequence: '1' });
  assert.deepEqual(fired, ['1']);
});

test('an event without an expression ignores sources', () => {
  const { actor, fired } = eventActor('plain');
  actor.send({ type: 'source', source: 'a', sequence: '1' });
  assert.deepEqual(fired, []);
});

// -- supervisor machine -----------------------------------------------------------------------

const failure = (handled: boolean, stop: boolean, step = 's1', sequence = '1') => ({ type: 'failure' as const, handled, stop, step, sequence });

test('the supervisor goes idle -> running on run, and back to idle when the run settles', () => {
  const actor = createActor(supervisorMachine).start();
  assert.equal(actor.getSnapshot().value, 'idle');
  actor.send({ type: 'run' });
  assert.equal(actor.getSnapshot().value, 'running');
  actor.send({ type: 'settle' });
  assert.equal(actor.getSnapshot().value, 'idle');
  assert.equal(actor.getSnapshot().context.unhandledFailures, 0);
});

test('an unhandled stopping failure takes the supervisor from running to stopping, then stopped', () => {
  const actor = createActor(supervisorMachine).start();
  actor.send({ type: 'run' });
  actor.send(failure(false, true, 'load', '7'));
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'stopping');
  assert.equal(snapshot.context.unhandledFailures, 1);
  assert.match(snapshot.context.stopReason ?? '', /load\/7/);
  actor.send({ type: 'settle' });
  assert.equal(actor.getSnapshot().value, 'stopped');
});

test('a handled failure keeps the supervisor running and is not counted', () => {
  const actor = createActor(supervisorMachine).start();
  actor.send({ type: 'run' });
  actor.send(failure(true, true));
  assert.equal(actor.getSnapshot().value, 'running');
  assert.equal(actor.getSnapshot().context.unhandledFailures, 0);
  assert.equal(actor.getSnapshot().context.stopReason, undefined);
});

test('an unhandled failure that does not stop keeps the supervisor running, and is counted', () => {
  const actor = createActor(supervisorMachine).start();
  actor.send({ type: 'run' });
  actor.send(failure(false, false));
  actor.send(failure(false, false, 's2'));
  assert.equal(actor.getSnapshot().value, 'running');
  assert.equal(actor.getSnapshot().context.unhandledFailures, 2);
  assert.equal(actor.getSnapshot().context.stopReason, undefined);
});

test('failures while stopping are still counted', () => {
  const actor = createActor(supervisorMachine).start();
  actor.send({ type: 'run' });
  actor.send(failure(false, true));
  actor.send(failure(false, true, 's2'));
  actor.send(failure(false, false, 's3'));
  actor.send(failure(true, true, 's4'));
  assert.equal(actor.getSnapshot().value, 'stopping');
  assert.equal(actor.getSnapshot().context.unhandledFailures, 3);
});

test('a cancelled run stops with the given reason', () => {
  const actor = createActor(supervisorMachine).start();
  actor.send({ type: 'run' });
  actor.send({ type: 'cancel', reason: 'runtime error' });
  assert.equal(actor.getSnapshot().value, 'stopping');
  assert.equal(actor.getSnapshot().context.stopReason, 'runtime error');
  assert.equal(actor.getSnapshot().context.unhandledFailures, 0);
});

test('a stopped run stays stopped: run again only goes to stopping', () => {
  const actor = createActor(supervisorMachine).start();
  actor.send({ type: 'run' });
  actor.send(failure(false, true));
  actor.send({ type: 'settle' });
  actor.send({ type: 'run' });
  assert.equal(actor.getSnapshot().value, 'stopping');
  actor.send({ type: 'settle' });
  assert.equal(actor.getSnapshot().value, 'stopped');
});
