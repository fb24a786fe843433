// HEALTHCHECK: durations in Go syntax become nanoseconds in the config, as Docker writes them.
import type { HealthcheckInstruction } from '../dockerfile/instructions.ts';
import { parseGoDuration } from '../dockerfile/go-duration.ts';
import { BuildError } from '../errors.ts';
import type { HealthConfig } from '../oci/types.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

function durationNs(option: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const total = parseGoDuration(raw);
  if (total === undefined) throw new BuildError('DOCKERFILE', `HEALTHCHECK --${option}: invalid duration "${raw}"`);
  if (total !== 0 && total < 1e6) throw new BuildError('DOCKERFILE', `HEALTHCHECK --${option} cannot be less than 1ms`);
  return Math.round(total);
}

export function healthcheckCommand(instr: HealthcheckInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      if (instr.none) return { image: withContainerConfig(step.image, { Healthcheck: { Test: ['NONE'] } }) };
      const test = instr.test.form === 'exec' ? ['CMD', ...instr.test.args] : ['CMD-SHELL', instr.test.command];
      let retries: number | undefined;
      if (instr.retries !== undefined) {
        retries = Number(instr.retries);
        if (!Number.isInteger(retries) || retries < 0) throw new BuildError('DOCKERFILE', `HEALTHCHECK --retries must be a non-negative integer, got "${instr.retries}"`);
      }
      const health: Record<string, unknown> = { Test: test };
      const put = (k: string, v: number | undefined): void => { if (v !== undefined && v !== 0) health[k] = v; };
      put('Interval', durationNs('interval', instr.interval));
      put('Timeout', durationNs('timeout', instr.timeout));
      put('StartPeriod', durationNs('start-period', instr.startPeriod));
      put('StartInterval', durationNs('start-interval', instr.startInterval));
      put('Retries', retries);
      return { image: withContainerConfig(step.image, { Healthcheck: health as HealthConfig }) };
    },
  };
}
