/* vsml_parallel_for: every item exactly once on any thread count, and the
 * first failure stops the work and is returned. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vsml/util.h"

#define N 10007

typedef struct job {
    atomic_int count[N];
    int fail_at; /* item that returns an error, -1: none */
} job;

static int visit(void *ctx, size_t i)
{
    job *j = ctx;
    atomic_fetch_add(&j->count[i], 1);
    return (int)i == j->fail_at ? 7 : 0;
}

int main(void)
{
    static job j;
    int threads[] = {0, 1, 3, 64, 1000};
    for (size_t t = 0; t < VSML_ARRAY_SIZE(threads); t++) {
        for (int i = 0; i < N; i++)
            atomic_init(&j.count[i], 0);
        j.fail_at = -1;
        CHECK(vsml_parallel_for(N, threads[t], visit, &j) == 0, "threads %d", threads[t]);
        int wrong = 0;
        for (int i = 0; i < N; i++)
            wrong += atomic_load(&j.count[i]) != 1;
        CHECK(wrong == 0, "threads %d: %d items not visited exactly once", threads[t], wrong);
    }
    CHECK(vsml_parallel_for(0, 4, visit, &j) == 0, "no items");
    for (int i = 0; i < N; i++)
        atomic_init(&j.count[i], 0);
    j.fail_at = 100;
    CHECK(vsml_parallel_for(N, 1, visit, &j) == 7, "the item's error is returned");
    int after = 0;
    for (int i = 101; i < N; i++)
        after += atomic_load(&j.count[i]);
    CHECK(after == 0, "one thread: %d items started after the failure", after);
    for (int i = 0; i < N; i++)
        atomic_init(&j.count[i], 0);
    CHECK(vsml_parallel_for(N, 4, visit, &j) == 7, "four threads: the error is returned");

    /* the host threads: VSML_THREADS, else the CPUs shared among the ranks */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    setenv("VSML_THREADS", "3", 1);
    CHECK(vsml_host_threads() == 3, "VSML_THREADS=3: %d", vsml_host_threads());
    unsetenv("VSML_THREADS");
    unsetenv("MPI_LOCALNRANKS");
    unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    CHECK(vsml_host_threads() == (cpus < 1 ? 1 : cpus > 256 ? 256 : cpus), "no ranks: %d of %ld",
          vsml_host_threads(), cpus);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1000000", 1);
    CHECK(vsml_host_threads() == 1, "a million local ranks: %d threads", vsml_host_threads());
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    CHECK(vsml_host_threads() == (cpus / 2 < 1 ? 1 : cpus / 2 > 256 ? 256 : cpus / 2),
          "two local ranks: %d of %ld", vsml_host_threads(), cpus);
    TEST_END();
}
