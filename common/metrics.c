/*
 * metrics.c — Prometheus registry and text exposition (format 0.0.4).
 *
 * Model: a registry holds a list of families (one per metric name, in order
 * of first registration); each family holds its series (one per label set,
 * in registration order). Both lists only grow, under the registry mutex,
 * and are freed all at once by metrics_free(), so a struct metric * stays
 * valid for the registry's lifetime. Rendering takes the mutex to walk the
 * lists, which keeps every series of a name together under one HELP/TYPE.
 *
 * Values are lock-free: counter and gauge values are doubles stored as their
 * IEEE-754 bits in an _Atomic uint64_t and updated with a CAS loop; a
 * histogram has an _Atomic uint64_t count per bucket (non-cumulative; the
 * renderer accumulates, and reports _count as the +Inf total so the two
 * always agree) and an atomic-double sum. Relaxed ordering suffices: each
 * value is independent and readers only need a recent value.
 *
 * Misuse is tolerated rather than fatal: update calls on a NULL handle or a
 * handle of the wrong type do nothing, negative/NaN counter increments are
 * dropped. Registering an existing (name, labels) returns the existing
 * handle; an existing name with another type, or an existing histogram
 * series with different bounds, returns NULL, as do invalid names and
 * bounds that are not finite and strictly increasing.
 */
#include "common/metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_BUCKETS 64  /* finite bounds per histogram */
#define METRICS_NAME_MAX 200    /* bytes in a metric name */
#define METRICS_LABELS_MAX 1024 /* bytes in a preformatted label set */
#define METRICS_NUM_LEN 40      /* buffer for one formatted double */
#define METRICS_RENDER_INITIAL 4096

struct family;

struct metric {
	struct metric *next; /* next series of the same family */
	struct family *fam;
	char *labels;         /* "" when none */
	_Atomic uint64_t val; /* counter/gauge value; histogram sum (double bits) */
	size_t nbounds;
	double *bounds;
	_Atomic uint64_t *buckets; /* nbounds + 1 (last is +Inf), non-cumulative */
};

struct family {
	struct family *next;
	char *name;
	char *help;
	enum metric_type type;
	struct metric *first, **tail;
};

struct metrics {
	pthread_mutex_t lock;
	struct family *first, **tail;
};

static uint64_t
d2u(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double
u2d(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void
atomic_add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + v),
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

int
metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	m->tail = &m->first;
	*out = m;
	return 0;
}

static void
metric_free_one(struct metric *s)
{
	free(s->labels);
	free(s->bounds);
	free(s->buckets);
	free(s);
}

void
metrics_free(struct metrics **mp)
{
	struct metrics *m;
	struct family *f, *fnext;
	struct metric *s, *snext;

	if (mp == NULL || *mp == NULL)
		return;
	m = *mp;
	for (f = m->first; f != NULL; f = fnext) {
		fnext = f->next;
		for (s = f->first; s != NULL; s = snext) {
			snext = s->next;
			metric_free_one(s);
		}
		free(f->name);
		free(f->help);
		free(f);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
	*mp = NULL;
}

static bool
name_ok(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return false;
	for (; name[n] != '\0'; n++) {
		char c = name[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          c == ':' || (n > 0 && c >= '0' && c <= '9');
		if (!ok || n >= METRICS_NAME_MAX)
			return false;
	}
	return n > 0;
}

static bool
bounds_ok(const double *bounds, size_t nbounds)
{
	if (nbounds > METRICS_MAX_BUCKETS || (nbounds > 0 && bounds == NULL))
		return false;
	for (size_t i = 0; i < nbounds; i++) {
		if (!isfinite(bounds[i]))
			return false;
		if (i > 0 && !(bounds[i] > bounds[i - 1]))
			return false;
	}
	return true;
}

static struct family *
family_find(struct metrics *m, const char *name)
{
	for (struct family *f = m->first; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct metric *
series_new(const char *labels, const double *bounds, size_t nbounds, enum metric_type type)
{
	struct metric *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->labels = strdup(labels);
	if (s->labels == NULL)
		goto fail;
	atomic_init(&s->val, d2u(0.0));
	if (type == METRIC_HISTOGRAM) {
		s->nbounds = nbounds;
		if (nbounds > 0) {
			s->bounds = malloc(nbounds * sizeof(*s->bounds));
			if (s->bounds == NULL)
				goto fail;
			memcpy(s->bounds, bounds, nbounds * sizeof(*s->bounds));
		}
		s->buckets = calloc(nbounds + 1, sizeof(*s->buckets));
		if (s->buckets == NULL)
			goto fail;
		for (size_t i = 0; i <= nbounds; i++)
			atomic_init(&s->buckets[i], 0);
	}
	return s;
fail:
	metric_free_one(s);
	return NULL;
}

static bool
same_bounds(const struct metric *s, const double *bounds, size_t nbounds)
{
	if (s->nbounds != nbounds)
		return false;
	for (size_t i = 0; i < nbounds; i++)
		if (s->bounds[i] != bounds[i])
			return false;
	return true;
}

static struct metric *
metrics_register(struct metrics *m, const char *name, const char *help, const char *labels,
                 enum metric_type type, const double *bounds, size_t nbounds)
{
	struct family *f, *newf = NULL;
	struct metric *s = NULL;

	if (m == NULL || !name_ok(name))
		return NULL;
	if (labels == NULL)
		labels = "";
	if (strlen(labels) > METRICS_LABELS_MAX)
		return NULL;
	if (type == METRIC_HISTOGRAM && !bounds_ok(bounds, nbounds))
		return NULL;
	if (help == NULL)
		help = "";

	pthread_mutex_lock(&m->lock);
	f = family_find(m, name);
	if (f != NULL) {
		if (f->type != type)
			goto out; /* s == NULL */
		for (s = f->first; s != NULL; s = s->next) {
			if (strcmp(s->labels, labels) == 0) {
				if (type == METRIC_HISTOGRAM && !same_bounds(s, bounds, nbounds))
					s = NULL;
				goto out;
			}
		}
	} else {
		newf = calloc(1, sizeof(*newf));
		if (newf == NULL)
			goto out;
		newf->name = strdup(name);
		newf->help = strdup(help);
		newf->type = type;
		newf->tail = &newf->first;
		if (newf->name == NULL || newf->help == NULL)
			goto out;
		f = newf;
	}
	s = series_new(labels, bounds, nbounds, type);
	if (s == NULL)
		goto out;
	s->fam = f;
	*f->tail = s;
	f->tail = &s->next;
	if (f == newf) {
		*m->tail = newf;
		m->tail = &newf->next;
		newf = NULL; /* owned by the registry now */
	}
out:
	pthread_mutex_unlock(&m->lock);
	if (newf != NULL) {
		free(newf->name);
		free(newf->help);
		free(newf);
	}
	return s;
}

struct metric *
metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return metrics_register(m, name, help, labels, METRIC_COUNTER, NULL, 0);
}

struct metric *
metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return metrics_register(m, name, help, labels, METRIC_GAUGE, NULL, 0);
}

struct metric *
metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
                  const double *bounds, size_t nbounds)
{
	return metrics_register(m, name, help, labels, METRIC_HISTOGRAM, bounds, nbounds);
}

void
metric_inc(struct metric *c)
{
	metric_add(c, 1.0);
}

void
metric_add(struct metric *c, double v)
{
	if (c == NULL || c->fam->type == METRIC_HISTOGRAM || isnan(v))
		return;
	if (c->fam->type == METRIC_COUNTER && v < 0)
		return;
	atomic_add_double(&c->val, v);
}

void
metric_set(struct metric *g, double v)
{
	if (g == NULL || g->fam->type != METRIC_GAUGE)
		return;
	atomic_store_explicit(&g->val, d2u(v), memory_order_relaxed);
}

void
metric_observe(struct metric *h, double v)
{
	size_t i = 0;

	if (h == NULL || h->fam->type != METRIC_HISTOGRAM || isnan(v))
		return;
	while (i < h->nbounds && v > h->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_add_double(&h->val, v);
}

double
metric_value(const struct metric *c)
{
	uint64_t n = 0;

	if (c == NULL)
		return 0.0;
	if (c->fam->type != METRIC_HISTOGRAM)
		return u2d(atomic_load_explicit(&c->val, memory_order_relaxed));
	/* Histogram: the number of observations. */
	for (size_t i = 0; i <= c->nbounds; i++)
		n += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
	return (double)n;
}

/* Growable output buffer; err sticks at the first failure. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void
sb_reserve(struct sbuf *b, size_t extra)
{
	size_t ncap;
	char *np;

	if (b->err != 0 || b->len + extra + 1 <= b->cap)
		return;
	ncap = b->cap ? b->cap : METRICS_RENDER_INITIAL;
	while (ncap < b->len + extra + 1)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (np == NULL) {
		b->err = -ENOMEM;
		return;
	}
	b->p = np;
	b->cap = ncap;
}

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	if (b->err != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/*
 * Shortest of %.15g/%.16g/%.17g that reads back as the same double, so 0.1
 * renders as "0.1"; infinities as "+Inf"/"-Inf", NaN as "NaN".
 */
static void
fmt_double(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static void
sb_series(struct sbuf *b, const char *name, const char *suffix, const char *labels, const char *le,
          double v)
{
	char num[METRICS_NUM_LEN];
	bool has_labels = labels[0] != '\0';

	sb_str(b, name);
	sb_str(b, suffix);
	if (has_labels || le != NULL) {
		sb_str(b, "{");
		sb_str(b, labels);
		if (le != NULL) {
			if (has_labels)
				sb_str(b, ",");
			sb_str(b, "le=\"");
			sb_str(b, le);
			sb_str(b, "\"");
		}
		sb_str(b, "}");
	}
	sb_str(b, " ");
	fmt_double(v, num, sizeof(num));
	sb_str(b, num);
	sb_str(b, "\n");
}

/* HELP text escaping per the format: backslash and newline. */
static void
sb_help(struct sbuf *b, const char *help)
{
	for (const char *p = help; *p != '\0'; p++) {
		if (*p == '\\')
			sb_put(b, "\\\\", 2);
		else if (*p == '\n')
			sb_put(b, "\\n", 2);
		else
			sb_put(b, p, 1);
	}
}

static const char *
type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static void
render_histogram(struct sbuf *b, const struct family *f, const struct metric *s)
{
	char le[METRICS_NUM_LEN];
	uint64_t cum = 0;

	for (size_t i = 0; i <= s->nbounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < s->nbounds)
			fmt_double(s->bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		sb_series(b, f->name, "_bucket", s->labels, le, (double)cum);
	}
	sb_series(b, f->name, "_sum", s->labels, NULL,
	          u2d(atomic_load_explicit(&s->val, memory_order_relaxed)));
	sb_series(b, f->name, "_count", s->labels, NULL, (double)cum);
}

int
metrics_render(struct metrics *m, char **buf, size_t *len)
{
	struct sbuf b = {NULL, 0, 0, 0};

	sb_reserve(&b, 0);
	if (b.err != 0)
		return b.err;
	b.p[0] = '\0';
	pthread_mutex_lock(&m->lock);
	for (const struct family *f = m->first; f != NULL; f = f->next) {
		sb_str(&b, "# HELP ");
		sb_str(&b, f->name);
		sb_str(&b, " ");
		sb_help(&b, f->help);
		sb_str(&b, "\n# TYPE ");
		sb_str(&b, f->name);
		sb_str(&b, " ");
		sb_str(&b, type_name(f->type));
		sb_str(&b, "\n");
		for (const struct metric *s = f->first; s != NULL; s = s->next) {
			if (f->type == METRIC_HISTOGRAM)
				render_histogram(&b, f, s);
			else
				sb_series(&b, f->name, "", s->labels, NULL,
				          u2d(atomic_load_explicit(&s->val, memory_order_relaxed)));
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (b.err != 0) {
		free(b.p);
		return b.err;
	}
	*buf = b.p;
	if (len != NULL)
		*len = b.len;
	return 0;
}

int
metrics_escape_label(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (in == NULL || out == NULL || outlen == 0)
		return -ENOSPC;
	for (const char *p = in; *p != '\0'; p++) {
		const char *rep = NULL;
		size_t n = 1;
		if (*p == '\\')
			rep = "\\\\", n = 2;
		else if (*p == '"')
			rep = "\\\"", n = 2;
		else if (*p == '\n')
			rep = "\\n", n = 2;
		if (o + n + 1 > outlen)
			return -ENOSPC;
		if (rep != NULL)
			memcpy(out + o, rep, n);
		else
			out[o] = *p;
		o += n;
	}
	out[o] = '\0';
	return 0;
}
