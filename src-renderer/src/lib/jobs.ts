import type { JobInfo } from '../../../src-main/contract/api';

/** Merge one job update into the list (newest state wins), keeping finished jobs briefly visible. */
export function mergeJob(jobs: readonly JobInfo[], job: JobInfo): JobInfo[] {
  const i = jobs.findIndex((j) => j.id === job.id);
  if (i < 0) return [...jobs, job];
  const next = jobs.slice();
  next[i] = job;
  return next;
}

/** One-line summary for the status bar. */
export function jobSummary(jobs: readonly JobInfo[]): { text: string; fraction: number | null; active: boolean } {
  const running = jobs.filter((j) => j.state === 'running');
  const queued = jobs.filter((j) => j.state === 'queued');
  if (running.length === 0 && queued.length === 0) return { text: 'No jobs running', fraction: null, active: false };
  const first = running[0];
  const parts: string[] = [];
  if (first) {
    const p = first.progress;
    // The percentage is the bar's own, so the text beside the bar never disagrees with it.
    parts.push(p ? `${first.title}: ${Math.floor(100 * p.fraction)}% · ${p.message}` : first.title);
  }
  if (running.length > 1) parts.push(`+${running.length - 1} running`);
  if (queued.length) parts.push(`${queued.length} queued`);
  return { text: parts.join(' · '), fraction: first?.progress?.fraction ?? null, active: true };
}
