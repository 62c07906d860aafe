/*
 * test_log.c — log line format, level filtering, SLUICE_LOG.
 *
 * stderr is redirected to a pipe for each test and read back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define CAPTURE_MAX 16384

struct capture {
	int saved;
	int rd;
};

static void
capture_start(struct capture *c)
{
	int p[2];

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	close(p[1]);
	c->rd = p[0];
}

/* Restores stderr and returns what was logged (static buffer). */
static const char *
capture_end(struct capture *c)
{
	static char buf[CAPTURE_MAX];
	ssize_t n;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	n = read(c->rd, buf, sizeof(buf) - 1);
	close(c->rd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
check_prefix(const char *line, const char *level)
{
	char want[64];

	/* "2026-11-21T10:00:00.123Z " */
	assert_true(strlen(line) > 25);
	assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
	            line[16] == ':' && line[19] == '.' && line[23] == 'Z' && line[24] == ' ');
	snprintf(want, sizeof(want), "%s unit-log[%ld]: ", level, (long)getpid());
	assert_memory_equal(line + 25, want, strlen(want));
}

static void
test_levels(void **state)
{
	struct capture c;
	const char *out, *nl;
	(void)state;

	unsetenv("SLUICE_LOG");
	log_init("/usr/bin/unit-log", LOG_INFO);
	assert_int_equal(log_get_level(), LOG_INFO);
	capture_start(&c);
	log_debug("hidden %d", 1);
	log_info("hello %s", "world");
	log_error("bad \"%s\": %s", "x", "oops\n");
	out = capture_end(&c);
	check_prefix(out, "info");
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_memory_equal(nl - 11, "hello world", 11);
	check_prefix(nl + 1, "error");
	assert_non_null(strstr(nl + 1, "bad \"x\": oops\n"));
	assert_null(strchr(strchr(nl + 1, '\n') + 1, '\n')); /* exactly two lines */
	assert_null(strstr(out, "hidden"));
}

static void
test_env(void **state)
{
	struct capture c;
	const char *out;
	(void)state;

	setenv("SLUICE_LOG", "debug", 1);
	log_init("unit-log", LOG_ERROR);
	assert_int_equal(log_get_level(), LOG_DEBUG);
	capture_start(&c);
	log_debug("shown");
	out = capture_end(&c);
	check_prefix(out, "debug");
	setenv("SLUICE_LOG", "bogus", 1);
	log_init("unit-log", LOG_WARN);
	assert_int_equal(log_get_level(), LOG_WARN);
	setenv("SLUICE_LOG", "error", 1);
	log_init("unit-log", LOG_DEBUG);
	assert_int_equal(log_get_level(), LOG_ERROR);
	capture_start(&c);
	log_warn("hidden");
	out = capture_end(&c);
	assert_string_equal(out, "");
	unsetenv("SLUICE_LOG");
}

static void
test_long_line(void **state)
{
	struct capture c;
	const char *out;
	char *big;
	size_t len;
	(void)state;

	unsetenv("SLUICE_LOG");
	log_init("unit-log", LOG_INFO);
	big = malloc(10000);
	assert_non_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	capture_start(&c);
	log_info("%s", big);
	out = capture_end(&c);
	free(big);
	len = strlen(out);
	assert_true(len < 4096 + 1);
	assert_memory_equal(out + len - 4, "...\n", 4);
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
}

static void
test_errno_kept(void **state)
{
	struct capture c;
	const char *out;
	(void)state;

	capture_start(&c);
	errno = ENOENT;
	log_error("open: %m");
	assert_int_equal(errno, ENOENT);
	out = capture_end(&c);
	assert_non_null(strstr(out, "open: No such file or directory\n"));
}

static void
test_level_parse(void **state)
{
	enum log_level l = LOG_INFO;
	(void)state;

	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_ERROR);
	assert_int_equal(log_level_parse("info", &l), 0);
	assert_int_equal(l, LOG_INFO);
	assert_int_equal(log_level_parse("INFO", &l), -EINVAL);
	assert_int_equal(log_level_parse("", &l), -EINVAL);
	assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
	assert_int_equal(l, LOG_INFO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_levels),      cmocka_unit_test(test_env),
	        cmocka_unit_test(test_long_line),   cmocka_unit_test(test_errno_kept),
	        cmocka_unit_test(test_level_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
