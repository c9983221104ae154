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
//   sandbox-probe fork N              forks up to N sleeping children, prints how many it got, ends them
//   sandbox-probe spin MS             burns CPU for MS wall-clock milliseconds, prints the CPU time it got
//   sandbox-probe alloc MIB           allocates and touches MIB mebibytes, printing every 8

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
#include <sys/wait.h>
#include <time.h>
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

static int probe_fork(const char *count) {
    enum { most = 1024 };
    pid_t children[most];
    int wanted = atoi(count), made = 0, error = 0;
    if (wanted > most) wanted = most;
    for (; made < wanted; made++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (;;) pause();
        }
        if (pid < 0) {
            error = errno;
            break;
        }
        children[made] = pid;
    }
    printf("forked %d of %d%s%s\n", made, wanted, error ? ": " : "", error ? strerror(error) : "");
    for (int i = 0; i < made; i++) kill(children[i], SIGKILL);
    for (int i = 0; i < made; i++) waitpid(children[i], NULL, 0);
    return made == wanted ? 0 : 1;
}

static long milliseconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int probe_spin(const char *duration) {
    long wall = atol(duration), start = milliseconds(CLOCK_MONOTONIC);
    volatile unsigned long sink = 0;
    while (milliseconds(CLOCK_MONOTONIC) - start < wall) {
        for (unsigned long i = 0; i < 100000; i++) sink += i;
    }
    printf("spin %ld ms: cpu %ld ms\n", wall, milliseconds(CLOCK_PROCESS_CPUTIME_ID));
    return 0;
}

static int probe_alloc(const char *mebibytes) {
    long wanted = atol(mebibytes);
    for (long i = 1; i <= wanted; i++) {
        char *block = malloc(1 << 20);
        if (!block) {
            printf("alloc: no memory after %ld MiB\n", i - 1);
            return 1;
        }
        memset(block, 1, 1 << 20);
        if (i % 8 == 0) printf("allocated %ld MiB\n", i);
    }
    printf("allocated %ld MiB: done\n", wanted);
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
    if (argc == 3 && !strcmp(argv[1], "fork")) return probe_fork(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "spin")) return probe_spin(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "alloc")) return probe_alloc(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "wait")) {
        printf("waiting\n");
        for (;;) pause();
    }
    fprintf(stderr, "usage: sandbox-probe connect ADDR PORT | pids | open PATH | list PATH | identity | forbidden | wait | fork N | spin MS | alloc MIB\n");
    return 2;
}
