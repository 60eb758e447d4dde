# tollgate — build, run, test.
#
#   make            build build/tollgate
#   make run        install missing Debian packages, build, start on the defaults
#   make test       the whole suite (unit + scenarios); ends with "N passed, N failed"
#   make check      the same suite built with AddressSanitizer + UBSan
#   make bench      requests/s and latency: upstream direct, nginx, tollgate
#   make fuzz       short libFuzzer runs of every parser (clang)
#   make lint       cppcheck + clang-format check
#
# Objects stay under $(BUILD); llhttp is compiled from Debian's node-llhttp
# sources in /usr/share/llhttp, never copied into the tree.

CC ?= cc
BUILD ?= build
SANITIZER ?=
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

PKGS = libevent libevent_openssl libevent_pthreads openssl sqlite3 libcjson zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wpointer-arith -Wformat=2 -Wno-unused-parameter
OPT ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1 $(OPT) $(WARN) -I. \
	     -I$(LLHTTP_INC) \
	     $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(LDLIBS)
ifneq ($(SANITIZER),)
CFLAGS_ALL += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer \
	      -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=$(SANITIZER)
endif

METER_SRC = meter/endpoint.c meter/jscan.c meter/sse.c meter/request.c meter/limit.c \
	    meter/multipart.c meter/audio.c meter/upload.c \
	    meter/response.c meter/price.c
STORE_SRC = store/store.c store/report.c store/reconcile.c
CERTS_SRC = certs/ca.c certs/cache.c
PROXY_SRC = proxy/log.c proxy/config.c proxy/http.c proxy/headers.c proxy/reply.c \
	    proxy/workspace.c proxy/upstream.c proxy/conn.c proxy/tunnel.c proxy/account.c \
	    proxy/limiter.c proxy/throttle.c proxy/reload.c proxy/fetch.c proxy/alert.c proxy/background.c \
	    proxy/worker.c proxy/metrics.c proxy/events.c proxy/reconciler.c \
	    proxy/report_cli.c proxy/admin.c proxy/admin_usage.c proxy/admin_recon.c \
	    proxy/dashboard.c proxy/main.c
LIB_SRC = $(METER_SRC) $(STORE_SRC) $(CERTS_SRC)

LLHTTP_OBJ = $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o \
	     $(BUILD)/llhttp/llhttp.o
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/meter/prices_blob.o
PROXY_OBJ = $(PROXY_SRC:%.c=$(BUILD)/%.o) $(BUILD)/proxy/dashboard_blob.o

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/unit/main.o \
	   $(BUILD)/tests/unit/httpd.o
# proxy modules the unit tests exercise directly (no main.c)
UNIT_PROXY_OBJ = $(filter-out $(BUILD)/proxy/main.o,$(PROXY_OBJ))

.PHONY: all run deps test-deps test check bench fuzz lint clean
all: $(BUILD)/tollgate

$(BUILD)/tollgate: $(PROXY_OBJ) $(LIB_OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/%.o: %.c $(wildcard */*.h) | deps-quiet
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -c -o $@ $<

$(BUILD)/meter/prices_blob.o: meter/prices_blob.S meter/prices.json
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ meter/prices_blob.S

$(BUILD)/proxy/dashboard_blob.o: proxy/dashboard_blob.S proxy/dashboard.html
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ proxy/dashboard_blob.S

# llhttp is generated C; compile it as-is with its own (quieter) flags.
# The sources hold a lenient and a strict parser: DESIGN.md wants strict
# (no obs-fold, no spaces in field names, no lone CR/LF line endings).
LLHTTP_FLAGS = -DLLHTTP_STRICT_MODE=1
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(LLHTTP_FLAGS) -I$(LLHTTP_INC) $(filter -fsanitize=%,$(CFLAGS_ALL)) -c -o $@ $<

$(BUILD)/unit: $(UNIT_OBJ) $(UNIT_PROXY_OBJ) $(LIB_OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# Build dependencies: check quietly, explain loudly.
deps-quiet:
	@scripts/deps.sh --check build || { echo; echo "Missing build packages: run 'make deps' (as root) or the apt-get line above."; exit 1; }
.PHONY: deps-quiet

deps:
	scripts/deps.sh build

test-deps:
	scripts/deps.sh test
	@scripts/promtool.sh $(BUILD)
	@[ -d tests/node_modules/openai ] && [ -d tests/node_modules/undici ] && [ -d tests/node_modules/playwright-core ] || \
	    npm ci --prefix tests --no-audit --no-fund
	@[ -d examples/node/node_modules/openai ] || \
	    npm ci --prefix examples/node --no-audit --no-fund

run: deps
	$(MAKE) all
	mkdir -p data
	exec $(BUILD)/tollgate run

test: test-deps
	$(MAKE) all $(BUILD)/unit
	BUILD=$(BUILD) tests/run.sh

check: test-deps
	$(MAKE) BUILD=build/san SANITIZER=address,undefined OPT="-O1 -g" all build/san/unit
	BUILD=build/san TOLLGATE_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

bench: test-deps
	scripts/deps.sh bench
	$(MAKE) all
	bench/run.sh

fuzz:
	scripts/deps.sh fuzz
	tests/fuzz/run.sh

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --suppress=missingIncludeSystem -I. \
	    --include=/usr/include/x86_64-linux-gnu/sys/queue.h proxy meter store certs
	clang-format --dry-run --Werror proxy/*.[ch] meter/*.[ch] store/*.[ch] certs/*.[ch] \
	    tests/unit/*.[ch]

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
