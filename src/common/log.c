#include <stdio.h>
#include <stdlib.h>

#include "vsml/log.h"

static enum vsml_log_level g_level = VSML_LOG_INFO;
static vsml_log_fn g_fn;
static void *g_user;
static char *g_cap;
static size_t g_cap_size;

void vsml_log_set_level(enum vsml_log_level level) { g_level = level; }
enum vsml_log_level vsml_log_get_level(void) { return g_level; }

void vsml_log_set_callback(vsml_log_fn fn, void *user)
{
    g_fn = fn;
    g_user = user;
}

void vsml_log_capture_errors(char *buf, size_t size)
{
    g_cap = buf && size ? buf : NULL;
    g_cap_size = size;
    if (g_cap)
        g_cap[0] = '\0';
}

void vsml_logv(enum vsml_log_level level, const char *fmt, va_list ap)
{
    if (level == VSML_LOG_ERROR && g_cap) {
        if (!g_cap[0])
            vsnprintf(g_cap, g_cap_size, fmt, ap);
        return;
    }
    if (level > g_level)
        return;
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (g_fn) {
        g_fn(g_user, level, buf);
        return;
    }
    static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
    fprintf(stderr, "vsml-vk: %s%s\n", prefix[level], buf);
}

void vsml_log(enum vsml_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsml_logv(level, fmt, ap);
    va_end(ap);
}
