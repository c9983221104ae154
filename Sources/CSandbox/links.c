// The network of an isolated instance, shared by the sandbox (between clone and execve), the
// oci backend (a network namespace made for the runtime to join) and the microvm backend (a
// tap): the instance's address /32 on its own link, a default route through a gateway that
// exists only as a permanent neighbour entry for the host end, and on the host a /32 route in
// the local table (it wins over `local 127.0.0.0/8 dev lo`) with route_localnet and no forwarding.

#include "CSandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netlink.h"

/// The instance's next hop: a link-local address that exists only as a permanent neighbour
/// entry pointing at the host end of its link.
static const uint32_t cs_gateway = 0x0100FEA9; // 169.254.0.1 in network byte order

static int fail(const char **step, const char *what, int r) {
    if (step) *step = what;
    return r < 0 ? r : -EIO;
}

int cs_link_instance_end(int nl, const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6], int host_netns_fd,
                         uint32_t address, const char **step) {
    int r = cs_nl_veth_create(nl, "eth0", instance_mac, host_ifname, host_mac, host_netns_fd);
    if (r < 0) return fail(step, "create the veth pair", r);
    int index = cs_nl_link_index(nl, "eth0");
    if (index < 0) return fail(step, "find eth0", index);
    if ((r = cs_nl_link_prepare(nl, index)) < 0) return fail(step, "bring up eth0", r);
    if ((r = cs_nl_address_add(nl, index, address)) < 0) return fail(step, "add the instance's address", r);
    if ((r = cs_nl_neighbour_add(nl, index, cs_gateway, host_mac)) < 0) return fail(step, "add the gateway's neighbour entry", r);
    if ((r = cs_nl_route_add(nl, RT_TABLE_MAIN, 0, 0, cs_gateway, index, address)) < 0) return fail(step, "add the default route", r);
    return 0;
}

int cs_link_host_end(int nl, const char *host_ifname, uint32_t address, const uint8_t instance_mac[6], uint32_t host_source, const char **step) {
    int host = cs_nl_link_index(nl, host_ifname);
    if (host < 0) return fail(step, "find the link's host end", host);
    int r = cs_nl_link_prepare(nl, host);
    if (r < 0) return fail(step, "bring up the link's host end", r);
    if ((r = cs_nl_neighbour_add(nl, host, address, instance_mac)) < 0) return fail(step, "add the host's neighbour entry", r);
    // In the local table, so this /32 wins over `local 127.0.0.0/8 dev lo`.
    if ((r = cs_nl_route_add(nl, RT_TABLE_LOCAL, address, 32, 0, host, host_source)) < 0) return fail(step, "add the host's route to the instance", r);
    return 0;
}

int csandbox_link_instance_end(const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6], int host_netns_fd,
                               uint32_t address, const char **step) {
    int nl = cs_nl_open();
    if (nl < 0) return fail(step, "open a netlink socket", nl);
    int r = cs_link_instance_end(nl, host_ifname, host_mac, instance_mac, host_netns_fd, address, step);
    close(nl);
    return r;
}

int csandbox_link_host_end(const char *host_ifname, uint32_t address, const uint8_t instance_mac[6], uint32_t host_source, const char **step) {
    int nl = cs_nl_open();
    if (nl < 0) return fail(step, "open a netlink socket", nl);
    int r = cs_link_host_end(nl, host_ifname, address, instance_mac, host_source, step);
    close(nl);
    return r;
}

int csandbox_netns_create(const char *path, const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6],
                          uint32_t address, uint32_t host_source, const char **step) {
    int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (host < 0) return fail(step, "open this thread's network namespace", -errno);
    int file = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (file < 0) {
        int e = errno;
        close(host);
        return fail(step, "create the namespace's file", -e);
    }
    close(file);
    int r = 0;
    if (unshare(CLONE_NEWNET) < 0) {
        r = fail(step, "unshare the network namespace", -errno);
    } else {
        if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0) r = fail(step, "bind the namespace", -errno);
        else r = csandbox_link_instance_end(host_ifname, host_mac, instance_mac, host, address, step);
        // This thread goes back to the host's namespace, whatever happened.
        if (setns(host, CLONE_NEWNET) < 0) abort();
    }
    close(host);
    if (r == 0) r = csandbox_link_host_end(host_ifname, address, instance_mac, host_source, step);
    if (r < 0) {
        csandbox_delete_link(host_ifname);
        csandbox_netns_remove(path);
    }
    return r;
}

int csandbox_network_prepare(const char *host_ifname, const uint8_t host_mac[6], const uint8_t instance_mac[6], csandbox_network *network,
                             const char **step) {
    *network = (csandbox_network){.netns_fd = -1, .netlink_fd = -1};
    int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (host < 0) return fail(step, "open this thread's network namespace", -errno);
    int r = 0;
    if (unshare(CLONE_NEWNET) < 0) {
        r = fail(step, "unshare the network namespace", -errno);
    } else {
        // The namespace is held by this descriptor, and the socket opened in it stays bound to it.
        network->netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (network->netns_fd < 0) r = fail(step, "open the new network namespace", -errno);
        else if ((network->netlink_fd = cs_nl_open()) < 0) r = fail(step, "open a netlink socket in the new namespace", network->netlink_fd);
        else if ((r = cs_nl_veth_create(network->netlink_fd, "eth0", instance_mac, host_ifname, host_mac, host)) < 0) r = fail(step, "create the veth pair", r);
        else if ((network->instance_index = cs_nl_link_index(network->netlink_fd, "eth0")) < 0) r = fail(step, "find eth0", network->instance_index);
        else if ((r = cs_nl_link_prepare(network->netlink_fd, network->instance_index)) < 0) r = fail(step, "bring up eth0", r);
        else if ((r = cs_nl_neighbour_add(network->netlink_fd, network->instance_index, cs_gateway, host_mac)) < 0) {
            r = fail(step, "add the gateway's neighbour entry", r);
        }
        // This thread goes back to the host's namespace, whatever happened.
        if (setns(host, CLONE_NEWNET) < 0) abort();
    }
    close(host);
    if (r == 0) {
        int nl = cs_nl_open();
        if (nl < 0) r = fail(step, "open a netlink socket", nl);
        else {
            if ((network->host_index = cs_nl_link_index(nl, host_ifname)) < 0) r = fail(step, "find the link's host end", network->host_index);
            else if ((r = cs_nl_link_prepare(nl, network->host_index)) < 0) r = fail(step, "bring up the link's host end", r);
            close(nl);
        }
    }
    if (r < 0) {
        csandbox_delete_link(host_ifname);
        csandbox_network_close(network);
    }
    return r;
}

int csandbox_network_assign(const csandbox_network *network, uint32_t address, const uint8_t instance_mac[6], uint32_t host_source, const char **step) {
    int host = cs_nl_open();
    if (host < 0) return fail(step, "open a netlink socket", host);
    cs_nl_batch inside = {0}, outside = {0};
    int r = cs_nl_batch_address(&inside, network->instance_index, address);
    if (r == 0) r = cs_nl_batch_route(&inside, RT_TABLE_MAIN, 0, 0, cs_gateway, network->instance_index, address);
    if (r == 0) r = cs_nl_batch_neighbour(&outside, network->host_index, address, instance_mac);
    // In the local table, so this /32 wins over `local 127.0.0.0/8 dev lo`.
    if (r == 0) r = cs_nl_batch_route(&outside, RT_TABLE_LOCAL, address, 32, 0, network->host_index, host_source);
    if (r < 0) {
        close(host);
        return fail(step, "build the address's netlink requests", r);
    }
    // Both sides' requests are in flight before either answer is read.
    static const char *const insideSteps[] = {"add the instance's address", "add the default route"};
    static const char *const outsideSteps[] = {"add the host's neighbour entry", "add the host's route to the instance"};
    int failed = 0;
    if ((r = cs_nl_batch_send(network->netlink_fd, &inside)) < 0) r = fail(step, insideSteps[0], r);
    else if ((r = cs_nl_batch_send(host, &outside)) < 0) {
        cs_nl_batch_wait(network->netlink_fd, &inside, &failed);
        r = fail(step, outsideSteps[0], r);
    } else {
        int insideResult = cs_nl_batch_wait(network->netlink_fd, &inside, &failed);
        int insideFailed = failed;
        int outsideResult = cs_nl_batch_wait(host, &outside, &failed);
        if (insideResult < 0) r = fail(step, insideSteps[insideFailed], insideResult);
        else if (outsideResult < 0) r = fail(step, outsideSteps[failed], outsideResult);
    }
    close(host);
    return r;
}

void csandbox_network_close(csandbox_network *network) {
    if (network->netlink_fd >= 0) close(network->netlink_fd);
    if (network->netns_fd >= 0) close(network->netns_fd);
    network->netlink_fd = -1;
    network->netns_fd = -1;
}

void csandbox_netns_remove(const char *path) {
    umount2(path, MNT_DETACH);
    unlink(path);
}

int csandbox_tap_create(const char *name, const uint8_t mac[6], const char **step) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return fail(step, "open /dev/net/tun", -errno);
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    int r = 0;
    if (ioctl(fd, TUNSETIFF, &request) < 0) r = fail(step, "create the tap", -errno);
    else if (ioctl(fd, TUNSETPERSIST, 1) < 0) r = fail(step, "make the tap persistent", -errno);
    close(fd);
    if (r < 0) return r;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) r = fail(step, "open a socket", -errno);
    else {
        request.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        memcpy(request.ifr_hwaddr.sa_data, mac, 6);
        if (ioctl(s, SIOCSIFHWADDR, &request) < 0) r = fail(step, "set the tap's MAC address", -errno);
        close(s);
    }
    if (r < 0) csandbox_delete_link(name);
    return r;
}

int csandbox_become_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}
