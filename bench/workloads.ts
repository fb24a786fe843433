// The workloads of bench/run.ts: generated contexts and Dockerfiles (nothing downloaded but Debian's mirror, for (b)),
// and per workload what its floor is made of (the RUN commands to run in a bare chroot, the COPY sources).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type WorkloadId = 'a' | 'b' | 'c' | 'd' | 'e';

/** A step as the floor replays it: a RUN command in a chroot, or a COPY of context files with cp -a. */
export type FloorStep = { readonly run: string } | { readonly copy: string; readonly to: string };

export interface Workload {
  readonly id: WorkloadId;
  readonly title: string;
  /** Which prepared base the Dockerfile's FROM names ('scratch' for none). */
  readonly base: 'debian' | 'big' | 'scratch';
  readonly dockerfile: string;
  readonly steps: readonly FloorStep[];
  /** (d): build once untimed, then time the rebuild with the layer cache. */
  readonly rebuild?: boolean;
  /** Writes the build context's files (called once per bench run; the data is reused by every run). */
  prepare(context: string): Promise<void>;
}

// 20k files from one process: split writes one file per input line.
const MAKE_20K = 'mkdir -p /w && cd /w && seq -w 1 20000 | split -l 1 -a 5 - f';
// 100k files in 100 directories of 1000 (a flat 100k directory is not what images hold).
const MAKE_100K = 'mkdir -p /m && cd /m && for d in $(seq 100); do mkdir $d && (cd $d && seq 1000 | split -l 1 -a 3 - f); done';
const DELETE_HALF = 'cd /w && ls | awk \'NR % 2 == 0\' | xargs rm -f && rm -f /data/blob-0* /data/blob-1* /data/blob-20 /data/blob-21 /data/blob-22 /data/blob-23 /data/blob-24';

async function randomFiles(dir: string, count: number, bytes: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) await writeFile(join(dir, `blob-${String(i).padStart(2, '0')}`), randomBytes(bytes));
}

const FIVE_SMALL = [
  'echo one > /s1',
  'python3 -c \'open("/s2", "w").write("two")\'',
  'perl -e \'open(my $f, ">", "/s3"); print $f "three"\'',
  'mkdir -p /s4 && touch /s4/a /s4/b',
  'rm /s1 && chmod 600 /s2',
];

export const BIG_BASE_DOCKERFILE = [
  'FROM BASE',
  'RUN apt-get update && apt-get install -y --no-install-recommends python3 perl && rm -rf /var/lib/apt/lists/*',
  'RUN mkdir -p /corpus && cd /corpus && for d in $(seq 40); do mkdir $d && (cd $d && seq 1000 | split -l 1 -a 3 - f); done',
  '',
].join('\n');

export const workloads: readonly Workload[] = [
  {
    id: 'a', title: '(a) Debian + RUN 20k files + COPY 200 MiB random + RUN delete half', base: 'debian',
    dockerfile: ['FROM BASE', `RUN ${MAKE_20K}`, 'COPY data/ /data/', `RUN ${DELETE_HALF}`, ''].join('\n'),
    steps: [{ run: MAKE_20K }, { copy: 'data', to: '/data' }, { run: DELETE_HALF }],
    prepare: (ctx) => randomFiles(join(ctx, 'data'), 50, 4 * 1024 * 1024),
  },
  {
    id: 'b', title: '(b) 48k-entry base (Debian + python3 + perl + 40k files) + five small RUNs', base: 'big',
    dockerfile: ['FROM BASE', ...FIVE_SMALL.map((c) => `RUN ${c}`), ''].join('\n'),
    steps: FIVE_SMALL.map((run) => ({ run })),
    prepare: async () => undefined,
  },
  {
    id: 'c', title: '(c) Debian + one RUN creating 100k files', base: 'debian',
    dockerfile: ['FROM BASE', `RUN ${MAKE_100K}`, ''].join('\n'),
    steps: [{ run: MAKE_100K }],
    prepare: async () => undefined,
  },
  {
    id: 'd', title: '(d) no-change rebuild with the layer cache (Debian + RUN 20k files + COPY 4 MiB + RUN)', base: 'debian',
    dockerfile: ['FROM BASE', `RUN ${MAKE_20K}`, 'COPY data/ /data/', 'RUN echo done > /done', ''].join('\n'),
    steps: [], rebuild: true,
    prepare: (ctx) => randomFiles(join(ctx, 'data'), 1, 4 * 1024 * 1024),
  },
  {
    id: 'e', title: '(e) push and pull of a 1 GiB image (FROM scratch + COPY 1 GiB random)', base: 'scratch',
    dockerfile: ['FROM scratch', 'COPY data/ /data/', ''].join('\n'),
    steps: [{ copy: 'data', to: '/data' }],
    prepare: (ctx) => randomFiles(join(ctx, 'data'), 16, 64 * 1024 * 1024),
  },
];
