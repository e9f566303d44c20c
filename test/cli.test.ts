import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventor, root, scratchFolder, taskLine } from './cli-helpers.js';

test('eventor run exits 2 and names the file when it does not exist', () => {
  const { code, stderr } = eventor('run', 'examples/no-such-flow.ts');
  assert.equal(code, 2);
  assert.match(stderr, /examples\/no-such-flow\.ts does not exist/);
});

test('eventor run exits 2 when the module has no default export', () => {
  const { code, stderr } = eventor('run', 'test/fixtures/no-default.mjs');
  assert.equal(code, 2);
  assert.match(stderr, /no-default\.mjs has no default export to run/);
});

test('eventor run exits 2 with the cause when the module throws while loading', () => {
  const { code, stderr } = eventor('run', 'test/fixtures/throws-on-import.mjs');
  assert.equal(code, 2);
  assert.match(stderr, /throws-on-import\.mjs could not be loaded: broken module: cannot connect to the warehouse/);
});

test('eventor run reports a validation error by name, naming the bad reference, and runs nothing', () => {
  const { code, stderr } = eventor('run', 'test/fixtures/invalid-flow.mjs');
  assert.equal(code, 2);
  assert.match(stderr, /ExpressionCycleError: event 'loop' has an expression cycle \(loop -> loop\)/);
  assert.doesNotMatch(stderr, /Trying to run/);
});

test('eventor run accepts an async function as the default export', () => {
  const { code, stderr } = eventor('run', 'test/fixtures/async-builder.mjs');
  assert.equal(code, 0, stderr);
  assert.match(stderr, taskLine('hello', '7', 'hello from sequence 7'));
});

test('eventor run rejects a --max-loops that is not a whole number', () => {
  const { code, stderr } = eventor('run', 'examples/simple-chain.ts', '--max-loops', 'two');
  assert.notEqual(code, 0);
  assert.match(stderr, /--max-loops/);
});

test('eventor run runs TypeScript step modules in a child process and in a worker thread', () => {
  const { code, stderr } = eventor('run', 'test/fixtures/ts-steps/flow.ts');
  assert.equal(code, 0, stderr);
  assert.match(stderr, taskLine('in_process', '4', 'hello process! (in_process/4, in_process)'));
  assert.match(stderr, taskLine('in_worker', '4', 'hello worker? (in_worker/4, in_worker)'));
});

test('--store and --run-id reach a flow that a module builds at import time, and recover finds it there', () => {
  const store = join(scratchFolder('eventor-cli-store-'), 'runs');
  const first = eventor('run', 'examples/simple-chain.ts', '--store', store, '--run-id', 'nightly-1');
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /Starting run nightly-1 of flow simple-chain/);
  const again = eventor('recover', 'examples/simple-chain.ts', '--store', store);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /Recovering \(recovery 1\) run nightly-1/);
  assert.match(again.stderr, /Skipped 3 task\(s\) whose earlier outcome the recovery kept/);
  // examples/and-or-join.ts builds its Eventor with store ':memory:': the flag wins over it.
  const memory = eventor('run', 'examples/and-or-join.ts', '--store', store, '--run-id', 'join-1');
  assert.equal(memory.code, 0, memory.stderr);
  assert.match(memory.stderr, new RegExp(`Starting run join-1 of flow and-or-join \\(store: ${store.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
});

test('npm links the eventor command: node_modules/.bin/eventor runs the CLI of this checkout', () => {
  const bin = join(root, 'node_modules', '.bin', 'eventor');
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
});

test('eventor graph --format svg draws the flow through WebAssembly Graphviz, with every step', () => {
  const { code, stdout, stderr } = eventor('graph', 'examples/etl.yaml', '--format', 'svg');
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^<\?xml /);
  assert.match(stdout, /<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(stdout, /<\/svg>\s*$/);
  for (const step of ['A1', 'A2', 'B', 'C1', 'C2']) assert.match(stdout, new RegExp(`<text[^>]*>${step}</text>`), `step ${step} is drawn`);
});

test('eventor run takes a machine config, and a flow exported with graph --format xstate runs the same tasks', () => {
  const written = eventor('run', 'examples/etl.machine.json', '--store', ':memory:', '--quiet', '--json');
  assert.equal(written.code, 0, written.stderr);
  const finals = (stdout: string) =>
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { step: string; sequence: string; status: string })
      .filter((record) => record.status === 'success' || record.status === 'failure')
      .map((record) => `${record.step}/${record.sequence}:${record.status}`)
      .sort();
  assert.ok(finals(written.stdout).includes('load/1:success'), written.stdout);

  const exported = eventor('graph', 'examples/etl.yaml', '--format', 'xstate');
  assert.equal(exported.code, 0, exported.stderr);
  const config = JSON.parse(exported.stdout) as { type: string; states: Record<string, unknown> };
  assert.equal(config.type, 'parallel');
  const file = join(scratchFolder('eventor-cli-xstate-'), 'etl.machine.json');
  writeFileSync(file, exported.stdout);
  const original = eventor('run', 'examples/etl.yaml', '--store', ':memory:', '--quiet', '--json');
  const again = eventor('run', file, '--store', ':memory:', '--quiet', '--json');
  assert.equal(original.code, 0, original.stderr);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(finals(again.stdout), finals(original.stdout));
  assert.equal(finals(original.stdout).length, 5);
});
