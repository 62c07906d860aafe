/*
 * flags.h — small helpers for command-line flags and environment defaults.
 *
 * Programs parse argv with getopt_long(3); these helpers validate values.
 * All return 0 or -EINVAL, and write outputs only on success.
 */
#ifndef SLUICE_FLAGS_H
#define SLUICE_FLAGS_H

#include <stddef.h>
#include <stdint.h>

/* value if non-NULL, else getenv(env) if set and non-empty, else dflt. */
const char *flag_or_env(const char *value, const char *env, const char *dflt);

/*
 * "ADDR:PORT", "[v6]:PORT" or ":PORT" (host "0.0.0.0"). host is copied into
 * a buffer of hostlen bytes (-ENOSPC if too small). port 1..65535 (0 allowed
 * only when allow_zero).
 */
int flag_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
                  int allow_zero);

/* Decimal integer within [min, max]. */
int flag_int(const char *s, long long min, long long max, long long *out);

/* Stream / variant names per DESIGN.md: 1..64 / 1..32 of [A-Za-z0-9_-]. */
int flag_stream_name(const char *s);
int flag_variant_name(const char *s);

#endif
