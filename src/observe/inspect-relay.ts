import { createWebSocketInspector } from '@statelyai/inspect';
import type { AddressInfo } from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { WebSocketServer, WebSocket } from 'ws';

/** A WebSocket relay on loopback: what one client sends, every other client receives. */
export interface InspectRelay {
  /** `ws://127.0.0.1:PORT`, for `createWebSocketInspector({ url })` and `createWebSocketReceiver({ server })`. */
  readonly url: string;
  readonly port: number;
  /** Stops the relay and drops its clients. */
  close(): Promise<void>;
}

/**
 * Starts the relay that `eventor run --inspect` sends a run's inspection events through, so
 * that any receiver can follow the run: Stately's inspector, the dashboard's actor view, or
 * `createWebSocketReceiver` of `@statelyai/inspect` in a script. It listens on loopback only, and
 * keeps the last `keep` messages for receivers that join late (a run's first actors come before).
 */
export async function startInspectRelay(options: { port?: number; keep?: number } = {}): Promise<InspectRelay> {
  const keep = options.keep ?? 10_000;
  const kept: string[] = [];
  const server = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.on('connection', (socket) => {
    for (const message of kept) socket.send(message);
    socket.on('message', (data) => {
      const message = data.toString();
      kept.push(message);
      if (kept.length > keep) kept.shift();
      for (const client of server.clients) if (client !== socket && client.readyState === WebSocket.OPEN) client.send(message);
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** An XState inspection observer that sends every event to a WebSocket inspector or relay at `url`; `stop()` closes its socket. */
export function webSocketInspect(url: string): { inspect: Observer<InspectionEvent>; stop(): void } {
  const inspector = createWebSocketInspector({ url });
  return { inspect: inspector.inspect as Observer<InspectionEvent>, stop: () => inspector.stop() };
}
