import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentStep, EventorError } from '../src/index.js';
import { LIMIT, makeEventor, sleep } from './helpers.js';

test('waitForEvent inside a step resolves with the first event to fire for the sequence', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  const left = ev.addEvent('left');
  const right = ev.addEvent('right');
  let seen: string | undefined;
  ev.addAssoc(go, ev.addStep('waiter', { func: async () => (seen = await ev.waitForEvent([left, right], currentStep().sequence)) }));
  ev.addAssoc(go, ev.addStep('slow', { func: () => sleep(30), triggers: { success: [right] } }));
  ev.triggerEvent(go, 5);
  assert.equal(await ev.run(), true);
  assert.equal(seen, 'right');
  assert.equal(ev.statusOf('slow', 5), 'success');
  assert.equal(ev.statusOf('waiter', 6), undefined);
});

test('a step waiting in waitForEvent gives its concurrency slot back, so what it waits for can run', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { maxConcurrent: 1 } });
  const go = ev.addEvent('go');
  const done = ev.addEvent('done');
  ev.addAssoc(go, ev.addStep('waiter', { func: () => ev.waitForEvent(done, currentStep().sequence) }));
  ev.addAssoc(go, ev.addStep('worker', { func: () => sleep(10), triggers: { success: [done] } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
});

test('waitForEvent resolves with undefined once nothing left in the run could fire the event', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  const never = ev.addEvent('never');
  let seen: string | undefined = 'not yet';
  ev.addAssoc(go, ev.addStep('waiter', { func: async () => (seen = await ev.waitForEvent(never, 1)) }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
  assert.equal(seen, undefined);
});

test('waitForEvent rejects when the run stops, and before run() it is refused', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  const never = ev.addEvent('never');
  await assert.rejects(ev.waitForEvent(never, 1), EventorError);
  let error: unknown;
  ev.addAssoc(go, ev.addStep('waiter', { func: () => ev.waitForEvent(never, 1).catch((thrown) => { error = thrown; throw thrown; }) }));
  ev.addAssoc(go, ev.addStep('fails', { func: async () => { await sleep(10); throw new Error('boom'); } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), false);
  assert.ok(error instanceof EventorError);
  assert.match((error as Error).message, /the run stopped/);
});
