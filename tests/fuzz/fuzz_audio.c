/*
 * tests/fuzz/fuzz_audio.c — meter/audio: any file, fed whole, split at a
 * data-chosen offset and in data-chosen chunks, must give the same format,
 * duration and estimated flag; a duration is finite and not negative.
 *
 * Input: byte 0 picks the split, byte 1 the chunk size; the rest is the
 * file.  Short containers are built around the data when byte 1 asks, so
 * the fuzzer reaches the format walkers without learning the magic.
 */
#include <math.h>
#include <string.h>

#include "meter/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct res {
	enum meter_audio_format format;
	int rc, estimated;
	double seconds;
};

static void
run(const unsigned char *p, size_t n, size_t cut, size_t chunk, struct res *r)
{
	static struct meter_audio a; /* 4 kB window: not on the stack */
	size_t off;

	meter_audio_init(&a);
	meter_audio_feed(&a, (const char *)p, cut);
	for (off = cut; off < n; off += chunk)
		meter_audio_feed(&a, (const char *)p + off,
		                 n - off < chunk ? n - off : chunk);
	meter_audio_end(&a, n);
	meter_audio_end(&a, n); /* a second end changes nothing */
	memset(r, 0, sizeof(*r));
	r->format = meter_audio_format(&a);
	r->rc = meter_audio_duration(&a, &r->seconds, &r->estimated);
	if (r->rc == 0 && (!isfinite(r->seconds) || r->seconds < 0 ||
	                   (r->estimated != 0 && r->estimated != 1)))
		__builtin_trap();
}

static void
same(const struct res *a, const struct res *b)
{
	if (a->format != b->format || a->rc != b->rc ||
	    (a->rc == 0 &&
	     (memcmp(&a->seconds, &b->seconds, sizeof(a->seconds)) != 0 ||
	      a->estimated != b->estimated)))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const magic[] = {
	    "",
	    "RIFF\x24\x00\x00\x00WAVE",
	    "fLaC",
	    "OggS",
	    "\x00\x00\x00\x10"
	    "ftypM4A ",
	    "ID3\x03\x00\x00\x00\x00\x00\x00",
	    "\x1a\x45\xdf\xa3",
	};
	static unsigned char buf[8192];
	struct res whole, split, chunked;
	const unsigned char *p;
	size_t n, cut, chunk, m;

	if (size < 2 || size - 2 > sizeof(buf) - 32)
		return 0;
	chunk = (size_t)(data[1] >> 3) % 13 + 1;
	m = data[1] & 7;
	if (m >= sizeof(magic) / sizeof(magic[0]))
		m = 0;
	/* "ftyp" and the others are short strings with NULs: sizes by hand */
	{
		static const size_t mlen[] = {0, 12, 4, 4, 12, 10, 4};

		memcpy(buf, magic[m], mlen[m]);
		memcpy(buf + mlen[m], data + 2, size - 2);
		n = mlen[m] + size - 2;
	}
	p = buf;
	cut = n > 0 ? (size_t)data[0] * 257 % (n + 1) : 0;
	run(p, n, n, n, &whole);
	run(p, n, cut, n > 0 ? n : 1, &split);
	same(&whole, &split);
	run(p, n, 0, chunk, &chunked);
	same(&whole, &chunked);
	return 0;
}
