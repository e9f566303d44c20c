import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { currentStep, Eventor, RunMode } from '../src/index.js';
import { LIMIT } from './helpers.js';

function folder(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A two-step flow whose second step fails once; logs go to `lines` and to files under `dir`. */
function flow(dir: string, lines: string[], runMode: RunMode = RunMode.restart, fail = true) {
  const ev = new Eventor({ name: 'logged', store: join(dir, 'store'), runMode, logSink: (line) => lines.push(line), config: { logdir: join(dir, 'logs') } });
  const start = ev.addEvent('start');
  const next = ev.addEvent('next');
  ev.addAssoc(start, ev.addStep('hello', { func: () => currentStep().logger.info('hello from the step'), triggers: { success: [next] } }));
  ev.addAssoc(next, ev.addStep('boom', { func: () => { if (fail) throw new RangeError('out of range'); } }));
  ev.triggerEvent(start, 7);
  return ev;
}

test('console lines follow the seed layout with the host: [ time ][ host ][ Task-step(sequence) ][ LEVEL ][ message ]', LIMIT, async (t) => {
  const dir = folder(t);
  const lines: string[] = [];
  const ev = flow(dir, lines);
  assert.equal(await ev.run(), false);
  await ev.close();
  const pattern = new RegExp(`^\\[ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} \\]\\[ ${hostname()} \\]\\[ Task-hello\\(7\\) \\]\\[ INFO \\]\\[ hello from the step \\]$`);
  assert.ok(lines.some((line) => pattern.test(line)), lines.join('\n'));
  assert.equal(lines.filter((line) => line.includes('RangeError: out of range')).length, 1, 'a failed task logs its error and stack once');
});

test('a run on a durable store writes one JSON line per record to a file per run, with runId, recovery, step, sequence, host, level and msg', LIMIT, async (t) => {
  const dir = folder(t);
  const first = flow(dir, []);
  await first.run();
  await first.close();
  const recovery = flow(dir, [], RunMode.recover, false);
  assert.equal(await recovery.run(), true);
  await recovery.close();

  const files = readdirSync(join(dir, 'logs'));
  assert.deepEqual(files, [`logged-${first.runId}.jsonl`], 'one file per run, recoveries included');
  const records = readFileSync(join(dir, 'logs', files[0]), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const said = records.find((record) => record.msg === 'hello from the step');
  assert.ok(said, 'the step logger writes to the file too');
  assert.deepEqual({ runId: said.runId, recovery: said.recovery, step: said.step, sequence: said.sequence, host: said.host, level: said.level }, { runId: first.runId, recovery: 0, step: 'hello', sequence: '7', host: hostname(), level: 30 });
  const failure = records.filter((record) => typeof record.msg === 'string' && record.msg.includes('RangeError: out of range'));
  assert.equal(failure.length, 1);
  assert.equal(failure[0].level, 50);
  assert.ok(records.some((record) => record.recovery === 1 && record.step === 'boom' && String(record.msg).includes('Completed, status: success')));
});

test('logging.level and logging.console are settable', LIMIT, async (t) => {
  const dir = folder(t);
  const lines: string[] = [];
  const ev = new Eventor({ name: 'quiet', store: ':memory:', logSink: (line) => lines.push(line), config: { logging: { level: 'warn' }, logdir: join(dir, 'logs') } });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('s', { func: () => { currentStep().logger.info('not shown'); currentStep().logger.warn('shown'); } }));
  ev.triggerEvent(go, 1);
  await ev.run();
  await ev.close();
  assert.deepEqual(lines.map((line) => line.replace(/^.*\]\[ /, '')), ['shown ]']);

  const silent: string[] = [];
  const off = new Eventor({ name: 'off', store: ':memory:', logSink: (line) => silent.push(line), config: { logging: { console: false } } });
  off.addAssoc(off.addEvent('go'), off.addStep('s', { func: () => currentStep().logger.error('nobody hears this') }));
  off.triggerEvent('go', 1);
  await off.run();
  await off.close();
  assert.deepEqual(silent, []);
});

test('SIGINT to a running eventor run cancels it: the running command is stopped, nothing new starts, and a recovery finishes the run', { timeout: 60_000 }, async (t) => {
  const dir = folder(t);
  const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  const flowFile = fileURLToPath(new URL('./fixtures/interruptible.mjs', import.meta.url));
  const child = spawn(process.execPath, [cli, 'run', flowFile], { cwd: dir, env: { ...process.env, INTERRUPTIBLE_MODE: 'restart' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.includes('[ Step slow/1 ] Trying to run') && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 1, stderr);
  assert.match(stderr, /SIGINT: cancelling the run/);
  assert.match(stderr, /\[ Step slow\/1 \] Completed, status: failure/);
  assert.doesNotMatch(stderr, /\[ Step after\/1 \] Trying to run/);

  const again = spawn(process.execPath, [cli, 'run', flowFile], { cwd: dir, env: { ...process.env, INTERRUPTIBLE_MODE: 'recover', INTERRUPTIBLE_FAST: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let recovered = '';
  again.stderr.on('data', (chunk) => (recovered += chunk));
  assert.equal(await new Promise<number | null>((resolve) => again.on('exit', resolve)), 0, recovered);
  assert.match(recovered, /\[ Step first\/1 \] Skipped: success/);
  assert.match(recovered, /\[ Step after\/1 \] Completed, status: success/);
});
