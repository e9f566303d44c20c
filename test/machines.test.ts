// The pure XState machines of src/machines, driven directly with createActor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { taskMachine } from '../src/machines/task.machine.js';
import { eventLogic } from '../src/machines/event.machine.js';
import { supervisorMachine } from '../src/machines/supervisor.machine.js';
import type { Expr } from '../src/model/expr.js';

// -- task machine -----------------------------------------------------------------------------

test('a task without a delay goes waiting -> ready at once, then active -> success', () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1' } });
  const seen: string[] = [];
  actor.subscribe((snapshot) => seen.push(String(snapshot.value)));
  actor.start();
  assert.equal(actor.getSnapshot().value, 'ready');
  assert.equal(actor.getSnapshot().context.attempts, 0);
  actor.send({ type: 'start' });
  assert.equal(actor.getSnapshot().value, 'active');
  assert.equal(actor.getSnapshot().context.attempts, 1);
  actor.send({ type: 'succeed', result: { rows: 3 } });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'success');
  assert.equal(snapshot.status, 'done');
  assert.deepEqual(snapshot.context.result, { rows: 3 });
  assert.equal(snapshot.context.error, undefined);
  assert.deepEqual(seen, ['ready', 'active', 'success']);
});

test('an active task that fails goes to failure with its error', () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '2' } }).start();
  actor.send({ type: 'start' });
  const error = { name: 'Error', message: 'boom', stack: 'Error: boom\n    at here' };
  actor.send({ type: 'fail', error });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'failure');
  assert.equal(snapshot.status, 'done');
  assert.deepEqual(snapshot.context.error, error);
  assert.equal(snapshot.context.result, undefined);
  assert.equal(snapshot.context.step, 's1');
  assert.equal(snapshot.context.sequence, '2');
});

test('a delayed task stays waiting until it is due', () => {
  const dueAt = Date.now() + 60_000;
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1', dueAt } }).start();
  assert.equal(actor.getSnapshot().value, 'waiting');
  assert.equal(actor.getSnapshot().context.dueAt, dueAt);
  actor.send({ type: 'start' });
  assert.equal(actor.getSnapshot().value, 'waiting', 'a waiting task cannot start');
  actor.send({ type: 'due' });
  assert.equal(actor.getSnapshot().value, 'ready');
  actor.send({ type: 'start' });
  assert.equal(actor.getSnapshot().value, 'active');
});

test("'skip' takes a ready task to success with the given result", () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1' } }).start();
  actor.send({ type: 'skip', status: 'success', result: 'earlier result' });
  const snapshot = actor.getSnapshot();
  assert.equal(snapshot.value, 'success');
  assert.equal(snapshot.context.result, 'earlier result');
  assert.equal(snapshot.context.skipped, true);
  assert.equal(snapshot.context.attempts, 0, 'a skipped task never ran');
});

test("'skip' takes a waiting task to success with the given result", () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1', dueAt: Date.now() + 60_000 } }).start();
  actor.send({ type: 'skip', status: 'success', result: 42 });
  assert.equal(actor.getSnapshot().value, 'success');
  assert.equal(actor.getSnapshot().context.result, 42);
});

test("'skip' with a failure replays the earlier error and ends in failure", () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1' } }).start();
  actor.send({ type: 'skip', status: 'failure', error: { name: 'RangeError', message: 'math domain error' } });
  assert.equal(actor.getSnapshot().value, 'failure');
  assert.deepEqual(actor.getSnapshot().context.error, { name: 'RangeError', message: 'math domain error' });
  assert.equal(actor.getSnapshot().context.attempts, 0);
});

test('a task ignores outcomes before it is active, and anything once final', () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1' } }).start();
  actor.send({ type: 'succeed', result: 'too early' });
  assert.equal(actor.getSnapshot().value, 'ready');
  actor.send({ type: 'fail', error: { name: 'Error', message: 'too early' } });
  assert.equal(actor.getSnapshot().value, 'ready');
  actor.send({ type: 'start' });
  actor.send({ type: 'succeed', result: 'ok' });
  actor.send({ type: 'fail', error: { name: 'Error', message: 'too late' } });
  assert.equal(actor.getSnapshot().value, 'success');
  assert.equal(actor.getSnapshot().context.result, 'ok');
  assert.equal(actor.getSnapshot().context.error, undefined);
});

test('an active task cannot be skipped', () => {
  const actor = createActor(taskMachine, { input: { step: 's1', sequence: '1' } }).start();
  actor.send({ type: 'start' });
  actor.send({ type: 'skip', status: 'success', result: 'skipped' });
  assert.equal(actor.getSnapshot().value, 'active');
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
