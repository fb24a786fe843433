// WORKDIR: BuildKit's NormalizeWorkdir (an absolute path is kept as written, trailing '/' included; a relative one
// joins the previous WORKDIR and is cleaned); the directory is created even if nothing uses it (as Docker does),
// through symlinks inside the root, owned as BuildKit's mkdir file operation owns it for the current USER.
import { posix } from 'node:path';
import type { WorkdirInstruction } from '../dockerfile/instructions.ts';
import { expandWord } from '../dockerfile/expand.ts';
import { mkdirAllInRoot } from '../rootfs/copy.ts';
import { fileOpOwner } from '../rootfs/users.ts';
import type { Command } from './command.ts';
import { withContainerConfig } from './image-config.ts';

/** Go's path.Clean for an absolute path: no trailing '/', no '.' or '..'. */
function clean(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function normalizeWorkdir(current: string, requested: string): string {
  const parent = current === '' ? '/' : posix.isAbsolute(current) ? current : clean(posix.join('/', current));
  if (requested === '') return parent;
  return posix.isAbsolute(requested) ? requested : clean(posix.join(parent, requested));
}

export function workdirCommand(instr: WorkdirInstruction): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'files', cacheable: false, needsRootfs: true },
    async execute(step) {
      // WORKDIR expands against the image env only plus args (same replacement env as every instruction).
      const raw = expandWord(instr.path, step.env, { escape: step.escape });
      const dir = normalizeWorkdir(step.image.config.WorkingDir ?? '', raw);
      // BuildKit's readUser: never fails for a USER missing from /etc/passwd (that owner is 0:0).
      const owner = await fileOpOwner(step.root, step.image.config.User ?? '');
      const created = await mkdirAllInRoot(step.root, clean(dir), { uid: owner.uid, gid: owner.gid, mode: 0o755, owners: step.owners });
      return { image: withContainerConfig(step.image, { WorkingDir: dir }), changed: created };
    },
  };
}
