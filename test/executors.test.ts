// The executors that run a step's code: command (a program, with or without a shell), process
// (a child process per task), worker (a pool of threads) and inline, with their timeouts,
// cancellation and the checks made before anything runs. Observed through subscribe() records,
// run()'s result and the task's log lines.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, currentStep, StepCodeError, StepTimeoutError, ValidationError, type AddStepOptions, type EventorOptions, type TransitionRecord } from '../src/index.js';
import { errorOf, LIMIT, makeEventor, Recorder, sleep } from './helpers.js';

/** The fixture module of step functions, relative to the current directory (the repository). */
const PROGS = './test/fixtures/steps/progs.ts';

/** A longer limit for tests that wait out a kill grace period or start threads. */
const LONG = { timeout: 120_000 } as const;

/** One console log line, taken apart. */
interface Line {
  logger: string;
  level: string;
  message: string;
}

/** Parses `[ time ][ host ][ name ][ LEVEL ][ message ]`. */
function parseLine(line: string): Line | undefined {
  const match = /^\[ [^\]]* \]\[ [^\]]* \]\[ (.*?) \]\[ (DEBUG|INFO|WARN|ERROR) \]\[ ([\s\S]*) \]$/.exec(line);
  return match ? { logger: match[1], level: match[2], message: match[3] } : undefined;
}

/** An Eventor whose console lines (from debug up) are kept, and a recorder of its transitions. */
function logged(t: TestContext, options: EventorOptions = {}) {
  const lines: string[] = [];
  const { config, ...rest } = options;
  const ev = makeEventor(t, { ...rest, logSink: (line) => lines.push(line), config: { ...config, logging: { console: true, level: 'debug', ...config?.logging } } });
  const rec = new Recorder(ev);
  /** Messages logged under `Task-<step>(<sequence>)` at `level`. */
  const messages = (step: string, sequence: string, level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR') =>
    lines
      .map(parseLine)
      .filter((line): line is Line => line !== undefined && line.logger === `Task-${step}(${sequence})` && line.level === level)
      .map((line) => line.message);
  return { ev, rec, lines, messages };
}

/** Runs a flow of one step `name` for sequence 1: returns run()'s result and the means to look. */
async function runOne(t: TestContext, name: string, step: AddStepOptions, options: EventorOptions = {}) {
  const flow = logged(t, options);
  const go = flow.ev.addEvent('go');
  flow.ev.addAssoc(go, flow.ev.addStep(name, step));
  flow.ev.triggerEvent(go, 1);
  const ok = await flow.ev.run();
  return { ...flow, ok, last: lastOf(flow.rec, name, '1') };
}

/** The last record of a task. */
function lastOf(rec: Recorder, step: string, sequence: string): TransitionRecord {
  const records = rec.of(step, sequence);
  assert.ok(records.length > 0, `no record of ${step}/${sequence}: ${rec.describe()}`);
  return records[records.length - 1];
}

/** Asserts that a task failed, and returns its error record. */
function failureOf(rec: Recorder, step: string, sequence = '1') {
  const last = lastOf(rec, step, sequence);
  assert.equal(last.status, 'failure', `${step}/${sequence} ended ${last.status}: ${rec.describe()}`);
  assert.ok(last.error, 'a failure carries its error');
  assert.equal(last.error instanceof Error, false, 'the error of a record is plain data');
  return last.error;
}

/** Asserts that a task succeeded, and returns its result. */
function resultOf(rec: Recorder, step: string, sequence = '1'): unknown {
  const last = lastOf(rec, step, sequence);
  assert.equal(last.status, 'success', `${step}/${sequence} ended ${last.status} (${last.error?.name}: ${last.error?.message}): ${rec.describe()}`);
  return last.result;
}

interface Described {
  pid: number;
  threadId: number;
  args: unknown[];
  step: { name: string; sequence: string; recovery: number; runId: string; logger: string };
  env: { name?: string; sequence?: string; recovery?: string; logger?: string; own?: string; prefixed?: string };
}

function tempDir(t: TestContext): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'eventor-executors-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// -- command executor ------------------------------------------------------------------------

test('command: an array runs without a shell, its arguments passed literally', LIMIT, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'echo', { command: ['echo', 'two  spaces $HOME `id` ; |'] });
  assert.equal(ok, true);
  assert.deepEqual(resultOf(rec, 'echo'), { exitCode: 0 });
  assert.deepEqual(messages('echo', '1', 'INFO').filter((m) => m.startsWith('two')), ['two  spaces $HOME `id` ; |']);
});

test('command: a string runs through /bin/sh -c, so pipes and variables work', LIMIT, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'pipe', { command: 'echo a b | wc -w; echo "[$0]"' });
  assert.equal(ok, true);
  assert.deepEqual(resultOf(rec, 'pipe'), { exitCode: 0 });
  const out = messages('pipe', '1', 'INFO');
  assert.ok(out.some((m) => m.trim() === '2'), `wc -w counted 2 words: ${JSON.stringify(out)}`);
  assert.ok(out.includes('[/bin/sh]'), `the shell is /bin/sh: ${JSON.stringify(out)}`);
});

test('command: cwd and env of addStep apply, over the environment of this process', LIMIT, async (t) => {
  const dir = tempDir(t);
  const { ok, rec, messages } = await runOne(t, 'where', { command: 'pwd; echo "own=$FIXTURE_OWN_VAR"; echo "path=${PATH:+set}"', cwd: dir, env: { FIXTURE_OWN_VAR: 'a value with spaces' } });
  assert.equal(ok, true, rec.describe());
  const out = messages('where', '1', 'INFO');
  assert.ok(out.includes(dir), `pwd is ${dir}: ${JSON.stringify(out)}`);
  assert.ok(out.includes('own=a value with spaces'), JSON.stringify(out));
  assert.ok(out.includes('path=set'), `PATH is inherited: ${JSON.stringify(out)}`);
});

test('command: exit code 0 is success with result { exitCode: 0 }', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'fine', { command: ['true'] });
  assert.equal(ok, true);
  assert.deepEqual(rec.statuses('fine', '1'), ['ready', 'active', 'success']);
  assert.deepEqual(resultOf(rec, 'fine'), { exitCode: 0 });
});

test('command: a non-zero exit code is a failure saying "exited with code 3"', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'three', { command: 'echo before; exit 3' });
  assert.equal(ok, false);
  const error = failureOf(rec, 'three');
  assert.equal(error.name, 'CommandFailedError');
  assert.match(error.message, /exited with code 3/);
});

test('command: a non-zero exit code of an array command fails the same way', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'false', { command: ['false'] });
  assert.equal(ok, false);
  assert.match(failureOf(rec, 'false').message, /exited with code 1/);
});

test('command: a program killed by a signal fails naming the signal', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'killed', { command: 'kill -9 $$' });
  assert.equal(ok, false);
  const error = failureOf(rec, 'killed');
  assert.match(error.message, /SIGKILL/);
  assert.doesNotMatch(error.message, /exited with code/);
});

test('command: stdout lines reach the task log at info and stderr lines at warn', LIMIT, async (t) => {
  const { ok, messages, lines } = await runOne(t, 'talk', { command: 'echo out one; echo err one >&2; echo out two; echo err two >&2' });
  assert.equal(ok, true);
  assert.deepEqual(messages('talk', '1', 'INFO').filter((m) => m.startsWith('out')), ['out one', 'out two']);
  assert.deepEqual(messages('talk', '1', 'WARN').filter((m) => m.startsWith('err')), ['err one', 'err two']);
  // The lines carry the task's logger name.
  assert.ok(lines.some((line) => line.includes('][ Task-talk(1) ][ INFO ][ out one ]')), lines.join('\n'));
});

test('command: the sequence appears in the task log name', LIMIT, async (t) => {
  const { ev, rec, messages } = logged(t);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('seq', { command: 'echo "I am $EVENTOR_STEP_SEQUENCE"' }));
  ev.triggerEvent(go, 'a-7');
  assert.equal(await ev.run(), true, rec.describe());
  assert.deepEqual(messages('seq', 'a-7', 'INFO').filter((m) => m.startsWith('I am')), ['I am a-7']);
});

test('command: a program that does not exist fails with "command not found: <prog>"', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'missing', { command: ['no-such-program-eventor-xyz', 'arg'] });
  assert.equal(ok, false);
  assert.match(failureOf(rec, 'missing').message, /command not found: no-such-program-eventor-xyz/);
});

test('command: the step environment variables are set', LIMIT, async (t) => {
  const { ok, messages } = await runOne(t, 'envs', { command: 'echo "vars=$EVENTOR_STEP_NAME|$EVENTOR_STEP_SEQUENCE|$EVENTOR_STEP_RECOVERY|$EVENTOR_LOGGER_NAME"' });
  assert.equal(ok, true);
  assert.deepEqual(messages('envs', '1', 'INFO').filter((m) => m.startsWith('vars=')), ['vars=envs|1|0|Task-envs(1)']);
});

test('command: the environment variable prefix follows config.envvarPrefix', LIMIT, async (t) => {
  const { ok, messages } = await runOne(
    t,
    'prefixed',
    { command: 'echo "vars=$SEQUENT_STEP_NAME|$SEQUENT_STEP_SEQUENCE|$SEQUENT_STEP_RECOVERY|$SEQUENT_LOGGER_NAME|${EVENTOR_STEP_NAME:-unset}"' },
    { config: { envvarPrefix: 'SEQUENT_' } },
  );
  assert.equal(ok, true);
  assert.deepEqual(messages('prefixed', '1', 'INFO').filter((m) => m.startsWith('vars=')), ['vars=prefixed|1|0|Task-prefixed(1)|unset']);
});

// -- process executor ------------------------------------------------------------------------

test('process: module + export runs in another process by default, with args then kwargs', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'proc', { module: PROGS, export: 'describe', args: [1, 'two', [3]], kwargs: { k: 'v', n: { m: 1 } } });
  assert.equal(ok, true, rec.describe());
  const result = resultOf(rec, 'proc') as Described;
  assert.notEqual(result.pid, process.pid);
  assert.equal(typeof result.pid, 'number');
  assert.deepEqual(result.args, [1, 'two', [3], { k: 'v', n: { m: 1 } }]);
});

test('process: config.executor "process" runs a module step in a child process', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'proc', { module: PROGS, export: 'describe', config: { executor: 'process' } }, { config: { executor: 'worker' } });
  assert.equal(ok, true, rec.describe());
  assert.notEqual((resultOf(rec, 'proc') as Described).pid, process.pid);
});

test('process: a result with a Map, a Date and nested objects crosses back', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'rich', { module: PROGS, export: 'rich' });
  assert.equal(ok, true, rec.describe());
  const result = resultOf(rec, 'rich') as { map: Map<string, unknown>; date: Date; nested: unknown };
  assert.ok(result.map instanceof Map, `a Map: ${String(result.map)}`);
  assert.deepEqual([...result.map.entries()], [['a', 1], ['b', { deep: [1, 2, 3] }]]);
  assert.ok(result.date instanceof Date, `a Date: ${String(result.date)}`);
  assert.equal(result.date.toISOString(), '2024-02-03T04:05:06.789Z');
  assert.deepEqual(result.nested, { list: [1, 'two', { three: 3 }], empty: {}, nothing: null });
});

test('process: currentStep() gives name, sequence and recovery, and the step environment variables are set', LIMIT, async (t) => {
  const { ev, rec } = logged(t);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('who', { module: PROGS, export: 'describe', env: { FIXTURE_OWN_VAR: 'own value' } }));
  ev.triggerEvent(go, 'x9');
  assert.equal(await ev.run(), true, rec.describe());
  const result = resultOf(rec, 'who', 'x9') as Described;
  assert.deepEqual(result.step, { name: 'who', sequence: 'x9', recovery: 0, runId: ev.runId, logger: 'Task-who(x9)' });
  assert.deepEqual(result.env, { name: 'who', sequence: 'x9', recovery: '0', logger: 'Task-who(x9)', own: 'own value', prefixed: undefined });
});

test('process: the environment variable prefix follows config.envvarPrefix', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'pre', { module: PROGS, export: 'describe' }, { config: { envvarPrefix: 'SEQUENT_' } });
  assert.equal(ok, true, rec.describe());
  const result = resultOf(rec, 'pre') as Described;
  assert.equal(result.env.prefixed, 'pre');
  assert.equal(result.env.name, undefined);
});

test('process: currentStep().logger lines and console output reach the task log', LIMIT, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'talk', { module: PROGS, export: 'logs' });
  assert.equal(ok, true, rec.describe());
  assert.equal(resultOf(rec, 'talk'), 'logged');
  assert.ok(messages('talk', '1', 'INFO').includes('fixture logger info line'), JSON.stringify(messages('talk', '1', 'INFO')));
  assert.ok(messages('talk', '1', 'WARN').includes('fixture logger warn line'), JSON.stringify(messages('talk', '1', 'WARN')));
  assert.ok(messages('talk', '1', 'INFO').includes('fixture console line'), JSON.stringify(messages('talk', '1', 'INFO')));
});

test('process: an error thrown keeps its name and message', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'throws', { module: PROGS, export: 'throws' });
  assert.equal(ok, false);
  const error = failureOf(rec, 'throws');
  assert.equal(error.name, 'FixtureError');
  assert.equal(error.message, 'the fixture failed on purpose');
});

test('process: a result that cannot cross (a function) fails saying it cannot cross from its process', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'fn', { module: PROGS, export: 'returnsFunction' });
  assert.equal(ok, false);
  const error = failureOf(rec, 'fn');
  assert.match(error.message, /cannot cross from its process/);
  assert.match(error.message, /'fn'/);
});

test('process: a step that kills its own process fails saying it was killed by SIGKILL, and the run goes on', LIMIT, async (t) => {
  const { ev, rec } = logged(t);
  const go = ev.addEvent('go');
  const died = ev.addEvent('died');
  ev.addAssoc(go, ev.addStep('suicide', { module: PROGS, export: 'killSelf', triggers: { failure: [died] } }));
  ev.addAssoc(died, ev.addStep('after', { module: PROGS, export: 'describe' }));
  ev.addAssoc(go, ev.addStep('beside', { module: PROGS, export: 'describe' }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, 'the failure was handled by its failure trigger');
  assert.match(failureOf(rec, 'suicide').message, /killed by SIGKILL/);
  assert.equal((resultOf(rec, 'after') as Described).step.name, 'after');
  assert.equal((resultOf(rec, 'beside') as Described).step.name, 'beside');
});

test('process: each task gets its own process', LIMIT, async (t) => {
  const { ev, rec } = logged(t);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('many', { module: PROGS, export: 'describe' }));
  for (const seq of [1, 2, 3]) ev.triggerEvent(go, seq);
  assert.equal(await ev.run(), true, rec.describe());
  const pids = ['1', '2', '3'].map((seq) => (resultOf(rec, 'many', seq) as Described).pid);
  assert.equal(new Set(pids).size, 3, `pids ${pids}`);
  assert.ok(!pids.includes(process.pid));
});

// -- worker executor -------------------------------------------------------------------------

test('worker: config.executor "worker" runs in a worker thread of this process', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'thread', { module: PROGS, export: 'describe', args: ['a'], kwargs: { b: 2 }, config: { executor: 'worker' } });
  assert.equal(ok, true, rec.describe());
  const result = resultOf(rec, 'thread') as Described;
  assert.notEqual(result.threadId, 0);
  assert.equal(result.pid, process.pid);
  assert.deepEqual(result.args, ['a', { b: 2 }]);
});

test('worker: the run-wide config.executor "worker" applies to module steps', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'thread', { module: PROGS, export: 'describe' }, { config: { executor: 'worker' } });
  assert.equal(ok, true, rec.describe());
  const result = resultOf(rec, 'thread') as Described;
  assert.notEqual(result.threadId, 0);
  assert.equal(result.pid, process.pid);
});

test('worker: the run-wide executor does not change func or command steps', LIMIT, async (t) => {
  const { ev, rec } = logged(t, { config: { executor: 'worker' } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('inline', { func: () => process.pid }));
  ev.addAssoc(go, ev.addStep('cmd', { command: ['true'] }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(resultOf(rec, 'inline'), process.pid);
  assert.deepEqual(resultOf(rec, 'cmd'), { exitCode: 0 });
});

test('worker: config.workers bounds the pool: with 2 workers, never more than 2 of 6 tasks at once', LONG, async (t) => {
  const { ev, rec } = logged(t, { config: { workers: 2, executor: 'worker' } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('span', { module: PROGS, export: 'span', args: [150] }));
  for (let seq = 1; seq <= 6; seq++) ev.triggerEvent(go, seq);
  assert.equal(await ev.run(), true, rec.describe());
  const spans = ['1', '2', '3', '4', '5', '6'].map((seq) => resultOf(rec, 'span', seq) as { start: number; end: number; threadId: number });
  // At each start, count the tasks running: started at or before it, not yet ended.
  const most = Math.max(...spans.map(({ start }) => spans.filter((other) => other.start <= start && start < other.end).length));
  assert.ok(most <= 2, `at most 2 at once, saw ${most}: ${JSON.stringify(spans)}`);
  assert.ok(spans.every(({ threadId }) => threadId !== 0));
  assert.ok(new Set(spans.map(({ threadId }) => threadId)).size <= 2, `threads are reused: ${JSON.stringify(spans.map((s) => s.threadId))}`);
});

test('worker: a result crosses by structured clone (a Map, a Date, nested objects)', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'rich', { module: PROGS, export: 'rich', config: { executor: 'worker' } });
  assert.equal(ok, true, rec.describe());
  const result = resultOf(rec, 'rich') as { map: Map<string, unknown>; date: Date; nested: unknown };
  assert.ok(result.map instanceof Map);
  assert.deepEqual([...result.map.entries()], [['a', 1], ['b', { deep: [1, 2, 3] }]]);
  assert.ok(result.date instanceof Date);
  assert.equal(result.date.toISOString(), '2024-02-03T04:05:06.789Z');
  assert.deepEqual(result.nested, { list: [1, 'two', { three: 3 }], empty: {}, nothing: null });
});

test('worker: an unclonable result fails saying it cannot cross from its worker thread', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'fn', { module: PROGS, export: 'returnsFunction', config: { executor: 'worker' } });
  assert.equal(ok, false);
  const error = failureOf(rec, 'fn');
  assert.match(error.message, /cannot cross from its worker thread/);
  assert.match(error.message, /'fn'/);
});

test('worker: an error thrown keeps its name and message', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'throws', { module: PROGS, export: 'throws', config: { executor: 'worker' } });
  assert.equal(ok, false);
  const error = failureOf(rec, 'throws');
  assert.equal(error.name, 'FixtureError');
  assert.equal(error.message, 'the fixture failed on purpose');
});

test('worker: currentStep() and the step environment variables work in the thread', LIMIT, async (t) => {
  const { ev, rec } = logged(t, { config: { executor: 'worker' } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('who', { module: PROGS, export: 'describe', env: { FIXTURE_OWN_VAR: 'threaded' } }));
  ev.triggerEvent(go, 5);
  assert.equal(await ev.run(), true, rec.describe());
  const result = resultOf(rec, 'who', '5') as Described;
  assert.deepEqual(result.step, { name: 'who', sequence: '5', recovery: 0, runId: ev.runId, logger: 'Task-who(5)' });
  assert.deepEqual(result.env, { name: 'who', sequence: '5', recovery: '0', logger: 'Task-who(5)', own: 'threaded', prefixed: undefined });
  assert.equal(process.env.FIXTURE_OWN_VAR, undefined, 'the step env does not leak into this process');
});

test('worker: a thread reused by the next task sees that task\'s environment, not the last one\'s', LIMIT, async (t) => {
  const { ev, rec } = logged(t, { config: { executor: 'worker', workers: 1 } });
  const go = ev.addEvent('go');
  const next = ev.addEvent('next');
  ev.addAssoc(go, ev.addStep('first', { module: PROGS, export: 'describe', env: { FIXTURE_OWN_VAR: 'first only' }, triggers: { success: [next] } }));
  ev.addAssoc(next, ev.addStep('second', { module: PROGS, export: 'describe' }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  const first = resultOf(rec, 'first') as Described;
  const second = resultOf(rec, 'second') as Described;
  assert.equal(first.env.own, 'first only');
  assert.equal(second.threadId, first.threadId, 'one thread ran both');
  assert.equal(second.env.own, undefined);
  assert.equal(second.env.name, 'second');
});

test('worker: currentStep().logger lines reach the task log', LIMIT, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'talk', { module: PROGS, export: 'logs', config: { executor: 'worker' } });
  assert.equal(ok, true, rec.describe());
  assert.ok(messages('talk', '1', 'INFO').includes('fixture logger info line'), JSON.stringify(messages('talk', '1', 'INFO')));
  assert.ok(messages('talk', '1', 'WARN').includes('fixture logger warn line'), JSON.stringify(messages('talk', '1', 'WARN')));
});

test('worker: console.log output of a step that keeps running reaches the task log', LIMIT, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'print', { module: PROGS, export: 'printsThenWaits', args: [300], config: { executor: 'worker' } });
  assert.equal(ok, true, rec.describe());
  assert.ok(messages('print', '1', 'INFO').includes('fixture console line, then a wait'), JSON.stringify(messages('print', '1', 'INFO')));
});

test('worker: console.log output written just before the step returns reaches the task log', LIMIT, async (t) => {
  // Each of 8 tasks prints 500 lines and returns at once; every line must reach its task's log.
  const { ev, rec, messages } = logged(t, { config: { executor: 'worker', workers: 2 } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('talk', { module: PROGS, export: 'printsMany', args: [500] }));
  const sequences = ['1', '2', '3', '4', '5', '6', '7', '8'];
  for (const seq of sequences) ev.triggerEvent(go, seq);
  assert.equal(await ev.run(), true, rec.describe());
  // Thread output is piped asynchronously: give it time to arrive after the results.
  const printed = (seq: string) => messages('talk', seq, 'INFO').filter((m) => m.startsWith('line '));
  for (let i = 0; i < 50 && sequences.some((seq) => printed(seq).length < 500); i++) await sleep(20);
  const kept = Object.fromEntries(sequences.map((seq) => [seq, printed(seq).length]));
  assert.deepEqual(kept, Object.fromEntries(sequences.map((seq) => [seq, 500])), `lines kept per task: ${JSON.stringify(kept)}`);
});

// -- validation before anything runs ---------------------------------------------------------

/** Builds a flow whose `probe` step would record a call, adds `bad`, and runs it. */
async function refused(t: TestContext, bad: AddStepOptions, options: EventorOptions = {}) {
  const { ev, rec } = logged(t, options);
  const calls: string[] = [];
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('probe', { func: () => calls.push('probe') }));
  ev.addAssoc(go, ev.addStep('bad', bad));
  ev.triggerEvent(go, 1);
  const error = await errorOf(() => ev.run());
  assert.deepEqual(calls, [], 'no step ran');
  assert.deepEqual(rec.records, [], 'no task was recorded');
  return error as Error;
}

test('validation: a module that does not exist is a StepCodeError naming step and module', LIMIT, async (t) => {
  const error = await refused(t, { module: './test/fixtures/steps/no-such-module.ts', export: 'describe' });
  assert.ok(error instanceof StepCodeError, String(error));
  assert.equal(error.name, 'StepCodeError');
  assert.match(error.message, /'bad'/);
  assert.match(error.message, /no-such-module\.ts/);
});

test('validation: a module without the export is a StepCodeError naming step, module and export', LIMIT, async (t) => {
  const error = await refused(t, { module: PROGS, export: 'noSuchExport' });
  assert.ok(error instanceof StepCodeError, String(error));
  assert.match(error.message, /'bad'/);
  assert.ok(error.message.includes(PROGS), error.message);
  assert.match(error.message, /noSuchExport/);
});

test('validation: an export that is not a function is a StepCodeError', LIMIT, async (t) => {
  const error = await refused(t, { module: PROGS, export: 'notAFunction' });
  assert.ok(error instanceof StepCodeError, String(error));
  assert.match(error.message, /'bad'/);
});

test('validation: a func with config.executor "worker" is a ConfigError naming the step', LIMIT, async (t) => {
  const error = await refused(t, { func: () => 1, config: { executor: 'worker' } });
  assert.ok(error instanceof ConfigError, String(error));
  assert.ok(error instanceof ValidationError);
  assert.match(error.message, /'bad'/);
});

test('validation: a func with config.executor "process" is a ConfigError naming the step', LIMIT, async (t) => {
  const error = await refused(t, { func: () => 1, config: { executor: 'process' } });
  assert.ok(error instanceof ConfigError, String(error));
  assert.match(error.message, /'bad'/);
});

test('validation: a command with an empty array is a ConfigError', LIMIT, async (t) => {
  const error = await refused(t, { command: [] });
  assert.ok(error instanceof ConfigError, String(error));
  assert.match(error.message, /'bad'/);
});

test('validation: a blank shell line is a ConfigError', LIMIT, async (t) => {
  const error = await refused(t, { command: '   ' });
  assert.ok(error instanceof ConfigError, String(error));
});

test('validation: a command with config.executor "worker" is a ConfigError', LIMIT, async (t) => {
  const error = await refused(t, { command: ['true'], config: { executor: 'worker' } });
  assert.ok(error instanceof ConfigError, String(error));
  assert.match(error.message, /'bad'/);
});

test('validation: a negative timeout is a ConfigError', LIMIT, async (t) => {
  const error = await refused(t, { func: () => 1, config: { timeout: -1 } });
  assert.ok(error instanceof ConfigError, String(error));
  assert.match(error.message, /'bad'/);
});

// -- timeouts --------------------------------------------------------------------------------

test('timeout: an inline step that never resolves fails with StepTimeoutError at its deadline', LIMIT, async (t) => {
  const { ok, rec } = await runOne(t, 'stuck', { func: () => new Promise(() => {}), config: { timeout: 0.2 } });
  assert.equal(ok, false);
  const error = failureOf(rec, 'stuck');
  assert.equal(error.name, 'StepTimeoutError');
  assert.match(error.message, /'stuck'/);
  assert.match(error.message, /timed out after 0\.2 s/);
  const active = rec.find('stuck', '1', 'active').at;
  assert.ok(lastOf(rec, 'stuck', '1').at - active >= 150, 'not before its deadline');
});

test('timeout: an inline step whose function resolves after the deadline still fails as timed out', LIMIT, async (t) => {
  let resolvedLate = false;
  const { ok, rec } = await runOne(t, 'late', {
    func: async () => {
      await sleep(1_000);
      resolvedLate = true;
      return 'too late';
    },
    config: { timeout: 0.2 },
  });
  assert.equal(ok, false);
  assert.equal(resolvedLate, false, 'run() did not wait for the function');
  assert.equal(failureOf(rec, 'late').name, 'StepTimeoutError');
  await sleep(1_000);
  assert.equal(resolvedLate, true);
  assert.deepEqual(rec.statuses('late', '1'), ['ready', 'active', 'failure'], 'its late result changes nothing');
});

test('timeout: currentStep().signal aborts with the StepTimeoutError', LIMIT, async (t) => {
  let reason: unknown;
  const { ok, rec } = await runOne(t, 'signalled', {
    func: () =>
      new Promise<void>((_, reject) => {
        const { signal } = currentStep();
        signal.addEventListener('abort', () => reject((reason = signal.reason)));
      }),
    config: { timeout: 0.2 },
  });
  assert.equal(ok, false);
  assert.ok(reason instanceof StepTimeoutError, `signal.reason is ${String(reason)}`);
  const error = failureOf(rec, 'signalled');
  assert.equal(error.name, 'StepTimeoutError');
  assert.equal(error.message, (reason as Error).message);
});

test('timeout: an inline step that returns as soon as its signal aborts still fails as timed out', LIMIT, async (t) => {
  let reason: unknown;
  const { ok, rec } = await runOne(t, 'cleanup', {
    func: () =>
      new Promise<string>((resolve) => {
        const { signal } = currentStep();
        signal.addEventListener('abort', () => {
          reason = signal.reason;
          resolve('cleaned up');
        });
      }),
    config: { timeout: 0.2 },
  });
  assert.ok(reason instanceof StepTimeoutError, `signal.reason is ${String(reason)}`);
  assert.equal(ok, false, `the step ran past its timeout, and ended ${rec.describe()}`);
  assert.equal(failureOf(rec, 'cleanup').name, 'StepTimeoutError');
});

test('timeout: a step that finishes in time succeeds and its signal never aborts', LIMIT, async (t) => {
  let aborted: boolean | undefined;
  const { ok, rec } = await runOne(t, 'quick', {
    func: async () => {
      const { signal } = currentStep();
      await sleep(20);
      aborted = signal.aborted;
      return 'in time';
    },
    config: { timeout: 5 },
  });
  assert.equal(ok, true);
  assert.equal(resultOf(rec, 'quick'), 'in time');
  assert.equal(aborted, false);
});

test('timeout: a hanging command is terminated and fails with StepTimeoutError', LIMIT, async (t) => {
  const started = Date.now();
  const { ok, rec } = await runOne(t, 'sleeper', { command: ['sleep', '30'], config: { timeout: 0.3 } });
  assert.ok(Date.now() - started < 20_000, 'run() did not wait for sleep 30');
  assert.equal(ok, false);
  const error = failureOf(rec, 'sleeper');
  assert.equal(error.name, 'StepTimeoutError');
});

test('timeout: a shell line that started a grandchild is stopped too', LIMIT, async (t) => {
  const started = Date.now();
  const { ok, rec, messages } = await runOne(t, 'shell', { command: 'sleep 30; echo never', config: { timeout: 0.3 } });
  assert.ok(Date.now() - started < 20_000, 'run() did not wait for the grandchild');
  assert.equal(ok, false);
  assert.equal(failureOf(rec, 'shell').name, 'StepTimeoutError');
  assert.ok(!messages('shell', '1', 'INFO').includes('never'));
});

test('timeout: a shell line whose grandchild ignores SIGTERM is killed after killGrace', LIMIT, async (t) => {
  const started = Date.now();
  const { ok, rec, messages } = await runOne(t, 'stubborn', { command: "sh -c 'trap \"\" TERM; sleep 30'; echo never", config: { timeout: 0.3 } }, { config: { killGrace: 0.3 } });
  assert.ok(Date.now() - started < 20_000);
  assert.equal(ok, false);
  assert.equal(failureOf(rec, 'stubborn').name, 'StepTimeoutError');
  assert.ok(!messages('stubborn', '1', 'INFO').includes('never'));
});

test('timeout: a hanging process step is terminated and fails with StepTimeoutError', LONG, async (t) => {
  const started = Date.now();
  const { ok, rec } = await runOne(t, 'hang', { module: PROGS, export: 'hang', config: { timeout: 0.3 } }, { config: { killGrace: 0.5 } });
  assert.ok(Date.now() - started < 20_000);
  assert.equal(ok, false);
  assert.equal(failureOf(rec, 'hang').name, 'StepTimeoutError');
});

// The timeout of these two leaves the child process time to start and to call the step, so
// that the step is running (and watching its signal) when the deadline passes.
test('timeout: a process step that honours its signal at the deadline fails with StepTimeoutError', LONG, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'polite', { module: PROGS, export: 'untilAborted', config: { timeout: 3 } }, { config: { killGrace: 10 } });
  assert.ok(messages('polite', '1', 'INFO').includes('waiting for my signal'), 'the step was running at its deadline');
  assert.equal(ok, false);
  const error = failureOf(rec, 'polite');
  assert.equal(error.name, 'StepTimeoutError', `failed with ${error.name}: ${error.message}`);
});

test('timeout: a process step that returns once its signal aborts still fails as timed out', LONG, async (t) => {
  const { ok, rec, messages } = await runOne(t, 'cleanup', { module: PROGS, export: 'resolvesWhenAborted', config: { timeout: 3 } }, { config: { killGrace: 10 } });
  assert.ok(messages('cleanup', '1', 'INFO').includes('waiting for my signal'), 'the step was running at its deadline');
  assert.equal(ok, false, `the step ran past its timeout, and ended ${rec.describe()}`);
  assert.equal(failureOf(rec, 'cleanup').name, 'StepTimeoutError');
});

test('timeout: a hanging worker step is terminated and fails with StepTimeoutError', LIMIT, async (t) => {
  const started = Date.now();
  const { ok, rec } = await runOne(t, 'hang', { module: PROGS, export: 'hang', config: { executor: 'worker', timeout: 0.3 } });
  assert.ok(Date.now() - started < 20_000);
  assert.equal(ok, false);
  assert.equal(failureOf(rec, 'hang').name, 'StepTimeoutError');
});

test('timeout: a later step of the same worker pool still runs after a terminated one', LIMIT, async (t) => {
  const { ev, rec } = logged(t, { config: { executor: 'worker', workers: 1 } });
  const go = ev.addEvent('go');
  const timedOut = ev.addEvent('timedOut');
  ev.addAssoc(go, ev.addStep('hang', { module: PROGS, export: 'hang', config: { timeout: 0.3 }, triggers: { failure: [timedOut] } }));
  ev.addAssoc(timedOut, ev.addStep('next', { module: PROGS, export: 'describe' }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true, rec.describe());
  assert.equal(failureOf(rec, 'hang').name, 'StepTimeoutError');
  const next = resultOf(rec, 'next') as Described;
  assert.notEqual(next.threadId, 0);
  assert.equal(next.step.name, 'next');
});

test('timeout: tasks queued behind a terminated worker in a full pool still run', LIMIT, async (t) => {
  const { ev, rec } = logged(t, { config: { executor: 'worker', workers: 1 } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('hang', { module: PROGS, export: 'hang', config: { timeout: 0.3, stopOnException: false } }));
  ev.addAssoc(go, ev.addStep('queued', { module: PROGS, export: 'describe' }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), false);
  assert.equal(failureOf(rec, 'hang').name, 'StepTimeoutError');
  assert.equal((resultOf(rec, 'queued') as Described).step.name, 'queued');
});

// -- cancel ----------------------------------------------------------------------------------

test('cancel: ev.cancel() stops a running command, run() resolves false, and the task is on record', LIMIT, async (t) => {
  const { ev, rec, messages } = logged(t);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('sleeper', { command: 'echo started; sleep 30; echo never' }));
  ev.triggerEvent(go, 1);
  const begun = Date.now();
  const run = ev.run();
  for (let i = 0; i < 250 && !messages('sleeper', '1', 'INFO').includes('started'); i++) await sleep(20);
  assert.ok(messages('sleeper', '1', 'INFO').includes('started'), 'the command started');
  await ev.cancel('operator asked');
  assert.equal(await run, false);
  assert.ok(Date.now() - begun < 20_000, 'the command was stopped, not waited for');
  assert.ok(!messages('sleeper', '1', 'INFO').includes('never'));
  const last = lastOf(rec, 'sleeper', '1');
  assert.equal(last.status, 'failure', rec.describe());
  assert.equal(last.error?.name, 'CancelledError');
  assert.match(last.error?.message ?? '', /operator asked/);
});

test('cancel: ev.cancel() stops an array command (SIGTERM)', LIMIT, async (t) => {
  const { ev, rec } = logged(t);
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('sleeper', { command: ['sleep', '30'] }));
  ev.triggerEvent(go, 1);
  const begun = Date.now();
  const run = ev.run();
  for (let i = 0; i < 250 && rec.indexOf('sleeper', '1', 'active') < 0; i++) await sleep(20);
  await sleep(100);
  await ev.cancel();
  assert.equal(await run, false);
  assert.ok(Date.now() - begun < 20_000);
  assert.equal(lastOf(rec, 'sleeper', '1').status, 'failure', rec.describe());
  assert.equal(lastOf(rec, 'sleeper', '1').error?.name, 'CancelledError');
});

test('cancel: ev.cancel() stops a running worker step', LIMIT, async (t) => {
  const { ev, rec } = logged(t, { config: { executor: 'worker' } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('hang', { module: PROGS, export: 'hang' }));
  ev.triggerEvent(go, 1);
  const run = ev.run();
  for (let i = 0; i < 250 && rec.indexOf('hang', '1', 'active') < 0; i++) await sleep(20);
  await sleep(200);
  await ev.cancel('enough');
  assert.equal(await run, false);
  const last = lastOf(rec, 'hang', '1');
  assert.equal(last.status, 'failure', rec.describe());
  assert.equal(last.error?.name, 'CancelledError');
});

test('cancel: ev.cancel() stops a running process step', LIMIT, async (t) => {
  const { ev, rec, messages } = logged(t, { config: { killGrace: 0.5 } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('polite', { module: PROGS, export: 'untilAborted' }));
  ev.addAssoc(go, ev.addStep('stubborn', { module: PROGS, export: 'hang' }));
  ev.triggerEvent(go, 1);
  const begun = Date.now();
  const run = ev.run();
  for (let i = 0; i < 400 && !messages('polite', '1', 'INFO').includes('waiting for my signal'); i++) await sleep(20);
  await ev.cancel('enough');
  assert.equal(await run, false);
  assert.ok(Date.now() - begun < 20_000);
  for (const step of ['polite', 'stubborn']) {
    const last = lastOf(rec, step, '1');
    assert.equal(last.status, 'failure', rec.describe());
    assert.equal(last.error?.name, 'CancelledError', `${step}: ${last.error?.message}`);
  }
});
