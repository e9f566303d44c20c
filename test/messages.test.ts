// Messages a newcomer meets, each tried as a new user would: they name the file and line, speak
// in the terms of what the user wrote, and say what to do.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FlowFileError, loadFlow } from '../src/index.js';
import { makeEventor } from './helpers.js';

function flowFile(t: TestContext, lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-messages-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'flow.yaml');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

test('a typo in a YAML flow of the Eventor form gives the file, the line of the entry and advice in YAML terms', (t) => {
  const cases: [string[], RegExp][] = [
    [['name: f', 'events: [{ name: go }]', 'steps:', '  - { name: s, command: "true", triggers: { success: [gone] } }', 'assocs: [{ event: go, targets: [s] }]'], /flow\.yaml:4: steps\[0\]: triggers\.success names event 'gone', which this file does not define: add "- name: gone" under events/],
    [['name: f', 'events: [{ name: go }]', 'steps:', '  - { name: s, command: "true" }', 'assocs:', '  - { event: og, targets: [s] }'], /flow\.yaml:6: assocs\[0\]: event 'og' is not defined in this file: add "- name: og" under events/],
    [['name: f', 'events: [{ name: go }]', 'steps:', '  - { name: s, command: "true" }', 'assocs:', '  - { event: go, targets: [t] }'], /flow\.yaml:6: assocs\[0\]: target 't' is neither a step nor an event of this file/],
    [['name: f', 'events: [{ name: go }]', 'steps:', '  - { name: s, command: "true" }', 'trigger:', '  - { event: start }'], /flow\.yaml:6: trigger\[0\]: event 'start' is not defined in this file/],
  ];
  for (const [lines, message] of cases) {
    assert.throws(() => loadFlow(flowFile(t, lines), { store: ':memory:' }), (error: Error) => error instanceof FlowFileError && message.test(error.message) && !/addEvent\(/.test(error.message), lines.join(' / '));
  }
});

test('a pass that ends with delays pending says the run is paused, how many delays, when the next is due, and how to go on', async (t) => {
  const lines: string[] = [];
  const ev = makeEventor(t, { logSink: (line) => lines.push(line), config: { logging: { console: true } } });
  ev.addAssoc(ev.addEvent('start'), ev.addStep('later', { func: () => 1 }), { delay: 60 });
  ev.triggerEvent('start', 1);
  assert.equal(await ev.run({ maxLoops: 1 }), true);
  const last = lines.at(-1) ?? '';
  assert.match(last, /Processing finished with: success; outstanding tasks: 1; paused with 1 delay\(s\) pending, the next due at \d\d:\d\d:\d\d UTC \(in (59|60)(\.\d)? s\): run it again in continue mode to go on/);
});

/** Runs the built CLI in `cwd`, as a user types it there. */
function cliIn(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-messages-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a YAML flow file that does not exist is named, with no advice about default exports', (t) => {
  const dir = scratch(t);
  const { code, stderr } = cliIn(dir, 'run', 'nightly.yaml');
  assert.equal(code, 2);
  assert.match(stderr, /FlowLoadError: flow file nightly\.yaml does not exist/);
  assert.match(stderr, /a YAML flow or machine config/);
  assert.doesNotMatch(stderr, /default export/);
});

test('a .ts flow in a folder without "type": "module" says so and how to fix it, not Node\'s require() cycle', (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'flows' }));
  writeFileSync(join(dir, 'flow.ts'), `import { Eventor } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};\nexport default new Eventor({ name: 'flow', store: ':memory:' });\n`);
  const { code, stderr } = cliIn(dir, 'run', 'flow.ts');
  assert.equal(code, 2);
  assert.match(stderr, /flow file flow\.ts is an ES module .* Node reads it as CommonJS because .*package\.json has no "type": "module": rename it to flow\.mts, or add "type": "module"/);
  assert.doesNotMatch(stderr, /in a cycle/);
  // The advice works: the same file as .mts runs.
  writeFileSync(join(dir, 'flow.mts'), `import { Eventor } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};\nconst ev = new Eventor({ name: 'flow', store: ':memory:' });\nconst go = ev.addEvent('go');\nev.addAssoc(go, ev.addStep('s', { func: () => 'ran' }));\nev.triggerEvent(go, 1);\nexport default ev;\n`);
  const fixed = cliIn(dir, 'run', 'flow.mts');
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.match(fixed.stderr, /Processing finished with: success/);
});

test('a folder, or a file of a kind Eventor does not read, given as the flow is a named error', (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'flows'));
  writeFileSync(join(dir, 'notes.txt'), 'steps: []\n');
  const folder = cliIn(dir, 'run', 'flows');
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /FlowLoadError: flow file flows is a folder: give the path of the flow file in it/);
  const text = cliIn(dir, 'graph', 'notes.txt');
  assert.equal(text.code, 2);
  assert.match(text.stderr, /FlowLoadError: flow file notes\.txt is a \.txt, not a flow file: give a module \(\.ts, \.mts, \.js, \.mjs\)/);
});
