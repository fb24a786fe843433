// Instruction → Command. Exhaustive by construction: adding an instruction kind without a factory is a
// compile error (the `satisfies` below).
import type { Instruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import { addCommand } from './add.ts';
import { argCommand } from './arg.ts';
import { cmdCommand } from './cmd.ts';
import type { Command } from './command.ts';
import { copyCommand } from './copy.ts';
import { entrypointCommand } from './entrypoint.ts';
import { envCommand } from './env.ts';
import { exposeCommand } from './expose.ts';
import { healthcheckCommand } from './healthcheck.ts';
import { labelCommand } from './label.ts';
import { maintainerCommand } from './maintainer.ts';
import { onbuildCommand } from './onbuild.ts';
import { runCommand } from './run.ts';
import { shellCommand } from './shell.ts';
import { stopsignalCommand } from './stopsignal.ts';
import { userCommand } from './user.ts';
import { volumeCommand } from './volume.ts';
import { workdirCommand } from './workdir.ts';

export interface CommandOptions {
  /** .dockerignore of the context: COPY/ADD do not see ignored files. */
  readonly ignore?: { matches(relPath: string): boolean };
}

type Factories = { [K in Instruction['kind']]: (i: Extract<Instruction, { kind: K }>, o: CommandOptions) => Command };

const factories = {
  FROM: (i) => { throw new BuildError('DOCKERFILE', `FROM at line ${i.line} is a stage boundary, not a command`); },
  RUN: (i, o) => runCommand(i, o.ignore === undefined ? {} : { ignore: o.ignore }),
  COPY: (i, o) => copyCommand(i, o.ignore === undefined ? {} : { ignore: o.ignore }),
  ADD: (i, o) => addCommand(i, o.ignore === undefined ? {} : { ignore: o.ignore }),
  ENV: (i) => envCommand(i),
  ARG: (i) => argCommand(i),
  LABEL: (i) => labelCommand(i),
  EXPOSE: (i) => exposeCommand(i),
  VOLUME: (i) => volumeCommand(i),
  WORKDIR: (i) => workdirCommand(i),
  USER: (i) => userCommand(i),
  CMD: (i) => cmdCommand(i),
  ENTRYPOINT: (i) => entrypointCommand(i),
  SHELL: (i) => shellCommand(i),
  HEALTHCHECK: (i) => healthcheckCommand(i),
  STOPSIGNAL: (i) => stopsignalCommand(i),
  ONBUILD: (i) => onbuildCommand(i),
  MAINTAINER: (i) => maintainerCommand(i),
} satisfies Factories;

export function commandFor(instr: Instruction, opts: CommandOptions = {}): Command {
  const make = factories[instr.kind] as (i: Instruction, o: CommandOptions) => Command;
  return make(instr, opts);
}

export type { Command, StepContext, StepResult } from './command.ts';
