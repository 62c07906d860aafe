/*
 * cmd_edges.c — `sluice edges ls|drain [ID] --origin URL [--token T]`
 * (DESIGN.md "Operator CLI"): the operator's view of an origin's edge
 * registry.
 *
 *   ls      GET URL/api/v1/edges; a table (id, url, state, load/capacity,
 *           last heartbeat), or with --json one edge object per line.
 *   drain   DELETE URL/api/v1/edges/ID with Authorization: Bearer T (T from
 *           --token, else SLUICE_TOKEN); the origin drains and removes it.
 *
 * Model: one libcurl easy handle per run, one request, the answer held in a
 * buffer of at most EDGES_ANSWER_MAX bytes. A 4xx/5xx answer is reported with
 * the server's {"error": "..."} text. The origin URL may also come from
 * SLUICE_ORIGIN. Single-threaded; no statics.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/flags.h"
#include "tools/cli.h"

#define EDGES_USAGE                                                                   \
	"sluice edges ls --origin URL [--json] [--token T]\n"                        \
	"       sluice edges drain ID --origin URL [--token T]\n"                    \
	"URL may come from SLUICE_ORIGIN, T from SLUICE_TOKEN"
#define USAGE_LS    "sluice edges ls --origin URL [--json] [--token T]"
#define USAGE_DRAIN "sluice edges drain ID --origin URL [--token T]"

#define EDGES_ANSWER_MAX         (16U << 20)   /* bytes of an origin answer */
#define EDGES_CONNECT_TIMEOUT_S  5L
#define EDGES_TIMEOUT_S          30L
#define EDGES_URL_MAX            1024
#define EDGES_AUTH_MAX           1100
#define EDGES_TOKEN_MAX          1024
#define EDGES_MSG_MAX            512
#define EDGES_ERR_MAX            (EDGES_URL_MAX + EDGES_MSG_MAX + 64)

struct answer {
	char *data;
	size_t len, cap;
	bool over;                          /* more than EDGES_ANSWER_MAX */
	long status;
};

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n, cap;
	char *d;

	if (len > EDGES_ANSWER_MAX - a->len) {
		a->over = true;
		return 0;
	}
	if (a->len + len + 1 > a->cap) {
		cap = a->cap ? a->cap : 4096;
		while (cap < a->len + len + 1)
			cap *= 2;
		d = realloc(a->data, cap);
		if (d == NULL)
			return 0;
		a->data = d;
		a->cap = cap;
	}
	memcpy(a->data + a->len, p, len);
	a->len += len;
	a->data[a->len] = '\0';
	return len;
}

/* The server's {"error": "..."} text, or the bare status. */
static void
server_error(const struct answer *a, char *msg, size_t len)
{
	json_t *root = a->len > 0 ? json_loadb(a->data, a->len, 0, NULL) : NULL;
	json_t *e = json_object_get(root, "error");

	if (json_is_string(e))
		snprintf(msg, len, "%s (HTTP %ld)", json_string_value(e), a->status);
	else
		snprintf(msg, len, "HTTP %ld", a->status);
	json_decref(root);
}

/*
 * One request to the origin. 0 on a 2xx answer (body in a), else -EIO with
 * one line in err: the transport error or the server's error text.
 */
static int
request(const char *method, const char *url, const char *token, struct answer *a, char *err,
        size_t errlen)
{
	char auth[EDGES_AUTH_MAX];
	struct curl_slist *hdrs = NULL, *h;
	CURL *c = NULL;
	CURLcode cc;
	int rc = -EIO;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl: initialisation failed");
		return -EIO;
	}
	c = curl_easy_init();
	if (c == NULL) {
		snprintf(err, errlen, "libcurl: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(hdrs, auth);
		if (h == NULL) {
			snprintf(err, errlen, "libcurl: out of memory");
			rc = -ENOMEM;
			goto out;
		}
		hdrs = h;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, EDGES_CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, EDGES_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice-edges");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		if (a->over)
			snprintf(err, errlen, "answer larger than %u bytes", EDGES_ANSWER_MAX);
		else
			snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->status < 200 || a->status > 299) {
		char msg[EDGES_MSG_MAX];

		server_error(a, msg, sizeof(msg));
		snprintf(err, errlen, "%s", msg);
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_global_cleanup();
	return rc;
}

/* ---- flags ---- */

struct edges_args {
	const char *origin;                 /* without trailing slashes: origin_len */
	int origin_len;
	const char *token;
	const char *id;
	bool json;
};

static bool
want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* Flags of ls / drain; npos positional arguments expected (the ID for drain). */
static int
parse_args(const char *ctx, const char *usage, int argc, char **argv, int npos, bool allow_json,
           struct edges_args *a)
{
	static const struct option opts[] = {
		{ "origin", required_argument, NULL, 'o' },
		{ "token", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *origin = NULL, *token = NULL;
	size_t len;
	int opt;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			origin = optarg;
			break;
		case 't':
			token = optarg;
			break;
		case 'j':
			if (!allow_json)
				return cli_usage(ctx, usage, "--json: only for \"edges ls\"");
			a->json = true;
			break;
		default:
			return cli_usage(ctx, usage, "option \"%s\" is unknown or misses its value",
			                 argv[optind - 1]);
		}
	}
	if (argc - optind != npos)
		return cli_usage(ctx, usage, npos == 1 ? "expected one edge ID"
		                                       : "unexpected argument");
	if (npos == 1) {
		a->id = argv[optind];
		if (flag_stream_name(a->id) != 0)
			return cli_usage(ctx, usage, "edge ID \"%s\": 1-64 of [A-Za-z0-9_-]",
			                 a->id);
	}
	origin = flag_or_env(origin, "SLUICE_ORIGIN", NULL);
	if (origin == NULL)
		return cli_usage(ctx, usage, "--origin is required (or SLUICE_ORIGIN)");
	len = strlen(origin);
	while (len > 0 && origin[len - 1] == '/')
		len--;
	if ((strncmp(origin, "http://", 7) != 0 && strncmp(origin, "https://", 8) != 0) ||
	    len + 64 + 16 > EDGES_URL_MAX)
		return cli_usage(ctx, usage, "--origin \"%s\": need an http:// or https:// URL",
		                 origin);
	a->origin = origin;
	a->origin_len = (int)len;
	a->token = flag_or_env(token, "SLUICE_TOKEN", NULL);
	if (a->token != NULL && (strlen(a->token) >= EDGES_TOKEN_MAX ||
	                         strpbrk(a->token, "\r\n") != NULL))
		return cli_usage(ctx, usage, "--token: at most %d bytes, one line",
		                 EDGES_TOKEN_MAX - 1);
	return 0;
}

/* ---- ls ---- */

static const char *
str_or_dash(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "-";
}

static void
print_table(json_t *arr)
{
	size_t i;
	json_t *e;

	printf("%-20s %-32s %-10s %-16s %s\n", "ID", "URL", "STATE", "LOAD/CAPACITY",
	       "LAST HEARTBEAT");
	json_array_foreach(arr, i, e) {
		char lc[48];

		snprintf(lc, sizeof(lc), "%.2f/%" JSON_INTEGER_FORMAT,
		         json_number_value(json_object_get(e, "load")),
		         json_integer_value(json_object_get(e, "capacity")));
		printf("%-20s %-32s %-10s %-16s %s\n", str_or_dash(e, "id"), str_or_dash(e, "url"),
		       str_or_dash(e, "state"), lc, str_or_dash(e, "last_heartbeat"));
	}
}

static int
edges_ls(int argc, char **argv)
{
	static const char ctx[] = "edges ls";
	struct edges_args a = { 0 };
	struct answer ans = { 0 };
	char url[EDGES_URL_MAX], err[EDGES_ERR_MAX];
	json_error_t je;
	json_t *root = NULL, *e;
	size_t i;
	int rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_LS);
		return CLI_EXIT_OK;
	}
	rc = parse_args(ctx, USAGE_LS, argc, argv, 0, true, &a);
	if (rc != 0)
		return rc;
	snprintf(url, sizeof(url), "%.*s/api/v1/edges", a.origin_len, a.origin);
	if (request("GET", url, a.token, &ans, err, sizeof(err)) != 0) {
		cli_fail(ctx, "origin %.*s: %s", a.origin_len, a.origin, err);
		goto out;
	}
	root = json_loadb(ans.data != NULL ? ans.data : "", ans.len, 0, &je);
	if (!json_is_array(root)) {
		cli_fail(ctx, "GET %s: not a JSON array (%s)", url,
		         root == NULL ? je.text : "wrong type");
		goto out;
	}
	if (a.json) {
		json_array_foreach(root, i, e) {
			char *line = json_dumps(e, JSON_COMPACT);

			if (line == NULL) {
				cli_fail(ctx, "out of memory");
				goto out;
			}
			printf("%s\n", line);
			free(line);
		}
	} else {
		print_table(root);
	}
	if (fflush(stdout) != 0) {
		cli_fail(ctx, "write output: %s", strerror(errno));
		goto out;
	}
	ret = CLI_EXIT_OK;
out:
	json_decref(root);
	free(ans.data);
	return ret;
}

/* ---- drain ---- */

static int
edges_drain(int argc, char **argv)
{
	static const char ctx[] = "edges drain";
	struct edges_args a = { 0 };
	struct answer ans = { 0 };
	char url[EDGES_URL_MAX], err[EDGES_ERR_MAX];
	int rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", USAGE_DRAIN);
		return CLI_EXIT_OK;
	}
	rc = parse_args(ctx, USAGE_DRAIN, argc, argv, 1, false, &a);
	if (rc != 0)
		return rc;
	snprintf(url, sizeof(url), "%.*s/api/v1/edges/%s", a.origin_len, a.origin, a.id);
	if (request("DELETE", url, a.token, &ans, err, sizeof(err)) != 0) {
		cli_fail(ctx, "origin %.*s: %s", a.origin_len, a.origin, err);
		goto out;
	}
	printf("edge \"%s\" drained and removed\n", a.id);
	ret = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	free(ans.data);
	return ret;
}

int
cmd_edges(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "sluice: edges: missing subcommand\nusage: %s\n", EDGES_USAGE);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		printf("usage: %s\n", EDGES_USAGE);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "ls") == 0)
		return edges_ls(argc - 1, argv + 1);
	if (strcmp(argv[1], "drain") == 0)
		return edges_drain(argc - 1, argv + 1);
	fprintf(stderr, "sluice: edges: unknown subcommand \"%s\"\nusage: %s\n", argv[1],
	        EDGES_USAGE);
	return CLI_EXIT_USAGE;
}
