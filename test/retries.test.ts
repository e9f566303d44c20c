// Retries: config.retries N gives a task N + 1 tries, each recorded (active, then retrying for
// a failed try with tries left, then ready again); a task's triggers fire on its outcome only,
// after its last try; retryDelay and retryBackoff space the tries. currentStep() does not expose
// the try number, so the step functions count their tries in closures.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, currentStep, StepStatus, ValidationError, type StepConfig } from '../src/index.js';
import { errorOf, LIMIT, makeEventor, Recorder, sleep } from './helpers.js';

/** A step function that fails its first `failures` calls, then returns `result`; counts its calls. */
function flaky(failures: number, result: unknown = 'done') {
  const state = { calls: 0, at: [] as number[] };
  const func = () => {
    state.calls++;
    state.at.push(Date.now());
    if (state.calls <= failures) throw new Error(`try ${state.calls} failed`);
    return result;
  };
  return { state, func };
}

/** The statuses of one failed try that will be tried again. */
const RETRIED_TRY = ['active', 'retrying', 'ready'] as const;

test('retries: N gives N + 1 tries, each recorded, then failure', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const { state, func } = flaky(Infinity);
  ev.addAssoc(go, ev.addStep('always', { func, config: { retries: 2 } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), false);
  assert.equal(state.calls, 3);
  assert.deepEqual(rec.statuses('always', '1'), ['ready', ...RETRIED_TRY, ...RETRIED_TRY, 'active', 'failure']);
  assert.equal(rec.runs('always', '1'), 3);
});

test('retries: each failed try is on record with its own error, the last one with the final error', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('always', { func: flaky(Infinity).func, config: { retries: 2 } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), false);
  const errors = rec.of('always', '1').filter((r) => r.status === 'retrying' || r.status === 'failure').map((r) => [r.status, r.error?.message]);
  assert.deepEqual(errors, [
    ['retrying', 'try 1 failed'],
    ['retrying', 'try 2 failed'],
    ['failure', 'try 3 failed'],
  ]);
  for (const record of rec.of('always', '1')) assert.equal(record.error instanceof Error, false, 'errors are plain data');
});

test('retries: 0 (the default) gives one try', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const once = flaky(Infinity);
  const zero = flaky(Infinity);
  ev.addAssoc(go, ev.addStep('once', { func: once.func, config: { stopOnException: false } }));
  ev.addAssoc(go, ev.addStep('zero', { func: zero.func, config: { retries: 0, stopOnException: false } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), false);
  assert.equal(once.state.calls, 1);
  assert.equal(zero.state.calls, 1);
  assert.deepEqual(rec.statuses('once', '1'), ['ready', 'active', 'failure']);
  assert.deepEqual(rec.statuses('zero', '1'), ['ready', 'active', 'failure']);
});

test('retries: failure triggers fire once, only after the last try', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const failed = ev.addEvent('failed');
  const completed = ev.addEvent('completed');
  const { state, func } = flaky(Infinity);
  const seen: number[] = [];
  const seenComplete: number[] = [];
  ev.addAssoc(go, ev.addStep('always', { func, config: { retries: 3 }, triggers: { [StepStatus.failure]: [failed], [StepStatus.complete]: [completed] } }));
  ev.addAssoc(failed, ev.addStep('onFailure', { func: () => seen.push(state.calls) }));
  ev.addAssoc(completed, ev.addStep('onComplete', { func: () => seenComplete.push(state.calls) }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, 'the failure is handled by its trigger');
  assert.equal(state.calls, 4);
  assert.deepEqual(seen, [4], 'ran exactly once, after the fourth and last try');
  assert.deepEqual(seenComplete, [4]);
  assert.ok(rec.indexOf('onFailure', '1', 'ready') > rec.indexOf('always', '1', 'failure'), rec.describe());
  assert.equal(rec.runs('onFailure', '1'), 1);
});

test('retries: a step that fails twice then succeeds ends in success and fires its success triggers', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const succeeded = ev.addEvent('succeeded');
  const failed = ev.addEvent('failed');
  const { state, func } = flaky(2, 'third time lucky');
  let after = 0;
  let onFailure = 0;
  ev.addAssoc(go, ev.addStep('flaky', { func, config: { retries: 3 }, triggers: { success: [succeeded], failure: [failed] } }));
  ev.addAssoc(succeeded, ev.addStep('after', { func: () => ++after }));
  ev.addAssoc(failed, ev.addStep('onFailure', { func: () => ++onFailure }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
  assert.equal(state.calls, 3);
  assert.deepEqual(rec.statuses('flaky', '1'), ['ready', ...RETRIED_TRY, ...RETRIED_TRY, 'active', 'success']);
  assert.equal(rec.find('flaky', '1', 'success').result, 'third time lucky');
  assert.equal(rec.find('flaky', '1', 'success').error, undefined, 'the error of a failed try does not stay on the success');
  assert.equal(after, 1);
  assert.equal(onFailure, 0, 'no failure trigger fired for the failed tries');
  assert.ok(rec.indexOf('after', '1', 'ready') > rec.indexOf('flaky', '1', 'success'));
});

test('retries: a failed try with tries left does not stop the run (stopOnException)', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const later = ev.addEvent('later');
  const { state, func } = flaky(1);
  ev.addAssoc(go, ev.addStep('flaky', { func, config: { retries: 1, retryDelay: 0.2, stopOnException: true } }));
  // Starts after the first try of `flaky` has failed, while it waits to retry.
  ev.addAssoc(go, ev.addStep('slow', { func: () => sleep(100), triggers: { success: [later] } }));
  let laterRan = false;
  ev.addAssoc(later, ev.addStep('afterwards', { func: () => (laterRan = true) }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(state.calls, 2);
  assert.equal(laterRan, true, rec.describe());
  assert.ok(rec.indexOf('afterwards', '1', 'active') > rec.indexOf('flaky', '1', 'retrying'));
});

test('retries: retryDelay and retryBackoff space the tries', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const { state, func } = flaky(2);
  ev.addAssoc(go, ev.addStep('spaced', { func, config: { retries: 2, retryDelay: 0.1, retryBackoff: 2 } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(state.calls, 3);
  const [first, second, third] = state.at;
  // Delays of 0.1 s then 0.2 s (lower bounds only; a few ms of timer slack allowed).
  assert.ok(second - first >= 90, `second try ${second - first} ms after the first`);
  assert.ok(third - second >= 190, `third try ${third - second} ms after the second`);
  assert.ok(third - first >= 280, `third try ${third - first} ms after the first`);
});

test('retries: retryDelay without backoff waits the same before each try', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const go = ev.addEvent('go');
  const { state, func } = flaky(2);
  ev.addAssoc(go, ev.addStep('even', { func, config: { retries: 2, retryDelay: 0.1 } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
  const [first, second, third] = state.at;
  assert.ok(second - first >= 90, `${second - first} ms`);
  assert.ok(third - second >= 90, `${third - second} ms`);
});

test('retries: a retrying record carries the time of the next try', LIMIT, async (t) => {
  const lines: string[] = [];
  const ev = makeEventor(t, { logSink: (line) => lines.push(line), config: { logging: { console: true, level: 'debug' } } });
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('flaky', { func: flaky(1).func, config: { retries: 1, retryDelay: 0.05 } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
  const retrying = rec.find('flaky', '1', 'retrying');
  const nextActive = rec.of('flaky', '1').filter((r) => r.status === 'active')[1];
  assert.ok(nextActive.at - retrying.at >= 40, `next try ${nextActive.at - retrying.at} ms after the failed one`);
  assert.ok(lines.some((line) => /Task-flaky\(1\) \]\[ WARN \]\[ .*Try 1 of 2 failed.*try 1 failed/.test(line)), lines.join('\n'));
});

test('retries: each try gets a fresh signal, and a timeout applies to each try', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  let calls = 0;
  const abortedAtStart: boolean[] = [];
  ev.addAssoc(go, ev.addStep('slowFirst', {
    func: async () => {
      calls++;
      abortedAtStart.push(currentStep().signal.aborted);
      if (calls === 1) await new Promise(() => {});
      return `try ${calls}`;
    },
    config: { retries: 1, timeout: 0.2 },
  }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(calls, 2);
  assert.deepEqual(abortedAtStart, [false, false]);
  assert.equal(rec.find('slowFirst', '1', 'retrying').error?.name, 'StepTimeoutError');
  assert.equal(rec.find('slowFirst', '1', 'success').result, 'try 2');
});

test('retries: a command step is tried again', LIMIT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-retries-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  // Counts its tries in a file, and succeeds on the third.
  const line = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ "$n" -ge 3 ]';
  ev.addAssoc(go, ev.addStep('cmd', { command: line, cwd: dir, config: { retries: 2 } }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(rec.runs('cmd', '1'), 3);
  assert.deepEqual(rec.find('cmd', '1', 'success').result, { exitCode: 0 });
  assert.match(rec.find('cmd', '1', 'retrying').error?.message ?? '', /exited with code 1/);
});

test('retries: each sequence of a step has its own tries', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const calls = new Map<string, number>();
  ev.addAssoc(go, ev.addStep('per', {
    func: () => {
      const { sequence } = currentStep();
      const n = (calls.get(sequence) ?? 0) + 1;
      calls.set(sequence, n);
      // Sequence 1 fails once, sequence 2 twice.
      if (n <= Number(sequence)) throw new Error(`${sequence}: try ${n}`);
      return n;
    },
    config: { retries: 2 },
  }));
  ev.triggerEvent(go, 1);
  ev.triggerEvent(go, 2);
  assert.equal(await ev.run(), true, rec.describe());
  assert.deepEqual(Object.fromEntries(calls), { '1': 2, '2': 3 });
  assert.equal(rec.find('per', '1', 'success').result, 2);
  assert.equal(rec.find('per', '2', 'success').result, 3);
});

test('retries: cancel() during the wait before a retry ends the run without another try', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  const { state, func } = flaky(Infinity);
  ev.addAssoc(go, ev.addStep('waits', { func, config: { retries: 3, retryDelay: 30 } }));
  ev.triggerEvent(go, 1);
  const run = ev.run();
  for (let i = 0; i < 250 && rec.indexOf('waits', '1', 'retrying') < 0; i++) await sleep(20);
  assert.ok(rec.indexOf('waits', '1', 'retrying') >= 0, rec.describe());
  await ev.cancel('no more waiting');
  assert.equal(await run, false);
  assert.equal(state.calls, 1);
});

// -- configuration -----------------------------------------------------------------------------

async function refusedConfig(t: TestContext, config: StepConfig) {
  const ev = makeEventor(t);
  const rec = new Recorder(ev);
  const go = ev.addEvent('go');
  let ran = false;
  ev.addAssoc(go, ev.addStep('probe', { func: () => (ran = true) }));
  ev.addAssoc(go, ev.addStep('bad', { func: () => 1, config }));
  ev.triggerEvent(go, 1);
  const error = await errorOf(() => ev.run());
  assert.equal(ran, false, 'no step ran');
  assert.deepEqual(rec.records, []);
  assert.ok(error instanceof ConfigError, `a ConfigError: ${String(error)}`);
  assert.ok(error instanceof ValidationError);
  assert.match((error as Error).message, /'bad'/);
  return error as ConfigError;
}

test('retries: -1 is a ConfigError', LIMIT, async (t) => {
  const error = await refusedConfig(t, { retries: -1 });
  assert.equal(error.key, 'retries');
});

test('retries: 1.5 is a ConfigError', LIMIT, async (t) => {
  const error = await refusedConfig(t, { retries: 1.5 });
  assert.equal(error.key, 'retries');
});

test('retries: a retries value that is not a number is a ConfigError', LIMIT, async (t) => {
  await refusedConfig(t, { retries: '2' as unknown as number });
});

test('retries: retryBackoff 0.5 is a ConfigError', LIMIT, async (t) => {
  const error = await refusedConfig(t, { retries: 2, retryBackoff: 0.5 });
  assert.equal(error.key, 'retryBackoff');
});

test('retries: a negative retryDelay is a ConfigError', LIMIT, async (t) => {
  const error = await refusedConfig(t, { retries: 2, retryDelay: -1 });
  assert.equal(error.key, 'retryDelay');
});
