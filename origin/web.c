/*
 * web.c — the web player's static files, served from an fd (sendfile).
 */
#include "origin/web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *ext;
	const char *ctype;
} web_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".map", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".jpg", "image/jpeg" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

bool
web_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > WEB_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static const char *
ctype_of(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(web_types) / sizeof(web_types[0]); i++) {
		size_t e = strlen(web_types[i].ext);
		if (n >= e && strcmp(path + n - e, web_types[i].ext) == 0)
			return web_types[i].ctype;
	}
	return "application/octet-stream";
}

enum MHD_Result
web_serve(struct req *r, const char *name)
{
	char path[PATH_MAX];
	struct MHD_Response *resp;
	struct stat st;
	int fd;

	if (name == NULL)
		snprintf(path, sizeof(path), "%s/index.html", r->o->conf.web_dir);
	else if (strcmp(name, "hls.min.js") == 0)
		snprintf(path, sizeof(path), "%s/node_modules/hls.js/dist/hls.min.js",
		         r->o->conf.web_dir);
	else if (web_name_ok(name))
		snprintf(path, sizeof(path), "%s/%s", r->o->conf.web_dir, name);
	else
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such file");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such file");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such file");
	}
	resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (resp == NULL) {
		close(fd);
		return http_send(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype_of(path));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return http_send(r, MHD_HTTP_OK, resp);
}
