import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, currentStep, DuplicateNameError, ResourcePool, UnknownNameError, ValidationError } from '../src/index.js';
import { LIMIT, Recorder, errorOf, makeEventor, sleep } from './helpers.js';

/** A step that checks, while it runs, that no pool is over its limit, and keeps the highest use seen. */
function watched(pools: ResourcePool[], highest: Map<string, number>) {
  return async () => {
    for (const pool of pools) {
      assert.ok(pool.used <= pool.limit, `${pool.name} holds ${pool.used} of ${pool.limit}`);
      highest.set(pool.name, Math.max(highest.get(pool.name) ?? 0, pool.used));
    }
    await sleep(5 + Math.floor(Math.random() * 10));
    return currentStep().name;
  };
}

test("the seed's two pools of 2: steps acquiring 1 or 2 never take a pool past its limit", LIMIT, async (t) => {
  const ev = makeEventor(t);
  const recorder = new Recorder(ev);
  const rp1 = new ResourcePool('RP1', { limit: 2 });
  const rp2 = new ResourcePool('RP2', { limit: 2 });
  const highest = new Map<string, number>();
  const work = watched([rp1, rp2], highest);
  const start = ev.addEvent('start');
  ev.addAssoc(
    start,
    ev.addStep('s1', { func: work, acquires: [[rp2, 1]] }),
    ev.addStep('s2', { func: work, acquires: [[rp1, 1], [rp2, 1]] }),
    ev.addStep('s3', { func: work, acquires: [[rp1, 2]] }),
    ev.addStep('s4', { func: work, acquires: [[rp2, 2]] }),
  );
  for (let sequence = 1; sequence <= 8; sequence++) ev.triggerEvent(start, sequence);
  assert.equal(await ev.run(), true);
  assert.equal(recorder.records.filter((r) => r.status === 'success').length, 32);
  assert.ok(recorder.records.some((r) => r.status === 'acquiring'), 'some tasks had to wait for resources');
  assert.deepEqual([highest.get('RP1'), highest.get('RP2')], [2, 2], 'each pool was used up to its limit');
  for (const record of recorder.records) {
    for (const [name, state] of Object.entries(record.pools ?? {})) assert.ok(state.used <= state.limit, `${name} at ${record.step}/${record.sequence} ${record.status}`);
  }
  assert.equal(rp1.used, 0);
  assert.equal(rp2.used, 0);
});

test('a task waits in acquiring, first come first served, and a big claim is not starved by small ones', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const recorder = new Recorder(ev);
  const pool = new ResourcePool('slots', { limit: 2 });
  const started: string[] = [];
  const work = async () => {
    started.push(`${currentStep().name}/${currentStep().sequence}`);
    await sleep(10);
  };
  const first = ev.addEvent('first');
  const then = ev.addEvent('then');
  ev.addAssoc(first, ev.addStep('small', { func: work, acquires: [[pool, 1]] }));
  ev.addAssoc(then, ev.addStep('big', { func: work, acquires: [[pool, 2]] }));
  ev.triggerEvent(first, 1);
  ev.triggerEvent(then, 1);
  ev.triggerEvent(first, 2);
  ev.triggerEvent(first, 3);
  assert.equal(await ev.run(), true);
  assert.deepEqual(recorder.statuses('big', '1'), ['ready', 'acquiring', 'active', 'success']);
  // big/1 became ready before small/2 and small/3: they wait behind it.
  assert.ok(started.indexOf('big/1') < started.indexOf('small/2'), started.join(', '));
  assert.ok(started.indexOf('big/1') < started.indexOf('small/3'), started.join(', '));
});

test('releases: [] keeps the resources, and a later step gives them back', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const pool = new ResourcePool('lease', { limit: 1 });
  const seen: number[] = [];
  const take = ev.addEvent('take');
  const taken = ev.addEvent('taken');
  ev.addAssoc(take, ev.addStep('open', { func: () => seen.push(pool.used), acquires: [[pool, 1]], releases: [], triggers: { success: [taken] } }));
  ev.addAssoc(taken, ev.addStep('close', { func: () => seen.push(pool.used), releases: [[pool, 1]] }));
  ev.triggerEvent(take, 1);
  assert.equal(await ev.run(), true);
  assert.deepEqual(seen, [1, 1], 'the resource stays held between the two steps');
  assert.equal(pool.used, 0, 'the later step gave it back');
});

test('resources are given back when a task fails', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const pool = new ResourcePool('one', { limit: 1 });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('fails', { func: () => { throw new Error('boom'); }, acquires: [[pool, 1]] }));
  for (let sequence = 1; sequence <= 3; sequence++) ev.triggerEvent(go, sequence);
  assert.equal(await ev.run(), false);
  assert.equal(pool.used, 0);
});

test('an acquire larger than the pool is refused before anything runs, naming the step and pool', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const pool = new ResourcePool('small', { limit: 2 });
  let ran = false;
  ev.addAssoc(ev.addEvent('go'), ev.addStep('greedy', { func: () => (ran = true), acquires: [[pool, 3]] }));
  ev.triggerEvent('go', 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof ConfigError, String(error));
  assert.match((error as Error).message, /step 'greedy' config acquires of small is 3: expected at most the pool's limit, 2/);
  assert.equal(ran, false);
});

test('two different pools of one name are refused with DuplicateNameError', LIMIT, async (t) => {
  const ev = makeEventor(t);
  ev.addStep('a', { func: () => 1, acquires: [[new ResourcePool('db', { limit: 1 }), 1]] });
  assert.throws(() => ev.addStep('b', { func: () => 1, acquires: [[new ResourcePool('db', { limit: 1 }), 1]] }), DuplicateNameError);
});

test('a pool needs a name and a whole limit of 1 or more', () => {
  assert.throws(() => new ResourcePool('', { limit: 1 }), ValidationError);
  assert.throws(() => new ResourcePool('p', { limit: 0 }), /limit 0/);
  assert.throws(() => new ResourcePool('p', { limit: 1.5 }), /limit 1.5/);
});

test('validateFlow refuses a step acquiring from a pool the flow does not have', async () => {
  const { validateFlow } = await import('../src/index.js');
  assert.throws(
    () => validateFlow({ name: 'f', events: [], steps: [{ name: 's', func: () => 1, args: [], triggers: {}, recovery: {}, config: {}, acquires: [['ghost', 1]] }], assocs: [], triggers: [], pools: [], config: {} }),
    (error: unknown) => error instanceof UnknownNameError && /resource pool 'ghost'/.test((error as Error).message),
  );
});
