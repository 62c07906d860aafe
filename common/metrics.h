/*
 * metrics.h — Prometheus metrics registry and text exposition.
 *
 * A registry owns its metrics; a metric handle stays valid until
 * metrics_free(). Lookup/registration takes a mutex (call it at setup or on
 * cold paths); updates (metric_inc/add/set/observe) are lock-free atomics and
 * safe from any thread. The same (name, labels) registered twice returns the
 * same handle; the same name with a different type returns NULL.
 *
 * Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, else NULL. Update calls on a
 * NULL handle or a handle of another type are no-ops (so a failed
 * registration never crashes a hot path); negative or NaN counter
 * increments and NaN observations are dropped. A histogram series registered
 * again with different bounds returns NULL. At most 64 finite bounds.
 *
 * Labels are given preformatted: `route="/hls",status="200"` (or NULL/"").
 * Label values must already be escaped per the exposition format
 * (metrics_escape_label helps).
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stddef.h>

struct metrics;
struct metric;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

int metrics_new(struct metrics **out);          /* 0 or -ENOMEM */
void metrics_free(struct metrics **m);          /* sets *m = NULL */

struct metric *metrics_counter(struct metrics *m, const char *name,
                               const char *help, const char *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name,
                             const char *help, const char *labels);
/* bounds: strictly increasing upper bounds (le), +Inf is implicit. */
struct metric *metrics_histogram(struct metrics *m, const char *name,
                                 const char *help, const char *labels,
                                 const double *bounds, size_t nbounds);

void metric_inc(struct metric *c);              /* +1 (counter or gauge) */
void metric_add(struct metric *c, double v);    /* counter: v >= 0 */
void metric_set(struct metric *g, double v);    /* gauge */
void metric_observe(struct metric *h, double v);/* histogram */
double metric_value(const struct metric *c);    /* counter/gauge value; histogram: count */

/*
 * Render the whole registry in Prometheus text format 0.0.4 into a malloc'd,
 * NUL-terminated buffer the caller frees. 0 or -ENOMEM.
 */
int metrics_render(struct metrics *m, char **buf, size_t *len);

/* Escape a label value (\\, \", \n) into out; -ENOSPC if it does not fit. */
int metrics_escape_label(const char *in, char *out, size_t outlen);

#endif
