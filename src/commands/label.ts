// LABEL: key/value pairs merged into config.Labels; both sides expanded.
import type { LabelInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function labelCommand(instr: LabelInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const labels: Record<string, string> = { ...step.image.config.Labels };
      for (const { key, value } of instr.pairs) {
        labels[expandWord(key, step.env, { escape: step.escape })] = expandWord(value, step.env, { escape: step.escape });
      }
      return { image: withContainerConfig(step.image, { Labels: labels }) };
    },
  };
}
