// The XState inspector follows a run: an inspection observer given to new Eventor({ inspect })
// sees every task's actor and each of its moves through ready → active → success | failure, and
// a receiver of @statelyai/inspect gets the same events through the loopback relay that
// `eventor run --inspect` serves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createWebSocketReceiver } from '@statelyai/inspect';
import type { InspectionEvent } from 'xstate';
import { startInspectRelay, webSocketInspect } from '../src/observe/inspect-relay.js';
import { makeEventor } from './helpers.js';
import { until } from './cluster-helpers.js';

/** A flow of two steps, one that succeeds and one that fails, for sequence 1. */
function twoSteps(ev: ReturnType<typeof makeEventor>): void {
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('good', { func: () => 'fine' }), ev.addStep('bad', { func: () => { throw new Error('on purpose'); } }));
  ev.triggerEvent(start, 1);
}

type Seen = { type: string; actorRef?: { id?: string; sessionId?: string }; sessionId?: string; name?: string; snapshot?: { value?: unknown } };

/** The states a task actor's snapshots went through, in order: live events name the actor by `actorRef.id`, relayed ones by `name`. */
function movesOf(events: Seen[], sessionOf: (e: Seen) => string | undefined, id: string): unknown[] {
  const sessions = new Set(events.filter((e) => e.type === '@xstate.actor' && (e.actorRef?.id === id || e.name === id)).map(sessionOf));
  return events.filter((e) => e.type === '@xstate.snapshot' && sessions.has(sessionOf(e))).map((e) => e.snapshot?.value);
}

test('an inspection observer sees each task actor and its moves through ready, active, success or failure', async (t) => {
  const seen: InspectionEvent[] = [];
  const ev = makeEventor(t, { inspect: (event) => seen.push(event) });
  twoSteps(ev);
  assert.equal(await ev.run(), false);
  const ids = new Set(seen.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as { id?: string }).id));
  for (const id of ['task:good/1', 'task:bad/1', 'event:start']) assert.ok(ids.has(id), `the inspector saw actor ${id}: ${[...ids].join(', ')}`);
  const live = seen as unknown as Seen[];
  const session = (e: Seen) => e.actorRef?.sessionId;
  assert.deepEqual(movesOf(live, session, 'task:good/1'), ['ready', 'active', 'success']);
  assert.deepEqual(movesOf(live, session, 'task:bad/1'), ['ready', 'active', 'failure']);
  assert.ok(seen.some((e) => e.type === '@xstate.event' && (e.actorRef as { id?: string }).id === 'task:good/1' && e.event.type === 'succeed'), 'the events a task receives are seen too');
});

test('a receiver of @statelyai/inspect follows the run through the loopback relay', async (t) => {
  const relay = await startInspectRelay();
  t.after(() => relay.close());
  assert.match(relay.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  const received: Seen[] = [];
  createWebSocketReceiver({ server: relay.url }).subscribe((event) => received.push(event as never));
  const { inspect, stop } = webSocketInspect(relay.url);
  t.after(stop);
  const ev = makeEventor(t, { inspect });
  twoSteps(ev);
  assert.equal(await ev.run(), false);
  const session = (e: Seen) => e.sessionId;
  await until(() => movesOf(received, session, 'task:bad/1').includes('failure'), 'the relayed failure of task bad/1', 30_000, () => received.map((e) => e.type).join(', '));
  assert.deepEqual(movesOf(received, session, 'task:good/1'), ['ready', 'active', 'success']);
  assert.deepEqual(movesOf(received, session, 'task:bad/1'), ['ready', 'active', 'failure']);
});
