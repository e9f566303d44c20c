// The LevelDB store's write-ahead log: a write is durable when it returns, reads see it at once,
// a crash loses no acknowledged batch, a torn last frame is dropped and damage is refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { ClassicLevel } from 'classic-level';
import { Eventor } from '../src/index.js';
import { resolveRunConfig } from '../src/model/config.js';
import { ConfigError, StoreError, StoreFormatError } from '../src/model/errors.js';
import { RECORD_VERSION, type EventRecord, type RunRecord, type StoreRecord } from '../src/model/records.js';
import { validateFlow } from '../src/model/validate.js';
import { LevelStore, type LevelStoreOptions } from '../src/store/level-store.js';
import { createStore } from '../src/store/open-store.js';
import { LOG_FILE, RETIRED_LOG_FILE, tableCrc32 } from '../src/store/wal.js';
import { errorOf, LIMIT } from './helpers.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const writer = fileURLToPath(new URL('./fixtures/wal-writer.mjs', import.meta.url));
const now = Date.now();

function runRecord(runId: string, name = 'flow'): RunRecord {
  return {
    v: RECORD_VERSION,
    kind: 'run',
    runId,
    name,
    startedAt: now,
    recovery: 0,
    status: 'running',
    updatedAt: now,
    fingerprint: 'wal-test',
    parents: [-1],
    steps: ['s1'],
    events: ['start'],
    counts: {},
  };
}

function eventRecord(runId: string, sequence: string): EventRecord {
  return { v: RECORD_VERSION, kind: 'event', runId, recovery: 0, event: 'start', sequence, at: now };
}

/** Batch n of the tests: run `r<n>` and one event of it. */
const batch = (n: number): StoreRecord[] => [runRecord(`r${n}`), eventRecord(`r${n}`, String(n))];

/** A fresh store folder for one test, removed when it ends, after its stores are closed. */
function tempFolder(t: TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'eventor-wal-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'store');
}

/** Opens a LevelStore that is closed when the test ends (closing twice is harmless). */
async function openStore(t: TestContext, folder: string, options?: LevelStoreOptions): Promise<LevelStore> {
  const store = new LevelStore(folder, options);
  await store.open();
  t.after(() => store.close().catch(() => undefined));
  return store;
}

const logOf = (folder: string) => join(folder, LOG_FILE);
const logSize = (folder: string) => statSync(logOf(folder)).size;

async function runIds(store: LevelStore): Promise<string[]> {
  return (await store.listRuns()).map((run) => run.runId).sort();
}

/**
 * The log bytes that writing `batches` leaves, taken before LevelDB takes any of them up (the
 * writes and the read happen in one turn), with the byte at which each batch's frame ends.
 */
async function capturedLog(t: TestContext, batches: StoreRecord[][], options?: LevelStoreOptions): Promise<{ bytes: Buffer; ends: number[]; retired?: Buffer }> {
  const folder = tempFolder(t);
  const store = await openStore(t, folder, options);
  const ends: number[] = [];
  for (const records of batches) {
    store.write(records);
    ends.push(logSize(folder));
  }
  const bytes = readFileSync(logOf(folder));
  const retired = existsSync(join(folder, RETIRED_LOG_FILE)) ? readFileSync(join(folder, RETIRED_LOG_FILE)) : undefined;
  await store.close();
  return { bytes, ends, retired };
}

/** A store folder whose LevelDB is empty and whose log holds `bytes`, as a crash would leave it. */
async function folderWithLog(t: TestContext, bytes: Uint8Array, retired?: Uint8Array): Promise<string> {
  const folder = tempFolder(t);
  const store = new LevelStore(folder);
  await store.open();
  await store.close();
  writeFileSync(logOf(folder), bytes);
  if (retired) writeFileSync(join(folder, RETIRED_LOG_FILE), retired);
  return folder;
}

/** Every key LevelDB itself holds, read without the store (and so without its log). */
async function levelKeys(folder: string): Promise<string[]> {
  const db = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open({ createIfMissing: false });
  try {
    return await db.keys().all();
  } finally {
    await db.close();
  }
}

// -- reads ----------------------------------------------------------------------------------

test('records just written are seen by the very next read, before LevelDB has taken them up', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  store.write(batch(1));
  // The batch is in the log when write() returns; nothing has been awaited since.
  assert.ok(logSize(folder) > 0);
  const reading = store.loadRecovery('r1', 0);
  const run = store.getRun('r1');
  assert.deepEqual((await reading).events.map((event) => event.sequence), ['1']);
  assert.equal((await run)?.name, 'flow');
  // Again while LevelDB may still be taking up the first batch.
  store.write([runRecord('r1', 'renamed'), eventRecord('r1', '2')]);
  assert.deepEqual((await store.loadRecovery('r1', 0)).events.map((event) => event.sequence).sort(), ['1', '2']);
  assert.equal((await store.getRun('r1'))?.name, 'renamed');
  assert.deepEqual(await runIds(store), ['r1']);
});

test('once LevelDB has caught up the log is emptied, and after close it is empty', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  store.write(batch(1));
  await store.getRun('r1');
  assert.equal(logSize(folder), 0, 'caught up: the log is truncated');
  store.write(batch(2));
  store.write(batch(3));
  assert.ok(logSize(folder) > 0);
  await store.close();
  assert.equal(logSize(folder), 0, 'closed: the log is truncated');
  const again = await openStore(t, folder);
  assert.deepEqual(await runIds(again), ['r1', 'r2', 'r3']);
});

test('batches written while LevelDB takes up an earlier one reach it together, in one db.batch', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  const batches = t.mock.method(ClassicLevel.prototype, 'batch');
  store.write(batch(1));
  // One turn: the store hands batch 1 to LevelDB, which has not answered yet.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(batches.mock.callCount(), 1);
  for (let n = 2; n <= 6; n++) store.write(batch(n));
  assert.deepEqual(await runIds(store), ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  assert.equal(batches.mock.callCount(), 2, 'batches 2 to 6 went in one db.batch');
  assert.equal(((batches.mock.calls[1].arguments as unknown[])[0] as unknown[]).length, 10, 'five batches of two records');
});

test('deleteRun removes a run that was still in the log, and a reopen does not bring it back', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  store.write(batch(1));
  store.write(batch(2));
  await store.deleteRun('r1');
  assert.equal(logSize(folder), 0, 'the log holds nothing that a replay could bring back');
  assert.deepEqual(await runIds(store), ['r2']);
  assert.deepEqual((await store.loadRecovery('r1', 0)).events, []);
  await store.close();
  const again = await openStore(t, folder);
  assert.deepEqual(await runIds(again), ['r2']);
});

// -- a crash --------------------------------------------------------------------------------

interface Killed {
  /** The batches the child printed as written, in order. */
  acknowledged: number[];
  stderr: string;
}

/** Runs the writer child and kills it with SIGKILL once it has acknowledged `killAt` batches. */
function writeUntilKilled(folder: string, durability: 'process' | 'sync', killAt: number): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, folder, durability], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const acknowledged: number[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) acknowledged.push(Number(line));
      if (!killed && acknowledged.length >= killAt) killed = child.kill('SIGKILL');
    });
    child.on('error', reject);
    // 'close', not 'exit': every line the child printed before it died has been read by then.
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`the writer ended (${code ?? signal}) without being killed:\n${stderr}`));
      else resolve({ acknowledged, stderr });
    });
  });
}

test('after a kill -9 at a random moment, every batch the writer acknowledged is in the store', { timeout: 240_000 }, async (t) => {
  for (const [round, durability] of (['process', 'process', 'process', 'sync', 'sync'] as const).entries()) {
    const folder = tempFolder(t);
    const killAt = 20 + Math.floor(Math.random() * (durability === 'sync' ? 400 : 3000));
    const { acknowledged, stderr } = await writeUntilKilled(folder, durability, killAt);
    const what = `round ${round} (${durability}), killed after ${acknowledged.length} acknowledged batches`;
    assert.deepEqual(acknowledged, acknowledged.map((_, n) => n), `${what}: the child acknowledges batches in order\n${stderr}`);
    const last = acknowledged.length - 1;
    const store = await openStore(t, folder);
    const runs = new Map((await store.listRuns()).map((run) => [run.runId, run]));
    // The batches there are 0 to some M: each one's write() returned before the next began, so
    // none may be missing below one that is there. M may pass the last acknowledgement read,
    // since the child's stdout queues lines when the pipe is full, and the kill drops them.
    const highest = Math.max(-1, ...[...runs.keys()].filter((runId) => runId !== 'latest').map((runId) => Number(runId.slice(1))));
    assert.ok(highest >= last, `${what}: only ${highest + 1} batches are there\n${stderr}`);
    for (let n = 0; n <= highest; n++) {
      assert.ok(runs.has(`r${n}`), `${what}: batch ${n} is missing, and batch ${highest} is there`);
      assert.equal((await store.loadRecovery(`r${n}`, 0)).events.length, 1, `${what}: batch ${n} is whole`);
    }
    // Every batch renames `latest`: the replay kept the order of the batches.
    assert.equal(runs.get('latest')?.name, String(highest), what);
    assert.equal(logSize(folder), 0, `${what}: the log is empty after the replay`);
    assert.equal(existsSync(join(folder, RETIRED_LOG_FILE)), false, `${what}: the set-aside log is gone after the replay`);
    await store.close();
  }
});

// -- torn and damaged logs -----------------------------------------------------------------

test('a torn last frame (cut short, a bad checksum, a cut header, zeros) is ignored: open succeeds, earlier batches are there, and the log is empty', LIMIT, async (t) => {
  const { bytes, ends } = await capturedLog(t, [batch(1), batch(2), batch(3)]);
  const twoFrames = bytes.subarray(0, ends[1]);
  const third = bytes.subarray(ends[1], ends[2]);
  const flipped = Buffer.from(third);
  flipped[flipped.length - 3] ^= 0xff;
  const tears: [string, Buffer][] = [
    ['a frame cut short', Buffer.concat([twoFrames, third.subarray(0, Math.floor(third.length / 2))])],
    ['a flipped byte in the last payload', Buffer.concat([twoFrames, flipped])],
    ['a header cut short', Buffer.concat([twoFrames, third.subarray(0, 5)])],
    ['zeros where a frame should be', Buffer.concat([twoFrames, Buffer.alloc(64)])],
  ];
  for (const [what, log] of tears) {
    const folder = await folderWithLog(t, log);
    const store = await openStore(t, folder);
    assert.deepEqual(await runIds(store), ['r1', 'r2'], what);
    assert.equal(logSize(folder), 0, `${what}: the log is empty after open`);
    store.write(batch(4));
    await store.close();
    const again = await openStore(t, folder);
    assert.deepEqual(await runIds(again), ['r1', 'r2', 'r4'], `${what}: later writes are kept`);
    await again.close();
  }
});

test('a damaged frame in the middle of the log fails open with StoreFormatError naming the log, and leaves the folder as it was', LIMIT, async (t) => {
  const { bytes, ends } = await capturedLog(t, [batch(1), batch(2), batch(3)]);
  const damaged = Buffer.from(bytes);
  damaged[ends[1] - 2] ^= 0xff;
  const folder = await folderWithLog(t, damaged);
  const error = await errorOf(() => new LevelStore(folder).open());
  assert.ok(error instanceof StoreFormatError, String(error));
  assert.ok(error.message.includes(logOf(folder)), error.message);
  assert.match(error.message, /move the store folder aside/);
  assert.deepEqual(readFileSync(logOf(folder)), damaged, 'the log file is unchanged');
  // LevelDB was given nothing, and the failed open holds no lock: a plain ClassicLevel opens the folder.
  assert.deepEqual(await levelKeys(folder), []);
  const again = await errorOf(() => new LevelStore(folder).open());
  assert.ok(again instanceof StoreFormatError, 'a second open fails the same way');
});

test('a log that outgrew its limit is set aside and replayed before the new one, so the latest batch wins', LIMIT, async (t) => {
  const batches = Array.from({ length: 20 }, (_, n) => [runRecord('latest', String(n)), runRecord(`r${n}`, 'x'.repeat(200))]);
  const { bytes, retired } = await capturedLog(t, batches, { logRotateBytes: 1024 });
  assert.ok(retired && retired.length >= 1024, 'the full log was set aside');
  const folder = await folderWithLog(t, bytes, retired);
  const store = await openStore(t, folder);
  assert.equal((await store.getRun('latest'))?.name, '19');
  assert.equal((await store.listRuns()).length, 21);
  assert.equal(existsSync(join(folder, RETIRED_LOG_FILE)), false);
  assert.equal(logSize(folder), 0);

  // Live, the set-aside log goes as soon as LevelDB holds all of it.
  const live = await openStore(t, tempFolder(t), { logRotateBytes: 1024 });
  for (const records of batches) live.write(records);
  assert.ok(existsSync(join(live.location, RETIRED_LOG_FILE)));
  assert.equal((await live.getRun('latest'))?.name, '19');
  assert.equal(existsSync(join(live.location, RETIRED_LOG_FILE)), false);
  assert.equal(logSize(live.location), 0);
});

// -- failures -------------------------------------------------------------------------------

test('a store whose folder was deleted under it refuses every further write with a StoreError naming the folder, and closes', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  store.write(batch(1));
  await store.getRun('r1');
  rmSync(folder, { recursive: true, force: true });
  // The log file is gone but still open: a write would land in it, and nothing would read it again.
  const error = await errorOf(() => store.write(batch(2)));
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(error.message.includes(folder), error.message);
  assert.match(error.message, /removed/);
  assert.ok(await errorOf(() => store.write(batch(3))) instanceof StoreError, 'and the next write too');
  await store.close();
});

test('a write the disk refuses throws a StoreError naming the folder, and nothing of its batch is kept', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  store.write(batch(1));
  const before = logSize(folder);
  const original = fs.writeSync;
  let calls = 0;
  // The disk takes half of the frame, then is full.
  const full = t.mock.method(fs, 'writeSync', (fd: number, buffer: Uint8Array, offset = 0) => {
    if (calls++ === 0) return original(fd, buffer, offset, Math.floor((buffer.length - offset) / 2));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  });
  const error = await errorOf(() => store.write(batch(2)));
  full.mock.restore();
  assert.ok(error instanceof StoreError, String(error));
  assert.ok(error.message.includes(folder), error.message);
  assert.match(error.message, /disk may be full or the folder read-only/);
  assert.equal(logSize(folder), before, 'the part-written frame was cut off');
  store.write(batch(3));
  await store.close();
  const again = await openStore(t, folder);
  assert.deepEqual(await runIds(again), ['r1', 'r3']);
});

test('a batch LevelDB fails to take up is reported by the next read, write and close, and the next open brings it in from the log', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  const refused = t.mock.method(ClassicLevel.prototype, 'batch', () => Promise.reject(new Error('IO error: simulated')), { times: 1 });
  store.write(batch(1));
  const read = await errorOf(() => store.getRun('r1'));
  assert.ok(read instanceof StoreError, String(read));
  assert.ok(read.message.includes(folder), read.message);
  assert.equal(refused.mock.callCount(), 1);
  const written = await errorOf(() => store.write(batch(2)));
  assert.equal(written, read, 'the write reports the same failure');
  const closed = await errorOf(() => store.close());
  assert.equal(closed, read, 'close reports it too');
  const again = await openStore(t, folder);
  assert.deepEqual(await runIds(again), ['r1'], 'the failed batch was kept in the log and replayed; the refused write was not');
});

// -- durability 'sync' -----------------------------------------------------------------------

test("with durability 'sync' each write is in the log and synced when it returns, and everything reads back after reopening", LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = createStore(folder, { durability: 'sync' }) as LevelStore;
  t.after(() => store.close());
  assert.equal(store.durability, 'sync');
  await store.open();
  const syncs = t.mock.method(fs, 'fdatasyncSync');
  for (let n = 1; n <= 5; n++) {
    const before = logSize(folder);
    store.write(batch(n));
    assert.ok(logSize(folder) > before, `batch ${n} is in the log`);
    assert.equal(syncs.mock.callCount(), n, 'one fdatasync per batch, before write() returns');
  }
  syncs.mock.restore();
  await store.close();
  const again = createStore(folder) as LevelStore;
  t.after(() => again.close());
  assert.equal(again.durability, 'process');
  await again.open();
  assert.deepEqual(await runIds(again), ['r1', 'r2', 'r3', 'r4', 'r5']);
});

test("config durability defaults to 'process', accepts 'sync', and refuses 'fast' with a ConfigError naming the key", () => {
  assert.equal(resolveRunConfig().durability, 'process');
  const flow = (durability: unknown) => {
    const ev = new Eventor({ name: 'wal-config', store: ':memory:', config: { durability: durability as 'sync', logging: { console: false } } });
    ev.triggerEvent(ev.addEvent('start'), 1);
    return ev.toSpec();
  };
  validateFlow(flow('sync'));
  validateFlow(flow('process'));
  assert.throws(
    () => validateFlow(flow('fast')),
    (error: unknown) => error instanceof ConfigError && error.key === 'durability' && /durability/.test(error.message) && /"fast"/.test(error.message) && /process, sync/.test(error.message),
  );
});

test('the log checksum is the standard CRC-32 on every Node 20, with or without zlib.crc32', () => {
  // zlib.crc32 came in Node 20.15; before it the log computes the checksum itself.
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  for (const text of ['', 'a', '123456789', 'x'.repeat(1000)]) {
    const bytes = Buffer.from(text);
    if (native) assert.equal(tableCrc32(bytes), native(bytes), text.slice(0, 10));
  }
  assert.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926);
});

test('a writer that outpaces LevelDB is asked to wait: past 20,000 records behind, write answers with a promise, and then every record is there', LIMIT, async (t) => {
  const folder = tempFolder(t);
  const store = await openStore(t, folder);
  let answer: Promise<void> | void = undefined;
  let written = 0;
  // One synchronous stretch: LevelDB gets no turn to take anything up.
  while (!answer && written < 100_000) {
    answer = store.write([eventRecord('r1', String(written))]);
    written++;
  }
  assert.ok(answer instanceof Promise, `write still answered at once after ${written} records`);
  assert.ok(written >= 20_000, `it asked to wait after ${written} records`);
  await answer;
  const { events } = await store.loadRecovery('r1', 0);
  assert.equal(events.length, written);
});
