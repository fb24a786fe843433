// Node has no mkfifo, mknod or xattr API, so these nodes are made by the standard binaries
// (coreutils mkfifo/mknod, and setfattr from Debian's `attr` package).
import { execFile } from 'node:child_process';

export type ToolResult =
  | { readonly kind: 'ok' }
  | { readonly kind: 'missing'; readonly tool: string }
  | { readonly kind: 'failed'; readonly tool: string; readonly message: string };

/** Bounded: a tool that hangs (it never should) is killed after this long. */
const toolTimeoutMs = 30_000;

function runTool(tool: string, args: readonly string[]): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: toolTimeoutMs, windowsHide: true }, (err, _stdout, stderr) => {
      if (err === null) {
        resolve({ kind: 'ok' });
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        resolve({ kind: 'missing', tool });
        return;
      }
      const text = String(stderr).trim();
      resolve({ kind: 'failed', tool, message: text === '' ? err.message : text });
    });
  });
}

function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8);
}

export function makeFifo(hostPath: string, mode: number): Promise<ToolResult> {
  return runTool('mkfifo', ['-m', octalMode(mode), '--', hostPath]);
}

export function makeDevice(hostPath: string, kind: 'char' | 'block', mode: number, major: number, minor: number): Promise<ToolResult> {
  return runTool('mknod', ['-m', octalMode(mode), '--', hostPath, kind === 'char' ? 'c' : 'b', String(major), String(minor)]);
}

/** Sets an xattr on the node itself (-h: never through a symlink); value passed base64 ('0s'). */
export function setXattr(hostPath: string, name: string, value: Buffer): Promise<ToolResult> {
  return runTool('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', hostPath]);
}
