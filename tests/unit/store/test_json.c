/*
 * test_json.c — records and change lines to and from JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

#define CID "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void
full_record(struct store_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->stream, sizeof(r->stream), "cam-1");
	snprintf(r->variant, sizeof(r->variant), "720p");
	r->start_us = 1795000000250000LL;
	r->duration_us = 2002000;
	r->seq = 17;
	snprintf(r->session, sizeof(r->session), "s\"1\\x");
	r->discontinuity = true;
	snprintf(r->cid, sizeof(r->cid), "%s", CID);
	r->size = 188 * 1000;
	snprintf(r->tenant, sizeof(r->tenant), "acme");
	snprintf(r->device, sizeof(r->device), "d\xc3\xa9ur");
	snprintf(r->codecs, sizeof(r->codecs), "avc1.64001f,mp4a.40.2");
	r->width = 1280;
	r->height = 720;
	r->bandwidth = 2500000;
	snprintf(r->node, sizeof(r->node), "0123456789abcdef0123456789abcdef");
}

static void
test_record_json_exact(void **state)
{
	struct store_record r, back;
	char buf[STORE_JSON_MAX], err[128];

	(void)state;
	full_record(&r);
	assert_int_equal(store_record_to_json(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf,
		"{\"stream\":\"cam-1\",\"variant\":\"720p\",\"start_us\":1795000000250000,"
		"\"duration_us\":2002000,\"seq\":17,\"session\":\"s\\\"1\\\\x\","
		"\"discontinuity\":true,\"cid\":\"" CID "\",\"size\":188000,\"tenant\":\"acme\","
		"\"device\":\"d\xc3\xa9ur\",\"codecs\":\"avc1.64001f,mp4a.40.2\",\"width\":1280,"
		"\"height\":720,\"bandwidth\":2500000,\"node\":\"0123456789abcdef0123456789abcdef\"}");
	assert_int_equal(store_record_from_json(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	/* Too small a buffer. */
	assert_int_equal(store_record_to_json(&r, buf, 40), -ENOSPC);
}

static void
test_change_json(void **state)
{
	struct store_change c, back;
	char buf[STORE_JSON_MAX], err[128];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.seq = 99;
	c.op = STORE_OP_PUT;
	full_record(&c.rec);
	assert_int_equal(store_change_to_json(&c, buf, sizeof(buf)), 0);
	assert_int_equal(strncmp(buf, "{\"seq\":99,\"op\":\"put\",\"stream\":\"cam-1\"", 37), 0);
	assert_non_null(strstr(buf, "\"media_seq\":17,"));
	assert_int_equal(store_change_from_json(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_int_equal(back.seq, 99);
	assert_int_equal(back.op, STORE_OP_PUT);
	assert_memory_equal(&c.rec, &back.rec, sizeof(c.rec));
	/* Delete lines carry the key and the cid. */
	c.seq = 100;
	c.op = STORE_OP_DELETE;
	assert_int_equal(store_change_to_json(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"seq\":100,\"op\":\"delete\",\"stream\":\"cam-1\","
	                    "\"variant\":\"720p\",\"start_us\":1795000000250000,\"cid\":\"" CID "\"}");
	assert_int_equal(store_change_from_json(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_int_equal(back.op, STORE_OP_DELETE);
	assert_int_equal(back.seq, 100);
	assert_string_equal(back.rec.stream, "cam-1");
	assert_string_equal(back.rec.variant, "720p");
	assert_int_equal(back.rec.start_us, 1795000000250000LL);
	assert_string_equal(back.rec.cid, CID);
}

static void
test_json_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"stream\":\"a\",\"start_us\":0,\"duration_us\":1}",                /* no cid */
		"{\"stream\":\"a b\",\"start_us\":0,\"duration_us\":1,\"cid\":\"" CID "\"}",
		"{\"stream\":\"a\",\"start_us\":0,\"duration_us\":0,\"cid\":\"" CID "\"}",
		"{\"stream\":\"a\",\"start_us\":\"0\",\"duration_us\":1,\"cid\":\"" CID "\"}",
		"{\"stream\":\"a\",\"start_us\":0,\"duration_us\":1,\"cid\":\"ABC\"}",
		"{\"stream\":\"a\",\"stream\":\"b\",\"start_us\":0,\"duration_us\":1,\"cid\":\"" CID "\"}",
		"{\"stream\":\"a\",\"start_us\":0,\"duration_us\":1,\"cid\":\"" CID "\",\"width\":-1}",
		"{\"stream\":\"a\",\"start_us\":0,\"duration_us\":1,\"cid\":\"" CID "\",\"discontinuity\":1}",
		"{\"stream\":\"a\",\"start_us\":0,\"duration_us\":1,\"cid\":\"" CID "\",\"tenant\":\"a\\nb\"}",
	};
	struct store_record r;
	struct store_change c;
	char err[128];
	const char *ok = "{\"stream\":\"a\",\"start_us\":5,\"duration_us\":1,\"cid\":\"" CID
	                 "\",\"extra\":[1,2]}";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(store_record_from_json(bad[i], strlen(bad[i]), &r, err, sizeof(err)),
		                 -EINVAL);
		assert_true(err[0] != '\0');
	}
	/* Minimal record: defaults, variant "src", extra fields ignored. */
	assert_int_equal(store_record_from_json(ok, strlen(ok), &r, NULL, 0), 0);
	assert_string_equal(r.variant, "src");
	assert_int_equal(r.start_us, 5);
	/* A change line needs seq and a known op. */
	assert_int_equal(store_change_from_json(ok, strlen(ok), &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(store_change_from_json("{\"seq\":1,\"op\":\"zap\"}", 21, &c, err,
	                                        sizeof(err)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_json_exact),
		cmocka_unit_test(test_change_json),
		cmocka_unit_test(test_json_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
