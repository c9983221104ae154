/// The first program of a MiniCache microVM (PID 1 of its initramfs), in C, built with the
/// host's C compiler when an image is built (`cc -static -Os`).
///
/// C and not Swift: it must be a static executable that starts in microseconds and fits in a
/// few hundred KB of initramfs (about 0.7 MB with glibc, against several MB for a static Swift
/// program carrying its runtime), and it only makes system calls. It mounts `/proc`, `/sys` and
/// `/dev`, loads the kernel modules the image carries (`/modules/0.ko`, `1.ko`, … in order),
/// gives `eth0` the address in `ecdn.addr=` with a default route through a gateway that exists
/// only as a permanent neighbour entry (`ecdn.gateway_mac=`, the host end of the tap), waits for
/// the disk in `ecdn.disk=`, and execs `/minicache` with the arguments after `--` on the kernel
/// command line. It reports each step on the console; a failure is reported and powers the VM
/// off, so the backend sees the VM end with the reason in its log.
enum VMInit {
    /// Lines the init prints on the console (the backend watches for them).
    static let upMarker = "ecdn-init: up"
    static let execMarker = "ecdn-init: exec /minicache"
    static let failureMarker = "ecdn-init: failed"

    /// Compiles the init into `output` with the first C compiler found (`cc`, `gcc`, `clang`).
    /// - Throws: ``ControlError`` `imageFailed` with the compiler's own message.
    static func build(into output: String, scratch: String) throws(ControlError) {
        guard let compiler = ["cc", "gcc", "clang"].lazy.compactMap({ ImageTools.find($0) }).first else {
            throw ControlError(.imageFailed, "no C compiler (cc, gcc or clang) to build the VM's init: install gcc and libc6-dev")
        }
        let sourcePath = scratch + "/ecdn-vm-init.c"
        try ImageTools.write(Array(source.utf8), to: sourcePath)
        do {
            try ImageTools.run(compiler, ["-static", "-Os", "-s", "-Wall", "-o", output, sourcePath])
        } catch {
            throw ControlError(.imageFailed, "cannot build the VM's init (a static C program; needs libc6-dev): \(error.message)")
        }
    }

    static let source = #"""
        // ecdn-vm-init: PID 1 of a MiniCache microVM (written by `ecdn image vm`).
        #define _GNU_SOURCE
        #include <arpa/inet.h>
        #include <linux/netlink.h>
        #include <linux/rtnetlink.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <net/if.h>
        #include <net/if_arp.h>
        #include <netinet/in.h>
        #include <stdarg.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/ioctl.h>
        #include <sys/mount.h>
        #include <sys/reboot.h>
        #include <sys/socket.h>
        #include <sys/stat.h>
        #include <sys/syscall.h>
        #include <time.h>
        #include <unistd.h>

        static const char gateway[] = "169.254.0.1";

        static long milliseconds(void) {
            struct timespec t;
            clock_gettime(CLOCK_BOOTTIME, &t);
            return t.tv_sec * 1000 + t.tv_nsec / 1000000;
        }

        static void say(const char *format, ...) {
            char line[512];
            va_list arguments;
            va_start(arguments, format);
            int n = vsnprintf(line, sizeof line, format, arguments);
            va_end(arguments);
            if (n > 0) (void)!write(1, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
        }

        static _Noreturn void fail(const char *step, int error) {
            say("ecdn-init: failed: %s: %s\n", step, strerror(error));
            sync();
            reboot(RB_POWER_OFF);
            for (;;) pause();
        }

        /// The value of `key=` on the kernel command line, or NULL.
        static const char *parameter(const char *cmdline, const char *key, char *value, size_t size) {
            size_t length = strlen(key);
            for (const char *p = cmdline; (p = strstr(p, key)) != NULL; p += length) {
                if ((p != cmdline && p[-1] != ' ') || p[length] != '=') continue;
                const char *start = p + length + 1;
                size_t n = strcspn(start, " \n");
                if (n >= size) n = size - 1;
                memcpy(value, start, n);
                value[n] = 0;
                return value;
            }
            return NULL;
        }

        static void wait_for(const char *what, int (*present)(const char *), const char *name, long limit) {
            long deadline = milliseconds() + limit;
            while (!present(name)) {
                if (milliseconds() > deadline) fail(what, ETIMEDOUT);
                usleep(1000);
            }
        }

        static int interface_present(const char *name) { return if_nametoindex(name) != 0; }
        static int file_present(const char *path) { return access(path, F_OK) == 0; }

        static void set_address(struct sockaddr *sa, const char *text) {
            struct sockaddr_in *in = (struct sockaddr_in *)sa;
            in->sin_family = AF_INET;
            if (inet_pton(AF_INET, text, &in->sin_addr) != 1) fail("parse an address", EINVAL);
        }

        /// Appends attribute `type` to a netlink request of `capacity` bytes.
        static void add_attribute(struct nlmsghdr *header, size_t capacity, unsigned short type, const void *data, size_t length) {
            size_t offset = NLMSG_ALIGN(header->nlmsg_len);
            if (offset + RTA_SPACE(length) > capacity) fail("build the default route", E2BIG);
            struct rtattr *attribute = (struct rtattr *)((char *)header + offset);
            attribute->rta_type = type;
            attribute->rta_len = RTA_LENGTH(length);
            memcpy(RTA_DATA(attribute), data, length);
            header->nlmsg_len = offset + RTA_SPACE(length);
        }

        /// `ip route add default via GATEWAY dev eth0 onlink src ADDRESS`, with rtnetlink: the
        /// site address is in 127.0.0.0/8, which has host scope, so the kernel picks it as the
        /// source of outgoing connections (to the origin) only when the route names it.
        static void add_default_route(const char *address) {
            struct {
                struct nlmsghdr header;
                struct rtmsg route;
                char attributes[64];
            } request;
            memset(&request, 0, sizeof request);
            request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
            request.header.nlmsg_type = RTM_NEWROUTE;
            request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
            request.route.rtm_family = AF_INET;
            request.route.rtm_table = RT_TABLE_MAIN;
            request.route.rtm_protocol = RTPROT_BOOT;
            request.route.rtm_scope = RT_SCOPE_UNIVERSE;
            request.route.rtm_type = RTN_UNICAST;
            request.route.rtm_flags = RTNH_F_ONLINK;
            struct in_addr via, source;
            if (inet_pton(AF_INET, gateway, &via) != 1 || inet_pton(AF_INET, address, &source) != 1) fail("parse an address", EINVAL);
            int index = (int)if_nametoindex("eth0");
            add_attribute(&request.header, sizeof request, RTA_GATEWAY, &via, sizeof via);
            add_attribute(&request.header, sizeof request, RTA_PREFSRC, &source, sizeof source);
            add_attribute(&request.header, sizeof request, RTA_OIF, &index, sizeof index);
            int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
            if (s < 0) fail("open a netlink socket", errno);
            if (send(s, &request, request.header.nlmsg_len, 0) < 0) fail("send the default route", errno);
            char reply[256];
            ssize_t got = recv(s, reply, sizeof reply, 0);
            if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) fail("read the answer to the default route", got < 0 ? errno : EIO);
            struct nlmsghdr *answer = (struct nlmsghdr *)reply;
            if (answer->nlmsg_type == NLMSG_ERROR) {
                int error = ((struct nlmsgerr *)NLMSG_DATA(answer))->error;
                if (error < 0) fail("add the default route", -error);
            }
            close(s);
        }

        static void network(const char *address, const char *mac) {
            wait_for("wait for eth0", interface_present, "eth0", 10000);
            int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (s < 0) fail("socket", errno);
            struct ifreq interface;
            memset(&interface, 0, sizeof interface);
            strncpy(interface.ifr_name, "eth0", IFNAMSIZ - 1);
            set_address(&interface.ifr_addr, address);
            if (ioctl(s, SIOCSIFADDR, &interface) < 0) fail("set the address of eth0", errno);
            set_address(&interface.ifr_netmask, "255.255.255.255");
            if (ioctl(s, SIOCSIFNETMASK, &interface) < 0) fail("set the netmask of eth0", errno);
            if (ioctl(s, SIOCGIFFLAGS, &interface) < 0) fail("read the flags of eth0", errno);
            interface.ifr_flags |= IFF_UP | IFF_RUNNING;
            if (ioctl(s, SIOCSIFFLAGS, &interface) < 0) fail("bring up eth0", errno);
            // The site address is in 127.0.0.0/8: let it cross eth0.
            int fd = open("/proc/sys/net/ipv4/conf/eth0/route_localnet", O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "1", 1) != 1) fail("set route_localnet on eth0", errno);
            close(fd);

            struct arpreq neighbour;
            memset(&neighbour, 0, sizeof neighbour);
            set_address(&neighbour.arp_pa, gateway);
            neighbour.arp_ha.sa_family = ARPHRD_ETHER;
            unsigned int b[6];
            if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) fail("parse ecdn.gateway_mac", EINVAL);
            for (int i = 0; i < 6; i++) neighbour.arp_ha.sa_data[i] = (char)b[i];
            neighbour.arp_flags = ATF_PERM | ATF_COM;
            strncpy(neighbour.arp_dev, "eth0", sizeof neighbour.arp_dev - 1);
            if (ioctl(s, SIOCSARP, &neighbour) < 0) fail("add the gateway's neighbour entry", errno);

            close(s);
            add_default_route(address);
        }

        int main(int argc, char **argv) {
            (void)argc;
            if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) fail("mount /proc", errno);
            if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) fail("mount /sys", errno);
            if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL) < 0) fail("mount /dev", errno);
            say("ecdn-init: up after %ld ms\n", milliseconds());

            char path[64];
            for (int i = 0;; i++) {
                snprintf(path, sizeof path, "/modules/%d.ko", i);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) break;
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) fail(path, errno);
                close(fd);
            }

            char cmdline[4096] = {0};
            int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
            if (fd < 0 || read(fd, cmdline, sizeof cmdline - 1) < 0) fail("read /proc/cmdline", errno);
            close(fd);
            char address[64], mac[64], disk[64];
            if (parameter(cmdline, "ecdn.addr", address, sizeof address)) {
                if (!parameter(cmdline, "ecdn.gateway_mac", mac, sizeof mac)) fail("ecdn.addr needs ecdn.gateway_mac", EINVAL);
                network(address, mac);
            }
            if (parameter(cmdline, "ecdn.disk", disk, sizeof disk)) wait_for("wait for the disk", file_present, disk, 10000);

            say("ecdn-init: exec /minicache after %ld ms\n", milliseconds());
            argv[0] = "/minicache";
            execv("/minicache", argv);
            fail("exec /minicache", errno);
        }
        """#
}
