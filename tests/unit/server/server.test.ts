/**
 * Browser-mode door over real loopback sockets: what it refuses and what it carries.
 * The services behind it are a small fake; the door must not depend on what they do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { CLOSE_UNAUTHORIZED, startServer, browserCsp, type RunningServer, type ServerServices } from '../../../src-main/server/server';
import { ApiError } from '../../../src-main/contract/api';

type Listener = (event: string, payload: unknown) => void;

function fakeServices() {
  const listeners = new Set<Listener>();
  const calls: { method: string; params: unknown }[] = [];
  const services: ServerServices = {
    async handle(method, params) {
      calls.push({ method, params });
      if (method === 'engine.info') return { backend: 'wasm', reason: 'forced by test', tried: [] };
      if (method === 'runs.get') throw new ApiError('not-found', `No run with id "${(params as { id: string }).id}"`);
      if (method === 'runs.list') throw new Error('disk exploded');
      return null;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return { services, calls, emit: (e: string, p: unknown) => listeners.forEach((l) => l(e, p)), listeners };
}

interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Opens a socket; resolves with the open socket or with the HTTP status it was refused with. */
function connect(url: string, headers: Record<string, string> = {}, maxPayload?: number): Promise<{ ws?: WebSocket; refused?: number }> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, { headers, ...(maxPayload ? { maxPayload } : {}) });
    ws.once('open', () => ok({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      ok({ refused: res.statusCode });
      ws.terminate();
    });
    ws.once('error', (err) => fail(err));
  });
}

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((ok) => ws.once('message', (d) => ok(JSON.parse(d.toString()) as Record<string, unknown>)));
}

describe('browser-mode server', () => {
  let dir: string;
  let fake: ReturnType<typeof fakeServices>;
  let srv: RunningServer;
  let api: string;
  let origin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'normlab-server-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>NormLab</title>');
    writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
    writeFileSync(join(tmpdir(), 'normlab-secret.txt'), 'secret');
    fake = fakeServices();
    srv = await startServer(fake.services, { port: 0, rendererDir: dir, maxMessageBytes: 4096 });
    api = `ws://127.0.0.1:${srv.port}/api?token=${srv.token}`;
    origin = `http://127.0.0.1:${srv.port}`;
  });

  afterAll(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a loopback URL with a 32-character base64url token', () => {
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/?token=${srv.token}`);
    expect(srv.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(srv.port).toBeGreaterThan(0);
  });

  it('serves the page and assets with MIME types and a strict CSP', async () => {
    const page = await get(srv.port, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(browserCsp(srv.port));
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).not.toContain('unsafe-eval');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toContain('<title>NormLab</title>');
    const js = await get(srv.port, '/assets/app-1234.js', { Host: `localhost:${srv.port}` });
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toBe('console.log(1)');
  });

  it('refuses a foreign Host header on pages (DNS rebinding) and on the API', async () => {
    const page = await get(srv.port, '/', { Host: `evil.example:${srv.port}` });
    expect(page.status).toBe(403);
    const other = await get(srv.port, '/', { Host: `127.0.0.1:${srv.port + 1}` });
    expect(other.status).toBe(403);
    const ws = await connect(api, { Host: `evil.example:${srv.port}` });
    expect(ws.refused).toBe(403);
  });

  it('does not serve files outside the renderer folder', async () => {
    const res = await get(srv.port, '/..%2fnormlab-secret.txt');
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('secret\n');
    expect((await get(srv.port, '/missing.js')).status).toBe(404);
  });

  it('refuses the API without the token or with a wrong one', async () => {
    expect((await connect(`ws://127.0.0.1:${srv.port}/api`)).refused).toBe(401);
    const wrong = srv.token.slice(0, -1) + (srv.token.endsWith('A') ? 'B' : 'A');
    expect((await connect(`ws://127.0.0.1:${srv.port}/api?token=${wrong}`)).refused).toBe(401);
    expect((await connect(`ws://127.0.0.1:${srv.port}/api?token=short`)).refused).toBe(401);
    expect((await get(srv.port, '/api')).status).toBe(401);
    expect(fake.calls).toHaveLength(0);
  });

  it('tells its own page that the token is stale: the socket opens and closes at once with 4401, no call reaches the services', async () => {
    const wrong = srv.token.slice(0, -1) + (srv.token.endsWith('A') ? 'B' : 'A');
    for (const url of [`ws://127.0.0.1:${srv.port}/api?token=${wrong}`, `ws://127.0.0.1:${srv.port}/api`]) {
      const { ws } = await connect(url, { Origin: origin });
      const closed = await new Promise<{ code: number; reason: string }>((ok) => ws!.once('close', (code, reason) => ok({ code, reason: reason.toString() })));
      expect(closed.code).toBe(CLOSE_UNAUTHORIZED);
      expect(closed.reason).toMatch(/token/);
    }
    // A foreign page with a wrong token still gets nothing but 403.
    expect((await connect(`ws://127.0.0.1:${srv.port}/api?token=${wrong}`, { Origin: 'http://evil.example' })).refused).toBe(403);
    expect(fake.calls).toHaveLength(0);
  });

  it('refuses a foreign Origin even with the token, accepts its own', async () => {
    expect((await connect(api, { Origin: 'http://evil.example' })).refused).toBe(403);
    expect((await connect(api, { Origin: `http://127.0.0.1:${srv.port + 1}` })).refused).toBe(403);
    const ok = await connect(api, { Origin: origin });
    expect(ok.ws?.readyState).toBe(WebSocket.OPEN);
    ok.ws?.close();
    const local = await connect(api, { Origin: `http://localhost:${srv.port}` });
    expect(local.ws?.readyState).toBe(WebSocket.OPEN);
    local.ws?.close();
  });

  it('answers a valid call with its result and a service error with its typed shape', async () => {
    const { ws } = await connect(api, { Origin: origin });
    ws!.send(JSON.stringify({ id: 7, method: 'engine.info', params: {} }));
    expect(await nextMessage(ws!)).toEqual({ id: 7, ok: true, result: { backend: 'wasm', reason: 'forced by test', tried: [] } });
    ws!.send(JSON.stringify({ id: 8, method: 'runs.get', params: { id: 'r1' } }));
    expect(await nextMessage(ws!)).toEqual({ id: 8, ok: false, error: { code: 'not-found', message: 'No run with id "r1"' } });
    ws!.send(JSON.stringify({ id: 9, method: 'runs.list', params: {} }));
    expect(await nextMessage(ws!)).toEqual({ id: 9, ok: false, error: { code: 'internal', message: 'disk exploded' } });
    ws!.close();
  });

  it('answers malformed JSON, bad shapes and unknown methods with typed errors and keeps the connection', async () => {
    const { ws } = await connect(api);
    const before = fake.calls.length;
    ws!.send('{"id": 1, "method": ');
    const bad = await nextMessage(ws!);
    expect(bad.ok).toBe(false);
    expect(bad.id).toBe(-1);
    expect((bad.error as { code: string; message: string }).code).toBe('invalid');
    expect((bad.error as { message: string }).message).toMatch(/^Malformed JSON/);
    ws!.send('[1,2]');
    expect(((await nextMessage(ws!)).error as { message: string }).message).toBe('A request must be a JSON object {id, method, params}');
    ws!.send(JSON.stringify({ id: 'x', method: 'engine.info' }));
    expect(((await nextMessage(ws!)).error as { message: string }).message).toBe('Request field "id" must be an integer');
    ws!.send(JSON.stringify({ id: 3, method: 'fs.readFile', params: { path: '/etc/passwd' } }));
    expect(await nextMessage(ws!)).toEqual({ id: 3, ok: false, error: { code: 'invalid', message: 'Unknown method "fs.readFile"' } });
    ws!.send(JSON.stringify({ id: 4, method: 'constructor', params: {} }));
    expect(((await nextMessage(ws!)).error as { code: string }).code).toBe('invalid');
    expect(fake.calls.length).toBe(before);
    // Still usable after all that.
    ws!.send(JSON.stringify({ id: 5, method: 'engine.info', params: {} }));
    expect((await nextMessage(ws!)).ok).toBe(true);
    ws!.close();
  });

  it('closes the connection on an oversized message (1009) and stays up for others', async () => {
    const { ws } = await connect(api);
    const closed = new Promise<number>((ok) => ws!.once('close', (code) => ok(code)));
    ws!.send(JSON.stringify({ id: 1, method: 'engine.info', params: { pad: 'x'.repeat(5000) } }));
    expect(await closed).toBe(1009);
    const again = await connect(api);
    again.ws!.send(JSON.stringify({ id: 2, method: 'engine.info', params: {} }));
    expect((await nextMessage(again.ws!)).id).toBe(2);
    again.ws!.close();
  });

  it('sends every service event to every connected client', async () => {
    const a = (await connect(api)).ws!;
    const b = (await connect(api, { Origin: origin })).ws!;
    const got = Promise.all([nextMessage(a), nextMessage(b)]);
    const payload = { state: 'crashed', message: 'worker exited with code 134' };
    fake.emit('engine.status', payload);
    expect(await got).toEqual([{ event: 'engine.status', payload }, { event: 'engine.status', payload }]);
    a.close();
    b.close();
  });

  it('refuses to start on a port in use with a clear message, and frees its port on close', async () => {
    await expect(startServer(fake.services, { port: srv.port, rendererDir: dir })).rejects.toThrow(`Port ${srv.port} is already in use`);
    const other = await startServer(fake.services, { port: 0, rendererDir: dir });
    const listenersBefore = fake.listeners.size;
    const client = (await connect(`ws://127.0.0.1:${other.port}/api?token=${other.token}`)).ws!;
    const closed = new Promise<number>((ok) => client.once('close', (code) => ok(code)));
    await other.close();
    expect(await closed).toBe(1001);
    expect(fake.listeners.size).toBe(listenersBefore - 1);
    await expect(get(other.port, '/')).rejects.toThrow(/ECONNREFUSED/);
    expect(other.token).not.toBe(srv.token);
  });
});
