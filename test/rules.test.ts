// The twelve rules of Eventor's core semantics, each checked through the public API:
// subscribe() records, currentStep(), run()'s result and countTodos().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { and, ClosedError, currentStep, EventorError, or, StepStatus } from '../src/index.js';
import { ConcurrencyProbe, deferred, LIMIT, makeEventor, Recorder, sleep, within } from './helpers.js';

const boom = () => {
  throw new Error('boom');
};

// -- 1. at most once per sequence -------------------------------------------------------------

test('an event fires at most once per sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => 'done' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.equal(rec.runs('s', '1'), 1, rec.describe());
  assert.deepEqual(rec.statuses('s', '1'), ['ready', 'active', 'success']);
});

test('an event triggered again during the run for a sequence it fired for does not fire again', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const again = ev.addEvent('again');
  ev.addAssoc(start, ev.addStep('first', { func: () => ev.triggerEvent(start, currentStep().sequence), triggers: { success: [again] } }));
  ev.addAssoc(again, ev.addStep('second', { func: () => ev.triggerEvent(again, currentStep().sequence) }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.equal(rec.runs('first', '1'), 1, rec.describe());
  assert.equal(rec.runs('second', '1'), 1, rec.describe());
});

test('a step runs at most once per sequence, even when two events lead to it', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const e1 = ev.addEvent('e1');
  const e2 = ev.addEvent('e2');
  const calls: string[] = [];
  const s = ev.addStep('s', { func: () => calls.push(currentStep().sequence) });
  ev.addAssoc(e1, s);
  ev.addAssoc(e2, s);
  const rec = new Recorder(ev);
  ev.triggerEvent(e1, 1);
  ev.triggerEvent(e2, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['1']);
  assert.equal(rec.runs('s', '1'), 1);
});

test('a step runs again for another sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const e1 = ev.addEvent('e1');
  const e2 = ev.addEvent('e2');
  const calls: string[] = [];
  const s = ev.addStep('s', { func: () => calls.push(currentStep().sequence) });
  ev.addAssoc(e1, s);
  ev.addAssoc(e2, s);
  ev.triggerEvent(e1, 1);
  ev.triggerEvent(e2, 1);
  ev.triggerEvent(e2, 2);
  ev.triggerEvent(e1, 2);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls.sort(), ['1', '2']);
});

test('a step runs at most once per sequence, even when an event leads to it again after it finished', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const again = ev.addEvent('again');
  const calls: string[] = [];
  const s = ev.addStep('s', { func: () => calls.push(currentStep().sequence), triggers: { success: [again] } });
  ev.addAssoc(start, s);
  ev.addAssoc(again, s); // s's own success leads back to s for the same sequence
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls.sort(), ['1', '2']);
});

test('an association cycle between events ends: each event fires once per sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  ev.addAssoc(a, b);
  ev.addAssoc(b, a);
  const calls: string[] = [];
  ev.addAssoc(b, ev.addStep('s', { func: () => calls.push(currentStep().sequence) }));
  ev.triggerEvent(a, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['1']);
});

test('a later run() of the same Eventor does not run a step again for a sequence it ran for', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s', { func: () => calls.push(currentStep().sequence) }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['1', '2']);
});

// -- 2. everything a task triggers carries its sequence ---------------------------------------

test("everything a task triggers carries the task's sequence", LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const onReady = ev.addEvent('onReady');
  const onActive = ev.addEvent('onActive');
  const onSuccess = ev.addEvent('onSuccess');
  const chained = ev.addEvent('chained');
  const chainedLater = ev.addEvent('chainedLater');
  const seen: Record<string, string[]> = {};
  const note = () => {
    const { name, sequence } = currentStep();
    (seen[name] ??= []).push(sequence);
  };
  ev.addAssoc(start, ev.addStep('s1', { func: note, triggers: { ready: [onReady], active: [onActive], success: [onSuccess] } }));
  ev.addAssoc(onReady, ev.addStep('afterReady', { func: note }));
  ev.addAssoc(onActive, ev.addStep('afterActive', { func: note }));
  ev.addAssoc(onSuccess, ev.addStep('afterSuccess', { func: note }), chained);
  ev.addAssoc(onSuccess, ev.addStep('delayed', { func: note }), { delay: 0.02 });
  ev.addAssoc(onSuccess, chainedLater, { delay: 0.02 });
  ev.addAssoc(chained, ev.addStep('afterChained', { func: note }));
  ev.addAssoc(chainedLater, ev.addStep('afterChainedLater', { func: note }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 'alpha');
  ev.triggerEvent(start, 7);
  assert.equal(await ev.run(), true);
  for (const step of ['s1', 'afterReady', 'afterActive', 'afterSuccess', 'delayed', 'afterChained', 'afterChainedLater']) {
    assert.deepEqual((seen[step] ?? []).sort(), ['7', 'alpha'], `currentStep().sequence of ${step}`);
    assert.deepEqual([...new Set(rec.of(step).map((r) => r.sequence))].sort(), ['7', 'alpha'], `record sequences of ${step}`);
    assert.deepEqual(rec.sequencesOf(step, 'success').sort(), ['7', 'alpha'], `${step} succeeded for both sequences`);
  }
});

// -- 3. triggers fire on entering a status ----------------------------------------------------

test('ready triggers fire when the task becomes ready, before it starts', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  ev.addAssoc(start, ev.addStep('a', { func: () => 'a', triggers: { ready: [e] } }));
  ev.addAssoc(e, ev.addStep('b', { func: () => 'b' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  const bReady = rec.indexOf('b', '1', 'ready');
  const aActive = rec.indexOf('a', '1', 'active');
  assert.ok(bReady >= 0 && aActive >= 0, rec.describe());
  assert.ok(bReady < aActive, `b became ready before a started: ${rec.describe()}`);
  assert.equal(rec.runs('b', '1'), 1);
});

test('ready triggers of a delayed task fire only once its delay has passed', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  ev.addAssoc(start, ev.addStep('a', { func: () => 'a', triggers: { ready: [e] } }), { delay: 0.05 });
  ev.addAssoc(e, ev.addStep('b', { func: () => 'b' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.statuses('a', '1'), ['waiting', 'ready', 'active', 'success']);
  assert.ok(rec.indexOf('b', '1', 'ready') > rec.indexOf('a', '1', 'ready'), rec.describe());
});

test('active triggers fire while the task is active', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  const released = deferred<string>();
  ev.addAssoc(start, ev.addStep('a', { func: () => within(released.promise), triggers: { active: [e] } }));
  ev.addAssoc(e, ev.addStep('b', { func: () => released.resolve('released by b') }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  // a only finishes in time if b ran while a was waiting.
  assert.equal(rec.find('a', '1', 'success').result, 'released by b');
  assert.ok(rec.indexOf('b', '1', 'success') < rec.indexOf('a', '1', 'success'), rec.describe());
});

test('success triggers fire when the task succeeds, and not when it fails', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  ev.addAssoc(
    start,
    ev.addStep('a', {
      func: () => {
        if (currentStep().sequence === '2') throw new Error('a fails for 2');
        return 'a';
      },
      triggers: { success: [e] },
    }),
  );
  ev.addAssoc(e, ev.addStep('b', { func: () => 'b' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  assert.equal(await ev.run(), false);
  assert.deepEqual(rec.sequencesOf('b', 'success'), ['1']);
  assert.ok(rec.indexOf('b', '1', 'ready') > rec.indexOf('a', '1', 'success'), rec.describe());
  assert.equal(rec.of('b', '2').length, 0);
});

test('failure triggers fire when the task fails, and not when it succeeds', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  ev.addAssoc(
    start,
    ev.addStep('a', {
      func: () => {
        if (currentStep().sequence === '2') throw new Error('a fails for 2');
        return 'a';
      },
      triggers: { failure: [e] },
    }),
  );
  ev.addAssoc(e, ev.addStep('b', { func: () => 'b' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('b', 'success'), ['2']);
  assert.ok(rec.indexOf('b', '2', 'ready') > rec.indexOf('a', '2', 'failure'), rec.describe());
});

test('complete triggers fire when the task succeeds', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  ev.addAssoc(start, ev.addStep('a', { func: () => 'a', triggers: { complete: [e] } }));
  ev.addAssoc(e, ev.addStep('b', { func: () => 'b' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('b', 'success'), ['1']);
  assert.ok(rec.indexOf('b', '1', 'ready') > rec.indexOf('a', '1', 'success'), rec.describe());
});

test('complete triggers fire when the task fails', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const e = ev.addEvent('e');
  ev.addAssoc(start, ev.addStep('a', { func: boom, triggers: { [StepStatus.complete]: [e] } }));
  ev.addAssoc(e, ev.addStep('b', { func: () => 'b' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.statuses('a', '1'), ['ready', 'active', 'failure']);
  assert.deepEqual(rec.sequencesOf('b', 'success'), ['1']);
  assert.ok(rec.indexOf('b', '1', 'ready') > rec.indexOf('a', '1', 'failure'), rec.describe());
});

// -- 4. expression events ---------------------------------------------------------------------

test('an array expression fires once all of its events have fired for the sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const both = ev.addEvent('both', { expr: [a, b] });
  ev.addAssoc(both, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(a, 1);
  ev.triggerEvent(b, 1);
  ev.triggerEvent(a, 2); // b never fires for 2
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('s', 'success'), ['1']);
});

test('an and() expression fires once all of its events have fired', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const c = ev.addEvent('c');
  const all = ev.addEvent('all', { expr: and(a, b, c) });
  ev.addAssoc(all, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  for (const event of [a, b, c]) ev.triggerEvent(event, 1);
  ev.triggerEvent(a, 2);
  ev.triggerEvent(c, 2);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('s', 'success'), ['1']);
});

test('an or() expression fires as soon as any of its events has fired', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const either = ev.addEvent('either', { expr: or(a, b) });
  ev.addAssoc(either, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(a, 1);
  ev.triggerEvent(b, 2);
  ev.triggerEvent(a, 3);
  ev.triggerEvent(b, 3);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('s', 'success').sort(), ['1', '2', '3']);
  assert.equal(rec.runs('s', '3'), 1);
});

test('an or() expression does not wait for its other events', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const slowDone = ev.addEvent('slowDone');
  const either = ev.addEvent('either', { expr: or(start, slowDone) });
  const released = deferred<string>();
  ev.addAssoc(start, ev.addStep('slow', { func: () => within(released.promise), triggers: { success: [slowDone] } }));
  ev.addAssoc(either, ev.addStep('after', { func: () => released.resolve('released by after') }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.equal(rec.find('slow', '1', 'success').result, 'released by after');
  assert.equal(rec.runs('after', '1'), 1);
});

test('expressions nest: and(a, or(b, c))', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const c = ev.addEvent('c');
  const x = ev.addEvent('x', { expr: and(a, or(b, c)) });
  ev.addAssoc(x, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(a, 1); // a & b
  ev.triggerEvent(b, 1);
  ev.triggerEvent(c, 2); // c & a
  ev.triggerEvent(a, 2);
  ev.triggerEvent(a, 3); // a only
  ev.triggerEvent(b, 4); // b and c, no a
  ev.triggerEvent(c, 4);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('s', 'success').sort(), ['1', '2']);
});

test('an array nested in or() means and: or([a, b], c)', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const c = ev.addEvent('c');
  const x = ev.addEvent('x', { expr: or([a, b], c) });
  ev.addAssoc(x, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(a, 1);
  ev.triggerEvent(b, 1);
  ev.triggerEvent(a, 2);
  ev.triggerEvent(c, 3);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('s', 'success').sort(), ['1', '3']);
});

test('expressions are evaluated per sequence: a for 1 and b for 2 does not fire [a, b]', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const both = ev.addEvent('both', { expr: [a, b] });
  ev.addAssoc(both, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(a, 1);
  ev.triggerEvent(b, 2);
  assert.equal(await ev.run(), true);
  assert.equal(rec.of('s').length, 0, rec.describe());
});

test('an expression may name other expression events, and steps that trigger its events', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const aDone = ev.addEvent('aDone');
  const bDone = ev.addEvent('bDone');
  const both = ev.addEvent('both', { expr: [aDone, bDone] });
  const other = ev.addEvent('other');
  const last = ev.addEvent('last', { expr: or(both, other) });
  ev.addAssoc(start, ev.addStep('a', { func: () => sleep(10), triggers: { success: [aDone] } }), ev.addStep('b', { func: () => sleep(20), triggers: { success: [bDone] } }));
  ev.addAssoc(last, ev.addStep('final', { func: () => 'final' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('final', 'success'), ['1']);
  const finalReady = rec.indexOf('final', '1', 'ready');
  assert.ok(finalReady > rec.indexOf('a', '1', 'success') && finalReady > rec.indexOf('b', '1', 'success'), rec.describe());
});

test('an expression event string-named in the expression works like one given by reference', LIMIT, async (t) => {
  const ev = makeEventor(t);
  ev.addEvent('a');
  ev.addEvent('b');
  ev.addEvent('both', { expr: ['a', 'b'] });
  ev.addAssoc('both', ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  ev.triggerEvent('a', 1);
  ev.triggerEvent('b', 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.sequencesOf('s', 'success'), ['1']);
});

// -- 5. delayed associations ------------------------------------------------------------------

test('a delayed association triggers its steps and events after the delay, with the same sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const later = ev.addEvent('later');
  const startedAt: Record<string, number> = {};
  const sequences: Record<string, string> = {};
  const note = () => {
    const { name, sequence } = currentStep();
    startedAt[name] = Date.now();
    sequences[name] = sequence;
  };
  ev.addAssoc(start, ev.addStep('s1', { func: () => 's1', triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: note }), later, { delay: 0.1 });
  ev.addAssoc(later, ev.addStep('s3', { func: note }));
  let firedAt = 0;
  ev.subscribe((r) => {
    if (r.step === 's1' && r.status === 'success') firedAt = Date.now();
  });
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 4);
  assert.equal(await ev.run(), true);
  assert.ok(firedAt > 0);
  assert.deepEqual(sequences, { s2: '4', s3: '4' });
  assert.ok(startedAt.s2 - firedAt >= 90, `s2 started ${startedAt.s2 - firedAt} ms after done fired`);
  assert.ok(startedAt.s3 - firedAt >= 90, `s3 started ${startedAt.s3 - firedAt} ms after done fired`);
  assert.deepEqual(rec.statuses('s2', '4'), ['waiting', 'ready', 'active', 'success']);
});

test('delays of several associations each count from their own event', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const order: string[] = [];
  const note = () => void order.push(currentStep().name);
  ev.addAssoc(start, ev.addStep('late', { func: note }), { delay: 0.1 });
  ev.addAssoc(start, ev.addStep('early', { func: note }), { delay: 0.03 });
  ev.addAssoc(start, ev.addStep('now', { func: note }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(order, ['now', 'early', 'late']);
});

// -- 6. stopOnException -----------------------------------------------------------------------

/** start → fail (throws after 10 ms), slow (50 ms, then triggers `after`), queued (waits for a slot). */
function stoppingFlow(ev: ReturnType<typeof makeEventor>, failConfig: { stopOnException?: boolean } = {}) {
  const start = ev.addEvent('start');
  const slowDone = ev.addEvent('slowDone');
  const ran: string[] = [];
  const fail = ev.addStep('fail', {
    func: async () => {
      await sleep(10);
      throw new Error('fail failed');
    },
    config: failConfig,
  });
  const slow = ev.addStep('slow', {
    func: async () => {
      await sleep(50);
      ran.push('slow');
    },
    triggers: { success: [slowDone] },
  });
  const queued = ev.addStep('queued', { func: () => void ran.push('queued') });
  ev.addAssoc(start, fail, slow, queued);
  ev.addAssoc(slowDone, ev.addStep('after', { func: () => void ran.push('after') }));
  ev.triggerEvent(start, 1);
  return ran;
}

test('an unhandled failure stops the run: no new task starts, running tasks finish, run() resolves false', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 2 } });
  const ran = stoppingFlow(ev);
  const rec = new Recorder(ev);
  assert.equal(await ev.run(), false);
  assert.deepEqual(rec.statuses('fail', '1'), ['ready', 'active', 'failure']);
  assert.deepEqual(rec.statuses('slow', '1'), ['ready', 'active', 'success'], 'the running task finished before run() resolved');
  assert.deepEqual(ran, ['slow']);
  assert.equal(rec.runs('queued'), 0, 'a ready task did not start after the failure');
  assert.equal(rec.runs('after'), 0, 'a task made ready after the failure did not start');
  assert.deepEqual(await ev.countTodos(), { total: 2, byStep: { queued: 1, after: 1 } });
});

test('stopOnException is true by default', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('fail', { func: boom }));
  ev.addAssoc(start, ev.addStep('next', { func: () => 'next' }), { delay: 0.03 });
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.equal(rec.runs('next'), 0, rec.describe());
});

test("a step's stopOnException: false overrides the run's true: the run goes on, and run() resolves false", LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 2, stopOnException: true } });
  const ran = stoppingFlow(ev, { stopOnException: false });
  const rec = new Recorder(ev);
  assert.equal(await ev.run(), false);
  assert.deepEqual(rec.statuses('fail', '1'), ['ready', 'active', 'failure']);
  assert.deepEqual(ran.sort(), ['after', 'queued', 'slow']);
  assert.deepEqual(await ev.countTodos(), { total: 0, byStep: {} });
});

test("the run's stopOnException: false lets the run go on, and run() resolves false", LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 2, stopOnException: false } });
  const ran = stoppingFlow(ev);
  assert.equal(await ev.run(), false);
  assert.deepEqual(ran.sort(), ['after', 'queued', 'slow']);
});

test("a step's stopOnException: true overrides the run's false", LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 2, stopOnException: false } });
  const ran = stoppingFlow(ev, { stopOnException: true });
  const rec = new Recorder(ev);
  assert.equal(await ev.run(), false);
  assert.deepEqual(ran, ['slow']);
  assert.equal(rec.runs('queued') + rec.runs('after'), 0, rec.describe());
});

test('after a stop, pending delays are not waited for', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('fail', { func: boom }));
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('delayed', { func: () => calls.push('delayed') }), { delay: 0.3 });
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.deepEqual(rec.statuses('delayed', '1'), ['waiting']);
  await sleep(350);
  assert.deepEqual(calls, [], 'the delayed task did not start after the run ended');
});

// -- 7. handled failures ----------------------------------------------------------------------

test('a failure with failure triggers is handled: they fire, the run goes on, run() resolves true', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const start = ev.addEvent('start');
  const failed = ev.addEvent('failed');
  ev.addAssoc(start, ev.addStep('fail', { func: boom, triggers: { failure: [failed] } }), ev.addStep('other', { func: () => 'other' }));
  ev.addAssoc(failed, ev.addStep('cleanup', { func: () => 'cleaned' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.statuses('fail', '1'), ['ready', 'active', 'failure']);
  assert.equal(rec.find('cleanup', '1', 'success').result, 'cleaned');
  assert.ok(rec.indexOf('other', '1', 'active') > rec.indexOf('fail', '1', 'failure'), 'a task started after the failure');
  assert.equal(rec.runs('other', '1'), 1);
});

test('a failure with complete triggers is handled: they fire, the run goes on, run() resolves true', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const start = ev.addEvent('start');
  const finished = ev.addEvent('finished');
  ev.addAssoc(start, ev.addStep('fail', { func: boom, triggers: { complete: [finished] } }), ev.addStep('other', { func: () => 'other' }));
  ev.addAssoc(finished, ev.addStep('cleanup', { func: () => 'cleaned' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.equal(rec.find('cleanup', '1', 'success').result, 'cleaned');
  assert.equal(rec.runs('other', '1'), 1);
});

test('a handled failure does not hide an unhandled one: run() resolves false', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const start = ev.addEvent('start');
  const failed = ev.addEvent('failed');
  ev.addAssoc(start, ev.addStep('handled', { func: boom, triggers: { failure: [failed] } }), ev.addStep('unhandled', { func: boom }));
  ev.addAssoc(failed, ev.addStep('cleanup', { func: () => 'cleaned' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.equal(rec.runs('cleanup', '1'), 1);
});

// -- 8. maxConcurrent -------------------------------------------------------------------------

test("the run's maxConcurrent bounds all active tasks", LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 2 } });
  const probe = new ConcurrencyProbe();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('a', { func: probe.step() }), ev.addStep('b', { func: probe.step() }));
  for (let i = 1; i <= 4; i++) ev.triggerEvent(start, i);
  assert.equal(await ev.run(), true);
  assert.equal(probe.started.length, 8);
  assert.equal(probe.max, 2);
});

for (const limit of [0, -1]) {
  test(`a run maxConcurrent of ${limit} means no limit`, LIMIT, async (t) => {
    const ev = makeEventor(t, { config: { maxConcurrent: limit } });
    const probe = new ConcurrencyProbe();
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('a', { func: probe.step(50) }));
    for (let i = 1; i <= 6; i++) ev.triggerEvent(start, i);
    assert.equal(await ev.run(), true);
    assert.equal(probe.max, 6);
  });
}

test("a step's maxConcurrent of 1 runs its sequences one at a time, without holding up other steps", LIMIT, async (t) => {
  const ev = makeEventor(t);
  const one = new ConcurrencyProbe();
  const free = new ConcurrencyProbe();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('one', { func: one.step(), config: { maxConcurrent: 1 } }), ev.addStep('free', { func: free.step() }));
  for (let i = 1; i <= 4; i++) ev.triggerEvent(start, i);
  assert.equal(await ev.run(), true);
  assert.equal(one.started.length, 4);
  assert.equal(one.max, 1);
  assert.equal(free.max, 4);
});

test("a step's maxConcurrent bounds that step across sequences", LIMIT, async (t) => {
  const ev = makeEventor(t);
  const probe = new ConcurrencyProbe();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: probe.step(), config: { maxConcurrent: 3 } }));
  for (let i = 1; i <= 7; i++) ev.triggerEvent(start, i);
  assert.equal(await ev.run(), true);
  assert.equal(probe.started.length, 7);
  assert.equal(probe.max, 3);
});

test('a step at its own limit does not hold up the ready tasks of other steps', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 2 } });
  const order: string[] = [];
  const othersDone = deferred<string>();
  let others = 0;
  const start = ev.addEvent('start');
  const limited = async () => {
    const { name, sequence } = currentStep();
    order.push(`${name}/${sequence}`);
    // limited/1 keeps its slot until every other/* has run, which they can only do past limited/2 and /3.
    if (sequence === '1') return within(othersDone.promise);
    return 'free';
  };
  const other = () => {
    const { name, sequence } = currentStep();
    order.push(`${name}/${sequence}`);
    if (++others === 3) othersDone.resolve('others done');
  };
  ev.addAssoc(start, ev.addStep('limited', { func: limited, config: { maxConcurrent: 1 } }), ev.addStep('other', { func: other }));
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  ev.triggerEvent(start, 3);
  const rec = new Recorder(ev);
  assert.equal(await ev.run(), true);
  assert.equal(rec.find('limited', '1', 'success').result, 'others done');
  // Ready order: limited/1, other/1, limited/2, other/2, limited/3, other/3.
  assert.deepEqual(order, ['limited/1', 'other/1', 'other/2', 'other/3', 'limited/2', 'limited/3']);
});

test('waiting tasks start in the order they became ready', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const probe = new ConcurrencyProbe();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: probe.step(2) }));
  for (let i = 1; i <= 6; i++) ev.triggerEvent(start, i);
  assert.equal(await ev.run(), true);
  assert.deepEqual(probe.started, ['s/1', 's/2', 's/3', 's/4', 's/5', 's/6']);
  assert.equal(probe.max, 1);
});

test('waiting tasks of several steps start in the order they became ready', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const probe = new ConcurrencyProbe();
  const ea = ev.addEvent('ea');
  const eb = ev.addEvent('eb');
  ev.addAssoc(ea, ev.addStep('a', { func: probe.step(2) }));
  ev.addAssoc(eb, ev.addStep('b', { func: probe.step(2) }));
  ev.triggerEvent(eb, 3);
  ev.triggerEvent(ea, 1);
  ev.triggerEvent(eb, 1);
  ev.triggerEvent(ea, 2);
  ev.triggerEvent(eb, 2);
  assert.equal(await ev.run(), true);
  assert.deepEqual(probe.started, ['b/3', 'a/1', 'b/1', 'a/2', 'b/2']);
});

test('delayed tasks that come due together start in the order they were triggered', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const probe = new ConcurrencyProbe();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: probe.step(2) }), { delay: 0.03 });
  for (let i = 1; i <= 6; i++) ev.triggerEvent(start, i);
  assert.equal(await ev.run(), true);
  assert.deepEqual(probe.started, ['s/1', 's/2', 's/3', 's/4', 's/5', 's/6']);
});

test('a task made ready while others wait starts after them', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const probe = new ConcurrencyProbe();
  const start = ev.addEvent('start');
  const next = ev.addEvent('next');
  ev.addAssoc(start, ev.addStep('s', { func: probe.step(2), triggers: { success: [next] } }));
  ev.addAssoc(next, ev.addStep('t', { func: probe.step(2) }));
  for (let i = 1; i <= 3; i++) ev.triggerEvent(start, i);
  assert.equal(await ev.run(), true);
  assert.deepEqual(probe.started, ['s/1', 's/2', 's/3', 't/1', 't/2', 't/3']);
});

// -- 9. when run() resolves -------------------------------------------------------------------

test('run() resolves once nothing is ready, active or waiting on a delay', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s1', { func: () => calls.push('s1'), triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: () => calls.push('s2') }), { delay: 0.05 });
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['s1', 's2']);
  assert.deepEqual(await ev.countTodos(), { total: 0, byStep: {} });
});

test('run() waits on a delayed association to an event', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const later = ev.addEvent('later');
  const calls: string[] = [];
  ev.addAssoc(start, later, { delay: 0.05 });
  ev.addAssoc(later, ev.addStep('s', { func: () => calls.push(currentStep().sequence) }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['1']);
});

test('run({ maxLoops: 1 }) resolves when nothing is ready or active, leaving the delayed task to do', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s1', { func: () => calls.push('s1'), triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: () => calls.push('s2') }), { delay: 0.1 });
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, ['s1']);
  assert.deepEqual(rec.statuses('s2', '1'), ['waiting']);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s2: 1 } });
  await sleep(150);
  assert.deepEqual(calls, ['s1'], 'nothing runs between run() calls');

  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['s1', 's2']);
  assert.deepEqual(rec.statuses('s2', '1'), ['waiting', 'ready', 'active', 'success']);
  assert.deepEqual(await ev.countTodos(), { total: 0, byStep: {} });
});

test('a second run() finishes delayed work that is not due yet', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s2', { func: () => calls.push('s2') }), { delay: 0.1 });
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, []);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['s2']);
});

test('countTodos() counts a delayed association to an event in total, under no step', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const later = ev.addEvent('later');
  ev.addAssoc(start, later, { delay: 0.1 });
  ev.addAssoc(later, ev.addStep('s', { func: () => 's' }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: {} });
  assert.equal(await ev.run(), true);
  assert.deepEqual(await ev.countTodos(), { total: 0, byStep: {} });
});

test('run({ maxLoops: 2 }) runs one more loop after a delay, then resolves', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const d1 = ev.addEvent('d1');
  const d2 = ev.addEvent('d2');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s1', { func: () => calls.push('s1'), triggers: { success: [d1] } }));
  ev.addAssoc(d1, ev.addStep('s2', { func: () => calls.push('s2'), triggers: { success: [d2] } }), { delay: 0.03 });
  ev.addAssoc(d2, ev.addStep('s3', { func: () => calls.push('s3') }), { delay: 0.03 });
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run({ maxLoops: 2 }), true);
  assert.deepEqual(calls, ['s1', 's2']);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { s3: 1 } });
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['s1', 's2', 's3']);
});

test('a delay whose due time has passed becomes ready within the same loop of run({ maxLoops: 1 })', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s1', { func: () => calls.push('s1') }));
  ev.addAssoc(start, ev.addStep('s2', { func: () => calls.push('s2') }), { delay: 0.05 });
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, ['s1']);
  await sleep(80);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  assert.deepEqual(calls, ['s1', 's2']);
  assert.deepEqual(await ev.countTodos(), { total: 0, byStep: {} });
});

test('a task is recorded active before its code starts, and success before anything it triggers', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const rec = new Recorder(ev);
  const seenAtStart: string[][] = [];
  const note = () => void seenAtStart.push(rec.statuses(currentStep().name, currentStep().sequence));
  ev.addAssoc(start, ev.addStep('s1', { func: note, triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: note }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(seenAtStart, [
    ['ready', 'active'],
    ['ready', 'active'],
  ]);
  assert.ok(rec.indexOf('s1', '1', 'success') < rec.indexOf('s2', '1', 'ready'), rec.describe());
});

test('run() resolves true for a flow with nothing triggered', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('s', { func: () => calls.push('s') }));
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, []);
});

test('run() called again while the same Eventor is running rejects with an EventorError', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => sleep(20) }));
  ev.triggerEvent(start, 1);
  const first = ev.run();
  await assert.rejects(ev.run(), EventorError);
  assert.equal(await first, true);
});

// -- 10. errors as plain data -----------------------------------------------------------------

const failingFuncs: [string, () => unknown, (error: { name: string; message: string }) => void][] = [
  [
    'throws an Error',
    () => {
      throw new RangeError('out of range');
    },
    (error) => {
      assert.equal(error.name, 'RangeError');
      assert.equal(error.message, 'out of range');
    },
  ],
  [
    'rejects',
    async () => {
      await sleep(1);
      throw new TypeError('bad type');
    },
    (error) => {
      assert.equal(error.name, 'TypeError');
      assert.equal(error.message, 'bad type');
    },
  ],
  [
    'returns a rejected promise',
    () => Promise.reject(new Error('rejected')),
    (error) => assert.equal(error.message, 'rejected'),
  ],
  [
    'throws a string',
    () => {
      throw 'plain string';
    },
    (error) => assert.match(error.message, /plain string/),
  ],
  [
    'throws an object',
    () => {
      throw { code: 42 };
    },
    (error) => assert.match(error.message, /42/),
  ],
  [
    'throws an Error made in another realm (node:vm)',
    () => runInNewContext("throw new TypeError('from the sandbox')"),
    (error) => {
      assert.equal(error.name, 'TypeError');
      assert.equal(error.message, 'from the sandbox');
    },
  ],
  [
    'throws an object with no text form (circular, no prototype)',
    () => {
      const odd: Record<string, unknown> = Object.create(null);
      odd.self = odd;
      throw odd;
    },
    (error) => assert.ok(error.message.length > 0),
  ],
];

for (const [how, func, check] of failingFuncs) {
  test(`a step that ${how} fails with the error as plain data, and the run goes on`, LIMIT, async (t) => {
    const ev = makeEventor(t);
    const start = ev.addEvent('start');
    const failed = ev.addEvent('failed');
    ev.addAssoc(start, ev.addStep('bad', { func, triggers: { failure: [failed] } }));
    ev.addAssoc(failed, ev.addStep('handler', { func: () => 'handled' }));
    const rec = new Recorder(ev);
    ev.triggerEvent(start, 1);
    assert.equal(await ev.run(), true);
    const failure = rec.find('bad', '1', 'failure');
    const error = failure.error;
    assert.ok(error, 'the failure record has an error');
    assert.ok(!(error instanceof Error), 'the error is not an Error instance');
    assert.equal(Object.getPrototypeOf(error), Object.prototype, 'the error is a plain object');
    assert.equal(typeof error.name, 'string');
    assert.equal(typeof error.message, 'string');
    if (error.stack !== undefined) assert.equal(typeof error.stack, 'string');
    check(error);
    assert.deepEqual(JSON.parse(JSON.stringify(error)), error);
    assert.deepEqual(JSON.parse(JSON.stringify(failure)).error, error);
    assert.equal(rec.find('handler', '1', 'success').result, 'handled');
  });
}

test("an Error's stack is kept in the error record", LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('bad', { func: boom }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  const error = rec.find('bad', '1', 'failure').error;
  assert.deepEqual(error && Object.keys(error).sort(), ['message', 'name', 'stack']);
  assert.match(error?.stack ?? '', /boom/);
});

test("a step's result is in its success record", LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('sync', { func: () => ({ rows: 3 }) }), ev.addStep('async', { func: async () => 'later' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  const success = rec.find('sync', '1', 'success');
  assert.deepEqual(success.result, { rows: 3 });
  assert.equal(success.error, undefined);
  assert.equal(rec.find('async', '1', 'success').result, 'later');
});

// -- 11. triggering during a run --------------------------------------------------------------

test('an event triggered from outside while a step runs joins the run, and run() waits for it', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const outside = ev.addEvent('outside');
  const calls: string[] = [];
  ev.addAssoc(start, ev.addStep('slow', { func: () => sleep(100) }));
  ev.addAssoc(outside, ev.addStep('late', { func: () => sleep(30).then(() => calls.push(currentStep().sequence)) }));
  ev.triggerEvent(start, 1);
  const timer = setTimeout(() => ev.triggerEvent(outside, 7), 20);
  t.after(() => clearTimeout(timer));
  const rec = new Recorder(ev);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['7']);
  assert.deepEqual(rec.statuses('late', '7'), ['ready', 'active', 'success']);
  assert.ok(rec.indexOf('late', '7', 'active') < rec.indexOf('slow', '1', 'success'), 'late started while slow ran');
});

test('a step may trigger events for several sequences, and run() waits for what they start', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const inner = ev.addEvent('inner');
  const innerDone = ev.addEvent('innerDone');
  const calls: string[] = [];
  ev.addAssoc(
    start,
    ev.addStep('container', {
      func: () => {
        const { sequence } = currentStep();
        for (let i = 1; i <= 3; i++) ev.triggerEvent(inner, `${sequence}.${i}`);
        return 'triggered';
      },
    }),
  );
  ev.addAssoc(
    inner,
    ev.addStep('i1', {
      func: async () => {
        await sleep(10);
        calls.push(`i1 ${currentStep().sequence}`);
      },
      triggers: { success: [innerDone] },
    }),
  );
  ev.addAssoc(innerDone, ev.addStep('i2', { func: () => calls.push(`i2 ${currentStep().sequence}`) }));
  ev.triggerEvent(start, 1);
  ev.triggerEvent(start, 2);
  assert.equal(await ev.run(), true);
  const expected = ['1.1', '1.2', '1.3', '2.1', '2.2', '2.3'].flatMap((s) => [`i1 ${s}`, `i2 ${s}`]);
  assert.deepEqual(calls.sort(), expected.sort());
});

test('currentStep() still names the calling step after it triggered other steps', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const inner = ev.addEvent('inner');
  const names: string[] = [];
  ev.addAssoc(
    start,
    ev.addStep('container', {
      func: async () => {
        ev.triggerEvent(inner, 'x');
        names.push(`${currentStep().name}/${currentStep().sequence}`);
        await sleep(1);
        ev.triggerEvent(inner, 'y');
        names.push(`${currentStep().name}/${currentStep().sequence}`);
      },
    }),
  );
  ev.addAssoc(inner, ev.addStep('innerStep', { func: () => names.push(`${currentStep().name}/${currentStep().sequence}`) }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(names.filter((n) => n.startsWith('container')), ['container/1', 'container/1']);
  assert.deepEqual(names.filter((n) => n.startsWith('innerStep')).sort(), ['innerStep/x', 'innerStep/y']);
});

test('an event triggered from inside an async step, after it awaited, joins the run', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const inner = ev.addEvent('inner');
  const calls: string[] = [];
  ev.addAssoc(
    start,
    ev.addStep('container', {
      func: async () => {
        for (let i = 1; i <= 3; i++) {
          await sleep(5);
          ev.triggerEvent(inner, `c${i}`);
        }
      },
    }),
  );
  ev.addAssoc(inner, ev.addStep('innerStep', { func: () => sleep(20).then(() => calls.push(currentStep().sequence)) }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls.sort(), ['c1', 'c2', 'c3']);
});

test('triggerEvent from inside a step returns before the steps it triggers start', LIMIT, async (t) => {
  // A step's code must not run re-entrantly inside another step's triggerEvent call: the caller
  // would see other steps' code run in the middle of its own loop, and a durable store (which
  // awaits a write before starting a task) would order things differently from ':memory:'.
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const inner = ev.addEvent('inner');
  let insideTrigger = false;
  const startedInsideTrigger: boolean[] = [];
  ev.addAssoc(
    start,
    ev.addStep('container', {
      func: () => {
        for (let i = 1; i <= 3; i++) {
          insideTrigger = true;
          ev.triggerEvent(inner, `${currentStep().sequence}.${i}`);
          insideTrigger = false;
        }
      },
    }),
  );
  ev.addAssoc(inner, ev.addStep('innerStep', { func: () => void startedInsideTrigger.push(insideTrigger) }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(startedInsideTrigger, [false, false, false]);
});

test('a step that triggers the next sequence of its own event can chain thousands of sequences', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const next = ev.addEvent('next');
  const last = 3000;
  let count = 0;
  ev.addAssoc(
    next,
    ev.addStep('loop', {
      func: () => {
        count++;
        const sequence = Number(currentStep().sequence);
        if (sequence < last) ev.triggerEvent(next, sequence + 1);
      },
    }),
  );
  const rec = new Recorder(ev);
  ev.triggerEvent(next, 1);
  const ok = await ev.run();
  const failures = rec.records.filter((r) => r.status === 'failure').map((r) => `loop/${r.sequence}: ${r.error?.message}`);
  assert.deepEqual(failures, []);
  assert.equal(ok, true);
  assert.equal(count, last);
});

// -- 12. event → event, and failures downstream -----------------------------------------------

test('an association may target an event, which fires with the same sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const b = ev.addEvent('b');
  const c = ev.addEvent('c');
  const calls: string[] = [];
  ev.addAssoc(a, b);
  ev.addAssoc(b, 'c'); // a bare name that is no step means the event
  ev.addAssoc(c, ev.addStep('s', { func: () => calls.push(currentStep().sequence) }));
  ev.triggerEvent(a, 'x');
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['x']);
});

test('a bare name in an association means the step of that name', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const a = ev.addEvent('a');
  const calls: string[] = [];
  ev.addStep('s', { func: () => calls.push(currentStep().sequence) });
  ev.addAssoc(a, 's');
  ev.triggerEvent(a, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(calls, ['1']);
});

test('an unhandled failure blocks an and that waits on it, even when the run goes on', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const start = ev.addEvent('start');
  const okDone = ev.addEvent('okDone');
  const badDone = ev.addEvent('badDone');
  const both = ev.addEvent('both', { expr: [okDone, badDone] });
  ev.addAssoc(start, ev.addStep('ok', { func: () => 'ok', triggers: { success: [okDone] } }), ev.addStep('bad', { func: boom, triggers: { success: [badDone] } }));
  ev.addAssoc(both, ev.addStep('after', { func: () => 'after' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.deepEqual(rec.sequencesOf('ok', 'success'), ['1']);
  assert.equal(rec.of('after').length, 0, rec.describe());
});

test('an or whose other side has not fired yet never fires once an unhandled failure stops the run', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const start = ev.addEvent('start');
  const badDone = ev.addEvent('badDone');
  const otherDone = ev.addEvent('otherDone');
  const either = ev.addEvent('either', { expr: or(badDone, otherDone) });
  ev.addAssoc(start, ev.addStep('bad', { func: boom, triggers: { success: [badDone] } }), ev.addStep('other', { func: () => 'other', triggers: { success: [otherDone] } }));
  ev.addAssoc(either, ev.addStep('after', { func: () => 'after' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.equal(rec.runs('other'), 0, rec.describe());
  assert.equal(rec.of('after').length, 0, rec.describe());
});

// -- sequences, run(), currentStep(), kwargs, subscribe() ----------------------------------------

test('sequences are kept as strings', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const seen: unknown[] = [];
  ev.addAssoc(start, ev.addStep('s', { func: () => seen.push(currentStep().sequence) }));
  const rec = new Recorder(ev);
  assert.equal(ev.triggerEvent(start, 3), '3');
  assert.equal(ev.triggerEvent(start, '3'), '3'); // the same sequence as the number 3
  assert.equal(await ev.run(), true);
  assert.deepEqual(seen, ['3']);
  assert.deepEqual(rec.of('s').map((r) => r.sequence), ['3', '3', '3']);
});

test('an omitted sequence is the next integer', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  const seen: string[] = [];
  ev.addAssoc(start, ev.addStep('s', { func: () => seen.push(currentStep().sequence) }));
  assert.equal(ev.triggerEvent(start), '1');
  assert.equal(ev.triggerEvent(start), '2');
  assert.equal(ev.triggerEvent(start, 5), '5');
  const next = ev.triggerEvent(start);
  assert.equal(next, '6');
  assert.equal(await ev.run(), true);
  assert.deepEqual(seen.sort(), ['1', '2', '5', '6']);
});

test('currentStep() outside a step throws an EventorError', () => {
  assert.throws(() => currentStep(), EventorError);
});

test('currentStep() inside a step tells its name, sequence and run', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  let seen: { name: string; sequence: string; runId: string; recovery: number } | undefined;
  ev.addAssoc(
    start,
    ev.addStep('s', {
      func: async () => {
        await sleep(1);
        const { name, sequence, runId, recovery } = currentStep();
        seen = { name, sequence, runId, recovery };
      },
    }),
  );
  ev.triggerEvent(start, 'q');
  assert.equal(await ev.run(), true);
  assert.deepEqual(seen, { name: 's', sequence: 'q', runId: ev.runId, recovery: 0 });
});

test('kwargs are passed as the last argument, after args', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  let got: unknown[] = [];
  ev.addAssoc(start, ev.addStep('s', { func: (...all: unknown[]) => (got = all), args: ['a', 2], kwargs: { k: 'v' } }));
  ev.addAssoc(start, ev.addStep('argsOnly', { func: (...all: unknown[]) => all.length, args: ['a', 2] }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(got, ['a', 2, { k: 'v' }]);
  assert.equal(rec.find('argsOnly', '1', 'success').result, 2);
});

test('a subscribe() listener that throws does not break the run', LIMIT, async (t) => {
  const lines: string[] = [];
  const ev = makeEventor(t, { logSink: (line) => lines.push(line), config: { logging: { console: true } } });
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  ev.addAssoc(start, ev.addStep('s1', { func: () => 's1', triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: () => 's2' }));
  ev.subscribe(() => {
    throw new Error('listener broke');
  });
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(rec.statuses('s1', '1'), ['ready', 'active', 'success']);
  assert.deepEqual(rec.statuses('s2', '1'), ['ready', 'active', 'success']);
});

test('unsubscribe stops the records', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => 's' }));
  const kept = new Recorder(ev);
  const stopped = new Recorder(ev);
  const once: string[] = [];
  const unsubscribe = ev.subscribe((r) => {
    once.push(r.status);
    unsubscribe();
  });
  stopped.stop();
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  assert.equal(kept.records.length, 3);
  assert.equal(stopped.records.length, 0);
  assert.deepEqual(once, ['ready']);
});

test('a closed Eventor refuses to run, trigger or grow with ClosedError', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => 's' }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  await ev.close();
  await assert.rejects(ev.run(), ClosedError);
  assert.throws(() => ev.triggerEvent(start, 2), ClosedError);
  assert.throws(() => ev.addEvent('late'), ClosedError);
  await ev.close(); // closing twice is harmless
});

test('events, steps and associations cannot be added once the first run() began', LIMIT, async (t) => {
  const ev = makeEventor(t);
  ev.addEvent('start');
  assert.equal(await ev.run(), true);
  assert.throws(() => ev.addEvent('late'), EventorError);
  assert.throws(() => ev.addStep('late', { func: () => 1 }), EventorError);
  assert.throws(() => ev.addAssoc('start', 'late'), EventorError);
});

test('subscribe() records carry the run id, host and time', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => 's' }));
  const rec = new Recorder(ev);
  const before = Date.now();
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true);
  for (const record of rec.records) {
    assert.equal(record.runId, ev.runId);
    assert.equal(typeof record.host, 'string');
    assert.ok(record.host.length > 0);
    assert.ok(record.at >= before && record.at <= Date.now());
  }
});
