/*
 * proxy/log.c — timestamped lines on stderr (see log.h).
 * Any thread; a line is formatted in a stack buffer and written at once, so
 * lines from workers never interleave.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proxy/log.h"

#define LOG_LINE_MAX 2048

static _Atomic int log_level = LOG_INFO;

void
log_set_level(enum log_level lv)
{
	atomic_store(&log_level, (int)lv);
}

int
log_enabled(enum log_level lv)
{
	return (int)lv <= atomic_load(&log_level);
}

void
log_msg(enum log_level lv, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char line[LOG_LINE_MAX];
	struct timeval tv;
	struct tm tm;
	size_t n;
	va_list ap;
	int k;

	if (!log_enabled(lv))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n,
	             ".%03ldZ %s: ", (long)tv.tv_usec / 1000, names[lv]);
	n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n = k < 0 ? n : n + (size_t)k;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}
