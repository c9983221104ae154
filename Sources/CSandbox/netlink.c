#include "netlink.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/// One request under construction.
typedef struct nl_message {
    union {
        struct nlmsghdr header;
        char bytes[1024];
    };
} nl_message;

static void nl_begin(nl_message *m, uint16_t type, uint16_t flags, const void *body, size_t length) {
    memset(m, 0, sizeof(struct nlmsghdr) + NLMSG_ALIGN(length));
    m->header.nlmsg_type = type;
    m->header.nlmsg_flags = NLM_F_REQUEST | flags;
    m->header.nlmsg_len = NLMSG_LENGTH(length);
    memcpy(NLMSG_DATA(&m->header), body, length);
}

static struct rtattr *nl_attribute(nl_message *m, uint16_t type, const void *data, size_t length) {
    size_t offset = NLMSG_ALIGN(m->header.nlmsg_len);
    if (offset + RTA_SPACE(length) > sizeof(m->bytes)) return NULL;
    struct rtattr *attribute = (struct rtattr *)(m->bytes + offset);
    attribute->rta_type = type;
    attribute->rta_len = RTA_LENGTH(length);
    if (length) memcpy(RTA_DATA(attribute), data, length);
    m->header.nlmsg_len = offset + RTA_ALIGN(attribute->rta_len);
    return attribute;
}

static struct rtattr *nl_nest(nl_message *m, uint16_t type) { return nl_attribute(m, type, NULL, 0); }

static void nl_nest_end(nl_message *m, struct rtattr *nest) {
    nest->rta_len = (unsigned short)(m->bytes + m->header.nlmsg_len - (char *)nest);
}

static int nl_u32(nl_message *m, uint16_t type, uint32_t value) { return nl_attribute(m, type, &value, 4) ? 0 : -ENOBUFS; }

/// Sends `m` and waits for its acknowledgement.
static int nl_talk(int fd, nl_message *m) {
    static __thread uint32_t sequence;
    m->header.nlmsg_seq = ++sequence;
    m->header.nlmsg_flags |= NLM_F_ACK;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, m->bytes, m->header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    // Room for an error's copy of the request, and for notifications on the same socket.
    union {
        struct nlmsghdr header;
        char bytes[8192];
    } reply;
    for (;;) {
        ssize_t got = recv(fd, reply.bytes, sizeof reply.bytes, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (struct nlmsghdr *h = &reply.header; NLMSG_OK(h, got); h = NLMSG_NEXT(h, got)) {
            if (h->nlmsg_seq != m->header.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
            const struct nlmsgerr *e = NLMSG_DATA(h);
            return e->error;
        }
    }
}

int cs_nl_open(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    // A request the kernel never answers must not hang the spawner.
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int cs_nl_veth_create(int fd, const char *name, const uint8_t mac[6], const char *peer, const uint8_t peer_mac[6], int peer_netns_fd) {
    nl_message m;
    struct ifinfomsg link = {.ifi_family = AF_UNSPEC};
    nl_begin(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &link, sizeof link);
    if (!nl_attribute(&m, IFLA_IFNAME, name, strlen(name) + 1)) return -ENOBUFS;
    if (!nl_attribute(&m, IFLA_ADDRESS, mac, 6)) return -ENOBUFS;
    struct rtattr *info = nl_nest(&m, IFLA_LINKINFO);
    if (!info || !nl_attribute(&m, IFLA_INFO_KIND, "veth", 4)) return -ENOBUFS;
    struct rtattr *data = nl_nest(&m, IFLA_INFO_DATA);
    struct rtattr *peerInfo = data ? nl_attribute(&m, VETH_INFO_PEER, &link, sizeof link) : NULL;
    if (!peerInfo) return -ENOBUFS;
    if (!nl_attribute(&m, IFLA_IFNAME, peer, strlen(peer) + 1)) return -ENOBUFS;
    if (!nl_attribute(&m, IFLA_ADDRESS, peer_mac, 6)) return -ENOBUFS;
    if (nl_u32(&m, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd) < 0) return -ENOBUFS;
    nl_nest_end(&m, peerInfo);
    nl_nest_end(&m, data);
    nl_nest_end(&m, info);
    return nl_talk(fd, &m);
}

int cs_nl_link_index(int fd, const char *name) {
    // SIOCGIFINDEX, asked of the netlink socket (a socket's ioctls look in its own namespace):
    // a look-up under RCU, where RTM_GETLINK would queue for the RTNL lock concurrent spawns hold.
    struct ifreq request;
    memset(&request, 0, sizeof request);
    size_t length = strlen(name);
    if (length >= IFNAMSIZ) return -ENAMETOOLONG;
    memcpy(request.ifr_name, name, length);
    if (ioctl(fd, SIOCGIFINDEX, &request) < 0) return -errno;
    return request.ifr_ifindex;
}

int cs_nl_link_prepare(int fd, int ifindex) {
    nl_message m;
    struct ifinfomsg link = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
    // IPv6 first and on its own: it fails where IPv6 is off, which is fine.
    nl_begin(&m, RTM_NEWLINK, 0, &link, sizeof link);
    struct rtattr *spec = nl_nest(&m, IFLA_AF_SPEC);
    struct rtattr *inet6 = spec ? nl_nest(&m, AF_INET6) : NULL;
    if (!inet6) return -ENOBUFS;
    uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
    if (!nl_attribute(&m, IFLA_INET6_ADDR_GEN_MODE, &mode, 1)) return -ENOBUFS;
    nl_nest_end(&m, inet6);
    nl_nest_end(&m, spec);
    (void)nl_talk(fd, &m);

    link.ifi_flags = IFF_UP;
    link.ifi_change = IFF_UP;
    nl_begin(&m, RTM_NEWLINK, 0, &link, sizeof link);
    spec = nl_nest(&m, IFLA_AF_SPEC);
    struct rtattr *inet = spec ? nl_nest(&m, AF_INET) : NULL;
    struct rtattr *conf = inet ? nl_nest(&m, IFLA_INET_CONF) : NULL;
    if (!conf) return -ENOBUFS;
    // 127.0.0.0/8 addresses may cross this link; nothing arriving on it is forwarded.
    if (nl_u32(&m, IPV4_DEVCONF_ROUTE_LOCALNET, 1) < 0 || nl_u32(&m, IPV4_DEVCONF_FORWARDING, 0) < 0) return -ENOBUFS;
    nl_nest_end(&m, conf);
    nl_nest_end(&m, inet);
    nl_nest_end(&m, spec);
    return nl_talk(fd, &m);
}

static int nl_build_address(nl_message *m, int ifindex, uint32_t address) {
    struct ifaddrmsg a = {.ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = (uint32_t)ifindex};
    nl_begin(m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &a, sizeof a);
    if (nl_u32(m, IFA_LOCAL, address) < 0 || nl_u32(m, IFA_ADDRESS, address) < 0) return -ENOBUFS;
    return 0;
}

int cs_nl_address_add(int fd, int ifindex, uint32_t address) {
    nl_message m;
    int r = nl_build_address(&m, ifindex, address);
    return r < 0 ? r : nl_talk(fd, &m);
}

static int nl_build_route(nl_message *m, uint8_t table, uint32_t dst, uint8_t dst_len, uint32_t gateway, int ifindex, uint32_t source) {
    struct rtmsg r = {
        .rtm_family = AF_INET,
        .rtm_dst_len = dst_len,
        .rtm_table = table,
        .rtm_protocol = RTPROT_STATIC,
        .rtm_scope = gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
        .rtm_type = RTN_UNICAST,
        .rtm_flags = gateway ? RTNH_F_ONLINK : 0,
    };
    nl_begin(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &r, sizeof r);
    if (dst_len && nl_u32(m, RTA_DST, dst) < 0) return -ENOBUFS;
    if (gateway && nl_u32(m, RTA_GATEWAY, gateway) < 0) return -ENOBUFS;
    if (source && nl_u32(m, RTA_PREFSRC, source) < 0) return -ENOBUFS;
    if (nl_u32(m, RTA_OIF, (uint32_t)ifindex) < 0) return -ENOBUFS;
    return 0;
}

int cs_nl_route_add(int fd, uint8_t table, uint32_t dst, uint8_t dst_len, uint32_t gateway, int ifindex, uint32_t source) {
    nl_message m;
    int r = nl_build_route(&m, table, dst, dst_len, gateway, ifindex, source);
    return r < 0 ? r : nl_talk(fd, &m);
}

static int nl_build_neighbour(nl_message *m, int ifindex, uint32_t address, const uint8_t mac[6]) {
    struct ndmsg n = {.ndm_family = AF_INET, .ndm_ifindex = ifindex, .ndm_state = NUD_PERMANENT};
    nl_begin(m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &n, sizeof n);
    if (nl_u32(m, NDA_DST, address) < 0 || !nl_attribute(m, NDA_LLADDR, mac, 6)) return -ENOBUFS;
    return 0;
}

int cs_nl_neighbour_add(int fd, int ifindex, uint32_t address, const uint8_t mac[6]) {
    nl_message m;
    int r = nl_build_neighbour(&m, ifindex, address, mac);
    return r < 0 ? r : nl_talk(fd, &m);
}

/// Appends `m` to `batch` with the next sequence number and an acknowledgement asked for.
static int nl_batch_append(cs_nl_batch *batch, nl_message *m) {
    static __thread uint32_t sequence;
    size_t length = NLMSG_ALIGN(m->header.nlmsg_len);
    if (batch->count >= CS_NL_BATCH_MAX || batch->length + length > sizeof batch->bytes) return -ENOBUFS;
    m->header.nlmsg_seq = ++sequence | 0x80000000u;
    m->header.nlmsg_flags |= NLM_F_ACK;
    memcpy(batch->bytes + batch->length, m->bytes, m->header.nlmsg_len);
    batch->sequences[batch->count++] = m->header.nlmsg_seq;
    batch->length += length;
    return 0;
}

int cs_nl_batch_address(cs_nl_batch *batch, int ifindex, uint32_t address) {
    nl_message m;
    int r = nl_build_address(&m, ifindex, address);
    return r < 0 ? r : nl_batch_append(batch, &m);
}

int cs_nl_batch_route(cs_nl_batch *batch, uint8_t table, uint32_t dst, uint8_t dst_len, uint32_t gateway, int ifindex, uint32_t source) {
    nl_message m;
    int r = nl_build_route(&m, table, dst, dst_len, gateway, ifindex, source);
    return r < 0 ? r : nl_batch_append(batch, &m);
}

int cs_nl_batch_neighbour(cs_nl_batch *batch, int ifindex, uint32_t address, const uint8_t mac[6]) {
    nl_message m;
    int r = nl_build_neighbour(&m, ifindex, address, mac);
    return r < 0 ? r : nl_batch_append(batch, &m);
}

int cs_nl_batch_send(int fd, cs_nl_batch *batch) {
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    for (int i = 0; i < batch->count; i++) batch->errors[i] = 1;
    if (sendto(fd, batch->bytes, batch->length, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    return 0;
}

int cs_nl_batch_wait(int fd, cs_nl_batch *batch, int *failed) {
    union {
        struct nlmsghdr header;
        char bytes[8192];
    } reply;
    int pending = batch->count;
    while (pending > 0) {
        ssize_t got = recv(fd, reply.bytes, sizeof reply.bytes, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            *failed = batch->count - pending;
            return -errno;
        }
        for (struct nlmsghdr *h = &reply.header; NLMSG_OK(h, got); h = NLMSG_NEXT(h, got)) {
            if (h->nlmsg_type != NLMSG_ERROR) continue;
            for (int i = 0; i < batch->count; i++) {
                if (batch->sequences[i] != h->nlmsg_seq || batch->errors[i] != 1) continue;
                batch->errors[i] = ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
                pending--;
            }
        }
    }
    for (int i = 0; i < batch->count; i++) {
        if (batch->errors[i] < 0) {
            *failed = i;
            return batch->errors[i];
        }
    }
    return 0;
}

int cs_nl_link_delete(int fd, const char *name) {
    nl_message m;
    struct ifinfomsg link = {.ifi_family = AF_UNSPEC};
    nl_begin(&m, RTM_DELLINK, 0, &link, sizeof link);
    if (!nl_attribute(&m, IFLA_IFNAME, name, strlen(name) + 1)) return -ENOBUFS;
    return nl_talk(fd, &m);
}
