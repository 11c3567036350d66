import { electronHost } from './electron';
import { apiUrlFromLocation, websocketHost } from './websocket';
import type { AppHost, Connection } from './types';

export type { AppHost, Connection };

/** A host that can never connect, so the shell can show why instead of a blank page. */
function unreachableHost(message: string): AppHost {
  const fail = (): Promise<never> => Promise.reject(new Error(message));
  return {
    kind: 'browser',
    call: fail,
    on: () => () => {},
    onConnection(listener) {
      listener({ state: 'refused', message });
      return () => {};
    },
  };
}

/** Electron when the preload is present, else the WebSocket of browser mode. */
export function pickHost(win: Window = window): AppHost {
  if (win.normlab) return electronHost(win.normlab);
  const url = apiUrlFromLocation(win.location);
  if (!url) return unreachableHost('This page has no access token. Open the address printed by `normlab serve` (it ends in ?token=…).');
  return websocketHost({ url });
}
