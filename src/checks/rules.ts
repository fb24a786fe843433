// BuildKit's build-check rules (frontend/dockerfile/linter/ruleset.go): names, descriptions, documentation
// addresses and message texts, word for word, so a warning reads as `docker build` prints it.

export type RuleName =
  | 'StageNameCasing' | 'FromAsCasing' | 'NoEmptyContinuation' | 'ConsistentInstructionCasing' | 'DuplicateStageName'
  | 'ReservedStageName' | 'JSONArgsRecommended' | 'MaintainerDeprecated' | 'UndefinedArgInFrom' | 'WorkdirRelativePath'
  | 'UndefinedVar' | 'MultipleInstructionsDisallowed' | 'LegacyKeyValueFormat' | 'RedundantTargetPlatform'
  | 'SecretsUsedInArgOrEnv' | 'InvalidDefaultArgInFrom' | 'FromPlatformFlagConstDisallowed' | 'CopyIgnoredFile'
  | 'InvalidDefinitionDescription' | 'ExposeProtoCasing' | 'ExposeInvalidFormat';

export interface Rule {
  readonly name: RuleName;
  readonly description: string;
  readonly url: string;
  /** Experimental rules run only when `check=experimental=<rule>|all` enables them (BuildKit). */
  readonly experimental: boolean;
}

const doc = (slug: string): string => `https://docs.docker.com/go/dockerfile/rule/${slug}/`;

function rule(name: RuleName, slug: string, description: string, experimental = false): Rule {
  return { name, description, url: doc(slug), experimental };
}

export const rules: Readonly<Record<RuleName, Rule>> = {
  StageNameCasing: rule('StageNameCasing', 'stage-name-casing', 'Stage names should be lowercase'),
  FromAsCasing: rule('FromAsCasing', 'from-as-casing', "The 'as' keyword should match the case of the 'from' keyword"),
  NoEmptyContinuation: rule('NoEmptyContinuation', 'no-empty-continuation', 'Empty continuation lines will become errors in a future release'),
  ConsistentInstructionCasing: rule('ConsistentInstructionCasing', 'consistent-instruction-casing',
    'All commands within the Dockerfile should use the same casing (either upper or lower)'),
  DuplicateStageName: rule('DuplicateStageName', 'duplicate-stage-name', 'Stage names should be unique'),
  ReservedStageName: rule('ReservedStageName', 'reserved-stage-name', 'Reserved words should not be used as stage names'),
  JSONArgsRecommended: rule('JSONArgsRecommended', 'json-args-recommended',
    'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals'),
  MaintainerDeprecated: rule('MaintainerDeprecated', 'maintainer-deprecated',
    'The MAINTAINER instruction is deprecated, use a label instead to define an image author'),
  UndefinedArgInFrom: rule('UndefinedArgInFrom', 'undefined-arg-in-from', 'FROM command must use declared ARGs'),
  WorkdirRelativePath: rule('WorkdirRelativePath', 'workdir-relative-path',
    'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes'),
  UndefinedVar: rule('UndefinedVar', 'undefined-var', 'Variables should be defined before their use'),
  MultipleInstructionsDisallowed: rule('MultipleInstructionsDisallowed', 'multiple-instructions-disallowed',
    'Multiple instructions of the same type should not be used in the same stage'),
  LegacyKeyValueFormat: rule('LegacyKeyValueFormat', 'legacy-key-value-format', 'Legacy key/value format with whitespace separator should not be used'),
  RedundantTargetPlatform: rule('RedundantTargetPlatform', 'redundant-target-platform',
    'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior'),
  SecretsUsedInArgOrEnv: rule('SecretsUsedInArgOrEnv', 'secrets-used-in-arg-or-env', 'Sensitive data should not be used in the ARG or ENV commands'),
  InvalidDefaultArgInFrom: rule('InvalidDefaultArgInFrom', 'invalid-default-arg-in-from',
    'Default value for global ARG results in an empty or invalid base image name'),
  FromPlatformFlagConstDisallowed: rule('FromPlatformFlagConstDisallowed', 'from-platform-flag-const-disallowed',
    'FROM --platform flag should not use a constant value'),
  CopyIgnoredFile: rule('CopyIgnoredFile', 'copy-ignored-file', 'Attempting to Copy file that is excluded by .dockerignore', true),
  InvalidDefinitionDescription: rule('InvalidDefinitionDescription', 'invalid-definition-description',
    'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    true),
  ExposeProtoCasing: rule('ExposeProtoCasing', 'expose-proto-casing', 'Protocol in EXPOSE instruction should be lowercase'),
  ExposeInvalidFormat: rule('ExposeInvalidFormat', 'expose-invalid-format', 'IP address and host-port mapping should not be used in EXPOSE instruction'),
};

export const ruleNames: readonly RuleName[] = Object.keys(rules) as RuleName[];

export function isRuleName(name: string): name is RuleName {
  return Object.hasOwn(rules, name);
}

/** Go's %q for the plain strings these messages quote. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** The message texts (ruleset.go's Format functions). */
export const messages = {
  StageNameCasing: (stageName: string) => `Stage name '${stageName}' should be lowercase`,
  FromAsCasing: (from: string, as: string) => `'${as}' and '${from}' keywords' casing do not match`,
  NoEmptyContinuation: () => 'Empty continuation line',
  ConsistentInstructionCasing: (violating: string, correct: string) => `Command '${violating}' should match the case of the command majority (${correct})`,
  DuplicateStageName: (stageName: string) => `Duplicate stage name ${goQuote(stageName)}, stage names should be unique`,
  ReservedStageName: (name: string) => `Stage name should not use the same name as reserved stage ${goQuote(name)}`,
  JSONArgsRecommended: (instruction: string) => `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`,
  MaintainerDeprecated: () => 'Maintainer instruction is deprecated in favor of using label',
  UndefinedArgInFrom: (arg: string, suggest: string) => `FROM argument '${arg}' is not declared${suggest === '' ? '' : ` (did you mean ${suggest}?)`}`,
  WorkdirRelativePath: (workdir: string) => `Relative workdir ${goQuote(workdir)} can have unexpected results if the base image changes`,
  UndefinedVar: (arg: string, suggest: string) => `Usage of undefined variable '$${arg}'${suggest === '' ? '' : ` (did you mean $${suggest}?)`}`,
  MultipleInstructionsDisallowed: (instruction: string) =>
    `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`,
  LegacyKeyValueFormat: (cmd: string) => `"${cmd} key=value" should be used instead of legacy "${cmd} key value" format`,
  RedundantTargetPlatform: (platformVar: string) => `Setting platform to predefined ${platformVar} in FROM is redundant as this is the default behavior`,
  SecretsUsedInArgOrEnv: (instruction: string, key: string) => `Do not use ARG or ENV instructions for sensitive data (${instruction} ${goQuote(key)})`,
  InvalidDefaultArgInFrom: (baseName: string) => `Default value for ARG ${baseName} results in empty or invalid base image name`,
  FromPlatformFlagConstDisallowed: (platform: string) => `FROM --platform flag should not use constant value ${goQuote(platform)}`,
  CopyIgnoredFile: (cmd: string, file: string) => `Attempting to ${cmd} file ${goQuote(file)} that is excluded by .dockerignore`,
  InvalidDefinitionDescription: (instruction: string, name: string) => `Comment for ${instruction} should follow the format: \`# ${name} <description>\``,
  ExposeProtoCasing: (port: string) => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`,
  ExposeInvalidFormat: (port: string) => `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`,
} satisfies Record<RuleName, (...args: string[]) => string>;
