/*
 * exec inside the emulated chroot (fakeroot-supervisor --chroot): the kernel would take a dynamic program's ELF
 * interpreter, and a script's #! interpreter, from the host's '/'. The supervisor reads the #! line and PT_INTERP
 * itself, resolves both inside the root, and execs the root's own loader: `ld.so [--argv0 NAME] PROG ARGS` (through a
 * symlink named after the program, so the process is named as the kernel would name it); static programs directly.
 * The new argument array goes into the thread's scratch slot, or into the address space's exec area when it is
 * larger (xargs), held until the call returns.
 */
#include "fakeroot-supervisor.h"
#include <sys/mman.h>

char chroot_links[PATH_MAX];

/* ---------- exec ---------- */
static int ld_has_argv0(const char *ld) {
  static char cached[PATH_MAX * 2 + 8];
  static int cached_answer = -1;
  if (cached_answer >= 0 && strcmp(cached, ld) == 0) return cached_answer;
  int fd = open(ld, O_RDONLY | O_CLOEXEC);
  int found = 0;
  if (fd >= 0) {
    static char buf[1 << 16];
    size_t keep = 0;
    ssize_t n;
    while (!found && (n = read(fd, buf + keep, sizeof buf - keep)) > 0) {
      size_t have = keep + (size_t)n;
      if (memmem(buf, have, "--argv0", 7) != NULL) found = 1;
      keep = have < 8 ? have : 8;
      memmove(buf, buf + have - keep, keep);
    }
    close(fd);
  }
  snprintf(cached, sizeof cached, "%s", ld);
  cached_answer = found;
  return found;
}

/* PT_INTERP of the ELF file at fd: 1 (interp set), 0 (static), -ENOEXEC (not ELF). */
static int elf_interp(int fd, const unsigned char *head, size_t hn, char *interp, size_t cap) {
  if (hn < 52 || memcmp(head, ELFMAG, SELFMAG) != 0) return -ENOEXEC;
  int is64 = head[EI_CLASS] == ELFCLASS64;
  uint64_t phoff;
  unsigned phnum, phentsize;
  if (is64) {
    if (hn < sizeof(Elf64_Ehdr)) return -ENOEXEC;
    const Elf64_Ehdr *e = (const Elf64_Ehdr *)(const void *)head;
    phoff = e->e_phoff; phnum = e->e_phnum; phentsize = e->e_phentsize;
  } else {
    const Elf32_Ehdr *e = (const Elf32_Ehdr *)(const void *)head;
    phoff = e->e_phoff; phnum = e->e_phnum; phentsize = e->e_phentsize;
  }
  if (phnum > 256 || phentsize < (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) return -ENOEXEC;
  for (unsigned i = 0; i < phnum; i++) {
    unsigned char ph[64];
    if (pread(fd, ph, phentsize > sizeof ph ? sizeof ph : phentsize, (off_t)(phoff + (uint64_t)i * phentsize)) < (ssize_t)(is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) return -ENOEXEC;
    uint32_t type;
    uint64_t off, size;
    if (is64) { const Elf64_Phdr *h = (const Elf64_Phdr *)(const void *)ph; type = h->p_type; off = h->p_offset; size = h->p_filesz; }
    else { const Elf32_Phdr *h = (const Elf32_Phdr *)(const void *)ph; type = h->p_type; off = h->p_offset; size = h->p_filesz; }
    if (type != PT_INTERP) continue;
    if (size == 0 || size >= cap) return -ENOEXEC;
    if (pread(fd, interp, size, (off_t)off) != (ssize_t)size) return -ENOEXEC;
    interp[size] = '\0';
    return 1;
  }
  return 0;
}

/*
 * The kernel names a process after the file it execs: the loader would make every dynamic program "ld-linux-x86-64".
 * It is exec'd through a symlink named after the program instead (--chroot's link directory, one subdirectory per
 * loader), so comm is the program's name; /proc/<pid>/exe reads as the program anyway (chroot_entry).
 */
static void name_loader(char *ld, size_t cap, const char *comm) {
  if (chroot_links[0] == '\0') return;
  uint64_t h = 1469598103934665603ull;
  for (const char *c = ld; *c != '\0'; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
  char dir[PATH_MAX + 32], link[PATH_MAX + 128];
  snprintf(dir, sizeof dir, "%s/%016llx", chroot_links, (unsigned long long)h);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return;
  snprintf(link, sizeof link, "%s/%s", dir, comm);
  if (symlink(ld, link) != 0 && errno != EEXIST) return;
  if (strlen(link) < cap) snprintf(ld, cap, "%s", link);
}

/* argv being rebuilt: each entry a tracee address, or a new string (written with the rest). */
struct arg { unsigned long addr; char *str; };
struct argv_b { struct arg *a; size_t n, cap; };
static void argv_push(struct argv_b *b, unsigned long addr, const char *str) {
  if (b->n == b->cap) {
    b->cap = b->cap == 0 ? 64 : b->cap * 2;
    b->a = realloc(b->a, b->cap * sizeof *b->a);
    if (b->a == NULL) die("out of memory");
  }
  b->a[b->n].addr = addr;
  b->a[b->n].str = str != NULL ? strdup(str) : NULL;
  b->n++;
}
static void argv_free(struct argv_b *b) {
  for (size_t i = 0; i < b->n; i++) free(b->a[i].str);
  free(b->a);
}

/* execve/execveat inside the root: 1 when handled (resumed, or the call failed with its errno). */
int exec_entry(struct proc *p, regs_t *r, long nr) {
  pid_t pid = p->pid;
  int at = nr == SYS_execveat;
  long dirfd = at ? (long)r_arg(r, 0) : AT_FDCWD;
  unsigned long fname = r_arg(r, at ? 1 : 0), argvp = r_arg(r, at ? 2 : 1), envp = r_arg(r, at ? 3 : 2);
  int flags = at ? (int)r_arg(r, 4) : 0;
  char given[PATH_MAX], host[PATH_MAX * 2 + 8], guest[PATH_MAX + 2], script_name[PATH_MAX];
  if (read_str(pid, fname, given, sizeof given) != 0) { emulate(p, r, -EFAULT); return 1; }
  /* the process's name (comm, what ps and pgrep see) is the base name of the path given, as the kernel makes it */
  const char *slash = strrchr(given, '/');
  char comm[64];
  snprintf(comm, sizeof comm, "%.63s", slash != NULL ? slash + 1 : given);
  if (comm[0] == '\0' || strcmp(comm, ".") == 0 || strcmp(comm, "..") == 0) snprintf(comm, sizeof comm, "exe");
  int rc = 0;
  if (given[0] == '\0' && (flags & AT_EMPTY_PATH)) {
    /* fexecve: the program is the descriptor; a script's interpreter is handed /dev/fd/N, as by the kernel */
    snprintf(host, sizeof host, "/proc/%d/fd/%d", pid, (int)dirfd);
    snprintf(script_name, sizeof script_name, "/dev/fd/%d", (int)dirfd);
    char h[PATH_MAX];
    ssize_t n = readlink(host, h, sizeof h - 1);
    if (n <= 0) snprintf(guest, sizeof guest, "%s", script_name);
    else { h[n] = '\0'; if (!inside(p->root, h, guest, sizeof guest)) snprintf(guest, sizeof guest, "%s", script_name); }
  } else {
    snprintf(script_name, sizeof script_name, "%s", given);
    /* /proc/<pid>/exe would be the root's loader: the program it ran instead */
    const char *self = NULL;
    if (strcmp(given, "/proc/self/exe") == 0 || strcmp(given, "/proc/thread-self/exe") == 0) self = p->exe;
    else if (strncmp(given, "/proc/", 6) == 0) {
      char *end;
      long other = strtol(given + 6, &end, 10);
      if (end != given + 6 && strcmp(end, "/exe") == 0) { struct proc *o = proc_find((pid_t)other); if (o != NULL) self = o->exe; }
    }
    if (self != NULL) snprintf(given, sizeof given, "%s", self);
    char bbuf[PATH_MAX];
    const char *base = NULL;
    if (given[0] != '/') {
      base = base_of(p, dirfd, bbuf, sizeof bbuf);
      if (base == NULL) return 0; /* outside the root: the kernel's */
    }
    rc = resolve(p->root, base, given, !(flags & AT_SYMLINK_NOFOLLOW), host, sizeof host, guest, sizeof guest, NULL);
    if (rc < 0) { emulate(p, r, rc); return 1; }
  }
  /* the arguments */
  struct argv_b av = { 0 };
  for (size_t i = 0; argvp != 0 && i < (1u << 20); i++) {
    unsigned long a;
    if (read_mem(pid, argvp + i * sizeof a, &a, sizeof a) != 0) { argv_free(&av); emulate(p, r, -EFAULT); return 1; }
    if (a == 0) break;
    argv_push(&av, a, NULL);
  }
  char interp[PATH_MAX];
  char exec_host[PATH_MAX * 2 + 8];
  for (int depth = 0;; depth++) {
    if (depth > 4) { argv_free(&av); emulate(p, r, -ELOOP); return 1; }
    if (depth == 0) { int e = dac_exec(p, host); if (e != 0) { argv_free(&av); emulate(p, r, e); return 1; } }
    struct stat st;
    if (stat(host, &st) != 0) { int e = errno; argv_free(&av); emulate(p, r, -e); return 1; }
    if (!S_ISREG(st.st_mode) || access(host, X_OK) != 0) { argv_free(&av); emulate(p, r, -EACCES); return 1; }
    int fd = open(host, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { int e = errno; argv_free(&av); emulate(p, r, -e); return 1; }
    unsigned char head[256];
    ssize_t hn = pread(fd, head, sizeof head - 1, 0);
    if (hn < 0) hn = 0;
    head[hn] = '\0';
    if (hn >= 2 && head[0] == '#' && head[1] == '!') {
      close(fd);
      char *line = (char *)head + 2, *nl = strchr(line, '\n');
      if (nl == NULL) { argv_free(&av); emulate(p, r, -ENOEXEC); return 1; }
      *nl = '\0';
      while (*line == ' ' || *line == '\t') line++;
      char *end = line;
      while (*end != '\0' && *end != ' ' && *end != '\t') end++;
      char *opt = NULL;
      if (*end != '\0') {
        *end = '\0';
        opt = end + 1;
        while (*opt == ' ' || *opt == '\t') opt++;
        size_t ol = strlen(opt);
        while (ol > 0 && (opt[ol - 1] == ' ' || opt[ol - 1] == '\t' || opt[ol - 1] == '\r')) opt[--ol] = '\0';
        if (*opt == '\0') opt = NULL;
      }
      if (*line == '\0') { argv_free(&av); emulate(p, r, -ENOEXEC); return 1; }
      /* as the kernel: interpreter, its argument, the script as given, then argv[1..] */
      struct argv_b nb = { 0 };
      argv_push(&nb, 0, line);
      if (opt != NULL) argv_push(&nb, 0, opt);
      argv_push(&nb, 0, script_name);
      for (size_t i = 1; i < av.n; i++) argv_push(&nb, av.a[i].addr, av.a[i].str);
      argv_free(&av);
      av = nb;
      snprintf(script_name, sizeof script_name, "%s", line);
      char bbuf[PATH_MAX];
      const char *base = line[0] == '/' ? NULL : base_of(p, AT_FDCWD, bbuf, sizeof bbuf);
      rc = resolve(p->root, base, line, 1, host, sizeof host, guest, sizeof guest, NULL);
      if (rc < 0) { argv_free(&av); emulate(p, r, rc); return 1; }
      continue;
    }
    int ei = elf_interp(fd, head, (size_t)hn, interp, sizeof interp);
    close(fd);
    if (ei < 0) { argv_free(&av); emulate(p, r, ei); return 1; }
    if (ei == 0) { snprintf(exec_host, sizeof exec_host, "%s", host); break; }
    /* dynamic: the root's loader runs the program, found by its path inside the root */
    char ld_guest[PATH_MAX + 2];
    rc = resolve(p->root, NULL, interp, 1, exec_host, sizeof exec_host, ld_guest, sizeof ld_guest, NULL);
    if (rc < 0) { argv_free(&av); emulate(p, r, rc); return 1; }
    struct argv_b nb = { 0 };
    argv_push(&nb, 0, interp);
    if (av.n > 0 && ld_has_argv0(exec_host)) {
      argv_push(&nb, 0, "--argv0");
      argv_push(&nb, av.a[0].addr, av.a[0].str);
    }
    argv_push(&nb, 0, guest[0] == '/' ? guest : script_name);
    for (size_t i = 1; i < av.n; i++) argv_push(&nb, av.a[i].addr, av.a[i].str);
    argv_free(&av);
    av = nb;
    name_loader(exec_host, sizeof exec_host, comm);
    break;
  }
  /* write: the host file name, the new strings, the pointer array */
  size_t need = strlen(exec_host) + 1;
  for (size_t i = 0; i < av.n; i++) if (av.a[i].str != NULL) need += strlen(av.a[i].str) + 1;
  need = (need + 15) & ~(size_t)15;
  size_t arr = (av.n + 1) * sizeof(unsigned long);
  unsigned long base = scratch(p, r, need + arr > SLOT_SIZE ? SLOT_SIZE : need + arr);
  if (base == 0) { argv_free(&av); return 1; } /* the scratch mapping is being made: the call restarts */
  int in_area = 0;
  if (need + arr > SLOT_SIZE) {
    /* a long argument list (xargs): the exec area while no other execve of this address space holds it */
    struct mm *m = p->mm;
    if (m != NULL && m->base > 1 && m->exec_busy == 0 && need + arr <= EXEC_AREA) {
      base = m->base + (unsigned long)SLOT_SIZE * NSLOTS;
      m->exec_busy = pid;
      m->refs++;
      p->exec_mm = m;
      in_area = 1;
    } else base = (R_SP(*r) - 256 - (need + arr)) & ~15ul; /* held by another execve: below the stack pointer */
  }
  char *blob = calloc(1, need + arr);
  if (blob == NULL) die("out of memory");
  size_t off = 0;
  size_t fl = strlen(exec_host) + 1;
  memcpy(blob, exec_host, fl);
  off = fl;
  unsigned long *ptrs = (unsigned long *)(void *)(blob + need);
  for (size_t i = 0; i < av.n; i++) {
    if (av.a[i].str != NULL) {
      size_t l = strlen(av.a[i].str) + 1;
      memcpy(blob + off, av.a[i].str, l);
      ptrs[i] = base + off;
      off += l;
    } else ptrs[i] = av.a[i].addr;
  }
  ptrs[av.n] = 0;
  int ok = write_mem(pid, base, blob, need + arr) == 0;
  free(blob);
  argv_free(&av);
  if (!ok) { if (in_area) exec_area_done(p); emulate(p, r, -E2BIG); return 1; }
  free(p->exe_next);
  p->exe_next = strdup(guest);
  r_set_arg(r, 0, base);
  r_set_arg(r, 1, base + need);
  r_set_arg(r, 2, envp);
  if (at) set_nr(pid, r, SYS_execve); else set_regs(pid, r);
  if (in_area) { p->pend = P_EXEC_AREA; resume(pid, 1); } /* the area is free again when the call returns */
  else resume(pid, 0);
  return 1;
}

/* The exec area of the address space an execve used (its call has returned, in the new program or with an error). */
void exec_area_done(struct proc *p) {
  struct mm *m = p->exec_mm;
  if (m == NULL) return;
  p->exec_mm = NULL;
  m->exec_busy = 0;
  if (--m->refs == 0) free(m);
}

