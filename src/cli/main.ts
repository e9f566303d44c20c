#!/usr/bin/env node
// Loads only commander and what parses the flags: each command imports what it needs when it runs,
// so that `eventor --help` and `eventor --version` start as fast as node itself.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { withNatsFlags, natsFromFlags, type NatsFlags } from './nats-flags.js';
import type { RunFlags } from './run-command.js';

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('a whole number, 1 or more');
  return number;
}

function wholeNumber(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new InvalidArgumentError('a whole number, 0 or more');
  return number;
}

function days(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0) throw new InvalidArgumentError('a number of days, 0 or more');
  return number;
}

// A reader that goes away (`eventor runs --json | head`) is no error: stop writing, quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') {
    process.stdout.destroy();
    return;
  }
  throw error;
});

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const debug = process.argv.includes('--debug');

/** Help text after the options: examples, one command a line. */
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}\n`;

const program = new Command()
  .name('eventor')
  .description('Runs flows of steps triggered by events, durably, on this host and others.')
  .version(version, '-V, --version', 'print the version of eventor')
  .option('--debug', "print the stack of an error, and Eventor's own frames in a failed step's stack")
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError('(eventor --help lists the commands; eventor COMMAND --help gives their options and examples)')
  .exitOverride()
  .addHelpText(
    'after',
    `${examples('eventor run examples/etl.yaml', 'eventor recover examples/etl.yaml', 'eventor runs', 'eventor show RUN_ID', 'eventor graph examples/nested.yaml --format dot')}
Exit codes: 0 success, 1 the flow failed or did not finish, 2 a usage or validation error.
`,
  );

const FLOW_ARGUMENT = 'the flow: a module (.ts, .mts, .js, .mjs) whose default export is an Eventor or a Sequent, or a function that builds one; a flow file (.yaml, .yml, .json); or an XState machine config (.machine.json, .machine.yaml)';

/** The flags run, recover and continue share. */
function withRunFlags(command: Command): Command {
  return withNatsFlags(
    command
      .argument('<flow>', FLOW_ARGUMENT)
      .option('--store <path>', "the store: a LevelDB folder (default .eventor/<flow name>), ':memory:' or nats://host:4222/bucket")
      .option('--config <file>', 'a configuration file (EVENTOR, DATABASES, LOGGING sections); default: EVENTOR_CONFIG. Flags win over it')
      .option('--max-concurrent <n>', 'most tasks running at once', positiveInteger)
      .option('--max-loops <n>', 'stop after this many loops, leaving delays for a later continue', positiveInteger)
      .addOption(new Option('--quiet', 'print no log lines on the console').conflicts('verbose'))
      .option('--verbose', 'print debug log lines too')
      .option('--json', 'print one JSON record a line on stdout for each task transition')
      .option('--inspect [url]', 'send XState inspection events to a WebSocket server at url; without url, to a relay this command serves on loopback (it prints its address)')
      .option('--dashboard [port]', 'serve the live dashboard of the run on 127.0.0.1 (on port, else a free one; it prints its address) while the run goes on', wholeNumber),
  ).exitOverride();
}

const RUN_NOTE = `
Flags reach every flow the file builds: a YAML or JSON flow, an Eventor or a Sequent a module
exports, or the one a function it exports returns (called with no arguments). A configuration file (--config, or EVENTOR_CONFIG) gives the settings
the flow leaves out; a flag wins over both. On a terminal, a live block under the log lines
shows the tasks by status. Ctrl-C cancels the run and prints the command that finishes it.
Exit codes: 0 success, 1 the flow failed or did not finish, 2 a usage or validation error.`;

async function runAction(mode: 'restart' | 'recover' | 'continue', file: string, flags: RunFlags): Promise<void> {
  const { runCommand } = await import('./run-command.js');
  const { RunMode } = await import('../model/status.js');
  await runCommand(file, flags, RunMode[mode]);
}

withRunFlags(program.command('run').description('run a flow as a new run; exit 0 on success, 1 when it failed or did not finish'))
  .option('--run-id <id>', 'the id of the new run (default: made from the time)')
  .addHelpText('after', `${examples('eventor run examples/etl.yaml', 'eventor run examples/simple-chain.ts --store /tmp/runs --max-concurrent 4', 'eventor run examples/etl.yaml --config examples/eventor.config.yaml', 'eventor run flow.yaml --quiet --json | jq -c \'select(.status == "failure")\'', 'eventor run examples/delay-continue.ts --max-loops 1', 'eventor run examples/etl.yaml --inspect', 'eventor run examples/etl.yaml --dashboard 8080', 'eventor run flow.machine.json --inspect ws://127.0.0.1:8080')}${RUN_NOTE}\n`)
  .action((file: string, flags: RunFlags) => runAction('restart', file, flags));

withRunFlags(program.command('recover').description('start a new recovery of a run: finished tasks are kept, failed and unfinished ones run again'))
  .option('--run-id <id>', 'the run to recover (default: the latest in the store)')
  .option('--recovery <n>', 'the recovery to take up (default: the latest)', wholeNumber)
  .addHelpText('after', `${examples('eventor recover examples/etl.yaml', 'eventor recover examples/etl.yaml --run-id 20261203T090000.000-ab12cd', 'eventor recover flow.yaml --run-id RUN_ID --recovery 0 --store /tmp/runs')}${RUN_NOTE}\n`)
  .action((file: string, flags: RunFlags) => runAction('recover', file, flags));

withRunFlags(program.command('continue').description('take a run up where it stopped, in the same recovery: what finished stays finished, delays keep their due times'))
  .option('--run-id <id>', 'the run to continue (default: the latest in the store)')
  .option('--recovery <n>', 'the recovery to continue (default: the latest)', wholeNumber)
  .addHelpText('after', `${examples('eventor continue examples/delay-continue.ts --max-loops 1', 'eventor continue flow.yaml --run-id RUN_ID')}${RUN_NOTE}\n`)
  .action((file: string, flags: RunFlags) => runAction('continue', file, flags));

program
  .command('runs')
  .description('list the runs of a store, or of every store under .eventor/ here')
  .option('--store <path>', 'the store folder (default: every folder under .eventor/)')
  .option('--config <file>', 'a configuration file whose DATABASES name the store (default: EVENTOR_CONFIG)')
  .option('--json', 'one JSON record a line instead of a table')
  .exitOverride()
  .addHelpText('after', examples('eventor runs', 'eventor runs --store .eventor/etl', 'eventor runs --json'))
  .action(async (options: { store?: string; config?: string; json?: boolean }) => {
    const { runsCommand } = await import('./store-commands.js');
    await runsCommand(options);
  });

program
  .command('show')
  .description("show a run and its tasks, by step and sequence, as of its latest recovery")
  .argument('<run-id>', 'the run id, as eventor runs lists it')
  .option('--store <path>', 'the store folder (default: the one under .eventor/ that holds the run)')
  .option('--config <file>', 'a configuration file whose DATABASES name the store (default: EVENTOR_CONFIG)')
  .option('--json', 'one JSON record for the run, then one a task')
  .exitOverride()
  .addHelpText('after', examples('eventor show 20261203T090000.000-ab12cd', 'eventor show RUN_ID --store /tmp/runs --json'))
  .action(async (runId: string, options: { store?: string; config?: string; json?: boolean }) => {
    const { showCommand } = await import('./store-commands.js');
    await showCommand(runId, options);
  });

program
  .command('ui')
  .description('serve the dashboard of the runs in a store, read-only, in a browser: graph, tasks, logs, recoveries')
  .option('--store <path>', 'the store (default: every folder under .eventor/)')
  .option('--config <file>', 'a configuration file whose DATABASES name the store (default: EVENTOR_CONFIG)')
  .option('--port <n>', 'the port (default: a free one)', wholeNumber)
  .option('--host <address>', 'the address to listen on (default 127.0.0.1); any other needs --token')
  .option('--token <token>', 'a token that every request but reading must carry (Authorization: Bearer TOKEN)')
  .option('--logdir <dir>', "the folder of the runs' JSON log files (default .eventor/logs)")
  .option('--flow <file>', "a flow file, to draw its runs' graphs with their arrows (a store keeps only the steps)")
  .exitOverride()
  .addHelpText('after', examples('eventor ui', 'eventor ui --store .eventor/etl --port 8080', 'eventor ui --store .eventor/etl --flow examples/etl.yaml', 'eventor ui --host 0.0.0.0 --port 8080 --token "$(openssl rand -hex 16)"'))
  .action(async (options: { store?: string; config?: string; port?: number; host?: string; token?: string; logdir?: string; flow?: string }) => {
    const { uiCommand } = await import('./ui-command.js');
    await uiCommand(options);
  });

program
  .command('gc')
  .description('delete the runs started more than N days ago (never a run still running)')
  .requiredOption('--days <n>', 'delete runs started more than this many days ago (0: all)', days)
  .option('--store <path>', 'the store folder (default: every folder under .eventor/)')
  .option('--config <file>', 'a configuration file whose DATABASES name the store (default: EVENTOR_CONFIG)')
  .option('--dry-run', 'print what would be deleted, delete nothing')
  .exitOverride()
  .addHelpText('after', examples('eventor gc --days 30', 'eventor gc --days 7 --store .eventor/etl --dry-run'))
  .action(async (options: { days: number; store?: string; config?: string; dryRun?: boolean }) => {
    const { gcCommand } = await import('./store-commands.js');
    await gcCommand(options);
  });

program
  .command('graph')
  .description('print the graph of a flow, events and steps, without running it')
  .argument('<flow>', FLOW_ARGUMENT)
  .addOption(new Option('--format <format>', 'the graph language').choices(['mermaid', 'dot', 'svg', 'xstate']).default('mermaid'))
  .exitOverride()
  .addHelpText('after', examples('eventor graph examples/etl.yaml', 'eventor graph examples/nested.yaml --format dot', 'eventor graph examples/nested.yaml --format svg > nested.svg', 'eventor graph examples/etl.yaml --format xstate > etl.machine.json'))
  .action(async (file: string, options: { format: string }) => {
    const { graphCommand } = await import('./graph.js');
    await graphCommand(file, options);
  });

const collect = (value: string, previous: string[]) => [...previous, value];

withNatsFlags(
  program
    .command('agent')
    .description('run the steps that supervisors send to this host (hosts: [NAME]) or to the queues it serves, until SIGTERM drains it')
    .requiredOption('--host <name>', 'the host name steps are pinned to')
    .requiredOption('--root <dir>', "the folder steps' modules are resolved in; nothing outside it is imported")
    .option('--queue <name>', 'also take tasks of this work queue (repeat for several)', collect, [])
    .option('--max-concurrent <n>', 'most tasks running at once (default 8)', positiveInteger)
    .option('--heartbeat <seconds>', 'seconds between heartbeats (default 1)', Number)
    .exitOverride()
    .addHelpText('after', examples('eventor agent --nats nats://nats:4222 --host node1 --root /srv/flows', 'EVENTOR_NATS_URL=nats://nats:4222 eventor agent --host node2 --root . --queue etl --queue reports')),
).action(async (options: { host: string; root: string; queue: string[]; maxConcurrent?: number; heartbeat?: number } & NatsFlags) => {
  const { Agent } = await import('../transport/agent.js');
  const agent = await Agent.start({ nats: natsFromFlags(options), host: options.host, root: options.root, queues: options.queue, maxConcurrent: options.maxConcurrent, heartbeat: options.heartbeat });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130);
    signalled = true;
    process.stderr.write(`eventor agent ${options.host}: ${signal}: draining (again to exit at once)\n`);
    void agent.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await agent.stopped;
});

withNatsFlags(
  program
    .command('trigger')
    .description('fire an event in a running flow, as if it had called triggerEvent(EVENT, SEQUENCE)')
    .argument('<event>', 'the event to fire')
    .requiredOption('--run <id>', 'the run id (as the run printed it, or eventor runs lists it)')
    .requiredOption('--sequence <n>', 'the sequence to fire it for')
    .exitOverride()
    .addHelpText('after', examples('eventor trigger file_arrived --run RUN_ID --sequence 2026-12-03 --nats nats://nats:4222')),
).action(async (event: string, options: { run: string; sequence: string } & NatsFlags) => {
  const { sendTrigger } = await import('../transport/trigger.js');
  await sendTrigger({ nats: natsFromFlags(options), runId: options.run, event, sequence: options.sequence });
  process.stdout.write(`triggered ${event} (sequence ${options.sequence}) in run ${options.run}\n`);
});

withNatsFlags(
  program
    .command('complete')
    .description('finish a deferred step (one whose code called currentStep().defer()) with success, or with --failed')
    .argument('<token>', 'the token that defer() gave the step')
    .option('--failed', 'the step failed')
    .option('--result <json>', 'the result of the step, as JSON')
    .option('--error <message>', 'why it failed, with --failed')
    .exitOverride()
    .addHelpText('after', examples(`eventor complete TOKEN --result '{"rows": 12}'`, `eventor complete TOKEN --failed --error 'the approver said no'`)),
).action(async (token: string, options: { failed?: boolean; result?: string; error?: string } & NatsFlags) => {
  const { ConfigError } = await import('../model/errors.js');
  let result: unknown;
  if (options.result !== undefined) {
    try {
      result = JSON.parse(options.result);
    } catch (error) {
      throw new ConfigError('result', options.result, `JSON, such as '{"rows": 12}' (${(error as Error).message})`);
    }
  }
  const { completeStep } = await import('../transport/trigger.js');
  await completeStep({ nats: natsFromFlags(options), token, failed: options.failed, result, error: options.error });
  process.stdout.write(`completed the step of token ${token.slice(0, 12)}… ${options.failed ? 'as failed' : 'with success'}\n`);
});

program.parseAsync().catch(async (error: unknown) => {
  if (error instanceof CommanderError) {
    // Help and version exit 0; commander has already printed a usage error and the help hint.
    process.exitCode = error.exitCode === 0 || ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code) ? 0 : 2;
    return;
  }
  const { EventorError, RunStalledError, TriggerRefusedError } = await import('../model/errors.js');
  const message = error instanceof EventorError ? `${error.name}: ${error.message}` : error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  process.stderr.write(`eventor: ${message}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  // A run that started and could not finish is a run that failed (1), not a usage error (2).
  process.exitCode = error instanceof RunStalledError || error instanceof TriggerRefusedError ? 1 : 2;
});
