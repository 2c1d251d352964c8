#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vsml/log.h"
#include "vsml/util.h"

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int vsml_write_pieces_atomic(const char *path, const vsml_piece *pieces, int n)
{
    static unsigned counter;
    char tmp[4096];
    int k = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
                     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    if (k < 0 || (size_t)k >= sizeof(tmp)) {
        vsml_err("cannot write %s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        vsml_err("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (write_all(fd, pieces[i].data, pieces[i].len) != 0) {
            vsml_err("cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (fsync(fd) != 0) {
        vsml_err("cannot write %s (sync): %s", path, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        vsml_err("cannot write %s (close): %s", path, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        vsml_err("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    fsync_dir_of(path);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int vsml_write_file_atomic(const char *path, const void *data, size_t len)
{
    vsml_piece p = {data, len};
    return vsml_write_pieces_atomic(path, &p, 1);
}

int vsml_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        vsml_err("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    /* one byte of slack tells "exactly max_bytes" from "more than max_bytes" */
    size_t limit = max_bytes + 1, cap = limit < (1 << 16) ? limit : (1 << 16), n = 0;
    uint8_t *b = malloc(cap);
    if (!b) {
        fclose(f);
        vsml_err("out of memory reading %s", path);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= limit) {
                vsml_err("%s is larger than the limit of %zu bytes", path, max_bytes);
                goto fail;
            }
            size_t ncap = cap * 2 > limit ? limit : cap * 2;
            uint8_t *nb = realloc(b, ncap);
            if (!nb) {
                vsml_err("out of memory reading %s", path);
                goto fail;
            }
            b = nb;
            cap = ncap;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                vsml_err("cannot read %s: %s", path, strerror(errno));
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    *buf = b;
    *len = n;
    return 0;
fail:
    free(b);
    fclose(f);
    return -1;
}

double vsml_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t vsml_host_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
}

double vsml_max_rel_diff(const float *got, const float *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / fmax(1.0, fabs((double)ref[i]));
        if (!(e <= worst))
            worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

uint64_t vsml_fnv1a(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    if (h == 0)
        h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define PARALLEL_MAX_THREADS 256

static long env_long(const char *name)
{
    const char *e = getenv(name);
    return e && *e ? strtol(e, NULL, 10) : 0;
}

int vsml_host_threads(void)
{
    long t = env_long("VSML_THREADS");
    if (t >= 1)
        return t > PARALLEL_MAX_THREADS ? PARALLEL_MAX_THREADS : (int)t;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), ranks = env_long("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (ranks < 1)
        ranks = env_long("MPI_LOCALNRANKS");
    t = (cpus > 0 ? cpus : 1) / (ranks > 1 ? ranks : 1);
    return t < 1 ? 1 : t > PARALLEL_MAX_THREADS ? PARALLEL_MAX_THREADS : (int)t;
}

typedef struct parallel_job {
    size_t n;
    int (*fn)(void *ctx, size_t i);
    void *ctx;
    atomic_size_t next;
    atomic_int rc;
} parallel_job;

static void *parallel_worker(void *arg)
{
    parallel_job *j = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->rc) != 0)
            return NULL;
        int rc = j->fn(j->ctx, i);
        if (rc != 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&j->rc, &zero, rc);
        }
    }
}

int vsml_parallel_for(size_t n, int max_threads, int (*fn)(void *ctx, size_t i), void *ctx)
{
    parallel_job j = {.n = n, .fn = fn, .ctx = ctx};
    atomic_init(&j.next, 0);
    atomic_init(&j.rc, 0);
    if (max_threads <= 0)
        max_threads = vsml_host_threads();
    size_t nt = (size_t)max_threads < n ? (size_t)max_threads : n;
    nt = nt > PARALLEL_MAX_THREADS ? PARALLEL_MAX_THREADS : nt;
    pthread_t th[PARALLEL_MAX_THREADS];
    size_t started = 0;
    while (started + 1 < nt && pthread_create(&th[started], NULL, parallel_worker, &j) == 0)
        started++; /* fewer threads: this one and the others take more items */
    parallel_worker(&j);
    for (size_t t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    return atomic_load(&j.rc);
}
