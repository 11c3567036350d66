import { ApiError, type EventName, type Events, type Method, type Req, type Res } from '../../../src-main/contract/api';
import type { AppHost, Connection, PreloadApi } from './types';

/** Host over the Electron preload: IPC is always up while the window exists. */
export function electronHost(bridge: PreloadApi): AppHost {
  return {
    kind: 'electron',
    async call<M extends Method>(method: M, params: Req<M>): Promise<Res<M>> {
      const reply = await bridge.call(method, params);
      if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message, reply.error.issues);
      return reply.result as Res<M>;
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      return bridge.on(event, (p) => listener(p as Events[E]));
    },
    onConnection(listener: (c: Connection) => void): () => void {
      listener({ state: 'open' });
      return () => {};
    },
  };
}
