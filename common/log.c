/*
 * log.c — one line per event on stderr.
 *
 * Model: the logger configuration (program name, minimum level) is the one
 * piece of file-scope mutable state in libcommon, by design: a logger belongs
 * to the process. log_init() writes it once at start-up, before any thread is
 * created; afterwards it is only read, so no lock is needed. Each line is
 * formatted into a stack buffer of LOG_LINE_MAX bytes (longer messages are
 * truncated and marked with "...") and written with a single write(2), so
 * lines from different threads never interleave.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/timeutil.h"

#define LOG_LINE_MAX 4096 /* bytes per line, newline included */
#define LOG_PROG_MAX 32   /* program name buffer, NUL included */
#define LOG_ENV "SLUICE_LOG"

/* The logger configuration: written by log_init() only, read by everyone. */
static struct {
	char prog[LOG_PROG_MAX];
	enum log_level level;
} log_conf = {"sluice", LOG_INFO};

static const char *const log_names[] = {"debug", "info", "warn", "error"};

int
log_level_parse(const char *s, enum log_level *out)
{
	if (s == NULL)
		return -EINVAL;
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
log_init(const char *prog, enum log_level level)
{
	const char *env = getenv(LOG_ENV);
	enum log_level envlvl;
	size_t n = 0;

	if (prog != NULL) {
		const char *slash = strrchr(prog, '/');
		if (slash != NULL && slash[1] != '\0')
			prog = slash + 1;
		n = strlen(prog);
		if (n > LOG_PROG_MAX - 1)
			n = LOG_PROG_MAX - 1;
		memcpy(log_conf.prog, prog, n);
		log_conf.prog[n] = '\0';
	}
	if (level < LOG_DEBUG || level > LOG_ERROR)
		level = LOG_INFO;
	log_conf.level = level;
	if (env != NULL && env[0] != '\0' && log_level_parse(env, &envlvl) == 0)
		log_conf.level = envlvl;
}

enum log_level
log_get_level(void)
{
	return log_conf.level;
}

static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char ts[TIME_RFC3339_LEN];
	int saved_errno = errno;
	size_t len;
	va_list ap;
	int n;

	if (lvl < log_conf.level)
		return;
	if (lvl < LOG_DEBUG || lvl > LOG_ERROR)
		lvl = LOG_ERROR;
	if (time_format_rfc3339(time_now_us(), ts, sizeof(ts)) != 0)
		memcpy(ts, "?", 2);
	n = snprintf(line, sizeof(line), "%s %s %s[%ld]: ", ts, log_names[lvl], log_conf.prog,
	             (long)getpid());
	if (n < 0)
		goto out;
	len = (size_t)n;
	if (len < sizeof(line)) {
		errno = saved_errno; /* let callers use %m */
		va_start(ap, fmt);
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		va_end(ap);
		if (n > 0)
			len += (size_t)n;
	}
	if (len > sizeof(line) - 2) {
		/* Truncated: keep room for "...\n". */
		len = sizeof(line) - 5;
		memcpy(line + len, "...", 3);
		len += 3;
	}
	while (len > 0 && line[len - 1] == '\n')
		len--;
	line[len++] = '\n';
	write_all(STDERR_FILENO, line, len);
out:
	errno = saved_errno;
}
