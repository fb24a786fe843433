// Test-only: the Dockerfiles a non-root build must build exactly as root does (issue 19), shared by the container-mode
// test (test/e2e/rootless-run.test.ts, runc) and the --root-dir test (test/e2e/rootless-rootdir.test.ts,
// pss-restricted.py): each with the layer entries ("name type uid:gid mode[ -> link][ dev=M,m]") it must contain, and
// for busybox what the fake USER was allowed to do (the same answers as the real user of the root build).
export interface RootlessCase {
  readonly dockerfile: string;
  readonly entries: readonly string[];
}

/** Static busybox: chown, chmod 4750, chown -h, mknod, stat inside RUN, USER, permission checks, COPY --from a RUN stage. */
export function busyboxCase(base: string): RootlessCase {
  return {
    dockerfile: [
      // A stage that RUNs before the target, read back by COPY --from.
      `FROM ${base} AS one`,
      'RUN mkdir /out && echo o > /out/o && chown 4242:4343 /out/o && chmod 4710 /out/o',
      `FROM ${base}`,
      'COPY --from=one /out/o /from-one',
      'RUN echo x > /f && chown 1234:5678 /f && chmod 4750 /f && mkdir /d && chown 7:7 /d && chmod 2775 /d'
        + ' && ln -s /f /l && chown -h 9:9 /l && mknod /null c 1 3 && mknod /sda b 8 0 && mkdir /home/app && chown 1500:1500 /home/app'
        + ' && [ "$(stat -c %u:%g:%a /f)" = 1234:5678:4750 ] && [ "$(stat -c %F /null)" = "character special file" ] && [ "$(id -u)" = 0 ]'
        + ' && ls -ln / > /listing',
      'USER 1500:1500',
      'RUN [ "$(id -u):$(id -g)" = 1500:1500 ] && touch /home/app/mine && mkdir /home/app/dir && ln -s mine /home/app/link',
      // A fake non-root user gets the kernel's permission checks: the same answers as the root build's real ones.
      'RUN { touch /etc/x 2>/dev/null && echo wrote-etc || echo etc-denied; cat /f 2>/dev/null && echo read-f || echo f-denied;'
        + ' [ -w /etc ] && echo etc-w || echo etc-not-w; rm /from-one 2>/dev/null && echo rm-root || echo rm-denied; } > /home/app/perm',
      'USER root',
      'RUN rm /f && echo y > /g && ls -ln /g && [ "$(stat -c %u /g)" = 0 ]',
      '',
    ].join('\n'),
    entries: ['f file 1234:5678 4750', 'd/ directory 7:7 2775', 'l symlink 9:9 777 -> /f', 'null character-device 0:0 644 dev=1,3',
      'sda block-device 0:0 644 dev=8,0', 'home/app/mine file 1500:1500 644', 'home/app/dir/ directory 1500:1500 755', 'home/app/link symlink 1500:1500 777 -> mine',
      'g file 0:0 644', '.wh.f file 0:0 644', 'from-one file 4242:4343 4710'],
  };
}

/** busyboxCase's /home/app/perm: what user 1500 may do to root's files. */
export const busyboxPermissions = 'etc-denied\nf-denied\netc-not-w\nrm-denied\n';

/** Debian: useradd, install -o -m 4755, chown -h, dpkg -i of test/support/tiny-deb.ts's package (context file tiny.deb), USER. */
export function debianCase(base: string): RootlessCase {
  return {
    dockerfile: [
      `FROM ${base}`,
      'RUN useradd -u 1500 -m app && install -d -o app -g app -m 2750 /srv/appdata',
      'RUN install -o app -m 4755 /bin/true /usr/local/bin/suid-true && ln -s /usr/local/bin/suid-true /usr/local/bin/link'
        + ' && chown -h app:app /usr/local/bin/link && [ "$(stat -c %U:%a /usr/local/bin/suid-true)" = app:4755 ] && [ "$(id -u)" = 0 ]',
      'COPY tiny.deb /tmp/tiny.deb',
      'RUN dpkg -i /tmp/tiny.deb && rm /tmp/tiny.deb && [ "$(stat -c %U:%G:%a /var/lib/tiny)" = app:app:750 ]'
        // Setgid directories of the base (recorded, not on disk): new nodes take their group, new directories their bit.
        + ' && touch /var/mail/box && mkdir /var/local/sub',
      'USER app',
      'RUN [ "$(id -un)" = app ] && touch /home/app/mine && mkdir /home/app/dir && echo hi > /srv/appdata/x 2>/dev/null; true',
      '',
    ].join('\n'),
    entries: ['home/app/ directory 1500:1500 755', 'srv/appdata/ directory 1500:1500 2750', 'usr/local/bin/suid-true file 1500:0 4755',
      'usr/local/bin/link symlink 1500:1500 777', 'usr/bin/tiny-suid file 0:0 4755', 'usr/bin/tiny file 0:0 755', 'var/lib/tiny/ directory 1500:1500 750',
      'var/lib/tiny/data file 1500:1500 644', 'home/app/mine file 1500:1500 644', 'home/app/dir/ directory 1500:1500 755', 'etc/shadow file 0:42 640',
      'var/mail/box file 0:8 644', 'var/local/sub/ directory 0:50 2755'],
  };
}

/** apt-get update && apt-get install hello sudo from `mirror` (apt's _apt sandbox drops and checks privileges). */
export function aptCase(base: string, mirror: string): RootlessCase {
  return {
    dockerfile: [
      `FROM ${base}`,
      `RUN echo "deb ${mirror} bookworm main" > /etc/apt/sources.list && rm -f /etc/apt/sources.list.d/* && apt-get update -qq`
        + ' && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hello sudo >/dev/null && hello && rm -rf /var/lib/apt/lists/*',
      '',
    ].join('\n'),
    entries: ['usr/bin/hello file 0:0 755', 'usr/bin/sudo file 0:0 4755', 'etc/sudoers file 0:0 440'],
  };
}

/** Every expected entry is among the layers' (a message naming the first missing one otherwise). */
export function missingEntry(layers: readonly (readonly string[])[], expected: readonly string[]): string | undefined {
  const all = layers.flat().join('\n');
  const missing = expected.find((e) => !all.includes(e));
  return missing === undefined ? undefined : `${missing} not in\n${all}`;
}
