/* The run directory's metrics log (metrics.jsonl): the reader resume uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/es.h"

/* A line is kept when it starts with {"step":<digits> and ends with a
 * newline; anything else (a torn last line of a killed run, garbage) goes. */
static bool line_step(const char *line, size_t len, long *step)
{
    static const char prefix[] = "{\"step\":";
    size_t k = sizeof(prefix) - 1;
    if (len < k + 1 || memcmp(line, prefix, k) != 0)
        return false;
    long s = 0;
    size_t i = k;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        if (s > (VSML_METRICS_MAX_STEP - (line[i] - '0')) / 10)
            return false;
        s = s * 10 + (line[i] - '0');
    }
    if (i == k)
        return false;
    *step = s;
    return true;
}

size_t vsml_metrics_keep_steps(char *text, size_t len, long step)
{
    size_t out = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl)
            break; /* a torn last line */
        size_t l = (size_t)(nl - (text + pos)) + 1;
        long s;
        if (line_step(text + pos, l, &s) && s <= step) {
            memmove(text + out, text + pos, l);
            out += l;
        }
        pos += l;
    }
    return out;
}
