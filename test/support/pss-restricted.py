#!/usr/bin/python3
# Copied from the workplace tools (../shared/tools/pss-restricted.py) so CI on a clean clone has it.
"""Run a command the way a Kubernetes Pod under Pod Security Standards "Restricted" with the RuntimeDefault
seccomp profile would: as a non-root uid, no capabilities, no privilege escalation, and the namespace-creating
calls that Docker's/containerd's default seccomp profile refuses without CAP_SYS_ADMIN refused here too.

usage (as root): pss-restricted.py UID:GID COMMAND [ARG…]"""
import errno, os, sys
import seccomp

uid, gid = (int(x) for x in sys.argv[1].split(":"))
os.setgroups([]); os.setgid(gid); os.setuid(uid)           # drops every capability (no keep-caps)
f = seccomp.SyscallFilter(seccomp.ALLOW)                   # needs no_new_privs, which libseccomp sets by default
for name in ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen"):
    try:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    except (RuntimeError, OSError, ValueError):
        pass
for bit in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
    f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")             # as the default profile: callers fall back to clone
f.load()
os.execvp(sys.argv[2], sys.argv[2:])
