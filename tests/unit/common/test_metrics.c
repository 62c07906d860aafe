/*
 * test_metrics.c — registry, exposition text, concurrency.
 *
 * `test_metrics --dump FILE` writes a rendered sample registry to FILE and
 * exits (tests/integration/test_common_metrics.py feeds it to promtool).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#define THREADS 4
#define PER_THREAD 100000

static void
render_expect(struct metrics *m, const char *want)
{
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(len, strlen(buf));
	if (strcmp(buf, want) != 0) {
		print_error("rendered:\n%s\nwanted:\n%s\n", buf, want);
		free(buf);
		fail();
	}
	free(buf);
}

static void
test_empty(void **state)
{
	struct metrics *m = NULL;
	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	render_expect(m, "");
	metrics_free(&m);
	assert_null(m);
	metrics_free(&m); /* idempotent */
}

static void
test_render_small(void **state)
{
	static const double bounds[] = {0.1, 0.5, 1};
	struct metrics *m = NULL;
	struct metric *req200, *req404, *req200b, *conns, *lat, *plain;
	(void)state;

	assert_int_equal(metrics_new(&m), 0);
	req200 = metrics_counter(m, "sluice_requests_total", "HTTP requests.",
	                         "route=\"/hls\",status=\"200\"");
	conns = metrics_gauge(m, "sluice_connections", "Open connections.", NULL);
	lat = metrics_histogram(m, "sluice_latency_seconds", "Latency.", "route=\"/hls\"", bounds,
	                        3);
	/* Same name registered later: rendered together with the first series. */
	req404 = metrics_counter(m, "sluice_requests_total", "ignored",
	                         "route=\"/hls\",status=\"404\"");
	plain = metrics_counter(m, "sluice_plain_total", "Line one\\two\nthree.", "");
	req200b = metrics_counter(m, "sluice_requests_total", "x", "route=\"/hls\",status=\"200\"");
	assert_non_null(req200);
	assert_non_null(req404);
	assert_non_null(conns);
	assert_non_null(lat);
	assert_non_null(plain);
	assert_ptr_equal(req200, req200b);

	metric_inc(req200);
	metric_inc(req200b);
	metric_add(req200, 3);
	metric_add(req404, 0.5);
	metric_add(req404, -7);  /* dropped: counters only go up */
	metric_add(req404, NAN); /* dropped */
	metric_set(conns, 12);
	metric_inc(conns);
	metric_add(conns, -3.5);
	metric_observe(lat, 0.05);
	metric_observe(lat, 0.1); /* le is inclusive */
	metric_observe(lat, 0.3);
	metric_observe(lat, 2);
	metric_observe(lat, NAN); /* dropped */
	/* Wrong-type and NULL updates are no-ops. */
	metric_set(req200, 100);
	metric_observe(req200, 1);
	metric_inc(lat);
	metric_inc(NULL);
	metric_set(NULL, 1);
	metric_observe(NULL, 1);

	assert_true(metric_value(req200) == 5.0);
	assert_true(metric_value(conns) == 9.5);
	assert_true(metric_value(lat) == 4.0);
	assert_true(metric_value(plain) == 0.0);
	assert_true(metric_value(NULL) == 0.0);

	render_expect(m, "# HELP sluice_requests_total HTTP requests.\n"
	                 "# TYPE sluice_requests_total counter\n"
	                 "sluice_requests_total{route=\"/hls\",status=\"200\"} 5\n"
	                 "sluice_requests_total{route=\"/hls\",status=\"404\"} 0.5\n"
	                 "# HELP sluice_connections Open connections.\n"
	                 "# TYPE sluice_connections gauge\n"
	                 "sluice_connections 9.5\n"
	                 "# HELP sluice_latency_seconds Latency.\n"
	                 "# TYPE sluice_latency_seconds histogram\n"
	                 "sluice_latency_seconds_bucket{route=\"/hls\",le=\"0.1\"} 2\n"
	                 "sluice_latency_seconds_bucket{route=\"/hls\",le=\"0.5\"} 3\n"
	                 "sluice_latency_seconds_bucket{route=\"/hls\",le=\"1\"} 3\n"
	                 "sluice_latency_seconds_bucket{route=\"/hls\",le=\"+Inf\"} 4\n"
	                 "sluice_latency_seconds_sum{route=\"/hls\"} 2.45\n"
	                 "sluice_latency_seconds_count{route=\"/hls\"} 4\n"
	                 "# HELP sluice_plain_total Line one\\\\two\\nthree.\n"
	                 "# TYPE sluice_plain_total counter\n"
	                 "sluice_plain_total 0\n");
	metrics_free(&m);
}

static void
test_histogram_unlabelled(void **state)
{
	static const double bounds[] = {1, 2.5};
	struct metrics *m = NULL;
	struct metric *h, *h2;
	(void)state;

	assert_int_equal(metrics_new(&m), 0);
	h = metrics_histogram(m, "h", "H.", NULL, bounds, 2);
	assert_non_null(h);
	h2 = metrics_histogram(m, "h", "H.", "", bounds, 2);
	assert_ptr_equal(h, h2);
	/* Same series with other bounds: refused. */
	assert_null(metrics_histogram(m, "h", "H.", "", bounds, 1));
	for (int i = 0; i < 10; i++)
		metric_observe(h, i * 0.5); /* 0 .. 4.5 */
	render_expect(m, "# HELP h H.\n"
	                 "# TYPE h histogram\n"
	                 "h_bucket{le=\"1\"} 3\n"
	                 "h_bucket{le=\"2.5\"} 6\n"
	                 "h_bucket{le=\"+Inf\"} 10\n"
	                 "h_sum 22.5\n"
	                 "h_count 10\n");
	metrics_free(&m);
}

static void
test_histogram_no_bounds(void **state)
{
	struct metrics *m = NULL;
	struct metric *h;
	(void)state;

	assert_int_equal(metrics_new(&m), 0);
	h = metrics_histogram(m, "h0", "", "a=\"b\"", NULL, 0);
	assert_non_null(h);
	metric_observe(h, -1);
	render_expect(m, "# HELP h0 \n"
	                 "# TYPE h0 histogram\n"
	                 "h0_bucket{a=\"b\",le=\"+Inf\"} 1\n"
	                 "h0_sum{a=\"b\"} -1\n"
	                 "h0_count{a=\"b\"} 1\n");
	metrics_free(&m);
}

static void
test_registration_errors(void **state)
{
	static const double bad1[] = {1, 1};
	static const double bad2[] = {2, 1};
	static const double bad3[] = {1, INFINITY};
	static const double bad4[] = {NAN};
	static const double good[] = {1};
	double many[100];
	struct metrics *m = NULL;
	(void)state;

	for (int i = 0; i < 100; i++)
		many[i] = i;
	assert_int_equal(metrics_new(&m), 0);
	assert_non_null(metrics_counter(m, "x_total", "X.", NULL));
	/* type clash */
	assert_null(metrics_gauge(m, "x_total", "X.", NULL));
	assert_null(metrics_gauge(m, "x_total", "X.", "a=\"1\""));
	assert_null(metrics_histogram(m, "x_total", "X.", NULL, good, 1));
	assert_non_null(metrics_gauge(m, "g", "G.", NULL));
	assert_null(metrics_counter(m, "g", "G.", NULL));
	/* names */
	assert_null(metrics_counter(m, "", "E.", NULL));
	assert_null(metrics_counter(m, NULL, "E.", NULL));
	assert_null(metrics_counter(m, "1abc", "E.", NULL));
	assert_null(metrics_counter(m, "a-b", "E.", NULL));
	assert_null(metrics_counter(m, "a b", "E.", NULL));
	assert_non_null(metrics_counter(m, "a:b_c9", "E.", NULL));
	assert_null(metrics_counter(NULL, "a", "E.", NULL));
	/* bounds */
	assert_null(metrics_histogram(m, "h1", "", NULL, bad1, 2));
	assert_null(metrics_histogram(m, "h2", "", NULL, bad2, 2));
	assert_null(metrics_histogram(m, "h3", "", NULL, bad3, 2));
	assert_null(metrics_histogram(m, "h4", "", NULL, bad4, 1));
	assert_null(metrics_histogram(m, "h5", "", NULL, NULL, 1));
	assert_null(metrics_histogram(m, "h6", "", NULL, many, 100));
	assert_non_null(metrics_histogram(m, "h7", "", NULL, many, 64));
	/* Failed registrations left nothing behind. */
	render_expect(m, "# HELP x_total X.\n"
	                 "# TYPE x_total counter\n"
	                 "x_total 0\n"
	                 "# HELP g G.\n"
	                 "# TYPE g gauge\n"
	                 "g 0\n"
	                 "# HELP a:b_c9 E.\n"
	                 "# TYPE a:b_c9 counter\n"
	                 "a:b_c9 0\n"
	                 "# HELP h7 \n"
	                 "# TYPE h7 histogram\n"
	                 "h7_bucket{le=\"0\"} 0\n"
	                 "h7_bucket{le=\"1\"} 0\n"
	                 "h7_bucket{le=\"2\"} 0\n"
	                 "h7_bucket{le=\"3\"} 0\n"
	                 "h7_bucket{le=\"4\"} 0\n"
	                 "h7_bucket{le=\"5\"} 0\n"
	                 "h7_bucket{le=\"6\"} 0\n"
	                 "h7_bucket{le=\"7\"} 0\n"
	                 "h7_bucket{le=\"8\"} 0\n"
	                 "h7_bucket{le=\"9\"} 0\n"
	                 "h7_bucket{le=\"10\"} 0\n"
	                 "h7_bucket{le=\"11\"} 0\n"
	                 "h7_bucket{le=\"12\"} 0\n"
	                 "h7_bucket{le=\"13\"} 0\n"
	                 "h7_bucket{le=\"14\"} 0\n"
	                 "h7_bucket{le=\"15\"} 0\n"
	                 "h7_bucket{le=\"16\"} 0\n"
	                 "h7_bucket{le=\"17\"} 0\n"
	                 "h7_bucket{le=\"18\"} 0\n"
	                 "h7_bucket{le=\"19\"} 0\n"
	                 "h7_bucket{le=\"20\"} 0\n"
	                 "h7_bucket{le=\"21\"} 0\n"
	                 "h7_bucket{le=\"22\"} 0\n"
	                 "h7_bucket{le=\"23\"} 0\n"
	                 "h7_bucket{le=\"24\"} 0\n"
	                 "h7_bucket{le=\"25\"} 0\n"
	                 "h7_bucket{le=\"26\"} 0\n"
	                 "h7_bucket{le=\"27\"} 0\n"
	                 "h7_bucket{le=\"28\"} 0\n"
	                 "h7_bucket{le=\"29\"} 0\n"
	                 "h7_bucket{le=\"30\"} 0\n"
	                 "h7_bucket{le=\"31\"} 0\n"
	                 "h7_bucket{le=\"32\"} 0\n"
	                 "h7_bucket{le=\"33\"} 0\n"
	                 "h7_bucket{le=\"34\"} 0\n"
	                 "h7_bucket{le=\"35\"} 0\n"
	                 "h7_bucket{le=\"36\"} 0\n"
	                 "h7_bucket{le=\"37\"} 0\n"
	                 "h7_bucket{le=\"38\"} 0\n"
	                 "h7_bucket{le=\"39\"} 0\n"
	                 "h7_bucket{le=\"40\"} 0\n"
	                 "h7_bucket{le=\"41\"} 0\n"
	                 "h7_bucket{le=\"42\"} 0\n"
	                 "h7_bucket{le=\"43\"} 0\n"
	                 "h7_bucket{le=\"44\"} 0\n"
	                 "h7_bucket{le=\"45\"} 0\n"
	                 "h7_bucket{le=\"46\"} 0\n"
	                 "h7_bucket{le=\"47\"} 0\n"
	                 "h7_bucket{le=\"48\"} 0\n"
	                 "h7_bucket{le=\"49\"} 0\n"
	                 "h7_bucket{le=\"50\"} 0\n"
	                 "h7_bucket{le=\"51\"} 0\n"
	                 "h7_bucket{le=\"52\"} 0\n"
	                 "h7_bucket{le=\"53\"} 0\n"
	                 "h7_bucket{le=\"54\"} 0\n"
	                 "h7_bucket{le=\"55\"} 0\n"
	                 "h7_bucket{le=\"56\"} 0\n"
	                 "h7_bucket{le=\"57\"} 0\n"
	                 "h7_bucket{le=\"58\"} 0\n"
	                 "h7_bucket{le=\"59\"} 0\n"
	                 "h7_bucket{le=\"60\"} 0\n"
	                 "h7_bucket{le=\"61\"} 0\n"
	                 "h7_bucket{le=\"62\"} 0\n"
	                 "h7_bucket{le=\"63\"} 0\n"
	                 "h7_bucket{le=\"+Inf\"} 0\n"
	                 "h7_sum 0\n"
	                 "h7_count 0\n");
	metrics_free(&m);
}

static void
test_values_format(void **state)
{
	struct metrics *m = NULL;
	struct metric *a, *b, *c, *d, *e, *f;
	(void)state;

	assert_int_equal(metrics_new(&m), 0);
	a = metrics_gauge(m, "v", "V.", "k=\"a\"");
	b = metrics_gauge(m, "v", "V.", "k=\"b\"");
	c = metrics_gauge(m, "v", "V.", "k=\"c\"");
	d = metrics_gauge(m, "v", "V.", "k=\"d\"");
	e = metrics_gauge(m, "v", "V.", "k=\"e\"");
	f = metrics_gauge(m, "v", "V.", "k=\"f\"");
	metric_set(a, 0.1);
	metric_set(b, 1e21);
	metric_set(c, INFINITY);
	metric_set(d, -INFINITY);
	metric_set(e, NAN);
	metric_set(f, 1795255200123456.0);
	render_expect(m, "# HELP v V.\n"
	                 "# TYPE v gauge\n"
	                 "v{k=\"a\"} 0.1\n"
	                 "v{k=\"b\"} 1e+21\n"
	                 "v{k=\"c\"} +Inf\n"
	                 "v{k=\"d\"} -Inf\n"
	                 "v{k=\"e\"} NaN\n"
	                 "v{k=\"f\"} 1795255200123456\n");
	metrics_free(&m);
}

static void
test_escape_label(void **state)
{
	char out[16];
	(void)state;

	assert_int_equal(metrics_escape_label("plain", out, sizeof(out)), 0);
	assert_string_equal(out, "plain");
	assert_int_equal(metrics_escape_label("a\\b\"c\nd", out, sizeof(out)), 0);
	assert_string_equal(out, "a\\\\b\\\"c\\nd");
	assert_int_equal(metrics_escape_label("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(metrics_escape_label("abc", out, 4), 0);
	assert_int_equal(metrics_escape_label("abcd", out, 4), -ENOSPC);
	assert_int_equal(metrics_escape_label("ab\"", out, 4), -ENOSPC);
	assert_int_equal(metrics_escape_label("a", out, 0), -ENOSPC);
}

struct worker {
	struct metric *c, *g, *h;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		metric_inc(w->c);
		metric_add(w->g, 0.5);
		metric_observe(w->h, (double)(i % 4));
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	static const double bounds[] = {0.5, 1.5, 2.5};
	struct metrics *m = NULL;
	pthread_t th[THREADS];
	struct worker w;
	char *buf = NULL;
	size_t len;
	char want[256];
	(void)state;

	assert_int_equal(metrics_new(&m), 0);
	w.c = metrics_counter(m, "c_total", "C.", NULL);
	w.g = metrics_gauge(m, "g", "G.", NULL);
	w.h = metrics_histogram(m, "h", "H.", NULL, bounds, 3);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w), 0);
	/* Render while updates are in flight (exercises the lock-free paths). */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(metrics_render(m, &buf, &len), 0);
		free(buf);
	}
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_true(metric_value(w.c) == (double)THREADS * PER_THREAD);
	assert_true(metric_value(w.g) == (double)THREADS * PER_THREAD * 0.5);
	assert_true(metric_value(w.h) == (double)THREADS * PER_THREAD);
	assert_int_equal(metrics_render(m, &buf, &len), 0);
	snprintf(want, sizeof(want),
	         "h_bucket{le=\"0.5\"} %d\nh_bucket{le=\"1.5\"} %d\n"
	         "h_bucket{le=\"2.5\"} %d\nh_bucket{le=\"+Inf\"} %d\nh_sum %d\nh_count %d\n",
	         THREADS * PER_THREAD / 4, THREADS * PER_THREAD / 2, THREADS * PER_THREAD / 4 * 3,
	         THREADS * PER_THREAD, THREADS * (PER_THREAD / 4) * 6, THREADS * PER_THREAD);
	if (strstr(buf, want) == NULL) {
		print_error("%s\nlacks\n%s\n", buf, want);
		free(buf);
		fail();
	}
	free(buf);
	metrics_free(&m);
}

/* Concurrent registration of the same names returns the same handles. */
static void *
register_run(void *arg)
{
	struct metrics *m = arg;
	char labels[32];

	for (int i = 0; i < 200; i++) {
		snprintf(labels, sizeof(labels), "n=\"%d\"", i % 50);
		metric_inc(metrics_counter(m, "r_total", "R.", labels));
	}
	return NULL;
}

static void
test_concurrent_register(void **state)
{
	struct metrics *m = NULL;
	pthread_t th[THREADS];
	(void)state;

	assert_int_equal(metrics_new(&m), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, register_run, m), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 50; i++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "n=\"%d\"", i);
		assert_true(metric_value(metrics_counter(m, "r_total", "R.", labels)) ==
		            THREADS * 4);
	}
	metrics_free(&m);
}

/* A registry exercising every feature, for promtool. */
static int
dump_sample(const char *path)
{
	static const double bounds[] = {0.005, 0.01, 0.1, 0.5, 1, 10};
	struct metrics *m = NULL;
	struct metric *h;
	char esc[64];
	char labels[128];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rc = 1;

	if (metrics_new(&m) != 0)
		goto out;
	metric_add(metrics_counter(m, "sluice_requests_total", "Requests served.",
	                           "route=\"/hls\",status=\"200\""),
	           42);
	metric_set(
	        metrics_gauge(m, "sluice_connections", "Open connections.\nSecond line \\.", NULL),
	        3);
	h = metrics_histogram(m, "sluice_request_seconds", "Request latency.", "route=\"/hls\"",
	                      bounds, 6);
	for (int i = 0; i < 100; i++)
		metric_observe(h, i * 0.013);
	metrics_escape_label("we\"ird\\va\nlue", esc, sizeof(esc));
	snprintf(labels, sizeof(labels), "route=\"%s\",status=\"404\"", esc);
	metric_inc(metrics_counter(m, "sluice_requests_total", "x", labels));
	metric_set(metrics_gauge(m, "sluice_temperature", "Inf test.", "k=\"inf\""), INFINITY);
	metric_set(metrics_gauge(m, "sluice_temperature", "Inf test.", "k=\"small\""), 1e-300);
	metrics_histogram(m, "sluice_empty_seconds", "Never observed.", NULL, bounds, 6);
	if (metrics_render(m, &buf, &len) != 0)
		goto out;
	f = fopen(path, "w");
	if (f == NULL || fwrite(buf, 1, len, f) != len)
		goto out;
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = 1;
	free(buf);
	metrics_free(&m);
	return rc;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty),
	        cmocka_unit_test(test_render_small),
	        cmocka_unit_test(test_histogram_unlabelled),
	        cmocka_unit_test(test_histogram_no_bounds),
	        cmocka_unit_test(test_registration_errors),
	        cmocka_unit_test(test_values_format),
	        cmocka_unit_test(test_escape_label),
	        cmocka_unit_test(test_concurrent),
	        cmocka_unit_test(test_concurrent_register),
	};

	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump_sample(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
