/**
 * Browser mode, what tests/unit/server does not already cover, over real loopback sockets:
 * the listening address (127.0.0.1 only — not 127.0.0.2, not ::1, not the machine's other
 * addresses), Origin "null" and missing Host headers, oversized HTTP headers, and random frames
 * (fast-check) that must each get one typed answer without closing the connection or reaching
 * the services with a method outside the contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ApiError, METHODS } from '../../../src-main/contract/api';
import { startServer, type RunningServer, type ServerServices } from '../../../src-main/server/server';

let dir: string;
let srv: RunningServer;
const calls: string[] = [];
const services: ServerServices = {
  async handle(method) {
    calls.push(method);
    throw new ApiError('invalid', `${method}: params refused by the fake`);
  },
  subscribe: () => () => {},
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'normlab-bm-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>NormLab</title>');
  srv = await startServer(services, { port: 0, rendererDir: dir, maxMessageBytes: 8192 });
});
afterAll(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Raw TCP exchange: resolves with what the server answered (or the connect error code). */
function raw(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    // write, not end: a client that half-closes before reading is not what browsers do.
    const s = tcpConnect({ host, port }, () => s.write(text));
    let got = '';
    let idle: NodeJS.Timeout | undefined;
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (d) => {
      got += String(d);
      clearTimeout(idle);
      idle = setTimeout(() => s.destroy(), 300);
    });
    s.on('close', () => resolve(got));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
  });
}

describe('browser mode: listening address', () => {
  it('listens on 127.0.0.1 only', async () => {
    // The kernel's own table: one LISTEN socket on our port, bound to 127.0.0.1 (0100007F).
    const hexPort = srv.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => l.includes(`:${hexPort} `) && l.trim().split(/\s+/)[3] === '0A');
    expect(listening.map((l) => l.trim().split(/\s+/)[1])).toEqual([`0100007F:${hexPort}`]);
    const v6 = readFileSync('/proc/net/tcp6', 'utf8').split('\n').filter((l) => l.includes(`:${hexPort} `) && l.trim().split(/\s+/)[3] === '0A');
    expect(v6).toEqual([]);
    expect(await raw('127.0.0.2', srv.port, 'GET / HTTP/1.1\r\n\r\n')).toBe('error ECONNREFUSED');
    const others = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal && a.family === 'IPv4');
    for (const a of others) expect(await raw(a!.address, srv.port, 'GET / HTTP/1.1\r\n\r\n'), a!.address).toMatch(/^error (ECONNREFUSED|EHOSTUNREACH|ENETUNREACH)$/);
  });
});

describe('browser mode: requests it refuses', () => {
  it('a request without a Host header (HTTP/1.0) gets 403, on pages and on the API', async () => {
    expect(await raw('127.0.0.1', srv.port, 'GET / HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 403 /);
    const up = await raw('127.0.0.1', srv.port, `GET /api?token=${srv.token} HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    expect(up).toMatch(/^HTTP\/1\.1 (400|403) /);
  });

  it('Origin "null" (sandboxed frames, file:// pages) and an https twin of our origin are refused', async () => {
    const open = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api?token=${srv.token}`, { headers });
        ws.once('open', () => { ws.close(); resolve(101); });
        ws.once('unexpected-response', (_q, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
        ws.once('error', () => resolve(-1));
      });
    expect(await open({ Origin: 'null' })).toBe(403);
    expect(await open({ Origin: `https://127.0.0.1:${srv.port}` })).toBe(403);
    expect(await open({ Origin: `http://127.0.0.1.evil.example:${srv.port}` })).toBe(403);
    expect(await open({ Origin: `http://127.0.0.1:${srv.port}` })).toBe(101);
  });

  it('an oversized HTTP header block is refused (431) and the server keeps serving', async () => {
    const big = await raw('127.0.0.1', srv.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nX-Pad: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(await raw('127.0.0.1', srv.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('browser mode: random frames (fast-check)', () => {
  it('every text frame gets exactly one typed answer; the connection stays; only contract methods reach the services', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api?token=${srv.token}`);
    await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
    const replies: Record<string, unknown>[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(String(d)) as Record<string, unknown>));
    const frame = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.record({ id: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)), method: fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 30 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty')), params: fc.anything({ maxDepth: 2 }) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    );
    const frames = fc.sample(frame, { numRuns: 400, seed: 11 });
    const before = calls.length;
    for (const f of frames) ws.send(f);
    const t0 = Date.now();
    while (replies.length < frames.length && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    expect(replies).toHaveLength(frames.length);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    for (const r of replies) {
      expect(r.ok).toBe(false);
      expect((r.error as { code: string }).code).toBe('invalid');
      expect(typeof (r.error as { message: string }).message).toBe('string');
    }
    const reached = calls.slice(before);
    expect(reached.every((m) => (METHODS as readonly string[]).includes(m))).toBe(true);
    ws.close();
    console.log(`[security] random WebSocket frames: ${frames.length} sent, ${replies.length} typed answers, ${reached.length} reached the services (all contract methods)`);
  });

  it('binary frames are refused with a typed answer', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/api?token=${srv.token}`);
    await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
    const reply = new Promise<Record<string, unknown>>((ok) => ws.once('message', (d) => ok(JSON.parse(String(d)) as Record<string, unknown>)));
    ws.send(Buffer.from(JSON.stringify({ id: 1, method: 'engine.info', params: {} })));
    expect(await reply).toEqual({ id: -1, ok: false, error: { code: 'invalid', message: 'Binary messages are not accepted; send JSON text {id, method, params}' } });
    ws.close();
  });
});
