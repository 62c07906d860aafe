/*
 * cmd_store_bench.c — hidden store subcommands for tests and benchmarks.
 *
 *   sluice store stress DIR --stream S [--count N] [--size BYTES]
 *       Put N segments (random bytes; every 4th repeats an earlier payload
 *       so blobs are shared) one by one, each a blob put then a record put,
 *       and print "ACK <stream> <variant> <start_us> <cid>" after each put
 *       is durable (stdout flushed). Used by the kill -9 crash test: every
 *       ACK line printed must survive.
 *
 *   sluice store bench put DIR FILE...
 *       Put each file (blob from fd + record, fsync on), print
 *       "PUT files=N bytes=B secs=S".
 *
 *   sluice store bench query DIR [--records N] [--queries Q]
 *       Insert N records (batches of BENCH_BATCH per transaction, sharing a
 *       few blobs), then time Q random range queries over 60 s windows;
 *       print "QUERY records=N insert_secs=S p50_us=X p99_us=Y avg_hits=H".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "store/store.h"
#include "tools/cli.h"

#define STRESS_SIZE_DEFAULT  4096
#define STRESS_SIZE_MAX      (16 * 1024 * 1024)
#define STRESS_COUNT_MAX     10000000ULL
#define STRESS_REUSE_EVERY   4
#define STRESS_SEG_US        2000000LL
#define BENCH_BATCH          10000
#define BENCH_BLOBS          64
#define BENCH_SEG_US         2000000LL
#define BENCH_WINDOW_US      (60LL * 1000000LL)
#define BENCH_RECORDS_MAX    100000000ULL
#define BENCH_QUERIES_MAX    10000000ULL

#define USAGE_STRESS "sluice store stress DIR --stream S [--count N] [--size BYTES]"
#define USAGE_BENCH  "sluice store bench put DIR FILE... | sluice store bench query DIR " \
	"[--records N] [--queries Q]"

static double
secs_since(int64_t t0)
{
	return (double)(time_mono_us() - t0) / 1e6;
}

int
cmd_store_stress(int argc, char **argv)
{
	static const char ctx[] = "store stress";
	static const struct option opts[] = {
		{ "stream", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_record rec;
	struct store *s = NULL;
	unsigned char *buf = NULL, *prev = NULL;
	const char *stream = NULL;
	uint64_t count = 100, size = STRESS_SIZE_DEFAULT;
	int64_t base;
	int opt, rc, ret = CLI_EXIT_FAIL;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 's':
			stream = optarg;
			break;
		case 'n':
			rc = cli_uint(ctx, USAGE_STRESS, "--count", optarg, STRESS_COUNT_MAX, &count);
			break;
		case 'z':
			rc = cli_uint(ctx, USAGE_STRESS, "--size", optarg, STRESS_SIZE_MAX, &size);
			break;
		default:
			return cli_usage(ctx, USAGE_STRESS, "unknown option");
		}
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 1 || stream == NULL || !store_name_valid(stream, STORE_STREAM_MAX) ||
	    size < 16)
		return cli_usage(ctx, USAGE_STRESS, "expected DIR, --stream and --size >= 16");
	if (cli_store_open(ctx, argv[optind], 0, &s) != 0)
		return CLI_EXIT_FAIL;
	buf = malloc(size);
	prev = malloc(size);
	if (buf == NULL || prev == NULL) {
		cli_fail(ctx, "out of memory");
		goto out;
	}
	/* Starts from now, 2 s apart: a restarted writer never reuses a key. */
	base = time_now_us();
	for (uint64_t i = 0; i < count; i++) {
		bool reuse = i > 0 && i % STRESS_REUSE_EVERY == 0;

		if (!reuse && getrandom(buf, size, 0) != (ssize_t)size) {
			cli_fail(ctx, "getrandom: %s", strerror(errno));
			goto out;
		}
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.stream, sizeof(rec.stream), "%s", stream);
		snprintf(rec.variant, sizeof(rec.variant), "src");
		snprintf(rec.session, sizeof(rec.session), "stress-%ld", (long)getpid());
		rec.start_us = base + (int64_t)i * STRESS_SEG_US;
		rec.duration_us = STRESS_SEG_US;
		rc = store_blob_put(s, reuse ? prev : buf, size, NULL, rec.cid, NULL);
		if (rc == 0)
			rc = store_record_put(s, &rec, STORE_PUT_ASSIGN_SEQ, NULL, NULL);
		if (rc != 0) {
			cli_fail(ctx, "put %" PRIu64 ": %s", i, strerror(-rc));
			goto out;
		}
		printf("ACK %s %s %" PRId64 " %s\n", rec.stream, rec.variant, rec.start_us, rec.cid);
		fflush(stdout);
		if (!reuse)
			memcpy(prev, buf, size);
	}
	ret = CLI_EXIT_OK;
out:
	free(buf);
	free(prev);
	store_close(&s);
	return ret;
}

static int
bench_put(int argc, char **argv)
{
	static const char ctx[] = "store bench put";
	struct store_record rec;
	struct store *s = NULL;
	uint64_t bytes = 0, size;
	int64_t t0;
	int fd, rc;

	if (argc < 3)
		return cli_usage(ctx, USAGE_BENCH, "expected DIR and files");
	if (cli_store_open(ctx, argv[1], 0, &s) != 0)
		return CLI_EXIT_FAIL;
	t0 = time_mono_us();
	for (int i = 2; i < argc; i++) {
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.stream, sizeof(rec.stream), "bench");
		snprintf(rec.variant, sizeof(rec.variant), "src");
		rec.start_us = time_now_us();
		rec.duration_us = BENCH_SEG_US;
		fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			store_close(&s);
			return cli_fail(ctx, "open \"%s\": %s", argv[i], strerror(errno));
		}
		rc = store_blob_put_fd(s, fd, NULL, rec.cid, &size, NULL);
		close(fd);
		if (rc == 0)
			rc = store_record_put(s, &rec, STORE_PUT_ASSIGN_SEQ, NULL, NULL);
		if (rc != 0) {
			store_close(&s);
			return cli_fail(ctx, "put \"%s\": %s", argv[i], strerror(-rc));
		}
		bytes += size;
	}
	printf("PUT files=%d bytes=%" PRIu64 " secs=%.4f\n", argc - 2, bytes, secs_since(t0));
	store_close(&s);
	return CLI_EXIT_OK;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
bench_query(int argc, char **argv)
{
	static const char ctx[] = "store bench query";
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'r' },
		{ "queries", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	char cids[BENCH_BLOBS][CID_BUF_LEN];
	struct store_record *batch = NULL, *out = NULL;
	struct store *s = NULL;
	int64_t *lat = NULL, t0, base = 1700000000LL * 1000000LL;
	uint64_t nrec = 1000000, nq = 1000, hits = 0, seed;
	double insert_secs;
	size_t n;
	int opt, rc, ret = CLI_EXIT_FAIL;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = 0;
		if (opt == 'r')
			rc = cli_uint(ctx, USAGE_BENCH, "--records", optarg, BENCH_RECORDS_MAX, &nrec);
		else if (opt == 'q')
			rc = cli_uint(ctx, USAGE_BENCH, "--queries", optarg, BENCH_QUERIES_MAX, &nq);
		else
			return cli_usage(ctx, USAGE_BENCH, "unknown option");
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 1 || nrec == 0 || nq == 0)
		return cli_usage(ctx, USAGE_BENCH, "expected DIR, --records > 0, --queries > 0");
	if (cli_store_open(ctx, argv[optind], 0, &s) != 0)
		return CLI_EXIT_FAIL;
	for (int i = 0; i < BENCH_BLOBS; i++) {
		char payload[64];
		int len = snprintf(payload, sizeof(payload), "bench blob %d", i);

		if ((rc = store_blob_put(s, payload, (size_t)len, NULL, cids[i], NULL)) != 0) {
			cli_fail(ctx, "blob put: %s", strerror(-rc));
			goto out;
		}
	}
	batch = calloc(BENCH_BATCH, sizeof(*batch));
	lat = calloc(nq, sizeof(*lat));
	if (batch == NULL || lat == NULL) {
		cli_fail(ctx, "out of memory");
		goto out;
	}
	t0 = time_mono_us();
	for (uint64_t i = 0; i < nrec;) {
		size_t k = 0;

		for (; k < BENCH_BATCH && i < nrec; k++, i++) {
			struct store_record *r = &batch[k];

			memset(r, 0, sizeof(*r));
			snprintf(r->stream, sizeof(r->stream), "bench-q");
			snprintf(r->variant, sizeof(r->variant), "src");
			r->start_us = base + (int64_t)i * BENCH_SEG_US;
			r->duration_us = BENCH_SEG_US;
			r->seq = i;
			snprintf(r->cid, sizeof(r->cid), "%s", cids[i % BENCH_BLOBS]);
		}
		if ((rc = store_record_put_many(s, batch, k, 0, NULL)) != 0) {
			cli_fail(ctx, "insert: %s", strerror(-rc));
			goto out;
		}
	}
	insert_secs = secs_since(t0);
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = 88172645463325252ULL;
	for (uint64_t q = 0; q < nq; q++) {
		int64_t span = (int64_t)nrec * BENCH_SEG_US, from;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		from = base + (int64_t)(seed % (uint64_t)span);
		t0 = time_mono_us();
		rc = store_query(s, "bench-q", "src", from, from + BENCH_WINDOW_US, 0, &out, &n, NULL);
		lat[q] = time_mono_us() - t0;
		if (rc != 0) {
			cli_fail(ctx, "query: %s", strerror(-rc));
			goto out;
		}
		hits += n;
		free(out);
		out = NULL;
	}
	qsort(lat, nq, sizeof(*lat), cmp_i64);
	printf("QUERY records=%" PRIu64 " insert_secs=%.2f p50_us=%" PRId64 " p99_us=%" PRId64
	       " avg_hits=%.1f\n", nrec, insert_secs, lat[nq / 2], lat[(nq * 99) / 100],
	       (double)hits / (double)nq);
	ret = CLI_EXIT_OK;
out:
	free(batch);
	free(lat);
	store_close(&s);
	return ret;
}

int
cmd_store_bench(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "put") == 0)
		return bench_put(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "query") == 0)
		return bench_query(argc - 1, argv + 1);
	return cli_usage("store bench", USAGE_BENCH, "expected put or query");
}
