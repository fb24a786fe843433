// USER: recorded as written (after expansion); resolved against /etc/passwd only when a RUN needs it.
import type { UserInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function userCommand(instr: UserInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const user = expandWord(instr.user, step.env, { escape: step.escape });
      if (user === '') throw new BuildError('DOCKERFILE', 'USER requires a user name or id');
      return { image: withContainerConfig(step.image, { User: user }) };
    },
  };
}
