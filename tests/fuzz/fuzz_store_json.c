/*
 * fuzz_store_json.c — libFuzzer target for the record / change-line JSON
 * parsers (store_record_from_json, store_change_from_json).
 *
 * Invariant: whatever parses must serialise and parse back to the same
 * record (the parsers validate, so every accepted record is valid).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_record r, r2;
	struct store_change c, c2;
	char err[256];
	char buf[STORE_JSON_MAX];

	if (store_record_from_json((const char *)data, size, &r, err, sizeof(err)) == 0) {
		assert(store_record_validate(&r, err, sizeof(err)) == 0);
		assert(store_record_to_json(&r, buf, sizeof(buf)) == 0);
		assert(store_record_from_json(buf, strlen(buf), &r2, err, sizeof(err)) == 0);
		assert(strcmp(r.cid, r2.cid) == 0 && r.start_us == r2.start_us &&
		       r.duration_us == r2.duration_us && r.seq == r2.seq &&
		       strcmp(r.stream, r2.stream) == 0 && strcmp(r.session, r2.session) == 0);
	}
	if (store_change_from_json((const char *)data, size, &c, err, sizeof(err)) == 0) {
		assert(store_change_to_json(&c, buf, sizeof(buf)) == 0);
		assert(store_change_from_json(buf, strlen(buf), &c2, err, sizeof(err)) == 0);
		assert(c.seq == c2.seq && c.op == c2.op && strcmp(c.rec.cid, c2.rec.cid) == 0);
	}
	return 0;
}
