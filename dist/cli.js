#!/usr/bin/env node
var __webpack_exports__ = {};
// Placeholder until the CLI lands; replaced by the commander-based entry.
console.log('icloud-photos-action CLI');


