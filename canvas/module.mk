# canvas/module.mk — the canvas serves HTTP (libmicrohttpd) and pushes with libcurl.
PKGS_canvas += libmicrohttpd libcurl
