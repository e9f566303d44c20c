// The seed's recovery example. The first run fails in s2 on sqrt(-9); the recovery, given 9,
// skips s1 (it succeeded) and runs only s2 and s3. Runs live in the LevelDB folder
// .eventor/recovery (or the folder given as the first argument).
import { pathToFileURL } from 'node:url';
import { Eventor, RunMode, StepReplay, StepStatus, currentStep } from 'eventor';

function square({ x }: { x: number }): number {
  const y = x * x;
  currentStep().logger.info(`square of ${x} is ${y}`);
  return y;
}

function squareRoot(x: number): number {
  if (x < 0) throw new RangeError('math domain error');
  const y = Math.sqrt(x);
  currentStep().logger.info(`square root of ${x} is ${y}`);
  return y;
}

function divide(x: number, y: number): number {
  const z = x / y;
  currentStep().logger.info(`dividing ${x} by ${y} is ${z}`);
  return z;
}

export default function buildFlow(runMode: RunMode = RunMode.restart, param = 9, store?: string): Eventor {
  const ev = new Eventor({ name: 'recovery', runMode, store });

  const ev1s = ev.addEvent('run_step1');
  const ev1d = ev.addEvent('done_step1');
  const ev2s = ev.addEvent('run_step2');
  const ev2d = ev.addEvent('done_step2');
  const ev3s = ev.addEvent('run_step3', { expr: [ev1d, ev2d] });

  const s1 = ev.addStep('s1', { func: square, kwargs: { x: 3 }, triggers: { [StepStatus.success]: [ev1d, ev2s] } });
  const s2 = ev.addStep('s2', {
    func: ({ x }: { x: number }) => squareRoot(x),
    kwargs: { x: param },
    triggers: { [StepStatus.success]: [ev2d] },
    recovery: { [StepStatus.failure]: StepReplay.rerun, [StepStatus.success]: StepReplay.skip },
  });
  const s3 = ev.addStep('s3', { func: ({ x, y }: { x: number; y: number }) => divide(x, y), kwargs: { x: 9, y: 3 } });

  ev.addAssoc(ev1s, s1);
  ev.addAssoc(ev2s, s2);
  ev.addAssoc(ev3s, s3);
  ev.triggerEvent(ev1s, 3);
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const store = process.argv[2];
  // Start regularly: it fails in s2.
  let ev = buildFlow(RunMode.restart, -9, store);
  console.log(`first run: ${await ev.run()}`);
  await ev.close();
  // Recover: s1 is skipped, s2 and s3 run.
  ev = buildFlow(RunMode.recover, 9, store);
  console.log(`recovery: ${await ev.run()}`);
  await ev.close();
}
