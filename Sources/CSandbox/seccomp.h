#ifndef CSANDBOX_SECCOMP_H
#define CSANDBOX_SECCOMP_H

#include <linux/filter.h>

/// Writes the allow-list filter (kill the process on any other system call or architecture)
/// into `code`. Heap-free, so the parent builds it before clone and the child only loads it.
/// @return the number of instructions, or a negative errno.
int cs_seccomp_build(struct sock_filter *code, int capacity);

#endif
