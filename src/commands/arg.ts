// ARG: declares build arguments for the rest of the stage. Value: --build-arg, else the default (expanded),
// else the global ARG of the same name. ARGs are never written into the image config (Docker).
import type { ArgInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import type { Command } from './command.ts';

export function argCommand(instr: ArgInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const args = new Map(step.args);
      for (const arg of instr.args) {
        const fromBuild = step.buildArgs.get(arg.name);
        let value: string | undefined;
        if (fromBuild !== undefined) value = fromBuild;
        else if (arg.defaultValue !== undefined) {
          // The default sees the args declared so far and the image env (ENV wins, as for every expansion).
          value = expandWord(arg.defaultValue, step.env, { escape: step.escape });
        } else value = step.metaArgs.get(arg.name);
        if (value !== undefined) args.set(arg.name, value);
        else args.delete(arg.name);
      }
      return { image: step.image, args };
    },
  };
}
