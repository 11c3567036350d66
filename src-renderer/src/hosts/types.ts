import type { Host } from '../../../src-main/contract/api';

/** Whether the transport can currently reach the services. */
export type Connection =
  | { state: 'connecting' }
  | { state: 'open' }
  | { state: 'closed'; message: string; retryInSeconds?: number }
  | { state: 'refused'; message: string };

/** A Host plus what the shell needs to show the link's health. */
export interface AppHost extends Host {
  /** Called at once with the current state, then on every change. */
  onConnection(listener: (c: Connection) => void): () => void;
}

/** What `window.normlab` (the Electron preload) exposes. */
export interface PreloadApi {
  call(method: string, params: unknown): Promise<{ ok: true; result: unknown } | { ok: false; error: import('../../../src-main/contract/api').ApiErrorShape }>;
  on(event: string, listener: (payload: unknown) => void): () => void;
}

declare global {
  interface Window {
    normlab?: PreloadApi;
  }
}
