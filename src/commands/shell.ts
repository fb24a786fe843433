// SHELL: the shell for later shell-form RUN, CMD, ENTRYPOINT and HEALTHCHECK (exec form only; the parser checks).
import type { ShellInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function shellCommand(instr: ShellInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      if (instr.form !== 'exec' || instr.args.length === 0) {
        throw new BuildError('DOCKERFILE', 'SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/bash", "-c"]');
      }
      return { image: withContainerConfig(step.image, { Shell: [...instr.args] }) };
    },
  };
}
