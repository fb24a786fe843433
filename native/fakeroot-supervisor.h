/* Shared by native/fakeroot-supervisor.c (the fake root: credentials, the ownership table) and
 * native/fakeroot-supervisor-chroot.c (the emulated chroot: path translation, exec through the root's loader). */
#ifndef FAKEROOT_SUPERVISOR_H
#define FAKEROOT_SUPERVISOR_H
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_SETUP 125
#define MAX_GROUPS 256
#define PATHBUF (PATH_MAX + 64)

extern int error_fd;
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---------- architecture ---------- */
#if defined(__x86_64__)
typedef struct user_regs_struct regs_t;
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#define R_NR(r) ((r).orig_rax)
#define R_RET(r) ((r).rax)
static inline unsigned long r_arg(const regs_t *r, int i) {
  switch (i) { case 0: return r->rdi; case 1: return r->rsi; case 2: return r->rdx; case 3: return r->r10; case 4: return r->r8; default: return r->r9; }
}
static inline void r_set_arg(regs_t *r, int i, unsigned long v) {
  switch (i) { case 0: r->rdi = v; break; case 1: r->rsi = v; break; case 2: r->rdx = v; break; case 3: r->r10 = v; break; case 4: r->r8 = v; break; default: r->r9 = v; }
}
static inline int get_regs(pid_t pid, regs_t *r) { return (int)ptrace(PTRACE_GETREGS, pid, 0, r); }
static inline int set_regs(pid_t pid, const regs_t *r) { return (int)ptrace(PTRACE_SETREGS, pid, 0, r); }
/* Skip the call (syscall -1) with `ret` as its result: the kernel leaves the return register as the tracer set it. */
static inline int skip_call(pid_t pid, regs_t *r, long ret) { r->orig_rax = (unsigned long)-1; r->rax = (unsigned long)ret; return set_regs(pid, r); }
#elif defined(__aarch64__)
/* glibc's user_regs_struct is the kernel's user_pt_regs: regs[31], sp, pc, pstate. Not built here (no cross
 * compiler on the development machines): compiled by Dockerfile.executor on an arm64 builder. */
typedef struct user_regs_struct regs_t;
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#define R_NR(r) ((r).regs[8])
#define R_RET(r) ((r).regs[0])
static inline unsigned long r_arg(const regs_t *r, int i) { return r->regs[i]; }
static inline void r_set_arg(regs_t *r, int i, unsigned long v) { r->regs[i] = v; }
static inline int get_regs(pid_t pid, regs_t *r) {
  struct iovec io = { r, sizeof *r };
  return (int)ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &io);
}
static inline int set_regs(pid_t pid, const regs_t *r) {
  struct iovec io = { (void *)r, sizeof *r };
  return (int)ptrace(PTRACE_SETREGSET, pid, (void *)NT_PRSTATUS, &io);
}
static inline int skip_call(pid_t pid, regs_t *r, long ret) {
  r->regs[0] = (unsigned long)ret;
  if (set_regs(pid, r) != 0) return -1;
  int nr = -1;
  struct iovec io = { &nr, sizeof nr };
  return (int)ptrace(PTRACE_SETREGSET, pid, (void *)NT_ARM_SYSTEM_CALL, &io);
}
#else
#error "fakeroot-supervisor: x86_64 and aarch64 only"
#endif

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

/* ---------- traced processes ---------- */
struct creds {
  uint32_t ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
  int ngroups;
  uint32_t groups[MAX_GROUPS];
};

enum pend { P_NONE, P_RES, P_GROUPS, P_STAT, P_MKNOD, P_DROP, P_CREATE, P_CREATE_FD, P_INJECT, P_GETCWD, P_READLINK, P_EXEC_AREA };

struct mm;

struct proc {
  pid_t pid;
  int used;
  int initial_seen, parent_known;
  struct creds c;
  enum pend pend;
  long retval;
  unsigned long addr, addr2, addr3;
  int stat_kind; /* 0 struct stat, 1 statx */
  int nofollow;
  uint32_t a_uid, a_gid, a_mode;
  char kind;
  uint64_t a_dev, key_dev, key_ino;
  char path[PATHBUF];
  /* the emulated chroot */
  char *root;         /* the host directory that is the process's '/'; NULL: the host's '/' */
  char *exe, *exe_next; /* the program's path in the root (what /proc/self/exe reads as), and the one an execve in flight runs */
  struct mm *mm;      /* the address space's scratch area: where translated paths are written */
  int slot, slot_owned;
  struct mm *exec_mm; /* the address space whose exec area this process's execve holds */
  pid_t link_pid;
  int ns_change;      /* a directory or symlink is being removed or renamed (the call's exit ends it) */     /* readlink of /proc/<pid>/…: that process */
  regs_t saved;       /* the call the scratch area's mmap replaced, restarted after it */
};

struct proc *proc_find(pid_t pid);
int read_mem(pid_t pid, unsigned long addr, void *buf, size_t len);
int write_mem(pid_t pid, unsigned long addr, const void *buf, size_t len);
int read_str(pid_t pid, unsigned long addr, char *out, size_t cap);
void resume(pid_t pid, int to_exit);
int tracee_path(pid_t pid, long dirfd, unsigned long addr, char *out, size_t cap, int *is_fd);
void fake_owner(const struct stat *st, uint32_t *uid, uint32_t *gid, uint32_t *mode);
int in_group_of(const struct creds *c, uint32_t primary, uint32_t g);

/* ---------- permission checks for a fake non-root user (fakeroot-supervisor-dac.c) ---------- */
int dac_entry(struct proc *p, regs_t *r, long nr);
int dac_exec(struct proc *p, const char *host);
void emulate(struct proc *p, regs_t *r, long ret);

/* ---------- the emulated chroot (fakeroot-supervisor-chroot.c) ---------- */
extern int chroot_mode;
extern unsigned long ns_gen; /* bumped when a directory or symlink is removed or renamed */
extern int ns_inflight;     /* such calls not done yet */
extern char chroot_links[]; /* symlinks to the root's loader, named after programs ("": none) */
extern const long chroot_traced[];
extern const size_t chroot_ntraced;
int chroot_entry(struct proc *p, regs_t *r, long nr);
int chroot_exit(struct proc *p, enum pend pend);
void chroot_call(struct proc *p, regs_t *r);
void chroot_fork(struct proc *parent, struct proc *kid, int event);
void chroot_exec(struct proc *p);
void chroot_drop(struct proc *p);
int chroot_stashed(pid_t pid, unsigned long addr, char *out, size_t cap);
void chroot_add_bind(const char *host, const char *guest, int ro);
int chroot_has_binds(void);
void chroot_binds_in_host_root(void);
/* ---------- shared by the emulated chroot's files (-chroot.c: paths and calls; -exec.c: exec) ---------- */
/* ---------- the scratch area: one mapping per address space, one slot per thread ---------- */
#define SLOT_SIZE 16384
#define NSLOTS 64
/* After the slots: one area for an execve whose argument array does not fit a slot (up to ARG_MAX's 2 MiB). */
#define EXEC_AREA (2u << 20)
struct mm {
  unsigned long base; /* 0: not made yet; 1: could not be made (then below the stack pointer) */
  int refs;
  pid_t exec_busy;    /* the process whose execve uses the exec area, until that call returns */
  unsigned char used[NSLOTS];
};

#if defined(__x86_64__)
#define R_SP(r) ((r).rsp)
#else
#define R_SP(r) ((r).sp)
#endif
enum { R_HOST = 0, R_RAW = 1 };
int set_nr(pid_t pid, regs_t *r, long nr);
unsigned long scratch(struct proc *p, regs_t *r, size_t need);
int inside(const char *root, const char *host, char *out, size_t cap);
int resolve(const char *root, const char *base, const char *path, int follow, char *host, size_t cap, char *guest, size_t gcap, int *pass);
const char *base_of(struct proc *p, long dirfd, char *buf, size_t cap);
int exec_entry(struct proc *p, regs_t *r, long nr);
void exec_area_done(struct proc *p);
#endif
