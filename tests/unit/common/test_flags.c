/*
 * test_flags.c — flag value helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"

static void
test_or_env(void **state)
{
	(void)state;
	unsetenv("SLUICE_TEST_FLAG");
	assert_string_equal(flag_or_env("v", "SLUICE_TEST_FLAG", "d"), "v");
	assert_string_equal(flag_or_env(NULL, "SLUICE_TEST_FLAG", "d"), "d");
	assert_null(flag_or_env(NULL, "SLUICE_TEST_FLAG", NULL));
	setenv("SLUICE_TEST_FLAG", "", 1);
	assert_string_equal(flag_or_env(NULL, "SLUICE_TEST_FLAG", "d"), "d");
	setenv("SLUICE_TEST_FLAG", "e", 1);
	assert_string_equal(flag_or_env(NULL, "SLUICE_TEST_FLAG", "d"), "e");
	assert_string_equal(flag_or_env("", "SLUICE_TEST_FLAG", "d"), "");
	assert_string_equal(flag_or_env(NULL, NULL, "d"), "d");
	unsetenv("SLUICE_TEST_FLAG");
}

static void
test_hostport(void **state)
{
	static const struct {
		const char *in;
		int allow_zero;
		int rc;
		const char *host;
		uint16_t port;
	} tc[] = {
	        {"127.0.0.1:8080", 0, 0, "127.0.0.1", 8080},
	        {":8080", 0, 0, "0.0.0.0", 8080},
	        {"localhost:1", 0, 0, "localhost", 1},
	        {"[::1]:443", 0, 0, "::1", 443},
	        {"[fe80::1%eth0]:443", 0, 0, "fe80::1%eth0", 443},
	        {"0.0.0.0:65535", 0, 0, "0.0.0.0", 65535},
	        {"127.0.0.1:0", 1, 0, "127.0.0.1", 0},
	        {":0", 1, 0, "0.0.0.0", 0},
	        {"127.0.0.1:0", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1:65536", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1:99999", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1:000080", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1:", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1:80x", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1:-1", 0, -EINVAL, NULL, 0},
	        {"127.0.0.1: 80", 0, -EINVAL, NULL, 0},
	        {"::1:80", 0, -EINVAL, NULL, 0},
	        {"[::1]80", 0, -EINVAL, NULL, 0},
	        {"[::1:80", 0, -EINVAL, NULL, 0},
	        {"[]:80", 0, -EINVAL, NULL, 0},
	        {"[fe80::1%]:80", 0, -EINVAL, NULL, 0},
	        {"[%eth0]:80", 0, -EINVAL, NULL, 0},
	        {"[x::1]:80", 0, -EINVAL, NULL, 0},
	        {"a b:80", 0, -EINVAL, NULL, 0},
	        {"", 0, -EINVAL, NULL, 0},
	        {":", 0, -EINVAL, NULL, 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		char host[64] = "unchanged";
		uint16_t port = 7;
		int rc = flag_hostport(tc[i].in, host, sizeof(host), &port, tc[i].allow_zero);
		if (rc != tc[i].rc) {
			print_error("flag_hostport(\"%s\") = %d, want %d\n", tc[i].in, rc,
			            tc[i].rc);
			fail();
		}
		if (rc == 0) {
			assert_string_equal(host, tc[i].host);
			assert_int_equal(port, tc[i].port);
		} else {
			assert_string_equal(host, "unchanged");
			assert_int_equal(port, 7);
		}
	}
	{
		char small[10] = "unchanged";
		uint16_t port = 7;
		assert_int_equal(flag_hostport("127.0.0.1:80", small, 9, &port, 0), -ENOSPC);
		assert_int_equal(port, 7);
		assert_int_equal(flag_hostport("127.0.0.1:80", small, 10, &port, 0), 0);
		assert_string_equal(small, "127.0.0.1");
		assert_int_equal(flag_hostport(NULL, small, 10, &port, 0), -EINVAL);
	}
}

static void
test_int(void **state)
{
	long long v = 99;
	(void)state;

	assert_int_equal(flag_int("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(flag_int("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(flag_int("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(flag_int("+7", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(flag_int("9223372036854775807", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(flag_int("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MIN);
	v = 99;
	assert_int_equal(flag_int("9223372036854775808", LLONG_MIN, LLONG_MAX, &v), -EINVAL);
	assert_int_equal(flag_int("-9223372036854775809", LLONG_MIN, LLONG_MAX, &v), -EINVAL);
	assert_int_equal(flag_int("11", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("-1", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("-", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("1x", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("0x1", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("1.0", 0, 10, &v), -EINVAL);
	assert_int_equal(flag_int("--1", -10, 10, &v), -EINVAL);
	assert_int_equal(flag_int(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(v, 99);
}

static void
test_names(void **state)
{
	char buf[80];
	(void)state;

	assert_int_equal(flag_stream_name("cam1"), 0);
	assert_int_equal(flag_stream_name("A-z_0-9"), 0);
	assert_int_equal(flag_stream_name(""), -EINVAL);
	assert_int_equal(flag_stream_name(NULL), -EINVAL);
	assert_int_equal(flag_stream_name("a b"), -EINVAL);
	assert_int_equal(flag_stream_name("a/b"), -EINVAL);
	assert_int_equal(flag_stream_name("a.b"), -EINVAL);
	assert_int_equal(flag_stream_name("../x"), -EINVAL);
	assert_int_equal(flag_stream_name("caf\xc3\xa9"), -EINVAL);
	memset(buf, 'a', sizeof(buf));
	buf[64] = '\0';
	assert_int_equal(flag_stream_name(buf), 0);
	buf[64] = 'a';
	buf[65] = '\0';
	assert_int_equal(flag_stream_name(buf), -EINVAL);

	assert_int_equal(flag_variant_name("src"), 0);
	assert_int_equal(flag_variant_name("720p"), 0);
	assert_int_equal(flag_variant_name(""), -EINVAL);
	assert_int_equal(flag_variant_name("a:b"), -EINVAL);
	buf[32] = '\0';
	assert_int_equal(flag_variant_name(buf), 0);
	buf[32] = 'a';
	buf[33] = '\0';
	assert_int_equal(flag_variant_name(buf), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_or_env),
	        cmocka_unit_test(test_hostport),
	        cmocka_unit_test(test_int),
	        cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
