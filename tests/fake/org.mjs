// tests/fake/org.mjs -- the fake upstream's organization Usage and Costs
// APIs (openai-wire.md §7).  NOT BUILT YET: scaffolding for its owner.
export function organization(ctx, req, pathname, h) {
  return h.sendError(ctx, 404, h.errorBody(`Unknown request URL: ${req.method} ${pathname}.`,
    'invalid_request_error', null, 'unknown_url'));
}
