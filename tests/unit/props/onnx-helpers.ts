/** Mutations of a real exported model and a crash-counting runner for the ONNX property tests. */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { build } from 'rolldown';
import { REPO } from '../reliability/helpers';

const { onnx } = onnxProto;

export type OnnxMutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'op'; node: number; op: string }
  | { kind: 'wire'; node: number; input: number; name: string }
  | { kind: 'attr'; node: number; attr: number; value: number }
  | { kind: 'initDim'; init: number; dim: number; value: number }
  | { kind: 'inputDim'; dim: number; value: number }
  | { kind: 'dropNode'; node: number }
  | { kind: 'opset'; value: number };

const edgy = fc.constantFrom(0, 1, 2, 3, -1, 27, 28, 1000, 2 ** 31 - 1, -(2 ** 31));

export const onnxMutation: fc.Arbitrary<OnnxMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('op' as const), node: fc.nat(), op: fc.constantFrom('Conv', 'Relu', 'MaxPool', 'Gemm', 'Add', 'Reshape', 'Softmax', 'BatchNormalization', 'NoSuchOp', '') }),
  fc.record({ kind: fc.constant('wire' as const), node: fc.nat(), input: fc.nat({ max: 4 }), name: fc.constantFrom('', 'input', 'logits', 'missing', 'conv1/kernel') }),
  fc.record({ kind: fc.constant('attr' as const), node: fc.nat(), attr: fc.nat({ max: 5 }), value: edgy }),
  fc.record({ kind: fc.constant('initDim' as const), init: fc.nat(), dim: fc.nat({ max: 3 }), value: edgy }),
  fc.record({ kind: fc.constant('inputDim' as const), dim: fc.nat({ max: 3 }), value: edgy }),
  fc.record({ kind: fc.constant('dropNode' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('opset' as const), value: fc.constantFrom(1, 6, 12, 99, 0) }),
);

/** Applies byte-level mutations to the bytes and structural ones through the protobuf schema. */
export function mutateOnnx(src: Uint8Array, ms: OnnxMutation[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(src);
  for (const m of ms) {
    if (m.kind === 'flip') b[m.at % b.length] = m.value;
    else if (m.kind === 'cut') b = b.slice(0, m.at % (b.length + 1));
    else if (m.kind === 'insert') {
      const at = m.at % (b.length + 1);
      b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    } else {
      let model: InstanceType<typeof onnx.ModelProto>;
      try {
        model = onnx.ModelProto.decode(b);
      } catch {
        continue; // already broken at the byte level
      }
      const g = model.graph;
      const nodes = g?.node ?? [];
      if (m.kind === 'op' && nodes.length) nodes[m.node % nodes.length].opType = m.op;
      if (m.kind === 'wire' && nodes.length) {
        const n = nodes[m.node % nodes.length];
        if (n.input?.length) n.input[m.input % n.input.length] = m.name;
      }
      if (m.kind === 'attr' && nodes.length) {
        const n = nodes[m.node % nodes.length];
        const a = n.attribute?.length ? n.attribute[m.attr % n.attribute.length] : undefined;
        if (a?.ints?.length) a.ints[0] = m.value;
        else if (a) a.i = m.value;
      }
      if (m.kind === 'initDim' && g?.initializer?.length) {
        const t = g.initializer[m.init % g.initializer.length];
        if (t.dims?.length) t.dims[m.dim % t.dims.length] = m.value;
      }
      if (m.kind === 'inputDim') {
        const d = g?.input?.[0]?.type?.tensorType?.shape?.dim;
        if (d?.length) d[m.dim % d.length] = { dimValue: m.value };
      }
      if (m.kind === 'dropNode' && nodes.length > 1) nodes.splice(m.node % nodes.length, 1);
      if (m.kind === 'opset' && model.opsetImport?.length) model.opsetImport[0].version = m.value;
      b = onnx.ModelProto.encode(model).finish();
    }
    if (b.length === 0) break;
  }
  return b;
}

/** Bundles the child once; it lives under node_modules/.cache so its bare imports resolve. */
export async function bundleChild(): Promise<string> {
  const out = join(REPO, 'node_modules/.cache/normlab-reliability', `onnx-child-${process.pid}.mjs`);
  mkdirSync(join(REPO, 'node_modules/.cache/normlab-reliability'), { recursive: true });
  await build({
    input: fileURLToPath(new URL('./fixtures/onnx-child.ts', import.meta.url)),
    platform: 'node',
    logLevel: 'silent',
    external: [/^onnxruntime-node/, /^@tensorflow\//, /^onnx-proto/, /^node:/],
    output: { file: out, format: 'esm' },
  });
  return out;
}

export interface CaseResult {
  index: number;
  outcome: 'ok' | 'error' | 'crash' | 'hang';
  detail: string;
}

/**
 * Runs cases 0..count-1 through the child, restarting it after a crash so every case runs.
 * A case that takes longer than `caseTimeoutMs` is a hang (the child is killed).
 */
export async function runCases(child: string, dir: string, count: number, imagesFile: string, caseTimeoutMs = 20_000): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let next = 0;
  while (next < count) {
    await new Promise<void>((resolve) => {
      const p = spawn(process.execPath, [child, dir, String(next), String(count - 1), imagesFile], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
      let buf = '';
      let current = -1;
      let stderr = '';
      let timer: NodeJS.Timeout | undefined;
      let hung = false;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          hung = true;
          p.kill('SIGKILL');
        }, caseTimeoutMs);
      };
      arm();
      p.stderr.on('data', (d) => (stderr = (stderr + String(d)).slice(-2000)));
      p.stdout.on('data', (d) => {
        buf += String(d);
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const [word, idx, ...rest] = line.split(' ');
          if (word === 'start') {
            current = Number(idx);
            arm();
          } else if (word === 'ok' || word === 'err') {
            results.push({ index: Number(idx), outcome: word === 'ok' ? 'ok' : 'error', detail: rest.join(' ') });
            next = Number(idx) + 1;
          }
        }
      });
      p.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (current >= 0 && !results.some((r) => r.index === current)) {
          results.push({ index: current, outcome: hung ? 'hang' : 'crash', detail: `exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` });
          next = current + 1;
        } else if (current < 0) {
          // The child died before any case: count the first one so the loop cannot spin.
          results.push({ index: next, outcome: 'crash', detail: `child failed to start (exit ${code ?? signal}): ${stderr.trim().slice(-500)}` });
          next += 1;
        }
        resolve();
      });
    });
  }
  return results;
}

/** Writes the mutants as case-<i>.onnx. */
export function writeCases(dir: string, cases: Uint8Array[]): void {
  cases.forEach((b, i) => writeFileSync(join(dir, `case-${i}.onnx`), b));
}
