/*
 * fakeroot-supervisor: run one command as a fake root, with no privilege at all (issue 19: a Pod under Pod
 * Security Standards "Restricted": a non-root uid, no capabilities, no_new_privs, the RuntimeDefault seccomp
 * profile). In container mode the command runs in '/' of the executor's own container, whose files the build
 * user owns: only the credentials and the owners/modes/devices the filesystem cannot hold are emulated. With
 * --chroot (--root-dir builds) run-in-root's chroot(2) is emulated too: fakeroot-supervisor-chroot.c.
 *
 * Usage:
 *   fakeroot-supervisor [--table-in FILE] [--table-out FILE] [--stats FILE] [--error-fd N] [--chroot | --permissions]
 *                       [--bind HOST TARGET ro|rw]... -- ARGV...
 *
 * The command is forked under ptrace (PTRACE_TRACEME), with a seccomp-bpf filter that returns SECCOMP_RET_TRACE
 * only for the calls that matter; forks, vforks, clones and execs are followed; static binaries are covered
 * (nothing is preloaded). Emulated:
 *   get[e]uid/get[e]gid/getres[ug]id/getgroups  the fake credentials (0 at start; run-in-root then sets USER's)
 *   set[res/re]uid/gid, setgroups, setfs[ug]id  succeed by the kernel's rules for root/non-root on the fake ids
 *   chown/fchown/lchown/fchownat               the real call runs with -1,-1 (path checks, errors, ctime); the
 *                                              owner is recorded by (dev, inode); setuid/setgid dropped as Linux
 *   chmod/fchmod/fchmodat(2)                   the full mode recorded; on disk the bits without setuid/setgid/
 *                                              sticky, the owner's rw (and x for directories) added
 *   mknod/mknodat of char/block devices        an empty regular file, the device recorded
 *   creat/open(O_CREAT)/mkdir/symlink/mknod    under a fake non-zero fsuid/fsgid, or in a directory recorded setgid:
 *                                              the new node's owner recorded (the directory's group; mkdir: its bit)
 *   stat/lstat/fstat/newfstatat/statx          the result rewritten in the tracee's memory from the table (no
 *                                              record: the build user's uid/gid read as 0)
 *   unlink/unlinkat/rmdir/rename*              the record of a node whose last name goes is dropped
 *   mount/umount2/chroot/pivot_root            SECCOMP_RET_TRAP (outranks a container profile's ERRNO): EPERM, and
 *                                              the supervisor then exits 125 naming the call
 *
 * --table-in: records "uid gid mode kind major minor path", each ended by a NUL (kind '-', 'c' or 'b'); the
 * supervisor lstat's each path to key it by (dev, inode). --table-out: at exit, one line per live record:
 * "dev ino uid gid mode kind major minor". Exit status: the command's (128+N for signal N); 125 on a setup
 * failure or a refused call (message on stderr and on --error-fd). --stats: "syscall-number count" per traced call
 * (bench/rootless-run.ts: where the supervisor's time goes).
 */
#include "fakeroot-supervisor.h"

int error_fd = -1;

void die(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "fakeroot-supervisor: %s\n", msg);
  if (error_fd >= 0) dprintf(error_fd, "%s\n", msg);
  exit(EXIT_SETUP);
}

/* ---------- the ownership table: (dev, inode) → owner, mode, device ---------- */
struct rec {
  uint64_t dev, ino;
  uint32_t uid, gid, mode; /* mode: 07777 */
  char kind;               /* 0: none, 'c', 'b' */
  uint32_t major, minor;
  int used;                /* 1 live, 2 deleted */
};
static struct rec *table;
static size_t table_cap, table_used;

static size_t hash_key(uint64_t dev, uint64_t ino) {
  uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ (dev + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  return (size_t)(h ^ (h >> 29));
}

static void table_grow(void);
static struct rec *rec_find(uint64_t dev, uint64_t ino) {
  if (table_cap == 0) return NULL;
  for (size_t i = hash_key(dev, ino) & (table_cap - 1);; i = (i + 1) & (table_cap - 1)) {
    struct rec *r = &table[i];
    if (r->used == 0) return NULL;
    if (r->used == 1 && r->dev == dev && r->ino == ino) return r;
  }
}
static struct rec *rec_put(uint64_t dev, uint64_t ino) {
  struct rec *r = rec_find(dev, ino);
  if (r != NULL) return r;
  if ((table_used + 1) * 2 > table_cap) table_grow();
  size_t i = hash_key(dev, ino) & (table_cap - 1);
  while (table[i].used == 1) i = (i + 1) & (table_cap - 1);
  if (table[i].used == 0) table_used++;
  r = &table[i];
  memset(r, 0, sizeof *r);
  r->used = 1;
  r->dev = dev;
  r->ino = ino;
  return r;
}
static void table_grow(void) {
  struct rec *old = table;
  size_t old_cap = table_cap;
  table_cap = table_cap == 0 ? 4096 : table_cap * 2;
  table = calloc(table_cap, sizeof *table);
  if (table == NULL) die("out of memory");
  table_used = 0;
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i].used != 1) continue;
    struct rec *r = rec_put(old[i].dev, old[i].ino);
    *r = old[i];
  }
  free(old);
}

static uid_t real_uid;
static gid_t real_gid;
/* Some directory's record has the setgid bit: creations then look at their parent's record. */
static int any_setgid_dir;

/* A record for the node `st` describes, created from the disk when there is none (the build user reads as 0). */
static struct rec *rec_for(const struct stat *st) {
  struct rec *r = rec_find(st->st_dev, st->st_ino);
  if (r != NULL) return r;
  r = rec_put(st->st_dev, st->st_ino);
  r->uid = st->st_uid == real_uid ? 0 : st->st_uid;
  r->gid = st->st_gid == real_gid ? 0 : st->st_gid;
  r->mode = st->st_mode & 07777;
  return r;
}

/* The owner and mode the command sees for a node: its record, or the disk with the build user read as root. */
void fake_owner(const struct stat *st, uint32_t *uid, uint32_t *gid, uint32_t *mode) {
  const struct rec *r = rec_find(st->st_dev, st->st_ino);
  if (r != NULL) { *uid = r->uid; *gid = r->gid; *mode = r->mode; return; }
  *uid = st->st_uid == real_uid ? 0 : st->st_uid;
  *gid = st->st_gid == real_gid ? 0 : st->st_gid;
  *mode = st->st_mode & 07777;
}

static void load_table(const char *file) {
  FILE *f = fopen(file, "r");
  if (f == NULL) die("cannot open %s: %s", file, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getdelim(&line, &cap, '\0', f)) > 0) {
    unsigned uid, gid, mode, major, minor;
    char kind;
    int off = 0;
    if (sscanf(line, "%u %u %o %c %u %u %n", &uid, &gid, &mode, &kind, &major, &minor, &off) < 6 || off == 0) continue;
    struct stat st;
    if (lstat(line + off, &st) != 0) continue;
    struct rec *r = rec_put(st.st_dev, st.st_ino);
    r->uid = uid; r->gid = gid; r->mode = mode & 07777;
    r->kind = kind == 'c' || kind == 'b' ? kind : 0;
    r->major = major; r->minor = minor;
    if (S_ISDIR(st.st_mode) && (mode & S_ISGID)) any_setgid_dir = 1;
  }
  free(line);
  fclose(f);
}

static void save_table(const char *file) {
  char tmp[PATHBUF];
  snprintf(tmp, sizeof tmp, "%s.tmp", file);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) die("cannot write %s: %s", tmp, strerror(errno));
  for (size_t i = 0; i < table_cap; i++) {
    const struct rec *r = &table[i];
    if (r->used != 1) continue;
    fprintf(f, "%llu %llu %u %u %o %c %u %u\n", (unsigned long long)r->dev, (unsigned long long)r->ino, r->uid, r->gid, r->mode,
            r->kind == 0 ? '-' : r->kind, r->major, r->minor);
  }
  if (fclose(f) != 0 || rename(tmp, file) != 0) die("cannot write %s: %s", file, strerror(errno));
}

static struct proc *procs;
static size_t nprocs, procs_cap;

struct proc *proc_find(pid_t pid) {
  for (size_t i = 0; i < nprocs; i++) if (procs[i].used && procs[i].pid == pid) return &procs[i];
  return NULL;
}
static struct proc *proc_new(pid_t pid) {
  struct proc *p = NULL;
  for (size_t i = 0; i < nprocs; i++) if (!procs[i].used) { p = &procs[i]; break; }
  if (p == NULL) {
    if (nprocs == procs_cap) {
      size_t cap = procs_cap == 0 ? 64 : procs_cap * 2;
      struct proc *np = realloc(procs, cap * sizeof *np);
      if (np == NULL) die("out of memory");
      procs = np;
      procs_cap = cap;
    }
    p = &procs[nprocs++];
  }
  memset(p, 0, sizeof *p);
  p->used = 1;
  p->pid = pid;
  p->slot = -1;
  return p;
}
static void proc_drop(pid_t pid) {
  struct proc *p = proc_find(pid);
  if (p != NULL) {
    if (p->ns_change) { p->ns_change = 0; ns_inflight--; ns_gen++; }
    chroot_drop(p);
    p->used = 0;
  }
}

/* ---------- tracee memory ---------- */
int read_mem(pid_t pid, unsigned long addr, void *buf, size_t len) {
  struct iovec local = { buf, len }, remote = { (void *)addr, len };
  return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}
int write_mem(pid_t pid, unsigned long addr, const void *buf, size_t len) {
  struct iovec local = { (void *)buf, len }, remote = { (void *)addr, len };
  if (process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len) return 0;
  /* Read-only mapping (rare): poke word by word. */
  const unsigned char *b = buf;
  for (size_t off = 0; off < len; off += sizeof(long)) {
    long word;
    size_t n = len - off < sizeof(long) ? len - off : sizeof(long);
    if (n < sizeof(long)) {
      errno = 0;
      word = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + off), 0);
      if (errno != 0) return -1;
    }
    memcpy(&word, b + off, n);
    if (ptrace(PTRACE_POKEDATA, pid, (void *)(addr + off), (void *)word) != 0) return -1;
  }
  return 0;
}
/* A NUL-terminated string of the tracee, read page by page (the string may end just before an unmapped page). */
int read_str(pid_t pid, unsigned long addr, char *out, size_t cap) {
  if (chroot_mode && chroot_stashed(pid, addr, out, cap)) return 0;
  size_t got = 0;
  while (got < cap - 1) {
    size_t page_left = 4096 - ((addr + got) & 4095);
    size_t n = page_left < cap - 1 - got ? page_left : cap - 1 - got;
    struct iovec local = { out + got, n }, remote = { (void *)(addr + got), n };
    ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (r <= 0) return -1;
    void *nul = memchr(out + got, '\0', (size_t)r);
    if (nul != NULL) return 0;
    got += (size_t)r;
  }
  out[cap - 1] = '\0';
  return 0;
}

/*
 * The tracee's path (dirfd, string at addr) as one the supervisor can use: '/' is the same for both (container
 * mode); a relative path goes through /proc/<pid>/cwd or /proc/<pid>/fd/<dirfd>; an empty one (AT_EMPTY_PATH) is
 * the fd itself (*follow set: /proc/<pid>/fd/N must be followed).
 */
int tracee_path(pid_t pid, long dirfd, unsigned long addr, char *out, size_t cap, int *is_fd) {
  char s[PATH_MAX];
  *is_fd = 0;
  if (read_str(pid, addr, s, sizeof s) != 0) return -1;
  if (s[0] == '/') { snprintf(out, cap, "%s", s); return 0; }
  if ((int)dirfd == AT_FDCWD) {
    if (s[0] == '\0') { snprintf(out, cap, "/proc/%d/cwd", pid); *is_fd = 1; }
    else snprintf(out, cap, "/proc/%d/cwd/%s", pid, s);
  } else {
    if (s[0] == '\0') { snprintf(out, cap, "/proc/%d/fd/%d", pid, (int)dirfd); *is_fd = 1; }
    else snprintf(out, cap, "/proc/%d/fd/%d/%s", pid, (int)dirfd, s);
  }
  return 0;
}
static void fd_path(pid_t pid, long fd, char *out, size_t cap) { snprintf(out, cap, "/proc/%d/fd/%d", pid, (int)fd); }

static mode_t tracee_umask(pid_t pid) {
  char file[64], line[256];
  snprintf(file, sizeof file, "/proc/%d/status", pid);
  FILE *f = fopen(file, "r");
  mode_t m = 022;
  if (f == NULL) return m;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned v;
    if (sscanf(line, "Umask: %o", &v) == 1) { m = (mode_t)v; break; }
  }
  fclose(f);
  return m;
}

/* ---------- the seccomp filter ---------- */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

static const long traced[] = {
  SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid, SYS_getresuid, SYS_getresgid, SYS_getgroups,
  SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setresuid, SYS_setresgid, SYS_setgroups, SYS_setfsuid, SYS_setfsgid,
  SYS_fchown, SYS_fchownat, SYS_fchmod, SYS_fchmodat, SYS_fchmodat2, SYS_mknodat, SYS_fstat, SYS_newfstatat, SYS_statx,
  SYS_unlinkat, SYS_renameat, SYS_renameat2, SYS_mkdirat, SYS_symlinkat,
#ifdef SYS_chown
  SYS_chown, SYS_lchown, SYS_chmod, SYS_mknod, SYS_stat, SYS_lstat, SYS_unlink, SYS_rmdir, SYS_rename, SYS_mkdir, SYS_symlink, SYS_creat,
#endif
};

/* What a non-root build cannot allow: SECCOMP_RET_TRAP, which outranks the container profile's ERRNO (TRACE does not),
 * so the supervisor sees the call as a SIGSYS stop even under RuntimeDefault. */
static const long trapped[] = { SYS_mount, SYS_umount2, SYS_chroot, SYS_pivot_root };

static void install_filter(void) {
  struct sock_filter f[256];
  enum { L_NONE, L_TRACE, L_TRAP, L_OPENAT, L_OPEN };
  unsigned char fix[256] = { 0 };
  unsigned n = 0;
#define ADD(code, k, jt, jf) (f[n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf))
  ADD(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
  /* A foreign ABI (i386 on x86_64) is not translated. */
  ADD(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0);
  ADD(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
  ADD(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
  for (size_t i = 0; i < sizeof traced / sizeof traced[0]; i++) { fix[n] = L_TRACE; ADD(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)traced[i], 0, 0); }
  /* --chroot: every call that takes a path (the emulated root translates it), exec and getcwd */
  for (size_t i = 0; chroot_mode && i < chroot_ntraced; i++) { fix[n] = L_TRACE; ADD(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)chroot_traced[i], 0, 0); }
  for (size_t i = 0; i < sizeof trapped / sizeof trapped[0]; i++) { fix[n] = L_TRAP; ADD(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)trapped[i], 0, 0); }
  /* openat (and open) trap only with O_CREAT: their checks below. */
  fix[n] = L_OPENAT; ADD(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 0);
#ifdef SYS_open
  fix[n] = L_OPEN; ADD(BPF_JMP | BPF_JEQ | BPF_K, SYS_open, 0, 0);
#endif
  ADD(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
  unsigned trace_at = n;
  ADD(BPF_RET | BPF_K, SECCOMP_RET_TRACE, 0, 0);
  unsigned trap_at = n;
  ADD(BPF_RET | BPF_K, SECCOMP_RET_TRAP, 0, 0);
  unsigned openat_at = n;
  ADD(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2), 0, 0);
  ADD(BPF_JMP | BPF_JSET | BPF_K, O_CREAT, 0, 1);
  ADD(BPF_RET | BPF_K, SECCOMP_RET_TRACE, 0, 0);
  ADD(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
  unsigned open_at = n;
#ifdef SYS_open
  ADD(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), 0, 0);
  ADD(BPF_JMP | BPF_JSET | BPF_K, O_CREAT, 0, 1);
  ADD(BPF_RET | BPF_K, SECCOMP_RET_TRACE, 0, 0);
  ADD(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
#endif
#undef ADD
  for (unsigned i = 0; i < n; i++) {
    unsigned target = fix[i] == L_TRACE ? trace_at : fix[i] == L_TRAP ? trap_at : fix[i] == L_OPENAT ? openat_at : open_at;
    if (fix[i] != L_NONE) f[i].jt = (unsigned char)(target - (i + 1));
  }
  struct sock_fprog prog = { (unsigned short)n, f };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs: %s", strerror(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) die("seccomp: %s", strerror(errno));
}

/* ---------- emulation ---------- */
static const char *refused;

/* g is `primary` or one of the supplementary groups. */
int in_group_of(const struct creds *c, uint32_t primary, uint32_t g) {
  if (g == primary) return 1;
  for (int i = 0; i < c->ngroups; i++) if (c->groups[i] == g) return 1;
  return 0;
}
static int in_groups(const struct creds *c, uint32_t g) { return in_group_of(c, c->egid, g); }

void resume(pid_t pid, int to_exit) {
  /* a call that changes the tree (the emulated chroot's resolutions) is seen to its end */
  if (!to_exit && ns_inflight > 0) { const struct proc *q = proc_find(pid); if (q != NULL && q->ns_change) to_exit = 1; }
  ptrace(to_exit ? PTRACE_SYSCALL : PTRACE_CONT, pid, 0, 0);
}

/* Emulated call with a result known now: skipped with that result, one stop in all. */
void emulate(struct proc *p, regs_t *r, long ret) {
  p->pend = P_NONE;
  skip_call(p->pid, r, ret);
  resume(p->pid, 0);
}

#define NOCHG 0xffffffffu
static int id_ok(const struct creds *c, uint32_t v, int user) {
  if (v == NOCHG || c->euid == 0) return 1;
  return user ? (v == c->ruid || v == c->euid || v == c->suid) : (v == c->rgid || v == c->egid || v == c->sgid);
}

static int stat_path(const char *path, int nofollow, int is_fd, struct stat *st) {
  return fstatat(AT_FDCWD, path, st, nofollow && !is_fd ? AT_SYMLINK_NOFOLLOW : 0);
}

static unsigned long call_counts[1024];
static int emulate_stat(struct proc *p, regs_t *r, long nr);
static void record_chown(struct proc *p);
static void record_chmod(struct proc *p);

static void on_entry(struct proc *p) {
  regs_t r;
  pid_t pid = p->pid;
  if (get_regs(pid, &r) != 0) { resume(pid, 0); return; }
  long nr = (long)R_NR(r);
  if (nr >= 0 && nr < 1024) call_counts[nr]++;
  /* --chroot: the path arguments made host paths first (or the call answered, or restarted) */
  if (chroot_mode && chroot_entry(p, &r, nr)) return;
  /* a fake non-root user: the permission checks the disk (all the build user's) cannot make */
  if (chroot_mode && dac_entry(p, &r, nr)) return;
  struct creds *c = &p->c;
  unsigned long a0 = r_arg(&r, 0), a1 = r_arg(&r, 1), a2 = r_arg(&r, 2), a3 = r_arg(&r, 3), a4 = r_arg(&r, 4);
  p->pend = P_NONE;
  int is_fd = 0;
  struct stat st;

  /* credentials */
  if (nr == SYS_getuid) { emulate(p, &r, c->ruid); return; }
  if (nr == SYS_geteuid) { emulate(p, &r, c->euid); return; }
  if (nr == SYS_getgid) { emulate(p, &r, c->rgid); return; }
  if (nr == SYS_getegid) { emulate(p, &r, c->egid); return; }
  if (nr == SYS_getresuid || nr == SYS_getresgid) {
    uint32_t v[3] = { nr == SYS_getresuid ? c->ruid : c->rgid, nr == SYS_getresuid ? c->euid : c->egid, nr == SYS_getresuid ? c->suid : c->sgid };
    long ret = 0;
    for (int i = 0; i < 3 && ret == 0; i++) if (write_mem(pid, r_arg(&r, i), &v[i], 4) != 0) ret = -EFAULT;
    emulate(p, &r, ret);
    return;
  }
  if (nr == SYS_getgroups) {
    int size = (int)a0;
    long ret = c->ngroups;
    if (size < 0) ret = -EINVAL;
    else if (size > 0) {
      if (size < c->ngroups) ret = -EINVAL;
      else if (c->ngroups > 0 && write_mem(pid, a1, c->groups, (size_t)c->ngroups * 4) != 0) ret = -EFAULT;
    }
    emulate(p, &r, ret);
    return;
  }
  if (nr == SYS_setuid) {
    uint32_t u = (uint32_t)a0;
    if (c->euid == 0) { c->ruid = c->euid = c->suid = c->fsuid = u; emulate(p, &r, 0); }
    else if (u == c->ruid || u == c->suid) { c->euid = c->fsuid = u; emulate(p, &r, 0); }
    else emulate(p, &r, -EPERM);
    return;
  }
  if (nr == SYS_setgid) {
    uint32_t g = (uint32_t)a0;
    if (c->euid == 0) { c->rgid = c->egid = c->sgid = c->fsgid = g; emulate(p, &r, 0); }
    else if (g == c->rgid || g == c->sgid) { c->egid = c->fsgid = g; emulate(p, &r, 0); }
    else emulate(p, &r, -EPERM);
    return;
  }
  if (nr == SYS_setresuid || nr == SYS_setresgid) {
    int user = nr == SYS_setresuid;
    uint32_t v[3] = { (uint32_t)a0, (uint32_t)a1, (uint32_t)a2 };
    if (!id_ok(c, v[0], user) || !id_ok(c, v[1], user) || !id_ok(c, v[2], user)) { emulate(p, &r, -EPERM); return; }
    uint32_t *t = user ? &c->ruid : &c->rgid;
    for (int i = 0; i < 3; i++) if (v[i] != NOCHG) t[i] = v[i];
    if (user) c->fsuid = c->euid; else c->fsgid = c->egid;
    emulate(p, &r, 0);
    return;
  }
  if (nr == SYS_setreuid || nr == SYS_setregid) {
    int user = nr == SYS_setreuid;
    uint32_t rv = (uint32_t)a0, ev = (uint32_t)a1;
    uint32_t *rr = user ? &c->ruid : &c->rgid, *ee = user ? &c->euid : &c->egid, *ss = user ? &c->suid : &c->sgid;
    int root = c->euid == 0;
    if (!root && ((rv != NOCHG && rv != *rr && rv != *ee) || (ev != NOCHG && ev != *rr && ev != *ee && ev != *ss))) { emulate(p, &r, -EPERM); return; }
    uint32_t old_r = *rr;
    if (rv != NOCHG) *rr = rv;
    if (ev != NOCHG) *ee = ev;
    if (rv != NOCHG || (ev != NOCHG && ev != old_r)) *ss = *ee;
    if (user) c->fsuid = c->euid; else c->fsgid = c->egid;
    emulate(p, &r, 0);
    return;
  }
  if (nr == SYS_setgroups) {
    int n = (int)a0;
    if (c->euid != 0) { emulate(p, &r, -EPERM); return; }
    if (n < 0 || n > MAX_GROUPS) { emulate(p, &r, -EINVAL); return; }
    if (n > 0 && read_mem(pid, a1, c->groups, (size_t)n * 4) != 0) { emulate(p, &r, -EFAULT); return; }
    c->ngroups = n;
    emulate(p, &r, 0);
    return;
  }
  if (nr == SYS_setfsuid || nr == SYS_setfsgid) {
    int user = nr == SYS_setfsuid;
    uint32_t v = (uint32_t)a0, old = user ? c->fsuid : c->fsgid;
    int ok = c->euid == 0 || (user ? (v == c->ruid || v == c->euid || v == c->suid || v == c->fsuid)
                                   : (v == c->rgid || v == c->egid || v == c->sgid || v == c->fsgid));
    if (ok && v != NOCHG) { if (user) c->fsuid = v; else c->fsgid = v; }
    emulate(p, &r, old);
    return;
  }

  /* stat family: done by the supervisor and written into the tracee (one stop); else rewritten after the call */
  if (emulate_stat(p, &r, nr)) return;
#ifdef SYS_stat
  if (nr == SYS_stat || nr == SYS_lstat) { p->pend = P_STAT; p->addr = a1; p->stat_kind = 0; resume(pid, 1); return; }
#endif
  if (nr == SYS_fstat) { p->pend = P_STAT; p->addr = a1; p->stat_kind = 0; resume(pid, 1); return; }
  if (nr == SYS_newfstatat) { p->pend = P_STAT; p->addr = a2; p->stat_kind = 0; resume(pid, 1); return; }
  if (nr == SYS_statx) { p->pend = P_STAT; p->addr = a4; p->stat_kind = 1; resume(pid, 1); return; }

  /* chown family */
  int chown_like = 0;
  unsigned long uarg = 0, garg = 0;
#ifdef SYS_chown
  if (nr == SYS_chown || nr == SYS_lchown) {
    if (tracee_path(pid, AT_FDCWD, a0, p->path, sizeof p->path, &is_fd) != 0) { resume(pid, 0); return; }
    p->nofollow = nr == SYS_lchown; chown_like = 1; uarg = a1; garg = a2;
  }
#endif
  if (nr == SYS_fchown) { fd_path(pid, (long)a0, p->path, sizeof p->path); is_fd = 1; p->nofollow = 0; chown_like = 1; uarg = a1; garg = a2; }
  if (nr == SYS_fchownat) {
    if (tracee_path(pid, (long)a0, a1, p->path, sizeof p->path, &is_fd) != 0) { resume(pid, 0); return; }
    if (is_fd && !(a4 & AT_EMPTY_PATH)) { resume(pid, 0); return; } /* "" without AT_EMPTY_PATH: ENOENT from the kernel */
    p->nofollow = (a4 & AT_SYMLINK_NOFOLLOW) != 0; chown_like = 1; uarg = a2; garg = a3;
  }
  if (chown_like) {
    uint32_t u = (uint32_t)uarg, g = (uint32_t)garg;
    if (c->euid != 0) {
      /* Non-root (fake): only the owner, to its own uid and a group of its own. */
      if (stat_path(p->path, p->nofollow, is_fd, &st) != 0) { resume(pid, 0); return; }
      struct rec *cur = rec_find(st.st_dev, st.st_ino);
      uint32_t owner = cur != NULL ? cur->uid : (st.st_uid == real_uid ? 0 : st.st_uid);
      if (owner != c->euid || (u != NOCHG && u != owner) || (g != NOCHG && !in_groups(c, g))) { emulate(p, &r, -EPERM); return; }
    }
    p->a_uid = u; p->a_gid = g;
    p->addr = (unsigned long)is_fd;
    /* Done here, as the tracee would (same uid, same path): chown(-1, -1) checks the path and moves ctime. */
    if (fchownat(AT_FDCWD, p->path, (uid_t)-1, (gid_t)-1, p->nofollow && !is_fd ? AT_SYMLINK_NOFOLLOW : 0) != 0) { emulate(p, &r, -errno); return; }
    record_chown(p);
    emulate(p, &r, 0);
    return;
  }

  /* chmod family */
  int chmod_like = 0, mi = 0;
#ifdef SYS_chmod
  if (nr == SYS_chmod) {
    if (tracee_path(pid, AT_FDCWD, a0, p->path, sizeof p->path, &is_fd) != 0) { resume(pid, 0); return; }
    p->nofollow = 0; chmod_like = 1; mi = 1;
  }
#endif
  if (nr == SYS_fchmod) { fd_path(pid, (long)a0, p->path, sizeof p->path); is_fd = 1; p->nofollow = 0; chmod_like = 1; mi = 1; }
  if (nr == SYS_fchmodat || nr == SYS_fchmodat2) {
    if (tracee_path(pid, (long)a0, a1, p->path, sizeof p->path, &is_fd) != 0) { resume(pid, 0); return; }
    if (is_fd && !(nr == SYS_fchmodat2 && (a3 & AT_EMPTY_PATH))) { resume(pid, 0); return; }
    p->nofollow = nr == SYS_fchmodat2 && (a3 & AT_SYMLINK_NOFOLLOW); chmod_like = 1; mi = 2;
  }
  if (chmod_like) {
    if (stat_path(p->path, p->nofollow, is_fd, &st) != 0 || S_ISLNK(st.st_mode)) { resume(pid, 0); return; }
    uint32_t mode = (uint32_t)r_arg(&r, mi) & 07777;
    struct rec *cur = rec_find(st.st_dev, st.st_ino);
    uint32_t owner = cur != NULL ? cur->uid : (st.st_uid == real_uid ? 0 : st.st_uid);
    if (c->euid != 0) {
      if (owner != c->euid) { emulate(p, &r, -EPERM); return; }
      uint32_t group = cur != NULL ? cur->gid : (st.st_gid == real_gid ? 0 : st.st_gid);
      if (!in_groups(c, group)) mode &= ~(uint32_t)S_ISGID;
    }

    p->a_mode = mode;
    p->a_uid = owner;
    p->a_gid = cur != NULL ? cur->gid : (st.st_gid == real_gid ? 0 : st.st_gid);
    p->key_dev = st.st_dev; p->key_ino = st.st_ino;
    p->kind = S_ISDIR(st.st_mode) ? 'd' : 0;
    /* Done here (the node stat'd above is no symlink: following is the same): the bits without setuid/setgid/sticky, the owner's rw (x for directories). */
    if (fchmodat(AT_FDCWD, p->path, (mode & 0777) | (S_ISDIR(st.st_mode) ? 0700 : 0600), 0) != 0) { emulate(p, &r, -errno); return; }
    record_chmod(p);
    emulate(p, &r, 0);
    return;
  }

  /* mknod: devices become empty regular files */
  int mknod_like = 0;
  unsigned long margs = 0;
#ifdef SYS_mknod
  if (nr == SYS_mknod) {
    if (tracee_path(pid, AT_FDCWD, a0, p->path, sizeof p->path, &is_fd) != 0) { resume(pid, 0); return; }
    mknod_like = 1; margs = 1;
  }
#endif
  if (nr == SYS_mknodat) {
    if (tracee_path(pid, (long)a0, a1, p->path, sizeof p->path, &is_fd) != 0) { resume(pid, 0); return; }
    mknod_like = 1; margs = 2;
  }
  if (mknod_like) {
    uint32_t mode = (uint32_t)r_arg(&r, (int)margs);
    uint64_t dev = r_arg(&r, (int)margs + 1);
    if (S_ISCHR(mode) || S_ISBLK(mode)) {
      p->kind = S_ISCHR(mode) ? 'c' : 'b';
      p->a_mode = mode & 07777 & ~(uint32_t)tracee_umask(pid);
      p->a_dev = dev;
      r_set_arg(&r, (int)margs, S_IFREG | (mode & 0777) | 0600);
      r_set_arg(&r, (int)margs + 1, 0);
      set_regs(pid, &r);
      p->pend = P_MKNOD;
      resume(pid, 1);
      return;
    }
    if (c->fsuid == 0 && c->fsgid == 0) { resume(pid, 0); return; }
    p->a_uid = c->fsuid; p->a_gid = c->fsgid; p->a_mode = 0;
    p->pend = P_CREATE; p->nofollow = 1;
    resume(pid, 1);
    return;
  }

  /* removals: a record whose node loses its last name is dropped (its inode number may be reused) */
  int rm_like = 0;
  long rdirfd = AT_FDCWD;
  unsigned long raddr = 0;
#ifdef SYS_unlink
  if (nr == SYS_unlink || nr == SYS_rmdir) { rm_like = 1; raddr = a0; }
  if (nr == SYS_rename) { rm_like = 1; raddr = a1; }
#endif
  if (nr == SYS_unlinkat) { rm_like = 1; rdirfd = (long)a0; raddr = a1; }
  if (nr == SYS_renameat) { rm_like = 1; rdirfd = (long)a2; raddr = a3; }
  if (nr == SYS_renameat2) {
    if (a4 & 2 /* RENAME_EXCHANGE */) { resume(pid, 0); return; }
    rm_like = 1; rdirfd = (long)a2; raddr = a3;
  }
  if (rm_like) {
    if (tracee_path(pid, rdirfd, raddr, p->path, sizeof p->path, &is_fd) != 0 || is_fd) { resume(pid, 0); return; }
    if (lstat(p->path, &st) != 0 || rec_find(st.st_dev, st.st_ino) == NULL || (!S_ISDIR(st.st_mode) && st.st_nlink > 1)) { resume(pid, 0); return; }
    p->key_dev = st.st_dev; p->key_ino = st.st_ino;
    p->pend = P_DROP;
    resume(pid, 1);
    return;
  }

  /* creations under a fake non-root fsuid/fsgid: the new node's owner is recorded */
  int creates = 0, by_fd = 0, is_mkdir = 0;
  long cdirfd = AT_FDCWD;
  unsigned long caddr = 0;
#ifdef SYS_mkdir
  if (nr == SYS_mkdir) { creates = 1; caddr = a0; is_mkdir = 1; }
  if (nr == SYS_symlink) { creates = 1; caddr = a1; }
  if (nr == SYS_creat) { creates = 1; caddr = a0; by_fd = 1; }
  if (nr == SYS_open && (a1 & O_CREAT)) { creates = 1; caddr = a0; by_fd = 1; }
#endif
  if (nr == SYS_mkdirat) { creates = 1; cdirfd = (long)a0; caddr = a1; is_mkdir = 1; }
  if (nr == SYS_symlinkat) { creates = 1; cdirfd = (long)a1; caddr = a2; }
  if (nr == SYS_openat && (a2 & O_CREAT)) { creates = 1; cdirfd = (long)a0; caddr = a1; by_fd = 1; }
  if (creates) {
    int nonroot = c->fsuid != 0 || c->fsgid != 0;
    if (!nonroot && !any_setgid_dir) { resume(pid, 0); return; }
    if (tracee_path(pid, cdirfd, caddr, p->path, sizeof p->path, &is_fd) != 0 || is_fd) { resume(pid, 0); return; }
    /* A setgid directory (recorded: the disk holds no setgid bit) gives new nodes its group, new directories its bit. */
    uint32_t gid = c->fsgid;
    int inherit = 0;
    if (any_setgid_dir) {
      char parent[PATHBUF];
      snprintf(parent, sizeof parent, "%s", p->path);
      size_t len = strlen(parent);
      while (len > 1 && parent[len - 1] == '/') parent[--len] = '\0';
      char *slash = strrchr(parent, '/');
      if (slash == parent) parent[1] = '\0'; else if (slash != NULL) *slash = '\0';
      struct stat pst;
      if (stat(parent, &pst) == 0 && S_ISDIR(pst.st_mode)) {
        const struct rec *pr = rec_find(pst.st_dev, pst.st_ino);
        if (pr != NULL && (pr->mode & S_ISGID)) { gid = pr->gid; inherit = 1; }
      }
    }
    if (!nonroot && !inherit) { resume(pid, 0); return; }
    if (by_fd && fstatat(AT_FDCWD, p->path, &st, 0) == 0) { resume(pid, 0); return; } /* exists: not created */
    p->a_uid = c->fsuid;
    p->a_gid = gid;
    p->a_mode = inherit && is_mkdir ? S_ISGID : 0;
    p->pend = by_fd ? P_CREATE_FD : P_CREATE;
    p->nofollow = 1;
    resume(pid, 1);
    return;
  }
  resume(pid, 0);
}

static void fix_stat(struct stat *st) {
  struct rec *r = rec_find(st->st_dev, st->st_ino);
  if (r != NULL) {
    st->st_uid = r->uid;
    st->st_gid = r->gid;
    mode_t type = st->st_mode & S_IFMT;
    if (r->kind == 'c') { type = S_IFCHR; st->st_rdev = makedev(r->major, r->minor); }
    else if (r->kind == 'b') { type = S_IFBLK; st->st_rdev = makedev(r->major, r->minor); }
    st->st_mode = type | r->mode;
  } else {
    if (st->st_uid == real_uid) st->st_uid = 0;
    if (st->st_gid == real_gid) st->st_gid = 0;
  }
}

/* statx: mask(0) blksize(4) attributes(8) nlink(16) uid(20) gid(24) mode(28,u16) pad ino(32) ... rdev(128,132) dev(136,140) */
#define STATX_LEN 256
static void fix_statx(unsigned char *b) {
  uint32_t uid, gid, rmaj, rmin, dmaj, dmin;
  uint16_t mode;
  uint64_t ino;
  memcpy(&uid, b + 20, 4); memcpy(&gid, b + 24, 4); memcpy(&mode, b + 28, 2); memcpy(&ino, b + 32, 8);
  memcpy(&rmaj, b + 128, 4); memcpy(&rmin, b + 132, 4); memcpy(&dmaj, b + 136, 4); memcpy(&dmin, b + 140, 4);
  struct rec *r = rec_find(makedev(dmaj, dmin), ino);
  if (r != NULL) {
    uid = r->uid; gid = r->gid;
    uint16_t type = mode & S_IFMT;
    if (r->kind == 'c') { type = S_IFCHR; rmaj = r->major; rmin = r->minor; }
    else if (r->kind == 'b') { type = S_IFBLK; rmaj = r->major; rmin = r->minor; }
    mode = (uint16_t)(type | r->mode);
  } else {
    if (uid == real_uid) uid = 0;
    if (gid == real_gid) gid = 0;
  }
  memcpy(b + 20, &uid, 4); memcpy(b + 24, &gid, 4); memcpy(b + 28, &mode, 2); memcpy(b + 128, &rmaj, 4); memcpy(b + 132, &rmin, 4);
}

static void rewrite_stat(struct proc *p) {
  if (p->stat_kind == 0) {
    struct stat st, orig;
    if (read_mem(p->pid, p->addr, &st, sizeof st) != 0) return;
    orig = st;
    fix_stat(&st);
    if (memcmp(&st, &orig, sizeof st) != 0) write_mem(p->pid, p->addr, &st, sizeof st);
    return;
  }
  unsigned char b[144], o[144];
  if (read_mem(p->pid, p->addr, b, sizeof b) != 0) return;
  memcpy(o, b, sizeof b);
  fix_statx(b);
  if (memcmp(b, o, sizeof b) != 0) write_mem(p->pid, p->addr, b, sizeof b);
}

/*
 * The stat family done here: the same path (through /proc/<pid>/cwd or fd/N), the same flags, the result fixed
 * from the table and written into the tracee, the call skipped. 0 when it cannot be (then the kernel runs it).
 */
static int emulate_stat(struct proc *p, regs_t *r, long nr) {
  pid_t pid = p->pid;
  char path[PATHBUF];
  int is_fd = 0, flags = 0, statx_call = 0;
  unsigned long buf = 0;
  unsigned mask = 0;
  if (nr == SYS_fstat) { fd_path(pid, (long)r_arg(r, 0), path, sizeof path); is_fd = 1; buf = r_arg(r, 1); }
#ifdef SYS_stat
  else if (nr == SYS_stat || nr == SYS_lstat) {
    if (tracee_path(pid, AT_FDCWD, r_arg(r, 0), path, sizeof path, &is_fd) != 0 || is_fd) return 0;
    flags = nr == SYS_lstat ? AT_SYMLINK_NOFOLLOW : 0;
    buf = r_arg(r, 1);
  }
#endif
  else if (nr == SYS_newfstatat || nr == SYS_statx) {
    statx_call = nr == SYS_statx;
    flags = (int)r_arg(r, statx_call ? 2 : 3);
    if (r_arg(r, 1) == 0) return 0; /* NULL path (AT_EMPTY_PATH, Linux 6.11): the kernel's */
    if (tracee_path(pid, (long)r_arg(r, 0), r_arg(r, 1), path, sizeof path, &is_fd) != 0) return 0;
    if (is_fd && !(flags & AT_EMPTY_PATH)) return 0;
    buf = r_arg(r, statx_call ? 4 : 2);
    mask = (unsigned)r_arg(r, 3);
  } else return 0;
  flags &= ~AT_EMPTY_PATH;
  if (is_fd) flags &= ~AT_SYMLINK_NOFOLLOW; /* /proc/<pid>/fd/N and cwd are followed to the node itself */
  long ret = 0;
  if (statx_call) {
    unsigned char b[STATX_LEN];
    memset(b, 0, sizeof b);
    if (syscall(SYS_statx, AT_FDCWD, path, flags, mask, b) != 0) ret = -errno;
    else { fix_statx(b); if (write_mem(pid, buf, b, STATX_LEN) != 0) ret = -EFAULT; }
  } else {
    struct stat st;
    if (fstatat(AT_FDCWD, path, &st, flags) != 0) ret = -errno;
    else { fix_stat(&st); if (write_mem(pid, buf, &st, sizeof st) != 0) ret = -EFAULT; }
  }
  emulate(p, r, ret);
  return 1;
}

static void record_chown(struct proc *p) {
  struct stat st;
  if (stat_path(p->path, p->nofollow, (int)p->addr, &st) != 0) return;
  struct rec *rec = rec_for(&st);
  if (p->a_uid != NOCHG) rec->uid = p->a_uid;
  if (p->a_gid != NOCHG) rec->gid = p->a_gid;
  /* As Linux: a chown drops setuid, and setgid when group-executable, of a regular file. */
  if (S_ISREG(st.st_mode)) {
    rec->mode &= ~(uint32_t)S_ISUID;
    if (rec->mode & S_IXGRP) rec->mode &= ~(uint32_t)S_ISGID;
  }
}

static void record_chmod(struct proc *p) {
  struct rec *rec = rec_find(p->key_dev, p->key_ino);
  if (rec == NULL) {
    /* The owner as it read before the call. */
    rec = rec_put(p->key_dev, p->key_ino);
    rec->uid = p->a_uid;
    rec->gid = p->a_gid;
  }
  rec->mode = p->a_mode;
  if (p->kind == 'd' && (p->a_mode & S_ISGID)) any_setgid_dir = 1;
}

static void on_exit_stop(struct proc *p) {
  enum pend pend = p->pend;
  p->pend = P_NONE;
  if (p->ns_change) { p->ns_change = 0; ns_inflight--; ns_gen++; }
  if (pend == P_NONE || chroot_exit(p, pend)) return;
  regs_t r;
  if (get_regs(p->pid, &r) != 0) return;
  long ret = (long)R_RET(r);
  struct stat st;
  switch (pend) {
    case P_STAT: if (ret == 0) rewrite_stat(p); break;
    case P_MKNOD:
      if (ret == 0 && lstat(p->path, &st) == 0) {
        struct rec *rec = rec_put(st.st_dev, st.st_ino);
        rec->uid = p->c.fsuid; rec->gid = p->c.fsgid; rec->mode = p->a_mode;
        rec->kind = p->kind; rec->major = major(p->a_dev); rec->minor = minor(p->a_dev);
      }
      break;
    case P_DROP:
      if (ret == 0) {
        struct rec *rec = rec_find(p->key_dev, p->key_ino);
        if (rec != NULL) rec->used = 2;
      }
      break;
    case P_CREATE:
    case P_CREATE_FD:
      if (ret >= 0) {
        int ok;
        if (pend == P_CREATE_FD) { char fdp[64]; fd_path(p->pid, ret, fdp, sizeof fdp); ok = stat(fdp, &st) == 0; }
        else ok = lstat(p->path, &st) == 0;
        if (ok) {
          struct rec *rec = rec_put(st.st_dev, st.st_ino);
          rec->uid = p->a_uid; rec->gid = p->a_gid; rec->mode = (st.st_mode & 07777) | p->a_mode; rec->kind = 0;
        }
      }
      break;
    default: break;
  }
}

int main(int argc, char **argv) {
  const char *table_in = NULL, *table_out = NULL, *stats = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--chroot") == 0) { chroot_mode = 1; continue; }
    /* a RUN under a non-root USER in '/': the path calls are traced for the permission checks, nothing translated */
    if (strcmp(argv[i], "--permissions") == 0) { chroot_mode = 1; continue; }
    if (strcmp(argv[i], "--bind") == 0) {
      if (i + 3 >= argc || (strcmp(argv[i + 3], "ro") != 0 && strcmp(argv[i + 3], "rw") != 0)) die("--bind needs HOST, TARGET and ro|rw");
      chroot_add_bind(argv[i + 1], argv[i + 2], strcmp(argv[i + 3], "ro") == 0);
      i += 3;
      continue;
    }
    if (i + 1 >= argc) die("%s needs a value", argv[i]);
    if (strcmp(argv[i], "--table-in") == 0) table_in = argv[++i];
    else if (strcmp(argv[i], "--table-out") == 0) table_out = argv[++i];
    else if (strcmp(argv[i], "--stats") == 0) stats = argv[++i];
    else if (strcmp(argv[i], "--error-fd") == 0) error_fd = atoi(argv[++i]);
    else die("unknown option %s", argv[i]);
  }
  if (i >= argc) die("usage: fakeroot-supervisor [--table-in FILE] [--table-out FILE] [--error-fd N] -- ARGV...");
  /* Mounts without --chroot (container mode, building '/'): paths are translated in the host's '/'. */
  int binds_at_top = chroot_has_binds() && !chroot_mode;
  if (binds_at_top) { chroot_mode = 1; chroot_binds_in_host_root(); }
  if (chroot_mode && table_out != NULL) {
    /* beside the table: the per-RUN directory the caller removes */
    snprintf(chroot_links, PATH_MAX, "%s", table_out);
    char *slash = strrchr(chroot_links, '/');
    if (slash != NULL) snprintf(slash, (size_t)(PATH_MAX - (slash - chroot_links)), "/exec");
    else snprintf(chroot_links, PATH_MAX, "exec");
    if (mkdir(chroot_links, 0700) != 0 && errno != EEXIST) chroot_links[0] = '\0';
  }
  real_uid = getuid();
  real_gid = getgid();
  if (table_in != NULL) load_table(table_in);

  pid_t child = fork();
  if (child < 0) die("fork: %s", strerror(errno));
  if (child == 0) {
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) die("ptrace(PTRACE_TRACEME): %s (a non-root RUN needs ptrace, which the RuntimeDefault seccomp profile allows on kernels >= 4.8)", strerror(errno));
    raise(SIGSTOP);
    install_filter();
    execvp(argv[i], &argv[i]);
    die("exec %s: %s", argv[i], strerror(errno));
  }
  int status;
  if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) die("the command did not start under ptrace");
  long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
              PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
  if (ptrace(PTRACE_SETOPTIONS, child, 0, (void *)opts) != 0) die("ptrace(PTRACE_SETOPTIONS): %s", strerror(errno));
  struct proc *first = proc_new(child);
  first->c.ngroups = 0;
  first->initial_seen = first->parent_known = 1;
  if (binds_at_top) first->root = strdup("");
  ptrace(PTRACE_CONT, child, 0, 0);

  int main_status = EXIT_SETUP;
  for (;;) {
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      proc_drop(pid);
      if (pid == child) { main_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); break; }
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    struct proc *p = proc_find(pid);
    if (p == NULL) p = proc_new(pid);
    int sig = WSTOPSIG(status), event = status >> 16;
    if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) { on_entry(p); continue; }
    if (sig == (SIGTRAP | 0x80)) { on_exit_stop(p); ptrace(PTRACE_CONT, pid, 0, 0); continue; }
    if (sig == SIGTRAP && (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE)) {
      unsigned long msg = 0;
      ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
      pid_t kid = (pid_t)msg;
      struct proc *k = proc_find(kid);
      if (k == NULL) k = proc_new(kid);
      p = proc_find(pid); /* proc_new may have moved the array */
      k->c = p->c;
      chroot_fork(p, k, event);
      k->parent_known = 1;
      if (k->initial_seen) ptrace(PTRACE_CONT, kid, 0, 0);
      ptrace(PTRACE_CONT, pid, 0, 0);
      continue;
    }
    if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) chroot_exec(p);
    if (sig == SIGTRAP && event != 0) { ptrace(PTRACE_CONT, pid, 0, 0); continue; } /* exec, stop events */
    if (sig == SIGSTOP && !p->initial_seen) {
      /* A new child's first stop: it waits until its parent's event gave it the parent's credentials. */
      p->initial_seen = 1;
      if (p->parent_known) ptrace(PTRACE_CONT, pid, 0, 0);
      continue;
    }
    siginfo_t si;
    /* Without PTRACE_SEIZE a group-stop looks like a signal stop, except that it has no siginfo: resume it. */
    if (ptrace(PTRACE_GETSIGINFO, pid, 0, &si) != 0) { ptrace(PTRACE_CONT, pid, 0, 0); continue; }
    if (sig == SIGSYS && si.si_code == 1 /* SYS_SECCOMP */) {
      long nr = si.si_syscall;
      if (nr == SYS_chroot && chroot_mode) {
        regs_t r;
        if (get_regs(pid, &r) == 0) chroot_call(p, &r);
        ptrace(PTRACE_CONT, pid, 0, 0);
        continue;
      }
      const char *name = nr == SYS_mount ? "mount" : nr == SYS_umount2 ? "umount2" : nr == SYS_chroot ? "chroot" : nr == SYS_pivot_root ? "pivot_root" : NULL;
      if (name != NULL) {
        /* Ours (SECCOMP_RET_TRAP): the call fails with EPERM, as without us, and the RUN fails after it naming the call. */
        if (refused == NULL) refused = name;
        regs_t r;
        if (get_regs(pid, &r) == 0) { R_RET(r) = (unsigned long)-EPERM; set_regs(pid, &r); }
        ptrace(PTRACE_CONT, pid, 0, 0);
        continue;
      }
    }
    ptrace(PTRACE_CONT, pid, 0, (void *)(long)sig); /* an ordinary signal: delivered */
  }
  if (table_out != NULL) save_table(table_out);
  if (stats != NULL) {
    FILE *f = fopen(stats, "w");
    if (f != NULL) {
      for (int n = 0; n < 1024; n++) if (call_counts[n] > 0) fprintf(f, "%d %lu\n", n, call_counts[n]);
      fclose(f);
    }
  }
  if (refused != NULL) {
    char msg[512];
    snprintf(msg, sizeof msg, "the command called %s(2), which a non-root build cannot allow (no privileges, no namespaces); "
             "the command %s", refused, main_status == 0 ? "went on without it" : "failed");
    fprintf(stderr, "fakeroot-supervisor: %s\n", msg);
    if (error_fd >= 0) dprintf(error_fd, "refused: %s\n", msg);
    return EXIT_SETUP;
  }
  return main_status;
}
