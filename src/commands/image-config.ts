// Pure edits of an image config, shared by the metadata instructions. Each returns a new ConfigFile.
import type { ConfigFile, ContainerConfig } from '../oci/types.ts';

export function withContainerConfig(image: ConfigFile, patch: Partial<ContainerConfig>): ConfigFile {
  return { ...image, config: { ...image.config, ...patch } };
}

/** Env list as an ordered map (the first '=' splits; later duplicates win, as Docker). */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const kv of env ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 0) map.set(kv, '');
    else map.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return map;
}

/** Sets or replaces a variable, keeping the position of an existing one (as Docker does). */
export function setEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((kv) => kv === key || kv.startsWith(key + '='));
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

export const defaultShell: readonly string[] = ['/bin/sh', '-c'];

/** A CMD/ENTRYPOINT/RUN/HEALTHCHECK argument list: exec form as is, shell form through SHELL. */
export function commandLine(form: { form: 'shell'; command: string } | { form: 'exec'; args: readonly string[] },
  image: ConfigFile): string[] {
  if (form.form === 'exec') return [...form.args];
  return [...(image.config.Shell ?? defaultShell), form.command];
}
