#ifndef CSANDBOX_H
#define CSANDBOX_H

// The part of the sandbox backend that must run between clone and execve: a child in new
// network, PID, mount, UTS and IPC namespaces joins its cgroups, gets its veth and address,
// pivots into a read-only root, drops every capability, loads the seccomp allow-list and
// execs. Only system calls and async-signal-safe code run in the child (it shares the
// parent's memory until execve, like vfork); everything that needs a heap is prepared by the
// Swift side before the call.

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What one sandboxed child gets. Strings are NUL-terminated; paths are host paths.
typedef struct csandbox_spec {
    /// Prepared root directory (holds the executable, `data/`, `dev/null`, `proc/`); bound read-only as `/`.
    const char *root;
    /// Per-instance directory bound read-write at `/data` (volume, ready file).
    const char *data;
    /// argv[0] is the executable's path inside the root; NULL-terminated.
    char *const *argv;
    /// NULL-terminated environment.
    char *const *envp;
    /// UTS host name.
    const char *hostname;
    /// Files the child writes "0" into to join its cgroups (v1 `tasks`, v2 `cgroup.procs`; one per hierarchy), opened by the caller.
    const int *cgroup_fds;
    int cgroup_fd_count;
    /// Standard input, and standard output + error.
    int stdin_fd;
    int log_fd;
    /// The caller's network namespace (`/proc/self/ns/net`), where the host end of the veth goes.
    int host_netns_fd;
    /// A network namespace prepared ahead (``csandbox_network_prepare``, its address assigned)
    /// that the child joins instead of making its own; -1: the child makes one and its veth.
    int netns_fd;
    /// The instance's IPv4 address in network byte order; 0: no interface at all.
    uint32_t address;
    /// Source address of the host's route to the instance (network byte order), e.g. 127.0.0.1.
    uint32_t host_source;
    /// Name of the veth's host end (at most 15 bytes).
    const char *host_ifname;
    uint8_t host_mac[6];
    uint8_t instance_mac[6];
    /// Credentials the executable runs with.
    uid_t uid;
    gid_t gid;
    /// Non-zero: load the seccomp allow-list before execve.
    int seccomp;
    /// Non-zero: mount a `proc` (only this instance's processes, `subset=pid`) at `/proc`.
    int mount_proc;
    /// A mount namespace made by ``csandbox_mount_template`` for `root`: the child's mount
    /// namespace is a copy of it plus `/data` (no copy of the host's mounts, no pivot_root);
    /// -1: the child clones the host's mounts and pivots into `root` itself.
    int mount_template_fd;
    /// Non-zero: SIGKILL the child when the thread that cloned it ends (`PR_SET_PDEATHSIG`);
    /// zero lets it outlive this process (a site agent's caches survive an agent restart).
    int die_with_parent;
} csandbox_spec;

/// Why a spawn failed: the step and the errno.
typedef struct csandbox_error {
    /// A static string naming the step ("mount /data", "execve", ...); NULL when no error.
    const char *step;
    int error;
} csandbox_error;

/// When each step of a spawn ended (CLOCK_MONOTONIC, nanoseconds), for the start-up profile.
enum {
    /// The parent is about to clone.
    CSANDBOX_AT_CLONE,
    /// The child runs (its namespaces exist).
    CSANDBOX_AT_CHILD,
    /// It joined its cgroups.
    CSANDBOX_AT_CGROUPS,
    /// Its network is set up (or joined).
    CSANDBOX_AT_NETWORK,
    /// Host name and mounts done, in its root.
    CSANDBOX_AT_MOUNTS,
    /// Credentials, capabilities and seccomp done: it calls execve.
    CSANDBOX_AT_EXECVE,
    /// The parent runs again (the child's execve released the shared memory).
    CSANDBOX_AT_RETURN,
    CSANDBOX_AT_COUNT
};

typedef struct csandbox_timing {
    int64_t at[CSANDBOX_AT_COUNT];
} csandbox_timing;

/// Clones a child into new namespaces, sets it up as `spec` says and execs it. Returns once the
/// child has called execve (or failed before it).
/// @param timing when each step ended (may be NULL).
/// @return the child's pid (> 0) and its pidfd in `*pidfd`, or -1 with `*error` filled in
///   (the child, if it was created, has been reaped).
pid_t csandbox_spawn(const csandbox_spec *spec, int *pidfd, csandbox_error *error, csandbox_timing *timing);

/// A mount namespace whose root is `root` bound read-only (nosuid, nodev), with the host's
/// `/dev/null` bound at `/dev/null` (nosuid, nodev, noexec) and nothing else: the template every
/// child of ``csandbox_spawn`` copies (`mount_template_fd`). Made on a thread of its own, so the
/// caller's mounts and root stay as they are; the namespace lives as long as `*fd` is open.
/// @return 0, or a negative errno with `*step` naming what failed.
int csandbox_mount_template(const char *root, int *fd, const char **step);

/// Deletes the network interface `name` in the caller's namespace (both ends of a veth).
/// @return 0, or a negative errno (-ENODEV when there is no such interface).
int csandbox_delete_link(const char *name);

/// The number of system calls in the seccomp allow-list, and the name of the i-th.
int csandbox_allowed_syscall_count(void);
const char *csandbox_allowed_syscall_name(int index);

/// Sends `signal` through a pidfd. @return 0 or a negative errno.
int csandbox_pidfd_signal(int pidfd, int signal);

/// Reaps the child behind `pidfd` if it has ended (never blocks).
/// @return 1 with `*signal` (0 when it exited) and `*status` (exit status or signal number)
///   filled in; 0 while it runs; a negative errno (-ECHILD: not a child of this process).
int csandbox_reap(int pidfd, int *signal, int *status);

/// Opens a pidfd for `pid` (an instance this process did not start). @return fd or -errno.
int csandbox_pidfd_open(pid_t pid);

/// Whether the process behind `pidfd` has ended (a pidfd turns readable then), for processes
/// that are not this one's children. @return 1, 0, or -errno.
int csandbox_pidfd_ended(int pidfd);

// Links of instances the oci and microvm backends start (links.c): the same wiring as a
// sandbox's veth. Each returns 0, or a negative errno with `*step` naming what failed.

/// In the calling thread's network namespace: creates `eth0` (`instance_mac`) as a veth whose
/// other end, `host_ifname` (`host_mac`), goes to the namespace `host_netns_fd`; gives eth0
/// `address`/32 (network byte order), a permanent neighbour entry for the gateway 169.254.0.1
/// pointing at `host_mac`, and a default route through it.
int csandbox_link_instance_end(const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6], int host_netns_fd,
                               uint32_t address, const char **step);

/// In the caller's network namespace: route_localnet on and forwarding off for `host_ifname`,
/// up, a permanent neighbour entry `address` -> `instance_mac`, and `address`/32 routed to it
/// from the local table with preferred source `host_source`.
int csandbox_link_host_end(const char *host_ifname, uint32_t address, const uint8_t instance_mac[6], uint32_t host_source, const char **step);

/// A network namespace bound at `path` (a new file) whose `eth0` is an instance's end (as
/// ``csandbox_link_instance_end``), with the host end set up (``csandbox_link_host_end``). The
/// calling thread enters the new namespace for a moment and returns to its own. On failure
/// nothing is left behind.
int csandbox_netns_create(const char *path, const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6],
                          uint32_t address, uint32_t host_source, const char **step);

/// A network namespace made ahead of need for one sandbox (a pool of them takes the namespace's
/// creation and most of the link's netlink requests off the start path).
typedef struct csandbox_network {
    /// The namespace (held open by this descriptor).
    int netns_fd;
    /// A NETLINK_ROUTE socket opened in it.
    int netlink_fd;
    /// `eth0`'s index inside, and the host end's on the host.
    int instance_index;
    int host_index;
} csandbox_network;

/// A new network namespace whose `eth0` (`instance_mac`) is a veth whose other end,
/// `host_ifname` (`host_mac`), is in the caller's namespace: eth0 up with route_localnet and a
/// permanent neighbour entry for the gateway 169.254.0.1 -> `host_mac`; the host end up with
/// route_localnet and no forwarding. No address yet (``csandbox_network_assign``). The calling
/// thread enters the new namespace for a moment and returns to its own. On failure nothing is
/// left behind. @return 0, or a negative errno with `*step` naming what failed.
int csandbox_network_prepare(const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6], csandbox_network *network,
                             const char **step);

/// Gives a prepared namespace its instance's `address` (network byte order): eth0's address
/// /32 and default route inside; the neighbour entry -> `instance_mac` and the /32 route in the
/// local table (preferred source `host_source`) on the host. Four requests in two datagrams,
/// both in flight at once. @return 0, or a negative errno with `*step`.
int csandbox_network_assign(const csandbox_network *network, uint32_t address, const uint8_t instance_mac[6], uint32_t host_source, const char **step);

/// Closes a prepared namespace's descriptors (the namespace ends with its last user; delete the
/// host end with ``csandbox_delete_link`` to remove the link at once).
void csandbox_network_close(csandbox_network *network);

/// Unbinds and deletes a namespace file made by ``csandbox_netns_create`` (the kernel frees the
/// namespace with its last user).
void csandbox_netns_remove(const char *path);

/// Creates the persistent tap device `name` (vnet headers, no packet information) with `mac`,
/// for QEMU to open by name. Delete it with ``csandbox_delete_link``.
int csandbox_tap_create(const char *name, const uint8_t mac[6], const char **step);

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER): a
/// container's first process becomes its child once the runtime that started it exits.
/// @return 0 or -errno.
int csandbox_become_subreaper(void);

#ifdef __cplusplus
}
#endif

#endif
