// ONBUILD: the trigger is stored as text; it runs when a later build uses this image as its base.
import type { OnbuildInstruction } from '../dockerfile/instructions.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function onbuildCommand(instr: OnbuildInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      return { image: withContainerConfig(step.image, { OnBuild: [...(step.image.config.OnBuild ?? []), instr.triggerText] }) };
    },
  };
}
