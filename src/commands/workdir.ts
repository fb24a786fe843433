// WORKDIR: relative paths join the previous WORKDIR; the directory is created even if nothing uses it
// (as Docker does), owned by the current USER as BuildKit does.
import { posix } from 'node:path';
import type { WorkdirInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { mkdirAllInRoot } from '../rootfs/copy.ts';
import { lookupUser } from '../rootfs/users.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

export function workdirCommand(instr: WorkdirInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'files', cacheable: false, needsRootfs: true },
    async execute(step) {
      // WORKDIR expands against the image env only plus args (same replacement env as every instruction).
      const raw = expandWord(instr.path, step.env, { escape: step.escape });
      const base = step.image.config.WorkingDir ?? '/';
      const dir = posix.normalize(posix.isAbsolute(raw) ? raw : posix.join(base === '' ? '/' : base, raw));
      const userSpec = step.image.config.User ?? '';
      let owner = { uid: 0, gid: 0 };
      if (userSpec !== '' && userSpec !== 'root' && userSpec !== '0') {
        const [user = '', group] = userSpec.split(':');
        const found = await lookupUser(step.root, user);
        owner = { uid: found.uid, gid: group === undefined ? found.gid : (await lookupGroupId(step.root, group)) };
      }
      const created = await mkdirAllInRoot(step.root, dir, { uid: owner.uid, gid: owner.gid, mode: 0o755 });
      return { image: withContainerConfig(step.image, { WorkingDir: dir }), changed: created };
    },
  };
}

async function lookupGroupId(root: string, group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const { resolveOwnership } = await import('../rootfs/users.ts');
  return (await resolveOwnership(root, `0:${group}`)).gid;
}
