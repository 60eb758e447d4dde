/*
 * tests/unit/test_meter_audio_real.c — meter/audio.c against files made by
 * real encoders: sox (WAV in several codecs), lame (MP3 CBR with and
 * without the Info tag, VBR, ABR, MPEG-1/2/2.5, ID3v2 and ID3v1 tags),
 * flac and oggenc (Vorbis), each run with fixed arguments in a mkdtemp
 * directory that is removed afterwards.
 *
 * Every file is fed whole, byte by byte, in 7-byte chunks and split in two
 * at a few hundred offsets (STYLE.md §23); all runs must give bit-identical
 * results, and the whole run is checked against the length that was
 * synthesised (3.25 s: an integral number of samples at every rate used,
 * and not a whole number of MP3 frames):
 *
 *   exact     WAV (data / byte rate, or the fact chunk for ADPCM and GSM),
 *             MP3 with a Xing/Info + LAME tag (frames x samples per frame
 *             minus the tag's encoder delay and padding), FLAC (STREAMINFO
 *             samples), Vorbis (last granule): within 1 us, i.e. the
 *             sample count itself, not merely the millisecond.
 *   estimate  MP3 without a tag: estimated = 1 and exactly the file's
 *             audio bytes x 8 / bitrate (ID3v1 not counted), which is never
 *             short of the true length and longer by at most the encoder's
 *             delay and padding: 1105 + 2 x samples-per-frame samples.
 *
 * A tool that is missing makes its test print "SKIP <test>: <reason>" and
 * return; nothing is checked silently.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meter/audio.h"
#include "tests/unit/harness.h"

#define REAL_MAX_FILES 32
#define REAL_MAX_BYTES (8 * 1024 * 1024) /* largest file read */
#define REAL_SPLITS 300                  /* two-piece splits per file */
#define REAL_SECONDS 3.25
#define REAL_EXACT_TOL 1e-6 /* seconds */
#define LAME_DELAY 1105     /* 576 encoder + 529 decoder samples */

enum real_kind {
	REAL_EXACT,
	REAL_CBR_GUESS, /* no tag: estimated from the size */
	REAL_EITHER,    /* sox's mp3 writer: a tag or none, per version */
};

struct real_case {
	const char *file;
	const char *cmd; /* run in the temp dir; fixed arguments */
	const char *format;
	enum real_kind kind;
	unsigned kbps, rate, spf; /* MP3: bitrate, sample rate, frame */
	unsigned tail;            /* bytes of ID3v1 at the end */
};

struct real_dir {
	char path[64];
	const char *made[REAL_MAX_FILES];
	int nmade;
};

/* 0 when `tool` is on the PATH. */
static int
real_tool(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0 ? 0 : -1;
}

/* Checks every tool of the NULL-ended list; prints the skip line for the
 * first one missing and returns -1. */
static int
real_tools(const char *test, const char *const *tools)
{
	for (; *tools != NULL; tools++) {
		if (real_tool(*tools) == -1) {
			printf("SKIP %s: %s not found on PATH\n", test, *tools);
			return -1;
		}
	}
	return 0;
}

static int
real_dir_open(struct real_dir *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/tollgate-audio-XXXXXX");
	if (mkdtemp(d->path) == NULL) {
		harness_fail(__FILE__, __LINE__, "mkdtemp failed");
		return -1;
	}
	return 0;
}

static void
real_dir_close(struct real_dir *d)
{
	char p[128];
	int i;

	for (i = 0; i < d->nmade; i++) {
		snprintf(p, sizeof(p), "%s/%s", d->path, d->made[i]);
		unlink(p);
	}
	if (rmdir(d->path) == -1)
		harness_fail(__FILE__, __LINE__, "rmdir %s failed", d->path);
}

/* Runs cmd in the directory; `file` is what it makes.  0 or -1. */
static int
real_make(struct real_dir *d, const char *file, const char *cmd)
{
	char line[512], p[128];

	if (d->nmade == REAL_MAX_FILES)
		abort();
	d->made[d->nmade++] = file;
	snprintf(line, sizeof(line), "cd %s && ( %s ) >/dev/null 2>&1", d->path,
	         cmd);
	snprintf(p, sizeof(p), "%s/%s", d->path, file);
	if (system(line) != 0 || access(p, R_OK) != 0)
		return -1;
	return 0;
}

static char *
real_read(const struct real_dir *d, const char *file, size_t *len)
{
	char p[128];
	FILE *f;
	char *buf = malloc(REAL_MAX_BYTES);

	snprintf(p, sizeof(p), "%s/%s", d->path, file);
	f = fopen(p, "rb");
	if (buf == NULL || f == NULL) {
		free(buf);
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, REAL_MAX_BYTES, f);
	fclose(f);
	return buf;
}

struct real_result {
	enum meter_audio_format format;
	int rc, estimated;
	double seconds;
};

/* Feeds p in pieces: [0, cut), then chunks of `chunk` bytes. */
static void
real_run(const char *p, size_t n, size_t cut, size_t chunk,
         struct real_result *r)
{
	static struct meter_audio a;
	size_t off;

	meter_audio_init(&a);
	meter_audio_feed(&a, p, cut);
	for (off = cut; off < n; off += chunk)
		meter_audio_feed(&a, p + off,
		                 n - off < chunk ? n - off : chunk);
	meter_audio_end(&a, n);
	memset(r, 0, sizeof(*r));
	r->format = meter_audio_format(&a);
	r->rc = meter_audio_duration(&a, &r->seconds, &r->estimated);
}

static int
real_same(const struct real_result *a, const struct real_result *b)
{
	return a->format == b->format && a->rc == b->rc &&
	       (a->rc == -1 ||
	        (a->estimated == b->estimated &&
	         memcmp(&a->seconds, &b->seconds, sizeof(a->seconds)) == 0));
}

/* Every split must equal the whole run. */
static void
real_splits(const char *name, const char *p, size_t n,
            const struct real_result *whole)
{
	struct real_result r;
	size_t i, cut;

	real_run(p, n, 0, 1, &r);
	if (!real_same(&r, whole))
		harness_fail(__FILE__, __LINE__, "%s: byte by byte differs",
		             name);
	real_run(p, n, 0, 7, &r);
	if (!real_same(&r, whole))
		harness_fail(__FILE__, __LINE__, "%s: 7-byte chunks differ",
		             name);
	for (i = 0; i <= REAL_SPLITS + 128; i++) {
		/* the first and last 64 offsets, then evenly spread */
		if (i < 64)
			cut = i;
		else if (i < 128)
			cut = n - (i - 64);
		else
			cut = (i - 128) * n / REAL_SPLITS;
		if (cut > n)
			continue;
		real_run(p, n, cut, n - cut > 0 ? n - cut : 1, &r);
		if (!real_same(&r, whole)) {
			harness_fail(__FILE__, __LINE__,
			             "%s: split at %zu differs", name, cut);
			return;
		}
	}
}

/* The whole run against the known length; returns its seconds. */
static double
real_check(const struct real_case *c, const char *p, size_t n)
{
	struct real_result w;
	double sec, guess, slack;
	enum real_kind kind;

	real_run(p, n, n, 1, &w);
	real_splits(c->file, p, n, &w);
	if (strcmp(meter_audio_format_name(w.format), c->format) != 0 ||
	    w.rc != 0) {
		harness_fail(__FILE__, __LINE__, "%s: %s rc=%d, want %s",
		             c->file, meter_audio_format_name(w.format), w.rc,
		             c->format);
		return -1;
	}
	sec = w.seconds;
	kind = c->kind;
	if (kind == REAL_EITHER)
		kind = w.estimated ? REAL_CBR_GUESS : REAL_EXACT;
	if (kind == REAL_EXACT) {
		if (w.estimated || fabs(sec - REAL_SECONDS) > REAL_EXACT_TOL)
			harness_fail(__FILE__, __LINE__,
			             "%s: %.9f s est=%d, want %.2f exact",
			             c->file, sec, w.estimated, REAL_SECONDS);
		return sec;
	}
	/* the size-based guess, worked out here from the file size */
	guess = (double)(n - c->tail) * 8 / (c->kbps * 1000.0);
	slack = (double)(LAME_DELAY + 2 * c->spf) / c->rate;
	if (!w.estimated || fabs(sec - guess) > 1e-9 || sec < REAL_SECONDS ||
	    sec > REAL_SECONDS + slack)
		harness_fail(__FILE__, __LINE__,
		             "%s: %.9f s est=%d, want est %.9f within [%.2f, "
		             "%.6f]",
		             c->file, sec, w.estimated, guess, REAL_SECONDS,
		             REAL_SECONDS + slack);
	return sec;
}

/* Makes and checks each case; a case whose command fails fails, except
 * one marked optional (name in `optional`), which prints a skip line. */
static void
real_cases(const char *test, const struct real_case *cases, size_t ncases,
           const char *optional, double *secs)
{
	struct real_dir d;
	size_t i;

	if (real_dir_open(&d) == -1)
		return;
	for (i = 0; i < ncases; i++) {
		const struct real_case *c = &cases[i];
		char *buf;
		size_t len = 0;

		secs[i] = -1;
		if (real_make(&d, c->file, c->cmd) == -1) {
			if (optional != NULL && strcmp(optional, c->file) == 0)
				printf("SKIP %s (%s): \"%s\" failed (no mp3 "
				       "support in sox?)\n",
				       test, c->file, c->cmd);
			else
				harness_fail(__FILE__, __LINE__,
				             "%s: \"%s\" failed", c->file,
				             c->cmd);
			continue;
		}
		if (c->format == NULL)
			continue; /* an input for the cases after it */
		buf = real_read(&d, c->file, &len);
		if (buf == NULL || len == 0 || len == REAL_MAX_BYTES)
			harness_fail(__FILE__, __LINE__, "%s: cannot read",
			             c->file);
		else
			secs[i] = real_check(c, buf, len);
		free(buf);
	}
	real_dir_close(&d);
}

#define WAV16 "sox -n -r 16000 -c 1 -b 16 m16.wav synth 3.25 sine 440"
#define WAV44 "sox -n -r 44100 -c 2 -b 16 s44.wav synth 3.25 sine 440"
#define WAV8 "sox -n -r 8000 -c 1 -b 16 m8.wav synth 3.25 sine 440"
#define NCASES(a) (sizeof(a) / sizeof(a[0]))

TEST(meter_audio_real_wav)
{
	static const char *const tools[] = {"sox", NULL};
	static const struct real_case cases[] = {
	    {"m16.wav", WAV16, "wav", REAL_EXACT, 0, 0, 0, 0},
	    {"s44.wav", WAV44, "wav", REAL_EXACT, 0, 0, 0, 0},
	    {"s48.wav",
	     "sox -n -r 48000 -c 2 -b 24 s48.wav synth 3.25 sine 440", "wav",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"f32.wav",
	     "sox -n -r 24000 -c 1 -e floating-point -b 32 f32.wav synth 3.25 "
	     "sine 440",
	     "wav", REAL_EXACT, 0, 0, 0, 0},
	    /* more than 2 channels: WAVE_FORMAT_EXTENSIBLE */
	    {"c6.wav", "sox -n -r 8000 -c 6 -b 16 c6.wav synth 3.25 sine 440",
	     "wav", REAL_EXACT, 0, 0, 0, 0},
	    {"ulaw.wav",
	     "sox -n -r 8000 -c 1 -e u-law ulaw.wav synth 3.25 sine 440", "wav",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"u8.wav", "sox s44.wav -b 8 -e unsigned u8.wav", "wav", REAL_EXACT,
	     0, 0, 0, 0},
	    /* no fixed byte rate: the fact chunk counts the samples */
	    {"ima.wav", "sox m16.wav -e ima-adpcm ima.wav", "wav", REAL_EXACT,
	     0, 0, 0, 0},
	    {"ms.wav", "sox m16.wav -e ms-adpcm ms.wav", "wav", REAL_EXACT, 0,
	     0, 0, 0},
	    {"gsm.wav",
	     "sox -n -r 8000 -c 1 -e gsm-full-rate gsm.wav synth "
	     "3.25 sine 440",
	     "wav", REAL_EXACT, 0, 0, 0, 0},
	};
	double secs[NCASES(cases)];

	if (real_tools("meter_audio_real_wav", tools) == -1)
		return;
	real_cases("meter_audio_real_wav", cases, NCASES(cases), NULL, secs);
}

TEST(meter_audio_real_mp3)
{
	static const char *const tools[] = {"sox", "lame", NULL};
	static const struct real_case cases[] = {
	    {"m16.wav", WAV16, NULL, REAL_EXACT, 0, 0, 0, 0},
	    {"s44.wav", WAV44, NULL, REAL_EXACT, 0, 0, 0, 0},
	    {"m8.wav", WAV8, NULL, REAL_EXACT, 0, 0, 0, 0},
	    /* MPEG-2 (16 kHz) and MPEG-1 (44.1 kHz), Info + LAME tag */
	    {"cbr16.mp3", "lame --quiet -b 64 m16.wav cbr16.mp3", "mp3",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"cbr44.mp3", "lame --quiet -b 128 s44.wav cbr44.mp3", "mp3",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"vbr16.mp3", "lame --quiet -V 4 m16.wav vbr16.mp3", "mp3",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"vbr44.mp3", "lame --quiet -V 4 s44.wav vbr44.mp3", "mp3",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"abr44.mp3", "lame --quiet --abr 96 s44.wav abr44.mp3", "mp3",
	     REAL_EXACT, 0, 0, 0, 0},
	    /* MPEG-2.5 (8 kHz) */
	    {"vbr8.mp3", "lame --quiet -V 6 m8.wav vbr8.mp3", "mp3", REAL_EXACT,
	     0, 0, 0, 0},
	    /* a padded ID3v2 tag before the first frame, ID3v1 after */
	    {"id3.mp3",
	     "lame --quiet -V 2 --add-id3v2 --pad-id3v2-size 3000 --tt title "
	     "--ta artist s44.wav id3.mp3",
	     "mp3", REAL_EXACT, 0, 0, 0, 0},
	    /* -t: no Info tag, so the size is all there is */
	    {"notag16.mp3", "lame --quiet -t -b 64 m16.wav notag16.mp3", "mp3",
	     REAL_CBR_GUESS, 64, 16000, 576, 0},
	    {"notag44.mp3", "lame --quiet -t -b 128 s44.wav notag44.mp3", "mp3",
	     REAL_CBR_GUESS, 128, 44100, 1152, 0},
	    {"notag44v1.mp3",
	     "lame --quiet -t -b 128 --id3v1-only --tt title s44.wav "
	     "notag44v1.mp3",
	     "mp3", REAL_CBR_GUESS, 128, 44100, 1152, 128},
	    /* libsox-fmt-mp3; whether it writes the tag depends on the
	     * version */
	    {"sox16.mp3", "sox m16.wav -C 64 sox16.mp3", "mp3", REAL_EITHER, 64,
	     16000, 576, 0},
	    /* zero bytes before the first frame, no ID3v2 tag */
	    {"lead0.mp3",
	     "{ head -c 100 /dev/zero; cat cbr44.mp3; } > lead0.mp3", "mp3",
	     REAL_EXACT, 0, 0, 0, 0},
	};
	double secs[NCASES(cases)];

	if (real_tools("meter_audio_real_mp3", tools) == -1)
		return;
	real_cases("meter_audio_real_mp3", cases, NCASES(cases), "sox16.mp3",
	           secs);
	/* an ID3v1 tag is not audio: same guess with and without it */
	CHECK(secs[11] > 0 && secs[11] == secs[12]);
}

TEST(meter_audio_real_flac)
{
	static const char *const tools[] = {"sox", "flac", NULL};
	static const struct real_case cases[] = {
	    {"m16.wav", WAV16, NULL, REAL_EXACT, 0, 0, 0, 0},
	    {"s48.wav",
	     "sox -n -r 48000 -c 2 -b 24 s48.wav synth 3.25 sine 440", NULL,
	     REAL_EXACT, 0, 0, 0, 0},
	    {"m16.flac", "flac --silent -f -o m16.flac m16.wav", "flac",
	     REAL_EXACT, 0, 0, 0, 0},
	    {"s48.flac", "flac --silent -f --no-padding -8 -o s48.flac s48.wav",
	     "flac", REAL_EXACT, 0, 0, 0, 0},
	    {"tags.flac",
	     "flac --silent -f -T title=x -T artist=y -o tags.flac m16.wav",
	     "flac", REAL_EXACT, 0, 0, 0, 0},
	    {"sox.flac", "sox s48.wav sox.flac", "flac", REAL_EXACT, 0, 0, 0,
	     0},
	};
	double secs[NCASES(cases)];

	if (real_tools("meter_audio_real_flac", tools) == -1)
		return;
	real_cases("meter_audio_real_flac", cases, NCASES(cases), NULL, secs);
}

TEST(meter_audio_real_ogg)
{
	static const char *const tools[] = {"sox", "oggenc", NULL};
	static const struct real_case cases[] = {
	    {"m16.wav", WAV16, NULL, REAL_EXACT, 0, 0, 0, 0},
	    {"s44.wav", WAV44, NULL, REAL_EXACT, 0, 0, 0, 0},
	    {"m16.ogg", "oggenc -Q -o m16.ogg m16.wav", "ogg", REAL_EXACT, 0, 0,
	     0, 0},
	    {"s44.ogg", "oggenc -Q -q 2 -o s44.ogg s44.wav", "ogg", REAL_EXACT,
	     0, 0, 0, 0},
	    /* a comment header far longer than a page */
	    {"big.ogg",
	     "oggenc -Q -c comment=\"$(head -c 20000 /dev/zero | tr '\\0' x)\" "
	     "-o big.ogg m16.wav",
	     "ogg", REAL_EXACT, 0, 0, 0, 0},
	    {"sox.ogg", "sox s44.wav sox.ogg", "ogg", REAL_EXACT, 0, 0, 0, 0},
	};
	double secs[NCASES(cases)];

	if (real_tools("meter_audio_real_ogg", tools) == -1)
		return;
	real_cases("meter_audio_real_ogg", cases, NCASES(cases), NULL, secs);
}
