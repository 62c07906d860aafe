/*
 * api.c — JSON API handlers.
 *
 * Model: stateless; JSON built with jansson (streams, edges) or by joining
 * store_record_to_json() texts (segments, which can be long). Request bodies
 * arrive complete in r->body (size-limited by the server).
 */
#include "origin/api.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/timeutil.h"
#include "origin/edges.h"
#include "store/store.h"

static json_t *
time_json(int64_t us)
{
	char buf[TIME_RFC3339_LEN];

	if (time_format_rfc3339(us, buf, sizeof(buf)) != 0)
		return json_null();
	return json_string(buf);
}

static json_t *
stream_json(const struct store_stream_info *si)
{
	json_t *vars = json_array(), *o;

	for (size_t i = 0; vars != NULL && i < si->nvariants; i++) {
		const struct store_variant_info *v = &si->variants[i];
		json_array_append_new(vars, json_pack("{s:s,s:I,s:I,s:I,s:s,s:o,s:o,s:I,s:I,s:I}",
			"name", v->name, "bandwidth", (json_int_t)v->bandwidth,
			"width", (json_int_t)v->width, "height", (json_int_t)v->height,
			"codecs", v->codecs, "first", time_json(v->first_us),
			"last", time_json(v->last_us), "first_us", (json_int_t)v->first_us,
			"last_us", (json_int_t)v->last_us, "segments", (json_int_t)v->segments));
	}
	o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:I,s:I,s:I}", "stream", si->stream, "tenant",
	              si->tenant, "variants", vars ? vars : json_array(), "first",
	              time_json(si->first_us), "last", time_json(si->last_us), "first_us",
	              (json_int_t)si->first_us, "last_us", (json_int_t)si->last_us, "segments",
	              (json_int_t)si->segments);
	return o;
}

static enum MHD_Result
send_json(struct req *r, unsigned status, json_t *j)
{
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL)
		return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_send_malloc(r, status, "application/json", "no-store", text, strlen(text));
}

static enum MHD_Result
streams_list(struct req *r)
{
	struct store_stream_info *arr = NULL;
	size_t n = 0;
	json_t *out;
	int rc;

	rc = store_streams(r->o->store, &arr, &n);
	if (rc == -ENOENT)
		n = 0;
	else if (rc != 0)
		return http_errno(r, rc, "streams");
	out = json_array();
	for (size_t i = 0; out != NULL && i < n; i++)
		json_array_append_new(out, stream_json(&arr[i]));
	store_streams_free(&arr, n);
	return send_json(r, MHD_HTTP_OK, out);
}

static enum MHD_Result
stream_one(struct req *r, const char *stream)
{
	struct store_stream_info si;
	json_t *o;
	int rc;

	rc = store_stream_get(r->o->store, stream, &si);
	if (rc == -ENOENT)
		return http_error(r, MHD_HTTP_NOT_FOUND, "unknown stream \"%s\"", stream);
	if (rc != 0)
		return http_errno(r, rc, "stream");
	o = stream_json(&si);
	store_stream_info_clear(&si);
	return send_json(r, MHD_HTTP_OK, o);
}

static enum MHD_Result
segments(struct req *r, const char *stream)
{
	const char *variant = http_arg(r, "variant"), *f = http_arg(r, "from");
	const char *t = http_arg(r, "to");
	struct store_stream_info si;
	struct store_record *recs = NULL;
	int64_t now = time_now_us(), from, to;
	char js[STORE_JSON_MAX];
	bool trunc = false;
	struct sbuf b;
	struct MHD_Response *resp;
	char *text = NULL;
	size_t n = 0, len = 0;
	int rc;

	if (variant != NULL && variant[0] == '\0')
		variant = NULL;
	if (variant != NULL && flag_variant_name(variant) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad variant name");
	if (f != NULL && time_parse(f, now, &from) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad time in from");
	if (t != NULL && time_parse(t, now, &to) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad time in to");
	rc = store_stream_get(r->o->store, stream, &si);
	if (rc == -ENOENT)
		return http_error(r, MHD_HTTP_NOT_FOUND, "unknown stream \"%s\"", stream);
	if (rc != 0)
		return http_errno(r, rc, "stream");
	if (t == NULL)
		to = si.last_us + 1;
	if (f == NULL) {
		from = si.first_us;
		if (to - from > r->o->conf.max_range_us)
			from = to - r->o->conf.max_range_us;
	}
	store_stream_info_clear(&si);
	if (from > to)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "from must not be after to");
	if (to - from > r->o->conf.max_range_us)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "range longer than the limit of %" PRId64 " s",
		                  (int64_t)(r->o->conf.max_range_us / TIME_US_PER_SEC));
	rc = store_query(r->o->store, stream, variant, from, to, API_SEGMENTS_MAX, &recs, &n,
	                 &trunc);
	if (rc == -ENOENT) {
		rc = 0;
		n = 0;
	}
	if (rc != 0)
		return http_errno(r, rc, "segments");
	sbuf_init(&b);
	sbuf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		if (store_record_to_json(&recs[i], js, sizeof(js)) != 0)
			continue;
		if (i > 0)
			sbuf_puts(&b, ",");
		sbuf_puts(&b, js);
	}
	sbuf_puts(&b, "]");
	free(recs);
	rc = sbuf_take(&b, &text, &len);
	if (rc != 0)
		return http_errno(r, rc, "segments");
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return http_send(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (trunc)
		MHD_add_response_header(resp, "X-Sluice-Truncated", "1");
	return http_send(r, MHD_HTTP_OK, resp);
}

static enum MHD_Result
edges_get(struct req *r)
{
	char *text = NULL;
	size_t len = 0;
	int rc = edges_list_json(r->o->edges, &text, &len);

	if (rc != 0)
		return http_errno(r, rc, "edges");
	return http_send_malloc(r, MHD_HTTP_OK, "application/json", "no-store", text, len);
}

static json_t *
body_json(struct req *r, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, &je);

	if (j == NULL)
		snprintf(err, errlen, "bad JSON: %s", je.text);
	else if (!json_is_object(j)) {
		snprintf(err, errlen, "bad JSON: expected an object");
		json_decref(j);
		j = NULL;
	}
	return j;
}

static enum MHD_Result
edges_post(struct req *r)
{
	char err[HTTP_ERR_MAX];
	json_t *j = body_json(r, err, sizeof(err)), *jid, *jurl, *jcap;
	char norm[STEER_URL_MAX + 1];
	bool created = false;
	json_int_t cap;
	int rc;

	if (j == NULL)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	jid = json_object_get(j, "id");
	jurl = json_object_get(j, "url");
	jcap = json_object_get(j, "capacity");
	if (!json_is_string(jid) || !edges_valid_id(json_string_value(jid))) {
		json_decref(j);
		return http_error(r, MHD_HTTP_BAD_REQUEST, "id must be 1-64 of [A-Za-z0-9_-]");
	}
	if (!json_is_string(jurl) ||
	    edges_valid_url(json_string_value(jurl), norm, sizeof(norm)) != 0) {
		json_decref(j);
		return http_error(r, MHD_HTTP_BAD_REQUEST, "url must be http://host:port");
	}
	cap = json_is_integer(jcap) ? json_integer_value(jcap)
	      : json_is_real(jcap) ? (json_int_t)json_real_value(jcap) : 0;
	if (cap <= 0 || (uint64_t)cap > EDGE_CAPACITY_MAX) {
		json_decref(j);
		return http_error(r, MHD_HTTP_BAD_REQUEST, "capacity must be a positive integer");
	}
	rc = edges_register(r->o->edges, json_string_value(jid), norm, (uint64_t)cap, &created);
	if (rc == 0) {
		json_t *o = json_pack("{s:O,s:s,s:I,s:b}", "id", jid, "url", norm, "capacity", cap,
		                      "created", created);
		json_decref(j);
		return send_json(r, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, o);
	}
	json_decref(j);
	if (rc == -ENOSPC)
		return http_error(r, MHD_HTTP_INSUFFICIENT_STORAGE, "edge registry is full");
	return http_errno(r, rc, "register edge");
}

static double
num_field(json_t *j, const char *name, bool *bad)
{
	json_t *v = json_object_get(j, name);

	if (v == NULL || json_is_null(v))
		return 0.0;
	if (!json_is_number(v) || json_number_value(v) < 0) {
		*bad = true;
		return 0.0;
	}
	return json_number_value(v);
}

static enum MHD_Result
heartbeat(struct req *r, const char *id)
{
	char err[HTTP_ERR_MAX];
	struct edge_load l;
	bool bad = false;
	json_t *j;
	int rc;

	if (!edges_valid_id(id))
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad edge id");
	if (r->body.len == 0) {
		memset(&l, 0, sizeof(l));
	} else {
		j = body_json(r, err, sizeof(err));
		if (j == NULL)
			return http_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
		l.load = num_field(j, "load", &bad);
		l.connections = num_field(j, "connections", &bad);
		l.bytes_per_sec = num_field(j, "bytes_per_sec", &bad);
		l.hit_ratio = num_field(j, "hit_ratio", &bad);
		if (json_object_get(j, "load") == NULL)
			l.load = l.connections;     /* load = active connections */
		json_decref(j);
		if (bad)
			return http_error(r, MHD_HTTP_BAD_REQUEST,
			                  "load, connections, bytes_per_sec, hit_ratio: non-negative numbers");
	}
	rc = edges_heartbeat(r->o->edges, id, &l);
	if (rc == -ENOENT)
		return http_error(r, MHD_HTTP_NOT_FOUND, "unknown edge \"%s\"", id);
	if (rc != 0)
		return http_errno(r, rc, "heartbeat");
	return http_send_static(r, MHD_HTTP_OK, "application/json", "{\"ok\":true}");
}

static enum MHD_Result
edge_remove(struct req *r, const char *id, bool remove)
{
	int rc;

	if (!edges_valid_id(id))
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad edge id");
	rc = remove ? edges_remove(r->o->edges, id) : edges_drain(r->o->edges, id);
	if (rc == -ENOENT)
		return http_error(r, MHD_HTTP_NOT_FOUND, "unknown edge \"%s\"", id);
	if (rc != 0)
		return http_errno(r, rc, "edge");
	return http_send_static(r, MHD_HTTP_OK, "application/json", "{\"ok\":true}");
}

/* Split "a/b/c" into at most max parts (in place copy into buf). */
static size_t
split_path(const char *path, char *buf, size_t buflen, char **parts, size_t max)
{
	size_t n = 0, len = strlen(path);
	char *p;

	if (len + 1 > buflen)
		return 0;
	memcpy(buf, path, len + 1);
	p = buf;
	while (n < max) {
		char *slash = strchr(p, '/');
		parts[n++] = p;
		if (slash == NULL)
			return n;
		*slash = '\0';
		p = slash + 1;
	}
	return max + 1;                     /* too many parts */
}

#define API_PATH_MAX 512
#define API_PARTS    4

enum MHD_Result
api_handle(struct req *r, const char *path)
{
	char buf[API_PATH_MAX];
	char *parts[API_PARTS];
	size_t n = split_path(path, buf, sizeof(buf), parts, API_PARTS);
	const char *m = r->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (n == 0 || n > API_PARTS)
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
	if (strcmp(parts[0], "streams") == 0) {
		r->route = ROUTE_STREAMS;
		if (!get)
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
		if (n == 1 || (n == 2 && parts[1][0] == '\0'))
			return streams_list(r);
		if (flag_stream_name(parts[1]) != 0)
			return http_error(r, MHD_HTTP_BAD_REQUEST, "bad stream name");
		if (n == 2)
			return stream_one(r, parts[1]);
		if (n == 3 && strcmp(parts[2], "segments") == 0) {
			r->route = ROUTE_SEGMENTS;
			return segments(r, parts[1]);
		}
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
	}
	if (strcmp(parts[0], "edges") == 0) {
		r->route = ROUTE_EDGES;
		if (n == 1 || (n == 2 && parts[1][0] == '\0')) {
			if (get)
				return edges_get(r);
			if (strcmp(m, "POST") == 0)
				return edges_post(r);
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
		}
		if (n == 2 && strcmp(m, "DELETE") == 0)
			return edge_remove(r, parts[1], true);
		if (n == 3 && strcmp(parts[2], "heartbeat") == 0 &&
		    (strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0)) {
			r->route = ROUTE_HEARTBEAT;
			return heartbeat(r, parts[1]);
		}
		if (n == 3 && strcmp(parts[2], "drain") == 0 &&
		    (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0))
			return edge_remove(r, parts[1], false);
		if (n <= 3)
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	}
	return http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
}
