// Messages a newcomer meets, each tried as a new user would: they name the file and line, speak
// in the terms of what the user wrote, and say what to do.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
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
