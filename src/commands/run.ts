// RUN: executing commands in the build root belongs to the build-engine issue; until then it fails clearly.
import type { RunInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';

export function runCommand(instr: RunInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'tree', cacheable: true, needsRootfs: true },
    async execute() {
      throw new BuildError('NOT_SUPPORTED', 'RUN is not supported yet');
    },
  };
}
