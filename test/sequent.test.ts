// The Sequent dialect: nested steps with repeats and requires, compiled to an Eventor flow.
// The Python Sequent's simple and recovery examples, or-requires, deep nesting, repeats by
// count and by list, events over containers, delays, recovery (a new Sequent, or the same
// one run again), the SEQUENT_ environment variables and the errors of building a flow.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  currentStep,
  DuplicateNameError,
  or,
  RunMode,
  Sequent,
  StepReplay,
  StepStatus,
  ValidationError,
  type Eventor,
  type Requirement,
  type SequentOptions,
  type SequentStep,
} from '../src/index.js';
import { deferred, errorOf, LIMIT, Recorder, sleep, within } from './helpers.js';

// -- helpers ----------------------------------------------------------------------------------

/** A quiet Sequent (in memory unless a store is given), closed when the test ends. */
function makeSequent(t: TestContext, options: SequentOptions = {}): Sequent {
  const { config, ...rest } = options;
  const flow = new Sequent({ name: 'seq', store: ':memory:', ...rest, config: { ...config, logging: { console: false, ...config?.logging } } });
  t.after(() => flow.close());
  return flow;
}

/** One test's folder (a LevelDB store and the run logs); its Sequents are closed before it goes. */
interface Lab {
  root: string;
  store: string;
  flows: Sequent[];
  /** A quiet Sequent on the lab's store, with its log files in the lab. */
  open(options?: SequentOptions): Sequent;
}

function lab(t: TestContext): Lab {
  const root = mkdtempSync(join(tmpdir(), 'eventor-sequent-'));
  const made: Lab = {
    root,
    store: join(root, 'store'),
    flows: [],
    open(options: SequentOptions = {}) {
      const { config, ...rest } = options;
      const flow = new Sequent({ name: 'seq', store: made.store, ...rest, config: { logdir: join(root, 'logs'), ...config, logging: { console: false, ...config?.logging } } });
      made.flows.push(flow);
      return flow;
    },
  };
  t.after(async () => {
    for (const flow of made.flows) await flow.close();
    rmSync(root, { recursive: true, force: true });
  });
  return made;
}

/** A Recorder of a Sequent's transitions (Sequent has its own subscribe(), with the same records). */
function recorder(flow: Sequent): Recorder {
  return new Recorder({ subscribe: flow.subscribe.bind(flow) } as unknown as Eventor);
}

/** A program of the seed's examples: records `progname step/sequence`, fails where told. */
interface Prog {
  flow: Sequent;
  runs: string[];
  progname: string;
  stepToFail?: string;
  iterationToFail?: string;
}

function prog({ flow, runs, progname, stepToFail, iterationToFail }: Prog): string {
  const stepName = flow.getStepName();
  const stepSequence = flow.getStepSequence();
  runs.push(`${progname} ${stepName}/${stepSequence}`);
  if (stepToFail === stepName && stepSequence === iterationToFail) throw new Error(`${progname} failed (${stepName}/${stepSequence})`);
  return progname;
}

/** The seed's flow: s1 (repeats 1, 2) holds s11 (repeats 1, 2: s111 then s112) then s12; s2 after s1. */
function buildSeedFlow(flow: Sequent, runs: string[], fail: { stepToFail?: string; iterationToFail?: string } = {}): Sequent {
  const kwargs = (progname: string) => ({ flow, runs, progname, ...fail });
  const s1 = flow.addStep('s1', { repeats: [1, 2] });
  const s11 = s1.addStep('s11', { repeats: [1, 2] });
  const s111 = s11.addStep('s111', { func: prog, kwargs: kwargs('prog1') });
  s11.addStep('s112', { func: prog, kwargs: kwargs('prog2'), requires: [[s111, StepStatus.success]] });
  s1.addStep('s12', { func: prog, kwargs: kwargs('prog3'), requires: [[s11, StepStatus.success]] });
  flow.addStep('s2', { func: prog, kwargs: kwargs('prog4'), requires: [[s1, StepStatus.success]] });
  return flow;
}

const SEED_RUNS = [
  'prog1 s1_s11_s111/1.1.1',
  'prog2 s1_s11_s112/1.1.1',
  'prog1 s1_s11_s111/1.1.2',
  'prog2 s1_s11_s112/1.1.2',
  'prog3 s1_s12/1.1',
  'prog1 s1_s11_s111/1.2.1',
  'prog2 s1_s11_s112/1.2.1',
  'prog1 s1_s11_s111/1.2.2',
  'prog2 s1_s11_s112/1.2.2',
  'prog3 s1_s12/1.2',
  'prog4 s2/1',
];

/** A step function that records `name/sequence` as it runs. */
const note = (runs: string[]) => () => {
  const { name, sequence } = currentStep();
  runs.push(`${name}/${sequence}`);
};

// -- the seed's examples ----------------------------------------------------------------------

test("the seed's simple example runs its 11 programs in order, with their task names and sequences", LIMIT, async (t) => {
  const runs: string[] = [];
  const flow = buildSeedFlow(makeSequent(t, { name: 'simple' }), runs);
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.deepEqual(
    runs.map((run) => run.split(' ')[0]),
    ['prog1', 'prog2', 'prog1', 'prog2', 'prog3', 'prog1', 'prog2', 'prog1', 'prog2', 'prog3', 'prog4'],
  );
  assert.deepEqual(runs, SEED_RUNS);
  // The containers are tasks too: s1 once at the run's sequence, s11 once per repeat of s1.
  assert.deepEqual(rec.sequencesOf('s1', 'success'), ['1']);
  assert.deepEqual(rec.sequencesOf('s1_s11', 'success'), ['1.1', '1.2']);
  assert.deepEqual(rec.sequencesOf('s1_s11_s111', 'success'), ['1.1.1', '1.1.2', '1.2.1', '1.2.2']);
  assert.equal(rec.records.filter((r) => r.status === 'failure').length, 0, rec.describe());
});

test("the seed's recovery example: a failure of s1_s11_s111 at 1.2.2, then a recovery that runs only what is left", LIMIT, async (t) => {
  const where = lab(t);
  const firstRuns: string[] = [];
  const first = buildSeedFlow(where.open({ name: 'recovery' }), firstRuns, { stepToFail: 's1_s11_s111', iterationToFail: '1.2.2' });
  const rec1 = recorder(first);
  assert.equal(await first.run(), false, rec1.describe());
  assert.deepEqual(firstRuns, SEED_RUNS.slice(0, 8));
  assert.equal(rec1.find('s1_s11_s111', '1.2.2', 'failure').error?.message, 'prog1 failed (s1_s11_s111/1.2.2)');
  assert.equal(rec1.runs('s2'), 0, rec1.describe());
  const runId = first.runId;
  assert.ok(runId, 'the first run has an id');
  await first.close();

  const recoveryRuns: string[] = [];
  const second = buildSeedFlow(where.open({ name: 'recovery', runMode: RunMode.recover, runId }), recoveryRuns);
  const rec2 = recorder(second);
  assert.equal(await second.run(), true, rec2.describe());
  assert.deepEqual(recoveryRuns, ['prog1 s1_s11_s111/1.2.2', 'prog2 s1_s11_s112/1.2.2', 'prog3 s1_s12/1.2', 'prog4 s2/1']);
  assert.equal(second.runId, runId);
  assert.equal(rec2.records.filter((r) => r.status === 'failure').length, 0, rec2.describe());
});

// -- requires ---------------------------------------------------------------------------------

test('or-requires: a step starts once the first of its requirements holds, before the other step finishes', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const order: string[] = [];
  const cStarted = deferred();
  const a = flow.addStep('a', {
    func: async () => {
      const waited = await within(cStarted.promise, 30_000);
      order.push(`a ${waited === 'timed out' ? 'timed out' : 'done'}`);
    },
  });
  const b = flow.addStep('b', { func: () => void order.push('b') });
  flow.addStep('c', {
    // `or` needs its atom type spelled out: without it TypeScript infers ExprNode<'success' | SequentStep>.
    requires: or<Requirement>([a, StepStatus.success], [b, StepStatus.success]),
    func: () => {
      order.push('c');
      cStarted.resolve();
    },
  });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.deepEqual(order, ['b', 'c', 'a done']);
  assert.equal(rec.runs('c'), 1, rec.describe());
  assert.ok(rec.indexOf('c', '1', 'active') < rec.indexOf('a', '1', 'success'), rec.describe());
});

test('a list of requires waits for all of them', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const slow = flow.addStep('slow', { func: async () => (await sleep(50), note(runs)()) });
  const fast = flow.addStep('fast', { func: note(runs) });
  flow.addStep('both', { func: note(runs), requires: [[slow, StepStatus.success], [fast, StepStatus.success]] });
  assert.equal(await flow.run(), true);
  assert.deepEqual(runs, ['fast/1', 'slow/1', 'both/1']);
});

test('a failure nothing handles makes run() resolve false; a sibling that requires it with failure or complete handles it', LIMIT, async (t) => {
  const boom = () => {
    throw new Error('boom');
  };
  const alone = makeSequent(t, { name: 'alone' });
  alone.addStep('a', { func: boom });
  assert.equal(await alone.run(), false);

  for (const status of [StepStatus.failure, StepStatus.complete] as const) {
    const flow = makeSequent(t, { name: `handled-${status}` });
    const runs: string[] = [];
    const a = flow.addStep('a', { func: boom });
    flow.addStep('cleanup', { func: note(runs), requires: [[a, status]] });
    assert.equal(await flow.run(), true, `requires [a, '${status}']`);
    assert.deepEqual(runs, ['cleanup/1']);
  }
});

// -- containers -------------------------------------------------------------------------------

test('a container inside a container inside a container runs its steps as a_b_c_d at 1.x.y.z, in order', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const a = flow.addStep('a', { repeats: 2 });
  const b = a.addStep('b', { repeats: 2 });
  const c = b.addStep('c', { repeats: 2 });
  const d = c.addStep('d', { func: note(runs) });
  c.addStep('e', { func: note(runs), requires: [[d, StepStatus.success]] });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  const expected: string[] = [];
  for (const x of [1, 2]) for (const y of [1, 2]) for (const z of [1, 2]) expected.push(`a_b_c_d/1.${x}.${y}.${z}`, `a_b_c_e/1.${x}.${y}.${z}`);
  assert.deepEqual(runs, expected);
  assert.deepEqual(rec.sequencesOf('a', 'success'), ['1']);
  assert.deepEqual(rec.sequencesOf('a_b', 'success'), ['1.1', '1.2']);
  assert.deepEqual(rec.sequencesOf('a_b_c', 'success'), ['1.1.1', '1.1.2', '1.2.1', '1.2.2']);
});

test('a repeat starts only when the previous one has succeeded, and a container is required like any step', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const loop = flow.addStep('loop', { repeats: 3 });
  const first = loop.addStep('first', { func: note(runs) });
  loop.addStep('second', { func: async () => (await sleep(20), note(runs)()), requires: [[first, StepStatus.success]] });
  flow.addStep('after', { func: note(runs), requires: [[loop, StepStatus.success]] });
  assert.equal(await flow.run(), true);
  assert.deepEqual(runs, ['loop_first/1.1', 'loop_second/1.1', 'loop_first/1.2', 'loop_second/1.2', 'loop_first/1.3', 'loop_second/1.3', 'after/1']);
});

test('a container fails when a child fails, and its later repeats do not run', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const loop = flow.addStep('loop', { repeats: 3 });
  loop.addStep('work', {
    func: () => {
      note(runs)();
      if (currentStep().sequence === '1.2') throw new Error('repeat 2 fails');
    },
  });
  flow.addStep('after', { func: note(runs), requires: [[loop, StepStatus.success]] });
  const rec = recorder(flow);
  assert.equal(await flow.run(), false);
  assert.deepEqual(runs, ['loop_work/1.1', 'loop_work/1.2']);
  assert.deepEqual(rec.sequencesOf('loop', 'failure'), ['1'], rec.describe());
});

test('a container with no children is a no-op that succeeds', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const empty = flow.addStep('empty', { repeats: 3 });
  const bare = flow.addStep('bare');
  flow.addStep('after', { func: note(runs), requires: [[empty, StepStatus.success], [bare, StepStatus.success]] });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.deepEqual(rec.statuses('empty', '1'), ['ready', 'active', 'success']);
  assert.deepEqual(rec.statuses('bare', '1'), ['ready', 'active', 'success']);
  assert.deepEqual(runs, ['after/1']);
});

test('repeats as a list of strings give sequences 1.east and 1.west', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const region = flow.addStep('region', { repeats: ['east', 'west'] });
  region.addStep('load', { func: note(runs) });
  assert.equal(await flow.run(), true);
  assert.deepEqual(runs, ['region_load/1.east', 'region_load/1.west']);
});

// -- events -----------------------------------------------------------------------------------

test('addEvent over two containers with complete: a later step that requires the event runs after both', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const s1 = flow.addStep('s1', { repeats: 2 });
  s1.addStep('x', { func: async () => (await sleep(30), note(runs)()) });
  const s2 = flow.addStep('s2', { repeats: [1] });
  s2.addStep('y', { func: note(runs) });
  const e1 = flow.addEvent('e1', { requires: [[s1, StepStatus.complete], [s2, StepStatus.complete]] });
  flow.addStep('s3', { func: note(runs), requires: [e1] });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.equal(runs.at(-1), 's3/1');
  assert.deepEqual([...runs].sort(), ['s1_x/1.1', 's1_x/1.2', 's2_y/1.1', 's3/1']);
  assert.ok(rec.indexOf('s3', '1', 'ready') > rec.indexOf('s1', '1', 'success'), rec.describe());
  assert.ok(rec.indexOf('s3', '1', 'ready') > rec.indexOf('s2', '1', 'success'), rec.describe());
});

test('addEvent with complete holds when one of the containers fails', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const s1 = flow.addStep('s1', { repeats: 2 });
  s1.addStep('x', { func: note(runs) });
  const s2 = flow.addStep('s2', { repeats: 2 });
  // Without stopOnException, the child's failure fails its container without stopping the run.
  s2.addStep('y', {
    func: () => {
      note(runs)();
      throw new Error('y fails');
    },
    config: { stopOnException: false },
  });
  const e1 = flow.addEvent('e1', { requires: [[s1, StepStatus.complete], [s2, StepStatus.complete]] });
  flow.addStep('s3', { func: note(runs), requires: [e1] });
  const rec = recorder(flow);
  // The child's own failure is handled by nothing at its level, so the run still reports it.
  assert.equal(await flow.run(), false, rec.describe());
  assert.deepEqual(rec.sequencesOf('s2', 'failure'), ['1'], rec.describe());
  assert.deepEqual(rec.sequencesOf('s1', 'success'), ['1'], rec.describe());
  assert.equal(runs.at(-1), 's3/1', rec.describe());
  assert.deepEqual(runs.filter((run) => run.startsWith('s2_y')), ['s2_y/1.1']);
});

test('an event inside a container joins requirements of its own siblings, per repeat', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const loop = flow.addStep('loop', { repeats: 2 });
  const p = loop.addStep('p', { func: note(runs) });
  const q = loop.addStep('q', { func: note(runs) });
  const both = loop.addEvent('both', { requires: [[p, StepStatus.success], [q, StepStatus.success]] });
  loop.addStep('r', { func: note(runs), requires: [both] });
  assert.equal(await flow.run(), true);
  assert.deepEqual(runs.filter((run) => run.startsWith('loop_r')), ['loop_r/1.1', 'loop_r/1.2']);
  assert.ok(runs.indexOf('loop_r/1.1') > runs.indexOf('loop_p/1.1') && runs.indexOf('loop_r/1.1') > runs.indexOf('loop_q/1.1'));
  assert.ok(runs.indexOf('loop_r/1.1') < runs.indexOf('loop_p/1.2'));
});

// -- delays and environment -------------------------------------------------------------------

test('delay: a step waits its delay once its requirements hold', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const c = flow.addStep('c', { repeats: 1 });
  const a = c.addStep('a', { func: () => 'a' });
  c.addStep('b', { func: () => 'b', requires: [[a, StepStatus.success]], delay: 0.3 });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.deepEqual(rec.statuses('c_b', '1.1'), ['waiting', 'ready', 'active', 'success']);
  const waited = rec.find('c_b', '1.1', 'active').at - rec.find('c_a', '1.1', 'success').at;
  assert.ok(waited >= 290, `c_b started ${waited} ms after c_a succeeded`);
});

test('a command step sees SEQUENT_STEP_NAME and the other SEQUENT_ variables, not EVENTOR_ ones', LIMIT, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'eventor-sequent-env-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const out = join(root, 'vars.txt');
  const flow = makeSequent(t);
  const c = flow.addStep('c', { repeats: ['r'] });
  c.addStep('cmd', {
    command: 'printf "%s|%s|%s|%s|%s|%s" "$SEQUENT_STEP_NAME" "$SEQUENT_STEP_SEQUENCE" "$SEQUENT_STEP_RECOVERY" "$SEQUENT_LOGGER_NAME" "$SEQUENT_RUN_ID" "${EVENTOR_STEP_NAME:-unset}" > "$OUT"',
    env: { OUT: out },
  });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.equal(readFileSync(out, 'utf8'), `c_cmd|1.r|0|Task-c_cmd(1.r)|${flow.runId}|unset`);
});

test('a module + export step in a child process sees SEQUENT_STEP_NAME and no EVENTOR_ variables', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const c = flow.addStep('c', { repeats: 1 });
  c.addStep('proc', { module: './test/fixtures/steps/progs.ts', export: 'describe' });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  const result = rec.find('c_proc', '1.1', 'success').result as { pid: number; step: { name: string; sequence: string }; env: Record<string, string | undefined> };
  assert.notEqual(result.pid, process.pid);
  assert.equal(result.step.name, 'c_proc');
  assert.equal(result.step.sequence, '1.1');
  assert.equal(result.env.prefixed, 'c_proc');
  assert.equal(result.env.name, undefined);
});

test('getStepName and getStepSequence inside a step give what currentStep() gives', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const seen: string[] = [];
  const outer = flow.addStep('outer', { repeats: [7] });
  const inner = outer.addStep('inner', { repeats: 2 });
  inner.addStep('leaf', {
    func: () => {
      const { name, sequence } = currentStep();
      assert.equal(flow.getStepName(), name);
      assert.equal(flow.getStepSequence(), sequence);
      seen.push(`${flow.getStepName()}@${flow.getStepSequence()}`);
    },
  });
  assert.equal(await flow.run(), true);
  assert.deepEqual(seen, ['outer_inner_leaf@1.7.1', 'outer_inner_leaf@1.7.2']);
});

// -- recovery ---------------------------------------------------------------------------------

test('a repeat count of 100 with a failure in repeat 57: the recovery runs repeats 57 to 100 only', { timeout: 60_000 }, async (t) => {
  const where = lab(t);
  const build = (flow: Sequent, runs: string[], failAt?: string) => {
    const loop = flow.addStep('loop', { repeats: 100 });
    const pre = loop.addStep('pre', { func: note(runs) });
    loop.addStep('work', {
      func: () => {
        note(runs)();
        if (currentStep().sequence === failAt) throw new Error(`work fails at ${failAt}`);
      },
      requires: [[pre, StepStatus.success]],
    });
    flow.addStep('after', { func: note(runs), requires: [[loop, StepStatus.success]] });
    return flow;
  };
  const repeatOf = (run: string) => Number(run.split('/')[1].split('.')[1]);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  const firstRuns: string[] = [];
  const first = build(where.open({ name: 'hundred' }), firstRuns, '1.57');
  assert.equal(await first.run(), false);
  assert.deepEqual(firstRuns.filter((run) => run.startsWith('loop_work/')).map(repeatOf), range(1, 57));
  assert.ok(!firstRuns.includes('after/1'));
  const runId = first.runId;
  await first.close();

  const recoveryRuns: string[] = [];
  const second = build(where.open({ name: 'hundred', runMode: RunMode.recover, runId }), recoveryRuns);
  const rec = recorder(second);
  assert.equal(await second.run(), true, rec.describe());
  assert.deepEqual(recoveryRuns.filter((run) => run.startsWith('loop_work/')).map(repeatOf), range(57, 100));
  assert.deepEqual(recoveryRuns.filter((run) => run.startsWith('loop_pre/')).map(repeatOf), range(58, 100));
  assert.deepEqual(recoveryRuns.filter((run) => run.startsWith('loop_') && repeatOf(run) < 57), []);
  assert.equal(recoveryRuns.at(-1), 'after/1');
  assert.equal(recoveryRuns.filter((run) => run === 'after/1').length, 1);
});

test('the same Sequent runs, then recovers with run({ runMode: RunMode.recover }): failed steps and success→rerun steps run again', LIMIT, async (t) => {
  const where = lab(t);
  const flow = where.open({ name: 'again' });
  const runs: string[] = [];
  let bTries = 0;
  const recorded = (fn: () => void) => () => {
    const { name, sequence, recovery } = currentStep();
    runs.push(`${name}/${sequence}#${recovery}`);
    fn();
  };
  const a = flow.addStep('a', { func: recorded(() => {}) });
  const c = flow.addStep('c', { repeats: 2 });
  const b = c.addStep('b', {
    func: recorded(() => {
      if (++bTries === 2) throw new Error('b fails on its second try (repeat 2)');
    }),
  });
  c.addStep('again', { func: recorded(() => {}), requires: [[b, StepStatus.success]], recovery: { success: StepReplay.rerun } });
  flow.addStep('d', { func: recorded(() => {}), requires: [[a, StepStatus.success], [c, StepStatus.success]] });
  flow.addStep('always', { func: recorded(() => {}), recovery: { success: StepReplay.rerun } });

  assert.equal(await flow.run(), false);
  const runId = flow.runId;
  assert.ok(runId);
  assert.deepEqual([...runs].sort(), ['a/1#0', 'always/1#0', 'c_again/1.1#0', 'c_b/1.1#0', 'c_b/1.2#0']);

  runs.length = 0;
  assert.equal(await flow.run({ runMode: RunMode.recover }), true);
  assert.equal(flow.runId, runId);
  // a, c_b/1.1 succeeded: skipped. c_again/1.1 succeeded, but its recovery map reruns it;
  // c (failed) reruns its repeats, so c_again/1.1 is triggered again.
  assert.deepEqual([...runs].sort(), ['always/1#1', 'c_again/1.1#1', 'c_again/1.2#1', 'c_b/1.2#1', 'd/1#1']);
  assert.equal(runs.at(-1), 'd/1#1');
});

// -- errors -----------------------------------------------------------------------------------

test('a step that requires a step of another container is a ValidationError naming both', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const left = flow.addStep('left', { repeats: 1 });
  const right = flow.addStep('right', { repeats: 1 });
  const x = left.addStep('x', { func: () => 'x' });
  right.addStep('y', { func: () => 'y', requires: [[x, StepStatus.success]] });
  const error = await errorOf(() => flow.run());
  assert.ok(error instanceof ValidationError, String(error));
  assert.match(error.message, /right_y/);
  assert.match(error.message, /left_x/);
});

test('a duplicate sibling name is a DuplicateNameError; the same name in another container is fine', LIMIT, async (t) => {
  const flow = makeSequent(t);
  flow.addStep('a', { func: () => 'a' });
  assert.throws(() => flow.addStep('a', { func: () => 'again' }), DuplicateNameError);
  const c1 = flow.addStep('c1', { repeats: 1 });
  const c2 = flow.addStep('c2', { repeats: 1 });
  c1.addStep('x', { func: () => 'x' });
  assert.throws(() => c1.addStep('x', { func: () => 'x' }), DuplicateNameError);
  c2.addStep('x', { func: () => 'x' });
  assert.equal(await flow.run(), true);
});

test('addStep on a step with code is a ValidationError', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const leaf: SequentStep = flow.addStep('leaf', { func: () => 'leaf' });
  const error = await errorOf(() => leaf.addStep('child', { func: () => 'child' }));
  assert.ok(error instanceof ValidationError, String(error));
  assert.match(error.message, /leaf/);
  const command = flow.addStep('cmd', { command: ['true'] });
  assert.throws(() => command.addStep('child'), ValidationError);
  assert.throws(() => leaf.addEvent('e', { requires: [] }), ValidationError);
});

// -- behaviour believed wrong (these fail against the current src/dialects/sequent.ts) ---------

test('a Sequent runs with config.maxConcurrent 1 (the Python default): containers do not hold task slots', LIMIT, async (t) => {
  const runs: string[] = [];
  const flow = buildSeedFlow(makeSequent(t, { name: 'one-at-a-time', config: { maxConcurrent: 1 } }), runs);
  const ok = await within(flow.run(), 30_000);
  assert.equal(ok, true, `run() gave ${String(ok)}; programs run: ${runs.join(', ') || 'none'}`);
  assert.deepEqual(runs, SEED_RUNS);
});

test('a child that requires a sibling failure (an error handler) does not keep its container from succeeding when nothing fails', LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const loop = flow.addStep('loop', { repeats: 2 });
  const work = loop.addStep('work', { func: note(runs) });
  loop.addStep('onError', { func: note(runs), requires: [[work, StepStatus.failure]] });
  flow.addStep('after', { func: note(runs), requires: [[loop, StepStatus.success]] });
  const rec = recorder(flow);
  assert.equal(await flow.run(), true, rec.describe());
  assert.deepEqual(runs, ['loop_work/1.1', 'loop_work/1.2', 'after/1']);
  assert.deepEqual(rec.sequencesOf('loop', 'success'), ['1'], rec.describe());
});

test('a failure handled by a sibling inside a container is handled as it is at the top of the flow', LIMIT, async (t) => {
  const build = (flow: Sequent, runs: string[], inside: boolean) => {
    const parent = inside ? flow.addStep('loop', { repeats: 1 }) : flow;
    const work = parent.addStep('work', {
      func: () => {
        note(runs)();
        throw new Error('work fails');
      },
    });
    parent.addStep('onError', { func: note(runs), requires: [[work, StepStatus.failure]] });
  };
  const topRuns: string[] = [];
  const top = makeSequent(t, { name: 'top' });
  build(top, topRuns, false);
  assert.equal(await top.run(), true, 'at the top, the handled failure leaves the run successful');
  assert.deepEqual(topRuns, ['work/1', 'onError/1']);

  const innerRuns: string[] = [];
  const inner = makeSequent(t, { name: 'inner' });
  build(inner, innerRuns, true);
  const rec = recorder(inner);
  assert.equal(await inner.run(), true, rec.describe());
  assert.deepEqual(innerRuns, ['loop_work/1.1', 'loop_onError/1.1']);
});

test("an event named like a step's status event ('a:success') is refused or kept apart from it", LIMIT, async (t) => {
  const flow = makeSequent(t);
  const runs: string[] = [];
  const a = flow.addStep('a', { func: note(runs) });
  const b = flow.addStep('b', { func: async () => (await sleep(50), note(runs)()) });
  let refused: unknown;
  try {
    const both = flow.addEvent('a:success', { requires: [[a, StepStatus.success], [b, StepStatus.success]] });
    flow.addStep('c', { func: note(runs), requires: [both] });
    await flow.run();
  } catch (error) {
    refused = error;
  }
  if (refused !== undefined) assert.ok(refused instanceof ValidationError, String(refused));
  else assert.deepEqual(runs, ['a/1', 'b/1', 'c/1'], 'c requires both a and b, so it runs after b');
});

test('listRuns() before run() does not keep the store from running the flow', LIMIT, async (t) => {
  const where = lab(t);
  const flow = where.open({ name: 'listed' });
  flow.addStep('a', { func: () => 'a' });
  assert.deepEqual(await flow.listRuns(), []);
  assert.equal(await flow.run(), true);
  assert.deepEqual(
    (await flow.listRuns()).map((run) => [run.runId, run.status]),
    [[flow.runId, 'success']],
  );
});

test('a step for other hosts is refused until the NATS executor exists, naming the step and hosts', () => {
  const flow = new Sequent({ store: ':memory:' });
  assert.throws(() => flow.addStep('remote', { command: ['true'], hosts: ['node1', 'node2'] }), /step 'remote' is to run on node1, node2: steps on other hosts need the NATS executor/);
  assert.doesNotThrow(() => flow.addStep('here', { command: ['true'], hosts: ['localhost'] }));
});
