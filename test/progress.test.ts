// The live progress block, in a real pseudo-terminal (tmux, with capture-pane): it shows tasks
// done by status, the active steps and the last failure, and never garbles the log lines above it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { until } from './cluster-helpers.js';

const RUN = fileURLToPath(new URL('./fixtures/progress/run.ts', import.meta.url));
const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });

test('on a terminal, a live block under the log lines shows done/total by status, the active steps and the last failure, and no line is garbled', { timeout: 120_000 }, async (t) => {
  const session = `eventor-progress-${randomBytes(4).toString('hex')}`;
  const started = tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', `${process.execPath} --import ${import.meta.resolve('tsx')} ${RUN}; sleep 60`);
  assert.equal(started.status, 0, started.stderr);
  t.after(() => tmux('kill-session', '-t', session));
  const pane = () => tmux('capture-pane', '-p', '-t', session, '-S', '-200').stdout;
  // While it runs: the block is there, under the lines logged so far.
  await until(() => /active: .*load\/1/.test(pane()), 'the block to show load/1 active', 60_000, pane);
  await until(() => pane().includes('FINISHED'), 'the run to finish', 60_000, pane);
  const lines = pane().split('\n').filter((line) => line.trim() !== '');
  const logLines = lines.filter((line) => line.startsWith('[ '));
  // A failure's stack spans lines of its own, after the line that starts its record.
  for (const line of logLines.filter((entry) => !/\]\[ ERROR \]\[ Error: on purpose$/.test(entry))) assert.match(line, /^\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \]\[ [^\]]+ \]\[ [^\]]+ \]\[ [A-Z]+ \]\[ .* \]$/, `a log line is whole: ${line}`);
  for (const step of ['extract', 'load', 'index']) {
    assert.equal(logLines.filter((line) => line.includes(`[ Step ${step}/1 ] Completed, status: success`)).length, 1, `${step} completed once, on a line of its own`);
    for (const part of [1, 2, 3]) assert.equal(logLines.filter((line) => line.includes(`${step}: part ${part} of 3`)).length, 1);
  }
  // The block's last state stays, once, at the bottom.
  const blockStart = lines.findIndex((line) => line.startsWith('── progress-demo:'));
  assert.notEqual(blockStart, -1, lines.join('\n'));
  assert.equal(lines.filter((line) => line.startsWith('── progress-demo:')).length, 1, 'one block, not a trail of them');
  assert.match(lines[blockStart], /── progress-demo: 4\/4 tasks done \(3 success, 1 failure\), \d+\.\d s/);
  assert.equal(lines[blockStart + 1], '   active: none');
  assert.equal(lines[blockStart + 2], '   last failure: bad/1: Error: on purpose');
  assert.ok(blockStart > lines.findLastIndex((line) => line.startsWith('[ ')), 'the block is under every log line');
});
