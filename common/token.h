/*
 * token.h — bearer tokens for mutating endpoints.
 *
 * Pure; no state. Comparisons are constant-time in the token length.
 */
#ifndef SLUICE_TOKEN_H
#define SLUICE_TOKEN_H

#include <stdbool.h>

/*
 * True when no token is configured (token NULL or ""), or when the
 * Authorization header value is exactly "Bearer <token>".
 */
bool token_check_bearer(const char *authorization, const char *token);

#endif
