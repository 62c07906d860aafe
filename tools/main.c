/*
 * main.c — bin/sluice: dispatch to a subcommand.
 *
 * The table below names every subcommand of DESIGN.md "Operator CLI". Each
 * is referenced weakly, so a subcommand whose tools/cmd_<name>.c is not
 * written yet links as NULL and answers "not implemented yet" (exit 2).
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "tools/cli.h"

#pragma weak cmd_store
#pragma weak cmd_replicate
#pragma weak cmd_edges
#pragma weak cmd_export
#pragma weak cmd_flood

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const char usage_text[] =
	"usage: sluice <command> [args]\n"
	"\n"
	"commands:\n";

static void
print_usage(FILE *f, const struct command *cmds, size_t n)
{
	fputs(usage_text, f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-10s %s%s\n", cmds[i].name, cmds[i].summary,
		        cmds[i].fn == NULL ? " (not implemented yet)" : "");
	fputs("\n'sluice <command> --help' describes a command.\n", f);
}

int
main(int argc, char **argv)
{
	const struct command cmds[] = {
		{ "store", cmd_store, "segment store: init, put, query, stats, fsck, gc" },
		{ "replicate", cmd_replicate, "copy or follow a store: SRC DST (DIR or URL)" },
		{ "edges", cmd_edges, "list or drain edges of an origin" },
		{ "export", cmd_export, "write a time range of a stream to an MP4 file" },
		{ "flood", cmd_flood, "Pixelflut load generator" },
	};
	size_t n = sizeof(cmds) / sizeof(cmds[0]);

	log_init("sluice", LOG_ERROR);
	if (argc < 2) {
		print_usage(stderr, cmds, n);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout, cmds, n);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (cmds[i].fn == NULL) {
			fprintf(stderr, "sluice: %s: not implemented yet\n", cmds[i].name);
			print_usage(stderr, cmds, n);
			return CLI_EXIT_USAGE;
		}
		return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "sluice: unknown command \"%s\"\n", argv[1]);
	print_usage(stderr, cmds, n);
	return CLI_EXIT_USAGE;
}
