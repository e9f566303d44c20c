// Flows as XState machine configs: toXStateConfig exports any flow as a statechart that XState
// itself accepts and walks, and Eventor.fromMachineConfig / loadMachineConfig read one back into
// an Eventor that runs the same tasks with the same outcomes.
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { createActor, createMachine, type AnyStateMachine } from 'xstate';
import { getShortestPaths, toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { stringify } from 'yaml';
import {
  Eventor,
  implementationsOf,
  loadFlow,
  loadMachineConfig,
  MachineConfigError,
  RunMode,
  toXStateConfig,
  UnknownImplementationError,
  UnknownNameError,
  ValidationError,
  type FlowSpec,
  type MachineConfig,
  type MachineStateConfig,
  type MachineStepMeta,
  type TransitionRecord,
} from '../src/index.js';
import { setConsoleStream } from '../src/observe/log.js';
import { LIMIT, tempDir } from './helpers.js';
import { eventorFlows, propertyParameters, sequentFlows } from './model/arbitraries.js';
import { loggedStatuses } from './model/checks.js';
import { buildEventor, buildSequent } from './model/flows.js';
import { RunLog } from './model/run-log.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const examples = join(root, 'examples');

// The examples import 'eventor', which Node resolves to the built dist/: a second copy of the
// library whose currentStep() knows nothing of the steps this file's src/ runs. Resolving
// 'eventor' to src/index.ts (as tsconfig.test.json's paths do for the type checker) keeps one copy.
const srcIndex = new URL('../src/index.ts', import.meta.url).href;
register(`data:text/javascript,${encodeURIComponent(`export function resolve(specifier, context, next) { return next(specifier === 'eventor' ? ${JSON.stringify(srcIndex)} : specifier, context); }`)}`);

// The examples build Eventors that log to the console; their lines are not what these tests check.
setConsoleStream({ write: () => true });
after(() => setConsoleStream(undefined));

const quiet = { store: ':memory:', config: { logging: { console: false } } } as const;

/** Something that runs and reports its transitions: an Eventor or a Sequent. */
interface Runnable {
  subscribe(listener: (record: TransitionRecord) => void): unknown;
  run(options?: { maxLoops?: number }): Promise<boolean>;
  close(): Promise<void>;
  toSpec(): FlowSpec;
}

/** Runs a flow, then closes it: what run() resolved to, and each task with its final status (`step/sequence:status`). */
async function outcome(flow: Runnable, maxLoops = 0): Promise<{ ok: boolean; tasks: string[] }> {
  const records: TransitionRecord[] = [];
  flow.subscribe((record) => records.push(record));
  try {
    const ok = await flow.run({ maxLoops });
    return { ok, tasks: loggedStatuses(new RunLog(records)) };
  } finally {
    await flow.close();
  }
}

/**
 * Asserts that a flow, exported and read back (its functions given as the implementations), is
 * the same flow (exporting the copy gives the same config: delays, expressions, config and all)
 * and runs the same tasks with the same outcomes; returns the tasks.
 */
async function assertSameRun(build: () => Runnable | Promise<Runnable>, maxLoops = 0): Promise<string[]> {
  const exported = await build();
  const config = JSON.parse(JSON.stringify(toXStateConfig(exported))) as MachineConfig;
  // Its own run settings only, so that it is the same flow: the console goes nowhere in this file anyway.
  const copy = Eventor.fromMachineConfig(config, { implementations: implementationsOf(exported), store: ':memory:' });
  await exported.close();
  assert.deepEqual(toXStateConfig(copy), config, 'the copy exports the same config');
  const original = await outcome(await build(), maxLoops);
  assert.deepEqual(await outcome(copy, maxLoops), original, 'the round trip runs the same tasks with the same outcomes');
  return original.tasks;
}

/** Every step region of a config with the state value that puts it in `status` (nested in its containers' active states). */
function stepRegions(config: MachineConfig, status: string): { name: string; value: Record<string, unknown> }[] {
  const found: { name: string; value: Record<string, unknown> }[] = [];
  const visit = (states: Record<string, MachineStateConfig>, wrap: (inner: Record<string, unknown>) => Record<string, unknown>) => {
    for (const [key, region] of Object.entries(states)) {
      found.push({ name: (region.meta?.eventor as MachineStepMeta).name, value: wrap({ [key]: status }) });
      const children = region.states?.active.states;
      if (children) visit(children, (inner) => wrap({ [key]: { active: inner } }));
    }
  };
  visit(config.states, (inner) => inner);
  return found;
}

/** A copy of the ETL example in a fresh folder, whose commands then write there and not in the tree. */
function etlYamlCopy(t: TestContext): string {
  const dir = tempDir(t);
  cpSync(join(examples, 'etl.yaml'), join(dir, 'etl.yaml'));
  cpSync(join(examples, 'etl'), join(dir, 'etl'), { recursive: true });
  return join(dir, 'etl.yaml');
}

/** The example flows, each as a fresh build: the default exports of examples/*.ts and the YAML examples. */
async function exampleFlows(t: TestContext): Promise<{ name: string; build: () => Runnable | Promise<Runnable>; maxLoops?: number }[]> {
  const load = async (file: string) => (await import(join(examples, file))).default as (...args: unknown[]) => Runnable;
  const etl = etlYamlCopy(t);
  return [
    { name: 'simple-chain.ts', build: await load('simple-chain.ts') },
    { name: 'and-or-join.ts', build: await load('and-or-join.ts') },
    { name: 'delayed.ts', build: async () => (await load('delayed.ts'))(0.02) },
    { name: 'resources.ts', build: await load('resources.ts') },
    { name: 'stop-on-exception.ts', build: async () => (await load('stop-on-exception.ts'))(false) },
    { name: 'recovery.ts (failing)', build: async () => (await load('recovery.ts'))(RunMode.restart, -9, ':memory:') },
    { name: 'recovery.ts', build: async () => (await load('recovery.ts'))(RunMode.restart, 9, ':memory:') },
    { name: 'delay-continue.ts', build: async () => (await load('delay-continue.ts'))(RunMode.restart, 0.01, ':memory:') },
    // Its second step waits a day: one loop runs the first and leaves the second waiting.
    { name: 'machines.ts', build: async () => (await load('machines.ts'))(undefined, ':memory:'), maxLoops: 1 },
    { name: 'etl.yaml', build: () => loadFlow(etl, quiet) as Runnable },
    { name: 'nested.yaml', build: () => loadFlow(join(examples, 'nested.yaml'), quiet) as Runnable },
  ];
}

test('createMachine takes the config of every example flow, and its actor starts with each step idle', LIMIT, async (t) => {
  for (const example of await exampleFlows(t)) {
    const flow = await example.build();
    const config = toXStateConfig(flow);
    await flow.close();
    const actor = createActor(createMachine(config)).start();
    const snapshot = actor.getSnapshot();
    assert.equal(snapshot.status, 'active', example.name);
    // A container's children have no state until it is active: the top regions are the steps there are.
    const idle = Object.fromEntries(Object.keys(config.states).map((key) => [key, 'idle']));
    assert.deepEqual(snapshot.value, idle, example.name);
    actor.stop();
  }
});

test('the flow events move the steps they are associated with, and the lifecycle events move a task to success', async () => {
  const flow = (await import(join(examples, 'simple-chain.ts'))).default() as Eventor;
  const machine = createMachine(toXStateConfig(flow));
  await flow.close();
  const actor = createActor(machine).start();
  actor.send({ type: 'run_step2' });
  assert.deepEqual(actor.getSnapshot().value, { s1: 'idle', s2: 'ready', s3: 'idle' });
  for (const type of ['s2.start', 's2.succeed']) actor.send({ type });
  assert.deepEqual(actor.getSnapshot().value, { s1: 'idle', s2: 'success', s3: 'idle' });
  actor.send({ type: 's1.succeed' });
  assert.equal((actor.getSnapshot().value as Record<string, string>).s1, 'idle', 'a step that has no task does not succeed');
});

test('xstate/graph walks the configs of the examples to the success state of every step', LIMIT, async (t) => {
  for (const example of await exampleFlows(t)) {
    const flow = await example.build();
    const config = toXStateConfig(flow);
    await flow.close();
    const machine: AnyStateMachine = createMachine(config);
    const reached = getShortestPaths(machine).map((path) => path.state);
    const successes = stepRegions(config, 'success');
    assert.ok(successes.length > 0, example.name);
    for (const { name, value } of successes) assert.ok(reached.some((state) => state.matches(value as never)), `${example.name}: a path reaches the success of step ${name}`);

    // The directed graph has the edge into each step's success, labelled with the step's own event.
    const edges: string[] = [];
    const collect = (node: DirectedGraphNode) => {
      for (const edge of node.edges) edges.push(`${edge.label.text} -> ${edge.target.id}`);
      node.children.forEach(collect);
    };
    collect(toDirectedGraph(machine));
    for (const step of flow.toSpec().steps) assert.ok(edges.some((edge) => edge.startsWith(`${step.name}.succeed -> `) && edge.endsWith('.success')), `${example.name}: the graph has ${step.name}.succeed`);
  }
});

test('the graph of a flow shows its associations, with the delay, and its triggers as entry actions', async () => {
  const flow = (await import(join(examples, 'delayed.ts'))).default(0.25) as Eventor;
  const config = toXStateConfig(flow);
  await flow.close();
  assert.deepEqual(config.states.cleanup.states?.idle.on, { loaded: [{ target: 'waiting', meta: { delay: 0.25 } }] });
  assert.deepEqual(config.states.load.states?.idle.on, { start: 'ready' });
  assert.deepEqual(config.states.load.states?.success.entry, [{ type: 'trigger', params: { event: 'loaded' } }]);
  assert.deepEqual(config.meta.eventor.assocs, [
    { event: 'start', delay: 0, targets: [{ kind: 'step', name: 'load' }] },
    { event: 'loaded', delay: 0.25, targets: [{ kind: 'step', name: 'cleanup' }] },
  ]);
  assert.deepEqual(config.meta.eventor.triggers, [{ event: 'start', sequence: '1' }]);
  assert.deepEqual(toXStateConfig(flow.toSpec()), config, 'a FlowSpec gives the config of its flow');
});

test('a config is plain JSON: parsing its text gives it back, whatever the flow', LIMIT, async (t) => {
  for (const example of await exampleFlows(t)) {
    const flow = await example.build();
    const config = toXStateConfig(flow);
    await flow.close();
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config, example.name);
  }
  fc.assert(
    fc.property(eventorFlows(), (described) => {
      const config = toXStateConfig(buildEventor(described, quiet));
      assert.deepEqual(JSON.parse(JSON.stringify(config)), config);
    }),
    propertyParameters(25),
  );
});

test('a step argument that JSON cannot hold is refused, naming the step', (t) => {
  const ev = new Eventor({ name: 'unplain', ...quiet });
  t.after(() => ev.close());
  ev.addAssoc(ev.addEvent('go'), ev.addStep('call', { func: (callback: () => void) => callback(), args: [() => 'a callback'] }));
  assert.throws(() => toXStateConfig(ev), (error: Error) => error instanceof ValidationError && /step 'call'\.args\[0\] is a function/.test(error.message));
});

test('names with . * # and spaces are escaped, so that XState takes no event for a wildcard and no step for a path', async () => {
  const ev = new Eventor({ name: 'odd.names', ...quiet });
  ev.addAssoc(ev.addEvent('files.*'), ev.addStep('copy files.txt', { func: () => 'copied' }));
  ev.addAssoc(ev.addEvent('#later'), ev.addStep('later', { func: () => 'later' }));
  ev.triggerEvent('files.*', 1);
  const config = toXStateConfig(ev);
  await ev.close();
  assert.deepEqual(Object.keys(config.states), ['copy%20files%2Etxt', 'later']);
  const actor = createActor(createMachine(config)).start();
  // Were 'files.*' kept as it is, XState would take it for a wildcard matching this event.
  actor.send({ type: 'files.txt' });
  assert.deepEqual(actor.getSnapshot().value, { 'copy%20files%2Etxt': 'idle', later: 'idle' });
  actor.send({ type: 'files%2E%2A' });
  actor.send({ type: '%23later' });
  assert.deepEqual(actor.getSnapshot().value, { 'copy%20files%2Etxt': 'ready', later: 'ready' });

  const copy = Eventor.fromMachineConfig(config, { implementations: implementationsOf(ev), ...quiet });
  assert.deepEqual((await outcome(copy)).tasks, ['copy files.txt/1:success']);
});

test('every example, exported and read back, runs the same tasks with the same outcomes', LIMIT, async (t) => {
  const cwd = process.cwd();
  // simple-chain.ts keeps its runs in .eventor/ of the current folder: a fresh one, not the tree's.
  process.chdir(tempDir(t));
  t.after(() => process.chdir(cwd));
  for (const example of await exampleFlows(t)) {
    const tasks = await assertSameRun(example.build, example.maxLoops);
    assert.ok(tasks.length > 0, `${example.name} ran tasks`);
    t.diagnostic(`${example.name}: ${tasks.join(', ')}`);
  }
});

test('a Sequent comes back as an Eventor that runs the same tasks, containers and repeats included', LIMIT, async (t) => {
  const tasks = await assertSameRun(() => loadFlow(etlYamlCopy(t), quiet) as Runnable);
  assert.deepEqual(tasks, ['A1/1:success', 'A2/1:success', 'B/1:success', 'C1/1:success', 'C2/1:success']);
  const nested = await assertSameRun(() => loadFlow(join(examples, 'nested.yaml'), quiet) as Runnable);
  assert.ok(nested.includes('s1_s11_s112/1.2.2:success') && nested.includes('s2/1:success'), nested.join(', '));
});

test('random Eventor flows, exported and read back, run the same tasks with the same outcomes', LIMIT, async () => {
  await fc.assert(
    fc.asyncProperty(eventorFlows({ stops: false }), async (described) => {
      await assertSameRun(() => buildEventor(described, quiet));
    }),
    propertyParameters(25),
  );
});

test('random Sequent flows, exported and read back, run the same tasks with the same outcomes', LIMIT, async () => {
  await fc.assert(
    fc.asyncProperty(sequentFlows({ stops: false }), async (described) => {
      await assertSameRun(() => buildSequent(described, quiet));
    }),
    propertyParameters(25),
  );
});

/** A small flow's config, to break in the error tests. */
function smallConfig(): { config: MachineConfig; calls: string[] } {
  const calls: string[] = [];
  const ev = new Eventor({ name: 'small', ...quiet });
  ev.addAssoc(ev.addEvent('go'), ev.addStep('first', { func: function extract() { calls.push('extract'); }, triggers: { success: ['done'] } }));
  ev.addAssoc(ev.addEvent('done'), ev.addStep('second', { func: function load() { calls.push('load'); } }));
  ev.triggerEvent('go', 1);
  const config = toXStateConfig(ev);
  void ev.close();
  return { config, calls };
}

test('a step whose implementation is not given is a named error listing those given, and nothing runs', LIMIT, (t) => {
  const { config } = smallConfig();
  const calls: string[] = [];
  const store = join(tempDir(t), 'store');
  assert.throws(
    () => Eventor.fromMachineConfig(config, { implementations: { extract: () => calls.push('extract'), transform: () => calls.push('transform') }, store }),
    (error: Error) => error instanceof UnknownImplementationError && error instanceof ValidationError && error.stepName === 'second' && error.implementation === 'load' && /step 'second' runs implementation 'load'.*extract, transform/.test(error.message),
  );
  assert.throws(() => Eventor.fromMachineConfig(config, { store }), (error: Error) => error instanceof UnknownImplementationError && /no implementations were given/.test(error.message));
  assert.deepEqual(calls, []);
  assert.equal(existsSync(store), false, 'no store was opened');
});

test('a config that is not a machine config of a flow is a named error saying what is wrong', () => {
  const { config } = smallConfig();
  const broken = (change: (copy: MachineConfig & Record<string, unknown>) => void) => {
    const copy = structuredClone(config) as MachineConfig & Record<string, unknown>;
    change(copy);
    return copy;
  };
  const cases: [unknown, RegExp][] = [
    [{ id: 'light', initial: 'green', states: { green: { on: { TIMER: 'yellow' } }, yellow: {} } }, /^meta\.eventor: is missing: this is not a machine config of an Eventor flow/],
    ['{"type":"parallel"}', /^is \{"type":"parallel"\}: expected a machine config/],
    [broken((copy) => (copy.type = 'compound' as 'parallel')), /^type: is compound: a flow's machine config is a parallel state/],
    [broken((copy) => (copy.meta.eventor.version = 99)), /^meta\.eventor\.version: is 99: this Eventor reads version 1/],
    [broken((copy) => (copy.meta.eventor.assocs[0].delay = 'soon' as unknown as number)), /^meta\.eventor\.assocs\[0\]\.delay: is soon: expected seconds/],
    [broken((copy) => delete copy.states.second.meta), /^states\.second\.meta\.eventor: is missing: each region of the root is a step/],
    [broken((copy) => ((copy.states.first.meta?.eventor as MachineStepMeta).args = 'x' as unknown as [])), /^states\.first\.meta\.eventor\.args: is x: expected a list of arguments/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => Eventor.fromMachineConfig(value, { implementations: { extract() {}, load() {} }, ...quiet }), (error: Error) => error instanceof MachineConfigError && message.test(error.message), String(message));
  }
  // What is wrong with the flow itself is the flow's own validation error.
  const unknown = broken((copy) => (copy.meta.eventor.assocs[0].event = 'never'));
  assert.throws(() => Eventor.fromMachineConfig(unknown, { implementations: { extract() {}, load() {} }, ...quiet }), UnknownNameError);
});

test('a machine config file that is missing, malformed or of another kind is a named error naming the file, and nothing runs', LIMIT, async (t) => {
  const dir = tempDir(t);
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const cases: [string, RegExp][] = [
    [join(dir, 'absent.machine.json'), /absent\.machine\.json: cannot be read \(ENOENT\)/],
    [write('broken.machine.json', '{\n  "id": "x",\n}\n'), /broken\.machine\.json: line 3: is not valid JSON/],
    [write('bare.machine.json', '{ "type": parallel }'), /bare\.machine\.json: is not valid JSON: Unexpected token/],
    [write('broken.machine.yaml', 'id: x\ntype: parallel\nstates: {\n  a: [\n'), /broken\.machine\.yaml: line \d+: is not valid YAML/],
    [write('flow.machine.txt', '{}'), /flow\.machine\.txt: is neither JSON nor YAML/],
    [write('plain.machine.yml', 'id: light\ninitial: green\nstates:\n  green: {}\n'), /plain\.machine\.yml: meta\.eventor: is missing/],
    [write('nowhere.machine.json', JSON.stringify({ ...smallConfig().config, meta: { eventor: { ...smallConfig().config.meta.eventor, implementations: './nowhere.ts' } } })), /nowhere\.machine\.json: meta\.eventor\.implementations: module \.\/nowhere\.ts cannot be imported/],
  ];
  for (const [path, message] of cases) await assert.rejects(loadMachineConfig(path, quiet), (error: Error) => error instanceof MachineConfigError && message.test(error.message), String(message));

  const { config, calls } = smallConfig();
  const unknownEvent = structuredClone(config);
  unknownEvent.meta.eventor.assocs[1].event = 'never';
  await assert.rejects(
    loadMachineConfig(write('unknown.machine.json', JSON.stringify(unknownEvent)), { ...quiet, implementations: { extract() {}, load() {} } }),
    (error: Error) => error instanceof MachineConfigError && error.cause instanceof UnknownNameError && /unknown\.machine\.json: .*'never'/.test(error.message),
  );
  await assert.rejects(loadMachineConfig(write('small.machine.json', JSON.stringify(config)), quiet), (error: Error) => error instanceof UnknownImplementationError && /small\.machine\.json: step 'first' runs implementation 'extract'/.test(error.message));
  assert.deepEqual(calls, []);
});

test('a flow read from a machine config recovers its run: the step that failed runs again, the one that succeeded does not', LIMIT, async (t) => {
  const store = join(tempDir(t), 'store');
  const settings = { store, config: { logging: { console: false, file: false } } };
  const ran: string[] = [];
  let warehouseUp = false;
  const implementations = {
    extract: () => ran.push('extract'),
    load: () => {
      ran.push('load');
      if (!warehouseUp) throw new Error('the warehouse is down');
    },
  };
  const { config } = smallConfig();
  assert.deepEqual(await outcome(Eventor.fromMachineConfig(config, { implementations, ...settings })), { ok: false, tasks: ['first/1:success', 'second/1:failure'] });
  warehouseUp = true;
  const recovery = Eventor.fromMachineConfig(config, { implementations, ...settings, runMode: RunMode.recover });
  assert.equal((await outcome(recovery)).ok, true);
  assert.deepEqual(ran, ['extract', 'load', 'load']);
});

test('examples/etl.machine.json loads with its step code from etl-steps.ts and runs to success', LIMIT, async () => {
  const ev = await loadMachineConfig(join(examples, 'etl.machine.json'), quiet);
  assert.ok(ev instanceof Eventor);
  const records: TransitionRecord[] = [];
  ev.subscribe((record) => records.push(record));
  const { ok, tasks } = await outcome(ev);
  assert.equal(ok, true);
  assert.deepEqual(tasks, ['extract_db1/1:success', 'extract_db2/1:success', 'load/1:success', 'report/1:success', 'transform/1:success']);
  assert.equal(records.find((record) => record.step === 'transform' && record.status === 'success')?.result, 5, 'transform joined the rows of both extracts');
  assert.equal(records.find((record) => record.step === 'load' && record.status === 'success')?.result, 'warehouse.sales: 5 rows');
  assert.ok(records.some((record) => record.step === 'report' && record.status === 'waiting'), 'the report waits for its delay');
});

test('implementations given as options win over the module the config names; a failure runs the failure trigger', LIMIT, async () => {
  const failing = async () => {
    throw new Error('db2 is down');
  };
  const ev = await loadMachineConfig(join(examples, 'etl.machine.json'), { ...quiet, implementations: { extract: failing } });
  const { ok, tasks } = await outcome(ev);
  assert.equal(ok, true, 'the failure triggers alert, so it is handled');
  assert.deepEqual(tasks, ['alert/1:success', 'extract_db1/1:failure', 'extract_db2/1:failure']);
});

test('a machine config in YAML runs module and command steps, their paths relative to the file', LIMIT, async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'steps.mjs'), 'export function greet(who) { return `hello ${who}`; }\n');
  const ev = new Eventor({ name: 'paths', ...quiet });
  ev.addAssoc(ev.addEvent('go'), ev.addStep('greet', { module: './steps.mjs', export: 'greet', args: ['world'], triggers: { success: ['greeted'] } }));
  ev.addAssoc(ev.addEvent('greeted'), ev.addStep('list', { command: ['ls', 'steps.mjs'] }));
  ev.triggerEvent('go', 'a');
  const path = join(dir, 'paths.machine.yaml');
  writeFileSync(path, stringify(toXStateConfig(ev)));
  await ev.close();
  const loaded = await loadMachineConfig(path, quiet);
  const records: TransitionRecord[] = [];
  loaded.subscribe((record) => records.push(record));
  const { ok, tasks } = await outcome(loaded);
  assert.deepEqual({ ok, tasks }, { ok: true, tasks: ['greet/a:success', 'list/a:success'] });
  assert.equal(records.find((record) => record.step === 'greet' && record.status === 'success')?.result, 'hello world');
  assert.ok(readFileSync(path, 'utf8').includes('module: ./steps.mjs'), 'the file keeps the path as written');
});
