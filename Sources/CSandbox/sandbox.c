#include "CSandbox.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netlink.h"
#include "seccomp.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
struct mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

enum { CS_STACK_SIZE = 256 * 1024, CS_FILTER_CAPACITY = 1024 };

/// What the child reads (prepared by the parent) and writes back (its error). Shared memory:
/// the child runs in the parent's address space until execve.
typedef struct child_context {
    const csandbox_spec *spec;
    struct sock_fprog filter;
    int host_netlink;
    char data_target[PATH_MAX];
    char null_target[PATH_MAX];
    char proc_target[PATH_MAX];
    csandbox_error error;
    csandbox_timing *timing;
} child_context;

static void stamp(child_context *c, int step) {
    if (!c->timing) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    c->timing->at[step] = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static _Noreturn void child_fail(child_context *c, const char *step, int error) {
    c->error.step = step;
    c->error.error = error > 0 ? error : (error < 0 ? -error : EIO);
    _exit(127);
}

static void child_network(child_context *c) {
    const csandbox_spec *s = c->spec;
    const char *step = NULL;
    int nl = cs_nl_open();
    if (nl < 0) child_fail(c, "open a netlink socket in the instance's namespace", nl);
    int r = cs_link_instance_end(nl, s->host_ifname, s->host_mac, s->instance_mac, s->host_netns_fd, s->address, &step);
    if (r < 0) child_fail(c, step, r);
    if ((r = cs_link_host_end(c->host_netlink, s->host_ifname, s->address, s->instance_mac, s->host_source, &step)) < 0) child_fail(c, step, r);
    close(nl);
}

static void child_mounts(child_context *c) {
    const csandbox_spec *s = c->spec;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(c, "make the mounts private", errno);
    if (mount(s->root, s->root, NULL, MS_BIND, NULL) < 0) child_fail(c, "bind the root", errno);
    const unsigned long locked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount(s->data, c->data_target, NULL, MS_BIND, NULL) < 0) child_fail(c, "bind /data", errno);
    if (mount(NULL, c->data_target, NULL, MS_REMOUNT | MS_BIND | locked, NULL) < 0) child_fail(c, "remount /data", errno);
    if (mount("/dev/null", c->null_target, NULL, MS_BIND, NULL) < 0) child_fail(c, "bind /dev/null", errno);
    if (mount(NULL, c->null_target, NULL, MS_REMOUNT | MS_BIND | locked, NULL) < 0) child_fail(c, "remount /dev/null", errno);
    if (s->mount_proc && mount("proc", c->proc_target, "proc", locked, "subset=pid") < 0) child_fail(c, "mount /proc", errno);
    if (mount(NULL, s->root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
        child_fail(c, "remount the root read-only", errno);
    }
    if (chdir(s->root) < 0) child_fail(c, "enter the root", errno);
    if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(c, "pivot_root", errno);
    if (umount2(".", MNT_DETACH) < 0) child_fail(c, "detach the old root", errno);
    if (chdir("/") < 0) child_fail(c, "chdir /", errno);
}

/// With a mount template: the instance's mount namespace is a copy of the template's (its root
/// and `/dev/null`, already read-only and pivoted), with `/data` attached from a detached bind
/// of the instance's directory. No copy of the host's mounts, no pivot_root, no detach of an old
/// root (which waits for an RCU grace period).
static void child_mounts_from_template(child_context *c) {
    const csandbox_spec *s = c->spec;
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, s->data, OPEN_TREE_CLONE | O_CLOEXEC);
    if (tree < 0) child_fail(c, "bind /data (open_tree)", errno);
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) child_fail(c, "lock /data (mount_setattr)", errno);
    if (setns(s->mount_template_fd, CLONE_NEWNS) < 0) child_fail(c, "join the mount template", errno);
    if (unshare(CLONE_NEWNS) < 0) child_fail(c, "copy the mount template", errno);
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, "/data", MOVE_MOUNT_F_EMPTY_PATH) < 0) child_fail(c, "attach /data (move_mount)", errno);
    close(tree);
    const unsigned long locked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (s->mount_proc && mount("proc", "/proc", "proc", locked, "subset=pid") < 0) child_fail(c, "mount /proc", errno);
    if (chdir("/") < 0) child_fail(c, "chdir /", errno);
}

static void child_privileges(child_context *c) {
    const csandbox_spec *s = c->spec;
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) child_fail(c, "drop the capability bounding set", errno);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) child_fail(c, "clear ambient capabilities", errno);
    // Raw system calls: glibc's set*id wrappers would signal the parent's other threads.
    if (syscall(SYS_setgroups, 0, NULL) < 0) child_fail(c, "setgroups", errno);
    if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0) child_fail(c, "setresgid", errno);
    if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0) child_fail(c, "setresuid", errno);
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct none[2];
    memset(none, 0, sizeof none);
    if (syscall(SYS_capset, &header, none) < 0) child_fail(c, "clear capabilities", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(c, "set no_new_privs", errno);
    // After the credentials changed (which clears it): the instance dies with the thread that cloned it.
    if (s->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(c, "set the parent-death signal", errno);
}

static int child_main(void *argument) {
    child_context *c = argument;
    const csandbox_spec *s = c->spec;
    struct sigaction standard;
    memset(&standard, 0, sizeof standard);
    standard.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; signal++) sigaction(signal, &standard, NULL);
    stamp(c, CSANDBOX_AT_CHILD);
    setsid();
    for (int i = 0; i < s->cgroup_fd_count; i++) {
        if (write(s->cgroup_fds[i], "0", 1) != 1) child_fail(c, "join the instance's cgroup", errno);
    }
    stamp(c, CSANDBOX_AT_CGROUPS);
    if (dup2(s->stdin_fd, 0) < 0 || dup2(s->log_fd, 1) < 0 || dup2(s->log_fd, 2) < 0) child_fail(c, "set up standard input and output", errno);
    if (s->netns_fd >= 0) {
        if (setns(s->netns_fd, CLONE_NEWNET) < 0) child_fail(c, "join the prepared network namespace", errno);
    } else if (s->address) {
        child_network(c);
    }
    stamp(c, CSANDBOX_AT_NETWORK);
    if (sethostname(s->hostname, strlen(s->hostname)) < 0) child_fail(c, "sethostname", errno);
    if (s->mount_template_fd >= 0) {
        child_mounts_from_template(c);
    } else {
        child_mounts(c);
    }
    stamp(c, CSANDBOX_AT_MOUNTS);
    if (syscall(SYS_close_range, 3, ~0U, 0) < 0) child_fail(c, "close inherited descriptors", errno);
    child_privileges(c);
    if (s->seccomp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &c->filter) < 0) child_fail(c, "load the seccomp filter", errno);
    stamp(c, CSANDBOX_AT_EXECVE);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(s->argv[0], s->argv, s->envp);
    child_fail(c, "execve", errno);
}

static int join_path(char *buffer, const char *root, const char *leaf) {
    int n = snprintf(buffer, PATH_MAX, "%s/%s", root, leaf);
    return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

pid_t csandbox_spawn(const csandbox_spec *spec, int *pidfd, csandbox_error *error, csandbox_timing *timing) {
    child_context context;
    memset(&context, 0, sizeof context);
    child_context *c = &context;
    c->spec = spec;
    c->timing = timing;
    if (timing) memset(timing, 0, sizeof *timing);
    c->host_netlink = -1;
    error->step = NULL;
    error->error = 0;
    struct sock_filter code[CS_FILTER_CAPACITY];
    int length = cs_seccomp_build(code, CS_FILTER_CAPACITY);
    if (length < 0) {
        *error = (csandbox_error){"build the seccomp filter", -length};
        return -1;
    }
    c->filter = (struct sock_fprog){.len = (unsigned short)length, .filter = code};
    if (join_path(c->data_target, spec->root, "data") < 0 || join_path(c->null_target, spec->root, "dev/null") < 0
        || join_path(c->proc_target, spec->root, "proc") < 0) {
        *error = (csandbox_error){"name the root's mount points", ENAMETOOLONG};
        return -1;
    }
    if (spec->address && spec->netns_fd < 0) {
        c->host_netlink = cs_nl_open();
        if (c->host_netlink < 0) {
            *error = (csandbox_error){"open a netlink socket", -c->host_netlink};
            return -1;
        }
    }
    char *stack = mmap(NULL, CS_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        *error = (csandbox_error){"map the child's stack", errno};
        if (c->host_netlink >= 0) close(c->host_netlink);
        return -1;
    }
    // No handler of this process may run in the child while it shares this memory.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int fd = -1;
    int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
    if (spec->netns_fd < 0) flags |= CLONE_NEWNET;
    // With a template the child makes its mount namespace itself (a copy of the template's).
    if (spec->mount_template_fd < 0) flags |= CLONE_NEWNS;
    stamp(c, CSANDBOX_AT_CLONE);
    pid_t pid = clone(child_main, stack + CS_STACK_SIZE, flags, c, &fd);
    int cloneError = errno;
    stamp(c, CSANDBOX_AT_RETURN);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, CS_STACK_SIZE);
    if (c->host_netlink >= 0) close(c->host_netlink);
    if (pid < 0) {
        *error = (csandbox_error){"clone", cloneError};
        return -1;
    }
    if (c->error.step) {
        *error = c->error;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        if (fd >= 0) close(fd);
        return -1;
    }
    *pidfd = fd;
    return pid;
}

typedef struct template_job {
    const char *root;
    int fd;
    int error;
    const char *step;
} template_job;

static void *template_thread(void *argument) {
    template_job *job = argument;
    const char *step = NULL;
    int fd = -1;
    char null_target[PATH_MAX];
    const unsigned long locked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (join_path(null_target, job->root, "dev/null") < 0) {
        job->step = "name the root's mount points";
        job->error = ENAMETOOLONG;
        return NULL;
    }
    // This thread's own file system context and mount namespace: the process's stay as they are.
    if (unshare(CLONE_FS | CLONE_NEWNS) < 0) { step = "make a mount namespace"; goto fail; }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) { step = "make the mounts private"; goto fail; }
    if ((fd = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0) { step = "open the mount namespace"; goto fail; }
    if (mount(job->root, job->root, NULL, MS_BIND, NULL) < 0) { step = "bind the root"; goto fail; }
    if (mount("/dev/null", null_target, NULL, MS_BIND, NULL) < 0) { step = "bind /dev/null"; goto fail; }
    if (mount(NULL, null_target, NULL, MS_REMOUNT | MS_BIND | locked, NULL) < 0) { step = "remount /dev/null"; goto fail; }
    if (mount(NULL, job->root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) { step = "remount the root read-only"; goto fail; }
    if (chdir(job->root) < 0) { step = "enter the root"; goto fail; }
    if (syscall(SYS_pivot_root, ".", ".") < 0) { step = "pivot_root"; goto fail; }
    if (umount2(".", MNT_DETACH) < 0) { step = "detach the old root"; goto fail; }
    job->fd = fd;
    return NULL;
fail:
    job->step = step;
    job->error = errno;
    if (fd >= 0) close(fd);
    return NULL;
}

int csandbox_mount_template(const char *root, int *fd, const char **step) {
    template_job job = {.root = root, .fd = -1, .error = 0, .step = NULL};
    pthread_t thread;
    int r = pthread_create(&thread, NULL, template_thread, &job);
    if (r != 0) {
        *step = "start a thread";
        return -r;
    }
    pthread_join(thread, NULL);
    if (job.fd < 0) {
        *step = job.step;
        return -(job.error ? job.error : EIO);
    }
    *fd = job.fd;
    return 0;
}

int csandbox_delete_link(const char *name) {
    int fd = cs_nl_open();
    if (fd < 0) return fd;
    int r = cs_nl_link_delete(fd, name);
    close(fd);
    return r;
}

int csandbox_pidfd_signal(int pidfd, int signal) {
    return syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0) < 0 ? -errno : 0;
}

int csandbox_reap(int pidfd, int *signal, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG) < 0) return -errno;
    if (info.si_pid == 0) return 0;
    *signal = info.si_code == CLD_EXITED ? 0 : info.si_status;
    *status = info.si_status;
    return 1;
}

int csandbox_pidfd_ended(int pidfd) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r = poll(&p, 1, 0);
    return r < 0 ? -errno : r > 0;
}

int csandbox_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}
