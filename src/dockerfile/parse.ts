// Dockerfile text → Dockerfile model. dockerfile-ast finds the parser directives and where each
// instruction starts; the logical line (continuations joined, comment and empty lines inside skipped),
// heredoc bodies and argument splitting follow BuildKit's parser so results match `docker build`.
import { DockerfileParser } from 'dockerfile-ast';
import { BuildError, DockerfileError } from '../errors.ts';
import { expandWords } from './expand.ts';
import type { ArgInstruction, Dockerfile, Heredoc, Instruction, Stage } from './instructions.ts';
import { allowsHeredocs, keywordOf, parseInstructionLine } from './parse-instruction.ts';
import { splitWordsRaw } from './words.ts';

type Escape = '\\' | '`';

/** Rewraps a located-less BuildError as a DockerfileError at file:line. */
function locate<T>(file: string, line: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DockerfileError) throw err;
    if (err instanceof BuildError) throw new DockerfileError(file, line, err.message, { cause: err });
    throw err;
  }
}

function isCommentLine(raw: string): boolean {
  return /^\s*#/u.test(raw);
}

/** Reads the logical line starting at lines[start]; returns it and the index of its last physical line. */
function readLogicalLine(lines: readonly string[], start: number, escape: Escape): { logical: string; last: number } {
  const continuation = new RegExp(`${escape === '`' ? '`' : '\\\\'}[ \\t]*$`, 'u');
  let logical = '';
  let i = start;
  for (; i < lines.length; i++) {
    const raw = lines[i] as string;
    if (i > start && isCommentLine(raw)) continue;
    if (i > start && raw.trim() === '') continue; // empty continuation lines are skipped (Docker warns)
    const m = continuation.exec(raw);
    if (m === null) {
      logical += raw;
      return { logical, last: i };
    }
    logical += raw.slice(0, m.index);
  }
  // A continuation on the last line just ends the instruction.
  return { logical, last: lines.length - 1 };
}

interface HeredocMarker {
  readonly name: string;
  readonly expand: boolean;
  readonly chomp: boolean;
}

/** The heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) on an instruction line, as BuildKit's heredocsFromLine. */
export function findHeredocMarkers(logical: string): HeredocMarker[] {
  const markers: HeredocMarker[] = [];
  for (const word of splitWordsRaw(logical, '\\')) {
    const m = /^(\d*)<<(-?)([^<]*)$/u.exec(word);
    const rest = m?.[3] ?? '';
    if (m === null || rest === '') continue;
    let names: string[];
    try {
      names = expandWords(rest, new Map(), { escape: '\\' });
    } catch {
      continue;
    }
    const name = names[0];
    if (names.length !== 1 || name === undefined) continue;
    // Quotes around (part of) the delimiter turn expansion of the body off; BuildKit ignores `\\EOF`.
    markers.push({ name, expand: !/["']/u.test(rest), chomp: m[2] === '-' });
  }
  return markers;
}

/** Reads heredoc bodies after line `after`; returns them and the last line consumed. */
function readHeredocs(lines: readonly string[], after: number, markers: readonly HeredocMarker[],
  file: string, startLine: number): { heredocs: Heredoc[]; last: number } {
  const heredocs: Heredoc[] = [];
  let i = after;
  for (const marker of markers) {
    let content = '';
    let terminated = false;
    for (i++; i < lines.length; i++) {
      const raw = lines[i];
      if (raw === undefined) break;
      const candidate = marker.chomp ? raw.replace(/^\t+/u, '') : raw;
      if (candidate === marker.name) {
        terminated = true;
        break;
      }
      content += raw + '\n';
    }
    if (!terminated) throw new DockerfileError(file, startLine, `unterminated heredoc ${marker.name}`);
    if (marker.chomp) content = content.replace(/^\t+/gmu, '');
    heredocs.push({ name: marker.name, content, expand: marker.expand });
  }
  return { heredocs, last: i };
}

function readDirectives(ast: ReturnType<typeof DockerfileParser.parse>, file: string): { escape: Escape; syntax?: string } {
  let escape: Escape = '\\';
  let syntax: string | undefined;
  for (const d of ast.getDirectives()) {
    const name = d.getName().toLowerCase();
    const value = d.getValue();
    const line = d.getRange().start.line + 1;
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') throw new DockerfileError(file, line, `invalid escape token '${value}' does not match ${'`'} or \\`);
      escape = value;
    } else if (name === 'syntax') syntax = value;
  }
  return syntax === undefined ? { escape } : { escape, syntax };
}

/** Parses a whole Dockerfile. Errors are DockerfileError(file, line, message). */
export function parseDockerfile(text: string, file: string): Dockerfile {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  // BuildKit splits lines at \n only (a lone \r is a character of the line); dockerfile-ast also breaks at a lone \r,
  // which would shift its line numbers from ours. It sees a space there instead, so both count the same lines.
  const ast = DockerfileParser.parse(source.replace(/\r(?!\n)/gu, ' '));
  const { escape, syntax } = readDirectives(ast, file);
  const lines = source.split(/\r?\n/u);
  const instructions: Instruction[] = [];
  let consumed = -1;
  const parseAt = (start: number): void => {
    const lineNo = start + 1;
    const { logical, last } = readLogicalLine(lines, start, escape);
    consumed = last;
    let heredocs: Heredoc[] = [];
    const kind = locate(file, lineNo, () => keywordOf(logical).kind);
    if (allowsHeredocs(kind) && logical.includes('<<')) {
      const read = readHeredocs(lines, last, findHeredocMarkers(logical), file, lineNo);
      heredocs = read.heredocs;
      consumed = read.last;
    }
    instructions.push(locate(file, lineNo, () => parseInstructionLine(logical, { line: lineNo, escape, heredocs })));
  };
  // Guard: a line that is neither blank nor a comment before the next start dockerfile-ast reports is an
  // instruction too (BuildKit's rules decide, not the IDE parser's).
  const parseGap = (until: number): void => {
    for (let i = consumed + 1; i < until; i = Math.max(i + 1, consumed + 1)) {
      const raw = lines[i] as string;
      if (raw.trim() !== '' && !isCommentLine(raw)) parseAt(i);
    }
  };
  for (const node of ast.getInstructions()) {
    const start = node.getRange().start.line;
    // A line dockerfile-ast sees as an instruction may sit inside a heredoc body we already read.
    if (start <= consumed) continue;
    parseGap(start);
    if (start > consumed) parseAt(start);
  }
  parseGap(lines.length);
  if (instructions.length === 0) throw new DockerfileError(file, 1, 'file with no instructions');
  return { file, escape, ...(syntax === undefined ? {} : { syntax }), ...groupStages(instructions, file) };
}

/** Splits instructions into meta ARGs and stages. */
function groupStages(instructions: readonly Instruction[], file: string): { metaArgs: ArgInstruction[]; stages: Stage[] } {
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  let current: { stage: Omit<Stage, 'instructions'>; instructions: Instruction[] } | undefined;
  const flush = (): void => {
    if (current !== undefined) stages.push({ ...current.stage, instructions: current.instructions });
  };
  for (const instr of instructions) {
    if (instr.kind === 'FROM') {
      flush();
      // A repeated stage name is not an error (BuildKit's DuplicateStageName check warns); the later one wins.
      const name = instr.stageName?.toLowerCase();
      current = {
        stage: {
          index: stages.length, base: instr.image, line: instr.line, text: instr.text,
          ...(name === undefined ? {} : { name }), ...(instr.platform === undefined ? {} : { platform: instr.platform }),
        },
        instructions: [],
      };
    } else if (current !== undefined) current.instructions.push(instr);
    else if (instr.kind === 'ARG') metaArgs.push(instr);
    else {
      throw new DockerfileError(file, instr.line,
        `no build stage in current context: ${instr.kind} must come after a FROM (only ARG may precede the first FROM)`);
    }
  }
  flush();
  if (stages.length === 0) throw new DockerfileError(file, metaArgs[0]?.line ?? 1, 'no FROM instruction: a Dockerfile needs at least one build stage');
  return { metaArgs, stages };
}

/**
 * Parses one instruction given as text, e.g. an ONBUILD trigger from a base image's config.
 * `line` is where errors point (the child's FROM line, typically).
 */
export function parseInstructionText(text: string, file: string, line: number, escape: string): Instruction {
  const esc: Escape = escape === '`' ? '`' : '\\';
  const lines = text.split(/\r?\n/u);
  const { logical, last } = readLogicalLine(lines, 0, esc);
  return locate(file, line, () => {
    const kind = keywordOf(logical).kind;
    let heredocs: Heredoc[] = [];
    if (allowsHeredocs(kind) && logical.includes('<<')) heredocs = readHeredocs(lines, last, findHeredocMarkers(logical), file, line).heredocs;
    return parseInstructionLine(logical, { line, escape: esc, heredocs });
  });
}
