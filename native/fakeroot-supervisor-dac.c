/*
 * Permission checks for a fake non-root user (RUN under USER app, or after su/setpriv inside a RUN). Every file of
 * the build root belongs to the build user on disk, so the kernel never refuses the command anything; here each
 * open, access, chdir, exec, creation and removal of a node of the root is checked against the owner and mode the
 * command sees (the ownership table, or the disk with the build user read as root), as the kernel would for those
 * credentials: EACCES, or EPERM for the sticky-directory rule. A fake root passes, as root (no capabilities dropped).
 * Not checked: search (x) permission of each directory on the way, and nodes on other devices (/proc, /dev, /sys,
 * mount sources elsewhere).
 */
#include "fakeroot-supervisor.h"

#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif

/* Whether the node allows `want` (4 read, 2 write, 1 execute/search) to these credentials. */
static int permits(const struct creds *c, const struct stat *st, int want, int real) {
  uint32_t uid, gid, mode;
  fake_owner(st, &uid, &gid, &mode);
  uint32_t me = real ? c->ruid : c->fsuid;
  if (me == 0) return !(want & 1) || S_ISDIR(st->st_mode) || (mode & 0111) != 0;
  unsigned bits = me == uid ? mode >> 6 : in_group_of(c, real ? c->rgid : c->fsgid, gid) ? mode >> 3 : mode;
  return (bits & (unsigned)want & 7u) == ((unsigned)want & 7u);
}

/* The node at a path the supervisor can use, when it is one of the root's (same device as the root). */
static int node_of(struct proc *p, const char *path, int follow, struct stat *st) {
  if (fstatat(AT_FDCWD, path, st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) return 0;
  struct stat rst;
  if (stat(p->root != NULL ? p->root : "/", &rst) != 0) return 0;
  return st->st_dev == rst.st_dev;
}

static void parent_of(const char *path, char *out, size_t cap) {
  snprintf(out, cap, "%s", path);
  size_t n = strlen(out);
  while (n > 1 && out[n - 1] == '/') out[--n] = '\0';
  char *slash = strrchr(out, '/');
  if (slash == NULL) snprintf(out, cap, ".");
  else if (slash == out) out[1] = '\0';
  else *slash = '\0';
}

/* Creating or removing the name `path`: write and search on its directory; removing from a sticky directory: the
 * owner of the node or of the directory only. 0, or -errno. */
static int may_change_name(struct proc *p, const char *path, int removing) {
  char dir[PATHBUF];
  parent_of(path, dir, sizeof dir);
  struct stat dst;
  if (!node_of(p, dir, 1, &dst)) return 0;
  if (!permits(&p->c, &dst, 3, 0)) return -EACCES;
  if (!removing) return 0;
  uint32_t duid, dgid, dmode;
  fake_owner(&dst, &duid, &dgid, &dmode);
  struct stat st;
  if ((dmode & S_ISVTX) && p->c.fsuid != 0 && node_of(p, path, 0, &st)) {
    uint32_t uid, gid, mode;
    fake_owner(&st, &uid, &gid, &mode);
    if (uid != p->c.fsuid && duid != p->c.fsuid) return -EPERM;
  }
  return 0;
}

/* The path argument `i` (with dirfd argument `d`, -1: AT_FDCWD) as a path the supervisor can use. */
static int arg_path(struct proc *p, const regs_t *r, int d, int i, char *out, size_t cap) {
  int is_fd = 0;
  if (r_arg(r, i) == 0) return -1;
  if (tracee_path(p->pid, d < 0 ? AT_FDCWD : (long)r_arg(r, d), r_arg(r, i), out, cap, &is_fd) != 0 || is_fd) return -1;
  return 0;
}

int dac_entry(struct proc *p, regs_t *r, long nr) {
  const struct creds *c = &p->c;
  if (c->fsuid == 0 && c->ruid == 0) return 0;
  char path[PATHBUF], path2[PATHBUF];
  struct stat st;
  long ret = 0;
  int d = -1, i = -1;
  unsigned long flags = 0;
#ifdef SYS_open
  if (nr == SYS_open || nr == SYS_creat) { i = 0; flags = nr == SYS_creat ? O_CREAT | O_WRONLY | O_TRUNC : r_arg(r, 1); }
#endif
  if (nr == SYS_openat) { d = 0; i = 1; flags = r_arg(r, 2); }
  if (nr == SYS_openat2) { uint64_t f = 0; if (read_mem(p->pid, r_arg(r, 2), &f, sizeof f) != 0) return 0; d = 0; i = 1; flags = f; }
  if (i >= 0) {
    if (c->fsuid == 0 || (flags & O_PATH) || arg_path(p, r, d, i, path, sizeof path) != 0) return 0;
    int follow = !(flags & O_NOFOLLOW);
    if (node_of(p, path, follow, &st)) {
      if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return 0; /* EEXIST: the kernel's */
      int acc = (int)(flags & O_ACCMODE);
      int want = (acc == O_RDONLY ? 4 : acc == O_WRONLY ? 2 : 6) | ((flags & O_TRUNC) ? 2 : 0);
      if (S_ISLNK(st.st_mode)) return 0;
      if (!permits(c, &st, want, 0)) ret = -EACCES;
    } else if ((flags & O_CREAT) && errno == ENOENT) ret = may_change_name(p, path, 0);
  }
  int ai = -1, ad = -1, amode = 0, real = 1;
#ifdef SYS_access
  if (nr == SYS_access) { ai = 0; amode = (int)r_arg(r, 1); }
#endif
  if (nr == SYS_faccessat) { ad = 0; ai = 1; amode = (int)r_arg(r, 2); }
  if (nr == SYS_faccessat2) { ad = 0; ai = 1; amode = (int)r_arg(r, 2); real = !(r_arg(r, 3) & AT_EACCESS); }
  if (ai >= 0 && amode != 0 && (real ? c->ruid : c->fsuid) != 0 && arg_path(p, r, ad, ai, path, sizeof path) == 0 && node_of(p, path, 1, &st)) {
    if (!permits(c, &st, amode & 7, real)) ret = -EACCES;
  }
  if (nr == SYS_chdir && c->fsuid != 0 && arg_path(p, r, -1, 0, path, sizeof path) == 0 && node_of(p, path, 1, &st) && S_ISDIR(st.st_mode)) {
    if (!permits(c, &st, 1, 0)) ret = -EACCES;
  }
  /* names made or removed */
  int mk = -1, mkd = -1, rm = -1, rmd = -1;
#ifdef SYS_mkdir
  if (nr == SYS_mkdir || nr == SYS_mknod) mk = 0;
  if (nr == SYS_symlink) mk = 1;
  if (nr == SYS_link) mk = 1;
  if (nr == SYS_unlink || nr == SYS_rmdir) rm = 0;
  if (nr == SYS_rename) { rm = 0; mk = 1; }
#endif
  if (nr == SYS_mkdirat || nr == SYS_mknodat) { mkd = 0; mk = 1; }
  if (nr == SYS_symlinkat) { mkd = 1; mk = 2; }
  if (nr == SYS_linkat) { mkd = 2; mk = 3; }
  if (nr == SYS_unlinkat) { rmd = 0; rm = 1; }
  if (nr == SYS_renameat || nr == SYS_renameat2) { rmd = 0; rm = 1; mkd = 2; mk = 3; }
  if (c->fsuid != 0 && ret == 0) {
    if (rm >= 0 && arg_path(p, r, rmd, rm, path, sizeof path) == 0) ret = may_change_name(p, path, 1);
    if (ret == 0 && mk >= 0 && arg_path(p, r, mkd, mk, path2, sizeof path2) == 0) {
      struct stat tst;
      /* rename onto an existing name removes it */
      int exists = fstatat(AT_FDCWD, path2, &tst, AT_SYMLINK_NOFOLLOW) == 0;
      ret = may_change_name(p, path2, rm >= 0 && exists);
    }
  }
  if (ret == 0) return 0;
  emulate(p, r, ret);
  return 1;
}

/* execve inside the emulated root: the program (or script) needs execute permission for the fake user. */
int dac_exec(struct proc *p, const char *host) {
  struct stat st;
  if (p->c.fsuid == 0 || !node_of(p, host, 1, &st)) return 0;
  return permits(&p->c, &st, 1, 0) ? 0 : -EACCES;
}
