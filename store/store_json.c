/*
 * store_json.c — records and change lines as JSON (DESIGN.md field names).
 *
 * Writing is hand-rolled into the caller's buffer (no allocation; the change
 * feed writes many lines); reading uses jansson. Field order on output is
 * the DESIGN.md order. In change lines the change-log seq is "seq" and the
 * record's media sequence is "media_seq".
 */
#include "store/store_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

struct jbuf {
	char *p;
	size_t len, used;
	bool overflow;
};

static void
jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
jb_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->used, b->len - b->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->len - b->used) {
		b->overflow = true;
		return;
	}
	b->used += (size_t)n;
}

static void
jb_char(struct jbuf *b, char c)
{
	if (b->overflow)
		return;
	if (b->used + 1 >= b->len) {
		b->overflow = true;
		return;
	}
	b->p[b->used++] = c;
	b->p[b->used] = '\0';
}

/* "name":"escaped value" (with a leading comma unless first). */
static void
jb_str(struct jbuf *b, const char *name, const char *val, bool first)
{
	jb_printf(b, "%s\"%s\":\"", first ? "" : ",", name);
	for (const unsigned char *s = (const unsigned char *)val; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			jb_char(b, '\\');
			jb_char(b, (char)*s);
		} else if (*s < 0x20 || *s == 0x7f) {
			jb_printf(b, "\\u%04x", *s);
		} else {
			jb_char(b, (char)*s);
		}
	}
	jb_char(b, '"');
}

static void
jb_record_fields(struct jbuf *b, const struct store_record *r, const char *seq_name,
                 bool first)
{
	jb_str(b, "stream", r->stream, first);
	jb_str(b, "variant", r->variant, false);
	jb_printf(b, ",\"start_us\":%" PRId64 ",\"duration_us\":%" PRId64 ",\"%s\":%" PRIu64,
	          r->start_us, r->duration_us, seq_name, r->seq);
	jb_str(b, "session", r->session, false);
	jb_printf(b, ",\"discontinuity\":%s", r->discontinuity ? "true" : "false");
	jb_str(b, "cid", r->cid, false);
	jb_printf(b, ",\"size\":%" PRIu64, r->size);
	jb_str(b, "tenant", r->tenant, false);
	jb_str(b, "device", r->device, false);
	jb_str(b, "codecs", r->codecs, false);
	jb_printf(b, ",\"width\":%" PRIu32 ",\"height\":%" PRIu32 ",\"bandwidth\":%" PRIu64,
	          r->width, r->height, r->bandwidth);
	jb_str(b, "node", r->node, false);
}

int
store_record_to_json(const struct store_record *r, char *buf, size_t len)
{
	struct jbuf b = { .p = buf, .len = len };

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	jb_char(&b, '{');
	jb_record_fields(&b, r, "seq", true);
	jb_char(&b, '}');
	return b.overflow ? -ENOSPC : 0;
}

int
store_change_to_json(const struct store_change *c, char *buf, size_t len)
{
	struct jbuf b = { .p = buf, .len = len };

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	jb_printf(&b, "{\"seq\":%" PRIu64 ",\"op\":\"%s\",", c->seq,
	          c->op == STORE_OP_DELETE ? "delete" : "put");
	if (c->op == STORE_OP_DELETE) {
		jb_str(&b, "stream", c->rec.stream, true);
		jb_str(&b, "variant", c->rec.variant, false);
		jb_printf(&b, ",\"start_us\":%" PRId64, c->rec.start_us);
		jb_str(&b, "cid", c->rec.cid, false);
	} else {
		jb_record_fields(&b, &c->rec, "media_seq", true);
	}
	jb_char(&b, '}');
	return b.overflow ? -ENOSPC : 0;
}

/* ---- parsing ---- */

static int
get_str(json_t *o, const char *name, char *out, size_t size, bool required, char *err,
        size_t errlen)
{
	json_t *v = json_object_get(o, name);
	size_t n;

	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "missing \"%s\"", name);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" is not a string", name);
		return -EINVAL;
	}
	n = json_string_length(v);
	if (n >= size || memchr(json_string_value(v), '\0', n) != NULL) {
		snprintf(err, errlen, "\"%s\" too long", name);
		return -EINVAL;
	}
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return 0;
}

static int
get_int(json_t *o, const char *name, int64_t min, int64_t max, int64_t *out, bool required,
        char *err, size_t errlen)
{
	json_t *v = json_object_get(o, name);
	json_int_t x;

	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "missing \"%s\"", name);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "\"%s\" is not an integer", name);
		return -EINVAL;
	}
	x = json_integer_value(v);
	if (x < min || x > max) {
		snprintf(err, errlen, "\"%s\" out of range", name);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int
parse_obj(json_t *o, struct store_record *r, struct store_change *ch, char *err,
          size_t errlen)
{
	int64_t x = 0;
	json_t *d;
	bool del = false;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	if (ch != NULL) {
		char op[16] = "";

		if ((rc = get_int(o, "seq", 0, INT64_MAX, &x, true, err, errlen)) != 0)
			return rc;
		ch->seq = (uint64_t)x;
		if ((rc = get_str(o, "op", op, sizeof(op), true, err, errlen)) != 0)
			return rc;
		if (strcmp(op, "put") == 0) {
			ch->op = STORE_OP_PUT;
		} else if (strcmp(op, "delete") == 0) {
			ch->op = STORE_OP_DELETE;
			del = true;
		} else {
			snprintf(err, errlen, "unknown op \"%s\"", op);
			return -EINVAL;
		}
	}
	if ((rc = get_str(o, "stream", r->stream, sizeof(r->stream), true, err, errlen)) != 0 ||
	    (rc = get_str(o, "variant", r->variant, sizeof(r->variant), false, err, errlen)) != 0 ||
	    (rc = get_int(o, "start_us", INT64_MIN, INT64_MAX, &r->start_us, true, err,
	                  errlen)) != 0 ||
	    (rc = get_str(o, "cid", r->cid, sizeof(r->cid), true, err, errlen)) != 0)
		return rc;
	if (r->variant[0] == '\0')
		snprintf(r->variant, sizeof(r->variant), "src");
	if (del) {
		if (!store_name_valid(r->stream, STORE_STREAM_MAX) ||
		    !store_name_valid(r->variant, STORE_VARIANT_MAX) || !cid_valid(r->cid)) {
			snprintf(err, errlen, "bad key fields in delete");
			return -EINVAL;
		}
		return 0;
	}
	if ((rc = get_int(o, "duration_us", 1, INT64_MAX, &r->duration_us, true, err,
	                  errlen)) != 0)
		return rc;
	x = 0;
	if ((rc = get_int(o, ch != NULL ? "media_seq" : "seq", 0, INT64_MAX, &x, false, err,
	                  errlen)) != 0)
		return rc;
	r->seq = (uint64_t)x;
	x = 0;
	if ((rc = get_int(o, "size", 0, INT64_MAX, &x, false, err, errlen)) != 0)
		return rc;
	r->size = (uint64_t)x;
	x = 0;
	if ((rc = get_int(o, "bandwidth", 0, INT64_MAX, &x, false, err, errlen)) != 0)
		return rc;
	r->bandwidth = (uint64_t)x;
	x = 0;
	if ((rc = get_int(o, "width", 0, UINT32_MAX, &x, false, err, errlen)) != 0)
		return rc;
	r->width = (uint32_t)x;
	x = 0;
	if ((rc = get_int(o, "height", 0, UINT32_MAX, &x, false, err, errlen)) != 0)
		return rc;
	r->height = (uint32_t)x;
	d = json_object_get(o, "discontinuity");
	if (d != NULL && !json_is_null(d)) {
		if (!json_is_boolean(d)) {
			snprintf(err, errlen, "\"discontinuity\" is not a boolean");
			return -EINVAL;
		}
		r->discontinuity = json_is_true(d);
	}
	if ((rc = get_str(o, "session", r->session, sizeof(r->session), false, err,
	                  errlen)) != 0 ||
	    (rc = get_str(o, "tenant", r->tenant, sizeof(r->tenant), false, err, errlen)) != 0 ||
	    (rc = get_str(o, "device", r->device, sizeof(r->device), false, err, errlen)) != 0 ||
	    (rc = get_str(o, "codecs", r->codecs, sizeof(r->codecs), false, err, errlen)) != 0 ||
	    (rc = get_str(o, "node", r->node, sizeof(r->node), false, err, errlen)) != 0)
		return rc;
	return store_record_validate(r, err, errlen);
}

static int
parse_json(const char *json, size_t len, struct store_record *out, struct store_change *ch,
           char *err, size_t errlen)
{
	char ebuf[160];
	json_error_t je;
	json_t *o;
	int rc;

	if (err == NULL || errlen == 0) {
		err = ebuf;
		errlen = sizeof(ebuf);
	}
	err[0] = '\0';
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		snprintf(err, errlen, "bad JSON: %s", je.text);
		return -EINVAL;
	}
	rc = parse_obj(o, out, ch, err, errlen);
	json_decref(o);
	return rc;
}

int
store_record_from_json(const char *json, size_t len, struct store_record *out, char *err,
                       size_t errlen)
{
	struct store_record r;
	int rc = parse_json(json, len, &r, NULL, err, errlen);

	if (rc == 0)
		*out = r;
	return rc;
}

int
store_change_from_json(const char *json, size_t len, struct store_change *ch, char *err,
                       size_t errlen)
{
	struct store_change c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = parse_json(json, len, &c.rec, &c, err, errlen);
	if (rc == 0)
		*ch = c;
	return rc;
}
