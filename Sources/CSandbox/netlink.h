#ifndef CSANDBOX_NETLINK_H
#define CSANDBOX_NETLINK_H

// rtnetlink requests built in a stack buffer: no heap, only system calls, so the sandbox child
// can use them between clone and execve.

#include <stddef.h>
#include <stdint.h>

/// Opens a NETLINK_ROUTE socket in the caller's current network namespace. @return fd or -errno.
int cs_nl_open(void);

/// Creates a veth pair: `name` (with `mac`) here, `peer` (with `peer_mac`) in the namespace
/// `peer_netns_fd`. @return 0 or -errno.
int cs_nl_veth_create(int fd, const char *name, const uint8_t mac[6], const char *peer, const uint8_t peer_mac[6], int peer_netns_fd);

/// The index of interface `name` in the namespace of `fd` (SIOCGIFINDEX: no RTNL lock). @return > 0, or -errno.
int cs_nl_link_index(int fd, const char *name);

/// Sets route_localnet (1) and forwarding (0) on `ifindex`, turns off IPv6 link-local
/// addresses (best effort) and brings it up. @return 0 or -errno.
int cs_nl_link_prepare(int fd, int ifindex);

/// Adds `address`/32 (network byte order) to `ifindex`. @return 0 or -errno.
int cs_nl_address_add(int fd, int ifindex, uint32_t address);

/// Adds a unicast route `dst/dst_len` in `table` out of `ifindex`, optionally via `gateway`
/// (on-link) and with preferred source `source` (0: none). @return 0 or -errno.
int cs_nl_route_add(int fd, uint8_t table, uint32_t dst, uint8_t dst_len, uint32_t gateway, int ifindex, uint32_t source);

/// Adds a permanent neighbour entry `address` -> `mac` on `ifindex`. @return 0 or -errno.
int cs_nl_neighbour_add(int fd, int ifindex, uint32_t address, const uint8_t mac[6]);

/// Requests sent together in one datagram (the kernel answers each with its own acknowledgement):
/// one system call instead of one round trip per request.
enum { CS_NL_BATCH_MAX = 4 };
typedef struct cs_nl_batch {
    char bytes[2048];
    size_t length;
    int count;
    uint32_t sequences[CS_NL_BATCH_MAX];
    int errors[CS_NL_BATCH_MAX];
} cs_nl_batch;

/// Append the request `cs_nl_address_add`, `cs_nl_route_add` or `cs_nl_neighbour_add` would send. @return 0 or -ENOBUFS.
int cs_nl_batch_address(cs_nl_batch *batch, int ifindex, uint32_t address);
int cs_nl_batch_route(cs_nl_batch *batch, uint8_t table, uint32_t dst, uint8_t dst_len, uint32_t gateway, int ifindex, uint32_t source);
int cs_nl_batch_neighbour(cs_nl_batch *batch, int ifindex, uint32_t address, const uint8_t mac[6]);

/// Sends every request of `batch` at once. @return 0 or -errno.
int cs_nl_batch_send(int fd, cs_nl_batch *batch);

/// Reads the acknowledgements of a sent `batch`. @return 0, or the first failed request's
/// -errno with `*failed` its index in the batch.
int cs_nl_batch_wait(int fd, cs_nl_batch *batch, int *failed);

/// Deletes interface `name`. @return 0 or -errno.
int cs_nl_link_delete(int fd, const char *name);

/// An instance's end of its link, in the namespace of `fd` (see links.c). @return 0, or -errno
/// with `*step` naming what failed.
int cs_link_instance_end(int fd, const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6], int host_netns_fd,
                         uint32_t address, const char **step);

/// The host end of an instance's link, in the namespace of `fd`. @return 0, or -errno with `*step`.
int cs_link_host_end(int fd, const char *host_ifname, uint32_t address, const uint8_t instance_mac[6], uint32_t host_source, const char **step);

#endif
