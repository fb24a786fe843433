// ENTRYPOINT: also clears a CMD inherited from the base image, but not one set earlier in this stage (Docker).
import type { EntrypointInstruction } from '../dockerfile/instructions.ts';
import type { Command } from './command.ts';
import { commandLine, withContainerConfig } from './image-config.ts';

export function entrypointCommand(instr: EntrypointInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const patch = step.cmdSet
        ? { Entrypoint: commandLine(instr, step.image) }
        : { Entrypoint: commandLine(instr, step.image), Cmd: null };
      return { image: withContainerConfig(step.image, patch) };
    },
  };
}
