// The Quick start's main job: start a registry on loopback, make the busybox base, build examples/hello with
// the executor, print the image digest. Also leaves an OCI layout of the image in out/hello-oci.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushBusyboxBase } from '../test/support/busybox-base.ts';
import { projectRoot, runExecutor } from '../test/support/executor-process.ts';
import { startRegistry } from '../test/support/registry-server.ts';

const registry = await startRegistry({ auth: 'none' });
const work = await mkdtemp(join(tmpdir(), 'hello-'));
try {
  process.stderr.write(`registry on ${registry.host}; building the busybox base\n`);
  await pushBusyboxBase(`${registry.host}/busybox:latest`);
  const out = join(projectRoot, 'out');
  await mkdir(out, { recursive: true });
  const args = [
    `--context=dir://${join(projectRoot, 'examples', 'hello')}`,
    `--build-arg=BASE=${registry.host}/busybox:latest`,
    `--destination=${registry.host}/hello:latest`,
    `--root-dir=${join(work, 'root')}`,
    `--oci-layout-path=${join(out, 'hello-oci')}`,
    `--digest-file=${join(out, 'hello.digest')}`,
    '--insecure', '--insecure-pull', '--log-format=text',
    ...process.argv.slice(2),
  ];
  process.stderr.write(`executor ${args.join(' ')}\n`);
  const run = await runExecutor(args);
  process.stderr.write(run.stderr);
  if (run.code !== 0) process.exit(run.code);
  const digest = (await readFile(join(out, 'hello.digest'), 'utf8')).trim();
  process.stdout.write(`${digest}\n`);
  process.stderr.write(`examples/hello built and pushed as ${registry.host}/hello:latest; OCI layout in out/hello-oci\n`);
} finally {
  await rm(work, { recursive: true, force: true });
  await registry.stop();
}
