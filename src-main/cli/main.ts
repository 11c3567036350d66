/**
 * The `normlab` command. Every subcommand is a thin door onto the services; errors a person can
 * act on are printed as one line (never a stack trace) with a non-zero exit.
 */
import { CORE_COMMANDS } from './commands/core';
import { BN_COMMANDS } from './commands/bn';
import { ONNX_COMMANDS } from './commands/onnx';
import { DROPOUT_COMMANDS } from './commands/dropout';
import { STUDY_COMMANDS } from './commands/study';
import { LANDSCAPE_COMMANDS } from './commands/landscape';
import { MODEL_COMMANDS } from './commands/model';
import { UsageError } from './args';
import type { Command } from './common';

const COMMANDS: Command[] = [...CORE_COMMANDS, ...BN_COMMANDS, ...ONNX_COMMANDS, ...DROPOUT_COMMANDS, ...STUDY_COMMANDS, ...LANDSCAPE_COMMANDS, ...MODEL_COMMANDS];

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'normlab — batch normalization and regularization workbench',
    '',
    'Usage: normlab <command> [options]    (normlab <command> --help for its options)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Common options: --workspace DIR (default ./normlab-workspace or $NORMLAB_WORKSPACE), --json',
    'Environment: NORMLAB_BACKEND=tensorflow|wasm|cpu forces the engine backend.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`normlab: unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.summary}\n\nUsage: ${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (e instanceof UsageError) {
      process.stderr.write(`normlab ${name}: ${err.message}\nUsage: ${cmd.usage.split('\n')[0]}\n`);
      return 2;
    }
    process.stderr.write(`normlab ${name}: ${err.message ?? String(e)}\n`);
    if (process.env.NORMLAB_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

// Runs when this bundle is the entry (bin/normlab.js imports it and calls main).
export default main;
