// Flows that cannot run as written: each is refused with a named error, exported from the
// package root, whose message names the offending event or step, before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  DuplicateNameError,
  EmptyExpressionError,
  EventorError,
  ExpressionCycleError,
  ForeignReferenceError,
  InvalidDelayError,
  or,
  StepCodeError,
  UnknownNameError,
  UnknownStatusError,
  ValidationError,
  validateFlow,
  type AddStepOptions,
  type EventRef,
  type FlowSpec,
  type RunConfigInput,
} from '../src/index.js';
import { errorOf, LIMIT, makeEventor, Recorder } from './helpers.js';

type ErrorClass = abstract new (...args: never[]) => Error;

/** Checks the shape every validation error shares, and that its message names `names`. */
function assertNamedError(error: unknown, kind: ErrorClass, ...names: string[]): void {
  assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
  assert.ok(error instanceof ValidationError, `${kind.name} is a ValidationError`);
  assert.ok(error instanceof EventorError, `${kind.name} is an EventorError`);
  assert.equal(error.name, kind.name);
  for (const name of names) assert.ok(error.message.includes(`'${name}'`), `message names '${name}': ${error.message}`);
}

/**
 * Builds a flow in which step `work` is triggered, then runs it: returns what was thrown
 * (while building, triggering or running) and whether `work` ran at all.
 */
async function refused(t: Parameters<typeof makeEventor>[0], build: (ev: ReturnType<typeof makeEventor>) => void, config?: RunConfigInput) {
  const ev = makeEventor(t, config ? { config } : {});
  const calls: string[] = [];
  const rec = new Recorder(ev);
  const error = await errorOf(async () => {
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('work', { func: () => calls.push('work') }));
    ev.triggerEvent(start, 1);
    build(ev);
    await ev.run();
  });
  assert.deepEqual(calls, [], 'nothing ran');
  assert.deepEqual(rec.records, [], 'no task was recorded');
  return error;
}

test('every named error is exported, an EventorError and a ValidationError', () => {
  const classes = [DuplicateNameError, UnknownNameError, ForeignReferenceError, ExpressionCycleError, EmptyExpressionError, InvalidDelayError, StepCodeError, UnknownStatusError, ConfigError];
  for (const kind of classes) {
    assert.equal(typeof kind, 'function');
    assert.ok(kind.prototype instanceof ValidationError, `${kind.name} extends ValidationError`);
    assert.ok(kind.prototype instanceof EventorError, `${kind.name} extends EventorError`);
  }
});

// -- DuplicateNameError -----------------------------------------------------------------------

test('addEvent refuses a duplicate event name with DuplicateNameError', (t) => {
  const ev = makeEventor(t);
  ev.addEvent('start');
  assert.throws(() => ev.addEvent('start'), (error) => {
    assertNamedError(error, DuplicateNameError, 'start');
    return true;
  });
});

test('addStep refuses a duplicate step name with DuplicateNameError', (t) => {
  const ev = makeEventor(t);
  ev.addStep('s1', { func: () => 1 });
  assert.throws(() => ev.addStep('s1', { func: () => 2 }), (error) => {
    assertNamedError(error, DuplicateNameError, 's1');
    return true;
  });
});

// -- UnknownNameError -------------------------------------------------------------------------

test('run() refuses an association to an unknown step name with UnknownNameError', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('work', { func: () => calls.push('work') }), 'no_such_step');
  ev.triggerEvent(start, 1);
  await assert.rejects(ev.run(), (error) => {
    assertNamedError(error, UnknownNameError, 'no_such_step');
    return true;
  });
  assert.deepEqual(calls, []);
});

test('run() refuses an association from an unknown event name with UnknownNameError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addAssoc('no_such_event', 'work'));
  assertNamedError(error, UnknownNameError, 'no_such_event');
});

test('run() refuses a step trigger under an unknown event name with UnknownNameError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('s2', { func: () => 2, triggers: { success: ['no_such_event'] } }));
  assertNamedError(error, UnknownNameError, 'no_such_event');
  assert.match((error as Error).message, /s2/);
});

test('run() refuses triggerEvent of an unknown event name with UnknownNameError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.triggerEvent('no_such_event', 1));
  assertNamedError(error, UnknownNameError, 'no_such_event');
});

test('run() refuses an expression naming an unknown event with UnknownNameError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addEvent('both', { expr: ['start', 'no_such_event'] }));
  assertNamedError(error, UnknownNameError, 'no_such_event');
  assert.match((error as Error).message, /both/);
});

test('triggerEvent of an unknown event name during a run throws UnknownNameError', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  let error: unknown;
  ev.addAssoc(
    start,
    ev.addStep('s', {
      func: () => {
        try {
          ev.triggerEvent('no_such_event', 1);
        } catch (thrown) {
          error = thrown;
        }
      },
    }),
  );
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assertNamedError(error, UnknownNameError, 'no_such_event');
});

// -- ForeignReferenceError --------------------------------------------------------------------

test('an association from an event of another Eventor is refused with ForeignReferenceError', LIMIT, async (t) => {
  const other = makeEventor(t);
  const foreign = other.addEvent('foreign_event');
  const error = await refused(t, (ev) => ev.addAssoc(foreign, 'work'));
  assertNamedError(error, ForeignReferenceError, 'foreign_event');
});

test('an association to a step of another Eventor is refused with ForeignReferenceError', LIMIT, async (t) => {
  const other = makeEventor(t);
  const foreign = other.addStep('foreign_step', { func: () => 1 });
  const error = await refused(t, (ev) => ev.addAssoc('start', foreign));
  assertNamedError(error, ForeignReferenceError, 'foreign_step');
});

test('a step trigger naming an event of another Eventor is refused with ForeignReferenceError', LIMIT, async (t) => {
  const other = makeEventor(t);
  const foreign = other.addEvent('foreign_event');
  const error = await refused(t, (ev) => ev.addStep('s2', { func: () => 2, triggers: { success: [foreign] } }));
  assertNamedError(error, ForeignReferenceError, 'foreign_event');
});

test('triggerEvent of an event of another Eventor is refused with ForeignReferenceError', LIMIT, async (t) => {
  const other = makeEventor(t);
  const foreign = other.addEvent('foreign_event');
  const error = await refused(t, (ev) => ev.triggerEvent(foreign, 1));
  assertNamedError(error, ForeignReferenceError, 'foreign_event');
});

test('an expression naming an event of another Eventor is refused with ForeignReferenceError', LIMIT, async (t) => {
  const other = makeEventor(t);
  const foreign = other.addEvent('foreign_event');
  const error = await refused(t, (ev) => ev.addEvent('both', { expr: or<EventRef | string>('start', foreign) }));
  assertNamedError(error, ForeignReferenceError, 'foreign_event');
});

test('an event of another Eventor is refused even when this Eventor has an event of that name', LIMIT, async (t) => {
  const other = makeEventor(t);
  const foreign = other.addEvent('start');
  const error = await refused(t, (ev) => ev.addAssoc(foreign, 'work'));
  assertNamedError(error, ForeignReferenceError, 'start');
});

test('a step given where an event is needed is refused with ValidationError naming it', LIMIT, async (t) => {
  const error = await refused(t, (ev) => {
    const s2 = ev.addStep('s2', { func: () => 2 });
    ev.addAssoc(s2 as unknown as EventRef, 'work');
  });
  assertNamedError(error, ValidationError, 's2');
});

// -- ExpressionCycleError ---------------------------------------------------------------------

test('an expression cycle a -> b -> a is refused with ExpressionCycleError showing the path', LIMIT, async (t) => {
  const error = await refused(t, (ev) => {
    ev.addEvent('a', { expr: ['start', 'b'] });
    ev.addEvent('b', { expr: or('a', 'start') });
  });
  assertNamedError(error, ExpressionCycleError);
  assert.match((error as Error).message, /a -> b -> a|b -> a -> b/);
});

test('an event whose expression names itself is refused with ExpressionCycleError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addEvent('self', { expr: or('start', 'self') }));
  assertNamedError(error, ExpressionCycleError, 'self');
  assert.match((error as Error).message, /self -> self/);
});

test('a longer cycle reached through a nested expression is refused with ExpressionCycleError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => {
    ev.addEvent('x', { expr: or('start', ['y', 'start']) });
    ev.addEvent('y', { expr: ['z'] });
    ev.addEvent('z', { expr: or('x') });
  });
  assertNamedError(error, ExpressionCycleError);
  assert.match((error as Error).message, /x -> y -> z -> x|y -> z -> x -> y|z -> x -> y -> z/);
});

test('a diamond of expressions is not a cycle', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b', { expr: [a] });
  const c = ev.addEvent('c', { expr: or(a) });
  const d = ev.addEvent('d', { expr: [b, c] });
  const rec = new Recorder(ev);
  ev.addAssoc(d, ev.addStep('s', { func: () => 's' }));
  ev.triggerEvent(a, 1);
  assert.equal(await ev.run(), true);
  assert.equal(rec.runs('s', '1'), 1);
});

// -- EmptyExpressionError ---------------------------------------------------------------------

test('an empty array expression is refused with EmptyExpressionError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addEvent('nothing', { expr: [] }));
  assertNamedError(error, EmptyExpressionError, 'nothing');
});

test('an empty or() is refused with EmptyExpressionError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addEvent('nothing', { expr: or() }));
  assertNamedError(error, EmptyExpressionError, 'nothing');
});

test('an empty part nested in an expression is refused with EmptyExpressionError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addEvent('partly', { expr: or('start', []) }));
  assertNamedError(error, EmptyExpressionError, 'partly');
});

// -- InvalidDelayError ------------------------------------------------------------------------

for (const [label, delay] of [
  ['a negative delay', -1],
  ['a NaN delay', Number.NaN],
  ['an infinite delay', Number.POSITIVE_INFINITY],
] as const) {
  test(`${label} is refused with InvalidDelayError`, LIMIT, async (t) => {
    const error = await refused(t, (ev) => {
      const late = ev.addEvent('late');
      ev.addAssoc(late, 'work', { delay });
    });
    assertNamedError(error, InvalidDelayError, 'late');
  });
}

test('a delay that is not a number is refused with InvalidDelayError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addAssoc('start', 'work', { delay: '5' as unknown as number }));
  assertNamedError(error, InvalidDelayError, 'start');
});

// -- StepCodeError ----------------------------------------------------------------------------

test('a step with neither func, module nor command is refused with StepCodeError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('empty', {}));
  assertNamedError(error, StepCodeError, 'empty');
});

test('a step with both func and command is refused with StepCodeError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('both', { func: () => 1, command: ['echo', 'hi'] }));
  assertNamedError(error, StepCodeError, 'both');
});

test('a step with both func and module is refused with StepCodeError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('both', { func: () => 1, module: './progs.js', export: 'prog' }));
  assertNamedError(error, StepCodeError, 'both');
});

test('a step with module but no export is refused with StepCodeError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('half', { module: './progs.js' }));
  assertNamedError(error, StepCodeError, 'half');
});

// -- UnknownStatusError -----------------------------------------------------------------------

test("triggers under a status that does not exist ('finished') are refused with UnknownStatusError", LIMIT, async (t) => {
  const error = await refused(t, (ev) => {
    const done = ev.addEvent('done');
    const triggers = { finished: [done] } as unknown as AddStepOptions['triggers'];
    ev.addStep('odd', { func: () => 1, triggers });
  });
  assertNamedError(error, UnknownStatusError, 'odd', 'finished');
});

test('a recovery map under a status that does not exist is refused with UnknownStatusError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => {
    const recovery = { finished: 'skip' } as unknown as AddStepOptions['recovery'];
    ev.addStep('odd', { func: () => 1, recovery });
  });
  assertNamedError(error, UnknownStatusError, 'odd', 'finished');
});

// -- ConfigError ------------------------------------------------------------------------------

test("a run config maxConcurrent that is not a number ('x') is refused with ConfigError", LIMIT, async (t) => {
  const error = await refused(t, () => {}, { maxConcurrent: 'x' as unknown as number });
  assertNamedError(error, ConfigError);
  assert.match((error as Error).message, /maxConcurrent/);
});

test("a step config maxConcurrent that is not a number ('x') is refused with ConfigError naming the step", LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('odd', { func: () => 1, config: { maxConcurrent: 'x' as unknown as number } }));
  assertNamedError(error, ConfigError, 'odd');
  assert.match((error as Error).message, /maxConcurrent/);
});

test('a stopOnException that is not a boolean is refused with ConfigError', LIMIT, async (t) => {
  const error = await refused(t, (ev) => ev.addStep('odd', { func: () => 1, config: { stopOnException: 'yes' as unknown as boolean } }));
  assertNamedError(error, ConfigError, 'odd');
  assert.match((error as Error).message, /stopOnException/);
});

// -- validateFlow on plain data ---------------------------------------------------------------

function plainFlow(): FlowSpec {
  return {
    name: 'plain',
    events: [{ name: 'start' }, { name: 'done' }, { name: 'both', expr: { op: 'and', items: ['start', 'done'] } }],
    steps: [{ name: 's1', func: () => 1, args: [], triggers: { success: ['done'] }, recovery: {}, config: {} }],
    assocs: [{ event: 'start', targets: [{ kind: 'step', name: 's1' }], delay: 0 }],
    triggers: [{ event: 'start', sequence: '1' }],
    config: { maxConcurrent: 0, stopOnException: true, envvarPrefix: 'EVENTOR_', logging: { level: 'info', console: false }, dayToKeepDb: 0 },
  };
}

test('validateFlow accepts a valid plain FlowSpec', () => {
  assert.doesNotThrow(() => validateFlow(plainFlow()));
});

test('validateFlow refuses a plain FlowSpec with a problem, naming it', () => {
  const unknownTarget = plainFlow();
  unknownTarget.assocs[0].targets.push({ kind: 'step', name: 'ghost' });
  assert.throws(() => validateFlow(unknownTarget), (error) => {
    assertNamedError(error, UnknownNameError, 'ghost');
    return true;
  });

  const duplicate = plainFlow();
  duplicate.events.push({ name: 'done' });
  assert.throws(() => validateFlow(duplicate), (error) => {
    assertNamedError(error, DuplicateNameError, 'done');
    return true;
  });

  const cycle = plainFlow();
  cycle.events.push({ name: 'loop', expr: { op: 'or', items: ['loop'] } });
  assert.throws(() => validateFlow(cycle), ExpressionCycleError);

  const badDelay = plainFlow();
  badDelay.assocs[0].delay = -3;
  assert.throws(() => validateFlow(badDelay), InvalidDelayError);
});

test('toSpec() gives the plain FlowSpec that validateFlow accepts', (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  ev.addEvent('either', { expr: or(start, [done, start]) });
  ev.addAssoc(start, ev.addStep('s1', { func: () => 1, triggers: { success: [done] } }), done, { delay: 1 });
  ev.triggerEvent(start, 1);
  const spec = ev.toSpec();
  assert.doesNotThrow(() => validateFlow(spec));
  assert.deepEqual(spec.events.find((e) => e.name === 'either')?.expr, { op: 'or', items: ['start', { op: 'and', items: ['done', 'start'] }] });
  assert.deepEqual(spec.assocs, [{ event: 'start', delay: 1, targets: [{ kind: 'step', name: 's1' }, { kind: 'event', name: 'done' }] }]);
  assert.deepEqual(spec.triggers, [{ event: 'start', sequence: '1' }]);
  assert.deepEqual(spec.steps[0].triggers, { success: ['done'] });
});

test('a sequence that is empty or not a finite number is refused with ValidationError', (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  assert.throws(() => ev.triggerEvent(start, ''), ValidationError);
  assert.throws(() => ev.triggerEvent(start, Number.NaN), ValidationError);
  assert.throws(() => ev.triggerEvent(start, Number.POSITIVE_INFINITY), ValidationError);
});
