# sluice — one Makefile; per-directory fragments (*/module.mk) add libraries.
#
#   make                 build everything into bin/
#   make SANITIZE=1      ASan+UBSan build into build/san/bin/
#   make deps            install Debian and npm packages (idempotent)
#   make test            deps, build, unit + fuzz + integration tests
#   make run             the whole system on one box (see README.md)
#   make bench           benchmarks beside their anchors
#
# Layout convention (no edits here needed to add a file):
#   common/*.c           -> libcommon.a
#   store/*.c            -> libstore.a
#   ingest/*.c  (not main.c) -> libingest.a,  ingest/main.c -> sluice-ingest
#   origin/*.c  (not main.c) -> liborigin.a,  origin/main.c -> sluice-origin
#   edge/*.c    (not main.c) -> libedge.a,    edge/main.c   -> sluice-edge
#   canvas/*.c  (not main.c) -> libcanvas.a,  canvas/main.c -> sluice-canvas
#   tools/*.c                -> sluice
#   tests/unit/<dir>/test_*.c -> one cmocka binary each, linked with lib<dir>.a
#   tests/fuzz/fuzz_<dir>_*.c -> libFuzzer binary built with clang from <dir>/*.c

CC      ?= cc
PKG     ?= pkg-config
PYTHON  ?= /usr/bin/python3
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wformat=2
CSTD    := -std=c17 -D_GNU_SOURCE
OPT     ?= -O2 -g
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

ifeq ($(SANITIZE),1)
O       := build/san
BIN     := build/san/bin
SANFL   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
O       := build/rel
BIN     := bin
SANFL   :=
endif

# Libraries per directory; fragments may append.
PKGS_common := libcrypto
PKGS_store  := lmdb libcrypto jansson
PKGS_ingest := libavformat libavcodec libavutil libswscale libavfilter libavdevice
PKGS_origin := libmicrohttpd jansson libcurl
PKGS_edge   := liburing libcurl jansson
PKGS_canvas := liburing
PKGS_tools  := jansson libcurl
LIBS_extra  := -lpthread -lm

-include $(wildcard */module.mk)

# Dependency chains: what each directory links (left = highest level).
CHAIN_common := common
CHAIN_store  := store common
CHAIN_ingest := ingest store common
CHAIN_canvas := canvas ingest store common
CHAIN_origin := origin store common
CHAIN_edge   := edge store common
CHAIN_tools  := tools ingest store common

pkgs_of  = $(sort $(foreach d,$(CHAIN_$(1)),$(PKGS_$(d))))
cflags_of = $(if $(call pkgs_of,$(1)),$(shell $(PKG) --cflags $(call pkgs_of,$(1)) 2>/dev/null))
ldlibs_of = $(if $(call pkgs_of,$(1)),$(shell $(PKG) --libs $(call pkgs_of,$(1)) 2>/dev/null)) $(LIBS_extra)
libs_of  = $(foreach d,$(CHAIN_$(1)),$(if $(filter tools,$(d)),,$(O)/lib$(d).a))

ALL_PKGS := $(sort $(foreach d,common store ingest origin edge canvas tools,$(PKGS_$(d))))
CFLAGS  := $(CSTD) $(WARN) $(OPT) $(SANFL) -I. -include common/banned.h \
           $(shell $(PKG) --cflags $(ALL_PKGS) 2>/dev/null) $(CFLAGS_EXTRA)
LDFLAGS := $(SANFL) $(LDFLAGS_EXTRA)

LIBDIRS := common store ingest origin edge canvas
srcs_lib = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
objs_of  = $(patsubst %.c,$(O)/%.o,$(1))

BINS := $(BIN)/sluice
ifneq ($(wildcard ingest/main.c),)
BINS += $(BIN)/sluice-ingest
endif
ifneq ($(wildcard origin/main.c),)
BINS += $(BIN)/sluice-origin
endif
ifneq ($(wildcard edge/main.c),)
BINS += $(BIN)/sluice-edge
endif
ifneq ($(wildcard canvas/main.c),)
BINS += $(BIN)/sluice-canvas
endif

UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))

.PHONY: all deps test unit fuzz integration run bench clean format web
all: $(BINS) web

# Prerequisite lists below use $$(...) for values known only per target.
.SECONDEXPANSION:

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

define LIBRULE
$(O)/lib$(1).a: $(call objs_of,$(call srcs_lib,$(1)))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(eval $(call LIBRULE,$(d))))

$(BIN)/sluice: $(call objs_of,$(wildcard tools/*.c)) $(call libs_of,tools)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(call ldlibs_of,tools)

$(BIN)/sluice-%: $(O)/%/main.o $$(call libs_of,$$*)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(call libs_of,$*) $(call ldlibs_of,$*)

# Unit tests: tests/unit/<dir>/test_x.c links lib<dir>.a and its chain.
$(O)/tests/unit/%: tests/unit/%.c $$(call libs_of,$$(firstword $$(subst /, ,$$*)))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< \
	  $(call libs_of,$(firstword $(subst /, ,$*))) \
	  $(call ldlibs_of,$(firstword $(subst /, ,$*))) -lcmocka

unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

# Fuzz targets (clang + libFuzzer), built from the library sources.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := $(CSTD) -Wall -Wextra -O1 -g -I. -include common/banned.h \
  -fsanitize=fuzzer,address,undefined $(shell $(PKG) --cflags $(ALL_PKGS) 2>/dev/null)
fuzzdir_of = $(word 2,$(subst _, ,$(notdir $(1))))
fuzz_srcs  = $(foreach d,$(CHAIN_$(1)),$(filter-out $(d)/main.c,$(wildcard $(d)/*.c)))
build/fuzz/%: tests/fuzz/%.c $$(call fuzz_srcs,$$(call fuzzdir_of,$$*)) $$(wildcard */*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(call fuzz_srcs,$(call fuzzdir_of,$*)) \
	  $(call ldlibs_of,$(call fuzzdir_of,$*))

fuzz-bins: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@sh tests/run-fuzz.sh $(FUZZ_BINS)

web:
	@test -f origin/web/node_modules/hls.js/dist/hls.min.js || \
	  (echo "hls.js missing: run 'make deps'" >&2; exit 1)

deps:
	@sh tools/deps.sh

integration:
	$(MAKE) -j$(JOBS) SANITIZE=1 all
	SLUICE_BIN=$(CURDIR)/build/san/bin sh tests/run-integration.sh

test: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) -j$(JOBS) SANITIZE=1 all unit-bins
	sh tests/run-unit.sh $(patsubst $(O)/%,build/san/%,$(UNIT_BINS))
	$(MAKE) -j$(JOBS) fuzz-bins
	$(MAKE) fuzz
	SLUICE_BIN=$(CURDIR)/build/san/bin sh tests/run-integration.sh

# run/bench/test install packages first, then build in a sub-make so that
# pkg-config flags are computed after the libraries exist (fresh machines).
run: deps
	$(MAKE) -j$(JOBS) all
	sh tools/run.sh

bench: deps
	$(MAKE) -j$(JOBS) all
	sh tools/bench/run.sh

format:
	clang-format -i $(wildcard */*.c */*.h tests/*/*/*.c tests/fuzz/*.c)

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
