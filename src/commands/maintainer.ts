// MAINTAINER (deprecated in Docker, still honoured): sets the image author.
import type { MaintainerInstruction } from '../dockerfile/instructions.ts';
import type { Command } from './command.ts';

export function maintainerCommand(instr: MaintainerInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      return { image: { ...step.image, author: instr.name } };
    },
  };
}
