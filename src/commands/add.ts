// ADD: local archives and remote URLs belong to the build-engine issue; until then it fails clearly.
import type { AddInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';

export function addCommand(instr: AddInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'files', cacheable: true, needsRootfs: true },
    async execute() {
      throw new BuildError('NOT_SUPPORTED', 'ADD is not supported yet');
    },
  };
}
