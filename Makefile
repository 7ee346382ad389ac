# Top-level, non-recursive Makefile for gardener-extension-provider-equinix-metal.
#
#   make                 build bin/gardener-extension-provider-equinix-metal (installs missing packages first)
#   make test            every test, then every test again under ASan+UBSan; ends with a TAP summary line
#   make bench           benchmarks, each printing a ratio against a baseline measured in the same run
#   make fuzz            libFuzzer targets for the parsers that face the network (FUZZ_SECONDS each)
#   make soak            long-running soak tests
#   make format          clang-format in place;  make check-format  fails on a diff
#   make install-requirements   apt-get the Debian packages that are missing (no-op when all are present)
#   make demo            the whole lifecycle against the test servers on loopback, journal in ./demo/
#   make generate        example/controller-registration.yaml, example/extension.yaml, build/chart/*.tgz
#   make check-generate  fails when the generated files are stale
#   make start           run the controller from a checkout against KUBECONFIG (see CONTRIBUTING.md)
#   make hook-me         tunnel a seed's webhook Service to `make start` (hack/hook-me.sh)
#   make docker-images   the container image (Dockerfile: Debian build, slim non-root runtime)
#
# Variants: VARIANT=release (default, build/release) or VARIANT=asan (build/asan,
# -fsanitize=address,undefined,float-cast-overflow).
# Sources are discovered by wildcard: a new engine/*.c, providers/equinix-metal/*.c, webhook/*.c,
# test/unit/*_test.c, test/tools/*.c or test/bench/*.c file needs no Makefile change.

VERSION   := 0.1.0
NAME      := gardener-extension-provider-equinix-metal
VARIANT   ?= release
B         := build/$(VARIANT)
PKGS      := sqlite3 libcurl jansson yaml-0.1 gnutls
CC        ?= cc

# Debian's libev-dev ships no libev.pc: fall back to -lev.
LIBEV_LIBS := $(shell pkg-config --exists libev 2>/dev/null && pkg-config --libs libev || echo -lev)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(LIBEV_LIBS) -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wwrite-strings -Wno-missing-field-initializers
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -DEQXM_VERSION='"$(VERSION)"' -DPROG_NAME='"$(NAME)"' $(WARN) \
                 -I. -I$(B)/gen $(PKG_CFLAGS) -MMD -MP
ifeq ($(VARIANT),asan)
  OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
             -fno-sanitize-recover=all
  LDOPT   := -fsanitize=address,undefined,float-cast-overflow
else
  OPT     := -O2 -g
  LDOPT   :=
endif
ALL_CFLAGS := $(CFLAGS_COMMON) $(OPT) $(CFLAGS)
ALL_LDFLAGS := $(LDOPT) $(LDFLAGS)

ENGINE_SRC  := $(sort $(wildcard engine/*.c engine/*/*.c))
TESTLIB_SRC := $(sort $(wildcard test/lib/*.c))
TESTLIB     := $(B)/libtest.a
METAL_MAIN  := providers/equinix-metal/main.c
METAL_SRC   := $(sort $(filter-out $(METAL_MAIN),$(wildcard providers/equinix-metal/*.c providers/equinix-metal/*/*.c)))
WEBHOOK_SRC := $(sort $(wildcard webhook/*.c))
SCHEMA_SQL  := $(sort $(wildcard schema/*.sql))
GEN_SRC     := $(B)/gen/schema_sql.c

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
ENGINE_LIB  := $(B)/libengine.a
METAL_LIB   := $(B)/libmetal.a
WEBHOOK_LIB := $(B)/libwebhook.a
LIBS        := $(METAL_LIB) $(WEBHOOK_LIB) $(ENGINE_LIB)

ifeq ($(VARIANT),release)
  BIN := bin/$(NAME)
else
  BIN := $(B)/bin/$(NAME)
endif

UNIT_SRC   := $(sort $(wildcard test/unit/*_test.c))
UNIT_BIN   := $(patsubst test/unit/%.c,$(B)/test/unit/%,$(UNIT_SRC))
TOOL_SRC   := $(sort $(wildcard test/tools/*.c))
TOOL_BIN   := $(patsubst test/tools/%.c,$(B)/test/tools/%,$(TOOL_SRC))
BENCH_SRC  := $(sort $(wildcard test/bench/*.c))
BENCH_BIN  := $(patsubst test/bench/%.c,$(B)/bench/%,$(BENCH_SRC))
FUZZ_SRC   := $(sort $(wildcard test/fuzz/*_fuzz.c))
FUZZ_SECONDS ?= 60

.PHONY: all build tests test test-release test-asan check bench fuzz fuzz-build soak format \
        check-format install-requirements clean generate check-generate start hook-me docker-images demo
.DEFAULT_GOAL := all
# Keep objects of test programs between builds.
.SECONDARY:

all: install-requirements
	@$(MAKE) --no-print-directory build

build: $(BIN)

tests: $(BIN) $(UNIT_BIN) $(TOOL_BIN)

install-requirements:
	@hack/install-requirements.sh

# The whole suite twice: a plain -O2 build, then an ASan+UBSan build. prove prints the TAP summary.
test: install-requirements
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-asan
	@echo "make test: all tests passed in the release and the ASan+UBSan builds"

test-release:
	@$(MAKE) --no-print-directory VARIANT=release tests
	@hack/run-tests.sh release

test-asan:
	@$(MAKE) --no-print-directory VARIANT=asan tests
	@hack/run-tests.sh asan

check: test

bench: install-requirements
	@$(MAKE) --no-print-directory VARIANT=release tests $(patsubst test/bench/%.c,build/release/bench/%,$(BENCH_SRC))
	@hack/run-bench.sh

fuzz: install-requirements
	@hack/run-fuzz.sh $(FUZZ_SECONDS)

soak: install-requirements
	@$(MAKE) --no-print-directory VARIANT=release tests
	@hack/run-soak.sh

format:
	@clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

check-format:
	@clang-format --dry-run --Werror $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

clean:
	rm -rf build bin

# ---- Gardener workflow targets (CONTRIBUTING.md) -------------------------------------------------

# `make start` runs the controller from this checkout against the seed in KUBECONFIG, as the Go
# original's Makefile (same variables; WEBHOOK_CONFIG_SERICE_PORT is the contributing guide's spelling).
EXTENSION_PREFIX            := gardener-extension
EXT_NAME                    := provider-equinix-metal
REGISTRY                    ?= europe-docker.pkg.dev/gardener-project/public/gardener
IMAGE_PREFIX                ?= $(REGISTRY)/extensions
LEADER_ELECTION             ?= false
IGNORE_OPERATION_ANNOTATION ?= true
WEBHOOK_CONFIG_PORT         ?= 8443
WEBHOOK_CONFIG_MODE         ?= url
WEBHOOK_CONFIG_URL          ?= host.docker.internal:$(WEBHOOK_CONFIG_PORT)
WEBHOOK_CONFIG_SERICE_PORT  ?= 443
WEBHOOK_CONFIG_SERVICE_PORT ?= $(WEBHOOK_CONFIG_SERICE_PORT)
EXTENSION_NAMESPACE         ?=
START_JOURNAL               ?= ./dev/journal.db
ifeq ($(WEBHOOK_CONFIG_MODE),service)
  WEBHOOK_PARAM := --webhook-config-namespace=$(EXTENSION_NAMESPACE)
else
  WEBHOOK_PARAM := --webhook-config-url=$(WEBHOOK_CONFIG_URL)
endif

start: build
	@if [ "$(WEBHOOK_CONFIG_MODE)" = service ] && [ -z "$(EXTENSION_NAMESPACE)" ]; then \
	  echo "make start: WEBHOOK_CONFIG_MODE=service needs EXTENSION_NAMESPACE (the namespace of the extension's webhook Service)" >&2; exit 2; fi
	@mkdir -p $(dir $(START_JOURNAL))
	LEADER_ELECTION_NAMESPACE=garden $(BIN) run \
	  --config-file=./example/00-componentconfig.yaml \
	  --journal=$(START_JOURNAL) \
	  --ignore-operation-annotation=$(IGNORE_OPERATION_ANNOTATION) \
	  --leader-election=$(LEADER_ELECTION) \
	  --webhook-config-server-host=0.0.0.0 \
	  --webhook-config-server-port=$(WEBHOOK_CONFIG_PORT) \
	  --webhook-config-service-port=$(WEBHOOK_CONFIG_SERVICE_PORT) \
	  --webhook-config-mode=$(WEBHOOK_CONFIG_MODE) \
	  --webhook-config-cert-dir=./dev/webhook-certs \
	  --image-vector=providers/equinix-metal/imagevector/images.yaml \
	  --metrics-bind-address=127.0.0.1:8080 --health-bind-address=127.0.0.1:8081 \
	  --log-format=text \
	  $(WEBHOOK_PARAM) $(START_ARGS)

# Arguments in the order of hack/hook-me.sh: service, namespace, port.
hook-me:
	@bash hack/hook-me.sh $(EXTENSION_PREFIX)-$(EXT_NAME) $(EXTENSION_NAMESPACE) $(WEBHOOK_CONFIG_PORT)

docker-images:
	docker build -t $(IMAGE_PREFIX)/$(EXT_NAME):v$(VERSION) -t $(IMAGE_PREFIX)/$(EXT_NAME):latest \
	  -f Dockerfile -m 6g --target $(NAME) .

# The whole lifecycle on loopback test servers (README's first command); journal and logs in ./demo/.
demo: install-requirements
	@$(MAKE) --no-print-directory build
	@hack/demo.sh

generate:
	@hack/generate-controller-registration.sh $(VERSION)

check-generate:
	@hack/generate-controller-registration.sh --check $(VERSION)

# ---- build rules -----------------------------------------------------------------------------

$(BIN): $(call obj,$(METAL_MAIN)) $(LIBS)
	@mkdir -p $(dir $@)
	$(SAY) "  LINK    $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(ENGINE_LIB): $(call obj,$(ENGINE_SRC)) $(call obj,$(GEN_SRC))
$(METAL_LIB): $(call obj,$(METAL_SRC))
$(WEBHOOK_LIB): $(call obj,$(WEBHOOK_SRC))
$(TESTLIB): $(call obj,$(TESTLIB_SRC))
$(ENGINE_LIB) $(METAL_LIB) $(WEBHOOK_LIB) $(TESTLIB): $(B)/obj/empty.o
	@mkdir -p $(dir $@)
	@rm -f $@
	$(SAY) "  AR      $@"
	$(Q)ar rcs $@ $^

$(B)/obj/empty.o:
	@mkdir -p $(dir $@)
	echo 'extern int eqxm_empty_archive_member; int eqxm_empty_archive_member;' | $(CC) -x c -c -o $@ -

# V=1 shows the full compiler command lines.
ifeq ($(V),1)
  Q :=
  SAY := @true
else
  Q := @
  SAY := @echo
endif

$(B)/obj/%.o: %.c | $(GEN_SRC)
	@mkdir -p $(dir $@)
	$(SAY) "  CC      $<  [$(VARIANT)]"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Generated sources live under $(B)/gen; their objects under $(B)/obj/$(B)/gen.
$(B)/obj/$(B)/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(SAY) "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(GEN_SRC): $(SCHEMA_SQL) hack/embed-sql.sh
	@mkdir -p $(dir $@)
	hack/embed-sql.sh $@ $(SCHEMA_SQL)

$(B)/test/unit/%: $(B)/obj/test/unit/%.o $(TESTLIB) $(LIBS)
	@mkdir -p $(dir $@)
	$(SAY) "  LINK    $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/test/tools/%: $(B)/obj/test/tools/%.o $(TESTLIB) $(LIBS)
	@mkdir -p $(dir $@)
	$(SAY) "  LINK    $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/bench/%: $(B)/obj/test/bench/%.o $(TESTLIB) $(LIBS)
	@mkdir -p $(dir $@)
	$(SAY) "  LINK    $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Fuzz targets (test/fuzz/*_fuzz.c, each defining LLVMFuzzerTestOneInput) are built with clang and
# libFuzzer into build/fuzz/fuzz/; hack/run-fuzz.sh runs each for FUZZ_SECONDS.
FUZZ_BIN := $(patsubst test/fuzz/%.c,build/fuzz/fuzz/%,$(FUZZ_SRC))
fuzz-build:
	@$(MAKE) --no-print-directory VARIANT=fuzz CC=clang \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined" \
	  LDOPT="-fsanitize=address,undefined" $(FUZZ_BIN)

build/fuzz/fuzz/%: build/fuzz/obj/test/fuzz/%.o $(TESTLIB) $(LIBS)
	@mkdir -p $(dir $@)
	$(SAY) "  LINK    $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

-include $(shell find build/$(VARIANT)/obj -name '*.d' 2>/dev/null)
