/*
 * meter/audio.c — audio duration from container headers (see audio.h).
 *
 * A small pull reader over a push stream: each format is a sequence of
 * looks, "give me len bytes at stream offset off".  The driver skips to
 * off, copies up to len bytes into the window (keeping what the window
 * already holds at or after off) and calls the format's step, which reads
 * the window and asks for its next look, or stops.  Looks only move
 * forward, so a 2 GB mdat or data chunk costs a counter, not a copy.  At
 * the end, the step sees a short window (eof) and the result is worked out
 * from what was read and the total size.
 *
 * Runs on the feeding thread; owns nothing but the caller's struct.
 */
#include <math.h>
#include <string.h>

#include "meter/audio.h"

enum au_outcome {
	AU_GIVEN_UP = -1,
	AU_READING = 0,
	AU_HEADER = 1, /* header read; the result waits for the total */
	AU_KNOWN = 2,
};

enum au_phase {
	P_DETECT,
	P_AFTER_ID3,
	P_WAV_CHUNK,
	P_MP3_SYNC,
	P_MP3_FRAME,
	P_FLAC_INFO,
	P_MP4_BOX,
	P_MP4_MVHD,
	P_EBML,
	P_OGG_PAGE,
	P_OGG_SEGS,
};

/* WAV flags */
#define W_FMT 1
#define W_DATA 2
#define W_DS64 4
#define W_FACT 8
/* MP4 / WebM flags */
#define C_INSIDE 1 /* inside moov, or inside the WebM Info element */
#define C_DURATION 2
/* Ogg flags */
#define O_FIRST 1 /* the first page was read */
#define O_OPUS 2
#define O_GRANULE 4

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

void
meter_audio_init(struct meter_audio *a)
{
	memset(a, 0, sizeof(*a));
	a->want = 12; /* P_DETECT */
}

static void
au_give_up(struct meter_audio *a)
{
	a->outcome = AU_GIVEN_UP;
}

/* Asks for len bytes at stream offset off (never behind the window). */
static void
au_look(struct meter_audio *a, uint64_t off, size_t len, int phase)
{
	if (off < a->at) {
		au_give_up(a);
		return;
	}
	if (off <= a->at + a->have) {
		size_t skip = (size_t)(off - a->at);

		memmove(a->win, a->win + skip, a->have - skip);
		a->have -= skip;
	} else {
		a->have = 0;
	}
	a->at = off;
	a->want = len < METER_AUDIO_WINDOW ? len : METER_AUDIO_WINDOW;
	a->phase = phase;
}

/* --- WAV / RF64 (RIFF chunks; EBU Tech 3306 for ds64) ------------------ */

static void
au_wav_chunk(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win;
	uint32_t size;

	if (a->have < 8) {
		a->outcome = (a->flag & (W_FMT | W_DATA)) == (W_FMT | W_DATA)
		                 ? AU_HEADER
		                 : AU_GIVEN_UP;
		return;
	}
	size = le32(w + 4);
	if (memcmp(w, "fmt ", 4) == 0) {
		if (size < 16 || a->have < 24)
			goto give_up;
		a->codec = le16(w + 8);
		a->rate = le32(w + 12);
		a->byte_rate = le32(w + 16);
		a->block_align = le16(w + 20);
		/* WAVE_FORMAT_EXTENSIBLE: the codec is the SubFormat GUID's
		 * first two bytes */
		if (a->codec == 0xFFFE && size >= 40 && a->have >= 8 + 26)
			a->codec = le16(w + 8 + 24);
		a->flag |= W_FMT;
		if (a->flag & W_DATA) { /* data came first */
			a->outcome = AU_HEADER;
			return;
		}
	} else if (memcmp(w, "fact", 4) == 0) {
		/* samples per channel, for codecs without a fixed byte rate */
		if (size >= 4 && a->have >= 12) {
			a->samples = le32(w + 8);
			a->flag |= W_FACT;
		}
	} else if (memcmp(w, "ds64", 4) == 0) {
		if (size < 24 || a->have < 32)
			goto give_up;
		a->scale = le64(w + 16); /* 64-bit data size */
		a->flag |= W_DS64;
	} else if (memcmp(w, "data", 4) == 0) {
		a->a = a->at + 8;
		a->b = size;
		a->flag |= W_DATA;
		if (a->flag & W_FMT) {
			a->outcome = AU_HEADER;
			return;
		}
		if (size == 0 || size == 0xFFFFFFFFu)
			goto give_up; /* streamed data before fmt: no end */
	}
	(void)eof;
	/* RIFF chunks are padded to an even size */
	au_look(a, a->at + 8 + (uint64_t)size + (size & 1), 8 + 40,
	        P_WAV_CHUNK);
	return;
give_up:
	au_give_up(a);
}

/* Codecs whose byte rate is rate x block_align: PCM, IEEE float, A-law,
 * mu-law (RFC 2361 registry). */
static int
au_wav_linear(uint32_t codec)
{
	return codec == 1 || codec == 3 || codec == 6 || codec == 7;
}

static void
au_wav_result(struct meter_audio *a)
{
	uint64_t size = a->b, avail;

	if (a->rate == 0 || a->byte_rate == 0 || a->block_align == 0)
		return;
	if (au_wav_linear(a->codec) &&
	    a->byte_rate != (uint64_t)a->rate * a->block_align)
		return; /* a header that lies */
	if (size == 0xFFFFFFFFu && (a->flag & W_DS64))
		size = a->scale;
	if (a->total < a->a)
		return;
	avail = a->total - a->a;
	if (size == 0 || size == 0xFFFFFFFFu) {
		size = avail; /* streamed WAV: the data runs to the end */
	} else if (size > avail) {
		size = avail; /* cut short: what arrived is what plays */
		a->estimated = 1;
	}
	if (!au_wav_linear(a->codec)) {
		/* ADPCM, GSM, ...: the fact chunk counts the samples; without
		 * it the declared average byte rate is a guess */
		if ((a->flag & W_FACT) && a->samples > 0 && !a->estimated) {
			a->seconds = (double)a->samples / a->rate;
			a->outcome = AU_KNOWN;
			return;
		}
		a->estimated = 1;
	}
	a->seconds = (double)size / a->byte_rate;
	a->outcome = AU_KNOWN;
}

/* --- MP3 (ISO 11172-3 / 13818-3 Layer III frame headers) -------------- */

struct au_mp3 {
	int lsf; /* MPEG-2 or 2.5: half the samples per frame */
	int mono;
	int crc;       /* a 16-bit CRC follows the header */
	uint32_t rate; /* Hz */
	uint32_t kbps;
	uint32_t len; /* frame bytes */
	uint32_t key; /* version, layer and rate bits, equal in all frames */
};

static int
au_mp3_header(const unsigned char *h, struct au_mp3 *f)
{
	static const uint16_t kbps1[16] = {0,   32,  40,  48,  56,  64,
	                                   80,  96,  112, 128, 160, 192,
	                                   224, 256, 320, 0};
	static const uint16_t kbps2[16] = {0,  8,  16, 24,  32,  40,  48,  56,
	                                   64, 80, 96, 112, 128, 144, 160, 0};
	static const uint32_t rates[3] = {44100, 48000, 32000};
	uint32_t v = be32(h);
	unsigned ver = v >> 19 & 3, layer = v >> 17 & 3, bri = v >> 12 & 15;
	unsigned sri = v >> 10 & 3;

	if ((v & 0xFFE00000u) != 0xFFE00000u || ver == 1 || layer != 1 ||
	    bri == 0 || bri == 15 || sri == 3)
		return -1; /* Layer III only; free format has no size */
	f->lsf = ver != 3;
	f->rate = rates[sri] >> (ver == 3 ? 0 : ver == 2 ? 1 : 2);
	f->kbps = f->lsf ? kbps2[bri] : kbps1[bri];
	f->crc = !(v >> 16 & 1);
	f->mono = (v >> 6 & 3) == 3;
	f->len = (f->lsf ? 72 : 144) * f->kbps * 1000 / f->rate + (v >> 9 & 1);
	f->key = v & 0xFFFE0C00u;
	return 0;
}

/*
 * The LAME tag after a Xing/Info header x of flags `flags` (LAME's
 * "Mp3 Info Tag rev 1", also written by FFmpeg as "Lavf"/"Lavc"): the
 * encoder delay and the padding, 12 bits each, 21 bytes into it.  They are
 * the samples a gapless decoder drops; 0 when there is no such tag.
 */
static uint32_t
au_mp3_lame_skip(const unsigned char *w, size_t at, size_t end, uint32_t flags)
{
	const unsigned char *t;
	uint32_t v;

	at += 8 + (flags & 1 ? 4 : 0) + (flags & 2 ? 4 : 0) +
	      (flags & 4 ? 100 : 0) + (flags & 8 ? 4 : 0);
	if (at + 24 > end)
		return 0;
	t = w + at;
	if (memcmp(t, "LAME", 4) != 0 && memcmp(t, "Lavf", 4) != 0 &&
	    memcmp(t, "Lavc", 4) != 0)
		return 0;
	v = (uint32_t)t[21] << 16 | (uint32_t)t[22] << 8 | t[23];
	return (v >> 12) + (v & 0xfff);
}

/* Xing/Info (LAME) or VBRI (Fraunhofer) in the first frame: the frames
 * (0 when neither says), and in *skip the LAME delay and padding. */
static uint32_t
au_mp3_vbr_frames(const unsigned char *w, size_t have, const struct au_mp3 *f,
                  uint32_t *skip)
{
	size_t side = f->lsf ? (f->mono ? 9 : 17) : (f->mono ? 17 : 32);
	size_t offs[2] = {4 + side, 4 + side + 2}, i;
	size_t end = have < f->len ? have : f->len;

	*skip = 0;
	for (i = 0; i < 2; i++) {
		const unsigned char *x = w + offs[i];

		if (offs[i] + 12 > end)
			continue;
		if ((memcmp(x, "Xing", 4) == 0 || memcmp(x, "Info", 4) == 0) &&
		    (be32(x + 4) & 1)) {
			*skip = au_mp3_lame_skip(w, offs[i], end, be32(x + 4));
			return be32(x + 8);
		}
	}
	/* VBRI sits 32 bytes after the header; frames at +14 */
	if (36 + 18 <= end && memcmp(w + 36, "VBRI", 4) == 0)
		return be32(w + 36 + 14);
	return 0;
}

static void
au_mp3_sync(struct meter_audio *a, int eof)
{
	struct au_mp3 f;
	size_t i;

	for (i = 0; i + 4 <= a->have; i++) {
		if (au_mp3_header(a->win + i, &f) == 0) {
			au_look(a, a->at + i, 2048, P_MP3_FRAME);
			return;
		}
	}
	if (eof || a->have < 4) {
		au_give_up(a);
		return;
	}
	au_look(a, a->at + a->have - 3, METER_AUDIO_WINDOW, P_MP3_SYNC);
}

/* The window starts at a candidate frame; a second must follow it. */
static void
au_mp3_frame(struct meter_audio *a, int eof)
{
	struct au_mp3 f, g;

	if (a->have < 4 || au_mp3_header(a->win, &f) == -1) {
		au_give_up(a);
		return;
	}
	if (a->have >= (size_t)f.len + 4) {
		if (au_mp3_header(a->win + f.len, &g) == -1 || g.key != f.key) {
			/* a false sync: search on from the next byte */
			au_look(a, a->at + 1, METER_AUDIO_WINDOW, P_MP3_SYNC);
			return;
		}
	} else if (!eof) {
		au_give_up(a); /* cannot happen: the look covers a frame */
		return;
	}
	a->a = a->at; /* first frame */
	a->rate = f.rate;
	a->bitrate = f.kbps;
	a->spf = f.lsf ? 576 : 1152;
	a->frames = au_mp3_vbr_frames(a->win, a->have, &f, &a->skip);
	a->outcome = AU_HEADER;
}

/* Byte at stream offset k, if it is among the last METER_AUDIO_TAIL. */
static int
au_tail_byte(const struct meter_audio *a, uint64_t k)
{
	if (k >= a->off || a->off - k > METER_AUDIO_TAIL)
		return -1;
	return a->tail[k % METER_AUDIO_TAIL];
}

static void
au_mp3_result(struct meter_audio *a)
{
	uint64_t end = a->total;

	if (a->rate == 0 || a->bitrate == 0)
		return;
	if (a->frames > 0) {
		/* the frames after the tag frame; a gapless decoder drops the
		 * LAME delay and padding, so they are not billed either */
		uint64_t samples = (uint64_t)a->frames * a->spf;

		if (a->skip < samples)
			samples -= a->skip;
		a->seconds = (double)samples / a->rate;
		a->outcome = AU_KNOWN;
		return;
	}
	/*
	 * CBR from the size: standard, but a guess: nothing says every frame
	 * has the first one's bitrate, and trailing tags (APE, Lyrics3) or
	 * junk count as audio.  An ID3v1 tag (last 128 bytes) is taken off.
	 */
	if (end >= a->a + 128 && end == a->off &&
	    au_tail_byte(a, end - 128) == 'T' &&
	    au_tail_byte(a, end - 127) == 'A' &&
	    au_tail_byte(a, end - 126) == 'G')
		end -= 128;
	if (end < a->a)
		return;
	a->seconds = (double)(end - a->a) * 8 / ((double)a->bitrate * 1000);
	a->estimated = 1;
	a->outcome = AU_KNOWN;
}

/* --- FLAC (STREAMINFO, the mandatory first metadata block) ------------ */

static void
au_flac_info(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win, *si = w + 4;

	(void)eof;
	if (a->have < 4 + 34 || (w[0] & 0x7f) != 0 ||
	    ((uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3]) < 34) {
		au_give_up(a);
		return;
	}
	/* 20 bits sample rate, 3 channels, 5 bits/sample, 36 total samples */
	a->rate = (uint32_t)si[10] << 12 | (uint32_t)si[11] << 4 | si[12] >> 4;
	a->b = (uint64_t)(si[13] & 0x0f) << 32 | be32(si + 14);
	a->outcome = AU_HEADER;
}

static void
au_flac_result(struct meter_audio *a)
{
	if (a->rate == 0 || a->b == 0) /* 0 samples: "unknown" (streamed) */
		return;
	a->seconds = (double)a->b / a->rate;
	a->outcome = AU_KNOWN;
}

/* --- MP4 / M4A (ISO 14496-12 boxes: moov / mvhd) ---------------------- */

static void
au_mp4_box(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win;
	uint64_t size, hdr = 8, next;

	(void)eof;
	if (a->have < 8 || a->at >= a->limit)
		goto give_up; /* the file or moov ended without an mvhd */
	size = be32(w);
	if (size == 1) {
		if (a->have < 16)
			goto give_up;
		size = be64(w + 8);
		hdr = 16;
	} else if (size == 0) {
		size = UINT64_MAX - a->at; /* runs to the end of the file */
	}
	if (size < hdr)
		goto give_up;
	if (memcmp(w + 4, "moov", 4) == 0 && !(a->flag & C_INSIDE)) {
		a->flag |= C_INSIDE;
		a->limit = a->at + size;
		au_look(a, a->at + hdr, 16, P_MP4_BOX);
		return;
	}
	if (memcmp(w + 4, "mvhd", 4) == 0 && (a->flag & C_INSIDE)) {
		au_look(a, a->at + hdr, 32, P_MP4_MVHD);
		return;
	}
	next = a->at + size;
	if (next < a->at)
		goto give_up;
	au_look(a, next, 16, P_MP4_BOX);
	return;
give_up:
	au_give_up(a);
}

static void
au_mp4_mvhd(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win;

	(void)eof;
	if (a->have >= 20 && w[0] == 0) {
		a->rate = be32(w + 12); /* timescale: units per second */
		a->b = be32(w + 16);
		if (a->b == 0xFFFFFFFFu)
			a->b = 0; /* "unknown" */
	} else if (a->have >= 32 && w[0] == 1) {
		a->rate = be32(w + 20);
		a->b = be64(w + 24);
		if (a->b == UINT64_MAX)
			a->b = 0;
	} else {
		au_give_up(a);
		return;
	}
	a->outcome = AU_HEADER;
}

/*
 * mvhd: the movie's length as the muxer wrote it.  Best effort, so
 * estimated: it counts the AAC encoder's priming samples (an edit list,
 * not read here, may trim them) and no real muxer checked it here.
 */
static void
au_mp4_result(struct meter_audio *a)
{
	if (a->rate == 0 || a->b == 0)
		return;
	a->seconds = (double)a->b / a->rate;
	a->estimated = 1;
	a->outcome = AU_KNOWN;
}

/* --- WebM / Matroska (EBML: Segment / Info / Duration) ---------------- */

#define EBML_HEADER 0x1A45DFA3u
#define EBML_SEGMENT 0x18538067u
#define EBML_INFO 0x1549A966u
#define EBML_CLUSTER 0x1F43B675u
#define EBML_TIMECODE_SCALE 0x2AD7B1u
#define EBML_DURATION 0x4489u

/* A variable-size integer; -1 when malformed.  keep_marker for IDs. */
static int
au_vint(const unsigned char *p, size_t have, int max, int keep_marker,
        uint64_t *v, int *unknown)
{
	int len = 1, i;
	uint64_t mask;

	if (have < 1)
		return -1;
	while (len <= max && !(p[0] & (0x80 >> (len - 1))))
		len++;
	if (len > max || (size_t)len > have)
		return -1;
	mask = keep_marker ? 0xff : (0xffu >> len);
	*v = p[0] & mask;
	for (i = 1; i < len; i++)
		*v = *v << 8 | p[i];
	if (unknown != NULL)
		*unknown = *v == (((uint64_t)1 << (7 * len)) - 1);
	return len;
}

static void
au_ebml_value(struct meter_audio *a, uint64_t id, const unsigned char *p,
              uint64_t size)
{
	uint64_t v = 0;
	uint64_t i;

	if (id == EBML_TIMECODE_SCALE && size >= 1 && size <= 8) {
		for (i = 0; i < size; i++)
			v = v << 8 | p[i];
		a->scale = v;
	} else if (id == EBML_DURATION && (size == 4 || size == 8)) {
		double d;

		if (size == 4) {
			uint32_t u = be32(p);
			float fl;

			memcpy(&fl, &u, sizeof(fl));
			d = fl;
		} else {
			v = be64(p);
			memcpy(&d, &v, sizeof(d));
		}
		if (isfinite(d) && d > 0) {
			a->seconds = d;
			a->flag |= C_DURATION;
		}
	}
}

static void
au_ebml(struct meter_audio *a, int eof)
{
	uint64_t id, size;
	int il, sl, unknown;

	(void)eof;
	if ((a->flag & C_INSIDE) && a->at >= a->limit) {
		/* the Info element is over */
		a->outcome = (a->flag & C_DURATION) ? AU_HEADER : AU_GIVEN_UP;
		return;
	}
	il = au_vint(a->win, a->have, 4, 1, &id, NULL);
	sl = il == -1 ? -1
	              : au_vint(a->win + il, a->have - (size_t)il, 8, 0, &size,
	                        &unknown);
	if (sl == -1 || id == EBML_CLUSTER)
		goto give_up;
	if (id == EBML_SEGMENT) {
		au_look(a, a->at + (uint64_t)(il + sl), 24, P_EBML);
		return;
	}
	if (unknown)
		goto give_up;
	if (id == EBML_INFO) {
		a->flag |= C_INSIDE;
		a->limit = a->at + (uint64_t)(il + sl) + size;
		au_look(a, a->at + (uint64_t)(il + sl), 24, P_EBML);
		return;
	}
	if ((a->flag & C_INSIDE) && size <= 8) {
		if ((uint64_t)(il + sl) + size > a->have)
			goto give_up;
		au_ebml_value(a, id, a->win + il + sl, size);
	}
	if (a->at + (uint64_t)(il + sl) + size < a->at)
		goto give_up;
	au_look(a, a->at + (uint64_t)(il + sl) + size, 24, P_EBML);
	return;
give_up:
	/* a Duration once read stands, whatever follows it */
	a->outcome = (a->flag & C_DURATION) ? AU_HEADER : AU_GIVEN_UP;
}

/* Duration is a float the muxer wrote (often rounded to the tick, absent
 * from MediaRecorder files): best effort, so estimated. */
static void
au_webm_result(struct meter_audio *a)
{
	uint64_t scale = a->scale ? a->scale : 1000000; /* ns per tick */

	a->seconds = a->seconds * (double)scale / 1e9;
	a->estimated = 1;
	a->outcome = AU_KNOWN;
}

/* --- Ogg (RFC 3533 pages; Vorbis I, RFC 7845 Opus) --------------------- */

static void
au_ogg_page(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win;
	uint32_t serial;
	uint64_t granule;

	if (a->have < 27) {
		/* the end: the last granule of our stream is the length */
		a->outcome = (a->flag & O_GRANULE) ? AU_HEADER : AU_GIVEN_UP;
		return;
	}
	if (memcmp(w, "OggS", 4) != 0 || w[4] != 0)
		goto give_up;
	granule = le64(w + 6);
	serial = le32(w + 14);
	if (!(a->flag & O_FIRST)) {
		if (!(w[5] & 2))
			goto give_up; /* the first page must open a stream */
		a->serial = serial;
	} else if (serial == a->serial && granule != UINT64_MAX) {
		a->b = granule;
		a->flag |= O_GRANULE;
	}
	/* segment table, plus the identification header on the first page */
	au_look(a, a->at + 27, (size_t)w[26] + (a->flag & O_FIRST ? 0 : 19),
	        P_OGG_SEGS);
	(void)eof;
	return;
give_up:
	au_give_up(a);
}

static void
au_ogg_segs(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win;
	size_t nsegs, i;
	uint64_t body = 0;

	(void)eof;
	nsegs = a->want - (a->flag & O_FIRST ? 0 : 19);
	if (a->have < a->want)
		goto give_up;
	for (i = 0; i < nsegs; i++)
		body += w[i];
	if (!(a->flag & O_FIRST)) {
		const unsigned char *id = w + nsegs;

		if (memcmp(id, "\x01vorbis", 7) == 0) {
			a->rate = le32(id + 12);
		} else if (memcmp(id, "OpusHead", 8) == 0) {
			a->rate = 48000; /* Opus granules count 48 kHz */
			a->frames = le16(id + 10); /* pre-skip */
			a->flag |= O_OPUS;
		} else {
			goto give_up;
		}
		a->flag |= O_FIRST;
	}
	au_look(a, a->at + nsegs + body, 27, P_OGG_PAGE);
	return;
give_up:
	au_give_up(a);
}

static void
au_ogg_result(struct meter_audio *a)
{
	uint64_t samples = a->b;

	if (a->flag & O_OPUS)
		samples = samples > a->frames ? samples - a->frames : 0;
	if (a->rate == 0 || samples == 0)
		return;
	a->seconds = (double)samples / a->rate;
	a->outcome = AU_KNOWN;
}

/* --- detection --------------------------------------------------------- */

static void
au_detect_at(struct meter_audio *a, const unsigned char *w, size_t have,
             uint64_t base)
{
	struct au_mp3 f;

	if (have >= 4 && memcmp(w, "fLaC", 4) == 0) {
		a->format = METER_AUDIO_FLAC;
		au_look(a, base + 4, 4 + 34, P_FLAC_INFO);
	} else if (have >= 4 && au_mp3_header(w, &f) == 0) {
		a->format = METER_AUDIO_MP3;
		au_look(a, base, 2048, P_MP3_FRAME);
	} else {
		au_give_up(a);
	}
}

static void
au_detect(struct meter_audio *a, int eof)
{
	const unsigned char *w = a->win;

	(void)eof;
	if (a->have < 12) {
		au_give_up(a);
	} else if ((memcmp(w, "RIFF", 4) == 0 || memcmp(w, "RF64", 4) == 0) &&
	           memcmp(w + 8, "WAVE", 4) == 0) {
		a->format = METER_AUDIO_WAV;
		au_look(a, 12, 8 + 40, P_WAV_CHUNK);
	} else if (memcmp(w + 4, "ftyp", 4) == 0) {
		a->format = METER_AUDIO_MP4;
		a->limit = UINT64_MAX;
		au_look(a, 0, 16, P_MP4_BOX);
	} else if (be32(w) == EBML_HEADER) {
		a->format = METER_AUDIO_WEBM;
		au_look(a, 0, 24, P_EBML);
	} else if (memcmp(w, "OggS", 4) == 0) {
		a->format = METER_AUDIO_OGG;
		au_look(a, 0, 27, P_OGG_PAGE);
	} else if (memcmp(w, "ID3", 3) == 0) {
		/* ID3v2: 10-byte header, syncsafe size, optional footer */
		uint64_t size = 0;
		int i;

		for (i = 6; i < 10; i++) {
			if (w[i] & 0x80) {
				au_give_up(a);
				return;
			}
			size = size << 7 | w[i];
		}
		size += 10 + ((w[5] & 0x10) ? 10 : 0);
		au_look(a, size, METER_AUDIO_WINDOW, P_AFTER_ID3);
	} else if (w[0] == 0 && w[1] == 0 && w[2] == 0) {
		/* zero bytes before the first MPEG frame (stream captures,
		 * some rippers): search on, as after an ID3v2 tag; the search
		 * wants a second frame to confirm the first */
		au_look(a, 0, METER_AUDIO_WINDOW, P_AFTER_ID3);
	} else {
		au_detect_at(a, w, a->have, 0);
	}
}

static void
au_after_id3(struct meter_audio *a, int eof)
{
	if (a->have >= 4 && memcmp(a->win, "fLaC", 4) == 0) {
		au_detect_at(a, a->win, a->have, a->at);
		return;
	}
	a->format = METER_AUDIO_MP3; /* padding or junk may come first */
	au_mp3_sync(a, eof);
}

/*
 * Whether the caps apply.  The Ogg length is the last page's granule, so
 * every page is visited: a page header and its segment table are at most
 * 282 bytes per page, each look moves at least 27 bytes on, so the work
 * stays linear in the file and a long recording must not hit the caps.
 */
static int
au_capped(const struct meter_audio *a)
{
	return !(a->format == METER_AUDIO_OGG && (a->flag & O_FIRST));
}

static void
au_step(struct meter_audio *a, int eof)
{
	static void (*const steps[])(struct meter_audio *, int) = {
	    [P_DETECT] = au_detect,       [P_AFTER_ID3] = au_after_id3,
	    [P_WAV_CHUNK] = au_wav_chunk, [P_MP3_SYNC] = au_mp3_sync,
	    [P_MP3_FRAME] = au_mp3_frame, [P_FLAC_INFO] = au_flac_info,
	    [P_MP4_BOX] = au_mp4_box,     [P_MP4_MVHD] = au_mp4_mvhd,
	    [P_EBML] = au_ebml,           [P_OGG_PAGE] = au_ogg_page,
	    [P_OGG_SEGS] = au_ogg_segs,
	};

	if (au_capped(a) && ++a->steps > METER_AUDIO_MAX_STEPS) {
		au_give_up(a);
		return;
	}
	steps[a->phase](a, eof);
}

/* Keeps the last METER_AUDIO_TAIL bytes, indexed by stream offset. */
static void
au_tail(struct meter_audio *a, const unsigned char *p, size_t n)
{
	size_t from = n > METER_AUDIO_TAIL ? n - METER_AUDIO_TAIL : 0, i;

	for (i = from; i < n; i++)
		a->tail[(a->off + i) % METER_AUDIO_TAIL] = p[i];
}

void
meter_audio_feed(struct meter_audio *a, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;

	au_tail(a, u, n);
	while (n > 0 && a->outcome == AU_READING) {
		size_t take;

		if (a->have >= a->want) {
			au_step(a, 0);
			continue;
		}
		if (a->off < a->at) {
			take =
			    a->at - a->off < n ? (size_t)(a->at - a->off) : n;
		} else {
			take = a->want - a->have < n ? a->want - a->have : n;
			if (au_capped(a) &&
			    a->copied + take > METER_AUDIO_MAX_SNIFF) {
				au_give_up(a);
				break;
			}
			memcpy(a->win + a->have, u, take);
			a->have += take;
			a->copied += take;
		}
		a->off += take;
		u += take;
		n -= take;
	}
	a->off += n;
}

/*
 * A header that claims more time than the file could hold at
 * METER_AUDIO_MIN_BITRATE lies (a 1 kB upload "of 10^19 seconds" must not
 * be billed): unknown.  So is a length that is not a finite number.
 */
static void
au_plausible(struct meter_audio *a)
{
	double most = (double)a->total * 8 / METER_AUDIO_MIN_BITRATE;

	if (a->outcome == AU_KNOWN &&
	    (!isfinite(a->seconds) || a->seconds < 0 || a->seconds > most)) {
		a->outcome = AU_GIVEN_UP;
		a->seconds = 0;
		a->estimated = 0;
	}
}

void
meter_audio_end(struct meter_audio *a, uint64_t total_bytes)
{
	if (a->ended)
		return;
	a->ended = 1;
	a->total = total_bytes;
	/* the looks left see a short window: the file is over */
	while (a->outcome == AU_READING)
		au_step(a, a->have < a->want);
	if (a->outcome != AU_HEADER)
		return;
	a->outcome = AU_GIVEN_UP; /* unless a result below says otherwise */
	switch (a->format) {
	case METER_AUDIO_WAV:
		au_wav_result(a);
		break;
	case METER_AUDIO_MP3:
		au_mp3_result(a);
		break;
	case METER_AUDIO_FLAC:
		au_flac_result(a);
		break;
	case METER_AUDIO_MP4:
		au_mp4_result(a);
		break;
	case METER_AUDIO_WEBM:
		au_webm_result(a);
		break;
	case METER_AUDIO_OGG:
		au_ogg_result(a);
		break;
	case METER_AUDIO_UNKNOWN:
		break;
	}
	au_plausible(a);
}

int
meter_audio_duration(const struct meter_audio *a, double *seconds,
                     int *estimated)
{
	if (a->outcome != AU_KNOWN)
		return -1;
	*seconds = a->seconds;
	*estimated = a->estimated;
	return 0;
}

enum meter_audio_format
meter_audio_format(const struct meter_audio *a)
{
	return a->format;
}

const char *
meter_audio_format_name(enum meter_audio_format f)
{
	static const char *const names[] = {
	    [METER_AUDIO_UNKNOWN] = "unknown", [METER_AUDIO_WAV] = "wav",
	    [METER_AUDIO_MP3] = "mp3",         [METER_AUDIO_FLAC] = "flac",
	    [METER_AUDIO_MP4] = "mp4",         [METER_AUDIO_WEBM] = "webm",
	    [METER_AUDIO_OGG] = "ogg",
	};

	if ((unsigned)f >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[f];
}
