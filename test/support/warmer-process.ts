// Runs bin/warmer as a child process, as a user would, and captures what it prints.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './executor-process.ts';

export const warmerBin = join(projectRoot, 'bin', 'warmer');

export interface WarmerRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runWarmer(args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<WarmerRun> {
  // The default --cache-dir is /cache: tests always name a temporary one so nothing lands on the host.
  if (!args.includes('--help') && !args.some((a) => a.startsWith('--cache-dir=') || a.startsWith('-c='))) {
    return Promise.reject(new Error('runWarmer: every test run needs --cache-dir=<temporary directory>'));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(warmerBin, [...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root',
        // Tests reach nothing but loopback: no cloud SDK may probe an instance-metadata address.
        METADATA_SERVER_DETECTION: 'none', AWS_EC2_METADATA_DISABLED: 'true', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr });
    });
  });
}
