// ENV: variables expanded against the current environment, left to right, as Docker does
// (`ENV a=1 b=$a` sees the a of before this instruction; BuildKit expands all pairs against the prior env).
import type { EnvInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import type { Command } from './command.ts';
import { setEnv, withContainerConfig } from './image-config.ts';

export function envCommand(instr: EnvInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      let env = step.image.config.Env;
      for (const { key, value } of instr.pairs) {
        const name = expandWord(key, step.env, { escape: step.escape });
        env = setEnv(env, name, expandWord(value, step.env, { escape: step.escape }));
      }
      return { image: withContainerConfig(step.image, { Env: env ?? [] }) };
    },
  };
}
