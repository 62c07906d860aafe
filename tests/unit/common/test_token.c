#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/token.h"

static void
test_bearer(void **state)
{
	(void)state;
	assert_true(token_check_bearer(NULL, NULL));
	assert_true(token_check_bearer(NULL, ""));
	assert_true(token_check_bearer("Bearer abc", "abc"));
	assert_false(token_check_bearer("Bearer abd", "abc"));
	assert_false(token_check_bearer("Bearer abcd", "abc"));
	assert_false(token_check_bearer("bearer abc", "abc"));
	assert_false(token_check_bearer(NULL, "abc"));
	assert_false(token_check_bearer("Bearer ", "abc"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bearer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
