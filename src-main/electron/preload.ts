/**
 * Sandboxed preload: the page gets `window.normlab = { call, on }` and nothing else. Names are
 * checked here so a typo fails in the page, and checked again in the main process because the
 * page is not trusted.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { EVENTS, METHODS, type WireResponse } from '../contract/api';
import { CALL_CHANNEL, EVENT_CHANNEL } from './channels';

const methods = new Set<string>(METHODS);
const events = new Set<string>(EVENTS);

type Envelope = Omit<WireResponse, 'id'> & { ok: boolean };

contextBridge.exposeInMainWorld('normlab', {
  call(method: unknown, params: unknown): Promise<Envelope> {
    if (typeof method !== 'string' || !methods.has(method)) {
      // Resolved, not rejected: an Error crossing the context bridge loses everything but its message.
      return Promise.resolve({ ok: false, error: { code: 'invalid', message: `Unknown method "${String(method).slice(0, 80)}"` } });
    }
    return ipcRenderer.invoke(CALL_CHANNEL, method, params) as Promise<Envelope>;
  },
  on(event: unknown, listener: unknown): () => void {
    if (typeof event !== 'string' || !events.has(event)) throw new Error(`Unknown event "${String(event).slice(0, 80)}"`);
    if (typeof listener !== 'function') throw new Error('normlab.on needs a listener function');
    const forward = (_e: IpcRendererEvent, name: string, payload: unknown): void => {
      if (name === event) (listener as (p: unknown) => void)(payload);
    };
    ipcRenderer.on(EVENT_CHANNEL, forward);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, forward);
    };
  },
});
