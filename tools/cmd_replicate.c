/*
 * cmd_replicate.c — `sluice replicate SRC DST`: copy or follow a store.
 *
 * SRC and DST are each a store directory or a node's URL (the /store/v1 API
 * of sluice-origin); one side must be local. The work is store/replicate.h's;
 * this file parses flags, runs the replicator on a thread while the main
 * thread waits for SIGINT/SIGTERM (blocked, taken with sigtimedwait), and
 * prints one summary line (or one JSON object with --json) on stdout.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/flags.h"
#include "common/log.h"
#include "store/replicate.h"
#include "store/store.h"
#include "tools/cli.h"

#define REPL_CTX        "replicate"
#define REPL_ATTEMPTS_MAX 1000
#define REPL_SIG_POLL_NS (100L * 1000 * 1000)

static const char repl_usage[] =
	"sluice replicate SRC DST [--follow] [--stream S] [--from T --to T] [--token T]\n"
	"                 [--retries N] [--batch N] [--json]   (SRC, DST: DIR or URL)";

enum { OPT_FOLLOW = 256, OPT_STREAM, OPT_FROM, OPT_TO, OPT_TOKEN, OPT_RETRIES, OPT_BATCH,
       OPT_JSON, OPT_HELP };

static void
print_summary(const struct repl_stats *st, bool json)
{
	if (json) {
		printf("{\"records\":%" PRIu64 ",\"deletes\":%" PRIu64 ",\"blobs\":%" PRIu64
		       ",\"blob_bytes\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"rejected\":%" PRIu64
		       ",\"bad_hash\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"cursor\":%" PRIu64
		       ",\"source_last_seq\":%" PRIu64 "}\n",
		       st->records, st->deletes, st->blobs, st->blob_bytes, st->skipped, st->rejected,
		       st->bad_hash, st->failures, st->cursor, st->peer_last_seq);
	} else {
		printf("copied %" PRIu64 " records, %" PRIu64 " blobs (%" PRIu64 " bytes), %" PRIu64
		       " deletes; skipped %" PRIu64 "; cursor %" PRIu64 " of %" PRIu64 "\n",
		       st->records, st->blobs, st->blob_bytes, st->deletes,
		       st->skipped + st->rejected, st->cursor, st->peer_last_seq);
	}
	fflush(stdout);
}

/* Run r on its thread; SIGINT/SIGTERM stop it. Returns repl_run()'s result. */
static int
run_until_done(struct repl *r)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = REPL_SIG_POLL_NS };
	sigset_t sigs, old;
	int rc, sig;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	rc = repl_start(r);
	if (rc != 0)
		goto out;
	while (!repl_finished(r)) {
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("signal %d: stopping", sig);
			repl_stop(r);
		}
	}
	rc = repl_join(r);
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int
cmd_replicate(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "stream", required_argument, NULL, OPT_STREAM },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct repl_conf conf;
	struct repl_stats st;
	struct repl *r = NULL;
	const char *token = NULL;
	bool json = false, have_from = false, have_to = false;
	uint64_t v;
	int c, rc, status = CLI_EXIT_FAIL;

	memset(&conf, 0, sizeof(conf));
	log_init("sluice", LOG_WARN);
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case OPT_FOLLOW: conf.follow = true; break;
		case OPT_STREAM:
			if (flag_stream_name(optarg) != 0)
				return cli_usage(REPL_CTX, repl_usage, "--stream \"%s\": want 1..64 of "
				                 "[A-Za-z0-9_-]", optarg);
			conf.stream = optarg;
			break;
		case OPT_FROM:
			if ((rc = cli_time(REPL_CTX, repl_usage, "--from", optarg, &conf.from_us)) != 0)
				return rc;
			have_from = true;
			break;
		case OPT_TO:
			if ((rc = cli_time(REPL_CTX, repl_usage, "--to", optarg, &conf.to_us)) != 0)
				return rc;
			have_to = true;
			break;
		case OPT_TOKEN: token = optarg; break;
		case OPT_RETRIES:
			if ((rc = cli_uint(REPL_CTX, repl_usage, "--retries", optarg, REPL_ATTEMPTS_MAX,
			                   &v)) != 0)
				return rc;
			conf.max_attempts = (unsigned)v + 1;
			break;
		case OPT_BATCH:
			if ((rc = cli_uint(REPL_CTX, repl_usage, "--batch", optarg, REPL_BATCH_MAX,
			                   &v)) != 0)
				return rc;
			if (v == 0)
				return cli_usage(REPL_CTX, repl_usage, "--batch: 1..%d", REPL_BATCH_MAX);
			conf.batch = (size_t)v;
			break;
		case OPT_JSON: json = true; break;
		case OPT_HELP:
			printf("usage: %s\n", repl_usage);
			return CLI_EXIT_OK;
		default:
			return cli_usage(REPL_CTX, repl_usage, "bad option \"%s\"", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return cli_usage(REPL_CTX, repl_usage, "want SRC and DST");
	conf.src = argv[optind];
	conf.dst = argv[optind + 1];
	if (have_from != have_to)
		return cli_usage(REPL_CTX, repl_usage, "--from and --to go together");
	if (have_from && conf.from_us >= conf.to_us)
		return cli_usage(REPL_CTX, repl_usage, "--from must be before --to");
	if (repl_is_url(conf.src) && repl_is_url(conf.dst))
		return cli_usage(REPL_CTX, repl_usage, "one side must be a local store");
	for (int i = 0; i < 2; i++) {
		const char *u = i == 0 ? conf.src : conf.dst;
		char tmp[REPL_URL_MAX];
		if (repl_is_url(u) && repl_url_base(u, tmp, sizeof(tmp)) != 0)
			return cli_usage(REPL_CTX, repl_usage, "\"%s\": want http(s)://host[:port]", u);
	}
	conf.token = flag_or_env(token, "SLUICE_TOKEN", NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return cli_fail(REPL_CTX, "libcurl: global init failed");
	rc = repl_new(&conf, &r);
	if (rc != 0) {
		const char *side = repl_is_url(conf.src) ? conf.dst : conf.src;
		if (rc == -ENOTDIR)
			status = cli_fail(REPL_CTX, "store \"%s\": not a sluice store", side);
		else if (rc == -ENOENT)
			status = cli_fail(REPL_CTX, "store \"%s\": %s", conf.src, strerror(-rc));
		else
			status = cli_fail(REPL_CTX, "%s -> %s: %s", conf.src, conf.dst, strerror(-rc));
		goto out;
	}
	rc = run_until_done(r);
	repl_get_stats(r, &st);
	print_summary(&st, json);
	if (rc == 0)
		status = CLI_EXIT_OK;
	else
		status = cli_fail(REPL_CTX, "%s", repl_error(r)[0] ? repl_error(r) : strerror(-rc));
out:
	repl_free(&r);
	curl_global_cleanup();
	return status;
}
