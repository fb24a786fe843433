// CMD: shell form runs through the current SHELL (BuildKit does this for CMD and ENTRYPOINT too).
import type { CmdInstruction } from '../dockerfile/instructions.ts';
import type { Command } from './command.ts';
import { commandLine, withContainerConfig } from './image-config.ts';

export function cmdCommand(instr: CmdInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      return { image: withContainerConfig(step.image, { Cmd: commandLine(instr, step.image) }), cmdSet: true };
    },
  };
}
