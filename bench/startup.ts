// The start-up rows of `npm run bench`: whole `eventor` processes as a user launches them.
// `eventor --help` beside `node -e 0`, and the time from the launch of `eventor run` on a
// one-step YAML flow (on the default store, a LevelDB folder) until its first task is active
// (the `at` of its --json record), beside a bare Node script that starts the same program.
// Each figure is the median of several runs.
//
// Run alone: node --import tsx bench/startup.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ClusterRow } from './cluster.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const RUNS = 9;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Milliseconds from spawning `args` under node until it exits (exit code 0 expected). */
function wholeProcess(args: string[], cwd?: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    spawn(process.execPath, args, { stdio: 'ignore', cwd })
      .on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`node ${args.join(' ')} exited ${code}`))))
      .on('error', reject);
  });
}

/** Milliseconds from spawning `args` until a line of its stdout yields a time (ms since the epoch) through `timeOf`. */
function untilLine(args: string[], cwd: string, timeOf: (line: string) => number | undefined): Promise<number> {
  const launched = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'], cwd });
    let buffer = '';
    let found: number | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) found ??= timeOf(line);
    });
    child.on('error', reject).on('exit', (code) => (found !== undefined ? resolve(found - launched) : reject(new Error(`node ${args.join(' ')} exited ${code} without the line awaited`))));
  });
}

/** The time of the first `active` record that `eventor run --json` printed. */
function firstActive(line: string): number | undefined {
  try {
    const record = JSON.parse(line) as { status?: string; at?: string };
    return record.status === 'active' && record.at ? Date.parse(record.at) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `ours` and `bare` in turn, one warm-up each, and gives their medians. */
async function pair(ours: () => Promise<number>, bare: () => Promise<number>): Promise<{ ours: number; bare: number }> {
  await ours();
  await bare();
  const figures = { ours: [] as number[], bare: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    figures.ours.push(await ours());
    figures.bare.push(await bare());
  }
  return { ours: median(figures.ours), bare: median(figures.bare) };
}

/** The two start-up rows, with their JSON figures. */
export async function startupRows(): Promise<ClusterRow[]> {
  const folder = mkdtempSync(join(tmpdir(), 'eventor-bench-startup-'));
  try {
    writeFileSync(join(folder, 'one.yaml'), 'name: one\nsteps:\n  - name: hello\n    command: ["true"]\n');
    // The bare baseline starts the same program from a plain script, and says when it did.
    writeFileSync(join(folder, 'bare.mjs'), "import { spawn } from 'node:child_process';\nspawn('true', [], { stdio: 'ignore' }).on('spawn', () => console.log(Date.now()));\n");
    const help = await pair(() => wholeProcess([CLI, '--help']), () => wholeProcess(['-e', '0']));
    const firstTask = await pair(
      () => untilLine([CLI, 'run', 'one.yaml', '--json', '--quiet'], folder, firstActive),
      () => untilLine([join(folder, 'bare.mjs')], folder, (line) => (/^\d+$/.test(line) ? Number(line) : undefined)),
    );
    return [
      { name: 'CLI: `eventor --help`, whole process', unit: 'ms', ...help, target: '≤ 2× bare', better: 'lower', json: { cli_help_ms: +help.ours.toFixed(1), cli_help_baseline_ms: +help.bare.toFixed(1) } },
      { name: "CLI: a YAML flow's first task active, from launch", unit: 'ms', ...firstTask, target: '≤ 150', better: 'lower', note: 'bare: a Node script that spawns the same program', json: { cli_first_task_ms: +firstTask.ours.toFixed(1), cli_first_task_baseline_ms: +firstTask.bare.toFixed(1) } },
    ];
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await startupRows()) console.log(`${row.name}: ${row.ours.toFixed(1)} ${row.unit} (bare ${row.bare.toFixed(1)})`);
}
