import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Eventor, FlowFileError, loadFlow, Sequent, ValidationError, type TransitionRecord } from '../src/index.js';
import { eventor, taskLine } from './cli-helpers.js';
import { LIMIT } from './helpers.js';

/** Writes `text` as a flow file in a fresh folder and returns its path. */
function flowFile(t: TestContext, text: string, name = 'flow.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-yaml-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const quiet = { store: ':memory:', config: { logging: { console: false } } } as const;

test('examples/etl.yaml runs A1 and A2, then B, then C1 and C2 through eventor run', () => {
  const { code, stderr } = eventor('run', 'examples/etl.yaml');
  assert.equal(code, 0, stderr);
  const at = (pattern: RegExp) => stderr.split('\n').findIndex((line) => pattern.test(line));
  const b = at(taskLine('B', '1', 'processed 2 lines'));
  assert.ok(b > at(taskLine('A1', '1', 'extracted db1')) && b > at(taskLine('A2', '1', 'extracted db2')), stderr);
  assert.ok(at(taskLine('C1', '1', 'transmitting to client 1 (step C1)')) > b);
  assert.ok(at(taskLine('C2', '1', 'transmitting to client 2')) > b);
});

test('examples/nested.yaml runs the seed nested flow in order, with path names and repeat sequences', () => {
  const { code, stderr } = eventor('run', 'examples/nested.yaml');
  assert.equal(code, 0, stderr);
  const runs = [...stderr.matchAll(/\]\[ (prog\d) at (\S+) (\S+) \]$/gm)].map(([, prog, step, sequence]) => `${prog} ${step} ${sequence}`);
  assert.deepEqual(runs, [
    'prog1 s1_s11_s111 1.1.1', 'prog2 s1_s11_s112 1.1.1', 'prog1 s1_s11_s111 1.1.2', 'prog2 s1_s11_s112 1.1.2', 'prog3 s1_s12 1.1',
    'prog1 s1_s11_s111 1.2.1', 'prog2 s1_s11_s112 1.2.1', 'prog1 s1_s11_s111 1.2.2', 'prog2 s1_s11_s112 1.2.2', 'prog3 s1_s12 1.2', 'prog4 s2 1',
  ]);
});

test('examples/eventor-form.yaml runs its chain, the last step after its delay', () => {
  const { code, stderr } = eventor('run', 'examples/eventor-form.yaml');
  assert.equal(code, 0, stderr);
  assert.match(stderr, taskLine('s3', '1', 'doing what prog3 is doing (sequence 1)'));
});

test('loadFlow builds a Sequent from the Sequent form and an Eventor from the Eventor form', LIMIT, (t) => {
  assert.ok(loadFlow('examples/nested.yaml', quiet) instanceof Sequent);
  assert.ok(loadFlow('examples/eventor-form.yaml', quiet) instanceof Eventor);
  const sequent = loadFlow(flowFile(t, 'steps:\n  - name: only\n    command: "true"\n'), quiet);
  assert.equal((sequent as Sequent).name, 'flow', 'a flow without a name is named after its file');
});

test('${env.NAME} placeholders take the step env over the process env, and or-requires start on the first', LIMIT, async (t) => {
  const path = flowFile(t, [
    'steps:',
    '  - name: fast',
    '    command: "true"',
    '  - name: slow',
    '    command: sleep 0.3',
    '  - name: either',
    '    command: echo "${env.GREETING} after ${step}"',
    '    env: { GREETING: hello }',
    '    requires: { or: [[fast, success], [slow, success]] }',
  ].join('\n'));
  const flow = loadFlow(path, quiet) as Sequent;
  const records: TransitionRecord[] = [];
  flow.subscribe((record) => records.push(record));
  assert.equal(await flow.run(), true);
  await flow.close();
  const index = (step: string, status: string) => records.findIndex((r) => r.step === step && r.status === status);
  assert.ok(index('either', 'active') < index('slow', 'success'), 'either starts before slow is done');
});

test('a YAML syntax error names the file and line', (t) => {
  const path = flowFile(t, 'steps:\n  - name: a\n    command: [unclosed\n');
  assert.throws(() => loadFlow(path, quiet), (error: unknown) => error instanceof FlowFileError && /flow\.yaml:\d+: is not valid YAML/.test((error as Error).message));
});

test('a schema error names the file, the line and the path of the bad entry', (t) => {
  const path = flowFile(t, ['name: bad', 'steps:', '  - name: a', '    command: "true"', '  - name: b', '    command: 42', '    requires: [[a, success]]'].join('\n'));
  assert.throws(
    () => loadFlow(path, quiet),
    (error: unknown) => {
      assert.ok(error instanceof FlowFileError && error instanceof ValidationError, String(error));
      assert.equal(error.line, 6);
      assert.equal(error.entry, 'steps[1].command');
      assert.match(error.message, /flow\.yaml:6: steps\[1\]\.command: /);
      return true;
    },
  );
});

test('an unknown key is refused with its line and name', (t) => {
  const path = flowFile(t, ['steps:', '  - name: a', '    comand: "true"'].join('\n'));
  assert.throws(() => loadFlow(path, quiet), /flow\.yaml:2: steps\[0\]: must NOT have additional properties 'comand'/);
});

test('a requirement naming no sibling is refused, naming the entry and the missing name', (t) => {
  const path = flowFile(t, ['steps:', '  - name: a', '    command: "true"', '    requires: [[ghost, success]]'].join('\n'));
  assert.throws(() => loadFlow(path, quiet), /steps\[0\] \(a\) requires 'ghost', which is not a step or event of the same container/);
});

test('a duplicate step name in a flow file is refused with its line', (t) => {
  const path = flowFile(t, ['steps:', '  - name: a', '    command: "true"', '  - name: a', '    command: "true"'].join('\n'));
  assert.throws(() => loadFlow(path, quiet), (error: unknown) => error instanceof FlowFileError && error.line === 4 && /duplicate step name 'a'/.test(error.message));
});

test('eventor run reports a bad flow file with its line and exits 2', (t) => {
  const path = flowFile(t, ['steps:', '  - name: a', '    command: {}'].join('\n'));
  const { code, stderr } = eventor('run', path);
  assert.equal(code, 2);
  assert.match(stderr, /FlowFileError: .*flow\.yaml:3: steps\[0\]\.command/);
});
