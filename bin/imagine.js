#!/usr/bin/env node
// The `imagine` command of the package: registers tsx so Node can load the TypeScript sources, then runs
// the CLI (src/cli/imagine.ts).
import { register } from 'tsx/esm/api';

register();
const { cli } = await import('../src/cli/imagine.ts');
await cli();
