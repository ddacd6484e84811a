import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/base/random.js';
import { encodeModel, linearModel } from '../../src/onnx/index.js';
import { inProcessClient, workerClient, type EngineClient } from '../../src/engine/client.js';
import type { EngineHost, EngineOptions, PieceBytes } from '../../src/engine/engine.js';
import type { FastPathPolicy } from '../../src/engine/fast-path.js';
import { workerFile } from '../../src/engine/worker-file.js';

/** Deterministic pseudo-random numbers in [-0.5, 0.5). */
function rng(seed: number): () => number {
  const next = seededRandom(seed);
  return () => next() - 0.5;
}

interface Lin {
  id: string;
  dimIn: number;
  dimOut: number;
  weight: Float32Array;
  bias: Float32Array;
}

function lin(id: string, dimIn: number, dimOut: number, seed: number): Lin {
  const r = rng(seed);
  return {
    id,
    dimIn,
    dimOut,
    weight: Float32Array.from({ length: dimIn * dimOut }, r),
    bias: Float32Array.from({ length: dimOut }, r),
  };
}

const layers = [lin('a', 4, 8, 1), lin('b', 8, 8, 2), lin('c', 8, 3, 3)];
const byId = new Map(layers.map((l) => [l.id, l]));
const pieces: PieceBytes[] = layers.map((l) => ({
  id: l.id,
  bytes: encodeModel(linearModel({ ...l, inputShape: ['batch', 2, l.dimIn] })),
}));

/** The route computed in plain JS, in float64. */
function expected(route: string[], x: Float32Array, rows: number): number[] {
  let cur = Array.from(x);
  for (const id of route) {
    const l = byId.get(id) as Lin;
    const next: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < l.dimOut; o++) {
        let s = l.bias[o] as number;
        for (let i = 0; i < l.dimIn; i++)
          s += (cur[r * l.dimIn + i] as number) * (l.weight[i * l.dimOut + o] as number);
        next.push(s);
      }
    }
    cur = next;
  }
  return cur;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** A fast path that fuses only when asked (no streak is ever long enough), one fused session kept. */
const byHand: FastPathPolicy = {
  afterRuns: 1e9,
  afterMs: 0,
  cacheSize: 1,
  memoryBudgetBytes: 1e9,
  maxRunMs: Number.POSITIVE_INFINITY,
  eager: false,
};
const options: EngineOptions = { session: { provider: 'cpu', threads: { intraOp: 1, interOp: 1 } }, fastPath: byHand };

/** A host that serves the pieces above and keeps what the engine reports. */
function host(reported: unknown[] = []): EngineHost & { reads: number } {
  const h = {
    reads: 0,
    pieceBytes: async (ids: readonly string[]) => {
      h.reads++;
      return ids.map((id) => {
        const p = pieces.find((q) => q.id === id) as PieceBytes;
        return { id, bytes: p.bytes.slice() };
      });
    },
    report: (e: unknown) => void reported.push(e),
  };
  return h;
}

for (const mode of ['in-process', 'worker'] as const) {
  describe(`engine (${mode})`, () => {
    let client: EngineClient;
    const clients: EngineClient[] = [];
    const start = async () => {
      const c =
        mode === 'worker' ? workerClient(options, await workerFile(), host()) : inProcessClient(options, host());
      clients.push(c);
      for (const p of pieces) await c.loadPiece({ id: p.id, bytes: p.bytes.slice() });
      return c;
    };
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
    });

    it('chains piece sessions, at batch 1 and 3', async () => {
      client = await start();
      for (const batch of [1, 3]) {
        const x = Float32Array.from({ length: batch * 2 * 4 }, rng(batch));
        for (const route of [
          ['a', 'b', 'c'],
          ['a', 'c'],
          ['a', 'b', 'b', 'c'],
        ]) {
          const out = await client.run({ pieces: route, data: x, dims: [batch, 2, 4] });
          expect(out.path).toBe('route');
          expect(out.dims).toEqual([batch, 2, 3]);
          expect(maxDiff(out.data, expected(route, x, batch * 2))).toBeLessThan(1e-5);
        }
        expect(x.length).toBe(batch * 8); // the caller's input is neither detached nor changed
      }
    });

    it('runs a fused route with the same result, and evicts the least recently used', async () => {
      const x = Float32Array.from({ length: 2 * 2 * 4 }, rng(7));
      const dims = [2, 2, 4];
      const route = await client.run({ pieces: ['a', 'b', 'c'], data: x, dims });
      await client.fuse(['a', 'b', 'c']);
      const fused = await client.run({ pieces: ['a', 'b', 'c'], data: x, dims });
      expect(fused.path).toBe('fused');
      expect(maxDiff(fused.data, route.data)).toBeLessThanOrEqual(1e-5);
      // Another route pushes it out of the one-entry cache; both still run correctly.
      await client.fuse(['a', 'c']);
      expect((await client.run({ pieces: ['a', 'b', 'c'], data: x, dims })).path).toBe('route');
      const acOut = await client.run({ pieces: ['a', 'c'], data: x, dims });
      expect(acOut.path).toBe('fused');
      expect(maxDiff(acOut.data, expected(['a', 'c'], x, 4))).toBeLessThan(1e-5);
    });

    it('gives each of many runs in flight its own result, also outputs larger than any before', async () => {
      const wide = lin('w', 3, 700, 9);
      byId.set('w', wide);
      await client.loadPiece({ id: 'w', bytes: encodeModel(linearModel({ ...wide, inputShape: ['batch', 2, 3] })) });
      const inputs = Array.from({ length: 40 }, (_, k) =>
        Float32Array.from({ length: (1 + (k % 3)) * 8 }, rng(100 + k)),
      );
      const runs = inputs.map((x, k) => {
        const route = k % 4 === 0 ? ['a', 'c', 'w'] : ['a', 'b', 'c'];
        return client.run({ pieces: route, data: x, dims: [x.length / 8, 2, 4] }).then((out) => ({ out, route, x }));
      });
      for (const { out, route, x } of await Promise.all(runs)) {
        expect(out.dims).toEqual([x.length / 8, 2, route.includes('w') ? 700 : 3]);
        expect(maxDiff(out.data, expected(route, x, x.length / 4))).toBeLessThan(1e-4);
      }
    });

    it('gives the same result on a preallocated output as on a fresh one', async () => {
      const x = Float32Array.from({ length: 16 }, rng(11));
      // The first run of a shape lets onnxruntime allocate; later ones write into the engine's buffers.
      const outs = [];
      for (let i = 0; i < 3; i++)
        outs.push(await client.run({ pieces: ['a', 'b', 'b', 'c'], data: x, dims: [2, 2, 4] }));
      for (const o of outs) expect(Array.from(o.data)).toEqual(Array.from(outs[0]?.data ?? []));
      expect(outs[0]?.data).not.toBe(outs[1]?.data);
    });

    it('fuses a route by itself when its policy says so, and reports a fuse that fails without failing runs', async () => {
      const eager: EngineOptions = { ...options, fastPath: { ...byHand, eager: true } };
      for (const failing of [false, true]) {
        const reported: unknown[] = [];
        const h = host(reported);
        const broken = { ...h, pieceBytes: () => Promise.reject(new Error('disk gone')) };
        const c =
          mode === 'worker'
            ? workerClient(eager, await workerFile(), failing ? broken : h)
            : inProcessClient(eager, failing ? broken : h);
        clients.push(c);
        for (const p of pieces) await c.loadPiece({ id: p.id, bytes: p.bytes.slice() });
        const x = Float32Array.from({ length: 8 }, rng(5));
        let out = await c.run({ pieces: ['a', 'b', 'c'], data: x, dims: [1, 2, 4] });
        for (let i = 0; i < 200 && out.path === 'route' && reported.length === 0; i++)
          out = await c.run({ pieces: ['a', 'b', 'c'], data: x, dims: [1, 2, 4] });
        expect(maxDiff(out.data, expected(['a', 'b', 'c'], x, 2))).toBeLessThan(1e-5);
        if (failing) {
          expect(reported).toEqual([
            expect.objectContaining({ code: expect.any(String), message: expect.stringContaining('disk gone') }),
          ]);
          expect(out.path).toBe('route');
        } else {
          expect(out.path).toBe('fused');
          expect(h.reads).toBe(1);
        }
      }
    });

    it("runs a calibration's request as asked: forceRoute past a fused session, count: false outside the fast path's count", async () => {
      const eager: EngineOptions = { ...options, fastPath: { ...byHand, cacheSize: 2, eager: true } };
      const c = mode === 'worker' ? workerClient(eager, await workerFile(), host()) : inProcessClient(eager, host());
      clients.push(c);
      for (const p of pieces) await c.loadPiece({ id: p.id, bytes: p.bytes.slice() });
      const x = Float32Array.from({ length: 8 }, rng(9));
      const dims = [1, 2, 4];
      // An eager fast path fuses a route on its first counted run: never on one that does not count.
      for (let i = 0; i < 20; i++)
        expect((await c.run({ pieces: ['a', 'c'], data: x, dims, count: false })).path).toBe('route');
      await c.fuse(['a', 'b', 'c']);
      const fused = await c.run({ pieces: ['a', 'b', 'c'], data: x, dims });
      const forced = await c.run({ pieces: ['a', 'b', 'c'], data: x, dims, forceRoute: true, count: false });
      expect([fused.path, forced.path]).toEqual(['fused', 'route']);
      expect(maxDiff(forced.data, expected(['a', 'b', 'c'], x, 2))).toBeLessThan(1e-5);
      expect((await c.run({ pieces: ['a', 'b', 'c'], data: x, dims })).path).toBe('fused');
    });

    it('reports a piece that is not loaded', async () => {
      await expect(
        client.run({ pieces: ['a', 'zz'], data: new Float32Array(8), dims: [1, 2, 4] }),
      ).rejects.toMatchObject({
        code: 'INFERENCE_FAILED',
        message: expect.stringContaining('"zz"'),
      });
    });

    it('reports an ORT failure as INFERENCE_FAILED', async () => {
      await expect(client.run({ pieces: ['a'], data: new Float32Array(10), dims: [1, 2, 5] })).rejects.toMatchObject({
        code: 'INFERENCE_FAILED',
      });
    });

    it('lets runs in flight finish on close, then rejects with RUNTIME_CLOSED', async () => {
      const c = await start();
      const x = Float32Array.from({ length: 8 }, rng(3));
      const inFlight = Array.from({ length: 5 }, () => c.run({ pieces: ['a', 'b', 'c'], data: x, dims: [1, 2, 4] }));
      const closing = c.close();
      const results = await Promise.all(inFlight);
      for (const r of results) expect(maxDiff(r.data, expected(['a', 'b', 'c'], x, 2))).toBeLessThan(1e-5);
      await closing;
      await c.close();
      await expect(c.run({ pieces: ['a'], data: x, dims: [1, 2, 4] })).rejects.toMatchObject({
        code: 'RUNTIME_CLOSED',
      });
    });
  });
}

describe('worker failure', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-worker-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  for (const [what, code] of [
    ['throws', "setTimeout(() => { throw new Error('boom'); }, 50);"],
    ['exits', 'setTimeout(() => process.exit(3), 50);'],
  ] as const) {
    it(`rejects pending and later requests with WORKER_FAILED when the worker ${what}`, async () => {
      const file = path.join(tmp, `${what}.mjs`);
      await writeFile(
        file,
        `import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => {});\n${code}\n`,
      );
      const client = workerClient(options, file, host());
      const pending = client.run({ pieces: ['a'], data: new Float32Array(8), dims: [1, 2, 4] });
      await expect(pending).rejects.toMatchObject({ name: 'RuntimeError', code: 'WORKER_FAILED' });
      await expect(client.loadPiece(pieces[0] as PieceBytes)).rejects.toMatchObject({ code: 'WORKER_FAILED' });
      await client.close();
    });
  }
});
