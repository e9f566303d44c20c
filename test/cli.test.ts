import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventor, taskLine } from './cli-helpers.js';

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
