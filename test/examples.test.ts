// The deployment examples cannot rot: every YAML parses, the Kubernetes objects validate against the
// Kubernetes OpenAPI schemas (kubernetes-models' ajv validators, plus a check for misspelt keys, which
// the schemas allow), the Tekton Task's steps are valid containers and its $(params/results/workspaces)
// references exist, and every executor or warmer flag any example passes exists in src/cli/flags.ts
// and is built.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigMap, Container, PersistentVolumeClaim, Pod } from 'kubernetes-models/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { parseAllDocuments } from 'yaml';
import { executorFlags, indexFlags, warmerFlags, type FlagSpec } from '../src/cli/flags.ts';

const root = join(import.meta.dirname, '..');
const examplesDir = join(root, 'examples');

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (p !== join(examplesDir, 'hello')) yield* files(p);
    } else yield p;
  }
}
const all = [...files(examplesDir)];
const yamlFiles = all.filter((f) => /\.ya?ml$/.test(f));
const shellFiles = all.filter((f) => f.endsWith('.sh'));

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objects = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

function documents(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file} document ${i + 1}: ${d.errors[0]?.message ?? ''}`);
    const v: unknown = d.toJS();
    if (!isObject(v)) throw new Error(`${file} document ${i + 1}: not a mapping`);
    return v;
  });
}

interface Validatable { validate(): void }
const models: Readonly<Record<string, new (data: never) => Validatable>> = {
  'v1/Pod': Pod, 'v1/ConfigMap': ConfigMap, 'v1/PersistentVolumeClaim': PersistentVolumeClaim, 'batch/v1/Job': Job,
};

/** Property names of a kubernetes-models interface, read from its .d.ts (the schemas accept unknown keys). */
function modelKeys(name: string): ReadonlySet<string> {
  const dts = readFileSync(join(root, 'node_modules', 'kubernetes-models', 'v1', `${name}.d.ts`), 'utf8');
  return new Set([...dts.matchAll(/^ {4}"([^"]+)"\??:/gm)].map((m) => m[1] ?? ''));
}
const keySets = { PodSpec: modelKeys('PodSpec'), Container: modelKeys('Container'), Volume: modelKeys('Volume'), VolumeMount: modelKeys('VolumeMount'), EnvVar: modelKeys('EnvVar') };

function unknownKeys(where: string, obj: Json, model: keyof typeof keySets): string[] {
  return Object.keys(obj).filter((k) => !keySets[model].has(k)).map((k) => `${where}: unknown ${model} field "${k}"`);
}

function containerProblems(where: string, c: Json): string[] {
  return [
    ...unknownKeys(where, c, 'Container'),
    ...objects(c['volumeMounts']).flatMap((m, i) => unknownKeys(`${where}.volumeMounts[${i}]`, m, 'VolumeMount')),
    ...objects(c['env']).flatMap((e, i) => unknownKeys(`${where}.env[${i}]`, e, 'EnvVar')),
  ];
}

function podSpecProblems(where: string, spec: Json): string[] {
  const mounts = new Set<unknown>();
  const volumes = new Set(objects(spec['volumes']).map((v) => v['name']));
  const problems = [
    ...unknownKeys(where, spec, 'PodSpec'),
    ...objects(spec['volumes']).flatMap((v, i) => unknownKeys(`${where}.volumes[${i}]`, v, 'Volume')),
    ...objects(spec['containers']).flatMap((c, i) => {
      for (const m of objects(c['volumeMounts'])) mounts.add(m['name']);
      return containerProblems(`${where}.containers[${i}]`, c);
    }),
  ];
  for (const m of mounts) if (!volumes.has(m)) problems.push(`${where}: volumeMount "${String(m)}" has no volume`);
  return problems;
}

/** Schema validation plus the stricter checks; returns the problems found. */
function kubernetesProblems(where: string, doc: Json): string[] {
  const key = `${String(doc['apiVersion'])}/${String(doc['kind'])}`;
  const Model = models[key];
  if (Model === undefined) return [`${where}: no schema for ${key}`];
  try {
    new Model(doc as never).validate();
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  const spec = isObject(doc['spec']) ? doc['spec'] : {};
  if (key === 'v1/Pod') return podSpecProblems(`${where}.spec`, spec);
  if (key === 'batch/v1/Job') {
    const template = isObject(spec['template']) && isObject(spec['template']['spec']) ? spec['template']['spec'] : {};
    return podSpecProblems(`${where}.spec.template.spec`, template);
  }
  return [];
}

function tektonTaskProblems(where: string, doc: Json): string[] {
  const spec = isObject(doc['spec']) ? doc['spec'] : {};
  const declared = {
    params: new Set(objects(spec['params']).map((p) => p['name'])),
    results: new Set(objects(spec['results']).map((p) => p['name'])),
    workspaces: new Set(objects(spec['workspaces']).map((p) => p['name'])),
  };
  const problems: string[] = [];
  objects(spec['steps']).forEach((step, i) => {
    try {
      new Container(step as never).validate();
    } catch (err) {
      problems.push(`${where}.steps[${i}]: ${(err as Error).message}`);
    }
    problems.push(...containerProblems(`${where}.steps[${i}]`, step));
  });
  for (const m of JSON.stringify(spec['steps']).matchAll(/\$\((params|results|workspaces)\.([\w-]+)/g)) {
    const kind = m[1] as keyof typeof declared;
    if (!declared[kind].has(m[2])) problems.push(`${where}: $(${kind}.${m[2] ?? ''}) is not declared`);
  }
  return problems;
}

interface Invocation { readonly where: string; readonly tool: 'executor' | 'warmer'; readonly args: readonly string[] }

/** Every place an example runs our executor or warmer image: k8s containers, Cloud Build and Tekton steps, GitLab jobs. */
function invocations(file: string, docs: readonly Json[]): Invocation[] {
  const found: Invocation[] = [];
  const visit = (v: unknown, path: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${path}[${i}]`));
    if (!isObject(v)) return;
    // k8s/Tekton: image; GitLab: image.name; Cloud Build: the step's name is its image.
    const image = isObject(v['image']) ? v['image']['name'] : v['image'] ?? (Array.isArray(v['args']) ? v['name'] : undefined);
    const tool = typeof image !== 'string' ? undefined : image.includes('kaniko-ts/executor') ? 'executor' : image.includes('kaniko-ts/warmer') ? 'warmer' : undefined;
    if (tool !== undefined && Array.isArray(v['args'])) found.push({ where: path, tool, args: v['args'].map(String) });
    if (tool !== undefined && Array.isArray(v['script'])) {
      // GitLab: the words after /kaniko/executor on a script line.
      for (const line of v['script'].map(String)) {
        const words = line.trim().split(/\s+/);
        if (words[0] === '/kaniko/executor') found.push({ where: path, tool, args: words.slice(1) });
      }
    }
    for (const [k, x] of Object.entries(v)) visit(x, `${path}.${k}`);
  };
  docs.forEach((d, i) => visit(d, `${relative(root, file)}#${i + 1}`));
  return found;
}

/** The `executor_args=( … )` array of a shell example: the words that are flags. */
function shellInvocations(file: string): Invocation[] {
  const text = readFileSync(file, 'utf8');
  const block = /executor_args=\(([\s\S]*?)\)/.exec(text)?.[1];
  return block === undefined ? [] : [{ where: relative(root, file), tool: 'executor', args: block.split(/\s+/).map((w) => w.replace(/^"|"$/g, '')).filter(Boolean) }];
}

function flagProblems(inv: Invocation, specs?: readonly FlagSpec[]): string[] {
  // `executor index …` has flags of its own.
  const table: readonly FlagSpec[] = specs ?? (inv.tool === 'warmer' ? warmerFlags : inv.args[0] === 'index' ? indexFlags : executorFlags);
  const problems: string[] = [];
  for (const arg of inv.args) {
    const long = /^--([A-Za-z][\w-]*)(=|$)/.exec(arg)?.[1];
    const short = /^-([A-Za-z])(=|$)/.exec(arg)?.[1];
    if (long === undefined && short === undefined) continue; // a value ("${CI_PROJECT_DIR}")
    const spec = table.find((f) => (long !== undefined ? f.name === long : f.short === short));
    if (spec === undefined) problems.push(`${inv.where}: ${inv.tool} has no flag ${arg.split('=')[0] ?? arg}`);
    else if (!spec.supported) problems.push(`${inv.where}: ${inv.tool} flag --${spec.name} is not built yet`);
    else if (spec.aliasOf !== undefined) problems.push(`${inv.where}: --${spec.name} is deprecated, use --${spec.aliasOf}`);
  }
  return problems;
}

describe('examples', () => {
  it('k8s/pod-restricted.yaml meets Pod Security Standards "Restricted" (issue 19)', () => {
    const [pod] = documents(join(examplesDir, 'k8s', 'pod-restricted.yaml'));
    const spec = isObject(pod?.['spec']) ? pod['spec'] : {};
    const podSc = isObject(spec['securityContext']) ? spec['securityContext'] : {};
    const containers = objects(spec['containers']);
    assert.ok(containers.length > 0);
    for (const c of containers) {
      const sc = isObject(c['securityContext']) ? c['securityContext'] : {};
      const pick = (k: string): unknown => sc[k] ?? podSc[k];
      assert.equal(pick('runAsNonRoot'), true);
      assert.ok(typeof pick('runAsUser') === 'number' && pick('runAsUser') !== 0, 'runAsUser is a non-zero uid');
      assert.equal(sc['allowPrivilegeEscalation'], false);
      assert.deepEqual((isObject(sc['capabilities']) ? sc['capabilities'] : {})['drop'], ['ALL']);
      assert.equal((isObject(pick('seccompProfile')) ? pick('seccompProfile') as Json : {})['type'], 'RuntimeDefault');
      assert.match(String(c['image']), /-restricted$/, 'the Restricted variant of the executor image');
    }
  });

  it('are the expected set', () => {
    assert.deepEqual(all.map((f) => relative(examplesDir, f)), [
      'cloudbuild.yaml', 'docker-run-stdin.sh', 'gitlab-ci.yml',
      'k8s/job-cache-pvc.yaml', 'k8s/jobs-multi-arch.yaml', 'k8s/pod-gcs.yaml', 'k8s/pod-restricted.yaml', 'k8s/pod-s3-ecr.yaml', 'tekton/task.yaml',
    ]);
  });

  for (const file of all) {
    it(`${relative(root, file)} starts with a comment saying what it shows`, () => {
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('#!'));
      assert.match(lines[0] ?? '', /^# \S/);
      assert.ok(lines.filter((l) => l.startsWith('#')).length >= 3, 'a header of a few lines');
    });
  }

  for (const file of yamlFiles) {
    it(`${relative(root, file)} parses, validates, and uses only existing flags`, () => {
      const docs = documents(file);
      const problems: string[] = [];
      docs.forEach((doc, i) => {
        const where = `${relative(root, file)}#${i + 1}`;
        if (doc['apiVersion'] === 'tekton.dev/v1' && doc['kind'] === 'Task') problems.push(...tektonTaskProblems(where, doc));
        else if (typeof doc['apiVersion'] === 'string') problems.push(...kubernetesProblems(where, doc));
      });
      const invs = invocations(file, docs);
      assert.ok(invs.length > 0 && invs.every((i) => i.args.some((a) => a.startsWith('-'))), 'runs the executor or warmer with flags');
      problems.push(...invs.flatMap((inv) => flagProblems(inv)));
      assert.deepEqual(problems, []);
    });
  }

  for (const file of shellFiles) {
    it(`${relative(root, file)} uses only existing executor flags`, () => {
      const invs = shellInvocations(file);
      assert.equal(invs.length, 1, 'an executor_args=( … ) array');
      assert.deepEqual(invs.flatMap((inv) => flagProblems(inv)), []);
    });
  }

  it('the checks catch rot: a misspelt field, a bad type, an unknown or unbuilt flag, an undeclared param', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i', argz: [] }] } };
    assert.match(kubernetesProblems('x', pod).join(), /unknown Container field "argz"/);
    assert.match(kubernetesProblems('x', { ...pod, spec: { containers: [{ name: 'c', image: 'i', args: [1] }] } }).join(), /must be string/);
    assert.match(kubernetesProblems('x', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }).join(), /no schema for v1\/Service/);
    assert.deepEqual(flagProblems({ where: 'x', tool: 'executor', args: ['--destinaton=r/a', '--snapshotMode=full', '-d', 'r/a'] }), [
      'x: executor has no flag --destinaton', 'x: --snapshotMode is deprecated, use --snapshot-mode',
    ]);
    // Every kaniko flag is built today: an unbuilt row in a table of our own shows that check.
    const later: readonly FlagSpec[] = [{ name: 'later', kind: 'bool', supported: false, help: 'not built' }];
    assert.deepEqual(flagProblems({ where: 'x', tool: 'executor', args: ['--later'] }, later), ['x: executor flag --later is not built yet']);
    const task = { spec: { params: [{ name: 'A' }], steps: [{ name: 's', image: 'i', args: ['$(params.A)', '$(params.B)'] }] } };
    assert.deepEqual(tektonTaskProblems('t', task), ['t: $(params.B) is not declared']);
  });
});
