#ifndef CLINUXCALLS_H
#define CLINUXCALLS_H

#include <stddef.h>

/// Linux calls the data plane uses that the C library's Swift module does not declare. They are
/// linked, not looked up at run time, so the static `minicache` has them too.

/// `memfd_create(2)`: an anonymous memory file, close-on-exec. Returns its descriptor, or -1 with
/// `errno` set (ENOSYS on a kernel without it).
int clinux_memfd_create(const char *name);

/// `fallocate(2)` with `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`: frees the file's blocks and
/// page-cache pages in the range, keeping its size. Returns 0, or -1 with `errno` set.
int clinux_punch_hole(int fd, long long offset, long long length);

/// `malloc_trim(3)` of glibc: returns free heap memory to the system. Returns 1 when memory was
/// released; 0 when none was, or when the C library has no such call.
int clinux_malloc_trim(size_t pad);

#endif
