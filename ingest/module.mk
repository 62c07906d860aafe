PKGS_ingest += libmicrohttpd
