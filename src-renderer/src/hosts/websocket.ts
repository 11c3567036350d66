import { ApiError, type EventName, type Events, type Method, type Req, type Res, type WireEvent, type WireResponse } from '../../../src-main/contract/api';
import type { AppHost, Connection } from './types';

export interface WebSocketHostOptions {
  /** ws://host:port/api?token=… */
  url: string;
  /** How long a call waits for the link to come up before failing. */
  connectTimeoutMs?: number;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
}

/** What the page says when the server refuses its access token (close code 4401). */
export const TOKEN_REFUSED =
  'NormLab refused this page’s access token: it is mistyped or from an earlier launch (each `normlab serve` makes a new one). ' +
  'Open the address the running `normlab serve` printed (it ends in ?token=…), or run `normlab serve` again for a fresh one.';

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/**
 * Host over the browser-mode WebSocket. Reconnects with backoff when the link drops; calls in
 * flight when it drops fail with an 'io' error (they may or may not have run), and calls made
 * while it is down wait for it up to connectTimeoutMs.
 */
export function websocketHost(opts: WebSocketHostOptions): AppHost {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 5_000;
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<(p: unknown) => void>>();
  const connListeners = new Set<(c: Connection) => void>();
  const waiters = new Set<() => void>();
  let connection: Connection = { state: 'connecting' };
  let socket: WebSocket | null = null;
  let nextId = 1;
  let attempt = 0;
  let everOpened = false;

  function setConnection(c: Connection): void {
    connection = c;
    for (const l of connListeners) l(c);
  }

  function open(): void {
    setConnection({ state: 'connecting' });
    const ws = new WebSocket(opts.url);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      everOpened = true;
      setConnection({ state: 'open' });
      for (const w of [...waiters]) w();
    };
    ws.onmessage = (ev) => {
      let msg: WireResponse | WireEvent;
      try {
        msg = JSON.parse(String(ev.data)) as WireResponse | WireEvent;
      } catch {
        return;
      }
      if ('event' in msg) {
        for (const l of listeners.get(msg.event) ?? []) l(msg.payload);
        return;
      }
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new ApiError(msg.error.code, msg.error.message, msg.error.issues));
    };
    ws.onclose = (ev) => {
      socket = null;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(new ApiError('io', 'The connection to NormLab was lost before the answer came'));
      }
      if (ev.code === 4401) {
        // The server answered: this page's token is not (or no longer) the one it was started with.
        setConnection({ state: 'refused', message: TOKEN_REFUSED });
        return;
      }
      const delay = Math.min(maxBackoffMs, 500 * 2 ** attempt);
      attempt += 1;
      const message = everOpened ? 'Lost the connection to NormLab.' : 'Cannot reach NormLab at this address.';
      // After a few tries, say what usually fixes it: a restarted `normlab serve` has a new address.
      const hint = attempt > 3 ? ' If you stopped or restarted `normlab serve`, start it again and open the new address it prints (…/?token=…).' : '';
      setConnection({ state: 'closed', message: `${message} Retrying…${hint}`, retryInSeconds: Math.round(delay / 100) / 10 });
      setTimeout(open, delay);
    };
  }

  function whenOpen(): Promise<WebSocket> {
    if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(done);
        reject(new ApiError('io', `NormLab is not reachable (waited ${connectTimeoutMs / 1000} s). Is \`normlab serve\` still running?`));
      }, connectTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (socket) resolve(socket);
        else reject(new ApiError('io', 'NormLab is not reachable'));
      };
      waiters.add(done);
    });
  }

  open();

  return {
    kind: 'browser',
    async call<M extends Method>(method: M, params: Req<M>): Promise<Res<M>> {
      const ws = await whenOpen();
      const id = nextId++;
      return new Promise<Res<M>>((resolve, reject) => {
        pending.set(id, { resolve: (v) => resolve(v as Res<M>), reject });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      const l = listener as (p: unknown) => void;
      set.add(l);
      return () => set.delete(l);
    },
    onConnection(listener: (c: Connection) => void): () => void {
      connListeners.add(listener);
      listener(connection);
      return () => connListeners.delete(listener);
    },
  };
}

/** The API address for this page: same host, token from ?token=. */
export function apiUrlFromLocation(loc: Pick<Location, 'protocol' | 'host' | 'search'>): string | null {
  const token = new URLSearchParams(loc.search).get('token');
  if (!token) return null;
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/api?token=${encodeURIComponent(token)}`;
}
