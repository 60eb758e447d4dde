/*
 * tests/unit/test_meter_multipart.c — meter/multipart.c, the streaming
 * multipart/form-data reader.
 *
 * Every vector is fed whole, split at every offset and byte by byte
 * (STYLE.md §23); a summary of the result (return codes, error, parts, kept
 * fields, file name / type / bytes and the file bytes handed to the
 * callback, escaped) must be the same for every split.  Covers a body
 * opening with its boundary or with a preamble, transport padding, the
 * epilogue, quoted and token parameters, header names in any case, folded
 * headers, repeated and over-long fields, a second file part, boundary-like
 * text inside the file that is not a delimiter, and malformed bodies: no
 * closing delimiter, headers too long, too many parts, CR without LF, LF
 * without CR, text after a delimiter.  Content-Type values with good and
 * bad boundaries are checked on their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/multipart.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

#define CT "multipart/form-data; boundary=XyZ"

struct mrec {
	const char *ct;
	const char *names; /* for meter_multipart_set_file_names, or NULL */
	struct meter_multipart *mp;
	struct sbuf file; /* bytes handed to on_file */
	int rc;           /* -1 once any feed failed */
	const char *want;
};

static void
on_file(void *arg, const char *p, size_t n)
{
	struct mrec *r = arg;

	if (n == 0)
		harness_fail(__FILE__, __LINE__, "on_file with 0 bytes");
	sb_add(&r->file, p, n);
}

static void
mrec_reset(void *arg)
{
	struct mrec *r = arg;
	const char *err = NULL;

	meter_multipart_free(r->mp);
	r->mp = meter_multipart_new(r->ct, on_file, r, &err);
	if (r->mp == NULL)
		abort();
	if (r->names != NULL &&
	    meter_multipart_set_file_names(r->mp, r->names) == -1)
		abort();
	sb_clear(&r->file);
	r->rc = 0;
}

static void
mrec_feed(void *arg, const char *p, size_t n)
{
	struct mrec *r = arg;

	if (meter_multipart_feed(r->mp, p, n) == -1)
		r->rc = -1;
}

static void
escape(struct sbuf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			sb_add(b, "\\r", 2);
		else if (c == '\n')
			sb_add(b, "\\n", 2);
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			sb_printf(b, "\\x%02x", c);
		else
			sb_add(b, s + i, 1);
	}
}

static void
field(struct sbuf *b, struct meter_multipart *mp, const char *name)
{
	int cut = 0;
	unsigned count = 0;
	const char *v = meter_multipart_field_ex(mp, name, &cut, &count);

	if (v == NULL)
		return;
	sb_printf(b, " %s=[", name);
	escape(b, v, strlen(v));
	sb_printf(b, "]%s", cut ? "cut" : "");
	if (count > 1)
		sb_printf(b, "x%u", count);
}

/* The summary that every split must reproduce. */
static void
summary(struct mrec *r, struct sbuf *b)
{
	struct meter_multipart *mp = r->mp;
	int end = meter_multipart_end(mp);
	const char *err = meter_multipart_error(mp);

	sb_printf(b, "rc=%d end=%d", r->rc, end);
	if (err != NULL)
		sb_printf(b, " err=%s", err);
	sb_printf(b, " parts=%u done=%d", meter_multipart_parts(mp),
	          meter_multipart_done(mp));
	field(b, mp, "model");
	field(b, mp, "response_format");
	field(b, mp, "stream");
	field(b, mp, "timestamp_granularities[]");
	field(b, mp, "n");
	field(b, mp, "size");
	field(b, mp, "quality");
	if (meter_multipart_field(mp, "prompt") != NULL)
		sb_printf(b, " PROMPT KEPT");
	if (meter_multipart_field_count(mp, "prompt") > 0)
		sb_printf(b, " prompt=%ux%llub",
		          meter_multipart_field_count(mp, "prompt"),
		          (unsigned long long)meter_multipart_field_bytes(
		              mp, "prompt"));
	if (meter_multipart_upload_parts(mp) > 0)
		sb_printf(b, " uploads=%u/%llub",
		          meter_multipart_upload_parts(mp),
		          (unsigned long long)meter_multipart_upload_bytes(mp));
	if (meter_multipart_has_file(mp)) {
		sb_printf(b, " file=[%s] type=[%s] bytes=%llu",
		          meter_multipart_file_name(mp),
		          meter_multipart_file_type(mp),
		          (unsigned long long)meter_multipart_file_bytes(mp));
		if (meter_multipart_file_parts(mp) > 1)
			sb_printf(b, " fileparts=%u",
			          meter_multipart_file_parts(mp));
		sb_add(b, " data=", 6);
		escape(b, r->file.p ? r->file.p : "", r->file.len);
	}
	if (meter_multipart_file_bytes(mp) != r->file.len)
		sb_printf(b, " MISMATCH %zu", r->file.len);
}

static void
mrec_check(void *arg, const char *run)
{
	struct mrec *r = arg;
	struct sbuf got = {0};

	summary(r, &got);
	if (strcmp(got.p, r->want) != 0)
		harness_fail(__FILE__, __LINE__, "%s:\ngot:  %s\nwant: %s", run,
		             got.p, r->want);
	free(got.p);
}

/* Whole, every split, byte by byte: all must summarise as `want`; names
 * (may be NULL) are the file part names. */
static void
run_mp_names(const char *ct, const char *names, const char *in, size_t len,
             const char *want)
{
	struct mrec r;

	memset(&r, 0, sizeof(r));
	r.ct = ct;
	r.names = names;
	r.want = want;
	mrec_reset(&r);
	mrec_feed(&r, in, len);
	mrec_check(&r, "whole");
	harness_split_runs(in, len, &r, mrec_reset, mrec_feed, mrec_check);
	meter_multipart_free(r.mp);
	free(r.file.p);
}

static void
run_mp(const char *ct, const char *in, size_t len, const char *want)
{
	run_mp_names(ct, NULL, in, len, want);
}

#define RUN(ct, lit, want) run_mp(ct, lit, sizeof(lit) - 1, want)
#define RUN_NAMES(ct, names, lit, want)                                        \
	run_mp_names(ct, names, lit, sizeof(lit) - 1, want)

/* What the OpenAI SDKs send: fields, then the file. */
TEST(meter_multipart_basic)
{
	RUN(CT,
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"model\"\r\n"
	    "\r\n"
	    "whisper-1\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"response_format\"\r\n"
	    "\r\n"
	    "verbose_json\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"prompt\"\r\n"
	    "\r\n"
	    "not kept\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"a.wav\"\r\n"
	    "Content-Type: audio/wav\r\n"
	    "\r\n"
	    "RIFF\x00\x01\r\n\r\n\r"
	    "\r\n"
	    "--XyZ--\r\n",
	    "rc=0 end=0 parts=4 done=1 model=[whisper-1] "
	    "response_format=[verbose_json] prompt=1x8b uploads=1/11b "
	    "file=[a.wav] type=[audio/wav] "
	    "bytes=11 data=RIFF\\x00\\x01\\r\\n\\r\\n\\r");
}

/* Delimiter look-alikes inside the file are file bytes. */
TEST(meter_multipart_boundary_like_data)
{
	RUN(CT,
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=file; filename=x\r\n"
	    "\r\n"
	    "--XyZ\r\n"    /* not after a CRLF of the body */
	    "\r\n--XyZa"   /* a line that merely starts with it */
	    "\r\n--XyZ-b"  /* one dash */
	    "\r\n--Xy\r\n" /* partial, then a new partial */
	    "\r\r\n-\r\n--X"
	    "\r\n--XyZ--\r\n",
	    "rc=0 end=0 parts=1 done=1 uploads=1/41b file=[x] type=[] bytes=41 "
	    "data=--XyZ\\r\\n\\r\\n--XyZa\\r\\n--XyZ-b\\r\\n--Xy\\r\\n"
	    "\\r\\r\\n-\\r\\n--X");
}

/* Preamble, transport padding, closing padding and epilogue. */
TEST(meter_multipart_preamble_epilogue)
{
	RUN(CT,
	    "This is the preamble.\r\n--XyZ\r\n--XyZ \t \r\n"
	    "content-disposition:form-data;name=model\r\n"
	    "\r\n"
	    "gpt-4o-transcribe\r\n"
	    "--XyZ--  \r\n"
	    "epilogue --XyZ\r\n garbage \r \n",
	    "rc=0 end=0 parts=1 done=1 model=[gpt-4o-transcribe]");
}

/* Header names in any case, quoted values with escapes, folding. */
TEST(meter_multipart_headers)
{
	RUN("Multipart/Form-Data ; BOUNDARY=\"a b'()+_,-./:=?\"",
	    "--a b'()+_,-./:=?\r\n"
	    "CONTENT-TYPE:  Audio/MPEG  \r\n"
	    "X-Other: ignored; name=\"model\"\r\n"
	    "Content-Disposition: form-data;\r\n"
	    "\tname=\"file\"; filename=\"my \\\"song\\\"; 1.mp3\"\r\n"
	    "\r\n"
	    "ID3"
	    "\r\n--a b'()+_,-./:=?\r\n"
	    "Content-Disposition: form-data; name=\"stream\"\r\n"
	    "\r\n"
	    "true"
	    "\r\n--a b'()+_,-./:=?--",
	    "rc=0 end=0 parts=2 done=1 stream=[true] uploads=1/3b "
	    "file=[my \"song\"; 1.mp3] type=[Audio/MPEG] bytes=3 data=ID3");
}

/* Repeated fields; a second file part; files and fields under other
 * names; a part without headers. */
TEST(meter_multipart_repeats)
{
	RUN(CT,
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
	    "whisper-1\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
	    "gpt-4o-transcribe\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; "
	    "name=\"timestamp_granularities[]\"\r\n\r\n"
	    "word\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; "
	    "name=\"timestamp_granularities[]\"\r\n\r\n"
	    "segment\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"response_format\"; "
	    "filename=\"r.txt\"\r\n\r\n"
	    "text\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file2\"; "
	    "filename=\"b\"\r\n\r\n"
	    "other\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
	    "no filename\r\n--XyZ\r\n"
	    "\r\n"
	    "no headers\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"\"\r\n\r\n"
	    "first\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"2\"\r\n\r\n"
	    "second\r\n--XyZ--",
	    "rc=0 end=0 parts=10 done=1 model=[whisper-1]x2 "
	    "timestamp_granularities[]=[word,segment]x2 uploads=4/20b "
	    "file=[] type=[] "
	    "bytes=5 fileparts=2 data=first");
}

/* Field values past METER_MULTIPART_MAX_FIELD are cut and flagged. */
TEST(meter_multipart_long_field)
{
	struct sbuf in = {0}, want = {0};
	int i;

	sb_printf(&in, "--XyZ\r\nContent-Disposition: form-data; "
	               "name=model\r\n\r\n");
	for (i = 0; i < METER_MULTIPART_MAX_FIELD + 10; i++)
		sb_add(&in, "m", 1);
	sb_printf(&in, "\r\n--XyZ--\r\n");
	sb_printf(&want, "rc=0 end=0 parts=1 done=1 model=[");
	for (i = 0; i < METER_MULTIPART_MAX_FIELD; i++)
		sb_add(&want, "m", 1);
	sb_printf(&want, "]cut");
	run_mp(CT, in.p, in.len, want.p);
	free(in.p);
	free(want.p);
}

/* An empty file part, and an empty body part. */
TEST(meter_multipart_empty_parts)
{
	RUN(CT,
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"stream\"\r\n\r\n"
	    "\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"e.wav\"\r\n\r\n"
	    "\r\n--XyZ--",
	    "rc=0 end=0 parts=2 done=1 stream=[] uploads=1/0b file=[e.wav] "
	    "type=[] "
	    "bytes=0 data=");
}

TEST(meter_multipart_truncated)
{
	RUN(CT,
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"a\"\r\n\r\n"
	    "abc\r\n--XyZ-",
	    "rc=0 end=-1 err=truncated: no closing boundary parts=1 done=0 "
	    "uploads=1/3b file=[a] type=[] bytes=3 data=abc");
	RUN(CT, "",
	    "rc=0 end=-1 err=truncated: no closing boundary parts=0 "
	    "done=0");
	RUN(CT, "no boundary here\r\n-XyZ--",
	    "rc=0 end=-1 err=truncated: no closing boundary parts=0 done=0");
	/* headers never ended */
	RUN(CT, "--XyZ\r\nContent-Disposition: form-data; name=model\r\n",
	    "rc=0 end=-1 err=truncated: no closing boundary parts=1 done=0");
}

TEST(meter_multipart_malformed)
{
	RUN(CT, "--XyZ\r\nContent-Type: a\rb\r\n\r\nx\r\n--XyZ--",
	    "rc=-1 end=-1 err=CR without LF in part headers parts=1 done=0");
	RUN(CT, "--XyZ\r\nContent-Type: a\r\n\rx\r\n--XyZ--",
	    "rc=-1 end=-1 err=CR without LF in part headers parts=1 done=0");
	RUN(CT, "--XyZ\r\nContent-Type: a\n\r\n\r\nx\r\n--XyZ--",
	    "rc=-1 end=-1 err=LF without CR in part headers parts=1 done=0");
	RUN(CT, "--XyZ\r\nContent-Type: a\x01\r\n\r\nx\r\n--XyZ--",
	    "rc=-1 end=-1 err=control character in part headers parts=1 "
	    "done=0");
	RUN(CT, "--XyZ\rx",
	    "rc=-1 end=-1 err=CR without LF after a boundary parts=0 done=0");
	RUN(CT, "--XyZ  x\r\n",
	    "rc=-1 end=-1 err=text after a boundary delimiter parts=0 "
	    "done=0");
}

TEST(meter_multipart_header_too_long)
{
	struct sbuf in = {0};
	size_t i;

	/* exactly at the limit is fine ... */
	sb_printf(&in, "--XyZ\r\nX: ");
	for (i = 3; i < METER_MULTIPART_MAX_HEADER; i++)
		sb_add(&in, "h", 1);
	sb_printf(&in, "\r\n\r\nbody\r\n--XyZ--");
	run_mp(CT, in.p, in.len, "rc=0 end=0 parts=1 done=1");
	/* ... one more byte is not */
	sb_clear(&in);
	sb_printf(&in, "--XyZ\r\nX: ");
	for (i = 3; i < METER_MULTIPART_MAX_HEADER + 1; i++)
		sb_add(&in, "h", 1);
	sb_printf(&in, "\r\n\r\nbody\r\n--XyZ--");
	run_mp(CT, in.p, in.len,
	       "rc=-1 end=-1 err=part headers too long parts=1 done=0");
	free(in.p);
}

TEST(meter_multipart_too_many_parts)
{
	struct sbuf in = {0};
	int i;

	for (i = 0; i < METER_MULTIPART_MAX_PARTS; i++)
		sb_printf(&in, "--XyZ\r\n\r\n%d\r\n", i);
	sb_printf(&in, "--XyZ--");
	run_mp(CT, in.p, in.len, "rc=0 end=0 parts=64 done=1");
	in.len -= strlen("--XyZ--");
	sb_printf(&in, "--XyZ\r\n\r\n--XyZ--");
	run_mp(CT, in.p, in.len,
	       "rc=-1 end=-1 err=too many parts parts=65 done=0");
	free(in.p);
}

/* A large file streams through in fixed memory: counted, passed on. */
TEST(meter_multipart_large_file)
{
	struct mrec r;
	char chunk[4096];
	const char *head = "--XyZ\r\nContent-Disposition: form-data; "
	                   "name=\"file\"; filename=\"big\"\r\n\r\n";
	size_t i;

	memset(&r, 0, sizeof(r));
	r.ct = CT;
	mrec_reset(&r);
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)(i % 251); /* CRs, LFs, dashes, all bytes */
	mrec_feed(&r, head, strlen(head));
	for (i = 0; i < 1024; i++)
		mrec_feed(&r, chunk, sizeof(chunk));
	mrec_feed(&r, "\r\n--XyZ--\r\n", 11);
	CHECK(r.rc == 0);
	CHECK(meter_multipart_end(r.mp) == 0);
	CHECK_U64(meter_multipart_file_bytes(r.mp), 1024 * sizeof(chunk));
	CHECK_U64(r.file.len, 1024 * sizeof(chunk));
	CHECK(r.file.len == 1024 * sizeof(chunk) &&
	      memcmp(r.file.p + 5 * sizeof(chunk), chunk, sizeof(chunk)) == 0);
	meter_multipart_free(r.mp);
	free(r.file.p);
}

/* Feeding after an error or after the end changes nothing. */
TEST(meter_multipart_sticky)
{
	const char *err = NULL;
	struct meter_multipart *mp = meter_multipart_new(CT, NULL, NULL, &err);

	CHECK(mp != NULL);
	CHECK(meter_multipart_feed(mp, "--XyZ\r\n\r\nx\r\n--XyZ--", 19) == 0);
	CHECK(meter_multipart_feed(mp, "\r\n--XyZ\rjunk", 12) == 0);
	CHECK(meter_multipart_end(mp) == 0);
	CHECK(meter_multipart_error(mp) == NULL);
	CHECK_U64(meter_multipart_parts(mp), 1);
	meter_multipart_free(mp);
	mp = meter_multipart_new(CT, NULL, NULL, &err);
	CHECK(meter_multipart_feed(mp, "--XyZ\rx", 7) == -1);
	CHECK(meter_multipart_feed(mp, "\n\r\n--XyZ--", 10) == -1);
	CHECK(meter_multipart_end(mp) == -1);
	CHECK_STR(meter_multipart_error(mp), "CR without LF after a boundary");
	CHECK(meter_multipart_field(mp, "model") == NULL);
	meter_multipart_free(mp);
	meter_multipart_free(NULL);
}

static void
check_ct(const char *ct, const char *want_err)
{
	const char *err = NULL;
	struct meter_multipart *mp = meter_multipart_new(ct, NULL, NULL, &err);

	if (want_err == NULL) {
		if (mp == NULL)
			harness_fail(__FILE__, __LINE__, "%s: %s", ct, err);
	} else if (mp != NULL || err == NULL || strcmp(err, want_err) != 0) {
		harness_fail(__FILE__, __LINE__, "%s: got %s, want %s", ct,
		             mp ? "(accepted)" : err, want_err);
	}
	meter_multipart_free(mp);
}

TEST(meter_multipart_new_boundary)
{
	const char *bad = "boundary is not 1-70 RFC 2046 characters";
	char ct[160];

	check_ct("multipart/form-data; boundary=abc", NULL);
	check_ct("multipart/form-data;boundary=\"abc\"", NULL);
	check_ct("MULTIPART/FORM-DATA; charset=utf-8; Boundary = abc", NULL);
	check_ct("multipart/form-data; boundary=----WebKitFormBoundary7MA4YW"
	         "xkTrZu0gW",
	         NULL);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%070d", 7);
	check_ct(ct, NULL);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 7);
	check_ct(ct, bad);
	check_ct("multipart/form-data; boundary=", bad);
	check_ct("multipart/form-data; boundary=\"\"", bad);
	check_ct("multipart/form-data; boundary=\"ab \"", bad);
	check_ct("multipart/form-data; boundary=a\"b", bad);
	check_ct("multipart/form-data; boundary=\"a\rb\"", bad);
	check_ct("multipart/form-data; boundary=\"a;b\"", bad);
	check_ct("multipart/form-data", "no boundary parameter");
	check_ct("multipart/form-data; charset=utf-8", "no boundary parameter");
	check_ct("multipart/form-data; boundary=a; boundary=b",
	         "more than one boundary parameter");
	check_ct("multipart/mixed; boundary=abc",
	         "content type is not multipart/form-data");
	check_ct("application/json", "content type is not multipart/form-data");
	check_ct("", "content type is not multipart/form-data");
	check_ct(NULL, "no content type");
}

/* /v1/images/edits: the image fields are kept, the prompt only counted,
 * every image and the mask counted; the first image[] is the file. */
TEST(meter_multipart_image_edits)
{
	RUN_NAMES(CT, "image,image[]",
	          "--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"image[]\"; "
	          "filename=\"a.png\"\r\n"
	          "Content-Type: image/png\r\n\r\n"
	          "\x89PNG\r\n\x1a\n"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"image[]\"; "
	          "filename=\"b.png\"\r\n\r\n"
	          "PNG2\r\n"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"mask\"; "
	          "filename=\"m.png\"\r\n\r\n"
	          "mask"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"prompt\"\r\n\r\n"
	          "A cat \"--XyZ\" in a hat\r\n"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
	          "gpt-image-1"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"n\"\r\n\r\n"
	          "3"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"size\"\r\n\r\n"
	          "1024x1536"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"quality\"\r\n\r\n"
	          "high"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"response_format\""
	          "\r\n\r\n"
	          "b64_json"
	          "\r\n--XyZ--\r\n",
	          "rc=0 end=0 parts=9 done=1 model=[gpt-image-1] "
	          "response_format=[b64_json] n=[3] size=[1024x1536] "
	          "quality=[high] prompt=1x24b uploads=3/18b file=[a.png] "
	          "type=[image/png] bytes=8 fileparts=2 "
	          "data=\\x89PNG\\r\\n\\x1a\\n");
}

/* /v1/images/variations: one image; no callback wanted ("" = none). */
TEST(meter_multipart_image_variations)
{
	static const char body[] =
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"image\"; "
	    "filename=\"v.png\"\r\n\r\n"
	    "PNGDATA"
	    "\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
	    "dall-e-2"
	    "\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"n\"\r\n\r\n"
	    "2"
	    "\r\n--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"size\"\r\n\r\n"
	    "256x256"
	    "\r\n--XyZ--";

	RUN_NAMES(CT, "image", body,
	          "rc=0 end=0 parts=4 done=1 model=[dall-e-2] n=[2] "
	          "size=[256x256] uploads=1/7b file=[v.png] type=[] bytes=7 "
	          "data=PNGDATA");
	RUN_NAMES(CT, "", body,
	          "rc=0 end=0 parts=4 done=1 model=[dall-e-2] n=[2] "
	          "size=[256x256] uploads=1/7b");
	/* the default name "file" matches nothing here either */
	RUN(CT, body,
	    "rc=0 end=0 parts=4 done=1 model=[dall-e-2] n=[2] "
	    "size=[256x256] uploads=1/7b");
}

/* Repeats of the image fields; a long prompt is counted past the field
 * limit; a prompt or n with a filename is an upload; names are exact. */
TEST(meter_multipart_image_fields_repeated)
{
	struct sbuf in = {0};
	int i;

	sb_printf(&in, "--XyZ\r\nContent-Disposition: form-data; "
	               "name=prompt\r\n\r\n");
	for (i = 0; i < 3 * METER_MULTIPART_MAX_FIELD; i++)
		sb_add(&in, "p", 1);
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=prompt\r\n\r\nsecond");
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=prompt; filename=p.txt\r\n\r\nfile");
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=n\r\n\r\n 4");
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=n\r\n\r\n10");
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=n; filename=n\r\n\r\n99");
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=N\r\n\r\n7");
	sb_printf(&in, "\r\n--XyZ\r\nContent-Disposition: form-data; "
	               "name=Quality\r\n\r\nlow");
	sb_printf(&in, "\r\n--XyZ--");
	run_mp(CT, in.p, in.len,
	       "rc=0 end=0 parts=8 done=1 n=[ 4]x2 prompt=2x774b "
	       "uploads=2/6b");
	free(in.p);
}

TEST(meter_multipart_set_file_names_contract)
{
	const char *err = NULL;
	struct meter_multipart *mp = meter_multipart_new(CT, NULL, NULL, &err);
	char longer[METER_MULTIPART_MAX_FILE_NAMES + 2];
	const char *rest = "-XyZ\r\nContent-Disposition: form-data; name=file; "
	                   "filename=f\r\n\r\nabc\r\n--XyZ--";

	CHECK(mp != NULL);
	if (mp == NULL)
		return;
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK(meter_multipart_set_file_names(mp, longer) == -1);
	longer[sizeof(longer) - 2] = '\0'; /* exactly the limit */
	CHECK(meter_multipart_set_file_names(mp, longer) == 0);
	CHECK(meter_multipart_set_file_names(mp, "image,,image[]") == 0);
	CHECK(meter_multipart_feed(mp, "", 0) == 0); /* nothing fed yet */
	CHECK(meter_multipart_set_file_names(mp, "file") == 0);
	CHECK(meter_multipart_feed(mp, "-", 1) == 0);
	CHECK(meter_multipart_set_file_names(mp, "image") == -1);
	CHECK(meter_multipart_feed(mp, rest, strlen(rest)) == 0);
	CHECK(meter_multipart_end(mp) == 0);
	CHECK(meter_multipart_has_file(mp));
	CHECK_U64(meter_multipart_file_bytes(mp), 3);
	CHECK_U64(meter_multipart_field_count(mp, "prompt"), 0);
	CHECK_U64(meter_multipart_field_bytes(mp, "nope"), 0);
	CHECK_U64(meter_multipart_field_count(mp, "nope"), 0);
	meter_multipart_free(mp);
}

/* An empty entry in the names list matches no part, not even name="". */
TEST(meter_multipart_set_file_names_empty_entry)
{
	RUN_NAMES(CT, "image,,x",
	          "--XyZ\r\n"
	          "Content-Disposition: form-data; name=\"\"; "
	          "filename=\"e\"\r\n\r\n"
	          "empty"
	          "\r\n--XyZ\r\n"
	          "Content-Disposition: form-data; name=x; filename=x\r\n\r\n"
	          "xx"
	          "\r\n--XyZ--",
	          "rc=0 end=0 parts=2 done=1 uploads=2/7b file=[x] type=[] "
	          "bytes=2 data=xx");
}
