/*
 * tests/unit/test_proxy_background.c — proxy/background.c, the pending
 * background responses.
 *
 * Covers: an id is claimed once, with the workspace that created it;
 * adding twice keeps the first; unknown ids are not claimed; the count;
 * the PROXY_BACKGROUND_MAX cap.
 */
#include <stdio.h>

#include "proxy/background.h"
#include "tests/unit/harness.h"

TEST(proxy_background_claim_once)
{
	struct proxy_background *b = proxy_background_new();
	char ws[64];

	CHECK(b != NULL);
	if (b == NULL)
		return;
	CHECK(proxy_background_add(b, "resp_1", "team-a") == 0);
	CHECK(proxy_background_add(b, "resp_1", "team-b") == 0);
	CHECK(proxy_background_add(b, "resp_2", "team-b") == 0);
	CHECK_U64(proxy_background_pending(b), 2);
	CHECK(proxy_background_claim(b, "resp_9", ws, sizeof(ws)) == 0);
	CHECK(proxy_background_claim(b, "resp_1", ws, sizeof(ws)) == 1);
	CHECK_STR(ws, "team-a");
	CHECK(proxy_background_claim(b, "resp_1", ws, sizeof(ws)) == 0);
	CHECK_U64(proxy_background_pending(b), 1);
	proxy_background_free(b);
}

TEST(proxy_background_cap)
{
	struct proxy_background *b = proxy_background_new();
	char id[32], ws[64];
	int i, refused = 0;

	if (b == NULL)
		return;
	for (i = 0; i < PROXY_BACKGROUND_MAX + 3; i++) {
		snprintf(id, sizeof(id), "resp_%d", i);
		refused += proxy_background_add(b, id, "w") == -1;
	}
	CHECK_U64(refused, 3);
	CHECK_U64(proxy_background_pending(b), PROXY_BACKGROUND_MAX);
	/* a claim makes room */
	CHECK(proxy_background_claim(b, "resp_0", ws, sizeof(ws)) == 1);
	CHECK(proxy_background_add(b, "resp_new", "w") == 0);
	proxy_background_free(b);
}
