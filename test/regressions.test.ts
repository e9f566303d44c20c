// Regression tests of the defects found by trying Eventor as a hostile user would (issue 8),
// one test or more per defect, each named for it. The store's defects are in store-defects.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  ConfigError,
  currentStep,
  Eventor,
  LevelStore,
  ResourcePool,
  RunMode,
  StepCodeError,
  StepTimeoutError,
  StoreError,
  ValidationError,
  type EventorOptions,
} from '../src/index.js';
import { eventor, root } from './cli-helpers.js';
import { deferred, errorOf, LIMIT, makeEventor, Recorder, tempDir } from './helpers.js';

/** A quiet Eventor on a LevelDB folder, closed when the test ends. */
function durableEventor(t: TestContext, store: string, options: EventorOptions = {}): Eventor {
  const { config, ...rest } = options;
  const ev = new Eventor({ name: 'regression', store, ...rest, config: { logging: { console: false, file: false }, ...config } });
  t.after(() => ev.close());
  return ev;
}

// -- 1. a run that never finished must not exit 0 -------------------------------------------------

test('regression (defect 1): eventor run exits non-zero, naming the task left, when a step awaits a promise that never settles', LIMIT, () => {
  const { code, stderr } = eventor('run', 'test/fixtures/never-settles.mjs');
  assert.equal(code, 1, stderr);
  assert.match(stderr, /RunStalledError: run \S+ cannot finish: 1 step\(s\) still active \(hangs\/1\)/);
  // What did finish is still reported as finished.
  assert.match(stderr, /\[ Step first\/1 \] Completed, status: success/);
});

test('regression (defect 1): a stalled run stays recoverable, its stuck task on record as active', LIMIT, (t) => {
  const dir = tempDir(t);
  const store = join(dir, 'store');
  const result = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'run', join(root, 'test/fixtures/never-settles.mjs')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, EVENTOR_TEST_STORE: store },
  });
  assert.equal(result.status, 1, result.stderr);
  return (async () => {
    const level = new LevelStore(store);
    await level.open();
    try {
      const [run] = await level.listRuns();
      assert.equal(run.status, 'failure');
      const tasks = (await level.loadRecovery(run.runId, 0)).tasks;
      assert.deepEqual(Object.fromEntries(tasks.map((task) => [task.context.step, task.value])), { first: 'success', hangs: 'active' });
    } finally {
      await level.close();
    }
  })();
});

// -- 3. a log sink that throws -------------------------------------------------------------------

test('regression (defect 3): a logSink that throws does not crash the process; the run goes on and the error is told once', LIMIT, () => {
  const script = `
    import { Eventor } from 'eventor';
    const ev = new Eventor({ name: 'sink', store: ':memory:', config: { stopOnException: false }, logSink: () => { throw new Error('the sink is broken'); } });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('fails', { func: () => { throw new Error('boom'); } }), ev.addStep('works', { func: () => 'ok' }));
    ev.triggerEvent(start, 1);
    const ok = await ev.run();
    await ev.close();
    console.log('run resolved', ok);`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /run resolved false/);
  assert.equal(result.stderr.match(/the logSink threw \(the sink is broken\)/g)?.length, 1, result.stderr);
});

// -- 4. a store that cannot take a write --------------------------------------------------------

test('regression (defect 4): a result the store cannot encode fails its task with a named error, and the run goes on', LIMIT, async (t) => {
  const ev = durableEventor(t, join(tempDir(t), 'store'), { config: { stopOnException: false } });
  let deep: unknown[] = [];
  for (let i = 0; i < 2000; i++) deep = [deep];
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('deep', { func: () => deep }), ev.addStep('plain', { func: () => 'fine' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  const failed = rec.find('deep', '1', 'failure');
  assert.equal(failed.error?.name, 'UnstorableResultError', JSON.stringify(failed.error));
  assert.equal(rec.find('plain', '1', 'success').result, 'fine');
});

test('regression (defect 4): a store folder that vanishes ends the run with StoreError naming it, and close() releases the lock', LIMIT, async (t) => {
  const store = join(tempDir(t), 'store');
  const ev = durableEventor(t, store);
  const start = ev.addEvent('start');
  const next = ev.addEvent('next');
  ev.addAssoc(start, ev.addStep('vanish', { func: () => rmSync(store, { recursive: true, force: true }), triggers: { success: [next] } }));
  const last = ev.addEvent('last');
  // LevelDB writes on into its open log file until it needs a new file in the folder: after a few MB.
  ev.addAssoc(next, ev.addStep('big', { func: () => 'x'.repeat(3_000_000), triggers: { success: [last] } }));
  ev.addAssoc(last, ev.addStep('after', { func: () => 'never on record' }));
  for (let sequence = 1; sequence <= 4; sequence++) ev.triggerEvent(start, sequence);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof StoreError, String(error));
  assert.match((error as Error).message, new RegExp(store.replace(/[/.]/g, '\\$&')));
  await ev.close();
  // The lock is gone with close(): the folder can be opened again in this process.
  const again = new LevelStore(store);
  await again.open();
  await again.close();
});

// -- 5. a lock held across steps survives recovery -----------------------------------------------

test('regression (defect 5): recovery keeps a lock that a skipped step took and a later step gives back', LIMIT, async (t) => {
  const store = join(tempDir(t), 'store');
  const order: string[] = [];
  let failCritical = true;
  const build = (runMode: RunMode) => {
    const ev = durableEventor(t, store, { runMode });
    const lock = new ResourcePool('lock', { limit: 1 });
    const start = ev.addEvent('start');
    const locked = ev.addEvent('locked');
    const worked = ev.addEvent('worked');
    ev.addAssoc(start, ev.addStep('take', { func: () => order.push('take'), acquires: [[lock, 1]], releases: [], triggers: { success: [locked] } }));
    ev.addAssoc(start, ev.addStep('other', { func: () => order.push('other'), acquires: [[lock, 1]] }));
    ev.addAssoc(
      locked,
      ev.addStep('critical', {
        func: () => {
          order.push('critical');
          if (failCritical) throw new Error('interrupted inside the critical section');
        },
        triggers: { success: [worked] },
      }),
    );
    ev.addAssoc(worked, ev.addStep('give', { func: () => order.push('give'), acquires: [], releases: [[lock, 1]] }));
    // As in the seed, a recovery is triggered as the first run was.
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart);
  assert.equal(await first.run(), false);
  await first.close();
  assert.deepEqual(order, ['take', 'critical']);

  order.length = 0;
  failCritical = false;
  const recovery = build(RunMode.recover);
  assert.equal(await recovery.run(), true);
  // 'take' is skipped, yet its lock is held again: 'other' waits until 'give' has run.
  assert.deepEqual(order, ['critical', 'give', 'other']);
});

// -- 6. placeholders are data, not shell code ------------------------------------------------------

test('regression (defect 6): a placeholder value with shell syntax stays one word in a sh -c line, bare or quoted', LIMIT, async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'out.txt');
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const start = ev.addEvent('start');
  const line = `printf '%s|' \${sequence} "q:\${sequence}" 'sq:\${sequence}' \${env.HOSTILE} >> ${out}; printf '\\n' >> ${out}`;
  ev.addAssoc(start, ev.addStep('echo', { command: line, placeholders: true, cwd: dir, env: { HOSTILE: `"; touch ${join(dir, 'pwned-env')}; echo "` } }));
  const hostile = `east; touch ${join(dir, 'pwned')} $(touch ${join(dir, 'pwned2')}) \`touch ${join(dir, 'pwned3')}\` 'it''s' "q"`;
  ev.triggerEvent(start, hostile);
  assert.equal(await ev.run(), true);
  for (const name of ['pwned', 'pwned2', 'pwned3', 'pwned-env']) assert.equal(existsSync(join(dir, name)), false, `${name} was created: a value ran as code`);
  const printed = readFileSync(out, 'utf8').trim().split('|').slice(0, -1);
  assert.deepEqual(printed, [hostile, `q:${hostile}`, `sq:${hostile}`, `"; touch ${join(dir, 'pwned-env')}; echo "`]);
});

test('regression (defect 6): a Sequent repeat value with shell syntax reaches a command as data', LIMIT, async (t) => {
  const dir = tempDir(t);
  const { Sequent } = await import('../src/index.js');
  const flow = new Sequent({ name: 'repeats', store: ':memory:', config: { logging: { console: false } } });
  t.after(() => flow.close());
  const region = flow.addStep('region', { repeats: [`x; touch ${join(dir, 'pwned')}`] });
  region.addStep('show', { command: `echo \${sequence} > ${join(dir, 'seq.txt')}`, placeholders: true });
  assert.equal(await flow.run(), true);
  assert.equal(existsSync(join(dir, 'pwned')), false);
  assert.equal(readFileSync(join(dir, 'seq.txt'), 'utf8').trim(), `1.x; touch ${join(dir, 'pwned')}`);
});

// -- 8. the deadline is a fact of the clock ----------------------------------------------------------

test('regression (defect 8): an inline step that blocks the thread past its timeout and then returns fails with StepTimeoutError', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(
    start,
    ev.addStep('blocks', {
      func: () => {
        const until = performance.now() + 150;
        while (performance.now() < until);
        return 'too late';
      },
      config: { timeout: 0.05 },
    }),
  );
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  const failure = rec.find('blocks', '1', 'failure');
  assert.equal(failure.error?.name, StepTimeoutError.name);
  assert.equal(failure.result, undefined);
});

// -- 9. hostile thrown values ---------------------------------------------------------------------------

test('regression (defect 9): thrown values whose properties throw fail their step, not the run', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: false } });
  const start = ev.addEvent('start');
  const getter = new Error('hidden');
  Object.defineProperty(getter, 'message', {
    get() {
      throw new Error('message getter');
    },
  });
  const trap = () => {
    throw new Error('trap');
  };
  const proxy = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
  const name = Object.assign(new Error('named'), { name: { toString: trap } });
  for (const [step, thrown] of Object.entries({ getter, proxy, name })) {
    ev.addAssoc(
      start,
      ev.addStep(step, {
        func: () => {
          throw thrown;
        },
      }),
    );
  }
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  for (const step of ['getter', 'proxy', 'name']) {
    const { error } = rec.find(step, '1', 'failure');
    assert.equal(typeof error?.name, 'string', step);
    assert.equal(typeof error?.message, 'string', step);
    // The record is plain data: it survives JSON.
    assert.deepEqual(JSON.parse(JSON.stringify(error)), error);
  }
});

// -- 11. input checks -----------------------------------------------------------------------------------

test('regression (defect 11): addAssoc with an undefined target is a ValidationError naming the event', () => {
  const ev = new Eventor({ name: 'checks', store: ':memory:' });
  const start = ev.addEvent('start');
  assert.throws(() => ev.addAssoc(start, undefined as never), (error: unknown) => error instanceof ValidationError && /addAssoc\('start'\) got undefined as target 1/.test(error.message));
  assert.throws(() => ev.addAssoc(start), (error: unknown) => error instanceof ValidationError && /has no target/.test(error.message));
});

test('regression (defect 11): addStep with no options is a StepCodeError naming the step and what it needs', () => {
  const ev = new Eventor({ name: 'checks', store: ':memory:' });
  assert.throws(() => (ev.addStep as (name: string) => unknown)('x'), (error: unknown) => error instanceof StepCodeError && /step 'x' has no code: got options undefined/.test(error.message));
});

test('regression (defect 11): an event or step name that is not a non-empty string is refused', () => {
  const ev = new Eventor({ name: 'checks', store: ':memory:' });
  for (const name of [42, undefined, '', null, {}]) {
    assert.throws(() => ev.addEvent(name as never), (error: unknown) => error instanceof ValidationError && /addEvent got .* as the event's name: a name is a non-empty string/.test(error.message), String(name));
    assert.throws(() => ev.addStep(name as never, { func: () => 1 }), (error: unknown) => error instanceof ValidationError && /as the step's name/.test(error.message), String(name));
  }
});

test('regression (defect 11): a fractional maxConcurrent is a ConfigError, run-wide and per step, and lets nothing run', LIMIT, async (t) => {
  for (const [config, where] of [
    [{ maxConcurrent: 1.5 }, /^config maxConcurrent is 1\.5: expected a whole number of tasks/],
    [{ maxConcurrent: Number.NaN }, /^config maxConcurrent is NaN: expected a whole number/],
  ] as const) {
    let ran = false;
    const ev = makeEventor(t, { config });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s', { func: () => (ran = true) }));
    ev.triggerEvent(start, 1);
    const error = await errorOf(() => ev.run());
    assert.ok(error instanceof ConfigError, String(error));
    assert.match((error as Error).message, where);
    assert.equal(ran, false);
  }
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => 1, config: { maxConcurrent: 0.5 } }));
  ev.triggerEvent(start, 1);
  assert.match(String(await errorOf(() => ev.run())), /step 's' config maxConcurrent is 0\.5/);
});

test('regression (defect 11): a logdir that is a file is a ConfigError naming logdir, and the store is left untouched', LIMIT, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-folder');
  writeFileSync(file, 'a file');
  const store = join(dir, 'store');
  const ev = durableEventor(t, store, { config: { logdir: file, logging: { console: false } } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { func: () => 1 }));
  ev.triggerEvent(start, 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof ConfigError, String(error));
  assert.match((error as Error).message, /config logdir is ".*not-a-folder": expected a folder for the run's JSON log files, and it, or a folder above it, is a file/);
  assert.equal(existsSync(store), false, 'the store was not opened');
});

// -- 12. close() does not wait forever ------------------------------------------------------------------

test('regression (defect 12): close() abandons a step that ignores its signal after closeGrace, releases the store, and a recovery runs it again', LIMIT, async (t) => {
  const store = join(tempDir(t), 'store');
  const started = deferred();
  let stubborn = true;
  const build = (runMode: RunMode) => {
    const ev = durableEventor(t, store, { runMode, config: { closeGrace: 0.05 } });
    const start = ev.addEvent('start');
    ev.addAssoc(
      start,
      ev.addStep('stubborn', {
        func: () => {
          started.resolve();
          // Ignores currentStep().signal, and never settles while stubborn.
          return stubborn ? new Promise(() => {}) : `ran in recovery ${currentStep().recovery}`;
        },
      }),
    );
    ev.triggerEvent(start, 1);
    return ev;
  };
  const first = build(RunMode.restart);
  const running = first.run();
  await started.promise;
  await first.close();
  assert.equal(await running, false);

  stubborn = false;
  const recovery = build(RunMode.recover);
  const rec = new Recorder(recovery);
  assert.equal(await recovery.run(), true);
  assert.equal(rec.find('stubborn', '1', 'success').result, 'ran in recovery 1');
});

// -- more found the same way: options of the wrong type ------------------------------------------------

test('regression (hostile input): options of the wrong type are named errors that say what is accepted, never a TypeError', LIMIT, async () => {
  const quiet = { logging: { console: false } };
  const flow = (build: (ev: Eventor) => unknown) => async () => {
    const ev = new Eventor({ name: 'hostile', store: ':memory:', config: quiet });
    try {
      const start = ev.addEvent('start');
      await build(ev);
      ev.addAssoc(start, ev.addStep('probe', { func: () => 1 }));
      ev.triggerEvent(start, 1);
      await ev.run();
    } finally {
      await ev.close();
    }
  };
  const cases: [string, () => unknown, RegExp][] = [
    ['new Eventor(null)', () => new Eventor(null as never), /new Eventor got options null: expected an object/],
    ['store: 42', () => new Eventor({ store: 42 as never }), /new Eventor option store is 42: expected ':memory:' or the path/],
    ['a flow name that leaves .eventor/', () => new Eventor({ name: '../../elsewhere' }), /option name is "\.\.\/\.\.\/elsewhere": expected a flow name without \//],
    ['config: null', () => new Eventor({ store: ':memory:', config: null as never }), /option config is null/],
    ['logging: null', () => new Eventor({ store: ':memory:', config: { logging: null as never } }), /config logging is null: expected an object/],
    ['a sequence that is an object', flow((ev) => ev.triggerEvent('start', {} as never)), /triggerEvent got sequence \{\}/],
    ['a sequence holding \\u0000', flow((ev) => ev.triggerEvent('start', 'a\u0000b')), /cannot hold the character \\u0000/],
    ['triggers: "x"', flow((ev) => ev.addStep('bad', { func: () => 1, triggers: 'x' as never })), /step 'bad' option triggers is "x"/],
    ['triggers.success: "x"', flow((ev) => ev.addStep('bad', { func: () => 1, triggers: { success: 'x' as never } })), /option triggers\.success is "x": expected an array of events/],
    ['args: "abc"', flow((ev) => ev.addStep('bad', { func: () => 1, args: 'abc' as never })), /option args is "abc": expected an array/],
    ['kwargs: 5', flow((ev) => ev.addStep('bad', { func: () => 1, kwargs: 5 as never })), /option kwargs is 5/],
    ['config: "x"', flow((ev) => ev.addStep('bad', { func: () => 1, config: 'x' as never })), /option config is "x"/],
    ['acquires: "x"', flow((ev) => ev.addStep('bad', { func: () => 1, acquires: 'x' as never })), /option acquires is "x"/],
    ['env: 5', flow((ev) => ev.addStep('bad', { command: 'true', env: 5 as never })), /option env is 5/],
    ['run({ maxLoops: "a" })', () => new Eventor({ store: ':memory:', config: quiet }).run({ maxLoops: 'a' as never }), /run\(\) option maxLoops is "a"/],
    ['run(null)', () => new Eventor({ store: ':memory:', config: quiet }).run(null as never), /run\(\) got options null/],
    ['subscribe(5)', () => new Eventor({ store: ':memory:' }).subscribe(5 as never), /subscribe\(\) got 5: give it a function/],
    ['deleteRuns()', () => new Eventor({ store: ':memory:' }).deleteRuns(undefined as never), /deleteRuns\(\) option olderThanDays is undefined/],
  ];
  for (const [what, attempt, message] of cases) {
    const error = await errorOf(attempt);
    assert.ok(error instanceof ValidationError, `${what}: ${String(error)}`);
    assert.match((error as Error).message, message, what);
  }
});

test('regression (hostile input): a command whose cwd does not exist says so, not "command not found"', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('lost', { command: 'true', cwd: '/no/such/folder' }));
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.match(rec.find('lost', '1', 'failure').error?.message ?? '', /the working directory of command \/bin\/sh does not exist: \/no\/such\/folder/);
});

// -- found by the property tests ----------------------------------------------------------------------------

test('regression (property tests): a run setting given as undefined keeps its default, so stopOnException still stops', LIMIT, async (t) => {
  const ev = makeEventor(t, { config: { stopOnException: undefined, maxConcurrent: undefined } });
  const start = ev.addEvent('start');
  ev.addAssoc(
    start,
    ev.addStep('fail', {
      func: () => {
        throw new Error('boom');
      },
    }),
  );
  ev.addAssoc(start, ev.addStep('later', { func: () => 'ran' }), { delay: 0.01 });
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), false);
  assert.equal(ev.toSpec().config.stopOnException, true);
  assert.equal(rec.runs('later'), 0, rec.describe());
});

test('regression (fuzz): a step timeout above 24.8 days (Node’s longest timer) does not fire at once, and Infinity means none', LIMIT, async (t) => {
  const ev = makeEventor(t);
  const start = ev.addEvent('start');
  for (const [name, timeout] of [['thirty-days', 30 * 86_400], ['forever', Infinity]] as const) {
    ev.addAssoc(start, ev.addStep(name, { func: () => new Promise((resolve) => setTimeout(() => resolve(name), 5)), config: { timeout } }));
  }
  const rec = new Recorder(ev);
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(rec.find('thirty-days', '1', 'success').result, 'thirty-days');
});

// -- found while making the machines drive the run --------------------------------------------------

test('regression: a chain whose steps settle at once lets the event loop turn while it runs (timers fire, LevelDB catches up)', LIMIT, async (t) => {
  const ev = durableEventor(t, join(tempDir(t), 'store'));
  const length = 2000;
  const events = Array.from({ length: length + 1 }, (_, i) => ev.addEvent(`e${i}`));
  let stepsWhenTimerFired: number | undefined;
  let ran = 0;
  for (let i = 0; i < length; i++) {
    ev.addAssoc(events[i], ev.addStep(`s${i}`, { func: () => ran++, triggers: { success: [events[i + 1]] } }));
  }
  ev.triggerEvent(events[0], 1);
  // Armed when the first step runs: it fires only if the run gives the event loop a turn.
  ev.subscribe((transition) => {
    if (transition.step === 's0' && transition.status === 'active') setTimeout(() => (stepsWhenTimerFired ??= ran), 0);
  });
  assert.equal(await ev.run(), true);
  assert.equal(ran, length);
  assert.ok(stepsWhenTimerFired !== undefined && stepsWhenTimerFired < length, `the timer fired after ${stepsWhenTimerFired} of ${length} steps`);
});

test('regression: a recovery that skips a whole finished run makes its replays a bounded number at a time and skips every task', LIMIT, async (t) => {
  const store = join(tempDir(t), 'store');
  const build = (runMode: RunMode) => {
    const ev = durableEventor(t, store, { runMode });
    const events = Array.from({ length: 31 }, (_, i) => ev.addEvent(`e${i}`));
    for (let i = 0; i < 30; i++) ev.addAssoc(events[i], ev.addStep(`s${i}`, { func: () => i, triggers: { success: [events[i + 1]] } }));
    for (let sequence = 1; sequence <= 100; sequence++) ev.triggerEvent(events[0], sequence);
    return ev;
  };
  const first = build(RunMode.restart);
  assert.equal(await first.run(), true);
  await first.close();
  const again = build(RunMode.recover);
  const seen: string[] = [];
  again.subscribe((transition) => seen.push(transition.status));
  assert.equal(await again.run(), true);
  assert.equal(seen.length, 3000, 'one transition per task: straight to its earlier success');
  assert.ok(seen.every((status) => status === 'success'));
  const [run] = await again.listRuns();
  assert.deepEqual(run.tasks, { success: 3000 });
});
