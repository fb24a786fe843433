// Checks from outside that a pushed image is valid and runs: skopeo copies it into an OCI layout, umoci
// unpacks it into a runtime bundle, runc runs it (crun cannot start containers on these machines).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export async function skopeoInspect(target: string, extra: readonly string[] = []): Promise<Record<string, unknown>> {
  const { stdout } = await exec('skopeo', ['inspect', ...extra, target], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

export async function skopeoConfig(target: string, extra: readonly string[] = []): Promise<Record<string, unknown>> {
  const { stdout } = await exec('skopeo', ['inspect', '--config', ...extra, target], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** The manifest (or index) exactly as stored: `skopeo inspect --raw`. */
export async function skopeoRaw(target: string, extra: readonly string[] = []): Promise<string> {
  const { stdout } = await exec('skopeo', ['inspect', '--raw', ...extra, target], { maxBuffer: 16 << 20 });
  return stdout;
}

/** Pulls `image` (docker://… or oci:…) and runs it with runc; returns what the container printed. */
export async function runImage(image: string, opts: { args?: readonly string[]; tlsVerify?: boolean } = {}): Promise<{ stdout: string; stderr: string }> {
  const work = await mkdtemp(join(tmpdir(), 'run-image-'));
  try {
    const layout = join(work, 'layout');
    const srcFlags = image.startsWith('docker://') ? [`--src-tls-verify=${opts.tlsVerify ?? false}`] : [];
    await exec('skopeo', ['copy', ...srcFlags, image, `oci:${layout}:img`], { maxBuffer: 16 << 20 });
    const bundle = join(work, 'bundle');
    await exec('umoci', ['unpack', '--image', `${layout}:img`, bundle], { maxBuffer: 16 << 20 });
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { process: { terminal: boolean; args?: string[] } };
    config.process.terminal = false;
    if (opts.args !== undefined) config.process.args = [...opts.args];
    await writeFile(configPath, JSON.stringify(config));
    const id = `kts-${process.pid}-${Date.now()}`;
    try {
      return await exec('runc', ['run', '--bundle', bundle, id], { timeout: 60_000, maxBuffer: 16 << 20 });
    } finally {
      await exec('runc', ['delete', '--force', id]).catch(() => undefined);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
