#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { EventorError, RunStalledError } from '../model/errors.js';
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

program.parseAsync().catch((error: unknown) => {
  const message = error instanceof EventorError ? `${error.name}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`eventor: ${message}\n`);
  // A run that started and could not finish is a run that failed (1), not a usage error (2).
  process.exitCode = error instanceof RunStalledError ? 1 : 2;
});
