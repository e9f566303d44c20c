// The `eventor` command as a user meets it: real processes of the built CLI, real LevelDB stores
// in folders removed afterwards, and what a user would read on the terminal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { root, scratchFolder } from './cli-helpers.js';
import { until } from './cluster-helpers.js';
import { NatsServer, spawnProcess } from './nats-harness.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const fixture = (name: string) => join(root, 'test/fixtures/cli', name);
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs the built CLI in `cwd`, as a user would in that folder. */
function cli(cwd: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The lines of `runs --json` or `show --json`. */
const records = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('eventor --version prints the package version, and every command has --help with examples', () => {
  const folder = scratchFolder('eventor-help-');
  const shown = cli(folder, ['--version']);
  assert.equal(shown.code, 0);
  assert.equal(shown.stdout.trim(), version);
  for (const command of ['run', 'recover', 'continue', 'runs', 'show', 'gc', 'graph', 'agent', 'trigger', 'complete']) {
    const help = cli(folder, [command, '--help']);
    assert.equal(help.code, 0, `${command} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: eventor ${command} `), command);
    assert.match(help.stdout, new RegExp(`\\nExamples:\\n  eventor ${command}\\b`), `${command} --help shows examples`);
  }
  const run = cli(folder, ['run', '--help']).stdout;
  for (const flag of ['--store', '--run-id', '--config', '--max-concurrent', '--max-loops', '--quiet', '--verbose', '--json', '--inspect [url]', '--debug']) assert.ok(run.includes(flag), `run --help names ${flag}`);
  assert.match(run, /Exit codes: 0 success, 1 the flow failed or did not finish, 2 a usage or validation error/);
  assert.match(cli(folder, ['graph', '--help']).stdout, /choices: "mermaid", "dot", "svg",\s+"xstate"/);
});

test('an unknown command or option exits 2 with commander\'s message, and no stack', () => {
  const folder = scratchFolder('eventor-usage-');
  const command = cli(folder, ['rnu', 'flow.yaml']);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /error: unknown command 'rnu'/);
  assert.match(command.stderr, /\(Did you mean run\?\)/);
  const option = cli(folder, ['run', fixture('quick.yaml'), '--max-concurency', '2']);
  assert.equal(option.code, 2);
  assert.match(option.stderr, /error: unknown option '--max-concurency'/);
  assert.match(option.stderr, /Did you mean --max-concurrent\?/);
  assert.doesNotMatch(command.stderr + option.stderr, /\n\s+at /, 'no stack');
  const missing = cli(folder, ['gc']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /required option '--days <n>' not specified/);
});

test('a failed run exits 1 and shows the step\'s error without Eventor\'s own stack frames; --debug shows them', () => {
  const folder = scratchFolder('eventor-fail-');
  const failed = cli(folder, ['run', fixture('fails-once.mjs')]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /\]\[ ERROR \]\[ Error: the warehouse is closed\n\s+at func \(file:\/\/.*fails-once\.mjs:\d+:\d+\) \]\n/, 'the user\'s frame, then the line closes');
  assert.doesNotMatch(failed.stderr, /dist\/(executors|actors)\//);
  assert.doesNotMatch(failed.stderr, /node:async_hooks/);
  const debug = cli(folder, ['run', fixture('fails-once.mjs'), '--debug']);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /at Supervisor\.\w+ \(file:\/\/.*\/dist\/actors\/supervisor\.js/);
});

test('runs lists a failed run and its recovery, and show gives each task\'s tries, start and duration, and what each recovery did', () => {
  const folder = scratchFolder('eventor-runs-');
  assert.equal(cli(folder, ['run', fixture('fails-once.mjs'), '--run-id', 'nightly-1']).code, 1);
  const before = cli(folder, ['runs']);
  assert.equal(before.code, 0, before.stderr);
  const [header, row] = before.stdout.trimEnd().split('\n');
  assert.match(header, /^RUN ID\s+FLOW\s+STARTED\s+DURATION\s+RECOVERIES\s+STATUS\s+TASKS$/);
  assert.match(row, /^nightly-1\s+fails-once\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\d+ms\s+0\s+failure\s+success=4 failure=1$/);

  const recovered = cli(folder, ['recover', fixture('fails-once.mjs')]);
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.match(recovered.stderr, /Skipped 4 task\(s\) whose earlier outcome the recovery kept/);
  assert.match(cli(folder, ['runs']).stdout, /\nnightly-1\s+fails-once\s+\S+ \S+\s+\S+\s+1\s+success\s+success=6\n$/);

  const show = cli(folder, ['show', 'nightly-1']);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^run        nightly-1\nflow       fails-once\nstore      .*\.eventor\/fails-once\n/);
  assert.match(show.stdout, /\nrecoveries 1\n  first run: ran success=4 failure=1\n  recovery 1 \(of the first run\): ran success=2, kept 4\n/);
  const table = show.stdout.split('\n\n')[1].trimEnd().split('\n');
  assert.match(table[0], /^STEP\s+SEQUENCE\s+STATUS\s+TRIES\s+STARTED\s+DURATION\s+HOST\s+ERROR$/);
  assert.deepEqual(
    table.slice(1).map((line) => line.split(/\s{2,}/).slice(0, 3)),
    [
      ['extract', '1', 'success (kept from the first run)'],
      ['extract', '2', 'success (kept from the first run)'],
      ['load', '1', 'success (kept from the first run)'],
      ['load', '2', 'success'],
      ['report', '1', 'success (kept from the first run)'],
      ['report', '2', 'success'],
    ],
  );
  for (const line of table.slice(1)) assert.match(line, /\s1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z\s+\d+ms\s+-$/, `tries, start, duration and host: ${line}`);

  // The JSON form: the start of load/2 is that of its rerun, after the failure of the first run.
  const [run, ...tasks] = records(cli(folder, ['show', 'nightly-1', '--json']).stdout);
  assert.deepEqual(run.byRecovery, [
    { recovery: 0, parent: -1, ran: { success: 4, failure: 1 }, kept: 0 },
    { recovery: 1, parent: 0, ran: { success: 2 }, kept: 4 },
  ]);
  const load2 = tasks.find((task) => task.step === 'load' && task.sequence === '2') as Record<string, unknown>;
  const load1 = tasks.find((task) => task.step === 'load' && task.sequence === '1') as Record<string, unknown>;
  assert.equal(load2.keptFrom, null);
  assert.equal(load1.keptFrom, 0);
  assert.ok(Date.parse(load2.startedAt as string) > Date.parse(load1.startedAt as string), 'the rerun started after the first run');
  assert.equal(typeof load2.durationMs, 'number');
  assert.ok((load2.durationMs as number) >= 0);
});

test('gc deletes runs older than N days but never one still running; --dry-run deletes nothing', async (t) => {
  const folder = scratchFolder('eventor-gc-');
  const store = join(folder, 'runs');
  assert.equal(cli(folder, ['run', fixture('fails-once.mjs'), '--store', store, '--run-id', 'finished']).code, 1);
  // A run whose process is killed outright stays on record as running.
  const marker = join(folder, 'started');
  const killed = spawnProcess(t, process.execPath, [CLI, 'run', fixture('waits.yaml'), '--store', store, '--run-id', 'still-running'], { cwd: folder, env: { WAIT_MARKER: marker } });
  // The marker holds the step's pid once it is written whole.
  const pid = () => (existsSync(marker) ? /^(\d+)\n$/.exec(readFileSync(marker, 'utf8'))?.[1] : undefined);
  await until(() => pid() !== undefined, 'the waiting step to start', 30_000, killed.output);
  killed.kill('SIGKILL');
  await killed.exited;
  // Its step is a program in a process group of its own, which outlives the CLI: stop it too.
  process.kill(Number(pid()), 'SIGKILL');

  const listed = cli(folder, ['runs', '--store', store]).stdout;
  assert.match(listed, /\nfinished\s.*\sfailure\s/);
  assert.match(listed, /\nstill-running\s.*\srunning\s/);

  const recent = cli(folder, ['gc', '--days', '1', '--store', store]);
  assert.equal(recent.code, 0, recent.stderr);
  assert.equal(recent.stdout, 'deleted 0 runs started more than 1 day ago; kept 2\n');

  const dry = cli(folder, ['gc', '--days', '0', '--store', store, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would delete finished \(fails-once, started .*, failure\)\nwould delete 1 run started more than 0 days ago; kept 1\n$/);
  assert.equal(records(cli(folder, ['runs', '--store', store, '--json']).stdout).length, 2, 'a dry run deletes nothing');

  const gc = cli(folder, ['gc', '--days', '0', '--store', store]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /^deleted finished /);
  const after = records(cli(folder, ['runs', '--store', store, '--json']).stdout);
  assert.deepEqual(after.map((run) => [run.runId, run.status]), [['still-running', 'running']]);
  const gone = cli(folder, ['show', 'finished', '--store', store]);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /run finished is in no store at .*: eventor runs --store .* lists the runs/);
});

test('Ctrl-C names the exact recover command, exits 1, and that command, pasted, finishes the run', async (t) => {
  const folder = scratchFolder('eventor-sigint-');
  const marker = join(folder, 'started');
  const child = spawnProcess(t, process.execPath, [CLI, 'run', fixture('waits.yaml'), '--store', 'my runs', '--run-id', 'night-7'], { cwd: folder, env: { WAIT_MARKER: marker } });
  await until(() => existsSync(marker), 'the waiting step to start', 30_000, child.output);
  child.kill('SIGINT');
  const status = await child.exited;
  assert.deepEqual(status, { code: 1, signal: null }, child.output());
  const match = child.output().match(/eventor: SIGINT: cancelling the run \(SIGINT again to exit at once\); finish it later with:\n {2}(eventor recover .*)\n/);
  assert.ok(match, child.output());
  const command = match[1];
  assert.equal(command, `eventor recover ${fixture('waits.yaml')} --run-id night-7 --store 'my runs'`);
  // Pasted in a shell where `eventor` is the command this package installs.
  const bin = join(folder, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'eventor'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'eventor'), 0o755);
  const pasted = spawnSync('sh', ['-c', command], { cwd: folder, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, timeout: 60_000 });
  assert.equal(pasted.status, 0, pasted.stderr);
  assert.match(pasted.stderr, /recovery 1: nothing left to wait for/);
  const [run] = records(cli(folder, ['runs', '--store', 'my runs', '--json']).stdout);
  assert.equal(run.status, 'success');
  assert.equal(run.recoveries, 1);
});

test('--json prints one record per task transition, and a reader that stops early (| head) ends nothing badly', () => {
  const folder = scratchFolder('eventor-json-');
  const full = cli(folder, ['run', fixture('chain.yaml'), '--json', '--quiet']);
  assert.equal(full.code, 0, full.stderr);
  assert.equal(full.stderr, '');
  const transitions = records(full.stdout);
  const byTask = new Map<string, string[]>();
  for (const record of transitions) byTask.set(`${record.step}/${record.sequence}`, [...(byTask.get(`${record.step}/${record.sequence}`) ?? []), record.status as string]);
  assert.deepEqual([...byTask.keys()].sort(), ['first/1', 'second/1', 'third/1']);
  for (const statuses of byTask.values()) assert.deepEqual(statuses.slice(-2), ['active', 'success']);
  assert.ok(transitions.every((record) => typeof record.runId === 'string' && /^\d{4}-\d\d-\d\dT/.test(record.at as string)));
  const piped = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${CLI}" run "${fixture('chain.yaml')}" --json --quiet | head -1`], { cwd: folder, encoding: 'utf8', timeout: 60_000 });
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(piped.stderr, '', 'no EPIPE error');
  assert.equal(records(piped.stdout).length, 1);
  const listed = records(cli(folder, ['runs', '--json']).stdout);
  assert.deepEqual(
    listed.map((run) => run.status),
    ['success', 'success'],
    'the piped run still finished',
  );
});

test('--config and EVENTOR_CONFIG feed the settings, nested blocks merged, and flags win', () => {
  const folder = scratchFolder('eventor-config-');
  writeFileSync(join(folder, 'eventor.yaml'), ['EVENTOR:', '  database: runs', 'DATABASES:', '  runs:', '    dialect: leveldb', '    folder: ./configured', 'LOGGING:', '  console: false', ''].join('\n'));
  // The file's store and its logging.console; --verbose sets logging.level, and the file's console: false stays.
  const configured = cli(folder, ['run', fixture('chain.yaml'), '--config', 'eventor.yaml', '--verbose']);
  assert.equal(configured.code, 0, configured.stderr);
  assert.equal(configured.stderr, '', 'LOGGING console: false held under --verbose');
  assert.equal(records(cli(folder, ['runs', '--store', 'configured', '--json']).stdout).length, 1);
  assert.equal(records(cli(folder, ['runs', '--config', 'eventor.yaml', '--json']).stdout).length, 1, 'runs finds the store through the file too');
  // The same through EVENTOR_CONFIG; --store wins over the file's database.
  const flagged = cli(folder, ['run', fixture('chain.yaml'), '--store', 'flagged'], { EVENTOR_CONFIG: join(folder, 'eventor.yaml') });
  assert.equal(flagged.code, 0, flagged.stderr);
  assert.equal(records(cli(folder, ['runs', '--store', 'flagged', '--json']).stdout).length, 1);
  assert.equal(records(cli(folder, ['runs', '--store', 'configured', '--json']).stdout).length, 1, 'the file\'s store got no second run');
  // A wrong key in the file is a usage error naming it.
  writeFileSync(join(folder, 'bad.yaml'), 'EVENTOR:\n  max_concurent: 2\n');
  const bad = cli(folder, ['run', fixture('chain.yaml'), '--config', 'bad.yaml']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /max_concurent/);
  assert.match(bad.stderr, /max_concurrent/);
});

test('a NATS password from a config file or the command line never shows in --json records, runs or show', async (t) => {
  const secret = 'pw-7f3a9c2e-do-not-print';
  const nats = await NatsServer.start(t, { user: 'eve', pass: secret });
  const folder = scratchFolder('eventor-secret-');
  writeFileSync(join(folder, 'eventor.yaml'), ['EVENTOR:', '  nats:', `    servers: ${nats.url}`, '    user: eve', `    pass: ${secret}`, ''].join('\n'));
  // The step leaks the credentials into its error, as a library that prints its connection URL would.
  const env = { LEAKED_URL: `nats://eve:${secret}@127.0.0.1:${nats.port}`, LEAKED_SECRET: secret };
  const fromFile = cli(folder, ['run', fixture('leaky.yaml'), '--config', 'eventor.yaml', '--json', '--run-id', 'leaky-run'], env);
  assert.equal(fromFile.code, 1, fromFile.stderr);
  assert.ok(records(fromFile.stdout).some((record) => record.status === 'failure'), 'the step failed, with its error in a record');
  const fromFlags = cli(folder, ['recover', fixture('leaky.yaml'), '--nats', nats.url, '--user', 'eve', '--pass', secret, '--json'], env);
  assert.equal(fromFlags.code, 1, fromFlags.stderr);
  const outputs = {
    'run --config --json': fromFile.stdout,
    'recover --pass --json': fromFlags.stdout,
    runs: cli(folder, ['runs']).stdout,
    'runs --json': cli(folder, ['runs', '--json']).stdout,
    // show learns the secrets to blank from the configuration file, as run does; a password in a URL it blanks anyway.
    show: cli(folder, ['show', 'leaky-run'], { EVENTOR_CONFIG: 'eventor.yaml' }).stdout,
    'show --json': cli(folder, ['show', 'leaky-run', '--json'], { EVENTOR_CONFIG: 'eventor.yaml' }).stdout,
  };
  for (const [what, text] of Object.entries(outputs)) {
    assert.ok(text.length > 0, `${what} printed something`);
    assert.ok(!text.includes(secret), `${what} shows no password:\n${text}`);
  }
  assert.match(outputs.show, /cannot reach nats:\/\/eve:\*\*\*@127\.0\.0\.1:\d+/, 'show says what failed, with the password blanked');
  assert.match(outputs['run --config --json'], /password \*\*\* refused/, 'a password known from the config is blanked even outside a URL');
});

test('--inspect serves a relay on loopback, says how to follow it, and a receiver sees every task move', async (t) => {
  const folder = scratchFolder('eventor-inspect-');
  const marker = join(folder, 'started');
  const child = spawnProcess(t, process.execPath, [CLI, 'run', fixture('waits.yaml'), '--inspect'], { cwd: folder, env: { WAIT_MARKER: marker } });
  const [, url] = await child.waitFor(/inspection events of the run go to the relay at (ws:\/\/127\.0\.0\.1:\d+); follow them with createWebSocketReceiver\(\{ server: '\1' \}\) of @statelyai\/inspect/);
  const seen: { type: string; snapshot?: { value?: unknown; context?: { step?: string } } }[] = [];
  const receiver = createWebSocketReceiver({ server: url });
  // The receiver has no stop(): its socket closes when the relay does, at the end of the run.
  const subscription = receiver.subscribe((event) => seen.push(event as (typeof seen)[number]));
  t.after(() => subscription.unsubscribe());
  const moves = (step: string) => seen.filter((event) => event.type === '@xstate.snapshot' && event.snapshot?.context?.step === step).map((event) => event.snapshot?.value);
  await until(() => existsSync(marker) && moves('wait').includes('active'), 'the receiver to see wait/1 active', 30_000, () => JSON.stringify(seen.slice(-5)));
  assert.ok(moves('prepare').includes('success'), `prepare went to success: ${moves('prepare')}`);
  child.kill('SIGINT');
  assert.equal((await child.exited).code, 1, child.output());
});

test('a pass that leaves a delay pending exits 1 and says so; continue finishes the run', () => {
  const folder = scratchFolder('eventor-continue-');
  const paused = cli(folder, ['run', fixture('paused.mjs'), '--max-loops', '1']);
  assert.equal(paused.code, 1, paused.stderr);
  assert.match(paused.stderr, /paused with 1 delay\(s\) pending, the next due at \d\d:\d\d:\d\d UTC \(in [\d.]+ s\): run it again in continue mode to go on/);
  assert.doesNotMatch(paused.stderr, /second, after the delay/);
  assert.match(cli(folder, ['runs']).stdout, /\s0\s+waiting\s+success=1 waiting=1\n$/);
  const continued = cli(folder, ['continue', fixture('paused.mjs')]);
  assert.equal(continued.code, 0, continued.stderr);
  assert.match(continued.stderr, /second, after the delay/);
  assert.match(cli(folder, ['runs']).stdout, /\s0\s+success\s+success=2\n$/);
});
