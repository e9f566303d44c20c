// The progress display of `eventor run`: on a terminal (a real pseudo-terminal, tmux with
// capture-pane) a live block under the log lines; off a terminal plain log lines, no escape codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { root, scratchFolder } from './cli-helpers.js';
import { until } from './cluster-helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const QUICK = `${root}test/fixtures/cli/quick.yaml`;
const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });
const LOG_LINE = /^\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \]\[ [^\]]+ \]\[ [^\]]+ \]\[ [A-Z]+ \]\[ .* \]$/;

test('eventor run on a terminal ends with the block of tasks done by status under whole log lines', { timeout: 60_000 }, async (t) => {
  const folder = scratchFolder('eventor-progress-');
  const session = `eventor-cli-progress-${randomBytes(4).toString('hex')}`;
  const started = tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', '-c', folder, `${process.execPath} ${CLI} run ${QUICK}; echo "EXIT=$?"; sleep 60`);
  assert.equal(started.status, 0, started.stderr);
  t.after(() => tmux('kill-session', '-t', session));
  const pane = () => tmux('capture-pane', '-p', '-t', session, '-S', '-200').stdout;
  await until(() => /EXIT=\d+/.test(pane()), 'the run to end', 45_000, pane);
  const lines = pane().split('\n').filter((line) => line.trim() !== '');
  assert.ok(lines.includes('EXIT=1'), 'exit 1: a step failed');
  const logLines = lines.filter((line) => line.startsWith('[ '));
  for (const line of logLines) assert.match(line, LOG_LINE, `a log line is whole: ${line}`);
  for (const step of ['extract', 'bad', 'load', 'index']) assert.equal(logLines.filter((line) => line.includes(`[ Step ${step}/1 ] Trying to run`)).length, 1, `${step} started once, on a line of its own`);
  for (const text of ['extract: part 1', 'extract: part 2', 'load: part 1', 'load: part 2', 'index: done', 'bad: giving up']) assert.equal(logLines.filter((line) => line.endsWith(`[ ${text} ]`)).length, 1, text);
  assert.equal(lines.filter((line) => line.startsWith('── quick:')).length, 1, `one block, not a trail of them:\n${lines.join('\n')}`);
  const block = lines.findIndex((line) => line.startsWith('── quick:'));
  assert.match(lines[block], /^── quick: 4\/4 tasks done \(3 success, 1 failure\), \d+\.\d s$/);
  assert.equal(lines[block + 1], '   active: none');
  assert.equal(lines[block + 2], "   last failure: bad/1: CommandFailedError: command 'sh -c echo \"bad: giving up\" >&2; exit 3' exited with code 3");
  assert.ok(block > lines.findLastIndex((line) => line.startsWith('[ ')), 'the block is under every log line');
  assert.equal(lines[block + 3], 'EXIT=1');
});

test('eventor run off a terminal prints plain log lines, with no escape codes and no block', () => {
  const folder = scratchFolder('eventor-plain-');
  const result = spawnSync(process.execPath, [CLI, 'run', QUICK], { cwd: folder, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\x1b/, 'no escape codes');
  assert.doesNotMatch(result.stderr, /── quick:/);
  const lines = result.stderr.trimEnd().split('\n');
  for (const line of lines) assert.match(line, LOG_LINE);
  assert.match(lines.at(-1) as string, /Processing finished with: failure; outstanding tasks: 0 \]$/);
});

test('eventor run --quiet on a terminal prints nothing but the exit', { timeout: 60_000 }, async (t) => {
  const folder = scratchFolder('eventor-quiet-');
  const session = `eventor-cli-quiet-${randomBytes(4).toString('hex')}`;
  const started = tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '20', '-c', folder, `${process.execPath} ${CLI} run ${QUICK} --quiet; echo "EXIT=$?"; sleep 60`);
  assert.equal(started.status, 0, started.stderr);
  t.after(() => tmux('kill-session', '-t', session));
  const pane = () => tmux('capture-pane', '-p', '-t', session).stdout;
  await until(() => /EXIT=\d+/.test(pane()), 'the run to end', 45_000, pane);
  assert.deepEqual(
    pane()
      .split('\n')
      .filter((line) => line.trim() !== ''),
    ['EXIT=1'],
  );
});
