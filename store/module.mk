# store/module.mk — libstore also holds the replication client (libcurl).
PKGS_store += libcurl
