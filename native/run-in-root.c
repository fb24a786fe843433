/*
 * run-in-root: run one command inside a build root, as RUN needs it. Node can neither chroot nor set
 * supplementary groups, so src/sandbox spawns this small static helper.
 *
 * Usage:
 *   run-in-root [--root DIR] [--cwd DIR] [--uid N] [--gid N] [--groups a,b,c] [--isolate]
 *               [--script-fd N] [--error-fd N] -- ARGV...
 *
 *   --root DIR     the build root (default "/"); chroot(DIR) unless it is "/".
 *   --cwd DIR      working directory inside the root (default "/"); it must exist.
 *   --uid/--gid N  credentials of the command (default 0/0).
 *   --groups LIST  supplementary gids, comma separated (default: none; the helper's own are dropped).
 *   --isolate      (--root-dir builds) new mount + pid namespaces: a tmpfs /dev with the usual nodes, a
 *                  read-only /sys (fresh sysfs, else the host's rbind), a fresh /proc, and private copies of the host's
 *                  /etc/resolv.conf and /etc/hosts over the root's. Mountpoints the helper had to create are
 *                  removed afterwards (the snapshot must not see them). The command is pid 1 of its pid
 *                  namespace: when it exits the kernel kills whatever it left running.
 *   --script-fd N  read a script (a "#!" file's content) from fd N to its end and execute it instead of
 *                  looking ARGV[0] up; ARGV is still the argument vector (RUN <<EOF with a #! line). The
 *                  script lives in a memfd: nothing is written to the root or the host.
 *   --network-none run the command in a fresh network namespace holding only loopback (up) (RUN --network=none).
 *   --tmpfs T:SIZE (repeatable) mount a tmpfs at T, a path relative to the root that the caller
 *                  resolved (no symlink may be on it); SIZE in bytes, 0 = the kernel's default. Missing
 *                  directories on the way are created and removed afterwards (RUN --mount=type=tmpfs).
 *                  Without --isolate: a new mount namespace for these mounts only, the command forked in it.
 *   --bind-file SRC REL (repeatable; two values) bind the host file SRC read-only onto REL (relative to the
 *                  root, resolved by the caller); missing directories and the file stub are created and
 *                  removed afterwards (RUN --mount=type=secret).
 *   --bind SRC REL ro|rw (repeatable; three values) bind the host directory or file SRC onto REL (relative to the
 *                  root, resolved by the caller), read-only unless rw; missing directories and the stub (a directory
 *                  or an empty file, after SRC) are created and removed afterwards (RUN --mount=type=cache|bind).
 *                  All mounts are made in target order, parents first (a cache below a bind target works).
 *   --chroot-setup (container mode, a stage's own directory: chroot without namespaces, as an unprivileged pod
 *                  allows) ROOT/dev gets null, zero, full, random, urandom and tty by mknod(2) (a node that
 *                  cannot be made is left out; /dev/null then an empty plain file), ROOT/etc/resolv.conf and ROOT/etc/hosts copies of the helper's
 *                  own when the root has none; /proc stays as the root has it (mounting one needs CAP_SYS_ADMIN).
 *                  The command is forked; everything the helper made is removed after it, the parents' times
 *                  restored, so the snapshot sees nothing.
 *   --error-fd N   also write setup failures to fd N (close-on-exec: the command never inherits it), so the
 *                  caller can tell a helper failure from a command that exits 125.
 *
 * The command's environment is the helper's own environment (the caller spawns it with exactly that), and
 * ARGV[0] is looked up in its PATH (execvpe). stdin/stdout/stderr are inherited.
 *
 * Probe mode: run-in-root --probe DIR prints "chroot: ok" (or the error chroot(DIR) gets), "mknod: ok" (or the
 * error mknod(2) of a character device in DIR gets) and "isolate: ok" (or the error of private mount + pid
 * namespaces with a /proc mounted in them: what --isolate needs), one a line, and exits 0: container mode asks
 * once per build.
 *
 * Lock mode: run-in-root --hold-lock[-nb] FILE takes an exclusive flock(2) on FILE (created if missing), blocking
 * (or, -nb, printing "busy" and exiting 1 when it is held elsewhere), prints "locked" and holds the lock until its
 * stdin reaches EOF: the caller (RUN --mount=type=cache,sharing=locked|private) keeps it for the RUN's duration,
 * and a caller that dies releases it.
 *
 * Exit status: the command's; 128+N when it died of signal N. Helper failures print "run-in-root: ..." on
 * stderr and exit 125 (setup), 126 (not executable) or 127 (not found).
 * Without --isolate, --chroot-setup or mounts the helper execs in place (no fork): the caller runs it in its own process group and
 * kills the group afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_GROUPS 256
#define EXIT_SETUP 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127

static int error_fd = -1;

static void report(const char *fmt, va_list ap) {
  char msg[PATH_MAX * 2];
  int n = snprintf(msg, sizeof msg, "run-in-root: ");
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  size_t len = strlen(msg);
  if (len + 1 < sizeof msg) msg[len++] = '\n';
  if (write(STDERR_FILENO, msg, len) < 0) { /* nothing left to tell */ }
  if (error_fd >= 0 && write(error_fd, msg, len) < 0) { /* idem */ }
}

static void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(fmt, ap);
  va_end(ap);
  _exit(status);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int saved = error_fd;
  error_fd = -1; /* warnings are not failures */
  report(fmt, ap);
  error_fd = saved;
  va_end(ap);
}

static unsigned long parse_id(const char *flag, const char *text) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v > 0xfffffffeUL) die(EXIT_SETUP, "bad %s value: %s", flag, text);
  return v;
}

static void join(char *out, const char *root, const char *rel) {
  int n = snprintf(out, PATH_MAX, "%s/%s", strcmp(root, "/") == 0 ? "" : root, rel);
  if (n < 0 || n >= PATH_MAX) die(EXIT_SETUP, "path too long: %s/%s", root, rel);
}

/* A mountpoint the helper created (removed again after the command) and its parent's times to restore. */
struct created {
  char path[PATH_MAX];
  int is_dir;
  int active;
  char parent[PATH_MAX];
  struct timespec parent_before[2];  /* atime, mtime before creation */
  struct timespec parent_after;      /* mtime right after creation: unchanged later => the command left it */
  int level;                         /* mounts made before it: it may live on any of them */
};

#define MAX_CREATED 40
#define MAX_MOUNTED 24
#define MAX_TMPFS 8
#define MAX_BINDS 16
struct state {
  const char *root;
  int isolate;
  int unshared;
  int private_each;
  struct created created[MAX_CREATED];
  int ncreated;
  char mounted[MAX_MOUNTED][PATH_MAX];
  int nmounted;
};

static void note_mount(struct state *st, const char *path) {
  if (st->nmounted < MAX_MOUNTED) snprintf(st->mounted[st->nmounted++], PATH_MAX, "%s", path);
}

/* Creates path (a dir or an empty file) so something can be mounted on it; records it for removal. */
static int create_mountpoint(struct state *st, const char *path, int is_dir) {
  if (st->ncreated >= MAX_CREATED) return -1;
  struct created *c = &st->created[st->ncreated];
  snprintf(c->path, PATH_MAX, "%s", path);
  snprintf(c->parent, PATH_MAX, "%s", path);
  char *slash = strrchr(c->parent, '/');
  if (slash == NULL) return -1;
  if (slash == c->parent) slash[1] = '\0'; else *slash = '\0';
  struct stat ps;
  if (lstat(c->parent, &ps) != 0) return -1;
  c->parent_before[0] = ps.st_atim;
  c->parent_before[1] = ps.st_mtim;
  if (is_dir) {
    if (mkdir(path, 0755) != 0) return -1;
  } else {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    close(fd);
  }
  if (lstat(c->parent, &ps) == 0) c->parent_after = ps.st_mtim;
  c->is_dir = is_dir;
  c->active = 1;
  c->level = st->nmounted;
  st->ncreated++;
  return 0;
}

/* 1: path is a usable mountpoint of that type (existing or created); 0: skip (a symlink or other type). */
static int ensure_mountpoint(struct state *st, const char *path, int is_dir) {
  struct stat s;
  if (lstat(path, &s) == 0) {
    /* Never mount on a symlink: it would be followed on the HOST, outside the root. */
    return is_dir ? S_ISDIR(s.st_mode) : S_ISREG(s.st_mode);
  }
  if (errno != ENOENT) return 0;
  if (create_mountpoint(st, path, is_dir) != 0) die(EXIT_SETUP, "cannot create mountpoint %s: %s", path, strerror(errno));
  return 1;
}

static void bind_node(const char *devdir, const char *name) {
  char host[PATH_MAX], target[PATH_MAX];
  snprintf(host, sizeof host, "/dev/%s", name);
  join(target, devdir, name);
  struct stat s;
  if (stat(host, &s) != 0 || !S_ISCHR(s.st_mode)) return;
  int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) die(EXIT_SETUP, "cannot create %s: %s", target, strerror(errno));
  close(fd);
  if (mount(host, target, NULL, MS_BIND, NULL) != 0) die(EXIT_SETUP, "cannot bind %s: %s", host, strerror(errno));
}

/* A private /dev (tmpfs) holding only the usual nodes: the command must not reach the host's devices. */
static int setup_dev(struct state *st) {
  char dev[PATH_MAX], p[PATH_MAX];
  join(dev, st->root, "dev");
  if (!ensure_mountpoint(st, dev, 1)) { warn("%s is not a directory: /dev not set up", dev); return 0; }
  if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") != 0)
    die(EXIT_SETUP, "cannot mount tmpfs on %s: %s", dev, strerror(errno));
  note_mount(st, dev);
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) bind_node(dev, nodes[i]);
  static const char *const links[][2] = {
      {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
      {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    join(p, dev, links[i][0]);
    if (symlink(links[i][1], p) != 0) die(EXIT_SETUP, "cannot create %s: %s", p, strerror(errno));
  }
  join(p, dev, "shm");
  if (mkdir(p, 01777) != 0 || mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k") != 0)
    warn("no /dev/shm: %s", strerror(errno));
  join(p, dev, "pts");
  if (mkdir(p, 0755) != 0 || mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0)
    { /* no pseudo-terminals: builds rarely need one */ }
  return 1;
}

static void setup_sys(struct state *st) {
  char sys[PATH_MAX];
  join(sys, st->root, "sys");
  if (!ensure_mountpoint(st, sys, 1)) { warn("%s is not a directory: /sys not mounted", sys); return; }
  /* A fresh read-only sysfs, as Docker gives; where that is not permitted, the host's (rbind, top read-only). */
  if (mount("sysfs", sys, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
    note_mount(st, sys);
    return;
  }
  if (mount("/sys", sys, NULL, MS_BIND | MS_REC, NULL) != 0) die(EXIT_SETUP, "cannot bind /sys on %s: %s", sys, strerror(errno));
  note_mount(st, sys);
  /* Best effort: submounts keep their own flags. */
  mount(NULL, sys, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Copies host /etc/NAME into the private /dev tmpfs and binds the copy over ROOT/etc/NAME: the command may
 * change its copy (as in Docker) but never the host's file, and the root's own file is only shadowed. */
static void setup_etc_file(struct state *st, const char *name, int have_dev) {
  char host[PATH_MAX], etc[PATH_MAX], target[PATH_MAX], copy[PATH_MAX];
  snprintf(host, sizeof host, "/etc/%s", name);
  join(etc, st->root, "etc");
  struct stat s;
  if (lstat(etc, &s) != 0 || !S_ISDIR(s.st_mode)) return;
  int in = open(host, O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  join(target, etc, name);
  if (!ensure_mountpoint(st, target, 0)) { close(in); return; }
  const char *source = host;
  if (have_dev) {
    char dev[PATH_MAX];
    join(dev, st->root, "dev");
    char base[NAME_MAX];
    snprintf(base, sizeof base, ".run-in-root-%s", name);
    join(copy, dev, base);
    int out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) die(EXIT_SETUP, "cannot create %s: %s", copy, strerror(errno));
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, (size_t)n) != n) die(EXIT_SETUP, "cannot write %s: %s", copy, strerror(errno));
    close(out);
    source = copy;
  }
  close(in);
  if (mount(source, target, NULL, MS_BIND, NULL) != 0) die(EXIT_SETUP, "cannot bind %s on %s: %s", host, target, strerror(errno));
  note_mount(st, target);
  if (have_dev) unlink(copy); /* the bind keeps the copy alive; the command does not see it in /dev */
  else mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

/* RUN --mount=type=tmpfs: REL (relative to the root, symlinks already resolved by the caller) gets a tmpfs.
 * Missing directories on the way are created (and removed after the command); a symlink on the way is refused,
 * as it would resolve on the host. */
/* Creates the missing directories of PATH (the last component too when last_is_dir, else an empty file stub);
 * anything that exists on the way must be a directory (the last: a regular file when !last_is_dir). */
static void make_target(struct state *st, const char *what, const char *rel, const char *path, int last_is_dir) {
  char part[PATH_MAX];
  size_t rootlen = strcmp(st->root, "/") == 0 ? 0 : strlen(st->root);
  for (size_t i = rootlen + 1;; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    if (i == rootlen + 1) { if (path[i] == '\0') break; continue; }
    memcpy(part, path, i);
    part[i] = '\0';
    int dir = path[i] != '\0' || last_is_dir;
    struct stat s;
    if (lstat(part, &s) == 0) {
      if (dir && !S_ISDIR(s.st_mode)) die(EXIT_SETUP, "%s mount target %s: %s is not a directory", what, rel, part);
      if (!dir && !S_ISREG(s.st_mode)) die(EXIT_SETUP, "%s mount target %s: %s is not a regular file", what, rel, part);
    } else if (errno != ENOENT || create_mountpoint(st, part, dir) != 0) {
      die(EXIT_SETUP, "%s mount target %s: cannot create %s: %s", what, rel, part, strerror(errno));
    }
    if (path[i] == '\0') break;
  }
}

/* Container mode under a plain chroot: make the mount holding PATH private before mounting on it. */
static void make_parent_private(struct state *st, const char *path) {
  char part[PATH_MAX];
  if (st->private_each) {
    /* The mount holding the target: the nearest ancestor that is a mountpoint (MS_PRIVATE fails with EINVAL elsewhere). */
    snprintf(part, sizeof part, "%s", path);
    for (;;) {
      char *slash = strrchr(part, '/');
      if (slash == NULL) break;
      if (slash == part) slash[1] = '\0'; else *slash = '\0';
      if (mount(NULL, part, NULL, MS_PRIVATE, NULL) == 0) break;
      if (errno != EINVAL) die(EXIT_SETUP, "make %s private: %s", part, strerror(errno));
      /* None reachable (the container's root mount lies outside the chroot): a shared parent mount may show the
       * tmpfs to the executor's namespace while the command runs; cleanup unmounts it there too. */
      if (strcmp(part, "/") == 0) break;
    }
  }
}

static void setup_tmpfs(struct state *st, const char *rel, unsigned long long size) {
  char path[PATH_MAX];
  join(path, st->root, rel);
  make_target(st, "tmpfs", rel, path, 1);
  make_parent_private(st, path);
  char opts[64] = "mode=1777";
  if (size > 0) snprintf(opts, sizeof opts, "mode=1777,size=%llu", size);
  if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
    die(EXIT_SETUP, "cannot mount tmpfs on %s: %s", path, strerror(errno));
  note_mount(st, path);
}

/* RUN --mount=type=secret: the host file SRC (outside the root) bound read-only on REL. */
static void setup_bind_file(struct state *st, const char *src, const char *rel) {
  char path[PATH_MAX];
  join(path, st->root, rel);
  make_target(st, "secret", rel, path, 0);
  make_parent_private(st, path);
  if (mount(src, path, NULL, MS_BIND, NULL) != 0) die(EXIT_SETUP, "cannot bind the secret on %s: %s", path, strerror(errno));
  note_mount(st, path);
  if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
    die(EXIT_SETUP, "cannot make the secret on %s read-only: %s", path, strerror(errno));
}

/* RUN --mount=type=cache|bind: the host directory or file SRC bound on REL, read-only unless rw. */
static void setup_bind(struct state *st, const char *src, const char *rel, int ro) {
  char path[PATH_MAX];
  struct stat s;
  if (stat(src, &s) != 0) die(EXIT_SETUP, "bind mount source %s: %s", src, strerror(errno));
  join(path, st->root, rel);
  make_target(st, "bind", rel, path, S_ISDIR(s.st_mode));
  make_parent_private(st, path);
  if (mount(src, path, NULL, MS_BIND, NULL) != 0) die(EXIT_SETUP, "cannot bind %s on %s: %s", src, path, strerror(errno));
  note_mount(st, path);
  if (!ro) return;
  /* Flags the source's mount has (nosuid, ...) must be kept where they are locked, or the remount fails. */
  unsigned long keep = 0;
  struct statvfs v;
  if (statvfs(path, &v) == 0) {
    if (v.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (v.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (v.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  }
  if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) != 0)
    die(EXIT_SETUP, "cannot make the bind mount on %s read-only: %s", path, strerror(errno));
}

/* --chroot-setup: a device node made by mknod(2) in ROOT/dev, recorded for removal; 0 when it cannot be made. */
static int make_node(struct state *st, const char *devdir, const char *name, unsigned maj, unsigned min) {
  char host[PATH_MAX], target[PATH_MAX];
  snprintf(host, sizeof host, "/dev/%s", name);
  join(target, devdir, name);
  struct stat s;
  if (lstat(target, &s) == 0) return 1; /* the root has its own */
  dev_t rdev = makedev(maj, min);
  if (stat(host, &s) == 0 && S_ISCHR(s.st_mode)) rdev = s.st_rdev;
  if (st->ncreated >= MAX_CREATED) return 0;
  struct created *c = &st->created[st->ncreated];
  snprintf(c->path, PATH_MAX, "%s", target);
  snprintf(c->parent, PATH_MAX, "%s", devdir);
  if (lstat(devdir, &s) != 0) return 0;
  c->parent_before[0] = s.st_atim;
  c->parent_before[1] = s.st_mtim;
  if (mknod(target, S_IFCHR | 0666, rdev) != 0) {
    /* No CAP_MKNOD (nor a mount to bind the container's node with): what works is a plain, empty /dev/null for
     * this command, so `> /dev/null` still goes somewhere (and is gone after it); the other nodes stay absent. */
    if (strcmp(name, "null") != 0 || create_mountpoint(st, target, 0) != 0) return 0;
    if (chmod(target, 0666) != 0) { /* root can still write it */ }
    return 1;
  }
  if (chmod(target, 0666) != 0) { /* the umask's mode: still usable by root */ }
  if (lstat(devdir, &s) == 0) c->parent_after = s.st_mtim;
  c->is_dir = 0;
  c->active = 1;
  c->level = st->nmounted;
  st->ncreated++;
  return 1;
}

static void chroot_dev(struct state *st) {
  char dev[PATH_MAX];
  join(dev, st->root, "dev");
  struct stat s;
  if (lstat(dev, &s) == 0 ? !S_ISDIR(s.st_mode) : create_mountpoint(st, dev, 1) != 0) return; /* a link or a file: left alone */
  static const struct { const char *name; unsigned maj, min; } nodes[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) make_node(st, dev, nodes[i].name, nodes[i].maj, nodes[i].min);
}

/* --chroot-setup: a copy of the helper's /etc/NAME in ROOT/etc when the root has none (removed after the command). */
static void chroot_etc_file(struct state *st, const char *name) {
  char host[PATH_MAX], etc[PATH_MAX], target[PATH_MAX];
  snprintf(host, sizeof host, "/etc/%s", name);
  join(etc, st->root, "etc");
  struct stat s;
  if (lstat(etc, &s) != 0 || !S_ISDIR(s.st_mode)) return;
  join(target, etc, name);
  if (lstat(target, &s) == 0 || errno != ENOENT) return; /* the root's own stays */
  int in = open(host, O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  if (create_mountpoint(st, target, 0) != 0) { close(in); die(EXIT_SETUP, "cannot create %s: %s", target, strerror(errno)); }
  int out = open(target, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (out < 0) die(EXIT_SETUP, "cannot open %s: %s", target, strerror(errno));
  char buf[8192];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n) die(EXIT_SETUP, "cannot write %s: %s", target, strerror(errno));
  close(out);
  close(in);
}

/* --probe DIR: see the comment at the top. */
static int probe(const char *dir) {
  pid_t pid = fork();
  if (pid < 0) die(EXIT_SETUP, "fork: %s", strerror(errno));
  if (pid == 0) _exit(chroot(dir) == 0 ? 0 : errno);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
  int err = WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
  printf("chroot: %s\n", err == 0 ? "ok" : strerror(err));
  char node[PATH_MAX];
  join(node, dir, ".run-in-root-probe");
  unlink(node);
  if (mknod(node, S_IFCHR | 0666, makedev(1, 3)) == 0) { unlink(node); printf("mknod: ok\n"); }
  else printf("mknod: %s\n", strerror(errno));
  /* isolate: what --isolate needs — private mount and pid namespaces, and a /proc mounted in them. */
  char procdir[PATH_MAX];
  join(procdir, dir, ".run-in-root-proc");
  rmdir(procdir);
  int ierr = 0;
  if (mkdir(procdir, 0700) != 0) ierr = errno;
  else {
    pid_t ip = fork();
    if (ip < 0) ierr = errno;
    else if (ip == 0) {
      if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) _exit(errno);
      if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(errno);
      pid_t inner = fork();
      if (inner < 0) _exit(errno);
      if (inner == 0) _exit(mount("proc", procdir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0 ? 0 : errno);
      int st = 0;
      while (waitpid(inner, &st, 0) < 0 && errno == EINTR) { }
      _exit(WIFEXITED(st) ? WEXITSTATUS(st) : EINVAL);
    } else {
      int st = 0;
      while (waitpid(ip, &st, 0) < 0 && errno == EINTR) { }
      ierr = WIFEXITED(st) ? WEXITSTATUS(st) : EINVAL;
    }
    rmdir(procdir);
  }
  printf("isolate: %s\n", ierr == 0 ? "ok" : strerror(ierr));
  return fflush(stdout) == 0 ? 0 : EXIT_SETUP;
}

/* --hold-lock[-nb] FILE: see the comment at the top. */
static int hold_lock(const char *file, int nonblock) {
  int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) die(EXIT_SETUP, "lock %s: %s", file, strerror(errno));
  while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && nonblock) {
      if (write(STDOUT_FILENO, "busy\n", 5) < 0) { /* the caller sees the exit status */ }
      return 1;
    }
    die(EXIT_SETUP, "lock %s: %s", file, strerror(errno));
  }
  if (write(STDOUT_FILENO, "locked\n", 7) != 7) return EXIT_SETUP;
  char buf[64];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    break;
  }
  return 0;
}

/* RUN --network=none: a new network namespace; its loopback starts down, so bring it up. */
static void setup_network_none(void) {
  if (unshare(CLONE_NEWNET) != 0) die(EXIT_SETUP, "RUN --network=none: cannot create a network namespace: %s", strerror(errno));
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(EXIT_SETUP, "socket: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) die(EXIT_SETUP, "loopback: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) die(EXIT_SETUP, "cannot bring loopback up: %s", strerror(errno));
  close(fd);
}

static void remove_created(struct created *c) {
  if (!c->active) return;
  struct stat ps;
  int untouched = lstat(c->parent, &ps) == 0 && ps.st_mtim.tv_sec == c->parent_after.tv_sec &&
                  ps.st_mtim.tv_nsec == c->parent_after.tv_nsec;
  if ((c->is_dir ? rmdir(c->path) : unlink(c->path)) != 0) {
    warn("cannot remove %s: %s", c->path, strerror(errno));
    return;
  }
  /* Restore the parent's times unless the command itself changed the directory. */
  if (untouched) utimensat(AT_FDCWD, c->parent, c->parent_before, AT_SYMLINK_NOFOLLOW);
}

static void cleanup(struct state *st) {
  /* A mountpoint made on top of an earlier mount (a tmpfs inside a cache mount) goes before that mount is undone. */
  int c = st->ncreated - 1;
  for (int i = st->nmounted - 1; i >= 0; i--) {
    for (; c >= 0 && st->created[c].level > i; c--) remove_created(&st->created[c]);
    umount2(st->mounted[i], MNT_DETACH);
  }
  if (st->isolate) {
    char proc[PATH_MAX];
    join(proc, st->root, "proc");
    umount2(proc, MNT_DETACH);
  }
  for (; c >= 0; c--) remove_created(&st->created[c]);
}

static int parse_groups(const char *text, gid_t *out) {
  int n = 0;
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", text);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    if (n >= MAX_GROUPS) die(EXIT_SETUP, "too many --groups");
    out[n++] = (gid_t)parse_id("--groups", tok);
  }
  return n;
}

struct options {
  const char *root, *cwd;
  int script_fd;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups, isolate, network_none, chroot_setup;
  const char *tmpfs[MAX_TMPFS];
  unsigned long long tmpfs_size[MAX_TMPFS];
  int ntmpfs;
  const char *bind_src[MAX_TMPFS], *bind_dst[MAX_TMPFS];
  int nbind;
  const char *dbind_src[MAX_BINDS], *dbind_dst[MAX_BINDS];
  int dbind_ro[MAX_BINDS];
  int ndbind;
  char **argv;
};

/* Everything after the namespaces: chroot, credentials, exec. Never returns. */
static void enter_and_exec(const struct options *o) {
  int script_fd = -1;
  if (o->script_fd >= 0) {
    /* Not close-on-exec: the kernel hands "/dev/fd/N" to the script's interpreter. */
    script_fd = memfd_create("run-in-root-script", 0);
    if (script_fd < 0) die(EXIT_SETUP, "memfd_create: %s", strerror(errno));
    char buf[8192];
    ssize_t n;
    while ((n = read(o->script_fd, buf, sizeof buf)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die(EXIT_SETUP, "reading the script: %s", strerror(errno));
      if (write(script_fd, buf, (size_t)n) != n) die(EXIT_SETUP, "writing the script: %s", strerror(errno));
    }
    close(o->script_fd);
    if (fchmod(script_fd, 0755) != 0) die(EXIT_SETUP, "fchmod script: %s", strerror(errno));
  }
  if (strcmp(o->root, "/") != 0 && chroot(o->root) != 0) die(EXIT_SETUP, "chroot %s: %s", o->root, strerror(errno));
  if (chdir("/") != 0) die(EXIT_SETUP, "chdir /: %s", strerror(errno));
  if (chdir(o->cwd) != 0) die(EXIT_SETUP, "chdir %s: %s", o->cwd, strerror(errno));
  if (setgroups((size_t)o->ngroups, o->groups) != 0) die(EXIT_SETUP, "setgroups: %s", strerror(errno));
  if (setgid(o->gid) != 0) die(EXIT_SETUP, "setgid %u: %s", (unsigned)o->gid, strerror(errno));
  if (setuid(o->uid) != 0) die(EXIT_SETUP, "setuid %u: %s", (unsigned)o->uid, strerror(errno));
  /* After setuid (which clears it): if the helper is SIGKILLed, the command goes too. */
  if (o->isolate) prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_DFL);
  if (script_fd >= 0) fexecve(script_fd, o->argv, environ);
  else execvpe(o->argv[0], o->argv, environ);
  int err = errno;
  die(err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC, "exec: %s: %s", o->argv[0],
      err == ENOENT ? "not found" : strerror(err));
}

static volatile sig_atomic_t child_pid = 0;

static void forward_kill(int sig) {
  (void)sig;
  if (child_pid > 0) kill(child_pid, SIGKILL);
}

static int path_depth(const char *rel) {
  int n = 0;
  for (const char *p = rel; *p != '\0'; p++)
    if (*p != '/' && (p == rel || p[-1] == '/')) n++;
  return n;
}

/* tmpfs, secret files and binds in target order, parents first (stable), so a mount below another's target is
 * made on top of it, not hidden under it. */
static void setup_mounts_in_order(struct state *st, const struct options *o) {
  struct op { int kind, index, depth; } ops[MAX_TMPFS * 2 + MAX_BINDS];
  int n = 0;
  for (int t = 0; t < o->ntmpfs; t++) ops[n++] = (struct op){0, t, path_depth(o->tmpfs[t])};
  for (int b = 0; b < o->nbind; b++) ops[n++] = (struct op){1, b, path_depth(o->bind_dst[b])};
  for (int b = 0; b < o->ndbind; b++) ops[n++] = (struct op){2, b, path_depth(o->dbind_dst[b])};
  for (int i = 1; i < n; i++) {
    struct op cur = ops[i];
    int j = i - 1;
    for (; j >= 0 && ops[j].depth > cur.depth; j--) ops[j + 1] = ops[j];
    ops[j + 1] = cur;
  }
  for (int i = 0; i < n; i++) {
    int x = ops[i].index;
    if (ops[i].kind == 0) setup_tmpfs(st, o->tmpfs[x], o->tmpfs_size[x]);
    else if (ops[i].kind == 1) setup_bind_file(st, o->bind_src[x], o->bind_dst[x]);
    else setup_bind(st, o->dbind_src[x], o->dbind_dst[x], o->dbind_ro[x]);
  }
}

/* --isolate: new mount + pid namespaces with private /dev, /proc, /sys, etc files. Without --isolate (container mode,
 * only when there are tmpfs mounts): a new mount namespace holding just those mounts, the command forked in it. */
static int run_isolated(struct options *o) {
  struct state st = {.root = o->root, .isolate = o->isolate};
  int mounts = o->ntmpfs > 0 || o->nbind > 0 || o->ndbind > 0;
  if (o->isolate || mounts) {
    if (unshare(o->isolate ? CLONE_NEWNS | CLONE_NEWPID : CLONE_NEWNS) != 0) {
      if (!o->isolate && errno == EPERM) die(EXIT_SETUP, "RUN --mount needs a mount namespace, which this container does not allow (no CAP_SYS_ADMIN): unshare: %s", strerror(errno));
      die(EXIT_SETUP, "unshare: %s", strerror(errno));
    }
    st.unshared = 1;
  }
  if (st.unshared && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    /* Container mode under a plain chroot: '/' is no mountpoint; each tmpfs makes its own parent mount private. */
    if (o->isolate || errno != EINVAL) die(EXIT_SETUP, "make / private: %s", strerror(errno));
    st.private_each = 1;
  }
  if (o->network_none) setup_network_none();
  char proc[PATH_MAX];
  join(proc, o->root, "proc");
  int have_proc = 0;
  if (o->isolate) {
    have_proc = ensure_mountpoint(&st, proc, 1);
    int have_dev = setup_dev(&st);
    setup_sys(&st);
    setup_etc_file(&st, "resolv.conf", have_dev);
    setup_etc_file(&st, "hosts", have_dev);
  } else if (o->chroot_setup) {
    chroot_dev(&st);
    chroot_etc_file(&st, "resolv.conf");
    chroot_etc_file(&st, "hosts");
  }
  setup_mounts_in_order(&st, o);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward_kill;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  pid_t pid = fork();
  if (pid < 0) { int e = errno; cleanup(&st); die(EXIT_SETUP, "fork: %s", strerror(e)); }
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    /* pid 1 of the new namespace: its /proc shows only the build's processes. */
    if (have_proc && mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
      die(EXIT_SETUP, "cannot mount proc on %s: %s", proc, strerror(errno));
    enter_and_exec(o);
  }
  child_pid = pid;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) { status = EXIT_SETUP << 8; break; }
  }
  cleanup(&st);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int main(int argc, char **argv) {
  struct options o = {.root = "/", .cwd = "/", .script_fd = -1, .uid = 0, .gid = 0, .ngroups = 0, .isolate = 0};
  if (argc == 3 && (strcmp(argv[1], "--hold-lock") == 0 || strcmp(argv[1], "--hold-lock-nb") == 0))
    return hold_lock(argv[2], strcmp(argv[1], "--hold-lock-nb") == 0);
  if (argc == 3 && strcmp(argv[1], "--probe") == 0) return probe(argv[2]);
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--isolate") == 0) { o.isolate = 1; continue; }
    if (strcmp(a, "--network-none") == 0) { o.network_none = 1; continue; }
    if (strcmp(a, "--chroot-setup") == 0) { o.chroot_setup = 1; continue; }
    if (i + 1 >= argc) die(EXIT_SETUP, "%s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--root") == 0) o.root = v;
    else if (strcmp(a, "--cwd") == 0) o.cwd = v;
    else if (strcmp(a, "--uid") == 0) o.uid = (uid_t)parse_id(a, v);
    else if (strcmp(a, "--gid") == 0) o.gid = (gid_t)parse_id(a, v);
    else if (strcmp(a, "--groups") == 0) o.ngroups = parse_groups(v, o.groups);
    else if (strcmp(a, "--bind-file") == 0) {
      if (o.nbind >= MAX_TMPFS) die(EXIT_SETUP, "too many --bind-file");
      if (i + 1 >= argc) die(EXIT_SETUP, "--bind-file needs SRC and REL");
      o.bind_src[o.nbind] = v;
      o.bind_dst[o.nbind++] = argv[++i];
    } else if (strcmp(a, "--bind") == 0) {
      if (o.ndbind >= MAX_BINDS) die(EXIT_SETUP, "too many --bind");
      if (i + 2 >= argc) die(EXIT_SETUP, "--bind needs SRC, REL and ro|rw");
      const char *rw = argv[i + 2];
      if (strcmp(rw, "ro") != 0 && strcmp(rw, "rw") != 0) die(EXIT_SETUP, "bad --bind mode: %s", rw);
      o.dbind_src[o.ndbind] = v;
      o.dbind_dst[o.ndbind] = argv[++i];
      o.dbind_ro[o.ndbind++] = strcmp(rw, "ro") == 0;
      i++;
    } else if (strcmp(a, "--tmpfs") == 0) {
      if (o.ntmpfs >= MAX_TMPFS) die(EXIT_SETUP, "too many --tmpfs");
      char *colon = strrchr(v, ':');
      if (colon == NULL) die(EXIT_SETUP, "bad --tmpfs value: %s", v);
      *colon = '\0';
      char *end = NULL;
      errno = 0;
      o.tmpfs_size[o.ntmpfs] = strtoull(colon + 1, &end, 10);
      if (errno != 0 || end == colon + 1 || *end != '\0') die(EXIT_SETUP, "bad --tmpfs size: %s", colon + 1);
      o.tmpfs[o.ntmpfs++] = v;
    } else if (strcmp(a, "--script-fd") == 0) o.script_fd = (int)parse_id(a, v);
    else if (strcmp(a, "--error-fd") == 0) {
      error_fd = (int)parse_id(a, v);
      if (fcntl(error_fd, F_SETFD, FD_CLOEXEC) != 0) die(EXIT_SETUP, "bad --error-fd %s: %s", v, strerror(errno));
    } else die(EXIT_SETUP, "unknown option %s", a);
  }
  if (i >= argc) die(EXIT_SETUP, "usage: run-in-root [options] -- ARGV...");
  o.argv = &argv[i];
  static char root[PATH_MAX];
  if (realpath(o.root, root) == NULL) die(EXIT_SETUP, "root %s: %s", o.root, strerror(errno));
  o.root = root;
  if (o.chroot_setup && strcmp(o.root, "/") == 0) o.chroot_setup = 0;
  if (o.isolate || o.chroot_setup || o.ntmpfs > 0 || o.nbind > 0 || o.ndbind > 0) return run_isolated(&o);
  /* Container mode execs in place: the new network namespace ends with the command. */
  if (o.network_none) setup_network_none();
  enter_and_exec(&o);
}
