// sandbox-probe: what a tenant's code could try from inside a sandbox. The tests run it under
// the sandbox backend's namespaces, root, cgroups and seccomp filter; each command prints one
// line saying what it saw and exits 0 when the attempt succeeded, 1 when it failed.
//
//   sandbox-probe connect ADDR PORT   TCP connect with a 1 s timeout
//   sandbox-probe pids                process ids visible (kill(pid, 0) over 1..32768)
//   sandbox-probe open PATH           open a file read-only
//   sandbox-probe list PATH           names in a directory
//   sandbox-probe identity            uid, gid, capabilities, hostname
//   sandbox-probe forbidden           prints, then calls ptrace (outside minicache's allow-list)
//   sandbox-probe wait                prints "waiting", then sleeps until a signal ends it

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int probe_connect(const char *address, const char *port) {
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    if (inet_pton(AF_INET, address, &target.sin_addr) != 1) {
        printf("connect %s:%s: bad address\n", address, port);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        printf("connect %s:%s: socket: %s\n", address, port, strerror(errno));
        return 1;
    }
    int r = connect(fd, (struct sockaddr *)&target, sizeof target);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 1000) == 0) {
            printf("connect %s:%s: timed out\n", address, port);
            return 1;
        }
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        errno = error;
        r = error ? -1 : 0;
    }
    if (r < 0) {
        printf("connect %s:%s: %s\n", address, port, strerror(errno));
        return 1;
    }
    printf("connect %s:%s: ok\n", address, port);
    return 0;
}

static int probe_pids(void) {
    int count = 0;
    printf("pids:");
    for (pid_t pid = 1; pid <= 32768; pid++) {
        if (kill(pid, 0) == 0 || errno == EPERM) {
            printf(" %d", pid);
            count++;
        }
    }
    printf("\n");
    return count > 0 ? 0 : 1;
}

static int probe_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("open %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("open %s: ok\n", path);
    return 0;
}

static int probe_list(const char *path) {
    DIR *directory = opendir(path);
    if (!directory) {
        printf("list %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("list %s:", path);
    for (struct dirent *entry; (entry = readdir(directory));) {
        if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) printf(" %s", entry->d_name);
    }
    printf("\n");
    closedir(directory);
    return 0;
}

static int probe_identity(void) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    unsigned long long effective = 0, permitted = 0, bounding = 0;
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status)) {
        sscanf(line, "CapEff: %llx", &effective);
        sscanf(line, "CapPrm: %llx", &permitted);
        sscanf(line, "CapBnd: %llx", &bounding);
    }
    if (status) fclose(status);
    printf("uid %d gid %d capeff %llx capprm %llx capbnd %llx hostname %s\n", (int)getuid(), (int)getgid(), effective, permitted, bounding, host);
    return 0;
}

static int probe_forbidden(void) {
    printf("calling ptrace\n");
    fflush(stdout);
    long r = syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
    printf("ptrace returned %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && !strcmp(argv[1], "connect")) return probe_connect(argv[2], argv[3]);
    if (argc == 2 && !strcmp(argv[1], "pids")) return probe_pids();
    if (argc == 3 && !strcmp(argv[1], "open")) return probe_open(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "list")) return probe_list(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "identity")) return probe_identity();
    if (argc == 2 && !strcmp(argv[1], "forbidden")) return probe_forbidden();
    if (argc == 2 && !strcmp(argv[1], "wait")) {
        printf("waiting\n");
        for (;;) pause();
    }
    fprintf(stderr, "usage: sandbox-probe connect ADDR PORT | pids | open PATH | list PATH | identity | forbidden | wait\n");
    return 2;
}
