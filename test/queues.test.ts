// The supervisor's queues: Fifo, ReadyQueue (readiness order, per-step limits) and DueQueue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fifo } from '../src/model/fifo.js';
import { ReadyQueue } from '../src/actors/ready-queue.js';
import { DueQueue } from '../src/actors/due-queue.js';

// -- Fifo -------------------------------------------------------------------------------------

test('a Fifo gives items back in the order they were pushed', () => {
  const fifo = new Fifo<number>();
  assert.equal(fifo.size, 0);
  assert.equal(fifo.peek(), undefined);
  assert.equal(fifo.shift(), undefined);
  fifo.push(1);
  fifo.push(2);
  fifo.push(3);
  assert.equal(fifo.size, 3);
  assert.equal(fifo.peek(), 1);
  assert.equal(fifo.shift(), 1);
  fifo.push(4);
  assert.deepEqual([...fifo], [2, 3, 4]);
  assert.equal(fifo.shift(), 2);
  assert.equal(fifo.shift(), 3);
  assert.equal(fifo.shift(), 4);
  assert.equal(fifo.shift(), undefined);
  assert.equal(fifo.size, 0);
});

test('a Fifo keeps its order and size across many pushes and shifts', () => {
  const fifo = new Fifo<number>();
  const shifted: number[] = [];
  let next = 0;
  // Interleave so that the consumed prefix grows past any compaction threshold several times.
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 300; i++) fifo.push(next++);
    for (let i = 0; i < 250; i++) shifted.push(fifo.shift() as number);
    assert.equal(fifo.size, next - shifted.length);
    assert.equal(fifo.peek(), shifted.length);
  }
  while (fifo.size > 0) shifted.push(fifo.shift() as number);
  assert.equal(shifted.length, next);
  assert.ok(shifted.every((value, index) => value === index), 'every item came out once, in order');
});

test('a Fifo may hold falsy items', () => {
  const fifo = new Fifo<number | string>();
  fifo.push(0);
  fifo.push('');
  assert.equal(fifo.size, 2);
  assert.equal(fifo.shift(), 0);
  assert.equal(fifo.shift(), '');
  assert.equal(fifo.size, 0);
});

// -- ReadyQueue -------------------------------------------------------------------------------

interface Item {
  step: string;
  order: number;
}

/** Items named `step/order` with increasing order, as the supervisor makes them ready. */
function items(...steps: string[]): Item[] {
  return steps.map((step, order) => ({ step, order }));
}

const label = (item: Item | undefined) => (item ? `${item.step}/${item.order}` : 'none');

/** Takes everything from `queue` with `canStart`, and gives the labels in order taken. */
function drain(queue: ReadyQueue<Item>, canStart: (step: string) => boolean = () => true): string[] {
  const taken: string[] = [];
  for (let item = queue.take(canStart); item; item = queue.take(canStart)) taken.push(label(item));
  return taken;
}

test('a ReadyQueue gives tasks in the order they became ready', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'b', 'a', 'c', 'b')) queue.push(item);
  assert.equal(queue.size, 5);
  assert.deepEqual(drain(queue), ['a/0', 'b/1', 'a/2', 'c/3', 'b/4']);
  assert.equal(queue.size, 0);
  assert.equal(queue.take(() => true), undefined);
});

test('a step at its limit does not block the tasks of other steps', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'a', 'b', 'a', 'c')) queue.push(item);
  const blocked = (step: string) => step !== 'a';
  assert.equal(label(queue.take(blocked)), 'b/2');
  assert.equal(label(queue.take(blocked)), 'c/4');
  assert.equal(queue.take(blocked), undefined);
  assert.equal(queue.size, 3, 'the tasks of a are still queued');
});

test('parked tasks keep their order, and come before later tasks once their step may start', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'a', 'b', 'a', 'b')) queue.push(item);
  // a is at its limit: a/0, a/1 are parked while b/2 is taken.
  assert.equal(label(queue.take((step) => step !== 'a')), 'b/2');
  queue.push({ step: 'c', order: 5 });
  // Now a may start: its parked tasks come first, in their order, then the rest by readiness.
  assert.deepEqual(drain(queue), ['a/0', 'a/1', 'a/3', 'b/4', 'c/5']);
});

test('a ReadyQueue interleaves parked and unparked tasks by readiness', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'b', 'a', 'b', 'c')) queue.push(item);
  // b is at its limit: a/0 is first and may start.
  assert.equal(label(queue.take((step) => step !== 'b')), 'a/0');
  // b/1 is parked while a/2 is taken.
  assert.equal(label(queue.take((step) => step !== 'b')), 'a/2');
  // All may start: b/1 (parked) before b/3 and c/4, by readiness.
  assert.deepEqual(drain(queue), ['b/1', 'b/3', 'c/4']);
});

test('several parked steps are released by readiness across steps', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'b', 'a', 'b', 'c')) queue.push(item);
  // a and b at their limits: everything but c parks.
  assert.equal(label(queue.take((step) => step === 'c')), 'c/4');
  assert.equal(queue.size, 4);
  // Only b may start: its parked tasks in order.
  assert.equal(label(queue.take((step) => step === 'b')), 'b/1');
  // All may start: a/0 first (readiest), then a/2 and b/3.
  assert.deepEqual(drain(queue), ['a/0', 'a/2', 'b/3']);
});

test('a step that may take one task at a time gets its tasks in order', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'a', 'a', 'b', 'b')) queue.push(item);
  const active = new Map<string, number>();
  const canStart = (step: string) => (active.get(step) ?? 0) < 1;
  const start = () => {
    const item = queue.take(canStart);
    if (item) active.set(item.step, (active.get(item.step) ?? 0) + 1);
    return label(item);
  };
  const finish = (step: string) => active.set(step, (active.get(step) ?? 1) - 1);
  assert.equal(start(), 'a/0');
  assert.equal(start(), 'b/3');
  assert.equal(start(), 'none');
  finish('b');
  assert.equal(start(), 'b/4');
  finish('a');
  assert.equal(start(), 'a/1');
  finish('a');
  assert.equal(start(), 'a/2');
  assert.equal(queue.size, 0);
});

test('a ReadyQueue lists every queued task, parked or not', () => {
  const queue = new ReadyQueue<Item>();
  for (const item of items('a', 'a', 'b', 'c')) queue.push(item);
  queue.take((step) => step !== 'a'); // parks a/0, a/1, takes b/2
  assert.deepEqual([...queue].map(label).sort(), ['a/0', 'a/1', 'c/3']);
});

// -- DueQueue ---------------------------------------------------------------------------------

function drainDue(queue: DueQueue<{ dueAt: number; id: number }>): number[] {
  const out: number[] = [];
  for (let item = queue.pop(); item; item = queue.pop()) out.push(item.dueAt);
  return out;
}

test('a DueQueue pops items in due order', () => {
  const queue = new DueQueue<{ dueAt: number; id: number }>();
  assert.equal(queue.peek(), undefined);
  assert.equal(queue.pop(), undefined);
  for (const [id, dueAt] of [30, 10, 50, 20, 40].entries()) queue.push({ dueAt, id });
  assert.equal(queue.size, 5);
  assert.equal(queue.peek()?.dueAt, 10);
  assert.deepEqual(drainDue(queue), [10, 20, 30, 40, 50]);
  assert.equal(queue.size, 0);
});

test('a DueQueue pops items due at the same time in the order they were pushed', () => {
  // Tasks triggered together with the same delay share a due time; they must become ready in
  // the order they were triggered, since the ready queue starts tasks in order of readiness.
  const same = new DueQueue<{ dueAt: number; id: number }>();
  for (let id = 0; id < 6; id++) same.push({ dueAt: 100, id });
  const ids: number[] = [];
  for (let item = same.pop(); item; item = same.pop()) ids.push(item.id);
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5]);

  const mixed = new DueQueue<{ dueAt: number; id: number }>();
  [5, 3, 5, 1, 3, 5, 1, 3].forEach((dueAt, id) => mixed.push({ dueAt, id }));
  const out: string[] = [];
  for (let item = mixed.pop(); item; item = mixed.pop()) out.push(`${item.dueAt}:${item.id}`);
  assert.deepEqual(out, ['1:3', '1:6', '3:1', '3:4', '3:7', '5:0', '5:2', '5:5']);
});

test('a DueQueue fed random due times pops them sorted', () => {
  // A fixed-seed generator, so a failure can be replayed.
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (const count of [1, 2, 3, 7, 64, 1000]) {
    const queue = new DueQueue<{ dueAt: number; id: number }>();
    const times = Array.from({ length: count }, () => Math.floor(random() * 500));
    times.forEach((dueAt, id) => queue.push({ dueAt, id }));
    assert.deepEqual(drainDue(queue), [...times].sort((a, b) => a - b), `${count} items`);
  }
});

test('a DueQueue keeps its order when pushes and pops interleave', () => {
  let seed = 99;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const queue = new DueQueue<{ dueAt: number; id: number }>();
  const model: number[] = [];
  for (let i = 0; i < 2000; i++) {
    if (model.length > 0 && random() < 0.4) {
      model.sort((a, b) => a - b);
      assert.equal(queue.pop()?.dueAt, model.shift());
    } else {
      const dueAt = Math.floor(random() * 1000);
      queue.push({ dueAt, id: i });
      model.push(dueAt);
    }
    assert.equal(queue.size, model.length);
    assert.equal(queue.peek()?.dueAt, model.length ? Math.min(...model) : undefined);
  }
});

test('a DueQueue lists every item it holds', () => {
  const queue = new DueQueue<{ dueAt: number; id: number }>();
  for (const [id, dueAt] of [5, 1, 3].entries()) queue.push({ dueAt, id });
  assert.deepEqual([...queue].map((item) => item.id).sort(), [0, 1, 2]);
});
