/*
 * The emulated chroot of fakeroot-supervisor (--chroot): a non-root --root-dir build, where the kernel refuses
 * chroot(2) and namespaces. run-in-root's chroot(ROOT) is trapped (SECCOMP_RET_TRAP outranks the profile's ERRNO)
 * and becomes the process's root here; from then on, for it and everything it starts:
 *   - every path argument is resolved as the kernel would inside ROOT (symlinks followed component by component,
 *     an absolute target or '..' never leaving ROOT) and the call is given the host path, written into a scratch
 *     area of the tracee (an anonymous mapping made by an injected mmap, one slot per thread);
 *   - /proc, /dev and /sys are the host's (as a container's), and a read of /etc/resolv.conf or /etc/hosts reads
 *     the host's (as RUN under Docker);
 *   - execve runs the program through the ROOT's own ELF interpreter (fakeroot-supervisor-exec.c);
 *   - getcwd and readlink of /proc/<pid>/{cwd,exe,root,fd/N} read as inside ROOT.
 * Not translated: AF_UNIX socket paths, and calls of a foreign ABI. Like chroot(2) itself this is not a security
 * boundary against a hostile command (it runs as the build user anyway).
 */
#include "fakeroot-supervisor.h"
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

int chroot_mode;

#ifndef AT_SYMLINK_FOLLOW
#define AT_SYMLINK_FOLLOW 0x400
#endif

/* How the last component of a path argument is taken. */
enum follow { FOLLOW, NOFOLLOW, AT_NOFOLLOW_FLAG, AT_FOLLOW_FLAG, OPEN_FLAGS, OPEN_HOW };

struct pcall {
  long nr;
  signed char dirfd, path, flags; /* argument indexes, -1: none (AT_FDCWD) */
  unsigned char follow;
  signed char dirfd2, path2;      /* a second path (rename, link), always NOFOLLOW */
  unsigned char reads;            /* does not write: /etc/resolv.conf and /etc/hosts may be the host's */
};

#define P1(nr, d, p, f, fl, ro) { nr, d, p, f, fl, -1, -1, ro }
static const struct pcall pcalls[] = {
#ifdef SYS_open
  P1(SYS_open, -1, 0, 1, OPEN_FLAGS, 0), P1(SYS_creat, -1, 0, -1, FOLLOW, 0),
  P1(SYS_stat, -1, 0, -1, FOLLOW, 1), P1(SYS_lstat, -1, 0, -1, NOFOLLOW, 1), P1(SYS_access, -1, 0, -1, FOLLOW, 1),
  P1(SYS_readlink, -1, 0, -1, NOFOLLOW, 1), P1(SYS_mkdir, -1, 0, -1, NOFOLLOW, 0), P1(SYS_rmdir, -1, 0, -1, NOFOLLOW, 0),
  P1(SYS_unlink, -1, 0, -1, NOFOLLOW, 0), { SYS_rename, -1, 0, -1, NOFOLLOW, -1, 1, 0 }, { SYS_link, -1, 0, -1, NOFOLLOW, -1, 1, 0 },
  { SYS_symlink, -1, -1, -1, NOFOLLOW, -1, 1, 0 }, P1(SYS_chmod, -1, 0, -1, FOLLOW, 0), P1(SYS_chown, -1, 0, -1, FOLLOW, 0),
  P1(SYS_lchown, -1, 0, -1, NOFOLLOW, 0), P1(SYS_utime, -1, 0, -1, FOLLOW, 0), P1(SYS_utimes, -1, 0, -1, FOLLOW, 0),
  P1(SYS_futimesat, 0, 1, -1, FOLLOW, 0), P1(SYS_mknod, -1, 0, -1, NOFOLLOW, 0),
#endif
  P1(SYS_openat, 0, 1, 2, OPEN_FLAGS, 0), P1(SYS_openat2, 0, 1, 2, OPEN_HOW, 0),
  P1(SYS_newfstatat, 0, 1, 3, AT_NOFOLLOW_FLAG, 1), P1(SYS_statx, 0, 1, 2, AT_NOFOLLOW_FLAG, 1),
  P1(SYS_faccessat, 0, 1, -1, FOLLOW, 1), P1(SYS_faccessat2, 0, 1, 3, AT_NOFOLLOW_FLAG, 1),
  P1(SYS_readlinkat, 0, 1, -1, NOFOLLOW, 1), P1(SYS_chdir, -1, 0, -1, FOLLOW, 1), P1(SYS_mkdirat, 0, 1, -1, NOFOLLOW, 0),
  P1(SYS_unlinkat, 0, 1, -1, NOFOLLOW, 0), { SYS_renameat, 0, 1, -1, NOFOLLOW, 2, 3, 0 }, { SYS_renameat2, 0, 1, -1, NOFOLLOW, 2, 3, 0 },
  { SYS_linkat, 0, 1, 4, AT_FOLLOW_FLAG, 2, 3, 0 }, { SYS_symlinkat, -1, -1, -1, NOFOLLOW, 1, 2, 0 },
  P1(SYS_fchmodat, 0, 1, -1, FOLLOW, 0), P1(SYS_fchmodat2, 0, 1, 3, AT_NOFOLLOW_FLAG, 0), P1(SYS_fchownat, 0, 1, 4, AT_NOFOLLOW_FLAG, 0),
  P1(SYS_utimensat, 0, 1, 3, AT_NOFOLLOW_FLAG, 0), P1(SYS_truncate, -1, 0, -1, FOLLOW, 0), P1(SYS_statfs, -1, 0, -1, FOLLOW, 1),
  P1(SYS_mknodat, 0, 1, -1, NOFOLLOW, 0),
  P1(SYS_getxattr, -1, 0, -1, FOLLOW, 1), P1(SYS_lgetxattr, -1, 0, -1, NOFOLLOW, 1), P1(SYS_listxattr, -1, 0, -1, FOLLOW, 1),
  P1(SYS_llistxattr, -1, 0, -1, NOFOLLOW, 1), P1(SYS_setxattr, -1, 0, -1, FOLLOW, 0), P1(SYS_lsetxattr, -1, 0, -1, NOFOLLOW, 0),
  P1(SYS_removexattr, -1, 0, -1, FOLLOW, 0), P1(SYS_lremovexattr, -1, 0, -1, NOFOLLOW, 0),
  P1(SYS_inotify_add_watch, -1, 1, -1, FOLLOW, 1),
};

const long chroot_traced[] = {
#ifdef SYS_open
  SYS_open, SYS_access, SYS_readlink, SYS_link, SYS_utime, SYS_utimes, SYS_futimesat,
#endif
  SYS_openat, SYS_openat2, SYS_faccessat, SYS_faccessat2, SYS_readlinkat, SYS_chdir, SYS_linkat, SYS_utimensat, SYS_truncate,
  SYS_statfs, SYS_getxattr, SYS_lgetxattr, SYS_listxattr, SYS_llistxattr, SYS_setxattr, SYS_lsetxattr, SYS_removexattr,
  SYS_lremovexattr, SYS_inotify_add_watch, SYS_execve, SYS_execveat, SYS_getcwd, SYS_connect, SYS_bind,
};
const size_t chroot_ntraced = sizeof chroot_traced / sizeof chroot_traced[0];

/* ---------- the scratch area: one mapping per address space, one slot per thread ---------- */
static struct mm *mm_new(unsigned long base) {
  struct mm *m = calloc(1, sizeof *m);
  if (m == NULL) die("out of memory");
  m->base = base;
  m->refs = 1;
  return m;
}
static void mm_release(struct proc *p) {
  if (p->mm == NULL) return;
  if (p->slot >= 0 && p->slot_owned) p->mm->used[p->slot] = 0;
  if (--p->mm->refs == 0) free(p->mm);
  p->mm = NULL;
  p->slot = -1;
  p->slot_owned = 0;
}

#if defined(__x86_64__)
#define SYSCALL_INSN_LEN 2
int set_nr(pid_t pid, regs_t *r, long nr) { r->orig_rax = (unsigned long)nr; return set_regs(pid, r); }
static void restart_regs(regs_t *r) { r->rip -= SYSCALL_INSN_LEN; r->rax = r->orig_rax; }
#else
#define SYSCALL_INSN_LEN 4
int set_nr(pid_t pid, regs_t *r, long nr) {
  r->regs[8] = (unsigned long)nr;
  if (set_regs(pid, r) != 0) return -1;
  int n = (int)nr;
  struct iovec io = { &n, sizeof n };
  return (int)ptrace(PTRACE_SETREGSET, pid, (void *)NT_ARM_SYSTEM_CALL, &io);
}
static void restart_regs(regs_t *r) { r->pc -= SYSCALL_INSN_LEN; }
#endif

/*
 * Where this thread's translated paths go: its slot of the scratch mapping. 0 when the mapping is being made: the
 * call has been replaced by an mmap, and restarts (a new stop) once it is there. `need` bytes below the stack
 * pointer when there is no mapping (or no free slot).
 */
unsigned long scratch(struct proc *p, regs_t *r, size_t need) {
  if (p->mm == NULL) { p->mm = mm_new(0); p->slot = -1; }
  struct mm *m = p->mm;
  if (m->base == 0) {
    p->saved = *r;
    regs_t q = *r;
    r_set_arg(&q, 0, 0); r_set_arg(&q, 1, (unsigned long)SLOT_SIZE * NSLOTS + EXEC_AREA); r_set_arg(&q, 2, PROT_READ | PROT_WRITE);
    r_set_arg(&q, 3, MAP_PRIVATE | MAP_ANONYMOUS); r_set_arg(&q, 4, (unsigned long)-1); r_set_arg(&q, 5, 0);
    if (set_nr(p->pid, &q, SYS_mmap) != 0) { m->base = 1; return scratch(p, r, need); }
    p->pend = P_INJECT;
    resume(p->pid, 1);
    return 0;
  }
  if (m->base != 1 && need <= SLOT_SIZE) {
    if (p->slot < 0) {
      for (int i = 0; i < NSLOTS; i++) if (!m->used[i]) { m->used[i] = 1; p->slot = i; p->slot_owned = 1; break; }
    }
    if (p->slot >= 0) return m->base + (unsigned long)p->slot * SLOT_SIZE;
  }
  /* Below the red zone (x86_64: 128 bytes), 16-aligned. */
  return (R_SP(*r) - 256 - need) & ~15ul;
}

/* ---------- paths ---------- */
static int is_passthrough(const char *comp, size_t n) {
  return (n == 4 && memcmp(comp, "proc", 4) == 0) || (n == 3 && memcmp(comp, "dev", 3) == 0) || (n == 3 && memcmp(comp, "sys", 3) == 0);
}

/* ---------- emulated mounts (RUN --mount): a directory or file of the host seen at a path of the build root ---------- */
#define MAX_BINDS 64
static struct bind { char *guest, *host; size_t glen, hlen; int ro; } binds[MAX_BINDS];
static int nbinds;
/* The root the binds are made in: the first one run-in-root chroots into ("": the host's '/', container mode). */
static char *bind_root;

void chroot_add_bind(const char *host, const char *guest, int ro) {
  if (nbinds == MAX_BINDS) die("too many --bind");
  char g[PATH_MAX];
  snprintf(g, sizeof g, "/%s", guest + strspn(guest, "/"));
  size_t gl = strlen(g);
  while (gl > 1 && g[gl - 1] == '/') g[--gl] = '\0';
  struct bind *b = &binds[nbinds++];
  b->guest = strdup(g); b->host = strdup(host);
  if (b->guest == NULL || b->host == NULL) die("out of memory");
  b->glen = gl; b->hlen = strlen(host);
  b->ro = ro;
}
int chroot_has_binds(void) { return nbinds > 0; }
void chroot_binds_in_host_root(void) { bind_root = strdup(""); }

static int binds_apply(const char *root) { return nbinds > 0 && bind_root != NULL && strcmp(root, bind_root) == 0; }

/* The bind whose target holds guest path g (the longest), or NULL. */
static const struct bind *bind_of(const char *root, const char *g) {
  if (!binds_apply(root)) return NULL;
  const struct bind *best = NULL;
  for (int i = 0; i < nbinds; i++) {
    const struct bind *b = &binds[i];
    if (strncmp(g, b->guest, b->glen) == 0 && (g[b->glen] == '\0' || g[b->glen] == '/') && (best == NULL || b->glen > best->glen)) best = b;
  }
  return best;
}

/* Whether guest path g is a directory above a bind's target (a mountpoint's parents exist even when missing). */
static int holds_bind(const char *root, const char *g) {
  if (!binds_apply(root)) return 0;
  size_t n = strlen(g);
  for (int i = 0; i < nbinds; i++) if (binds[i].glen > n && strncmp(binds[i].guest, g, n) == 0 && binds[i].guest[n] == '/') return 1;
  return 0;
}

/* The host path of guest path g ("" is '/'): under a bind's source, or under root. */
static int host_of(const char *root, const char *g, char *out, size_t cap) {
  const struct bind *b = *g != '\0' ? bind_of(root, g) : NULL;
  int w = b != NULL ? snprintf(out, cap, "%s%s", b->host, g + b->glen) : snprintf(out, cap, "%s%s", root, *g == '\0' ? "/" : g);
  return w < 0 || (size_t)w >= cap ? -ENAMETOOLONG : 0;
}

/* A host path as the path inside `root` (binds first) in out; 0 when it is not under root. */
int inside(const char *root, const char *host, char *out, size_t cap) {
  if (binds_apply(root)) {
    for (int i = 0; i < nbinds; i++) {
      const struct bind *b = &binds[i];
      if (strncmp(host, b->host, b->hlen) == 0 && (host[b->hlen] == '\0' || host[b->hlen] == '/')) {
        snprintf(out, cap, "%s%s", b->guest, host + b->hlen);
        return 1;
      }
    }
  }
  size_t n = strlen(root);
  if (strncmp(host, root, n) != 0) return 0;
  if (host[n] == '\0') { snprintf(out, cap, "/"); return 1; }
  if (host[n] != '/') return 0;
  snprintf(out, cap, "%s", host + n);
  return 1;
}

/*
 * `path` inside `root`, relative to `base` (a path inside root) when not absolute, as a host path in `host`, and the
 * path inside root in `guest` (NULL: not wanted). 0, or -errno (ELOOP, ENAMETOOLONG, and what lstat says of a missing
 * or unsearchable directory on the way). *pass (when not NULL) is set when the path goes into /proc, /dev or /sys:
 * `host` is then the host's path, the rest after that component walked by the kernel.
 */
static int resolve_walk(const char *root, const char *base, const char *path, int follow, char *host, size_t cap, char *guest, size_t gcap, int *pass) {
  if (pass != NULL) *pass = 0;
  char g[PATH_MAX + 2];
  size_t gl = 0;
  g[0] = '\0';
  if (path[0] != '/' && base != NULL && strcmp(base, "/") != 0) {
    gl = strlen(base);
    if (gl >= sizeof g) return -ENAMETOOLONG;
    memcpy(g, base, gl + 1);
  }
  char rest[2 * PATH_MAX + 4];
  char tmp[2 * PATH_MAX + 4];
  size_t plen = strlen(path);
  if (plen >= PATH_MAX) return -ENAMETOOLONG;
  memcpy(rest, path, plen + 1);
  int dir_wanted = plen > 0 && path[plen - 1] == '/';
  int links = 0;
  size_t pos = 0;
  for (;;) {
    while (rest[pos] == '/') pos++;
    if (rest[pos] == '\0') break;
    size_t e = pos;
    while (rest[e] != '\0' && rest[e] != '/') e++;
    size_t n = e - pos, after = e;
    while (rest[after] == '/') after++;
    int last = rest[after] == '\0';
    const char *comp = rest + pos;
    if (n == 1 && comp[0] == '.') { pos = e; continue; }
    if (n == 2 && comp[0] == '.' && comp[1] == '.') {
      while (gl > 0 && g[gl - 1] != '/') gl--;
      if (gl > 0) gl--;
      g[gl] = '\0';
      pos = e;
      continue;
    }
    if (gl == 0 && is_passthrough(comp, n)) {
      if ((size_t)snprintf(host, cap, "/%.*s%s", (int)n, comp, rest + e) >= cap) return -ENAMETOOLONG;
      if (guest != NULL) snprintf(guest, gcap, "%s", host);
      if (pass != NULL) *pass = 1;
      return 0;
    }
    if (gl + 1 + n >= sizeof g - 1) return -ENAMETOOLONG;
    g[gl++] = '/';
    memcpy(g + gl, comp, n);
    gl += n;
    g[gl] = '\0';
    pos = e;
    if (last && !follow && !dir_wanted) break;
    char hp[PATH_MAX * 2 + 8];
    if (host_of(root, g, hp, sizeof hp) != 0) return -ENAMETOOLONG;
    struct stat st;
    if (lstat(hp, &st) != 0) {
      if (last) break; /* created by the call, or its error */
      if (holds_bind(root, g)) continue; /* a missing directory on the way to a mount's target */
      return -errno;
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > 40) return -ELOOP;
    char t[PATH_MAX];
    ssize_t tl = readlink(hp, t, sizeof t - 1);
    if (tl < 0) return -errno;
    t[tl] = '\0';
    /* the link's name goes; its target is walked from its directory (or from '/') */
    while (gl > 0 && g[gl - 1] != '/') gl--;
    if (gl > 0) gl--;
    g[gl] = '\0';
    if (t[0] == '/') { gl = 0; g[0] = '\0'; }
    int w = snprintf(tmp, sizeof tmp, "%s%s", t, rest + e);
    if (w < 0 || (size_t)w >= PATH_MAX * 2) return -ENAMETOOLONG;
    memcpy(rest, tmp, (size_t)w + 1);
    pos = 0;
  }
  if (guest != NULL) snprintf(guest, gcap, "%s", gl == 0 ? "/" : g);
  if (host_of(root, g, host, cap) != 0) return -ENAMETOOLONG;
  if (dir_wanted && gl > 0 && strlen(host) + 1 < cap) strcat(host, "/");
  return 0;
}

/*
 * Resolved directories, remembered: the directory part of most paths was walked before (every file of /usr/share…).
 * An entry holds while no directory or symlink was removed or renamed since (ns_gen), and none is being (a call in
 * flight: nothing is remembered then). Creations cannot change how an existing path resolves.
 */
#define DIR_CACHE 1024
static struct dirent_c { char *root, *dir, *resolved; unsigned long gen; } dir_cache[DIR_CACHE];
unsigned long ns_gen;
int ns_inflight;

static size_t str_hash(const char *a, const char *b) {
  uint64_t h = 1469598103934665603ull;
  for (; *a != '\0'; a++) h = (h ^ (unsigned char)*a) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (; *b != '\0'; b++) h = (h ^ (unsigned char)*b) * 1099511628211ull;
  return (size_t)(h ^ (h >> 31));
}

/* Whether a path needs the walk from its start: a '.' or '..' component, or /proc, /dev, /sys first. */
static int plain_dir(const char *d, size_t n) {
  if (n == 0) return 1;
  for (size_t i = 0; i < n; i++) {
    if (d[i] != '/' || (i + 1 < n && d[i + 1] == '/')) continue;
    const char *c = d + i + 1;
    size_t l = 0;
    while (i + 1 + l < n && c[l] != '/') l++;
    if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.')) return 0;
    if (i == 0 && is_passthrough(c, l)) return 0;
  }
  return 1;
}

/* `path` resolved inside root (see resolve_walk): its directory through the cache, then its last component. */
int resolve(const char *root, const char *base, const char *path, int follow, char *host, size_t cap, char *guest, size_t gcap, int *pass) {
  char full[PATH_MAX * 2 + 4];
  int w = path[0] == '/' || base == NULL ? snprintf(full, sizeof full, "%s", path) : snprintf(full, sizeof full, "%s/%s", strcmp(base, "/") == 0 ? "" : base, path);
  const char *slash = w > 0 && (size_t)w < sizeof full ? strrchr(full, '/') : NULL;
  if (slash == NULL || full[0] != '/' || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0 || !plain_dir(full, (size_t)(slash - full)))
    return resolve_walk(root, base, path, follow, host, cap, guest, gcap, pass);
  char dir[PATH_MAX * 2 + 4];
  memcpy(dir, full, (size_t)(slash - full));
  dir[slash - full] = '\0';
  struct dirent_c *c = &dir_cache[str_hash(root, dir) & (DIR_CACHE - 1)];
  const char *resolved = NULL;
  if (c->dir != NULL && c->gen == ns_gen && strcmp(c->dir, dir) == 0 && strcmp(c->root, root) == 0) resolved = c->resolved;
  char gdir[PATH_MAX + 2], hdir[PATH_MAX * 2 + 8];
  if (resolved == NULL) {
    int dpass = 0;
    int rc = resolve_walk(root, NULL, dir[0] == '\0' ? "/" : dir, 1, hdir, sizeof hdir, gdir, sizeof gdir, &dpass);
    if (rc < 0 || dpass) return resolve_walk(root, base, path, follow, host, cap, guest, gcap, pass);
    if (ns_inflight == 0) {
      free(c->root); free(c->dir); free(c->resolved);
      c->root = strdup(root); c->dir = strdup(dir); c->resolved = strdup(gdir); c->gen = ns_gen;
      if (c->root == NULL || c->dir == NULL || c->resolved == NULL) { free(c->root); free(c->dir); free(c->resolved); c->root = c->dir = c->resolved = NULL; }
    }
    resolved = gdir;
  }
  return resolve_walk(root, resolved, slash + 1, follow, host, cap, guest, gcap, pass);
}

/* The directory a relative path starts from (cwd or dirfd), as a path inside the root; NULL: not under the root
 * (an inherited descriptor, a pipe): the path is then given to the kernel unchanged. */
const char *base_of(struct proc *p, long dirfd, char *buf, size_t cap) {
  char link[64], host[PATH_MAX];
  if ((int)dirfd == AT_FDCWD) snprintf(link, sizeof link, "/proc/%d/cwd", p->pid);
  else snprintf(link, sizeof link, "/proc/%d/fd/%d", p->pid, (int)dirfd);
  ssize_t n = readlink(link, host, sizeof host - 1);
  if (n < 0) return NULL;
  host[n] = '\0';
  return inside(p->root, host, buf, cap) ? buf : NULL;
}

/* The tracee's path argument translated: R_HOST (host set), R_RAW (leave the argument alone), or -errno. */
static int translate(struct proc *p, long dirfd, unsigned long addr, int follow, int reads, char *host, size_t cap, char *guest, size_t gcap, int *pass) {
  char s[PATH_MAX];
  *pass = 0;
  if (addr == 0) return R_RAW;
  if (read_str(p->pid, addr, s, sizeof s) != 0) return -EFAULT;
  if (s[0] == '\0') return R_RAW; /* AT_EMPTY_PATH, or the kernel's ENOENT */
  /* One name in a directory the process holds (fts, find, cp -R walk so): the kernel's own lookup is the same,
   * unless it is '..' or a symlink that is followed. */
  if (s[0] != '/' && strchr(s, '/') == NULL && strcmp(s, "..") != 0) {
    if (!follow || strcmp(s, ".") == 0) return R_RAW;
    char probe[PATH_MAX + 64];
    struct stat st;
    if ((int)dirfd == AT_FDCWD) snprintf(probe, sizeof probe, "/proc/%d/cwd/%s", p->pid, s);
    else snprintf(probe, sizeof probe, "/proc/%d/fd/%d/%s", p->pid, (int)dirfd, s);
    if (lstat(probe, &st) != 0 || !S_ISLNK(st.st_mode)) return R_RAW;
  }
  char bbuf[PATH_MAX];
  const char *base = NULL;
  if (s[0] != '/') {
    base = base_of(p, dirfd, bbuf, sizeof bbuf);
    if (base == NULL) return R_RAW;
  }
  char gbuf[PATH_MAX + 2];
  int rc = resolve(p->root, base, s, follow, host, cap, gbuf, sizeof gbuf, pass);
  if (rc < 0) return rc;
  if (!*pass && !reads) {
    const struct bind *b = bind_of(p->root, gbuf);
    if (b != NULL && b->ro) return -EROFS;
  }
  if (!*pass && reads && (strcmp(gbuf, "/etc/resolv.conf") == 0 || strcmp(gbuf, "/etc/hosts") == 0) && access(gbuf, R_OK) == 0)
    snprintf(host, cap, "%s", gbuf);
  if (guest != NULL) snprintf(guest, gcap, "%s", gbuf);
  return R_HOST;
}

static int lookup(long nr) {
  for (size_t i = 0; i < sizeof pcalls / sizeof pcalls[0]; i++) if (pcalls[i].nr == nr) return (int)i;
  return -1;
}

static int follow_of(const struct pcall *c, struct proc *p, const regs_t *r) {
  unsigned long fl = c->flags >= 0 ? r_arg(r, c->flags) : 0;
  switch (c->follow) {
    case FOLLOW: return 1;
    case NOFOLLOW: return 0;
    case AT_NOFOLLOW_FLAG: return !(fl & AT_SYMLINK_NOFOLLOW);
    case AT_FOLLOW_FLAG: return (fl & AT_SYMLINK_FOLLOW) != 0;
    case OPEN_FLAGS: return !(fl & O_NOFOLLOW) && (fl & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
    case OPEN_HOW: {
      uint64_t f = 0;
      if (read_mem(p->pid, fl, &f, sizeof f) != 0) return 1;
      return !(f & O_NOFOLLOW) && (f & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
    }
    default: return 1;
  }
}

static int reads_of(const struct pcall *c, const regs_t *r) {
  if (c->follow == OPEN_FLAGS) return (r_arg(r, c->flags) & (O_ACCMODE | O_CREAT | O_TRUNC)) == O_RDONLY;
  return c->reads;
}

/* connect/bind of an AF_UNIX socket path (an ssh agent mounted into the root): the address made a host path. */
static int socket_entry(struct proc *p, regs_t *r, long nr) {
  unsigned long addr = r_arg(r, 1), len = r_arg(r, 2);
  struct sockaddr_un sun;
  if (addr == 0 || len <= offsetof(struct sockaddr_un, sun_path) + 1 || len > sizeof sun) return 0;
  memset(&sun, 0, sizeof sun);
  if (read_mem(p->pid, addr, &sun, len) != 0 || sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0') return 0; /* abstract: no path */
  char path[sizeof sun.sun_path + 1];
  memcpy(path, sun.sun_path, sizeof sun.sun_path);
  path[sizeof sun.sun_path] = '\0';
  char host[PATH_MAX * 2 + 8], bbuf[PATH_MAX];
  const char *base = NULL;
  if (path[0] != '/') { base = base_of(p, AT_FDCWD, bbuf, sizeof bbuf); if (base == NULL) return 0; }
  int pass = 0;
  int rc = resolve(p->root, base, path, nr == SYS_connect, host, sizeof host, NULL, 0, &pass);
  if (rc < 0) { emulate(p, r, rc); return 1; }
  if (strlen(host) >= sizeof sun.sun_path) { emulate(p, r, -ENAMETOOLONG); return 1; } /* the host path does not fit an address */
  memset(sun.sun_path, 0, sizeof sun.sun_path);
  memcpy(sun.sun_path, host, strlen(host));
  unsigned long base_addr = scratch(p, r, SLOT_SIZE);
  if (base_addr == 0) return 1;
  if (write_mem(p->pid, base_addr, &sun, sizeof sun) != 0) { emulate(p, r, -EFAULT); return 1; }
  r_set_arg(r, 1, base_addr);
  r_set_arg(r, 2, offsetof(struct sockaddr_un, sun_path) + strlen(host) + 1);
  set_regs(p->pid, r);
  resume(p->pid, 0);
  return 1;
}

static int is_removal(long nr, const regs_t *r) {
  (void)r;
#ifdef SYS_unlink
  if (nr == SYS_unlink || nr == SYS_rmdir || nr == SYS_rename) return 1;
#endif
  return nr == SYS_unlinkat || nr == SYS_renameat || nr == SYS_renameat2;
}

/* Whether the node a removal or rename names is a directory or a symlink (what resolutions go through). */
static int changes_tree(struct proc *p, int rc, const char *host, long dirfd, unsigned long addr) {
  struct stat st;
  if (rc == R_HOST) return lstat(host, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode));
  char s[PATH_MAX], probe[PATH_MAX + 64];
  if (addr == 0 || read_str(p->pid, addr, s, sizeof s) != 0) return 1;
  if (s[0] == '/') snprintf(probe, sizeof probe, "%s", s);
  else if ((int)dirfd == AT_FDCWD) snprintf(probe, sizeof probe, "/proc/%d/cwd/%s", p->pid, s);
  else snprintf(probe, sizeof probe, "/proc/%d/fd/%d/%s", p->pid, (int)dirfd, s);
  return lstat(probe, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode));
}

/* The paths just written into a tracee: the fake root's handlers read them back without a process_vm_readv. */
static struct { pid_t pid; unsigned long addr; char path[PATH_MAX * 2 + 8]; } stashed[2];
static void stash(int i, pid_t pid, unsigned long addr, const char *path) {
  stashed[i].pid = pid;
  stashed[i].addr = addr;
  snprintf(stashed[i].path, sizeof stashed[i].path, "%s", path);
}
int chroot_stashed(pid_t pid, unsigned long addr, char *out, size_t cap) {
  for (int i = 0; i < 2; i++) {
    if (stashed[i].pid != pid || stashed[i].addr != addr || stashed[i].path[0] == '\0') continue;
    if (strlen(stashed[i].path) >= cap) return 0;
    memcpy(out, stashed[i].path, strlen(stashed[i].path) + 1);
    return 1;
  }
  return 0;
}

/* ---------- entry points ---------- */
int chroot_entry(struct proc *p, regs_t *r, long nr) {
  stashed[0].path[0] = stashed[1].path[0] = '\0';
  if (p->root == NULL) return 0;
  if (nr == SYS_execve || nr == SYS_execveat) return exec_entry(p, r, nr);
  if (nr == SYS_connect || nr == SYS_bind) return socket_entry(p, r, nr);
  if (nr == SYS_getcwd) { p->addr = r_arg(r, 0); p->addr2 = r_arg(r, 1); p->pend = P_GETCWD; resume(p->pid, 1); return 1; }
  int i = lookup(nr);
  if (i < 0) return 0;
  const struct pcall *c = &pcalls[i];
  char h1[PATH_MAX * 2 + 8], h2[PATH_MAX * 2 + 8];
  int rc1 = R_RAW, rc2 = R_RAW, pass1 = 0, pass2 = 0;
  if (c->path >= 0) {
    long dfd = c->dirfd >= 0 ? (long)r_arg(r, c->dirfd) : AT_FDCWD;
    rc1 = translate(p, dfd, r_arg(r, c->path), follow_of(c, p, r), reads_of(c, r), h1, sizeof h1, NULL, 0, &pass1);
    if (rc1 < 0) { emulate(p, r, rc1); return 1; }
  }
  if (c->path2 >= 0) {
    long dfd = c->dirfd2 >= 0 ? (long)r_arg(r, c->dirfd2) : AT_FDCWD;
    rc2 = translate(p, dfd, r_arg(r, c->path2), 0, 0, h2, sizeof h2, NULL, 0, &pass2);
    if (rc2 < 0) { emulate(p, r, rc2); return 1; }
  }
  if (rc1 == R_HOST || rc2 == R_HOST) {
    unsigned long base = scratch(p, r, SLOT_SIZE);
    if (base == 0) return 1; /* the scratch mapping is being made: the call restarts */
    if (rc1 == R_HOST) {
      if (write_mem(p->pid, base, h1, strlen(h1) + 1) != 0) { emulate(p, r, -EFAULT); return 1; }
      r_set_arg(r, c->path, base);
      stash(0, p->pid, base, h1);
    }
    if (rc2 == R_HOST) {
      if (write_mem(p->pid, base + SLOT_SIZE / 2, h2, strlen(h2) + 1) != 0) { emulate(p, r, -EFAULT); return 1; }
      r_set_arg(r, c->path2, base + SLOT_SIZE / 2);
      stash(1, p->pid, base + SLOT_SIZE / 2, h2);
    }
    set_regs(p->pid, r);
  }
  /* A directory or symlink removed or renamed: remembered resolutions go, and none is made until the call is done. */
  if (is_removal(nr, r) && (changes_tree(p, rc1, h1, c->dirfd >= 0 ? (long)r_arg(r, c->dirfd) : AT_FDCWD, r_arg(r, c->path))
                            || (c->path2 >= 0 && changes_tree(p, rc2, h2, c->dirfd2 >= 0 ? (long)r_arg(r, c->dirfd2) : AT_FDCWD, r_arg(r, c->path2))))) {
    p->ns_change = 1;
    ns_inflight++;
    ns_gen++;
  }
  /* readlink of /proc/<pid>/{cwd,exe,root,fd/N}: the kernel answers with a host path, made one inside the root */
  int is_readlink = nr == SYS_readlinkat;
#ifdef SYS_readlink
  is_readlink |= nr == SYS_readlink;
#endif
  if (is_readlink && pass1 && strncmp(h1, "/proc/", 6) == 0) {
    const char *q = h1 + 6;
    struct proc *o = p;
    if (strncmp(q, "self/", 5) == 0) q += 5;
    else if (strncmp(q, "thread-self/", 12) == 0) q += 12;
    else {
      char *end;
      long n = strtol(q, &end, 10);
      if (end == q || *end != '/') return 0;
      o = proc_find((pid_t)n);
      q = end + 1;
    }
    if (o == NULL || o->root == NULL) return 0;
    int a = nr == SYS_readlinkat ? 1 : 0;
    p->addr = r_arg(r, a + 1);
    p->addr2 = r_arg(r, a + 2);
    p->link_pid = o->pid;
    snprintf(p->path, sizeof p->path, "%s", strcmp(q, "exe") == 0 && o->exe != NULL ? o->exe : strcmp(q, "root") == 0 ? "/" : "");
    p->pend = P_READLINK;
    resume(p->pid, 1);
    return 1;
  }
  return 0;
}

int chroot_exit(struct proc *p, enum pend pend) {
  regs_t r;
  if (pend == P_EXEC_AREA) { exec_area_done(p); return 1; }
  if (pend == P_INJECT) {
    if (get_regs(p->pid, &r) != 0) return 1;
    long ret = (long)R_RET(r);
    if (p->mm != NULL) p->mm->base = ret < 0 && ret > -4096 ? 1 : (unsigned long)ret;
    r = p->saved;
    restart_regs(&r);
    set_regs(p->pid, &r);
    return 1;
  }
  if (pend != P_GETCWD && pend != P_READLINK) return 0;
  if (get_regs(p->pid, &r) != 0) return 1;
  long ret = (long)R_RET(r);
  if (ret <= 0) return 1;
  char buf[PATH_MAX * 2 + 8];
  if (pend == P_GETCWD) {
    size_t n = (size_t)ret < sizeof buf ? (size_t)ret : sizeof buf - 1;
    if (read_mem(p->pid, p->addr, buf, n) != 0) return 1;
    buf[n] = '\0';
    char out[PATH_MAX + 2];
    if (!inside(p->root, buf, out, sizeof out)) return 1;
    size_t l = strlen(out) + 1;
    write_mem(p->pid, p->addr, out, l);
    R_RET(r) = l;
    set_regs(p->pid, &r);
    return 1;
  }
  /* P_READLINK: p->path holds the answer when known here (exe, root); else the host path read back is mapped */
  size_t cap = p->addr2;
  char out[PATHBUF];
  if (p->path[0] != '\0') snprintf(out, sizeof out, "%s", p->path);
  else {
    size_t n = (size_t)ret < sizeof buf ? (size_t)ret : sizeof buf - 1;
    if (read_mem(p->pid, p->addr, buf, n) != 0) return 1;
    buf[n] = '\0';
    struct proc *o = proc_find(p->link_pid);
    if (o == NULL || o->root == NULL || !inside(o->root, buf, out, sizeof out)) return 1;
  }
  size_t l = strlen(out);
  if (l > cap) l = cap;
  write_mem(p->pid, p->addr, out, l);
  R_RET(r) = l;
  set_regs(p->pid, &r);
  return 1;
}

/* chroot(2), trapped: the process's root becomes the directory (translated through its current root). */
void chroot_call(struct proc *p, regs_t *r) {
  char s[PATH_MAX], host[PATH_MAX * 2 + 8];
  long ret = 0;
  int pass = 0;
  if (p->c.euid != 0) ret = -EPERM;
  else if (read_str(p->pid, r_arg(r, 0), s, sizeof s) != 0) ret = -EFAULT;
  else if (p->root == NULL) {
    if (realpath(s, host) == NULL) ret = -errno;
  } else {
    char bbuf[PATH_MAX];
    const char *base = s[0] == '/' ? NULL : base_of(p, AT_FDCWD, bbuf, sizeof bbuf);
    ret = resolve(p->root, base, s, 1, host, sizeof host, NULL, 0, &pass);
    if (ret == 0 && pass) ret = -EPERM;
  }
  struct stat st;
  if (ret == 0) {
    if (stat(host, &st) != 0) ret = -errno;
    else if (!S_ISDIR(st.st_mode)) ret = -ENOTDIR;
  }
  if (ret == 0) {
    size_t l = strlen(host);
    while (l > 1 && host[l - 1] == '/') host[--l] = '\0';
    free(p->root);
    p->root = strcmp(host, "/") == 0 ? NULL : strdup(host);
    /* run-in-root's chroot into the build root: the RUN's mounts are made there */
    if (nbinds > 0 && bind_root == NULL && p->root != NULL) bind_root = strdup(p->root);
  }
  R_RET(*r) = (unsigned long)ret;
  set_regs(p->pid, r);
}

void chroot_fork(struct proc *parent, struct proc *kid, int event) {
  free(kid->root); free(kid->exe);
  kid->root = parent->root != NULL ? strdup(parent->root) : NULL;
  kid->exe = parent->exe != NULL ? strdup(parent->exe) : NULL;
  mm_release(kid);
  if (parent->mm == NULL) return;
  int shares = event == PTRACE_EVENT_VFORK;
  if (event == PTRACE_EVENT_CLONE) {
    regs_t r;
    unsigned long flags = 0;
    if (get_regs(parent->pid, &r) == 0) {
      if ((long)R_NR(r) == SYS_clone) flags = r_arg(&r, 0);
      else { uint64_t f = 0; if (read_mem(parent->pid, r_arg(&r, 0), &f, sizeof f) == 0) flags = f; }
    }
    shares = (flags & CLONE_VM) != 0;
  }
  if (shares) {
    kid->mm = parent->mm;
    kid->mm->refs++;
    /* vfork: the parent waits until the child execs or exits, so its slot is free for the child */
    if (event == PTRACE_EVENT_VFORK && parent->slot >= 0) { kid->slot = parent->slot; kid->slot_owned = 0; }
    else kid->slot = -1;
  } else {
    /* a copy of the address space: the mapping is there, at the same address */
    kid->mm = mm_new(parent->mm->base);
    kid->slot = parent->slot;
    kid->slot_owned = parent->slot >= 0;
    if (kid->slot >= 0) kid->mm->used[kid->slot] = 1;
  }
}

void chroot_exec(struct proc *p) {
  mm_release(p);
  if (p->exe_next != NULL) { free(p->exe); p->exe = p->exe_next; p->exe_next = NULL; }
}

void chroot_drop(struct proc *p) {
  exec_area_done(p);
  mm_release(p);
  free(p->root); free(p->exe); free(p->exe_next);
  p->root = p->exe = p->exe_next = NULL;
}
