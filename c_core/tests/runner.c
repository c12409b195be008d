/* C test runner: calls every test listed in the generated registry (one per tests/test_*.c,
 * see c_core/Makefile), prints each test's output, then a summary line. Exit code 0 only when
 * every test passed. The same file runs on x86-64 and on Cortex-M4 under QEMU (semihosting). */
#include <stdio.h>

#include "mw_core.h"
#include "mw_test.h"
#include "registry.h"

int main(void)
{
    int passed = 0, failed = 0;
    mw_t_print_i64("core_version", (int64_t)mw_core_version());
    for (unsigned i = 0; i < sizeof(mw_tests) / sizeof(mw_tests[0]); i++) {
        fputs("== ", stdout);
        fputs(mw_tests[i].name, stdout);
        fputs("\n", stdout);
        mw_test_failures = 0;
        const int f = mw_tests[i].fn();
        fputs(f == 0 ? "-- ok " : "-- FAILED ", stdout);
        fputs(mw_tests[i].name, stdout);
        fputs("\n", stdout);
        if (f == 0) {
            passed++;
        } else {
            failed++;
        }
    }
    char line[64];
    snprintf(line, sizeof line, "%d passed, %d failed\n", passed, failed);
    fputs(line, stdout);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}
