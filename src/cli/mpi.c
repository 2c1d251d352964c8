/* vsml-vk train across MPI ranks; see cli_mpi.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_mpi.h"
#include "vk/vk.h"
#include "vsml/log.h"
#include "vsml/util.h"

#if VSML_HAVE_MPI
#include <mpi.h>
#endif

static const char *launcher_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v)
        v = getenv("PMIX_SIZE");
    if (!v)
        v = getenv("PMI_SIZE");
    return v;
}

#if VSML_HAVE_MPI
/* ---- logging with the rank in front ---- */

static int log_rank;

static void rank_log(void *user, enum vsml_log_level level, const char *msg)
{
    (void)user;
    static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
    fprintf(stderr, "vsml-vk [rank %d]: %s%s\n", log_rank, prefix[level], msg);
}

/* ---- the watchdog: no rank waits forever in a collective ---- */

static char watchdog_msg[160];
static size_t watchdog_len;

static void on_alarm(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, watchdog_msg, watchdog_len);
    (void)w;
    _exit(3);
}

static void watch(const cli_mpi *m, bool on)
{
    if (m->timeout_s > 0 && m->armed)
        alarm(on ? (unsigned)m->timeout_s : 0);
}

#endif

int cli_mpi_init(cli_mpi *m)
{
    memset(m, 0, sizeof(*m));
    m->size = 1;
    m->timeout_s = 3600;
    const char *sz = launcher_size();
#if VSML_HAVE_MPI
    if (!sz)
        return 0;
    int provided;
    /* the host's parallel work (vsml_parallel_for) runs threads that make
     * no MPI calls */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        vsml_err("MPI_Init failed");
        return -1;
    }
    if (provided < MPI_THREAD_FUNNELED)
        setenv("VSML_THREADS", "1", 1); /* then no threads besides this one */
    /* errors end the job (the default handler, set explicitly) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!lr)
        lr = getenv("MPI_LOCALRANKID");
    if (!lr)
        lr = getenv("PMI_LOCAL_RANK");
    m->local_rank = lr ? atoi(lr) : m->rank;
    m->on = true;
    if (m->size > CLI_MPI_MAX_RANKS) {
        vsml_err("%d MPI ranks: at most %d are supported", m->size, CLI_MPI_MAX_RANKS);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    log_rank = m->rank;
    if (m->size > 1)
        vsml_log_set_callback(rank_log, NULL);
    /* every rank sees the same fitness: rank 0 alone warns about it */
    if (m->rank > 0 && vsml_log_get_level() > VSML_LOG_ERROR)
        vsml_log_set_level(VSML_LOG_ERROR);
    watchdog_len = (size_t)snprintf(watchdog_msg, sizeof(watchdog_msg),
                                    "vsml-vk [rank %d]: error: no answer from the other ranks "
                                    "in an MPI collective for too long (--mpi-timeout); "
                                    "stopping\n", m->rank);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    return 0;
#else
    if (sz && atoi(sz) > 1) {
        vsml_err("started by mpirun with %s ranks, but this vsml-vk was built without MPI "
                 "(meson setup -Dmpi=enabled, with libopenmpi-dev installed)", sz);
        return -1;
    }
    return 0;
#endif
}

void cli_mpi_finalize(cli_mpi *m)
{
    free(m->share);
    m->share = NULL;
#if VSML_HAVE_MPI
    if (m->on)
        MPI_Finalize();
#endif
    m->on = false;
}

int cli_mpi_split(cli_mpi *m, int pairs, const char *weights)
{
    double w[CLI_MPI_MAX_RANKS], total = 0;
    int n = 0;
    if (weights && *weights) {
        const char *p = weights;
        while (*p && n < CLI_MPI_MAX_RANKS) {
            char *end;
            double x = strtod(p, &end);
            if (end == p || !(x > 0 && x < 1e9)) {
                vsml_err("--share %s: weights must be positive numbers like 1,2,1", weights);
                return -1;
            }
            w[n++] = x;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') {
                vsml_err("--share %s: weights must be positive numbers like 1,2,1", weights);
                return -1;
            }
        }
        if (n != m->size) {
            vsml_err("--share %s gives %d weight(s) for %d rank(s)", weights, n, m->size);
            return -1;
        }
    } else {
        for (n = 0; n < m->size; n++)
            w[n] = 1;
    }
    m->share = malloc(sizeof(int) * (size_t)(m->size + 1));
    if (!m->share) {
        vsml_err("out of memory");
        return -1;
    }
    for (int r = 0; r < m->size; r++)
        total += w[r];
    double acc = 0;
    m->share[0] = 0;
    for (int r = 0; r < m->size; r++) {
        acc += w[r];
        m->share[r + 1] = r + 1 == m->size ? pairs : (int)(pairs * (acc / total) + 0.5);
        if (m->share[r + 1] <= m->share[r]) {
            vsml_err("%d pairs cannot be shared by %d ranks with weights %s: rank %d gets none",
                     pairs, m->size, weights && *weights ? weights : "(equal)", r);
            return -1;
        }
    }
    return 0;
}

int cli_mpi_device(const cli_mpi *m, const char *device, char *buf, size_t size)
{
    buf[0] = 0;
    if (device && *device) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", device);
        int n = 0;
        for (char *p = tmp; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
            n++;
        int want = m->local_rank % n, i = 0;
        for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t;
             t = strtok_r(NULL, ",", &save), i++)
            if (i == want)
                snprintf(buf, size, "%s", t);
        return 0;
    }
    if (!m->on || m->size == 1 || getenv("VSML_DEVICE"))
        return 0;
    int count = vk_list_devices(NULL);
    if (count < 0)
        return -1;
    if (count == 0) {
        vsml_err("no Vulkan device found");
        return -1;
    }
    snprintf(buf, size, "%d", m->local_rank % count);
    return 0;
}

#if VSML_HAVE_MPI
int cli_mpi_agree(cli_mpi *m, int rc)
{
    if (!m->on)
        return rc;
    int out = 0;
    double t0 = vsml_now();
    watch(m, true);
    MPI_Allreduce(&rc, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    watch(m, false);
    m->comm_s += vsml_now() - t0;
    return out;
}

int cli_mpi_bcast(cli_mpi *m, void *buf, size_t bytes)
{
    if (!m->on)
        return 0;
    double t0 = vsml_now();
    watch(m, true);
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off > (size_t)1 << 30 ? (size_t)1 << 30 : bytes - off;
        MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
        off += n;
    }
    watch(m, false);
    m->comm_s += vsml_now() - t0;
    return 0;
}

int cli_mpi_exchange(void *user, const float *mine, int n_mine, float *all, int n_all)
{
    cli_mpi *m = user;
    int counts[CLI_MPI_MAX_RANKS], displs[CLI_MPI_MAX_RANKS];
    for (int r = 0; r < m->size; r++) {
        displs[r] = 2 * m->share[r];
        counts[r] = 2 * (m->share[r + 1] - m->share[r]);
    }
    if (counts[m->rank] != n_mine || 2 * m->share[m->size] != n_all) {
        vsml_err("fitness exchange: %d values of %d, expected %d of %d", n_mine, n_all,
                 counts[m->rank], 2 * m->share[m->size]);
        return -1;
    }
    double t0 = vsml_now();
    watch(m, true);
    MPI_Allgatherv(mine, n_mine, MPI_FLOAT, all, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
    watch(m, false);
    m->comm_s += vsml_now() - t0;
    return 0;
}

void cli_mpi_abort(cli_mpi *m, int code)
{
    if (m->on && m->size > 1) {
        vsml_err("rank %d failed; ending all %d ranks", m->rank, m->size);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}
#else
int cli_mpi_agree(cli_mpi *m, int rc)
{
    (void)m;
    return rc;
}

int cli_mpi_bcast(cli_mpi *m, void *buf, size_t bytes)
{
    (void)m;
    (void)buf;
    (void)bytes;
    return 0;
}

int cli_mpi_exchange(void *user, const float *mine, int n_mine, float *all, int n_all)
{
    (void)user;
    if (n_mine != n_all) {
        vsml_err("fitness exchange without MPI: %d of %d values", n_mine, n_all);
        return -1;
    }
    memcpy(all, mine, sizeof(float) * (size_t)n_all);
    return 0;
}

void cli_mpi_abort(cli_mpi *m, int code)
{
    (void)m;
    (void)code;
}
#endif

double cli_mpi_take_comm(cli_mpi *m)
{
    double t = m->comm_s;
    m->comm_s = 0;
    return t;
}
