/*
 * launcher: the `executor` and `warmer` programs of a kaniko runtime directory (scripts/assemble-kaniko-dir.ts).
 *
 * In container mode the build root is '/': the image's base rootfs is unpacked over it and '/' is wiped between
 * stages, so the executor must not depend on anything outside its own directory — not even /lib. This static
 * program therefore starts Node through the dynamic loader shipped next to it:
 *
 *   <dir>/lib/ld-linux-x86-64.so.2 --library-path <dir>/lib --argv0 <dir>/node
 *       <dir>/node --use-openssl-ca <dir>/app/<name>.mjs ARGS...
 *
 * <dir> is the directory holding this binary (/proc/self/exe, symlinks resolved) and <name> is this binary's
 * own file name (one binary copied as both `executor` and `warmer`).
 *
 * Environment, each set only when unset (the user's values win):
 *   SSL_CERT_FILE=<dir>/ssl/certs/ca-certificates.crt, SSL_CERT_DIR=<dir>/ssl/certs — kaniko's image sets
 *     SSL_CERT_DIR=/kaniko/ssl/certs; Node reads both because it runs with --use-openssl-ca, so a bundle
 *     replaced or mounted there is trusted as kaniko users expect.
 *   TMPDIR=<dir>/tmp — '/tmp' belongs to the image being built (it may vanish between stages, and writing
 *     there would show up in snapshots); <dir> is always on the executor's ignore list.
 *   DOCKER_CONFIG=<dir>/.docker, HOME=/root — what kaniko's image sets: registry credentials live in the
 *     runtime directory, and nothing depends on an /etc/passwd the base image may replace or lack.
 *
 * Exit status 127 with a message when the loader cannot be executed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set_default(const char *name, const char *dir, const char *suffix) {
  if (getenv(name) != NULL) return;
  char value[PATH_MAX];
  int n = snprintf(value, sizeof value, "%s%s", dir, suffix);
  if (n < 0 || (size_t)n >= sizeof value) return;
  setenv(name, value, 0);
}

int main(int argc, char **argv) {
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    /* No /proc (a bare chroot): fall back to argv[0], which then must be a path. */
    if (argc < 1 || realpath(argv[0], self) == NULL) {
      fprintf(stderr, "launcher: cannot find my own path (no /proc and argv[0] is not a path)\n");
      return 127;
    }
  } else {
    self[len] = '\0';
  }
  char *slash = strrchr(self, '/');
  if (slash == NULL) { fprintf(stderr, "launcher: odd executable path %s\n", self); return 127; }
  *slash = '\0';
  const char *dir = self[0] == '\0' ? "/" : self;
  const char *name = slash + 1;

  char loader[PATH_MAX], libdir[PATH_MAX], node[PATH_MAX], app[PATH_MAX];
  if (snprintf(loader, sizeof loader, "%s/lib/ld-linux-x86-64.so.2", dir) >= (int)sizeof loader ||
      snprintf(libdir, sizeof libdir, "%s/lib", dir) >= (int)sizeof libdir ||
      snprintf(node, sizeof node, "%s/node", dir) >= (int)sizeof node ||
      snprintf(app, sizeof app, "%s/app/%s.mjs", dir, name) >= (int)sizeof app) {
    fprintf(stderr, "launcher: path too long: %s\n", dir);
    return 127;
  }
  set_default("SSL_CERT_FILE", dir, "/ssl/certs/ca-certificates.crt");
  set_default("SSL_CERT_DIR", dir, "/ssl/certs");
  set_default("TMPDIR", dir, "/tmp");
  set_default("DOCKER_CONFIG", dir, "/.docker");
  if (getenv("HOME") == NULL) setenv("HOME", "/root", 0);
  /* Layer compression runs on libuv's thread pool beside the file reads that feed it (bin/executor does the same). */
  setenv("UV_THREADPOOL_SIZE", "8", 0);

  /* loader, 7 loader/node options, app, the user's arguments, NULL. */
  char **args = calloc((size_t)argc + 10, sizeof *args);
  if (args == NULL) { fprintf(stderr, "launcher: out of memory\n"); return 127; }
  int i = 0;
  args[i++] = loader;
  args[i++] = "--library-path";
  args[i++] = libdir;
  args[i++] = "--argv0";
  args[i++] = node;
  args[i++] = node;
  args[i++] = "--use-openssl-ca";
  /* A 4 MiB young generation (bin/executor passes the same): a layer of 100k small files peaked at 313 MiB, now 200. */
  args[i++] = "--max-semi-space-size=4";
  args[i++] = app;
  for (int a = 1; a < argc; a++) args[i++] = argv[a];
  args[i] = NULL;
  execv(loader, args);
  fprintf(stderr, "launcher: cannot execute %s: %s\n", loader, strerror(errno));
  return 127;
}
