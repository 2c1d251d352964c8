/* Logging and error reporting.
 *
 * The library never exits or aborts: a function that fails logs one message
 * at VSML_LOG_ERROR saying what failed and why, and returns a failure code.
 * Callers propagate the failure without logging again, so the user sees one
 * clear sentence. Thread-safety: vsml_log may be called from any thread;
 * vsml_log_set_level/vsml_log_set_callback are not thread-safe. */
#ifndef VSML_LOG_H
#define VSML_LOG_H

#include <stdarg.h>

enum vsml_log_level {
    VSML_LOG_ERROR = 0,
    VSML_LOG_WARN = 1,
    VSML_LOG_INFO = 2,
    VSML_LOG_DEBUG = 3,
};

typedef void (*vsml_log_fn)(void *user, enum vsml_log_level level, const char *msg);

void vsml_log_set_level(enum vsml_log_level level);
enum vsml_log_level vsml_log_get_level(void);
/* NULL restores the default (stderr, prefixed "vsml-vk: error: " etc.). */
void vsml_log_set_callback(vsml_log_fn fn, void *user);
/* While buf is set, errors are not reported: the first one is kept in buf
 * (size bytes) for a caller that tries alternatives and decides itself
 * what to report (NULL ends it). */
void vsml_log_capture_errors(char *buf, size_t size);

#if defined(__GNUC__)
#define VSML_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VSML_PRINTF(a, b)
#endif

void vsml_log(enum vsml_log_level level, const char *fmt, ...) VSML_PRINTF(2, 3);
void vsml_logv(enum vsml_log_level level, const char *fmt, va_list ap);

#define vsml_err(...) vsml_log(VSML_LOG_ERROR, __VA_ARGS__)
#define vsml_warn(...) vsml_log(VSML_LOG_WARN, __VA_ARGS__)
#define vsml_info(...) vsml_log(VSML_LOG_INFO, __VA_ARGS__)
#define vsml_dbg(...) vsml_log(VSML_LOG_DEBUG, __VA_ARGS__)

#endif
