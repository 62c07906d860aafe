/*
 * cmd_store.c — `sluice store init|put|query|stats|fsck|gc` (DESIGN.md
 * "Operator CLI"), plus the hidden `stress` and `bench` used by tests and
 * tools/bench/store.sh (cmd_store_bench.c).
 *
 * Every subcommand parses its own flags with getopt_long (options and
 * positional arguments may be mixed), opens the store without creating it
 * (except init), does one thing and maps errors to exit status 1 with one
 * line on stderr; bad usage is exit 2 with a usage line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "store/store.h"
#include "tools/cli.h"

#define US_PER_SEC     1000000.0
#define WIDTH_MAX      65535
#define BANDWIDTH_MAX  (1ULL << 40)
#define PUT_RETRIES    1

static const char store_usage[] =
	"sluice store init DIR\n"
	"       sluice store put DIR --stream S [--variant V] --start T --duration D FILE\n"
	"             [--session ID] [--tenant T] [--device D] [--codecs C] [--width W]\n"
	"             [--height H] [--bandwidth BPS] [--json]\n"
	"       sluice store query DIR --stream S [--variant V] [--from T] [--to T] [--json]\n"
	"       sluice store stats DIR [--json]\n"
	"       sluice store fsck DIR [--repair]\n"
	"       sluice store gc DIR --older-than D [--stream S]\n"
	"times: RFC 3339, Unix seconds, now, -30s; durations: 2, 2s, 500ms, 15m, 14d";

#define USAGE_INIT  "sluice store init DIR"
#define USAGE_PUT   "sluice store put DIR --stream S [--variant V] --start T --duration D " \
	"[--session ID] [--tenant T] [--device D] [--codecs C] [--width W] [--height H] " \
	"[--bandwidth BPS] [--json] FILE"
#define USAGE_QUERY "sluice store query DIR --stream S [--variant V] [--from T] [--to T] [--json]"
#define USAGE_STATS "sluice store stats DIR [--json]"
#define USAGE_FSCK  "sluice store fsck DIR [--repair]"
#define USAGE_GC    "sluice store gc DIR --older-than D [--stream S]"

/* Copy a flag value into a fixed field; -1 (after a usage error) if too long. */
static int
copy_flag(const char *ctx, const char *usage, const char *flag, const char *val, char *dst,
          size_t size)
{
	if (strlen(val) >= size)
		return cli_usage(ctx, usage, "%s: longer than %zu characters", flag, size - 1);
	snprintf(dst, size, "%s", val);
	return 0;
}

static bool
want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int
bad_option(const char *ctx, const char *usage, char **argv)
{
	if (optopt != 0)
		return cli_usage(ctx, usage, "option needs a value or is unknown: -%c", optopt);
	return cli_usage(ctx, usage, "unknown option or missing value: %s", argv[optind - 1]);
}

/* ---- init ---- */

static int
store_cmd_init(int argc, char **argv)
{
	static const char ctx[] = "store init";
	struct store *s = NULL;
	int rc;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_INIT);
		return CLI_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(ctx, USAGE_INIT, "expected one directory");
	rc = store_init(argv[1]);
	if (rc == -ENOTDIR)
		return cli_fail(ctx, "\"%s\": exists and is not an empty directory or a store",
		                argv[1]);
	if (rc != 0)
		return cli_fail(ctx, "\"%s\": %s", argv[1], strerror(-rc));
	if (cli_store_open(ctx, argv[1], 0, &s) != 0)
		return CLI_EXIT_FAIL;
	printf("%s\n", store_node_id(s));
	store_close(&s);
	return CLI_EXIT_OK;
}

/* ---- put ---- */

static int
store_cmd_put(int argc, char **argv)
{
	static const char ctx[] = "store put";
	static const struct option opts[] = {
		{ "stream", required_argument, NULL, 's' },
		{ "variant", required_argument, NULL, 'v' },
		{ "start", required_argument, NULL, 'S' },
		{ "duration", required_argument, NULL, 'd' },
		{ "session", required_argument, NULL, 'e' },
		{ "tenant", required_argument, NULL, 't' },
		{ "device", required_argument, NULL, 'D' },
		{ "codecs", required_argument, NULL, 'c' },
		{ "width", required_argument, NULL, 'W' },
		{ "height", required_argument, NULL, 'H' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_record rec, out;
	struct store *s = NULL;
	char json[STORE_JSON_MAX], err[160];
	const char *dir, *file;
	bool have_start = false, have_dur = false, as_json = false, created = false;
	uint64_t u;
	int opt, rc, fd = -1, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_PUT);
		return CLI_EXIT_OK;
	}
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.variant, sizeof(rec.variant), "src");
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 's':
			rc = copy_flag(ctx, USAGE_PUT, "--stream", optarg, rec.stream,
			               sizeof(rec.stream));
			break;
		case 'v':
			rc = copy_flag(ctx, USAGE_PUT, "--variant", optarg, rec.variant,
			               sizeof(rec.variant));
			break;
		case 'S':
			rc = cli_time(ctx, USAGE_PUT, "--start", optarg, &rec.start_us);
			have_start = true;
			break;
		case 'd':
			rc = cli_duration(ctx, USAGE_PUT, "--duration", optarg, &rec.duration_us);
			have_dur = true;
			break;
		case 'e':
			rc = copy_flag(ctx, USAGE_PUT, "--session", optarg, rec.session,
			               sizeof(rec.session));
			break;
		case 't':
			rc = copy_flag(ctx, USAGE_PUT, "--tenant", optarg, rec.tenant,
			               sizeof(rec.tenant));
			break;
		case 'D':
			rc = copy_flag(ctx, USAGE_PUT, "--device", optarg, rec.device,
			               sizeof(rec.device));
			break;
		case 'c':
			rc = copy_flag(ctx, USAGE_PUT, "--codecs", optarg, rec.codecs,
			               sizeof(rec.codecs));
			break;
		case 'W':
			rc = cli_uint(ctx, USAGE_PUT, "--width", optarg, WIDTH_MAX, &u);
			rec.width = (uint32_t)u;
			break;
		case 'H':
			rc = cli_uint(ctx, USAGE_PUT, "--height", optarg, WIDTH_MAX, &u);
			rec.height = (uint32_t)u;
			break;
		case 'b':
			rc = cli_uint(ctx, USAGE_PUT, "--bandwidth", optarg, BANDWIDTH_MAX,
			              &rec.bandwidth);
			break;
		case 'j':
			as_json = true;
			break;
		default:
			return bad_option(ctx, USAGE_PUT, argv);
		}
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 2)
		return cli_usage(ctx, USAGE_PUT, "expected DIR and FILE");
	dir = argv[optind];
	file = argv[optind + 1];
	if (rec.stream[0] == '\0' || !have_start || !have_dur)
		return cli_usage(ctx, USAGE_PUT, "--stream, --start and --duration are required");
	/* Validate names before touching anything (the cid is filled in later). */
	memset(rec.cid, 'a', CID_HEX_LEN);
	rc = store_record_validate(&rec, err, sizeof(err));
	rec.cid[0] = '\0';
	if (rc != 0)
		return cli_usage(ctx, USAGE_PUT, "%s", err);

	if (cli_store_open(ctx, dir, 0, &s) != 0)
		return CLI_EXIT_FAIL;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_fail(ctx, "open \"%s\": %s", file, strerror(errno));
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		rc = store_blob_put_fd(s, fd, NULL, rec.cid, &rec.size, NULL);
		if (rc != 0) {
			cli_fail(ctx, "store blob of \"%s\": %s", file, strerror(-rc));
			goto out;
		}
		rc = store_record_put(s, &rec, STORE_PUT_ASSIGN_SEQ, &created, &out);
		/* -ENOENT: a concurrent gc took the known blob away; put it again. */
		if (rc != -ENOENT || attempt >= PUT_RETRIES || lseek(fd, 0, SEEK_SET) != 0)
			break;
	}
	if (rc != 0) {
		cli_fail(ctx, "store record of \"%s\": %s", file, strerror(-rc));
		goto out;
	}
	if (as_json) {
		if (store_record_to_json(&out, json, sizeof(json)) != 0) {
			cli_fail(ctx, "record too large for JSON");
			goto out;
		}
		printf("%s\n", json);
	} else {
		printf("%s\n", out.cid);
	}
	if (!created && strcmp(out.cid, rec.cid) != 0)
		fprintf(stderr, "sluice: store put: note: %s/%s at %" PRId64
		        " already holds %s, which wins (smaller cid)\n",
		        rec.stream, rec.variant, rec.start_us, out.cid);
	ret = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	if (fd >= 0)
		close(fd);
	store_close(&s);
	return ret;
}

/* ---- query ---- */

static void
print_table(const struct store_record *r, size_t n)
{
	char ts[TIME_RFC3339_LEN];

	printf("%-24s %-8s %9s %6s %10s %-64s %s\n", "START", "VARIANT", "DURATION", "SEQ",
	       "SIZE", "CID", "SESSION");
	for (size_t i = 0; i < n; i++) {
		if (time_format_rfc3339(r[i].start_us, ts, sizeof(ts)) != 0)
			snprintf(ts, sizeof(ts), "%" PRId64, r[i].start_us);
		printf("%-24s %-8s %8.3fs %6" PRIu64 " %10" PRIu64 " %s %s%s\n", ts, r[i].variant,
		       (double)r[i].duration_us / US_PER_SEC, r[i].seq, r[i].size, r[i].cid,
		       r[i].session, r[i].discontinuity ? " (discontinuity)" : "");
	}
}

static int
store_cmd_query(int argc, char **argv)
{
	static const char ctx[] = "store query";
	static const struct option opts[] = {
		{ "stream", required_argument, NULL, 's' },
		{ "variant", required_argument, NULL, 'v' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stream = NULL, *variant = NULL;
	struct store_record *recs = NULL;
	struct store *s = NULL;
	char json[STORE_JSON_MAX];
	int64_t from = INT64_MIN, to = INT64_MAX;
	bool as_json = false;
	size_t n = 0;
	int opt, rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_QUERY);
		return CLI_EXIT_OK;
	}
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 's':
			stream = optarg;
			break;
		case 'v':
			variant = optarg;
			break;
		case 'f':
			rc = cli_time(ctx, USAGE_QUERY, "--from", optarg, &from);
			break;
		case 't':
			rc = cli_time(ctx, USAGE_QUERY, "--to", optarg, &to);
			break;
		case 'j':
			as_json = true;
			break;
		default:
			return bad_option(ctx, USAGE_QUERY, argv);
		}
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 1)
		return cli_usage(ctx, USAGE_QUERY, "expected one store directory");
	if (stream == NULL)
		return cli_usage(ctx, USAGE_QUERY, "--stream is required");
	if (!store_name_valid(stream, STORE_STREAM_MAX))
		return cli_usage(ctx, USAGE_QUERY, "--stream \"%s\": 1-64 of [A-Za-z0-9_-]", stream);
	if (variant != NULL && !store_name_valid(variant, STORE_VARIANT_MAX))
		return cli_usage(ctx, USAGE_QUERY, "--variant \"%s\": 1-32 of [A-Za-z0-9_-]",
		                 variant);
	if (from > to)
		return cli_usage(ctx, USAGE_QUERY, "--from is after --to");
	if (cli_store_open(ctx, argv[optind], STORE_OPEN_READONLY, &s) != 0)
		return CLI_EXIT_FAIL;
	rc = store_query(s, stream, variant, from, to, 0, &recs, &n, NULL);
	if (rc == -ENOENT) {
		if (variant != NULL)
			cli_fail(ctx, "unknown stream \"%s\" variant \"%s\"", stream, variant);
		else
			cli_fail(ctx, "unknown stream \"%s\"", stream);
		goto out;
	}
	if (rc != 0) {
		cli_fail(ctx, "query \"%s\": %s", stream, strerror(-rc));
		goto out;
	}
	if (as_json) {
		for (size_t i = 0; i < n; i++) {
			if (store_record_to_json(&recs[i], json, sizeof(json)) == 0)
				printf("%s\n", json);
		}
	} else {
		print_table(recs, n);
	}
	ret = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	free(recs);
	store_close(&s);
	return ret;
}

/* ---- stats ---- */

static int
store_cmd_stats(int argc, char **argv)
{
	static const char ctx[] = "store stats";
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_stream_info *si = NULL;
	struct store_stats st;
	struct store *s = NULL;
	char a[TIME_RFC3339_LEN], b[TIME_RFC3339_LEN];
	bool as_json = false;
	size_t nsi = 0;
	int opt, rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_STATS);
		return CLI_EXIT_OK;
	}
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return bad_option(ctx, USAGE_STATS, argv);
		as_json = true;
	}
	if (argc - optind != 1)
		return cli_usage(ctx, USAGE_STATS, "expected one store directory");
	if (cli_store_open(ctx, argv[optind], STORE_OPEN_READONLY, &s) != 0)
		return CLI_EXIT_FAIL;
	if ((rc = store_stats(s, &st)) != 0 || (rc = store_streams(s, &si, &nsi)) != 0) {
		cli_fail(ctx, "\"%s\": %s", argv[optind], strerror(-rc));
		goto out;
	}
	if (as_json) {
		printf("{\"node\":\"%s\",\"records\":%" PRIu64 ",\"blobs\":%" PRIu64
		       ",\"blob_bytes\":%" PRIu64 ",\"streams\":%" PRIu64 ",\"last_seq\":%" PRIu64
		       ",\"map_size\":%" PRIu64 ",\"map_used\":%" PRIu64 "}\n",
		       st.node, st.records, st.blobs, st.blob_bytes, st.streams, st.last_seq,
		       st.map_size, st.map_used);
	} else {
		printf("node      %s\nrecords   %" PRIu64 "\nblobs     %" PRIu64 " (%" PRIu64
		       " bytes)\nstreams   %" PRIu64 "\nlast seq  %" PRIu64 "\nindex     %" PRIu64
		       " of %" PRIu64 " bytes used\n",
		       st.node, st.records, st.blobs, st.blob_bytes, st.streams, st.last_seq,
		       st.map_used, st.map_size);
		for (size_t i = 0; i < nsi; i++) {
			time_format_rfc3339(si[i].first_us, a, sizeof(a));
			time_format_rfc3339(si[i].last_us, b, sizeof(b));
			printf("stream    %s: %" PRIu64 " segments, %zu variant(s), %s .. %s%s%s\n",
			       si[i].stream, si[i].segments, si[i].nvariants, a, b,
			       si[i].tenant[0] ? ", tenant " : "", si[i].tenant);
		}
	}
	ret = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	store_streams_free(&si, nsi);
	store_close(&s);
	return ret;
}

/* ---- fsck ---- */

struct fsck_out {
	char first_kind[32];
	char first_cid[CID_BUF_LEN];
};

static void
fsck_print(void *arg, const char *kind, const char *cid, const char *detail)
{
	struct fsck_out *fo = arg;
	bool serious = strcmp(kind, "bad_hash") == 0 || strcmp(kind, "missing_blob") == 0 ||
	               strcmp(kind, "bad_refcount") == 0;

	printf("%s %s%s%s\n", serious ? "PROBLEM" : "note", kind, cid ? " " : "", cid ? cid : "");
	printf("    %s\n", detail);
	if (serious && fo->first_kind[0] == '\0') {
		snprintf(fo->first_kind, sizeof(fo->first_kind), "%s", kind);
		snprintf(fo->first_cid, sizeof(fo->first_cid), "%s", cid ? cid : "");
	}
}

static int
store_cmd_fsck(int argc, char **argv)
{
	static const char ctx[] = "store fsck";
	static const struct option opts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_fsck_report rep;
	struct fsck_out fo = { "", "" };
	struct store *s = NULL;
	bool repair = false;
	uint64_t problems;
	int opt, rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_FSCK);
		return CLI_EXIT_OK;
	}
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'r')
			return bad_option(ctx, USAGE_FSCK, argv);
		repair = true;
	}
	if (argc - optind != 1)
		return cli_usage(ctx, USAGE_FSCK, "expected one store directory");
	if (cli_store_open(ctx, argv[optind], repair ? 0 : STORE_OPEN_READONLY, &s) != 0)
		return CLI_EXIT_FAIL;
	rc = store_fsck_verbose(s, repair, &rep, fsck_print, &fo);
	if (rc != 0) {
		cli_fail(ctx, "\"%s\": %s", argv[optind], strerror(-rc));
		goto out;
	}
	problems = rep.bad_hash + rep.missing_blob + (repair ? 0 : rep.bad_refcount);
	printf("fsck: %" PRIu64 " blobs rehashed, %" PRIu64 " records checked: %" PRIu64
	       " bad hash, %" PRIu64 " missing blob, %" PRIu64 " bad refcount%s, %" PRIu64
	       " orphan files, %" PRIu64 " tmp files\n",
	       rep.blobs_checked, rep.records_checked, rep.bad_hash, rep.missing_blob,
	       rep.bad_refcount, repair && rep.bad_refcount ? " (repaired)" : "",
	       rep.orphan_files, rep.tmp_files);
	fflush(stdout);
	if (problems > 0) {
		cli_fail(ctx, "\"%s\": %" PRIu64 " problem(s): %" PRIu64 " bad hash, %" PRIu64
		         " missing blob, %" PRIu64 " bad refcount (first: %s %s)",
		         argv[optind], problems, rep.bad_hash, rep.missing_blob, rep.bad_refcount,
		         fo.first_kind, fo.first_cid);
		goto out;
	}
	ret = CLI_EXIT_OK;
out:
	store_close(&s);
	return ret;
}

/* ---- gc ---- */

static int
store_cmd_gc(int argc, char **argv)
{
	static const char ctx[] = "store gc";
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "stream", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stream = NULL;
	struct store *s = NULL;
	int64_t age = -1;
	uint64_t recs = 0, blobs = 0;
	int opt, rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_GC);
		return CLI_EXIT_OK;
	}
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 'o':
			rc = cli_duration(ctx, USAGE_GC, "--older-than", optarg, &age);
			break;
		case 's':
			stream = optarg;
			break;
		default:
			return bad_option(ctx, USAGE_GC, argv);
		}
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 1)
		return cli_usage(ctx, USAGE_GC, "expected one store directory");
	if (age < 0)
		return cli_usage(ctx, USAGE_GC, "--older-than is required");
	if (stream != NULL && !store_name_valid(stream, STORE_STREAM_MAX))
		return cli_usage(ctx, USAGE_GC, "--stream \"%s\": 1-64 of [A-Za-z0-9_-]", stream);
	if (cli_store_open(ctx, argv[optind], 0, &s) != 0)
		return CLI_EXIT_FAIL;
	rc = store_gc(s, time_now_us() - age, stream, &recs, &blobs);
	if (rc != 0) {
		cli_fail(ctx, "\"%s\": %s", argv[optind], strerror(-rc));
		goto out;
	}
	printf("gc: removed %" PRIu64 " records, %" PRIu64 " blobs\n", recs, blobs);
	ret = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	store_close(&s);
	return ret;
}

/* ---- dispatch ---- */

int
cmd_store(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
		{ "init", store_cmd_init },   { "put", store_cmd_put },
		{ "query", store_cmd_query }, { "stats", store_cmd_stats },
		{ "fsck", store_cmd_fsck },   { "gc", store_cmd_gc },
		{ "stress", cmd_store_stress }, { "bench", cmd_store_bench },
	};

	if (argc < 2) {
		fprintf(stderr, "sluice: store: missing subcommand\nusage: %s\n", store_usage);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		printf("usage: %s\n", store_usage);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "sluice: store: unknown subcommand \"%s\"\nusage: %s\n", argv[1],
	        store_usage);
	return CLI_EXIT_USAGE;
}
