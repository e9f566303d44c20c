// The machines behind a run: an inspector sees every actor of it, and a task's stored record is
// its machine's XState snapshot, which XState restores into a live actor.
// Arguments: a store folder (default .eventor/machines).
import { pathToFileURL } from 'node:url';
import { createActor, type AnyActorRef, type InspectionEvent } from 'xstate';
import { Eventor, LevelStore, taskMachine } from 'eventor';

export default function buildFlow(inspect?: (event: InspectionEvent) => void, store?: string): Eventor {
  const ev = new Eventor({ name: 'machines', store, inspect });
  const start = ev.addEvent('start');
  const later = ev.addEvent('later');
  ev.addAssoc(start, ev.addStep('extract', { func: () => ({ rows: 3 }), triggers: { success: [later] } }));
  // A day's delay: this run ends with the load waiting, on record, for a later pass.
  ev.addAssoc(later, ev.addStep('load', { func: () => 'loaded' }), { delay: 86_400 });
  ev.triggerEvent(start, 1);
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const store = process.argv[2] ?? '.eventor/machines';
  const actors = new Set<string>();
  const ev = buildFlow((event) => {
    if (event.type === '@xstate.actor') actors.add((event.actorRef as AnyActorRef).id);
  }, store);
  await ev.run({ maxLoops: 1 });
  const runId = ev.runId;
  await ev.close();
  console.log(`the inspector saw: ${[...actors].join(', ')}`);

  // What the store keeps for each task is its machine's persisted snapshot.
  const level = new LevelStore(store);
  await level.open();
  const { tasks } = await level.loadRecovery(runId, 0);
  await level.close();
  for (const record of tasks) console.log(`on record: ${record.context.step}/${record.context.sequence} is ${record.value}`);

  // XState restores a record into a live actor, which goes on from where it was.
  const waiting = tasks.find((record) => record.value === 'waiting');
  if (waiting) {
    const actor = createActor(taskMachine, { snapshot: waiting, input: waiting.context }).start();
    actor.send({ type: 'due', at: (waiting.context.dueAt ?? 0) + 1 });
    console.log(`restored ${waiting.context.step}: ${waiting.value} -> ${actor.getSnapshot().value} once due`);
  }
}
