// The seed's delay example: three steps, each 10 s after the one before. Instead of waiting in
// one process, each pass runs one loop (`maxLoops: 1`) and ends; the next pass continues the
// same run, and delays keep their absolute due times. Passes repeat until nothing is left to do.
// Arguments: the delay in seconds (default 10), the pause between passes (default 5), a store folder.
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Eventor, RunMode, StepStatus, currentStep } from 'eventor';

function prog(progname: string): string {
  const { logger, sequence } = currentStep();
  logger.info(`doing what ${progname} is doing`);
  logger.info(`EVENTOR_STEP_SEQUENCE: ${sequence}`);
  return progname;
}

export default function buildFlow(runMode: RunMode = RunMode.restart, delay = 10, store?: string): Eventor {
  const ev = new Eventor({ name: 'delay-continue', runMode, store });

  const ev1s = ev.addEvent('run_step1');
  const ev2s = ev.addEvent('run_step2');
  const ev3s = ev.addEvent('run_step3');

  const s1 = ev.addStep('s1', { func: prog, args: ['prog1'], triggers: { [StepStatus.success]: [ev2s] } });
  const s2 = ev.addStep('s2', { func: prog, args: ['prog2'], triggers: { [StepStatus.success]: [ev3s] } });
  const s3 = ev.addStep('s3', { func: prog, args: ['prog3'] });

  ev.addAssoc(ev1s, s1, { delay: 0 });
  ev.addAssoc(ev2s, s2, { delay });
  ev.addAssoc(ev3s, s3, { delay });

  ev.triggerEvent(ev1s, 1);
  return ev;
}

/** Runs the flow in passes of one loop each, continuing the same run, until nothing is left. */
export async function runInPasses(delay: number, pause: number, store?: string): Promise<number> {
  let ev = buildFlow(RunMode.restart, delay, store);
  await ev.run({ maxLoops: 1 });
  await ev.close();
  let passes = 1;
  for (;;) {
    ev = buildFlow(RunMode.continue, delay, store);
    const { total } = await ev.countTodos();
    if (total === 0) {
      await ev.close();
      return passes;
    }
    await sleep(pause * 1000);
    await ev.run({ maxLoops: 1 });
    await ev.close();
    passes++;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [delay = '10', pause = '5', store] = process.argv.slice(2);
  const passes = await runInPasses(Number(delay), Number(pause), store);
  console.log(`done in ${passes} passes`);
}
