// Build-time configuration (scripts/build.mjs replaces these with `define`).
//
// PINNED_ROOT_KEYS: program id -> Ed25519 root public key (64 hex digits). A real
// deployment MUST pin its programs' root keys here at build time
// (CONFIDANT_PINNED_KEYS=path/to/keys.json npm run build): the page then trusts only these
// keys, and a relay that serves another key for a pinned program is refused. When a program
// is not pinned (the default development build), the page falls back to the key served by
// the relay at /v1/programs and says so on screen — acceptable for `confidant-relay --dev`,
// whose keys are created in memory at start, and never for production.
//
// NEUTRAL_URL: where quick exit goes (CONFIDANT_NEUTRAL_URL). about:blank by default so a
// test run never leaves the machine; a deployment may choose e.g. a weather site.

/* global __CONFIDANT_PINNED_KEYS__, __CONFIDANT_NEUTRAL_URL__ */
export const PINNED_ROOT_KEYS = typeof __CONFIDANT_PINNED_KEYS__ === 'object' ? __CONFIDANT_PINNED_KEYS__ : {};
export const NEUTRAL_URL = typeof __CONFIDANT_NEUTRAL_URL__ === 'string' ? __CONFIDANT_NEUTRAL_URL__ : 'about:blank';
