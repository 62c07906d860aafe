/*
 * seg.c — blob responses.
 *
 * Model: open the blob read-only (store_blob_open), hand the fd to MHD,
 * which closes it when the response is destroyed. HEAD gets the same
 * response (MHD sends no body). No state.
 */
#include "origin/seg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/metrics.h"
#include "store/store.h"

static int
parse_u64(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end || end - s > 19)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int
seg_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p, *dash, *end;
	uint64_t a, b;

	if (hdr == NULL || strncmp(hdr, "bytes=", 6) != 0)
		return 1;
	p = hdr + 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ',') != NULL)
		return 1;
	end = p + strlen(p);
	while (end > p && end[-1] == ' ')
		end--;
	dash = memchr(p, '-', (size_t)(end - p));
	if (dash == NULL)
		return 1;
	if (dash == p) {
		/* suffix: last b bytes */
		if (parse_u64(dash + 1, end, &b) != 0)
			return 1;
		if (b == 0 || size == 0)
			return -ERANGE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return 0;
	}
	if (parse_u64(p, dash, &a) != 0)
		return 1;
	if (dash + 1 == end) {
		b = size ? size - 1 : 0;
	} else {
		if (parse_u64(dash + 1, end, &b) != 0 || b < a)
			return 1;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -ERANGE;
	*start = a;
	*len = b - a + 1;
	return 0;
}

static bool
etag_matches(const char *inm, const char *etag)
{
	if (inm == NULL)
		return false;
	if (strcmp(inm, "*") == 0)
		return true;
	return strstr(inm, etag) != NULL;
}

enum MHD_Result
seg_serve(struct req *r, const char *cid, const char *ctype)
{
	char etag[CID_BUF_LEN + 2], cr[96];
	struct MHD_Response *resp;
	uint64_t size = 0, start = 0, len = 0;
	unsigned status = MHD_HTTP_OK;
	int fd = -1, rc;

	snprintf(etag, sizeof(etag), "\"%s\"", cid);
	if (etag_matches(http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), etag)) {
		if (store_blob_stat(r->o->store, cid, NULL) != 0)
			return http_error(r, MHD_HTTP_NOT_FOUND, "blob %s: not found", cid);
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp != NULL) {
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, SEG_CACHE_CONTROL);
		}
		return http_send(r, MHD_HTTP_NOT_MODIFIED, resp);
	}
	rc = store_blob_open(r->o->store, cid, &fd, &size);
	if (rc == -ENOENT)
		return http_error(r, MHD_HTTP_NOT_FOUND, "blob %s: not found", cid);
	if (rc != 0)
		return http_errno(r, rc, "open blob");
	rc = seg_parse_range(http_header(r, MHD_HTTP_HEADER_RANGE), size, &start, &len);
	if (rc == -ERANGE) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp != NULL) {
			snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		}
		return http_send(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
	}
	if (rc == 0) {
		status = MHD_HTTP_PARTIAL_CONTENT;
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
		         start + len - 1, size);
	} else {
		start = 0;
		len = size;
	}
	resp = MHD_create_response_from_fd_at_offset64(len, fd, start);
	if (resp == NULL) {
		close(fd);
		return http_send(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, SEG_CACHE_CONTROL);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (status == MHD_HTTP_PARTIAL_CONTENT)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	if (!r->head)
		metric_add(r->o->seg_bytes, (double)len);
	return http_send(r, status, resp);
}
