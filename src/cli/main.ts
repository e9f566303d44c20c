#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, EventorError, RunStalledError, TriggerRefusedError } from '../model/errors.js';
import type { NatsSettings } from '../model/config.js';
import { Agent } from '../transport/agent.js';
import { completeStep, sendTrigger } from '../transport/trigger.js';
import { loadRunnable } from './load-flow.js';

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('a whole number, 1 or more');
  return number;
}

const program = new Command()
  .name('eventor')
  .description('Runs flows of steps triggered by events, durably, on this host and others.')
  .showHelpAfterError();

program
  .command('run')
  .description('run the flow a module exports (default export: an Eventor, or a function that builds one); exit 0 on success, 1 on failure')
  .argument('<file>', 'the flow module (.js, .mjs or .ts)')
  .option('--max-loops <n>', 'stop after this many loops, leaving delays for a later run', positiveInteger)
  .action(async (file: string, options: { maxLoops?: number }) => {
    const flow = await loadRunnable(file);
    // SIGINT or SIGTERM cancels the run: no new task starts, running ones are signalled, the
    // store stays consistent, and a later recover finishes the run. A second one exits at once.
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) process.exit(130);
      signalled = true;
      process.stderr.write(`eventor: ${signal}: cancelling the run (again to exit at once); recover it later with runMode recover\n`);
      void flow.cancel?.(`received ${signal}`);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let ok = false;
    try {
      ok = await flow.run({ maxLoops: options.maxLoops });
    } finally {
      await flow.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    process.exitCode = ok ? 0 : 1;
  });

/** NATS settings from the flags, else the EVENTOR_NATS_* variables; secrets are never echoed. */
function natsFromFlags(options: { nats?: string; prefix?: string; user?: string; pass?: string; token?: string; creds?: string; nkey?: string; tlsCa?: string; tlsCert?: string; tlsKey?: string }): NatsSettings {
  const env = process.env;
  const servers = options.nats ?? env.EVENTOR_NATS_URL;
  if (!servers) throw new ConfigError('nats', undefined, 'a NATS URL: give --nats nats://host:4222, or set EVENTOR_NATS_URL');
  const settings: NatsSettings = { servers: servers.split(',').map((server) => server.trim()) };
  const pick = (flag: string | undefined, variable: string) => flag ?? env[variable];
  const user = pick(options.user, 'EVENTOR_NATS_USER');
  const pass = pick(options.pass, 'EVENTOR_NATS_PASS');
  const token = pick(options.token, 'EVENTOR_NATS_TOKEN');
  const creds = pick(options.creds, 'EVENTOR_NATS_CREDS');
  const nkey = pick(options.nkey, 'EVENTOR_NATS_NKEY');
  const prefix = pick(options.prefix, 'EVENTOR_NATS_PREFIX');
  if (user) settings.user = user;
  if (pass) settings.pass = pass;
  if (token) settings.token = token;
  if (creds) settings.credsFile = creds;
  if (nkey) settings.nkey = nkey;
  if (prefix) settings.prefix = prefix;
  // Read once: the steps an agent runs inherit its environment, and must not inherit its secrets.
  for (const variable of ['EVENTOR_NATS_PASS', 'EVENTOR_NATS_TOKEN', 'EVENTOR_NATS_NKEY']) delete env[variable];
  const ca = pick(options.tlsCa, 'EVENTOR_NATS_TLS_CA');
  const cert = pick(options.tlsCert, 'EVENTOR_NATS_TLS_CERT');
  const key = pick(options.tlsKey, 'EVENTOR_NATS_TLS_KEY');
  if (ca || cert || key) settings.tls = { ca, cert, key };
  return settings;
}

/** The connection flags every command that talks to NATS takes. */
function withNatsFlags(command: Command): Command {
  return command
    .option('--nats <url>', 'NATS server URL(s), comma-separated (default: EVENTOR_NATS_URL)')
    .option('--prefix <token>', 'first token of every subject (default: eventor, or EVENTOR_NATS_PREFIX)')
    .option('--user <name>', 'NATS user (or EVENTOR_NATS_USER)')
    .option('--pass <password>', 'NATS password (or EVENTOR_NATS_PASS, which keeps it out of the process list)')
    .option('--token <token>', 'NATS token (or EVENTOR_NATS_TOKEN)')
    .option('--creds <file>', 'NATS .creds file (or EVENTOR_NATS_CREDS)')
    .option('--nkey <seed>', 'NATS nkey seed (or EVENTOR_NATS_NKEY)')
    .option('--tls-ca <file>', 'CA certificate of the NATS server (or EVENTOR_NATS_TLS_CA)')
    .option('--tls-cert <file>', 'client certificate (or EVENTOR_NATS_TLS_CERT)')
    .option('--tls-key <file>', 'client key (or EVENTOR_NATS_TLS_KEY)');
}

const collect = (value: string, previous: string[]) => [...previous, value];

withNatsFlags(
  program
    .command('agent')
    .description('run the steps that supervisors send to this host (hosts: [NAME]) or to the queues it serves, until SIGTERM drains it')
    .requiredOption('--host <name>', 'the host name steps are pinned to')
    .requiredOption('--root <dir>', "the folder steps' modules are resolved in; nothing outside it is imported")
    .option('--queue <name>', 'also take tasks of this work queue (repeat for several)', collect, [])
    .option('--max-concurrent <n>', 'most tasks running at once (default 8)', positiveInteger)
    .option('--heartbeat <seconds>', 'seconds between heartbeats (default 1)', Number),
).action(async (options: { host: string; root: string; queue: string[]; maxConcurrent?: number; heartbeat?: number } & Parameters<typeof natsFromFlags>[0]) => {
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
    .requiredOption('--sequence <n>', 'the sequence to fire it for'),
).action(async (event: string, options: { run: string; sequence: string } & Parameters<typeof natsFromFlags>[0]) => {
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
    .option('--error <message>', 'why it failed, with --failed'),
).action(async (token: string, options: { failed?: boolean; result?: string; error?: string } & Parameters<typeof natsFromFlags>[0]) => {
  let result: unknown;
  if (options.result !== undefined) {
    try {
      result = JSON.parse(options.result);
    } catch (error) {
      throw new ConfigError('result', options.result, `JSON, such as '{"rows": 12}' (${(error as Error).message})`);
    }
  }
  await completeStep({ nats: natsFromFlags(options), token, failed: options.failed, result, error: options.error });
  process.stdout.write(`completed the step of token ${token.slice(0, 12)}… ${options.failed ? 'as failed' : 'with success'}\n`);
});

program.parseAsync().catch((error: unknown) => {
  const message = error instanceof EventorError ? `${error.name}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`eventor: ${message}\n`);
  // A run that started and could not finish is a run that failed (1), not a usage error (2).
  process.exitCode = error instanceof RunStalledError || error instanceof TriggerRefusedError ? 1 : 2;
});
