/* Small helpers shared by the subsystems. Thread-safe. */
#ifndef VSML_UTIL_H
#define VSML_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define VSML_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Write `len` bytes atomically: PATH.tmp.<pid>.<n>, fsync, rename, fsync of
 * the directory. Logs one error and returns -1 on failure; PATH is then
 * untouched. */
int vsml_write_file_atomic(const char *path, const void *data, size_t len);

/* Write a sequence of pieces atomically (same guarantees as above). */
typedef struct vsml_piece {
    const void *data;
    size_t len;
} vsml_piece;
int vsml_write_pieces_atomic(const char *path, const vsml_piece *pieces, int n);

/* Read a whole file (at most max_bytes). *buf is malloc'ed. */
int vsml_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len);

/* Monotonic time in seconds. */
double vsml_now(void);
/* The machine's physical memory in bytes (0 if unknown). */
uint64_t vsml_host_memory_bytes(void);

/* Threads for the host's parallel work: VSML_THREADS if set (>= 1), else
 * the online CPUs divided among the MPI ranks of this node (Open MPI's
 * OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's MPI_LOCALNRANKS), at least 1. */
int vsml_host_threads(void);

/* Calls fn(ctx, i) once for every i in [0, n) on up to max_threads threads
 * (<= 0: vsml_host_threads(); fewer when threads cannot be created), each
 * thread taking the next i. Once an fn returns non-zero, the threads start
 * no new items soon after (items already taken still run); returns a
 * non-zero result if any fn returned one (with several, one of them), else
 * 0. */
int vsml_parallel_for(size_t n, int max_threads, int (*fn)(void *ctx, size_t i), void *ctx);

/* FNV-1a 64-bit hash. */
uint64_t vsml_fnv1a(const void *data, size_t len, uint64_t h);

/* Max over i of |got[i] - ref[i]| / max(1, |ref[i]|), a NaN counting as
 * infinite: how results are compared with the CPU reference. */
double vsml_max_rel_diff(const float *got, const float *ref, size_t n);

#endif
