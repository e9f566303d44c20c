import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { currentStep, Eventor, RunMode } from '../src/index.js';
import { RunLogger } from '../src/observe/log.js';
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

/** The moment the pinned lines are logged at, in local time, as the console prints it. */
const PINNED_AT = new Date(2026, 10, 23, 10, 7, 48, 612);

/** Logs the pinned lines, of every level, through the root, a task's child and a child of that child. */
function logPinnedLines(logger: RunLogger): void {
  logger.root.info('starting "quoted" \\ back');
  const task = logger.root.child('Task-s1(7)', { step: 's1', sequence: '7' });
  task.debug('dbg');
  task.warn('multi\nline\ttab é 😀 \u0001 \ud800');
  task.child('Sub', { sequence: '8' }).error('boom');
  logger.root.child('NoFields').info('x');
  logger.root.child('Undef', { step: undefined, sequence: '3' }).info('y');
}

/** Every chunk written to process.stderr while `fn` runs. */
function stderrOf(fn: () => void): string[] {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return chunks;
}

test('console lines keep their exact bytes on stderr', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: PINNED_AT });
  const chunks = stderrOf(() => {
    const logger = new RunLogger('Run-demo', { host: 'hostA', level: 'debug' });
    logPinnedLines(logger);
    logger.flush();
  });
  const time = '2026-11-23 10:07:48,612';
  assert.equal(chunks.join(''), [
    `[ ${time} ][ hostA ][ Run-demo ][ INFO ][ starting "quoted" \\ back ]\n`,
    `[ ${time} ][ hostA ][ Task-s1(7) ][ DEBUG ][ dbg ]\n`,
    `[ ${time} ][ hostA ][ Task-s1(7) ][ WARN ][ multi\nline\ttab é 😀 \u0001 \ud800 ]\n`,
    `[ ${time} ][ hostA ][ Sub ][ ERROR ][ boom ]\n`,
    `[ ${time} ][ hostA ][ NoFields ][ INFO ][ x ]\n`,
    `[ ${time} ][ hostA ][ Undef ][ INFO ][ y ]\n`,
  ].join(''));
});

test('JSON log lines keep their exact keys, order, levels and escapes', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: PINNED_AT });
  const path = join(folder(t), 'logs', 'run.jsonl');
  const logger = new RunLogger('Run-demo', { host: 'hostA', level: 'debug', console: false });
  logger.attachFile(path, { runId: 'R1', recovery: 2 });
  logPinnedLines(logger);
  await logger.close();
  const head = `{"time":"${PINNED_AT.toISOString()}","runId":"R1","recovery":2,"host":"hostA"`;
  const at = (level: number) => head.replace('{', `{"level":${level},`);
  assert.equal(readFileSync(path, 'utf8'), [
    `${at(30)},"logger":"Run-demo","msg":"starting \\"quoted\\" \\\\ back"}\n`,
    `${at(20)},"step":"s1","sequence":"7","logger":"Task-s1(7)","msg":"dbg"}\n`,
    `${at(40)},"step":"s1","sequence":"7","logger":"Task-s1(7)","msg":"multi\\nline\\ttab é 😀 \\u0001 \\ud800"}\n`,
    `${at(50)},"step":"s1","sequence":"8","logger":"Sub","msg":"boom"}\n`,
    `${at(30)},"logger":"NoFields","msg":"x"}\n`,
    `${at(30)},"sequence":"3","logger":"Undef","msg":"y"}\n`,
  ].join(''));
});

/** A console stream that keeps each write it gets, as one chunk. */
function fakeStream() {
  const writes: string[] = [];
  return { writes, stream: { write: (chunk: string) => writes.push(chunk) } };
}

const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const messageOf = (line: string) => /\]\[ ([^\]]*) \]$/.exec(line)?.[1];
/** The messages of the console lines in `text`, each line ended by its newline. */
const messagesOf = (text: string) => text.split('\n').slice(0, -1).map(messageOf);

test('the console lines of one turn of the event loop are written in one write', async () => {
  const { writes, stream } = fakeStream();
  const logger = new RunLogger('Run-turn', { host: 'h', stream });
  const task = logger.root.child('Task-s(1)', { step: 's', sequence: '1' });
  logger.root.info('one');
  task.info('two');
  task.warn('three');
  await endOfTurn();
  assert.equal(writes.length, 1, JSON.stringify(writes));
  assert.deepEqual(messagesOf(writes[0]), ['one', 'two', 'three']);
  logger.root.info('four');
  await endOfTurn();
  assert.deepEqual(writes.slice(1).map(messagesOf), [['four']]);
});

test('an error line is on the console and in the file before the turn ends, with the lines before it', (t) => {
  const { writes, stream } = fakeStream();
  const path = join(folder(t), 'run.jsonl');
  const logger = new RunLogger('Run-error', { host: 'h', stream });
  logger.attachFile(path, { runId: 'R', recovery: 0 });
  const task = logger.root.child('Task-boom(1)', { step: 'boom', sequence: '1' });
  task.info('about to fail');
  task.error('RangeError: out of range');
  assert.deepEqual(messagesOf(writes.join('')), ['about to fail', 'RangeError: out of range']);
  const records = readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { level: number; msg: string });
  assert.deepEqual(records.map((record) => [record.level, record.msg]), [[30, 'about to fail'], [50, 'RangeError: out of range']]);
  return logger.close();
});

test('lines logged after an error in the same turn are still written at the end of the turn', async () => {
  const { writes, stream } = fakeStream();
  const logger = new RunLogger('Run-after', { host: 'h', stream });
  logger.root.error('failed');
  logger.root.info('then this');
  await endOfTurn();
  assert.deepEqual(writes.map(messagesOf), [['failed'], ['then this']]);
});

test('flush() on the run logger or any of its loggers writes the held lines at once', (t) => {
  const { writes, stream } = fakeStream();
  const path = join(folder(t), 'run.jsonl');
  const logger = new RunLogger('Run-flush', { host: 'h', stream });
  logger.attachFile(path, { runId: 'R', recovery: 0 });
  const task = logger.root.child('Task-s(1)', { step: 's', sequence: '1' });
  task.info('held');
  task.flush?.();
  assert.deepEqual(writes.map(messagesOf), [['held']]);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).msg, 'held');
  logger.root.warn('held too');
  logger.flush();
  assert.deepEqual(writes.map(messagesOf), [['held'], ['held too']]);
  return logger.close();
});

test('a logSink gets one call per line, in order, and nothing goes to the stream', async () => {
  const { writes, stream } = fakeStream();
  const lines: string[] = [];
  const logger = new RunLogger('Run-sink', { host: 'h', sink: (line) => lines.push(line), stream });
  logger.root.info('a');
  logger.root.child('Task-s(1)').error('b');
  logger.root.warn('c');
  logger.flush();
  await endOfTurn();
  assert.deepEqual(lines.map(messageOf), ['a', 'b', 'c']);
  assert.ok(lines.every((line) => !line.endsWith('\n')), 'a sink gets lines without their newline');
  assert.deepEqual(writes, []);
});

/** Runs a fixture under tsx with stdout and stderr as pipes; `onStdout` may act on what it says. */
function runFixture(name: string, args: string[], onStdout: (text: string, child: ReturnType<typeof spawn>) => void = () => {}) {
  const fixture = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => onStdout((stdout += chunk), child));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

test('a process that logs and calls process.exit() in the same turn has every line on stderr and in the file', LIMIT, async (t) => {
  const path = join(folder(t), 'exit.jsonl');
  const { code, stderr } = await runFixture('log-exit.mjs', [path]);
  assert.equal(code, 0, stderr);
  const expected = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`);
  assert.deepEqual(messagesOf(stderr), expected);
  assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg), expected);
});

test('a process killed with SIGKILL while blocked after logging an error still has the error line on stderr and in the file', LIMIT, async (t) => {
  const path = join(folder(t), 'kill.jsonl');
  const { signal, stderr } = await runFixture('log-kill.mjs', [path], (stdout, child) => {
    if (stdout.includes('blocking') && !child.killed) child.kill('SIGKILL');
  });
  assert.equal(signal, 'SIGKILL', stderr);
  assert.deepEqual(messagesOf(stderr), ['about to fail', 'RangeError: out of range']);
  const records = readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { level: number; msg: string; step: string });
  assert.deepEqual(records.map((record) => [record.level, record.step, record.msg]), [[30, 'boom', 'about to fail'], [50, 'boom', 'RangeError: out of range']]);
});
