/*
 * cli.h — the operator CLI's subcommands and shared helpers (bin/sluice).
 *
 * Each subcommand is `int cmd_<name>(int argc, char **argv)` where argv[0]
 * is the subcommand's own name; it returns the process exit status:
 * CLI_EXIT_OK, CLI_EXIT_FAIL (one clear line on stderr, "sluice: <ctx>:
 * ..."), or CLI_EXIT_USAGE (error plus a usage line). main.c references the
 * subcommands weakly: adding tools/cmd_<name>.c that defines cmd_<name> is
 * all it takes to wire one in.
 *
 * Not thread-safe (getopt state); subcommands run on the main thread.
 */
#ifndef SLUICE_TOOLS_CLI_H
#define SLUICE_TOOLS_CLI_H

#include <stdint.h>

struct store;

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

int cmd_store(int argc, char **argv);
int cmd_replicate(int argc, char **argv);
int cmd_edges(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_flood(int argc, char **argv);

/* "sluice: <ctx>: <message>\n" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, then "usage: <usage>\n"; returns CLI_EXIT_USAGE. */
int cli_usage(const char *ctx, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Open an existing store (never creates one); on failure prints one line
 * naming the directory and returns CLI_EXIT_FAIL, else 0.
 */
int cli_store_open(const char *ctx, const char *dir, unsigned flags, struct store **out);
/* Parse --flag values; on error print error + usage, return CLI_EXIT_USAGE. */
int cli_time(const char *ctx, const char *usage, const char *flag, const char *s,
             int64_t *out_us);
int cli_duration(const char *ctx, const char *usage, const char *flag, const char *s,
                 int64_t *out_us);
int cli_uint(const char *ctx, const char *usage, const char *flag, const char *s,
             uint64_t max, uint64_t *out);
/* Reset getopt before a subcommand parses its own argv. */
void cli_getopt_reset(void);

/* Hidden store subcommands (tests and benchmarks). */
int cmd_store_stress(int argc, char **argv);
int cmd_store_bench(int argc, char **argv);

#endif
