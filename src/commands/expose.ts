// EXPOSE: ports as "80", "80/tcp", "53/udp", "132/sctp" or ranges "8000-8010/tcp"; tcp is the default protocol.
import type { ExposeInstruction } from '../dockerfile/instructions.ts';
import { expandWords } from '../dockerfile/expand.ts';
import { BuildError } from '../errors.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

const protocols = new Set(['tcp', 'udp', 'sctp']);

export function parsePortSpecs(spec: string): string[] {
  const [ports = '', proto = 'tcp', ...rest] = spec.split('/');
  const protocol = proto.toLowerCase();
  if (rest.length > 0 || !protocols.has(protocol)) throw new BuildError('DOCKERFILE', `invalid EXPOSE port "${spec}": protocol must be tcp, udp or sctp`);
  const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
  if (m === null) throw new BuildError('DOCKERFILE', `invalid EXPOSE port "${spec}"`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 0 || last > 65535 || last < first) throw new BuildError('DOCKERFILE', `invalid EXPOSE port range "${spec}"`);
  const out: string[] = [];
  for (let p = first; p <= last; p++) out.push(`${p}/${protocol}`);
  return out;
}

export function exposeCommand(instr: ExposeInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'none', cacheable: false, needsRootfs: false },
    async execute(step) {
      const exposed: Record<string, Record<string, never>> = { ...step.image.config.ExposedPorts };
      for (const word of instr.ports) {
        for (const spec of expandWords(word, step.env, { escape: step.escape })) {
          for (const port of parsePortSpecs(spec)) exposed[port] = {};
        }
      }
      return { image: withContainerConfig(step.image, { ExposedPorts: exposed }) };
    },
  };
}
