import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { LiveRunSource, startDashboard } from '../src/observe/dashboard.js';
import type { TransitionRecord } from '../src/model/records.js';
import { NatsServer } from './nats-harness.js';

// The dashboard, tested as a user meets it: the built `eventor` command serves it, and a real
// headless Chromium (Debian's, installed by scripts/install-system-deps.sh) reads it.
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const SECRET = 'tok-Sup3rSecret-4711';

// broken fails at once with the secret in its command and its stderr; gate waits for a marker
// file the test creates once the page is open, and report for a second one, so that the run
// is still live when the page must show gate's later transition.
const FLOW = `name: dashdemo
config:
  stopOnException: false
steps:
  - name: extract
    command: echo "extracted 120 rows"
  - name: broken
    command: 'echo "login with ${SECRET} refused" >&2; exit 3'
    requires: [[extract, success]]
  - name: gate
    command: 'while [ ! -f go ]; do sleep 0.05; done; echo "gate open"'
    requires: [[extract, success]]
  - name: report
    command: 'while [ ! -f end ]; do sleep 0.05; done; echo "report sent"'
    requires: [[gate, success]]
`;

interface Served {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** Starts the `eventor` command and waits for the dashboard address it prints (on stdout or stderr). */
function serve(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no dashboard address within 15 s; output: ${text}`)), 15_000);
    const read = (chunk: Buffer) => {
      text += chunk.toString();
      const url = /dashboard[^\n]*? at (http:\/\/\S+\/)/.exec(text)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url, exited });
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`eventor exited (${code}) before serving the dashboard; output: ${text}`));
    });
  });
}

async function stop(served: Served | undefined): Promise<void> {
  if (!served || served.child.exitCode !== null) return;
  served.child.kill('SIGTERM');
  await served.exited;
}

/** Everything the page and API show: the page's text and markup, and every API response the test reads. */
async function seen(page: Page, url: string, runId: string): Promise<string> {
  const paths = ['api/actors', 'api/actors/task%3Abroken%2F1', 'api/runs', `api/runs/${runId}`, `api/runs/${runId}/tasks`, `api/runs/${runId}/tasks?status=failure`, `api/runs/${runId}/log?step=broken&sequence=1`, `api/runs/${runId}/log`, 'app.js', ''];
  const bodies = await Promise.all(paths.map(async (path) => (await fetch(new URL(path, url))).text()));
  return [await page.content(), await page.innerText('body'), ...bodies].join('\n');
}

describe('the dashboard', () => {
  let folder: string;
  let browser: Browser;
  let live: Served | undefined;
  let runId = '';

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'eventor-dashboard-'));
    writeFileSync(join(folder, 'flow.yaml'), FLOW);
    mkdirSync(artifacts, { recursive: true });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });

  after(async () => {
    await stop(live);
    await browser?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  test('a live run shows its failed step with its error, and a later transition appears without a reload', async () => {
    live = await serve(folder, ['run', 'flow.yaml', '--dashboard', '0', '--quiet'], { EVENTOR_NATS_TOKEN: SECRET });
    assert.match(live.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'the dashboard listens on loopback');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    let loads = 0;
    page.on('load', () => (loads += 1));
    await page.goto(live.url);

    await page.locator('#graph [data-step="broken"][data-status="failure"]').waitFor();
    assert.equal(await page.locator('#graph [data-step="broken"] .step-status').textContent(), 'failure');
    const brokenRow = page.locator('#tasks tr[data-step="broken"]');
    assert.match((await brokenRow.locator('td.error').textContent()) ?? '', /CommandFailedError: .*exited with code 3/);
    assert.match((await page.locator('#failures').textContent()) ?? '', /broken\/1: CommandFailedError/);
    await page.locator('#graph [data-step="gate"][data-status="active"]').waitFor();
    assert.equal(await page.locator('#graph [data-step="report"]').getAttribute('data-status'), 'none', 'report has not started');
    runId = (await page.locator('#run-id').textContent()) ?? '';
    assert.match(runId, /^\d{8}T/);

    // The step's log tail, for the task chosen in the table.
    await brokenRow.click();
    await page.locator('#log', { hasText: 'refused' }).waitFor();
    assert.match((await page.locator('#log').textContent()) ?? '', /login with \*\*\* refused/);

    // The actor view follows the run's XState inspection events: the supervisor, the event actors, each task.
    const brokenActor = page.locator('#actors tr[data-actor="task:broken/1"]');
    await brokenActor.locator('td.status.failure').waitFor();
    assert.match((await page.locator('#actors tbody').textContent()) ?? '', /supervisor:/);
    await brokenActor.click();
    await page.locator('#actor-snapshot', { hasText: '"value":"failure"' }).waitFor();
    assert.ok((await page.locator('#actor-events tbody tr').count()) >= 2, 'the events task:broken/1 received');
    assert.match((await page.locator('#actor-events tbody').textContent()) ?? '', /start/);

    writeFileSync(join(folder, 'go'), '');
    await page.locator('#graph [data-step="gate"][data-status="success"]').waitFor();
    await page.locator('#tasks tr[data-step="report"][data-status="active"]').waitFor();
    await page.locator('#actors tr[data-actor="task:report/1"] td.status.active').waitFor();
    assert.equal(loads, 1, 'the page was never reloaded');
    assert.equal(await page.locator('#run-status').textContent(), 'running');
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

    // The secret the run knows (EVENTOR_NATS_TOKEN) is in broken's command and stderr: never on the page or in the API.
    const shown = await seen(page, live.url, runId);
    assert.ok(shown.includes('refused'), 'the check reads the failed step');
    assert.ok(!shown.includes(SECRET), 'the token is never shown');

    // The event stream too: read it to the run's end.
    const stream = await fetch(new URL('api/events', live.url));
    const reading = stream.text();
    writeFileSync(join(folder, 'end'), '');
    await page.locator('#run-status', { hasText: 'failure' }).waitFor();
    assert.equal(await live.exited, 1, 'a run with a failed step exits 1');
    const events = await reading;
    assert.match(events, /event: transition\ndata: .*"step":"report".*"status":"success"/);
    assert.match(events, /event: run\ndata: .*"status":"failure"/);
    assert.ok(!events.includes(SECRET));
    await page.close();
  });

  test('eventor ui --store serves a finished run read-only: graph, tasks, log and recoveries', async (t) => {
    assert.ok(runId, 'the live run ran first');
    const ui = await serve(folder, ['ui', '--store', '.eventor/dashdemo', '--port', '0', '--flow', 'flow.yaml'], { EVENTOR_NATS_TOKEN: SECRET });
    t.after(() => stop(ui));
    const runs = (await (await fetch(new URL('api/runs', ui.url))).json()) as { runs: { runId: string; status: string }[]; live: boolean };
    assert.deepEqual(runs.runs.map((run) => [run.runId, run.status]), [[runId, 'failure']]);
    assert.equal(runs.live, false);

    const page = await browser.newPage();
    await page.goto(ui.url);
    await page.locator('#graph [data-step="broken"][data-status="failure"]').waitFor();
    assert.equal(await page.locator('#graph path.edge').count(), 3, 'the arrows of the flow given with --flow');
    for (const step of ['extract', 'gate', 'report']) assert.equal(await page.locator(`#graph [data-step="${step}"]`).getAttribute('data-status'), 'success', step);
    assert.match((await page.locator('#tasks tr[data-step="broken"] td.error').textContent()) ?? '', /exited with code 3/);
    assert.equal(await page.locator('#tasks tr[data-step="broken"] td').nth(3).textContent(), '1', 'one try');
    assert.equal(await page.locator('#recoveries tbody tr').count(), 1);
    assert.match((await page.locator('#recoveries tbody tr').textContent()) ?? '', /^0-.*failure=1/);
    await page.locator('#tasks tr[data-step="report"]').click();
    await page.locator('#log', { hasText: 'report sent' }).waitFor();
    assert.ok(!(await seen(page, ui.url, runId)).includes(SECRET), 'the token is never shown');
    const cancel = await fetch(new URL('api/cancel', ui.url), { method: 'POST' });
    assert.equal(cancel.status, 404, 'nothing to change over a store');
    await page.close();
  });

  test('beyond loopback the dashboard needs a token, and every request but a read must carry it', async (t) => {
    const refused = spawnSync(process.execPath, [cli, 'ui', '--store', join(folder, '.eventor/dashdemo'), '--host', '0.0.0.0'], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /only with a token: give --token/);

    const token = 'dash-token-1234';
    const ui = await serve(folder, ['ui', '--store', '.eventor/dashdemo', '--host', '0.0.0.0', '--port', '0', '--token', token]);
    t.after(() => stop(ui));
    const base = ui.url.replace('0.0.0.0', '127.0.0.1');
    assert.equal((await fetch(new URL('api/runs', base))).status, 200, 'reading needs no token');
    const without = await fetch(new URL('api/cancel', base), { method: 'POST' });
    assert.equal(without.status, 401);
    const wrong = await fetch(new URL('api/cancel', base), { method: 'POST', headers: { authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);
    const right = await fetch(new URL('api/cancel', base), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(right.status, 404, 'with the token the request gets through (there is no live run to cancel)');
    assert.ok(!(await (await fetch(new URL('api/runs', base))).text()).includes(token));
  });

  test('a run of 1,500 tasks pages its table and follows a burst of transitions', async (t) => {
    const source = new LiveRunSource({ name: 'wide', runId: () => 'wide-1', graph: { nodes: [{ id: 'step:load', label: 'load', shape: 'step' }], edges: [], groups: [] }, store: ':memory:', logdir: folder });
    const dashboard = await startDashboard({ source });
    t.after(() => dashboard.close());
    const move = (sequence: number, status: TransitionRecord['status'], error?: TransitionRecord['error']) => source.update({ runId: 'wide-1', step: 'load', sequence: String(sequence), status, host: 'vm', at: Date.now(), error });
    for (let sequence = 1; sequence <= 1500; sequence += 1) move(sequence, 'active');
    const page = await browser.newPage();
    await page.goto(dashboard.url);
    await page.locator('#page-info', { hasText: '1–100 of 1500' }).waitFor();
    assert.equal(await page.locator('#tasks tbody tr').count(), 100, 'one page of rows, not 1,500');
    await page.click('#next');
    await page.locator('#page-info', { hasText: '101–200 of 1500' }).waitFor();
    assert.equal(await page.locator('#tasks tbody tr').first().getAttribute('data-sequence'), '101', 'sequences in their natural order');
    for (let sequence = 1; sequence <= 1500; sequence += 1) move(sequence, sequence === 1234 ? 'failure' : 'success', sequence === 1234 ? { name: 'Error', message: 'row 1234 is bad' } : undefined);
    await page.locator('#graph [data-step="load"][data-status="failure"]').waitFor();
    await page.locator('#failures', { hasText: 'load/1234: Error: row 1234 is bad' }).waitFor();
    await page.selectOption('#filter-status', 'failure');
    await page.locator('#page-info', { hasText: '1–1 of 1 (of 1500)' }).waitFor();
    await page.close();
  });

  test('eventor ui follows a run on a NATS shared store while it goes on, and never shows the NATS password', async (t) => {
    const pass = 'nats-Pa55word-0815';
    const server = await NatsServer.start(t, { user: 'eventor', pass });
    const where = join(folder, 'nats');
    mkdirSync(where);
    writeFileSync(join(where, 'flow.yaml'), FLOW);
    const store = `${server.url}/runs`;
    const run = spawn(process.execPath, [cli, 'run', 'flow.yaml', '--store', store, '--nats', server.url, '--user', 'eventor', '--pass', pass, '--quiet'], { cwd: where, stdio: 'ignore' });
    const ended = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
    t.after(async () => {
      if (run.exitCode === null) {
        run.kill('SIGTERM');
        await ended;
      }
    });
    const ui = await serve(where, ['ui', '--store', store, '--port', '0'], { EVENTOR_NATS_USER: 'eventor', EVENTOR_NATS_PASS: pass });
    t.after(() => stop(ui));
    const page = await browser.newPage();
    let loads = 0;
    page.on('load', () => (loads += 1));
    await page.goto(ui.url);
    await page.locator('#graph [data-step="broken"][data-status="failure"]').waitFor({ timeout: 20_000 });
    await page.locator('#graph [data-step="gate"][data-status="active"]').waitFor();
    assert.equal(await page.locator('#run-status').textContent(), 'running');
    writeFileSync(join(where, 'go'), '');
    await page.locator('#graph [data-step="gate"][data-status="success"]').waitFor();
    writeFileSync(join(where, 'end'), '');
    assert.equal(await ended, 1);
    await page.locator('#run-status', { hasText: 'failure' }).waitFor();
    assert.equal(loads, 1, 'the page was never reloaded');
    const runId = (await page.locator('#run-id').textContent()) ?? '';
    assert.ok(!(await seen(page, ui.url, runId)).includes(pass), 'the NATS password is never shown');
    await page.close();
  });
});
