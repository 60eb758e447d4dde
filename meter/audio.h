/*
 * meter/audio.h — audio duration from a container header, read as the file
 * streams past.
 *
 * whisper-1 transcriptions and translations are billed by audio seconds, and
 * most answers (text, srt, vtt; every translation but verbose_json) do not
 * say how long the audio was, so the meter reads it from the upload itself.
 * Feed the file bytes in any split, then call meter_audio_end with the
 * total.  The reader walks the container's structure by skipping: it copies
 * at most METER_AUDIO_WINDOW bytes at a time and METER_AUDIO_MAX_SNIFF bytes
 * in all; everything else is only counted.  Memory is this struct.
 *
 * What is exact and what is estimated (meter_audio_duration's flag):
 *
 *   WAV / RF64  PCM, IEEE float, A-law, mu-law (also as EXTENSIBLE): data
 *               bytes / byte rate, exact (the byte rate must be rate x
 *               block size, or the header lies: unknown).  ADPCM, GSM and
 *               other codecs: the fact chunk's samples / rate, exact;
 *               without fact, data / the declared average byte rate,
 *               estimated.  Data cut short: what arrived, estimated.
 *   MP3         Xing/Info with a LAME tag (lame, FFmpeg): frames x samples
 *               per frame, minus the tag's encoder delay and padding, /
 *               rate: exact to the sample, what a gapless decoder plays.
 *               Xing/Info or VBRI without it: frames x samples per frame /
 *               rate, the same up to the encoder delay and padding it
 *               leaves in (at most 1105 samples + one frame: 0.05 s at
 *               44.1 kHz, 0.11 s at 16 kHz), not flagged.  No tag (lame -t,
 * many CBR writers): audio bytes (ID3v2 and ID3v1 left out) x 8 / the first
 *               frame's bitrate, estimated; for CBR it is long by the same
 *               delay and padding, for VBR without a tag it is a guess.
 *   FLAC        STREAMINFO total samples / sample rate, exact (0 samples,
 *               "unknown" in the format: unknown).  An ID3v2 tag before
 *               "fLaC" is skipped.
 *   Ogg         the last page's granule position of the first stream:
 *               Vorbis samples / rate, Opus (granule - pre-skip) / 48 kHz,
 *               exact.  Every page is visited (linear, not capped).
 *   MP4 / M4A   mvhd duration / timescale, estimated (includes AAC
 *               priming; edit lists are not read).
 *   WebM / MKV  Segment Info Duration x TimecodeScale, estimated (a float
 *               the muxer wrote; MediaRecorder files have none: unknown).
 *
 * Checked against real encoders (tests/unit/test_meter_audio_real.c): sox
 * WAV in 8 codecs, lame CBR/VBR/ABR with and without the tag and with ID3
 * tags, flac, oggenc.  MP4, WebM and Opus only against files built from
 * their specifications (tests/unit/test_meter_audio.c).
 *
 * Anything else, structure past the caps, or a header claiming more time
 * than the file could hold at METER_AUDIO_MIN_BITRATE: unknown.
 */
#ifndef METER_AUDIO_H
#define METER_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#define METER_AUDIO_WINDOW 4096             /* bytes copied per look */
#define METER_AUDIO_MAX_SNIFF (1024 * 1024) /* bytes copied in all */
#define METER_AUDIO_MAX_STEPS 16384         /* looks (chunks, boxes, pages) */
#define METER_AUDIO_TAIL 128                /* last bytes kept (ID3v1 tag) */
#define METER_AUDIO_MIN_BITRATE 500 /* bits/s: a longer claim is a lie */

enum meter_audio_format {
	METER_AUDIO_UNKNOWN,
	METER_AUDIO_WAV,
	METER_AUDIO_MP3,
	METER_AUDIO_FLAC,
	METER_AUDIO_MP4,
	METER_AUDIO_WEBM,
	METER_AUDIO_OGG,
};

/*
 * Plain state so a request can embed it; the fields are private to
 * meter/audio.c.  Initialise with meter_audio_init; nothing to free.
 */
struct meter_audio {
	enum meter_audio_format format;
	int phase;       /* what the next look is for */
	int outcome;     /* 0 reading, 1 done, -1 given up */
	int ended;       /* meter_audio_end was called */
	uint64_t off;    /* bytes fed */
	uint64_t total;  /* from meter_audio_end */
	uint64_t at;     /* stream offset of win[0] */
	size_t want;     /* bytes wanted at `at` */
	size_t have;     /* bytes of win filled */
	uint64_t copied; /* bytes copied into win in all */
	unsigned steps;
	unsigned char win[METER_AUDIO_WINDOW];
	unsigned char tail[METER_AUDIO_TAIL]; /* ring of the last bytes */
	/* what was learned */
	uint64_t limit; /* end of the container being walked */
	uint64_t a, b;  /* format data (WAV: data offset and size, ...) */
	uint32_t rate, byte_rate, block_align;
	uint32_t frames; /* MP3: Xing/VBRI frame count */
	uint32_t bitrate, spf;
	uint64_t scale; /* WebM TimecodeScale */
	uint32_t serial;
	uint32_t codec;   /* WAV format tag */
	uint64_t samples; /* WAV fact sample count */
	uint32_t skip;    /* MP3: LAME encoder delay + padding, samples */
	int flag;         /* format-specific */
	double seconds;
	int estimated;
};

void meter_audio_init(struct meter_audio *a);

/* The next n bytes of the file. */
void meter_audio_feed(struct meter_audio *a, const char *p, size_t n);

/* End of the file; total_bytes is its size (the bytes fed, normally: it
 * bounds what a header may claim).  A second call does nothing. */
void meter_audio_end(struct meter_audio *a, uint64_t total_bytes);

/*
 * After meter_audio_end: 0 with *seconds and *estimated (1 when derived
 * from a bitrate, from fewer bytes than the header declared, or from an
 * MP4 or WebM header; see the table above), or -1 when the duration is
 * unknown (outputs untouched).
 */
int meter_audio_duration(const struct meter_audio *a, double *seconds,
                         int *estimated);

/* The container recognised ("wav", "mp3", ... or "unknown"). */
enum meter_audio_format meter_audio_format(const struct meter_audio *a);
const char *meter_audio_format_name(enum meter_audio_format f);

#endif
