/**
 * The worker's job map (host/protocol.ts `Jobs`): a job called with params of another job, an
 * unknown job name, a handler table missing a job or a handler with the wrong params are
 * compile errors (checked by `tsc --noEmit`, which type-checks tests/); and one job makes the
 * round trip through the built worker (out/main/worker.js; needs `npx electron-vite build`) with
 * the result the map promises. A name that still reaches the worker unchecked is refused there.
 */
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src-main/data/dataset';
import { EngineHost } from '../../../src-main/host/engine-host';
import { isJobName, JOBS } from '../../../src-main/host/jobs';
import type { JobHandler, JobName, JobResult } from '../../../src-main/host/protocol';
import { jobOutcome } from '../../../src-main/services/features';
import { WORKER, notBuilt, tempDir } from '../runs/helpers';

/** Never called: the compiler checks these lines, the suite below checks the values. */
function typeChecks(host: EngineHost): void {
  host.submit('data.probe', { ref: 'mnist-sample', index: 3 }, { title: 'ok' });
  host.submit('train', { runId: 'r1', resume: false }, { title: 'ok' });
  // @ts-expect-error: the probe's params are { ref, index }, not a run id.
  host.submit('data.probe', { runId: 'r1', resume: false }, { title: 'wrong params' });
  // @ts-expect-error: index is a number.
  host.submit('data.probe', { ref: 'mnist-sample', index: '3' }, { title: 'wrong type' });
  // @ts-expect-error: no job has this name.
  host.submit('data.probes', { ref: 'mnist-sample', index: 3 }, { title: 'unknown job' });
  // @ts-expect-error: a handler table must name every job.
  const partial: { [K in JobName]: JobHandler<K> } = { 'data.probe': JOBS['data.probe'] };
  // @ts-expect-error: the train job's handler does not take the probe's params.
  const swapped: JobHandler<'data.probe'> = JOBS.train;
  // The result is typed by the map too: a probe answers a thread id (or the queue's cancel).
  const threadOf = async (): Promise<number> => {
    const r = await host.submit('data.probe', { ref: 'mnist-sample', index: 0 }, { title: 'typed result' }).done;
    return 'threadId' in r ? r.threadId : -1;
  };
  void partial;
  void swapped;
  void threadOf;
}
void typeChecks;

const missing = notBuilt();

describe('the job map', () => {
  it('lists exactly the handlers the worker runs, and no other name', () => {
    expect(Object.keys(JOBS).sort()).toEqual(['bn.inspect', 'data.probe', 'dropout', 'landscape', 'landscape.images', 'misclassified', 'onnx.bench', 'onnx.export', 'train', 'weights']);
    expect(isJobName('data.probe')).toBe(true);
    expect(isJobName('toString')).toBe(false);
    expect(isJobName('nope')).toBe(false);
  });

  it('turns a cancel into an error named by the title, and passes a result through', () => {
    const probe: JobResult<'data.probe'> = { threadId: 1, shared: true, bytes: 4, byte: 7 };
    expect(jobOutcome<'data.probe'>(probe, 'probe')).toBe(probe);
    expect(() => jobOutcome<'dropout'>({ status: 'cancelled' }, 'Dropout ensemble')).toThrow('Dropout ensemble: cancelled');
  });

  it.skipIf(missing)('a probe makes the round trip through the built worker with the values the map promises; an unknown name is refused', async () => {
    const tmp = tempDir('jobmap');
    const host = new EngineHost({ workspace: tmp.dir, workerPath: WORKER, env: { NORMLAB_BACKEND: 'wasm' }, parallel: 1 });
    try {
      const data = await loadDataset('mnist-sample');
      const index = 28 * 14 + 14; // the middle pixel of the first training digit
      const r = jobOutcome<'data.probe'>(await host.submit('data.probe', { ref: 'mnist-sample', index }, { title: 'probe' }).done, 'probe');
      expect(r.byte).toBe(data.train.images[index]);
      expect(r.shared).toBe(true);
      expect(r.threadId).toBeGreaterThan(0);
      // A name that got past the compiler (a cast) is answered by the worker with an error, not run.
      await expect(host.submit('nope' as JobName, { ref: 'mnist-sample', index } as never, { title: 'unknown' }).done).rejects.toThrow(/unknown job kind "nope"/);
    } finally {
      await host.close();
      tmp.cleanup();
    }
  }, 120_000);
});
