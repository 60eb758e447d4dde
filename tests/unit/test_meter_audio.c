/*
 * tests/unit/test_meter_audio.c — meter/audio.c, audio duration from
 * container headers.
 *
 * The files are built here, byte by byte, from the format specifications:
 * WAV (plain, streamed with data size 0xFFFFFFFF or 0, RF64, a LIST chunk
 * of odd size before fmt, a lying byte rate, data cut short), MP3 (CBR
 * frames with zero payload, behind an ID3v2 tag and before an ID3v1 tag,
 * a false frame sync, Xing and VBRI frame counts), FLAC STREAMINFO, MP4
 * ftyp + moov/mvhd (version 0, and version 1 after the mdat), WebM Info
 * Duration and Ogg Opus / Vorbis granules.  Each is fed whole, split at
 * every offset and byte by byte (STYLE.md §23) with the same result; each
 * prefix of each is fed too and must never crash, and must be unknown
 * while the header is incomplete.  Hostile sizes (chunks and boxes that
 * overflow, zero rates) give unknown.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/audio.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

/* --- byte builders ----------------------------------------------------- */

static void
put(struct sbuf *b, const void *p, size_t n)
{
	sb_add(b, p, n);
}

static void
u8(struct sbuf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	sb_add(b, (const char *)&c, 1);
}

static void
le16(struct sbuf *b, unsigned v)
{
	u8(b, v & 0xff);
	u8(b, v >> 8 & 0xff);
}

static void
le32(struct sbuf *b, uint32_t v)
{
	le16(b, v & 0xffff);
	le16(b, v >> 16);
}

static void
le64(struct sbuf *b, uint64_t v)
{
	le32(b, (uint32_t)v);
	le32(b, (uint32_t)(v >> 32));
}

static void
be32(struct sbuf *b, uint32_t v)
{
	u8(b, v >> 24);
	u8(b, v >> 16 & 0xff);
	u8(b, v >> 8 & 0xff);
	u8(b, v & 0xff);
}

static void
be64(struct sbuf *b, uint64_t v)
{
	be32(b, (uint32_t)(v >> 32));
	be32(b, (uint32_t)v);
}

static void
zeros(struct sbuf *b, size_t n)
{
	while (n-- > 0)
		u8(b, 0);
}

/* --- runner ------------------------------------------------------------ */

struct arec {
	struct meter_audio a;
	uint64_t fed;
	const char *want;
};

static void
arec_reset(void *arg)
{
	struct arec *r = arg;

	meter_audio_init(&r->a);
	r->fed = 0;
}

static void
arec_feed(void *arg, const char *p, size_t n)
{
	struct arec *r = arg;

	meter_audio_feed(&r->a, p, n);
	r->fed += n;
}

static void
arec_result(struct arec *r, struct sbuf *b)
{
	double sec = -1;
	int est = -1;

	meter_audio_end(&r->a, r->fed);
	sb_printf(b, "%s ", meter_audio_format_name(meter_audio_format(&r->a)));
	if (meter_audio_duration(&r->a, &sec, &est) == -1)
		sb_printf(b, "unknown");
	else
		sb_printf(b, "%.6f%s", sec, est ? " est" : "");
}

static void
arec_check(void *arg, const char *run)
{
	struct arec *r = arg;
	struct sbuf got = {0};

	arec_result(r, &got);
	if (strcmp(got.p, r->want) != 0)
		harness_fail(__FILE__, __LINE__, "%s: got \"%s\", want \"%s\"",
		             run, got.p, r->want);
	free(got.p);
}

/*
 * Whole, every split, byte by byte: all give `want` ("wav 1.500000",
 * "mp3 2.606250 est", "ogg unknown").  Then every prefix shorter than
 * `need` bytes must be unknown, and every prefix must run clean.
 */
static void
run_audio(const struct sbuf *in, size_t need, const char *want)
{
	struct arec r;
	size_t cut;

	memset(&r, 0, sizeof(r));
	r.want = want;
	arec_reset(&r);
	arec_feed(&r, in->p, in->len);
	arec_check(&r, "whole");
	harness_split_runs(in->p, in->len, &r, arec_reset, arec_feed,
	                   arec_check);
	for (cut = 0; cut < in->len; cut++) {
		struct sbuf got = {0};

		arec_reset(&r);
		arec_feed(&r, in->p, cut);
		arec_result(&r, &got);
		if (cut < need && strstr(got.p, "unknown") == NULL)
			harness_fail(__FILE__, __LINE__,
			             "prefix %zu of %zu: %s, want unknown", cut,
			             in->len, got.p);
		free(got.p);
	}
}

/* --- WAV ----------------------------------------------------------------- */

/* RIFF/WAVE with fmt (PCM) and data; data_size_field may lie. */
static void
wav(struct sbuf *b, uint32_t rate, unsigned channels, unsigned bits,
    uint32_t byte_rate, size_t data_bytes, uint32_t data_size_field,
    int list_first)
{
	unsigned align = channels * bits / 8;

	put(b, "RIFF", 4);
	le32(b, (uint32_t)(36 + data_bytes + (list_first ? 14 : 0)));
	put(b, "WAVE", 4);
	if (list_first) { /* odd size: one pad byte follows */
		put(b, "LIST", 4);
		le32(b, 5);
		put(b, "INFOx", 5);
		u8(b, 0);
	}
	put(b, "fmt ", 4);
	le32(b, 16);
	le16(b, 1);
	le16(b, channels);
	le32(b, rate);
	le32(b, byte_rate);
	le16(b, align);
	le16(b, bits);
	put(b, "data", 4);
	le32(b, data_size_field);
	zeros(b, data_bytes);
}

TEST(meter_audio_wav)
{
	struct sbuf b = {0};

	/* 16 kHz mono 16-bit, 1.5 s */
	wav(&b, 16000, 1, 16, 32000, 48000, 48000, 0);
	run_audio(&b, 44, "wav 1.500000");
	sb_clear(&b);
	wav(&b, 8000, 2, 8, 16000, 4000, 4000, 1);
	run_audio(&b, 58, "wav 0.250000");
	free(b.p);
}

TEST(meter_audio_wav_streamed)
{
	struct sbuf b = {0};

	wav(&b, 16000, 1, 16, 32000, 48000, 0xFFFFFFFFu, 0);
	run_audio(&b, 44, "wav 1.500000");
	sb_clear(&b);
	wav(&b, 16000, 1, 16, 32000, 8000, 0, 0);
	run_audio(&b, 44, "wav 0.250000");
	free(b.p);
}

/* The header says more data than arrived: what arrived, estimated. */
TEST(meter_audio_wav_short)
{
	struct sbuf b = {0};

	wav(&b, 16000, 1, 16, 32000, 16000, 48000, 0);
	run_audio(&b, 44, "wav 0.500000 est");
	free(b.p);
}

TEST(meter_audio_wav_lying)
{
	struct sbuf b = {0};

	wav(&b, 16000, 1, 16, 1000, 3200, 3200, 0); /* byte rate */
	run_audio(&b, 0, "wav unknown");
	sb_clear(&b);
	wav(&b, 16000, 1, 16, 0, 3200, 3200, 0);
	run_audio(&b, 0, "wav unknown");
	sb_clear(&b);
	wav(&b, 0, 1, 16, 0, 3200, 3200, 0); /* sample rate 0 */
	run_audio(&b, 0, "wav unknown");
	sb_clear(&b);
	wav(&b, 16000, 0, 16, 0, 3200, 3200, 0); /* block align 0 */
	run_audio(&b, 0, "wav unknown");
	free(b.p);
}

/* A chunk whose size runs past everything, before fmt. */
TEST(meter_audio_wav_hostile)
{
	struct sbuf b = {0};

	put(&b, "RIFF", 4);
	le32(&b, 0xFFFFFFFFu);
	put(&b, "WAVE", 4);
	put(&b, "junk", 4);
	le32(&b, 0xFFFFFFFFu);
	zeros(&b, 64);
	run_audio(&b, 0, "wav unknown");
	sb_clear(&b);
	put(&b, "RIFF", 4);
	le32(&b, 0);
	put(&b, "WAVE", 4);
	put(&b, "fmt ", 4);
	le32(&b, 4); /* too short for a format */
	zeros(&b, 40);
	run_audio(&b, 0, "wav unknown");
	free(b.p);
}

/* RF64 (EBU Tech 3306): the data size is in ds64. */
TEST(meter_audio_rf64)
{
	struct sbuf b = {0};

	put(&b, "RF64", 4);
	le32(&b, 0xFFFFFFFFu);
	put(&b, "WAVE", 4);
	put(&b, "ds64", 4);
	le32(&b, 28);
	le64(&b, 0);     /* RIFF size */
	le64(&b, 24000); /* data size */
	le64(&b, 12000); /* samples */
	le32(&b, 0);     /* table length */
	put(&b, "fmt ", 4);
	le32(&b, 16);
	le16(&b, 1);
	le16(&b, 1);
	le32(&b, 16000);
	le32(&b, 32000);
	le16(&b, 2);
	le16(&b, 16);
	put(&b, "data", 4);
	le32(&b, 0xFFFFFFFFu);
	zeros(&b, 24000);
	zeros(&b, 100); /* a trailing chunk's worth: ds64 still rules */
	run_audio(&b, 80, "wav 0.750000");
	free(b.p);
}

/* --- MP3 ------------------------------------------------------------------ */

/* MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo, no CRC: 417 bytes. */
#define MP3_H128 0xFFFB9000u
#define MP3_LEN128 417
/* MPEG-2 Layer III, 64 kbit/s, 22.05 kHz, mono, no CRC: 208 bytes. */
#define MP3_H64 0xFFF380C0u
#define MP3_LEN64 208

static void
frames(struct sbuf *b, uint32_t header, size_t len, int n)
{
	while (n-- > 0) {
		be32(b, header);
		zeros(b, len - 4);
	}
}

static void
id3v2(struct sbuf *b, uint32_t size)
{
	put(b, "ID3\x04\x00\x00", 6);
	u8(b, size >> 21 & 0x7f);
	u8(b, size >> 14 & 0x7f);
	u8(b, size >> 7 & 0x7f);
	u8(b, size & 0x7f);
	zeros(b, size);
}

/* No Xing: CBR from the size, estimated (see au_mp3_result). */
TEST(meter_audio_mp3_cbr)
{
	struct sbuf b = {0};

	frames(&b, MP3_H128, MP3_LEN128, 100);
	/* 41700 bytes * 8 / 128000 */
	run_audio(&b, 4, "mp3 2.606250 est");
	sb_clear(&b);
	id3v2(&b, 300);
	frames(&b, MP3_H128, MP3_LEN128, 100);
	put(&b, "TAG", 3); /* ID3v1: not audio */
	zeros(&b, 125);
	run_audio(&b, 314, "mp3 2.606250 est");
	free(b.p);
}

/* Junk after the ID3 tag holding a header that no frame follows. */
TEST(meter_audio_mp3_false_sync)
{
	struct sbuf b = {0};

	id3v2(&b, 20);
	be32(&b, MP3_H128);
	zeros(&b, 9);
	frames(&b, MP3_H128, MP3_LEN128, 10);
	run_audio(&b, 30, "mp3 0.260625 est");
	free(b.p);
}

/* A LAME Xing frame: 100 frames of 1152 samples at 44.1 kHz. */
TEST(meter_audio_mp3_xing)
{
	struct sbuf b = {0};

	be32(&b, MP3_H128);
	zeros(&b, 32); /* side information */
	put(&b, "Xing", 4);
	be32(&b, 0x0001 | 0x0002);
	be32(&b, 100);   /* frames */
	be32(&b, 41700); /* bytes */
	zeros(&b, MP3_LEN128 - 4 - 32 - 16);
	frames(&b, MP3_H128, MP3_LEN128, 100);
	run_audio(&b, 4, "mp3 2.612245");
	/* "Info" (CBR) in the same place, after an ID3v2 tag */
	sb_clear(&b);
	id3v2(&b, 10);
	be32(&b, MP3_H128);
	zeros(&b, 32);
	put(&b, "Info", 4);
	be32(&b, 0x0001);
	be32(&b, 100);
	zeros(&b, MP3_LEN128 - 4 - 32 - 12);
	frames(&b, MP3_H128, MP3_LEN128, 100);
	run_audio(&b, 24, "mp3 2.612245");
	free(b.p);
}

/* A Fraunhofer VBRI frame, MPEG-2: 50 frames of 576 at 22.05 kHz. */
TEST(meter_audio_mp3_vbri)
{
	struct sbuf b = {0};

	be32(&b, MP3_H64);
	zeros(&b, 32);
	put(&b, "VBRI", 4);
	put(&b, "\x00\x01\x00\x00\x00\x50", 6); /* version, delay, quality */
	be32(&b, 50 * MP3_LEN64);
	be32(&b, 50);
	zeros(&b, MP3_LEN64 - 4 - 32 - 18);
	frames(&b, MP3_H64, MP3_LEN64, 50);
	run_audio(&b, 4, "mp3 1.306122");
	free(b.p);
}

TEST(meter_audio_mp3_bad)
{
	struct sbuf b = {0};

	frames(&b, 0xFFFB9C00u, MP3_LEN128, 3); /* reserved sample rate */
	run_audio(&b, 0, "unknown unknown");
	sb_clear(&b);
	frames(&b, 0xFFFBF000u, MP3_LEN128, 3); /* bad bitrate index */
	run_audio(&b, 0, "unknown unknown");
	sb_clear(&b);
	put(&b, "ID3\x04\x00\x00\x80\x00\x00\x00", 10); /* not syncsafe */
	frames(&b, MP3_H128, MP3_LEN128, 3);
	run_audio(&b, 0, "unknown unknown");
	sb_clear(&b);
	put(&b, "ID3\x04\x00\x00\x7f\x7f\x7f\x7f", 10); /* past the end */
	frames(&b, MP3_H128, MP3_LEN128, 3);
	run_audio(&b, 0, "mp3 unknown");
	free(b.p);
}

/* --- FLAC ----------------------------------------------------------------- */

static void
flac(struct sbuf *b, uint32_t rate, uint64_t samples)
{
	put(b, "fLaC", 4);
	u8(b, 0x80); /* last block, STREAMINFO */
	u8(b, 0);
	u8(b, 0);
	u8(b, 34);
	put(b, "\x10\x00\x10\x00", 4); /* block sizes */
	zeros(b, 6);                   /* frame sizes */
	u8(b, rate >> 12 & 0xff);
	u8(b, rate >> 4 & 0xff);
	/* rate low 4 bits, channels-1 = 1, bits-1 = 15, samples high 4 */
	u8(b, (rate & 0xf) << 4 | 1 << 1 | 0);
	u8(b, 0xf0 | (unsigned)(samples >> 32 & 0xf));
	be32(b, (uint32_t)samples);
	zeros(b, 16); /* MD5 */
	zeros(b, 100);
}

TEST(meter_audio_flac)
{
	struct sbuf b = {0};

	flac(&b, 44100, 66150);
	run_audio(&b, 42, "flac 1.500000");
	sb_clear(&b);
	/* 50903 s in 142 bytes: a header that lies (METER_AUDIO_MIN_BITRATE) */
	flac(&b, 96000, 0x123456789ull);
	run_audio(&b, 0, "flac unknown");
	sb_clear(&b);
	flac(&b, 0, 66150);
	run_audio(&b, 0, "flac unknown");
	sb_clear(&b);
	flac(&b, 44100, 0); /* total unknown */
	run_audio(&b, 0, "flac unknown");
	sb_clear(&b);
	id3v2(&b, 40);
	flac(&b, 48000, 72000);
	run_audio(&b, 92, "flac 1.500000");
	free(b.p);
}

/* --- MP4 ------------------------------------------------------------------ */

static void
box(struct sbuf *b, const char *type, uint32_t payload)
{
	be32(b, 8 + payload);
	put(b, type, 4);
}

static void
ftyp(struct sbuf *b)
{
	box(b, "ftyp", 12);
	put(b, "M4A \x00\x00\x00\x00isom", 12);
}

static void
mvhd0(struct sbuf *b, uint32_t scale, uint32_t duration)
{
	box(b, "mvhd", 100);
	zeros(b, 4 + 8); /* version 0, flags, times */
	be32(b, scale);
	be32(b, duration);
	zeros(b, 100 - 20);
}

TEST(meter_audio_mp4)
{
	struct sbuf b = {0};

	ftyp(&b);
	box(&b, "free", 3);
	zeros(&b, 3);
	box(&b, "moov", 8 + 10 + 108);
	box(&b, "udta", 10);
	zeros(&b, 10);
	mvhd0(&b, 1000, 1500);
	box(&b, "mdat", 500);
	zeros(&b, 500);
	run_audio(&b, 83, "mp4 1.500000 est");
	free(b.p);
}

/* moov after a large mdat (64-bit size), mvhd version 1. */
TEST(meter_audio_mp4_moov_last)
{
	struct sbuf b = {0};

	ftyp(&b);
	be32(&b, 1);
	put(&b, "mdat", 4);
	be64(&b, 16 + 6000);
	zeros(&b, 6000); /* 90 s needs 5625 bytes at 500 bit/s */
	box(&b, "moov", 112);
	box(&b, "mvhd", 104);
	u8(&b, 1);
	zeros(&b, 3 + 16);
	be32(&b, 44100);
	be64(&b, 44100ull * 90);
	zeros(&b, 104 - 32);
	run_audio(&b, 6000 + 20 + 16 + 40, "mp4 90.000000 est");
	free(b.p);
}

TEST(meter_audio_mp4_hostile)
{
	struct sbuf b = {0};

	ftyp(&b);
	be32(&b, 1);
	put(&b, "mdat", 4);
	be64(&b, UINT64_MAX - 5); /* wraps around */
	zeros(&b, 64);
	run_audio(&b, 0, "mp4 unknown");
	sb_clear(&b);
	ftyp(&b);
	box(&b, "free", 0);
	be32(&b, 3); /* smaller than its header */
	put(&b, "moov", 4);
	zeros(&b, 64);
	run_audio(&b, 0, "mp4 unknown");
	sb_clear(&b);
	ftyp(&b);
	box(&b, "moov", 108);
	mvhd0(&b, 0, 1500); /* timescale 0 */
	run_audio(&b, 0, "mp4 unknown");
	sb_clear(&b);
	ftyp(&b);
	box(&b, "moov", 8);
	box(&b, "trak", 0); /* moov with no mvhd */
	box(&b, "mvhd", 100);
	zeros(&b, 100);
	run_audio(&b, 0, "mp4 unknown");
	free(b.p);
}

/* --- WebM ------------------------------------------------------------------
 */

TEST(meter_audio_webm)
{
	struct sbuf b = {0};
	double d = 1500.0;
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	be32(&b, 0x1A45DFA3u); /* EBML header */
	u8(&b, 0x80 | 4);
	put(&b, "\x42\x82\x81\x00", 4);
	be32(&b, 0x18538067u); /* Segment, unknown size */
	put(&b, "\x01\xff\xff\xff\xff\xff\xff\xff", 8);
	be32(&b, 0x114D9B74u); /* SeekHead */
	u8(&b, 0x80 | 3);
	zeros(&b, 3);
	be32(&b, 0x1549A966u); /* Info */
	u8(&b, 0x80 | (7 + 11 + 6));
	put(&b, "\x2a\xd7\xb1\x83\x0f\x42\x40", 7); /* TimecodeScale 1e6 */
	put(&b, "\x44\x89\x88", 3);                 /* Duration, 8 bytes */
	be64(&b, bits);
	put(&b, "\x4d\x80\x84grr!", 6); /* MuxingApp */
	be32(&b, 0x1F43B675u);          /* Cluster */
	u8(&b, 0x80 | 40);
	zeros(&b, 40);
	run_audio(&b, 50, "webm 1.500000 est");
	/* no Duration (a MediaRecorder file): unknown */
	sb_clear(&b);
	be32(&b, 0x1A45DFA3u);
	u8(&b, 0x80);
	be32(&b, 0x18538067u);
	u8(&b, 0xff);
	be32(&b, 0x1549A966u);
	u8(&b, 0x80 | 7);
	put(&b, "\x2a\xd7\xb1\x83\x0f\x42\x40", 7);
	be32(&b, 0x1F43B675u);
	u8(&b, 0xff);
	zeros(&b, 40);
	run_audio(&b, 0, "webm unknown");
	free(b.p);
}

/* --- Ogg -------------------------------------------------------------------
 */

static void
ogg_page(struct sbuf *b, int type, uint64_t granule, uint32_t serial,
         const void *body, size_t len)
{
	put(b, "OggS", 4);
	u8(b, 0);
	u8(b, (unsigned)type);
	le64(b, granule);
	le32(b, serial);
	le32(b, 0); /* sequence */
	le32(b, 0); /* CRC: not checked */
	u8(b, (unsigned)(len / 255 + 1));
	for (size_t i = 0; i < len / 255; i++)
		u8(b, 255);
	u8(b, (unsigned)(len % 255));
	put(b, body, len);
}

TEST(meter_audio_ogg_opus)
{
	struct sbuf b = {0};
	unsigned char head[19] = "OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00";
	unsigned char pkt[600];

	memset(pkt, 0x55, sizeof(pkt));
	ogg_page(&b, 2, 0, 7, head, sizeof(head)); /* pre-skip 312 */
	ogg_page(&b, 0, 0, 7, "OpusTags", 8);
	ogg_page(&b, 0, 312 + 48000, 7, pkt, sizeof(pkt));
	ogg_page(&b, 0, UINT64_MAX, 7, pkt, 100); /* no packet ends */
	ogg_page(&b, 0, 999999, 8, pkt, 10);      /* another stream */
	ogg_page(&b, 4, 312 + 72000, 7, pkt, 300);
	run_audio(&b, 0, "ogg 1.500000");
	free(b.p);
}

TEST(meter_audio_ogg_vorbis)
{
	struct sbuf b = {0};
	unsigned char id[30] = "\x01vorbis\x00\x00\x00\x00\x02\x44\xac";
	unsigned char pkt[300];

	memset(pkt, 0x33, sizeof(pkt));
	ogg_page(&b, 2, 0, 1, id, sizeof(id));
	ogg_page(&b, 0, 44100, 1, pkt, sizeof(pkt));
	ogg_page(&b, 4, 66150, 1, pkt, 10);
	run_audio(&b, 0, "ogg 1.500000");
	/* a Speex stream is not read */
	sb_clear(&b);
	ogg_page(&b, 2, 0, 1, "Speex   1.2", 11);
	zeros(&b, 8);
	ogg_page(&b, 4, 66150, 1, pkt, 10);
	run_audio(&b, 0, "ogg unknown");
	free(b.p);
}

/* --- other ---------------------------------------------------------------- */

TEST(meter_audio_unknown)
{
	struct sbuf b = {0};

	put(&b, "hello, this is not audio at all", 31);
	run_audio(&b, 0, "unknown unknown");
	sb_clear(&b);
	put(&b, "RIFF", 4);
	run_audio(&b, 0, "unknown unknown");
	free(b.p);
}

/* Before meter_audio_end nothing is known; end twice is harmless. */
TEST(meter_audio_end_once)
{
	struct meter_audio a;
	struct sbuf b = {0};
	double s = -1;
	int est = -1;

	wav(&b, 16000, 1, 16, 32000, 32000, 32000, 0);
	meter_audio_init(&a);
	meter_audio_feed(&a, b.p, b.len);
	CHECK(meter_audio_duration(&a, &s, &est) == -1);
	CHECK(s == -1 && est == -1);
	meter_audio_end(&a, b.len);
	meter_audio_end(&a, 0);
	CHECK(meter_audio_duration(&a, &s, &est) == 0);
	CHECK(s == 1.0 && est == 0);
	free(b.p);
}

/* Only METER_AUDIO_MAX_SNIFF bytes are ever looked at: an MP3 sync hunt
 * through junk gives up instead of reading the whole file. */
TEST(meter_audio_sniff_cap)
{
	struct meter_audio a;
	char junk[65536];
	double s;
	int est, i;

	memset(junk, 0x11, sizeof(junk));
	meter_audio_init(&a);
	meter_audio_feed(&a, "ID3\x04\x00\x00\x00\x00\x00\x00", 10);
	for (i = 0; i < 64; i++)
		meter_audio_feed(&a, junk, sizeof(junk));
	CHECK(a.copied <= METER_AUDIO_MAX_SNIFF);
	meter_audio_end(&a, 10 + 64 * sizeof(junk));
	CHECK(meter_audio_duration(&a, &s, &est) == -1);
}

/* --- found by real encoders (test_meter_audio_real.c) --------------------- */

/* fmt (16 or 40 bytes), an optional fact chunk, then data. */
static void
wav_codec(struct sbuf *b, unsigned codec, unsigned sub, uint32_t rate,
          uint32_t byte_rate, unsigned align, int fact, uint32_t samples,
          size_t data_bytes, uint32_t data_size_field)
{
	put(b, "RIFF", 4);
	le32(b, 0);
	put(b, "WAVE", 4);
	put(b, "fmt ", 4);
	le32(b, sub ? 40 : 16);
	le16(b, codec);
	le16(b, 1);
	le32(b, rate);
	le32(b, byte_rate);
	le16(b, align);
	le16(b, 4);
	if (sub) { /* WAVE_FORMAT_EXTENSIBLE */
		le16(b, 22);
		le16(b, 4);
		le32(b, 4);
		le16(b, sub);
		put(b,
		    "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71",
		    14);
	}
	if (fact) {
		put(b, "fact", 4);
		le32(b, 4);
		le32(b, samples);
	}
	put(b, "data", 4);
	le32(b, data_size_field);
	zeros(b, data_bytes);
}

/* IMA ADPCM (sox -e ima-adpcm): its byte rate is no product of rate and
 * block size; the fact chunk has the samples.  Without fact, or cut short,
 * the average byte rate gives an estimate. */
TEST(meter_audio_wav_fact)
{
	struct sbuf b = {0};

	/* 16 kHz, 256-byte blocks of 505 samples: 8110 bytes/s */
	wav_codec(&b, 0x11, 0, 16000, 8110, 256, 1, 52000, 26368, 26368);
	run_audio(&b, 56, "wav 3.250000");
	sb_clear(&b);
	wav_codec(&b, 0x11, 0, 16000, 8110, 256, 0, 0, 8110, 8110);
	run_audio(&b, 44, "wav 1.000000 est");
	sb_clear(&b);
	wav_codec(&b, 0x11, 0, 16000, 8110, 256, 1, 52000, 4055, 26368);
	run_audio(&b, 56, "wav 0.500000 est");
	/* PCM keeps data / byte rate even with a fact chunk that lies */
	sb_clear(&b);
	wav_codec(&b, 1, 0, 16000, 32000, 2, 1, 99, 16000, 16000);
	run_audio(&b, 56, "wav 0.500000");
	free(b.p);
}

/* WAVE_FORMAT_EXTENSIBLE (sox with more than 2 channels): the SubFormat
 * decides whether the byte rate must be rate x block size. */
TEST(meter_audio_wav_extensible)
{
	struct sbuf b = {0};

	wav_codec(&b, 0xFFFE, 1, 8000, 16000, 2, 0, 0, 8000, 8000);
	run_audio(&b, 68, "wav 0.500000");
	sb_clear(&b);
	wav_codec(&b, 0xFFFE, 1, 8000, 1000, 2, 0, 0, 8000, 8000); /* lies */
	run_audio(&b, 0, "wav unknown");
	sb_clear(&b);
	wav_codec(&b, 0xFFFE, 0x11, 16000, 8110, 256, 1, 24000, 4000, 4000);
	run_audio(&b, 80, "wav 1.500000");
	free(b.p);
}

/* Xing/Info with every optional field, then the LAME tag: delay and padding
 * (12 bits each, 21 bytes into it) are taken off, as a gapless decoder
 * does.  lame -b 128 on 3.25 s at 44.1 kHz: 126 frames, 576 + 1251. */
static void
mp3_lame(struct sbuf *b, const char *tag, uint32_t flags, uint32_t nframes,
         unsigned delay, unsigned pad, const char *encoder)
{
	size_t start = b->len;

	be32(b, MP3_H128);
	zeros(b, 32);
	put(b, tag, 4);
	be32(b, flags);
	if (flags & 1)
		be32(b, nframes);
	if (flags & 2)
		be32(b, nframes * MP3_LEN128);
	if (flags & 4)
		zeros(b, 100);
	if (flags & 8)
		be32(b, 50);
	put(b, encoder, 9);
	zeros(b, 12);
	u8(b, delay >> 4);
	u8(b, (delay & 15) << 4 | pad >> 8);
	u8(b, pad & 0xff);
	zeros(b, MP3_LEN128 - (b->len - start));
	frames(b, MP3_H128, MP3_LEN128, (int)nframes);
}

TEST(meter_audio_mp3_lame_tag)
{
	struct sbuf b = {0};

	mp3_lame(&b, "Info", 15, 126, 576, 1251, "LAME3.100");
	run_audio(&b, 4, "mp3 3.250000");
	sb_clear(&b);
	mp3_lame(&b, "Xing", 1, 126, 576, 1251, "LAME3.100");
	run_audio(&b, 4, "mp3 3.250000");
	sb_clear(&b);
	mp3_lame(&b, "Xing", 1 | 4, 126, 576, 1251, "Lavf58.76");
	run_audio(&b, 4, "mp3 3.250000");
	/* no LAME tag: the frames as they are, delay and padding included */
	sb_clear(&b);
	mp3_lame(&b, "Xing", 1 | 8, 126, 576, 1251, "XXXX3.100");
	run_audio(&b, 4, "mp3 3.291429");
	/* a tag that drops more than there is: ignored */
	sb_clear(&b);
	mp3_lame(&b, "Info", 1, 2, 4095, 4095, "LAME3.100");
	run_audio(&b, 4, "mp3 0.052245");
	free(b.p);
}

/* An Ogg file of more pages than METER_AUDIO_MAX_STEPS and more header
 * bytes than METER_AUDIO_MAX_SNIFF (hours of speech): the last granule
 * still counts.  Too big for every split: whole, and a few. */
TEST(meter_audio_ogg_many_pages)
{
	struct sbuf b = {0};
	unsigned char id[30] = "\x01vorbis\x00\x00\x00\x00\x01\x80\x3e";
	unsigned char pkt[40];
	struct arec r;
	size_t i, cuts[] = {1, 27, 1000, 0, 0};
	const size_t npages = 2 * METER_AUDIO_MAX_STEPS + 7;

	memset(pkt, 0x33, sizeof(pkt));
	ogg_page(&b, 2, 0, 1, id, sizeof(id));
	for (i = 1; i < npages; i++)
		ogg_page(&b, 0, (uint64_t)i * 16, 1, pkt, sizeof(pkt));
	CHECK(b.len > METER_AUDIO_MAX_SNIFF);
	cuts[3] = b.len / 2;
	cuts[4] = b.len - 1;
	memset(&r, 0, sizeof(r));
	r.want = "ogg 32.774000"; /* (npages - 1) x 16 samples at 16 kHz */
	arec_reset(&r);
	arec_feed(&r, b.p, b.len);
	arec_check(&r, "whole");
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		arec_reset(&r);
		arec_feed(&r, b.p, cuts[i]);
		arec_feed(&r, b.p + cuts[i], b.len - cuts[i]);
		arec_check(&r, "split");
	}
	free(b.p);
}

/* A WebM Info with an 8-byte TimecodeScale and Duration 1.0f. */
static void
webm_scaled(struct sbuf *b, const char *scale8)
{
	be32(b, 0x1A45DFA3u);
	u8(b, 0x80);
	be32(b, 0x18538067u);
	u8(b, 0xff);
	be32(b, 0x1549A966u);
	u8(b, 0x80 | 19);
	put(b, "\x2a\xd7\xb1\x88", 4);
	put(b, scale8, 8);
	put(b, "\x44\x89\x84\x3f\x80\x00\x00", 7); /* 1.0f */
	be32(b, 0x1F43B675u);                      /* Cluster */
	u8(b, 0x80 | 100);
	zeros(b, 100);
}

/* The same header is believed or not by the size it came with: at most
 * total x 8 / METER_AUDIO_MIN_BITRATE seconds. */
TEST(meter_audio_plausible)
{
	struct meter_audio a;
	struct sbuf b = {0};
	double s = -1;
	int est = -1;
	/* 0x123456789 samples at 96 kHz: 50903.316 s, needs 3181458 bytes */
	const uint64_t need = 3181458;

	flac(&b, 96000, 0x123456789ull);
	meter_audio_init(&a);
	meter_audio_feed(&a, b.p, b.len);
	meter_audio_end(&a, need);
	CHECK(meter_audio_duration(&a, &s, &est) == 0);
	CHECK(fabs(s - 50903.316094) < 1e-6 && est == 0);
	meter_audio_init(&a);
	meter_audio_feed(&a, b.p, b.len);
	meter_audio_end(&a, need - 1);
	CHECK(meter_audio_duration(&a, &s, &est) == -1);
	/* an Xing frame count that lies */
	sb_clear(&b);
	mp3_lame(&b, "Xing", 1, 3, 0, 0, "LAME3.100");
	b.p[4 + 32 + 8] = b.p[4 + 32 + 9] = (char)0xff;
	run_audio(&b, 0, "mp3 unknown");
	/* Duration 1.0 ticks: 1 ms at 10^6 ns per tick, 584 years at
	 * 2^64 - 1 */
	sb_clear(&b);
	webm_scaled(&b, "\x00\x00\x00\x00\x00\x0f\x42\x40");
	run_audio(&b, 0, "webm 0.001000 est");
	sb_clear(&b);
	webm_scaled(&b, "\xff\xff\xff\xff\xff\xff\xff\xff");
	run_audio(&b, 0, "webm unknown");
	free(b.p);
}

/* Zero bytes before the first frame, no ID3v2 tag: found by searching;
 * zeros alone are not audio. */
TEST(meter_audio_mp3_leading_zeros)
{
	struct sbuf b = {0};

	zeros(&b, 100);
	mp3_lame(&b, "Info", 15, 126, 576, 1251, "LAME3.100");
	run_audio(&b, 104, "mp3 3.250000");
	sb_clear(&b);
	zeros(&b, 5000);
	run_audio(&b, 0, "mp3 unknown");
	free(b.p);
}
