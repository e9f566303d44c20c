// Steps that finish from outside: a step's code calls currentStep().defer() and returns the
// token; the task stays active, holding no concurrency slot, until `eventor complete TOKEN` or
// completeStep() finishes it, over a real nats-server. The token is in the store, so a
// supervisor killed and recovered keeps waiting for it, and the step does not run again.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { completeStep, currentStep, EventorError, StepTimeoutError, TriggerRefusedError, type TransitionRecord } from '../src/index.js';
import { CLI, Cluster, linesOf, until } from './cluster-helpers.js';
import { errorOf, makeEventor, Recorder, tempDir } from './helpers.js';

const LIMIT = { timeout: 120_000 } as const;
const SUPERVISOR = fileURLToPath(new URL('./fixtures/defer/supervisor.ts', import.meta.url));

/** Runs the built CLI without blocking this process, whose own supervisor must answer it meanwhile. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The token of the first deferred transition of `step`, once there is one. */
async function tokenOf(recorder: Recorder, step: string): Promise<string> {
  let found: TransitionRecord | undefined;
  await until(() => (found = recorder.records.find((r) => r.step === step && r.deferred !== undefined)) !== undefined, `${step} to defer`, 30_000, () => recorder.describe());
  return found!.deferred as string;
}

test('a deferred step stays active until completeStep() finishes it with a result; a second completion is refused', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const { ev, recorder } = cluster.eventor();
  let ran = 0;
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  ev.addAssoc(start, ev.addStep('approve', { func: () => (ran++, currentStep().defer()), triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('after', { func: () => 'after ran' }));
  ev.triggerEvent(start, 1);
  const running = ev.run();
  const token = await tokenOf(recorder, 'approve');
  assert.equal(ev.statusOf?.('approve', '1') ?? recorder.statuses('approve', '1').at(-1), 'active');
  assert.equal(recorder.runs('after'), 0, 'nothing after the deferred step runs before it is completed');
  await completeStep({ nats: cluster.url, token, result: { approvedBy: 'ops' } });
  assert.equal(await running, true, recorder.describe());
  assert.deepEqual(recorder.find('approve', '1', 'success').result, { approvedBy: 'ops' });
  assert.equal(recorder.find('after', '1', 'success').result, 'after ran');
  assert.equal(ran, 1);
  const again = await errorOf(() => completeStep({ nats: cluster.url, token, result: 2 }));
  assert.ok(again instanceof TriggerRefusedError, String(again));
  assert.match((again as Error).message, /not running|completed already/);
});

test('`eventor complete TOKEN --failed` fails a deferred step from the command line; a token nobody knows is refused', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const { ev, recorder } = cluster.eventor();
  ev.addAssoc(ev.addEvent('start'), ev.addStep('wait', { func: () => currentStep().defer() }));
  ev.addAssoc(ev.addEvent('other'), ev.addStep('never', { func: () => 1 }));
  ev.triggerEvent('start', 1);
  const running = ev.run();
  const token = await tokenOf(recorder, 'wait');
  const forged = `${token.split('.')[0]}.${'A'.repeat(22)}`;
  const refused = await cli('complete', forged, '--nats', cluster.url);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /no deferred step .* waits for this token/);
  const done = await cli('complete', token, '--failed', '--error', 'the ticket was rejected', '--nats', cluster.url);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /as failed/);
  assert.equal(await running, false);
  const failure = recorder.find('wait', '1', 'failure');
  assert.deepEqual([failure.error?.name, failure.error?.message], ['DeferredStepFailed', 'the ticket was rejected']);
  const garbage = await cli('complete', 'not-a-token', '--nats', cluster.url);
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /is not a token of a deferred step/);
});

test('a deferred step holds no concurrency slot: with maxConcurrent 1 the next step runs while it waits', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const { ev, recorder } = cluster.eventor({ config: { maxConcurrent: 1 } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('deferred', { func: () => currentStep().defer() }), ev.addStep('busy', { func: () => 'ran while the other waited' }));
  ev.triggerEvent(start, 1);
  const running = ev.run();
  const token = await tokenOf(recorder, 'deferred');
  await until(() => recorder.of('busy', '1').some((r) => r.status === 'success'), 'busy to run while deferred waits', 30_000, () => recorder.describe());
  assert.equal(recorder.statuses('deferred', '1').at(-1), 'active');
  await completeStep({ nats: cluster.url, token });
  assert.equal(await running, true);
});

test('config.timeout still bounds the wait of a deferred step', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const { ev, recorder } = cluster.eventor();
  ev.addAssoc(ev.addEvent('start'), ev.addStep('slow', { func: () => currentStep().defer(), config: { timeout: 0.3 } }));
  ev.triggerEvent('start', 1);
  assert.equal(await ev.run(), false);
  const failure = recorder.find('slow', '1', 'failure');
  assert.equal(failure.error?.name, StepTimeoutError.name);
  assert.equal(recorder.records.filter((r) => r.step === 'slow' && r.deferred !== undefined).length, 1);
});

test('defer() without NATS fails the step with an error that says what it needs', LIMIT, async (t) => {
  const saved = process.env.EVENTOR_NATS_URL;
  delete process.env.EVENTOR_NATS_URL;
  t.after(() => (saved === undefined ? undefined : (process.env.EVENTOR_NATS_URL = saved)));
  const ev = makeEventor(t);
  const recorder = new Recorder(ev);
  ev.addAssoc(ev.addEvent('start'), ev.addStep('lonely', { func: () => currentStep().defer() }));
  ev.triggerEvent('start', 1);
  assert.equal(await ev.run(), false);
  const { error } = recorder.find('lonely', '1', 'failure');
  assert.equal(error?.name, EventorError.name);
  assert.match(error?.message ?? '', /called defer\(\), and this run has no NATS.*config\.nats/);
});

test('a deferred step completed from the CLI after its supervisor was killed and recovered: the token holds, the step does not run again', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const store = join(dir, 'store');
  const runs = join(dir, 'runs');
  const supervise = (mode: string) => cluster.spawn(process.execPath, ['--import', import.meta.resolve('tsx'), SUPERVISOR, cluster.url, store, runs, mode], { cwd: dir });
  const first = supervise('restart');
  const [, token] = (await first.waitFor(/deferred with token (\S+)/)) as RegExpMatchArray;
  first.kill('SIGKILL');
  await first.exited;
  const second = supervise('recover');
  await second.waitFor(/Deferred: waits for eventor complete/);
  const done = spawnSync(process.execPath, [CLI, 'complete', token, '--result', '{"by":"cli"}', '--nats', cluster.url], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(done.status, 0, `${done.stdout}${done.stderr}\n${second.output()}`);
  const exit = await second.exited;
  assert.equal(exit.code, 0, second.output());
  assert.match(second.output(), /approve\/1 success \{"by":"cli"\}/);
  assert.match(second.output(), /after\/1 success/);
  assert.deepEqual(linesOf(runs), ['approve ran'], 'the deferred step ran once, before the kill');
});
