import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, currentStep, StepStatus, UnknownNameError } from '../src/index.js';
import { LIMIT, Recorder, deferred, errorOf, makeEventor, sleep } from './helpers.js';

test('cancel() starts no new task, aborts the running step\'s signal, and run() resolves false', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  const next = ev.addEvent('next');
  const started = deferred();
  let reason: unknown;
  ev.addAssoc(go, ev.addStep('slow', {
    func: () => new Promise((_, reject) => {
      const { signal } = currentStep();
      signal.addEventListener('abort', () => reject((reason = signal.reason)));
      started.resolve();
    }),
    triggers: { [StepStatus.complete]: [next] },
  }));
  let afterRan = false;
  ev.addAssoc(next, ev.addStep('after', { func: () => (afterRan = true) }));
  ev.triggerEvent(go, 1);
  const run = ev.run();
  await started.promise;
  await ev.cancel('operator asked');
  assert.equal(await run, false);
  assert.ok(reason instanceof CancelledError);
  assert.match((reason as Error).message, /operator asked/);
  assert.equal(afterRan, false);
  assert.deepEqual(await ev.countTodos(), { total: 1, byStep: { after: 1 } });
});

test('a step that ignores its signal still finishes after cancel(), and its result is kept', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const recorder = new Recorder(ev);
  const go = ev.addEvent('go');
  const started = deferred();
  ev.addAssoc(go, ev.addStep('stubborn', { func: async () => { started.resolve(); await sleep(30); return 'done anyway'; } }));
  ev.triggerEvent(go, 1);
  const run = ev.run();
  await started.promise;
  await ev.cancel();
  assert.equal(await run, false);
  assert.equal(recorder.find('stubborn', '1', 'success').result, 'done anyway');
});

test('close() during a run cancels it and waits for running steps', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  const started = deferred();
  let finished = false;
  ev.addAssoc(go, ev.addStep('slow', { func: async () => { started.resolve(); await sleep(30); finished = true; } }));
  ev.triggerEvent(go, 1);
  const run = ev.run();
  await started.promise;
  await ev.close();
  assert.equal(finished, true);
  assert.equal(await run, false);
});

test('cancel() when nothing runs changes nothing: a later run() succeeds', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  let aborted: boolean | undefined;
  ev.addAssoc(go, ev.addStep('s', { func: () => (aborted = currentStep().signal.aborted) }));
  await ev.cancel();
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
  assert.equal(aborted, false);
});

test('a bare name that is neither a step nor an event is refused naming both kinds', LIMIT, async (t) => {
  const ev = makeEventor(t);
  ev.addAssoc(ev.addEvent('go'), 'typo');
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof UnknownNameError);
  assert.match((error as Error).message, /names step or event 'typo'.*addStep or addEvent/);
});
