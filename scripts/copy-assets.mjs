// Copies the non-TypeScript files the program reads at run time (SQL migrations) next to the compiled code.
import { cpSync } from 'node:fs';

cpSync('src/storage/migrations', 'dist/src/storage/migrations', { recursive: true });
