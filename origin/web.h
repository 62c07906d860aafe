/*
 * web.h — static files of the web player from --web-dir:
 *   GET /              <web-dir>/index.html
 *   GET /web/<name>    <web-dir>/<name>, name of [A-Za-z0-9._-] not
 *                      starting with '.' (no traversal)
 *   GET /web/hls.min.js  <web-dir>/node_modules/hls.js/dist/hls.min.js
 * Content-Type by extension; Cache-Control: no-cache. Stateless.
 */
#ifndef SLUICE_ORIGIN_WEB_H
#define SLUICE_ORIGIN_WEB_H

#include <stdbool.h>

#include "origin/http.h"

#define WEB_NAME_MAX 128

bool web_name_ok(const char *name);
/* name: NULL for index.html, else the part after "/web/". */
enum MHD_Result web_serve(struct req *r, const char *name);

#endif
