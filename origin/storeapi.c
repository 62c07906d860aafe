/*
 * storeapi.c — /store/v1 handlers.
 *
 * Model: stateless; each handler makes short store calls. A change-feed
 * request with nothing to send parks its connection (longpoll.h) and is
 * answered when MHD calls the handler again after the resume. Change feeds and
 * record batches are built as NDJSON / parsed line by line from the
 * request body buffer. No state of its own.
 */
#include "origin/storeapi.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "origin/longpoll.h"
#include "origin/seg.h"
#include "store/store.h"

static enum MHD_Result
changes(struct req *r)
{
	const char *s_since = http_arg(r, "since"), *s_limit = http_arg(r, "limit");
	const char *s_wait = http_arg(r, "wait");
	long long since = 0, limit = STOREAPI_LIMIT_DFL;
	int64_t wait_us = 0;
	struct store_change *ch = NULL;
	struct MHD_Response *resp;
	uint64_t last = 0;
	char line[STORE_JSON_MAX + 64], hdr[32];
	struct sbuf b;
	char *text = NULL;
	size_t n = 0, len = 0;
	int rc;

	if (s_since != NULL && flag_int(s_since, 0, INT64_MAX, &since) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad since");
	if (s_limit != NULL && flag_int(s_limit, 1, STOREAPI_LIMIT_MAX, &limit) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad limit (1..%d)", STOREAPI_LIMIT_MAX);
	if (s_wait != NULL && (duration_parse(s_wait, &wait_us) != 0 || wait_us < 0 ||
	                       wait_us > STOREAPI_WAIT_MAX_US))
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad wait (0..%lld s)",
		                  STOREAPI_WAIT_MAX_US / TIME_US_PER_SEC);
	rc = store_changes(r->o->store, (uint64_t)since, (size_t)limit, &ch, &n, &last);
	if (rc == 0 && n == 0 && wait_us > 0 && !r->resumed && !r->o->stopping) {
		/* park the connection; the long-poll waiter resumes it and MHD calls us again */
		metric_inc(r->o->changes_waits);
		free(ch);
		if (longpoll_park(r->o->longpoll, r->conn, (uint64_t)since,
		                  time_mono_us() + wait_us) == 0) {
			r->parked = true;
			return MHD_YES;
		}
		ch = NULL;
	}
	if (rc != 0) {
		free(ch);
		return http_errno(r, rc, "changes");
	}
	sbuf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (store_change_to_json(&ch[i], line, sizeof(line)) != 0)
			continue;
		sbuf_puts(&b, line);
		sbuf_puts(&b, "\n");
	}
	free(ch);
	rc = sbuf_take(&b, &text, &len);
	if (rc != 0)
		return http_errno(r, rc, "changes");
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return http_send(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
	}
	snprintf(hdr, sizeof(hdr), "%" PRIu64, last);
	MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Sluice-Last-Seq", hdr);
	return http_send(r, MHD_HTTP_OK, resp);
}

static enum MHD_Result
blob_put(struct req *r, const char *cid)
{
	char got[CID_BUF_LEN];
	bool created = false;
	int rc;

	rc = store_blob_put(r->o->store, r->body.p ? r->body.p : "", r->body.len, cid, got,
	                    &created);
	if (rc == -EBADMSG)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "body does not hash to %s", cid);
	if (rc != 0)
		return http_errno(r, rc, "store blob");
	return http_send_static(r, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, "application/json",
	                        created ? "{\"created\":true}" : "{\"created\":false}");
}

/* Apply one NDJSON line. Returns 0 or an HTTP status with err set. */
static unsigned
apply_line(struct req *r, const char *line, size_t len, bool *created, char *err, size_t errlen)
{
	struct store_change ch;
	json_t *j = json_loadb(line, len, 0, NULL);
	bool is_change = j != NULL && json_object_get(j, "op") != NULL;
	int rc;

	json_decref(j);
	memset(&ch, 0, sizeof(ch));
	if (is_change)
		rc = store_change_from_json(line, len, &ch, err, errlen);
	else
		rc = store_record_from_json(line, len, &ch.rec, err, errlen);
	if (rc != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "bad record");
		return MHD_HTTP_BAD_REQUEST;
	}
	if (is_change && ch.op == STORE_OP_DELETE) {
		rc = store_record_delete(r->o->store, &ch.rec);
		if (rc == -ENOENT)
			rc = 0;
		*created = false;
	} else {
		rc = store_record_put(r->o->store, &ch.rec, 0, created, NULL);
	}
	if (rc == -ENOENT) {
		snprintf(err, errlen, "blob %s is missing", ch.rec.cid);
		return MHD_HTTP_CONFLICT;
	}
	if (rc == -EINVAL) {
		snprintf(err, errlen, "invalid record");
		return MHD_HTTP_BAD_REQUEST;
	}
	if (rc != 0) {
		snprintf(err, errlen, "store record: %s", strerror(-rc));
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	return 0;
}

static enum MHD_Result
records_post(struct req *r)
{
	const char *p = r->body.p ? r->body.p : "", *end = p + r->body.len;
	size_t lineno = 0, accepted = 0, ncreated = 0;
	char err[HTTP_ERR_MAX], out[96];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t len = (size_t)(le - p);
		bool created = false;
		unsigned st;

		lineno++;
		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' '))
			len--;
		if (len > STOREAPI_LINE_MAX)
			return http_error(r, MHD_HTTP_BAD_REQUEST, "line %zu: longer than %d bytes",
			                  lineno, STOREAPI_LINE_MAX);
		if (len > 0) {
			err[0] = '\0';
			st = apply_line(r, p, len, &created, err, sizeof(err));
			if (st != 0)
				return http_error(r, st, "line %zu: %s (%zu accepted before it)", lineno,
				                  err, accepted);
			accepted++;
			if (created)
				ncreated++;
		}
		p = nl ? nl + 1 : end;
	}
	snprintf(out, sizeof(out), "{\"accepted\":%zu,\"created\":%zu}", accepted, ncreated);
	{
		char *text = strdup(out);
		if (text == NULL)
			return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return http_send_malloc(r, MHD_HTTP_OK, "application/json", "no-store", text,
		                        strlen(text));
	}
}

static enum MHD_Result
info(struct req *r)
{
	struct store_stats st;
	json_t *o;
	char *text;
	int rc = store_stats(r->o->store, &st);

	if (rc != 0)
		return http_errno(r, rc, "stats");
	o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "node", st.node, "last_seq",
	              (json_int_t)st.last_seq, "records", (json_int_t)st.records, "blobs",
	              (json_int_t)st.blobs, "blob_bytes", (json_int_t)st.blob_bytes, "streams",
	              (json_int_t)st.streams, "map_size", (json_int_t)st.map_size, "map_used",
	              (json_int_t)st.map_used);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return http_send_malloc(r, MHD_HTTP_OK, "application/json", "no-store", text,
	                        strlen(text));
}

enum MHD_Result
storeapi_handle(struct req *r, const char *path)
{
	const char *m = r->method;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	if (strcmp(path, "changes") == 0) {
		r->route = ROUTE_CHANGES;
		if (!get)
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
		return changes(r);
	}
	if (strncmp(path, "blobs/", 6) == 0) {
		const char *cid = path + 6;
		r->route = ROUTE_BLOBS;
		if (!cid_valid(cid))
			return http_error(r, MHD_HTTP_BAD_REQUEST, "bad cid");
		if (get)
			return seg_serve(r, cid, "application/octet-stream");
		if (strcmp(m, "PUT") == 0)
			return blob_put(r, cid);
		return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	}
	if (strcmp(path, "records") == 0) {
		r->route = ROUTE_RECORDS;
		if (strcmp(m, "POST") != 0)
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
		return records_post(r);
	}
	if (strcmp(path, "info") == 0) {
		r->route = ROUTE_INFO;
		if (!get)
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
		return info(r);
	}
	return http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
}
