// Resource pools shared across runs, supervisors and hosts: their holdings live in a NATS KV
// bucket changed only by compare-and-set, so that two supervisors on one pool of 1 never hold
// two units at once, and what a dead supervisor held stays held until its run is recovered.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ResourcePool, RunMode, ValidationError } from '../src/index.js';
import { Cluster, linesOf, until } from './cluster-helpers.js';
import { errorOf, makeEventor, tempDir } from './helpers.js';

const LIMIT = { timeout: 120_000 } as const;
const HOLDER = fileURLToPath(new URL('./fixtures/shared-pools/holder.ts', import.meta.url));

/** A flow of one step that holds one unit of the shared pool `gpu` while `hold` runs. */
function holding(cluster: Cluster, name: string, log: string, hold: () => Promise<void> | void) {
  const supervised = cluster.eventor({ name });
  const gpu = new ResourcePool('gpu', { limit: 1, shared: true });
  supervised.ev.addAssoc(
    supervised.ev.addEvent('start'),
    supervised.ev.addStep('use', {
      func: async () => {
        appendFileSync(log, `${name} start\n`);
        await hold();
        appendFileSync(log, `${name} end\n`);
      },
      acquires: [[gpu, 1]],
    }),
  );
  supervised.ev.triggerEvent('start', 1);
  return supervised;
}

test('two supervisors on one shared pool of 1 never hold it at once: the second waits in acquiring until the first gives it back', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const log = join(tempDir(t), 'log');
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const first = holding(cluster, 'first', log, () => gate);
  const second = holding(cluster, 'second', log, () => undefined);
  const firstRun = first.ev.run();
  await until(() => linesOf(log).includes('first start'), 'the first run to take the unit');
  const secondRun = second.ev.run();
  await until(() => second.recorder.statuses('use', '1').includes('acquiring'), 'the second run to wait for the unit', 30_000, () => second.recorder.describe());
  assert.deepEqual(linesOf(log), ['first start'], 'the second step has not started while the first holds the unit');
  open();
  assert.equal(await firstRun, true);
  assert.equal(await secondRun, true, second.recorder.describe());
  assert.deepEqual(linesOf(log), ['first start', 'first end', 'second start', 'second end']);
});

test('what a killed supervisor held stays held until a recovery of its run gives it back', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const log = join(dir, 'log');
  const store = join(dir, 'store');
  const holder = (mode: string) => cluster.spawn(process.execPath, ['--import', import.meta.resolve('tsx'), HOLDER, cluster.url, store, log, mode], { cwd: dir });
  const dead = holder('restart');
  await until(() => linesOf(log).includes('holder start'), 'the holder to take the unit', 30_000, () => dead.output());
  dead.kill('SIGKILL');
  await dead.exited;
  const other = holding(cluster, 'other', log, () => undefined);
  const otherRun = other.ev.run();
  await until(() => other.recorder.statuses('use', '1').includes('acquiring'), 'the other run to wait for the unit the dead supervisor holds', 30_000, () => other.recorder.describe());
  assert.ok(!linesOf(log).includes('other start'), 'nobody takes the unit of a supervisor that died: its run may still need it');
  const recovery = holder('recover');
  assert.equal((await recovery.exited).code, 0, recovery.output());
  assert.match(recovery.output(), /Gave back 1 unit\(s\) of shared pool gpu/);
  assert.equal(await otherRun, true);
  // After the killed holder's start (it never ended), the unit went to one step at a time: each start is followed by its own end.
  const [killed, ...after] = linesOf(log);
  assert.equal(killed, 'holder start');
  assert.equal(after.length, 4, after.join(' | '));
  for (let i = 0; i < after.length; i += 2) assert.equal(after[i + 1], after[i].replace('start', 'end'), `one holder at a time: ${after.join(' | ')}`);
});

test('a shared pool without NATS is a ValidationError that says where to give it', LIMIT, async (t) => {
  const saved = process.env.EVENTOR_NATS_URL;
  delete process.env.EVENTOR_NATS_URL;
  t.after(() => (saved === undefined ? undefined : (process.env.EVENTOR_NATS_URL = saved)));
  const ev = makeEventor(t);
  ev.addAssoc(ev.addEvent('start'), ev.addStep('use', { func: () => 1, acquires: [[new ResourcePool('gpu', { limit: 1, shared: true }), 1]] }));
  ev.triggerEvent('start', 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof ValidationError, String(error));
  assert.match((error as Error).message, /resource pool 'gpu' is shared.*config\.nats/);
  assert.equal(RunMode.restart, 'restart');
});
