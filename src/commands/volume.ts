// VOLUME: metadata only, as BuildKit (kaniko also creates the directory; Docker's image has no such layer).
import type { VolumeInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function volumeCommand(instr: VolumeInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const volumes: Record<string, Record<string, never>> = { ...step.image.config.Volumes };
      for (const raw of instr.paths) {
        const path = expandWord(raw, step.env, { escape: step.escape });
        if (path.trim() === '') throw new BuildError('DOCKERFILE', 'VOLUME specified can not be an empty string');
        volumes[path] = {};
      }
      return { image: withContainerConfig(step.image, { Volumes: volumes }) };
    },
  };
}
