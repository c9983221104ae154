#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "CSandbox.h"

#if defined(__x86_64__)
#define CS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "the sandbox's seccomp filter knows x86_64 and aarch64"
#endif

typedef struct cs_syscall {
    const char *name;
    int number;
} cs_syscall;

// The allow-list (scripts/sandbox-syscalls.sh writes syscalls.h; a name this architecture does
// not have is left out there at compile time).
#define CS_SYSCALL(name) {#name, __NR_##name},
static const cs_syscall allowed[] = {
#include "syscalls.h"
};
#undef CS_SYSCALL

static const int allowed_count = (int)(sizeof allowed / sizeof allowed[0]);

int csandbox_allowed_syscall_count(void) { return allowed_count; }

const char *csandbox_allowed_syscall_name(int index) {
    return index >= 0 && index < allowed_count ? allowed[index].name : NULL;
}

static void sort_numbers(int *numbers, int count) {
    for (int i = 1; i < count; i++) {
        int value = numbers[i], j = i - 1;
        while (j >= 0 && numbers[j] > value) {
            numbers[j + 1] = numbers[j];
            j--;
        }
        numbers[j + 1] = value;
    }
}

typedef struct program {
    struct sock_filter *code;
    int length, capacity;
} program;

static int emit(program *p, struct sock_filter instruction) {
    if (p->length >= p->capacity) return -1;
    p->code[p->length++] = instruction;
    return p->length - 1;
}

// A binary search over sorted numbers[low, high): every leaf returns at once, so no jump is
// longer than a subtree (BPF's conditional jumps reach 255 instructions forward).
static int emit_search(program *p, const int *numbers, int low, int high) {
    if (high - low <= 4) {
        for (int i = low; i < high; i++) {
            if (emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)numbers[i], 0, 1)) < 0) return -1;
            if (emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)) < 0) return -1;
        }
        return emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)) < 0 ? -1 : 0;
    }
    int middle = (low + high) / 2;
    int branch = emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)numbers[middle], 0, 0));
    if (branch < 0 || emit_search(p, numbers, middle, high) < 0) return -1;
    int skip = p->length - branch - 1;
    if (skip > 255) return -1;
    p->code[branch].jf = (uint8_t)skip;
    return emit_search(p, numbers, low, middle);
}

int cs_seccomp_build(struct sock_filter *code, int capacity) {
    int numbers[sizeof allowed / sizeof allowed[0]];
    for (int i = 0; i < allowed_count; i++) numbers[i] = allowed[i].number;
    sort_numbers(numbers, allowed_count);
    program p = {.code = code, .capacity = capacity};
    // Another architecture's (or x32's) numbering could slip past the list: kill.
    emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CS_AUDIT_ARCH, 1, 0));
    emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
    emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
    emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#endif
    if (emit_search(&p, numbers, 0, allowed_count) < 0) return -E2BIG;
    return p.length;
}
