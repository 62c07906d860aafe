/*
 * log.h — one line per event on stderr.
 *
 * Format: "2026-11-21T10:00:00.123Z LEVEL prog[pid]: message".
 * The program name and minimum level are set once at start by log_init();
 * the level can also come from SLUICE_LOG=debug|info|warn|error. This is the
 * one piece of process-wide state in libcommon (a logger is per process by
 * nature); it is written before threads start and only read afterwards.
 * Thread-safe: each line is written with a single write(2).
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Set program name (copied, up to 31 chars) and level; reads SLUICE_LOG. */
void log_init(const char *prog, enum log_level level);
/* Parse "debug|info|warn|error"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out);
enum log_level log_get_level(void);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
