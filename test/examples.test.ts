import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventor, root, scratchFolder, taskLine } from './cli-helpers.js';

/** Runs an example file by itself, as `npx tsx examples/<file>` would, in a fresh folder. */
function runAlone(file: string, ...args: string[]) {
  const cwd = scratchFolder('eventor-example-');
  const result = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'examples', file), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, cwd };
}

/** The position of the first line matching `pattern`, failing when there is none. */
function lineIndex(output: string, pattern: RegExp): number {
  const index = output.split('\n').findIndex((line) => pattern.test(line));
  assert.notEqual(index, -1, `no line matches ${pattern}\n${output}`);
  return index;
}

test('the simple chain runs s1, s2, s3 in order through eventor run, in the seed log format', () => {
  const { code, stderr, cwd } = eventor('run', 'examples/simple-chain.ts');
  assert.ok(existsSync(join(cwd, '.eventor', 'simple-chain', 'CURRENT')), 'the run is kept in the default LevelDB folder');
  assert.equal(code, 0, stderr);
  const done = ['s1', 's2', 's3'].map((step) => lineIndex(stderr, taskLine(step, '1', `[ Step ${step}/1 ] Completed, status: success ]`)));
  assert.deepEqual([...done].sort((a, b) => a - b), done);
  assert.ok(lineIndex(stderr, taskLine('s2', '1', 'doing what prog2 is doing')) < done[1]);
  assert.match(stderr, /Processing finished with: success; outstanding tasks: 0/);
});

test('the and/or join writes each region\'s report after both of its extracts, then notifies', () => {
  const { code, stderr } = eventor('run', 'examples/and-or-join.ts');
  assert.equal(code, 0, stderr);
  for (const region of ['east', 'west']) {
    const report = lineIndex(stderr, taskLine('report', region, `[ Step report/${region} ] Trying to run`));
    for (const db of ['db1', 'db2']) assert.ok(lineIndex(stderr, taskLine(`extract_${db}`, region, `[ Step extract_${db}/${region} ] Completed, status: success`)) < report);
    assert.ok(report < lineIndex(stderr, taskLine('notify', region, `region ${region} is done`)));
  }
});

test('the delayed example starts cleanup only after its delay', () => {
  const { code, stderr } = eventor('run', 'examples/delayed.ts');
  assert.equal(code, 0, stderr);
  const waited = Number(/cleaning up (\d+) ms after the load/.exec(stderr)?.[1]);
  assert.ok(waited >= 490, `cleanup started ${waited} ms after the load`);
});

test('the failing example stops before s3 and exits 1 through eventor run', () => {
  const { code, stderr } = eventor('run', 'examples/stop-on-exception.ts');
  assert.equal(code, 1);
  assert.match(stderr, taskLine('s2', '1', '[ Step s2/1 ] Completed, status: failure'));
  assert.match(stderr, /RangeError: math domain error: sqrt\(-9\)/);
  assert.match(stderr, taskLine('slow', '1', '[ Step slow/1 ] Completed, status: success'));
  assert.doesNotMatch(stderr, /s3 ran/);
  assert.match(stderr, /Processing finished with: failure; outstanding tasks: 1/);
});

test('run by itself, the failing example shows s3 running only without stopOnException', () => {
  const { code, stdout, stderr } = runAlone('stop-on-exception.ts');
  assert.equal(code, 0, stderr);
  assert.deepEqual(stdout.trim().split('\n'), ['--- stopOnException: true', 'run() resolved false', '--- stopOnException: false', 'run() resolved false']);
  assert.equal(stderr.match(/s3 ran/g)?.length, 1);
});

for (const file of ['simple-chain.ts', 'and-or-join.ts', 'delayed.ts', 'resources.ts']) {
  test(`examples/${file} runs by itself and exits 0`, () => {
    const { code, stderr } = runAlone(file);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /Processing finished with: success/);
  });
}

test('the machines example: the inspector sees every actor, and a stored record restores into a live task actor', () => {
  const { code, stdout, stderr } = runAlone('machines.ts');
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split('\n');
  assert.match(lines[0], /^the inspector saw: supervisor:\S+, lifecycle, event:start, task:extract\/1, event:later, task:load\/1$/);
  assert.deepEqual(lines.slice(1), ['on record: extract/1 is success', 'on record: load/1 is waiting', 'restored load: waiting -> ready once due']);
});

test('the recovery example fails in s2, then its recovery skips s1 and runs only s2 and s3', () => {
  const { code, stdout, stderr } = runAlone('recovery.ts');
  assert.equal(code, 0, stderr);
  assert.deepEqual(stdout.trim().split('\n'), ['first run: false', 'recovery: true']);
  const [first, recovery] = stderr.split(/(?=^.*Recovering \(recovery 1\) run)/m);
  assert.ok(recovery, stderr);
  assert.match(first, /RangeError: math domain error/);
  assert.equal(recovery.match(/square of 3 is 9/g), null, 's1 does not run again');
  assert.match(recovery, taskLine('s1', '3', '[ Step s1/3 ] Skipped: success in recovery 0, outcome kept'));
  assert.match(recovery, taskLine('s2', '3', 'square root of 9 is 3'));
  assert.match(recovery, taskLine('s3', '3', 'dividing 9 by 3 is 3'));
});

test('the delay example runs each step once over several continue passes', () => {
  const { code, stdout, stderr } = runAlone('delay-continue.ts', '0.3', '0.1');
  assert.equal(code, 0, stderr);
  const passes = Number(/done in (\d+) passes/.exec(stdout)?.[1]);
  assert.ok(passes >= 3, `passes: ${passes}`);
  for (const prog of ['prog1', 'prog2', 'prog3']) assert.equal(stderr.match(new RegExp(`doing what ${prog} is doing`, 'g'))?.length, 1, prog);
  assert.match(stderr, taskLine('s2', '1', 'EVENTOR_STEP_SEQUENCE: 1'));
});

test('the cluster demo starts NATS and two agents, runs extract on both hosts and transform through the queue, and stops what it started', () => {
  const { code, stdout, stderr } = runAlone('cluster/demo.ts');
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  for (const night of ['1', '2', '3']) {
    assert.match(stdout, new RegExp(`night ${night}  extract@node1 +node1 +success`));
    assert.match(stdout, new RegExp(`night ${night}  extract@node2 +node2 +success`));
    assert.match(stdout, new RegExp(`night ${night}  transform +node[12] +success`));
    assert.match(stdout, new RegExp(`night ${night}  publish +node1 +success`));
  }
  assert.match(stdout, /the flow succeeded/);
  // Remote lines reach the supervisor's console with the host that ran them.
  assert.match(stderr, /\]\[ node2 \]\[ Task-extract@node2\(1\) \]\[ INFO \]\[ extracting orders for night 1 on node2 \]/);
  const left = spawnSync('pgrep', ['-f', 'eventor-cluster-demo-'], { encoding: 'utf8' });
  assert.equal(left.stdout.trim(), '', 'no nats-server of the demo is left running');
});
