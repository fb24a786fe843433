// The typed model of a parsed Dockerfile. Fields hold RAW words, before variable expansion and quote
// removal: consumers expand them with expandWord/expandWords at build time, as BuildKit's Expand methods do,
// because the values of ARG/ENV are only known while the stage runs.

/** Fields every instruction has. */
export interface InstructionBase<K extends string> {
  readonly kind: K;
  /** 1-based line where the instruction starts. */
  readonly line: number;
  /** The instruction as written, continuation lines joined (history created_by, error messages). */
  readonly text: string;
}

/** Shell form (`CMD echo hi`) or exec/JSON form (`CMD ["echo", "hi"]`). */
export type ShellForm = { readonly form: 'shell'; readonly command: string };
export type ExecForm = { readonly form: 'exec'; readonly args: readonly string[] };
export type CommandForm = ShellForm | ExecForm;

/** A heredoc body (`RUN <<EOF`, `COPY <<EOF /dst`). expand is false when the delimiter was quoted. */
export interface Heredoc {
  readonly name: string;
  readonly content: string;
  readonly expand: boolean;
}

export interface FromInstruction extends InstructionBase<'FROM'> {
  /** Raw image word (may hold $VARs resolved against the meta ARGs). */
  readonly image: string;
  /** `AS name`, as written (stage names compare case-insensitively). */
  readonly stageName?: string;
  /** Raw --platform value. */
  readonly platform?: string;
}

export interface RunFlags {
  /** Raw --mount values, in order. */
  readonly mounts: readonly string[];
  readonly network?: string;
  readonly security?: string;
  readonly heredocs: readonly Heredoc[];
}
export type RunInstruction = InstructionBase<'RUN'> & RunFlags & CommandForm;

export interface CopyInstruction extends InstructionBase<'COPY'> {
  /** Source words; a heredoc source appears as its `<<NAME` word and its body in heredocs. */
  readonly sources: readonly string[];
  readonly dest: string;
  readonly from?: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  readonly heredocs: readonly Heredoc[];
}

export interface AddInstruction extends InstructionBase<'ADD'> {
  readonly sources: readonly string[];
  readonly dest: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  readonly heredocs: readonly Heredoc[];
  readonly checksum?: string;
  readonly keepGitDir: boolean;
  /** --unpack[=bool]; undefined when not given (default: unpack local archives, not remote ones). */
  readonly unpack?: boolean;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface EnvInstruction extends InstructionBase<'ENV'> {
  readonly pairs: readonly KeyValue[];
}

export interface ArgDeclaration {
  readonly name: string;
  readonly defaultValue?: string;
}

export interface ArgInstruction extends InstructionBase<'ARG'> {
  readonly args: readonly ArgDeclaration[];
}

export interface LabelInstruction extends InstructionBase<'LABEL'> {
  readonly pairs: readonly KeyValue[];
}

export interface ExposeInstruction extends InstructionBase<'EXPOSE'> {
  readonly ports: readonly string[];
}

export interface VolumeInstruction extends InstructionBase<'VOLUME'> {
  readonly paths: readonly string[];
}

export interface WorkdirInstruction extends InstructionBase<'WORKDIR'> {
  readonly path: string;
}

export interface UserInstruction extends InstructionBase<'USER'> {
  readonly user: string;
}

export interface StopsignalInstruction extends InstructionBase<'STOPSIGNAL'> {
  readonly signal: string;
}

export interface MaintainerInstruction extends InstructionBase<'MAINTAINER'> {
  readonly name: string;
}

export type CmdInstruction = InstructionBase<'CMD'> & CommandForm;
export type EntrypointInstruction = InstructionBase<'ENTRYPOINT'> & CommandForm;
/** The parser only accepts the exec form for SHELL; the union stays for uniformity. */
export type ShellInstruction = InstructionBase<'SHELL'> & CommandForm;

export interface HealthcheckNone extends InstructionBase<'HEALTHCHECK'> {
  readonly none: true;
}
export interface HealthcheckCmd extends InstructionBase<'HEALTHCHECK'> {
  readonly none: false;
  readonly test: CommandForm;
  /** Raw Go duration strings, validated by the consumer. */
  readonly interval?: string;
  readonly timeout?: string;
  readonly startPeriod?: string;
  readonly startInterval?: string;
  readonly retries?: string;
}
export type HealthcheckInstruction = HealthcheckNone | HealthcheckCmd;

export interface OnbuildInstruction extends InstructionBase<'ONBUILD'> {
  /** The trigger, parsed (so errors show at parse time, as Docker). */
  readonly trigger: Instruction;
  /** The trigger text as stored in the image config's OnBuild list. */
  readonly triggerText: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | ArgInstruction
  | LabelInstruction
  | ExposeInstruction
  | VolumeInstruction
  | WorkdirInstruction
  | UserInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | HealthcheckInstruction
  | StopsignalInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type InstructionKind = Instruction['kind'];

export const instructionKinds: readonly InstructionKind[] = [
  'FROM', 'RUN', 'COPY', 'ADD', 'ENV', 'ARG', 'LABEL', 'EXPOSE', 'VOLUME', 'WORKDIR', 'USER', 'CMD',
  'ENTRYPOINT', 'SHELL', 'HEALTHCHECK', 'STOPSIGNAL', 'ONBUILD', 'MAINTAINER',
];

export interface Stage {
  /** 0-based position among the FROMs. */
  readonly index: number;
  readonly name?: string;
  /** Raw FROM image word. */
  readonly base: string;
  /** Raw --platform value. */
  readonly platform?: string;
  /** Line of the FROM. */
  readonly line: number;
  /** The FROM text. */
  readonly text: string;
  /** Instructions after the FROM (the FROM itself is not included). */
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly file: string;
  readonly escape: '\\' | '`';
  /** The `# syntax=` directive, recorded only. */
  readonly syntax?: string;
  /** ARGs before the first FROM. */
  readonly metaArgs: readonly ArgInstruction[];
  readonly stages: readonly Stage[];
}
