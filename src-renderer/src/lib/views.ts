import type { Component } from 'svelte';
import type { EngineInfo } from '../../../src-main/contract/api';
import type { AppHost } from '../hosts';

/** What every view receives from the shell. */
export interface ViewProps {
  host: AppHost;
  /** engine.info once it has arrived (null before, or when the host is unreachable). */
  engine: EngineInfo | null;
  /** Switch to another view, e.g. from Runs to Compare with a selection. */
  navigate(id: string, query?: Record<string, string>): void;
  /** The query part of the current route (#/compare?runs=a,b → { runs: 'a,b' }). */
  query: Record<string, string>;
}

export interface NavItem {
  id: string;
  label: string;
  /** One line on what the view is for (tooltip, and the "coming" note). */
  hint: string;
  /** File name in src/views without .svelte. */
  file: string;
}

/**
 * The nav, in order. A view is enabled as soon as its file exists in src/views/: Vite finds it
 * by name below, so adding a view is one new file and, for a new nav entry, one line here.
 */
export const NAV: readonly NavItem[] = [
  { id: 'home', label: 'Overview', hint: 'Engine, datasets and workspace', file: 'HomeView' },
  { id: 'model', label: 'Model', hint: 'The network: presets, your own JSON, PyTorch import', file: 'ModelView' },
  { id: 'runs', label: 'Runs', hint: 'Train and manage runs', file: 'RunsView' },
  { id: 'compare', label: 'Compare', hint: 'Loss and accuracy curves of several runs', file: 'CompareView' },
  { id: 'bn', label: 'BN', hint: 'Batch-norm statistics per layer and channel', file: 'BnView' },
  { id: 'dropout', label: 'Dropout', hint: 'MC-dropout ensemble vs weight scaling', file: 'DropoutView' },
  { id: 'landscape', label: 'Landscape', hint: 'Loss surface along random directions', file: 'LandscapeView' },
  { id: 'weights', label: 'Weights', hint: 'Weight histograms and sparsity', file: 'WeightsView' },
  { id: 'misclassified', label: 'Misclassified', hint: 'Test images the model gets wrong', file: 'MisclassifiedView' },
  { id: 'export', label: 'Export', hint: 'ONNX export, parity check and benchmark', file: 'ExportView' },
];

type ViewModule = { default: Component<ViewProps> };
const modules = import.meta.glob<ViewModule>('../views/*View.svelte');

/** Loader for a nav item's view, or null while its file does not exist yet. */
export function viewLoader(item: NavItem): (() => Promise<ViewModule>) | null {
  return modules[`../views/${item.file}.svelte`] ?? null;
}

/** Parse '#/compare?runs=a,b' into a view id and query. */
export function parseRoute(hash: string): { id: string; query: Record<string, string> } {
  const raw = hash.replace(/^#\/?/, '');
  const [path, search = ''] = raw.split('?', 2);
  return { id: path || 'home', query: Object.fromEntries(new URLSearchParams(search)) };
}

/** Inverse of parseRoute. */
export function formatRoute(id: string, query: Record<string, string> = {}): string {
  const search = new URLSearchParams(query).toString();
  return `#/${id}${search ? `?${search}` : ''}`;
}
