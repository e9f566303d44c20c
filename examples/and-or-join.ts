// Joins: `report` waits for both extracts (an array means and); `alert` starts as soon as either
// extract fails or the report is done (or). Each sequence (here two regions) is joined on its own.
import { pathToFileURL } from 'node:url';
import { Eventor, StepStatus, currentStep, or } from 'eventor';

async function extract(source: string): Promise<string> {
  const { sequence, logger } = currentStep();
  await new Promise((resolve) => setTimeout(resolve, source === 'db1' ? 20 : 40));
  logger.info(`extracted ${source} for region ${sequence}`);
  return `${source}-${sequence}`;
}

export default function build(): Eventor {
  const ev = new Eventor({ name: 'and-or-join', store: ':memory:' });

  const start = ev.addEvent('start');
  const db1Done = ev.addEvent('db1_done');
  const db2Done = ev.addEvent('db2_done');
  const extractFailed = ev.addEvent('extract_failed');
  const bothDone = ev.addEvent('both_done', { expr: [db1Done, db2Done] });
  const reportDone = ev.addEvent('report_done');
  const notify = ev.addEvent('notify', { expr: or(extractFailed, reportDone) });

  const onEnd = (done: typeof db1Done) => ({ [StepStatus.success]: [done], [StepStatus.failure]: [extractFailed] });
  ev.addAssoc(start, ev.addStep('extract_db1', { func: extract, args: ['db1'], triggers: onEnd(db1Done) }));
  ev.addAssoc(start, ev.addStep('extract_db2', { func: extract, args: ['db2'], triggers: onEnd(db2Done) }));
  ev.addAssoc(bothDone, ev.addStep('report', {
    func: () => currentStep().logger.info(`report for region ${currentStep().sequence} written`),
    triggers: { [StepStatus.success]: [reportDone] },
  }));
  ev.addAssoc(notify, ev.addStep('notify', { func: () => currentStep().logger.info(`region ${currentStep().sequence} is done`) }));

  ev.triggerEvent(start, 'east');
  ev.triggerEvent(start, 'west');
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ev = build();
  const ok = await ev.run();
  await ev.close();
  process.exitCode = ok ? 0 : 1;
}
