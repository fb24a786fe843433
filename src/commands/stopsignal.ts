// STOPSIGNAL: a signal name (SIGTERM) or number, kept as written after expansion.
import type { StopsignalInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function stopsignalCommand(instr: StopsignalInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const signal = expandWord(instr.signal, step.env, { escape: step.escape });
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(signal)) throw new BuildError('DOCKERFILE', `invalid STOPSIGNAL "${signal}"`);
      return { image: withContainerConfig(step.image, { StopSignal: signal }) };
    },
  };
}
