/*
 * token.c — constant-time bearer token check.
 */
#include "common/token.h"

#include <string.h>

bool
token_check_bearer(const char *authorization, const char *token)
{
	static const char prefix[] = "Bearer ";
	size_t plen = sizeof(prefix) - 1;
	size_t tlen, alen;
	unsigned char diff = 0;

	if (token == NULL || token[0] == '\0')
		return true;
	if (authorization == NULL || strncmp(authorization, prefix, plen) != 0)
		return false;
	authorization += plen;
	tlen = strlen(token);
	alen = strlen(authorization);
	if (alen != tlen)
		return false;
	for (size_t i = 0; i < tlen; i++)
		diff |= (unsigned char)(authorization[i] ^ token[i]);
	return diff == 0;
}
