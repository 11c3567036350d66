/**
 * Load: browser mode with several WebSocket clients at once and a queue of short jobs (tiny
 * training runs, with misclassified-image analyses mixed in) sent back to back. Shared by the
 * fast test (8 jobs, 2 clients) and the soak test (50 jobs, 4 clients).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { JobInfo, RunRecord } from '../../../src-main/contract/api';
import { startServer } from '../../../src-main/server/server';
import { createServices } from '../../../src-main/services';
import { WORKER_PATH } from './helpers';

export interface LoadFigures {
  jobs: number;
  trainJobs: number;
  analysisJobs: number;
  clients: number;
  seconds: number;
  /** Final job states as each client saw them (job id → state), per client. */
  finalStatesPerClient: Record<string, string>[];
  eventsPerClient: number[];
  rssMbBefore: number;
  rssMbAfter: number;
  tensorsBefore: number;
  tensorsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  errors: string[];
}

class Client {
  readonly ws: WebSocket;
  readonly finals: Record<string, string> = {};
  events = 0;
  private next = 1;
  private pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { id?: number; ok?: boolean; result?: unknown; error?: { message: string }; event?: string; payload?: unknown };
      if (m.event) {
        this.events++;
        if (m.event === 'job.updated') {
          const j = m.payload as JobInfo;
          if (j.state === 'done' || j.state === 'failed' || j.state === 'cancelled') this.finals[j.id] = j.state;
        }
        return;
      }
      const p = this.pending.get(m.id!);
      this.pending.delete(m.id!);
      if (m.ok) p?.ok(m.result);
      else p?.fail(new Error(m.error?.message ?? 'error'));
    });
  }
  open(): Promise<void> {
    return new Promise((ok, fail) => { this.ws.once('open', () => ok()); this.ws.once('error', fail); });
  }
  call(method: string, params: unknown): Promise<unknown> {
    const id = this.next++;
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
}

const mb = (b: number) => Math.round(b / 1048576);

export async function loadScenario(root: string, opts: { jobs: number; clients: number; analysisEvery: number }): Promise<LoadFigures> {
  const renderer = join(root, 'renderer');
  mkdirSync(renderer, { recursive: true });
  writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>NormLab</title>');
  const services = await createServices({ workspace: join(root, 'ws'), workerPath: WORKER_PATH, env: { NORMLAB_BACKEND: 'wasm' } });
  const server = await startServer(services, { port: 0, rendererDir: renderer });
  const clients = Array.from({ length: opts.clients }, () => new Client(`ws://127.0.0.1:${server.port}/api?token=${server.token}`));
  const errors: string[] = [];
  try {
    await Promise.all(clients.map((c) => c.open()));
    const settings = (i: number) => ({ data: 'mnist-sample', epochs: 1, trainLimit: 200, testLimit: 100, batch: 50, seed: i + 1, name: `load-${i}` });
    const mem = async () => {
      const r = (await services.host.ping()) as { memory: { numTensors: number; numBytes: number } };
      return { rss: process.memoryUsage().rss, tensors: r.memory.numTensors, bytes: r.memory.numBytes };
    };
    // Warm-up: one run and one analysis, so wasm heaps and caches exist before "before".
    const warm = (await clients[0].call('runs.start', { settings: settings(-1) })) as { run: RunRecord; job: JobInfo };
    await waitUntil(() => clients.every((c) => c.finals[warm.job.id] === 'done'), 60_000);
    await clients[0].call('analysis.misclassified', { runId: warm.run.id, n: 10, testLimit: 100 });
    const before = await mem();
    if (typeof before.tensors !== 'number') throw new Error('the engine ping did not report tf.memory()');
    const t0 = performance.now();

    const jobIds: string[] = [];
    const analyses: Promise<unknown>[] = [];
    let trainJobs = 0;
    let analysisJobs = 0;
    const startedBefore = new Set(Object.keys(clients[0].finals));
    for (let i = 0; i < opts.jobs; i++) {
      const c = clients[i % clients.length];
      if (opts.analysisEvery > 0 && i % opts.analysisEvery === opts.analysisEvery - 1) {
        analysisJobs++;
        analyses.push(c.call('analysis.misclassified', { runId: warm.run.id, n: 10, testLimit: 100 }).catch((e: Error) => errors.push(e.message)));
      } else {
        trainJobs++;
        const r = (await c.call('runs.start', { settings: settings(i) })) as { job: JobInfo };
        jobIds.push(r.job.id);
      }
    }
    await Promise.all(analyses);
    const expected = opts.jobs;
    // Every client must have seen every job of this batch reach its final state.
    await waitUntil(() => clients.every((c) => Object.keys(c.finals).filter((k) => !startedBefore.has(k)).length >= expected), 1_500_000);
    const seconds = (performance.now() - t0) / 1000;
    const after = await mem();
    const runs = (await clients[0].call('runs.list', {})) as RunRecord[];
    for (const r of runs) if (r.status !== 'done') errors.push(`run ${r.id} ended ${r.status}: ${r.error ?? ''}`);
    return {
      jobs: opts.jobs, trainJobs, analysisJobs, clients: opts.clients, seconds: Math.round(seconds * 10) / 10,
      finalStatesPerClient: clients.map((c) => Object.fromEntries(Object.entries(c.finals).filter(([k]) => !startedBefore.has(k)))),
      eventsPerClient: clients.map((c) => c.events),
      rssMbBefore: mb(before.rss), rssMbAfter: mb(after.rss),
      tensorsBefore: before.tensors, tensorsAfter: after.tensors, bytesBefore: before.bytes, bytesAfter: after.bytes,
      errors,
    };
  } finally {
    for (const c of clients) c.ws.close();
    await server.close();
    await services.close();
  }
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('load: timed out waiting for the jobs to finish');
    await new Promise((r) => setTimeout(r, 50));
  }
}
