#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

// Runs before the test executable's main, so before Swift Testing reads its configuration from
// the environment. Without a width, Swift Testing starts every test of the suite at once: on a
// 2-core machine hundreds of servers, etcd members, players and child processes then share two
// cores, and the safety margins of real-time tests run out (with two tests per core, players of
// live channels still fell behind on a busy machine). One test per core. An explicit
// SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH (or
// `swift test --experimental-maximum-parallelization-width N`) wins.
__attribute__((constructor)) static void minicache_test_run_width(void) {
    if (getenv("SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH") != NULL) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char width[24];
    snprintf(width, sizeof width, "%ld", cores > 0 ? cores : 1);
    setenv("SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH", width, 0);
}
