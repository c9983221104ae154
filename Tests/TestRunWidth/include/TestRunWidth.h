#ifndef MINICACHE_TEST_RUN_WIDTH_H
#define MINICACHE_TEST_RUN_WIDTH_H

// Nothing to call: TestRunWidth.c sets the test run's width from a constructor.

#endif
