#!/usr/bin/env node
/**
 * The hostile pass of issue 18, run against the built `normlab` command (npm run build first):
 * a careless user and an attacker try the cases the issue lists, and every one must end in a
 * clear error (non-zero exit, one line naming the file / run / field) or, where the right answer
 * is to carry on, in the documented behaviour. Prints each case with the error it got, then the
 * counts. Exit 1 if any case misbehaved.
 *
 *   node scripts/hostile-pass.mjs [--keep]     (NORMLAB_BACKEND=wasm is set for the children)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'normlab.js');
if (!existsSync(join(ROOT, 'out', 'main', 'cli.js'))) {
  console.error('hostile-pass: NormLab is not built (npm run build)');
  process.exit(2);
}
const env = { ...process.env, NORMLAB_BACKEND: process.env.NORMLAB_BACKEND ?? 'wasm' };
const tmp = mkdtempSync(join(tmpdir(), 'normlab-hostile-'));
const ws = join(tmp, 'ws');
const SMALL = ['--train-limit', '600', '--test-limit', '200', '--batch', '50'];

const cli = (args) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const firstLine = (s) => s.trim().split('\n').find((l) => l.trim()) ?? '';

let tried = 0;
let clear = 0;
const bad = [];
/** A case that must be refused: non-zero exit and stderr matching `want`. */
function refuse(name, args, want) {
  tried++;
  const r = cli(args);
  const line = firstLine(r.stderr);
  const ok = r.code !== 0 && want.test(r.stderr);
  if (ok) clear++;
  else bad.push(`${name}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}`);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}\n       → ${line || '(no message)'}`);
  return r;
}
/** A case where carrying on is right: exit 0 and stdout matching `want`. */
function carryOn(name, args, want) {
  tried++;
  const r = cli(args);
  const ok = r.code === 0 && want.test(r.stdout);
  if (ok) clear++;
  else bad.push(`${name}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
  const shown = r.stdout.split('\n').find((l) => want.test(l)) ?? firstLine(r.stdout);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}\n       → ${shown}`);
  return r;
}

function runJson(id) {
  return join(ws, 'runs', id, 'run.json');
}
function copyRun(from, to, mutate) {
  const dst = join(ws, 'runs', to);
  spawnSync('cp', ['-r', join(ws, 'runs', from), dst]);
  const rec = JSON.parse(readFileSync(runJson(from), 'utf8'));
  writeFileSync(runJson(to), JSON.stringify(mutate({ ...rec, id: to }), null, 1));
  return to;
}

console.log(`hostile pass in ${tmp}\n`);
// A real run to attack: 2 epochs on the embedded MNIST sample.
const trained = cli(['train', '--epochs', '2', ...SMALL, '--name', 'target', '--workspace', ws, '--json']);
if (trained.code !== 0) {
  console.error(`could not train the target run: ${trained.stderr}`);
  process.exit(2);
}
const id = JSON.parse(trained.stdout.trim().split('\n').at(-1)).run_id;

// ---- item 1: one writer per run
{
  const victim = JSON.parse(cli(['train', '--epochs', '1', ...SMALL, '--name', 'long', '--workspace', ws, '--json']).stdout.trim().split('\n').at(-1)).run_id;
  // Make it resumable (as if killed), then start one resume and race a second one against it.
  const rec = JSON.parse(readFileSync(runJson(victim), 'utf8'));
  writeFileSync(runJson(victim), JSON.stringify({ ...rec, status: 'interrupted', settings: { ...rec.settings, epochs: 6 } }, null, 1));
  const first = spawn(process.execPath, [BIN, 'resume', victim, '--workspace', ws, '--json'], { cwd: tmp, env, stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(ws, 'runs', victim, 'owner.lock')) && Date.now() < deadline) spawnSync('sleep', ['0.2']);
  refuse('second `normlab resume` of a run another process is resuming', ['resume', victim, '--workspace', ws], /being written by process \d+/);
  refuse('`normlab rm` of a run another process is training', ['rm', victim, '--workspace', ws], /cancel it before deleting/);
  first.kill('SIGKILL');
  await new Promise((r) => first.on('exit', r));
  // Its pid is dead now: the lock is stale and a new resume takes it over.
  carryOn('resume after the lock holder was killed -9 (stale lock taken over)', ['resume', victim, '--workspace', ws], /resuming .* from its checkpoint after epoch|has no usable checkpoint/);
  // A lock naming this pid with another start time: a reused pid is not the owner.
  writeFileSync(join(ws, 'runs', victim, 'owner.lock'), JSON.stringify({ owner: { kind: 'process', pid: process.pid, startTime: 'other-boot:1', host: (await import('node:os')).hostname() }, token: 'x', taken: '' }));
  const r2 = JSON.parse(readFileSync(runJson(victim), 'utf8'));
  writeFileSync(runJson(victim), JSON.stringify({ ...r2, status: 'running', owner: { kind: 'process', pid: process.pid, startTime: 'other-boot:1', host: (await import('node:os')).hostname() } }, null, 1));
  carryOn('a run whose recorded pid now belongs to another process lists as interrupted', ['runs', '--workspace', ws], new RegExp(`${victim}\\s+interrupted`));
  carryOn('… and can be removed', ['rm', victim, '--workspace', ws], /deleted/);
}

// ---- item 2: exports stay put
{
  const out = join(tmp, 'out');
  mkdirSync(out);
  const precious = join(tmp, 'precious.txt');
  writeFileSync(precious, 'do not touch');
  symlinkSync(precious, join(out, 'link.onnx'));
  writeFileSync(join(out, 'exists.onnx'), 'mine');
  refuse('export --out onto an existing file without --force', ['export', id, '--out', join(out, 'exists.onnx'), '--workspace', ws], /exists; add --force/);
  refuse('export --out through a symbolic link (with --force)', ['export', id, '--out', join(out, 'link.onnx'), '--force', '--workspace', ws], /symbolic link/);
  if (readFileSync(precious, 'utf8') !== 'do not touch') bad.push('the symlink target was changed');
  refuse('export --out into a folder that does not exist', ['export', id, '--out', join(tmp, 'no', 'dir', 'm.onnx'), '--workspace', ws], /does not exist/);
  carryOn('export --out a new file', ['export', id, '--out', join(out, 'model.onnx'), '--workspace', ws], /wrote /);
}

// ---- item 4: damaged records are named, never guessed around
{
  const empty = copyRun(id, '20200101-000000-0001', (r) => ({ ...r, settings: {}, name: 'empty settings' }));
  const wrongType = copyRun(id, '20200101-000000-0002', (r) => ({ ...r, settings: { ...r.settings, data: 42 }, name: 'wrong type' }));
  carryOn('`"settings": {}` in one run: `normlab runs` still lists every run', ['runs', '--workspace', ws], new RegExp(`${empty}\\s+damaged .*settings\\.data" is missing`));
  refuse('export of the run with `"settings": {}`', ['export', id.replace(id, empty), '--workspace', ws], /ONNX export refused: run .* is damaged .*settings\.data/);
  refuse('BN inspector on a run whose settings.data is a number', ['bn', wrongType, '--workspace', ws], /refused: run .* is damaged .*settings\.data/);
  const broken = copyRun(id, '20200101-000000-0003', (r) => ({ ...r, name: 'bad metrics line' }));
  const m = join(ws, 'runs', broken, 'metrics.jsonl');
  const lines = readFileSync(m, 'utf8').trim().split('\n');
  writeFileSync(m, [lines[0], '{"epoch":3}', ...lines.slice(1)].join('\n') + '\n');
  carryOn('a metrics line {"epoch":3}: `normlab show` still shows the run and names the line', ['show', broken, '--workspace', ws], /DAMAGED: .*metrics\.jsonl line 2: field "train_loss" is missing/);
  refuse('… and the dropout analysis refuses it', ['dropout', broken, '--workspace', ws], /refused: run .* is damaged/);
  const rb = JSON.parse(readFileSync(runJson(broken), 'utf8'));
  writeFileSync(runJson(broken), JSON.stringify({ ...rb, status: 'interrupted' }, null, 1));
  carryOn('… resume moves the damaged line to metrics.jsonl.damaged and finishes the run', ['resume', broken, '--workspace', ws], /moved 1 unreadable line of .*metrics\.jsonl to .*metrics\.jsonl\.damaged/);
  if (readFileSync(`${m}.damaged`, 'utf8').trim() !== '{"epoch":3}') bad.push('the damaged metrics line was not kept aside');
  refuse('resume of the run with `"settings": {}`', ['resume', empty, '--workspace', ws], /resume refused: run .* is damaged .*settings\.data/);
  for (const r of [empty, wrongType, broken]) cli(['rm', r, '--workspace', ws]);
}

// ---- item 5: resume drops or repeats nothing silently
{
  const noCk = copyRun(id, '20200101-000000-0004', (r) => ({ ...r, status: 'interrupted', name: 'no checkpoints' }));
  rmSync(join(ws, 'runs', noCk, 'checkpoints'), { recursive: true });
  const r = carryOn('resume with both checkpoints deleted says it starts over (not "after epoch 2")', ['resume', noCk, '--workspace', ws], /has no usable checkpoint: training it again from epoch 1/);
  const epochs = readFileSync(join(ws, 'runs', noCk, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
  if (epochs.join(',') !== '1,2') bad.push(`resume without checkpoints left metrics epochs ${epochs}`);
  void r;
  const torn = copyRun(id, '20200101-000000-0005', (x) => ({ ...x, status: 'interrupted', name: 'torn after checkpoint', settings: { ...x.settings, epochs: 3 } }));
  const mf = join(ws, 'runs', torn, 'metrics.jsonl');
  const ml = readFileSync(mf, 'utf8').trim().split('\n');
  writeFileSync(mf, `${ml[0]}\n${ml[1].slice(0, 30)}`); // epoch 2's line torn; its checkpoint was written
  carryOn('a torn metrics line written after the checkpoint: resume goes back to epoch 1 and keeps the line aside', ['resume', torn, '--workspace', ws], /resuming .* after epoch 1/);
  if (!existsSync(`${mf}.damaged`)) bad.push('the torn line was not kept in metrics.jsonl.damaged');
  const bnLines = readFileSync(join(ws, 'runs', torn, 'bn.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  if (new Set(bnLines).size !== bnLines.length) bad.push('bn.jsonl has repeated steps after resume');
  for (const x of [noCk, torn]) cli(['rm', x, '--workspace', ws]);
}

// ---- item 6: opening a folder changes nothing
{
  const home = join(tmp, 'home');
  mkdirSync(join(home, 'photos'), { recursive: true });
  writeFileSync(join(home, 'thesis.tmp'), 'draft');
  refuse('`normlab runs --workspace` on a folder that is not a workspace', ['runs', '--workspace', home], /is not a NormLab workspace .*--init/);
  refuse('`normlab train --workspace` on it', ['train', '--epochs', '1', ...SMALL, '--workspace', home], /is not a NormLab workspace/);
  if (readdirSync(home).sort().join(',') !== 'photos,thesis.tmp') bad.push(`the folder was changed: ${readdirSync(home)}`);
  mkdirSync(join(ws, 'runs', '20200101-000000-9999'));
  writeFileSync(join(ws, 'runs', '20200101-000000-9999', 'notes.txt'), 'mine');
  refuse('`normlab rm` of a folder with no run record NormLab wrote', ['rm', '20200101-000000-9999', '--workspace', ws], /holds no run record written by NormLab/);
  const oldTmp = join(ws, 'runs', id, 'user-notes.tmp');
  writeFileSync(oldTmp, 'x');
  spawnSync('touch', ['-d', '3 hours ago', oldTmp]);
  cli(['runs', '--workspace', ws]);
  tried++;
  if (existsSync(oldTmp)) { clear++; console.log('ok   an old *.tmp that is not the store\'s survives `normlab runs`'); } else bad.push('an old user .tmp was deleted');
  const wsj = join(ws, 'workspace.json');
  const keep = readFileSync(wsj);
  writeFileSync(wsj, JSON.stringify({ app: 'other', format: 1 }));
  refuse('a workspace.json of another app', ['runs', '--workspace', ws], /not a NormLab workspace file: field "app"/);
  writeFileSync(wsj, keep);
}

// ---- item 7: infer refuses non-finite outputs and invalid metadata
{
  const { onnx } = onnxProto;
  const src = join(tmp, 'out', 'model.onnx');
  const model = onnx.ModelProto.decode(readFileSync(src));
  const std0 = onnx.ModelProto.decode(readFileSync(src));
  for (const p of std0.metadataProps) if (p.key === 'std') p.value = '[0]';
  writeFileSync(join(tmp, 'std0.onnx'), onnx.ModelProto.encode(std0).finish());
  refuse('infer on a model whose metadata std is 0', ['infer', join(tmp, 'std0.onnx'), '--data', 'mnist-sample', '--limit', '100'], /metadata "std" is \[0\]/);
  for (const t of model.graph.initializer) {
    if (t.rawData?.length) {
      const f = new Float32Array(t.rawData.length / 4).fill(NaN);
      t.rawData = new Uint8Array(f.buffer);
    } else if (t.floatData?.length) t.floatData = t.floatData.map(() => NaN);
  }
  writeFileSync(join(tmp, 'nan.onnx'), onnx.ModelProto.encode(model).finish());
  refuse('infer on a model that outputs NaN', ['infer', join(tmp, 'nan.onnx'), '--data', 'mnist-sample', '--limit', '100'], /outputs are not finite/);
  copyFileSync(src, join(tmp, 'fine.onnx'));
  carryOn('infer on the good export still scores', ['infer', join(tmp, 'fine.onnx'), '--data', 'mnist-sample', '--limit', '100'], /accuracy/);
}

// The target run was never changed by any of this.
const after = cli(['show', id, '--workspace', ws, '--json']);
tried++;
if (after.code === 0 && JSON.parse(after.stdout).run.status === 'done' && !JSON.parse(after.stdout).run.damaged) clear++;
else bad.push('the target run changed');

console.log(`\n${tried} bad inputs tried, ${clear} clear errors (or the documented carry-on) given, ${bad.length} misbehaved`);
for (const b of bad) console.log(`  MISBEHAVED ${b}`);
if (!process.argv.includes('--keep')) rmSync(tmp, { recursive: true, force: true });
process.exit(bad.length ? 1 : 0);
