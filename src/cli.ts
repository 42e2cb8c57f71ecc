#!/usr/bin/env node
// Placeholder until the CLI lands; replaced by the commander-based entry.
console.log('icloud-photos-action CLI')
