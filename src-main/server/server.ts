/**
 * Browser mode: the built renderer over HTTP and the same API as Electron's IPC over a
 * WebSocket at /api, on loopback only. Every request must carry a Host header naming this
 * server (DNS-rebinding guard); the API also needs the per-launch token and, when the client
 * is a browser, an Origin of this server.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { ApiError, METHODS, type ApiErrorShape, type WireResponse, type WireEvent } from '../contract/api';

/** The part of the services object this door needs (the real `Services` fits it). */
export interface ServerServices {
  handle(method: string, params: unknown): Promise<unknown>;
  subscribe(listener: (event: string, payload: unknown) => void): () => void;
}

export interface ServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Only loopback is ever bound; the option exists to make that explicit at call sites. */
  host?: '127.0.0.1';
  /** Folder of the built renderer (out/renderer). */
  rendererDir: string;
  /** Largest accepted WebSocket message; larger ones close the connection (1009). Default 1 MiB. */
  maxMessageBytes?: number;
}

export interface RunningServer {
  /** Page address including the token, e.g. http://127.0.0.1:5173/?token=… */
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Close code a page of this server (its own Origin) gets when it opens the API with a missing or
 * stale token; other clients get HTTP 401.
 */
export const CLOSE_UNAUTHORIZED = 4401;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The Content-Security-Policy sent with every page of browser mode. */
export function browserCsp(port: number): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

function errorShape(err: unknown): ApiErrorShape {
  if (err instanceof ApiError) return err.toShape();
  // An ApiError from another copy of the contract module (tests, bundles) still carries its code.
  if (err && typeof err === 'object' && 'code' in err && 'message' in err) {
    const e = err as { code: unknown; message: unknown; issues?: unknown };
    const codes: ApiErrorShape['code'][] = ['invalid', 'not-found', 'conflict', 'engine', 'dataset', 'io', 'cancelled', 'internal'];
    if (typeof e.code === 'string' && (codes as string[]).includes(e.code) && typeof e.message === 'string') {
      return { code: e.code as ApiErrorShape['code'], message: e.message, ...(Array.isArray(e.issues) ? { issues: e.issues } : {}) };
    }
  }
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

function tokenMatches(given: string | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Start browser mode on 127.0.0.1. Resolves once listening; `close()` disconnects every client,
 * stops forwarding events and frees the port.
 */
export async function startServer(services: ServerServices, opts: ServerOptions): Promise<RunningServer> {
  const host = '127.0.0.1';
  const rendererDir = resolve(opts.rendererDir);
  const maxPayload = opts.maxMessageBytes ?? 1024 * 1024;
  const token = randomBytes(24).toString('base64url');
  const methods = new Set<string>(METHODS);
  let port = 0;
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  const hostOk = (req: IncomingMessage): boolean => allowedHosts.has((req.headers.host ?? '').toLowerCase());

  const server = createServer((req, res) => {
    void serveStatic(req, res).catch((err: unknown) => {
      if (!res.headersSent) plain(res, 500, `Internal error: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    });
  });

  function plain(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.end(`${text}\n`);
  }

  async function serveStatic(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostOk(req)) return plain(res, 403, 'Forbidden: unexpected Host header');
    const url = new URL(req.url ?? '/', `http://${host}:${port}`);
    if (url.pathname === '/api') return plain(res, tokenMatches(url.searchParams.get('token'), token) ? 426 : 401, 'The API is a WebSocket and needs the launch token');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method not allowed');
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return plain(res, 400, 'Bad path');
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = resolve(join(rendererDir, rel));
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) return plain(res, 404, 'Not found');
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      if (rel === '/index.html') return plain(res, 500, `NormLab's renderer is not built (no ${file}): run npm run build`);
      return plain(res, 404, 'Not found');
    }
    const body = await readFile(file);
    const isHtml = extname(file) === '.html';
    res.writeHead(200, {
      'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'Content-Security-Policy': browserCsp(port),
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      // The page URL carries the token; hashed assets can be cached, the page itself not.
      'Cache-Control': isHtml ? 'no-store' : 'public, max-age=3600',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload });

  function refuseUpgrade(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  }

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (!hostOk(req)) return refuseUpgrade(socket, 403, 'Forbidden');
    const url = new URL(req.url ?? '/', `http://${host}:${port}`);
    if (url.pathname !== '/api') return refuseUpgrade(socket, 404, 'Not Found');
    // Non-browser clients (tests, scripts) send no Origin; a browser always does, and then it must be ours.
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) return refuseUpgrade(socket, 403, 'Forbidden');
    if (!tokenMatches(url.searchParams.get('token'), token)) {
      if (origin === undefined) return refuseUpgrade(socket, 401, 'Unauthorized');
      // A page of ours with a stale token (the server was restarted) cannot read an HTTP 401 from
      // a WebSocket: open and close at once with CLOSE_UNAUTHORIZED, so it can say what to do.
      return wss.handleUpgrade(req, socket, head, (ws) => ws.close(CLOSE_UNAUTHORIZED, 'The access token is wrong or out of date'));
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  function send(ws: WebSocket, msg: WireResponse | WireEvent): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  async function onMessage(ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> {
    const fail = (id: number, code: ApiErrorShape['code'], message: string): void => send(ws, { id, ok: false, error: { code, message } });
    if (isBinary) return fail(-1, 'invalid', 'Binary messages are not accepted; send JSON text {id, method, params}');
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch (err) {
      return fail(-1, 'invalid', `Malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return fail(-1, 'invalid', 'A request must be a JSON object {id, method, params}');
    const { id, method, params } = msg as Record<string, unknown>;
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) return fail(-1, 'invalid', 'Request field "id" must be an integer');
    if (typeof method !== 'string') return fail(id, 'invalid', 'Request field "method" must be a string');
    if (!methods.has(method)) return fail(id, 'invalid', `Unknown method "${method.slice(0, 80)}"`);
    try {
      const result = await services.handle(method, params ?? {});
      send(ws, { id, ok: true, result });
    } catch (err) {
      send(ws, { id, ok: false, error: errorShape(err) });
    }
  }

  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => void onMessage(ws, data, isBinary));
    ws.on('error', () => ws.terminate());
  });

  const unsubscribe = services.subscribe((event, payload) => {
    const text = JSON.stringify({ event, payload } satisfies WireEvent);
    for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  });

  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (err) {
    unsubscribe();
    const e = err as NodeJS.ErrnoException;
    throw new ApiError('io', e.code === 'EADDRINUSE' ? `Port ${opts.port} is already in use; pick another with --port or use --port 0` : `Cannot listen on ${host}:${opts.port}: ${e.message}`);
  }
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  allowedOrigins = new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}/?token=${token}`,
    token,
    port,
    close() {
      closed ??= (async () => {
        unsubscribe();
        // Give each client a moment to receive the close frame, then cut whatever is left.
        await Promise.all([...wss.clients].map((ws) => new Promise<void>((ok) => {
          const timer = setTimeout(() => { ws.terminate(); ok(); }, 500);
          ws.once('close', () => { clearTimeout(timer); ok(); });
          ws.close(1001, 'NormLab is shutting down');
        })));
        await new Promise<void>((ok) => wss.close(() => ok()));
        await new Promise<void>((ok) => {
          server.close(() => ok());
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}
