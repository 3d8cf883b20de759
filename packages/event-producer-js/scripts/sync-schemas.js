#!/usr/bin/env node
'use strict';
/**
 * Copy the generated event schemas into this package, or check that the copy is current.
 *
 * The repository's `schemas/` (catalog.json and json/*.schema.json, generated from carbonplane's
 * Python event types by `make schemas`) is the single source of truth. The package carries a
 * byte-identical copy in `schemas/` so that it works when installed on its own; this script
 * refreshes it. With --check it changes nothing and exits 1 listing every file that differs,
 * is missing or is extra (the test suite runs the same comparison).
 *
 *   node scripts/sync-schemas.js            copy ../../schemas -> ./schemas
 *   node scripts/sync-schemas.js --check    exit 1 when the copy drifted
 *   SCHEMAS_SOURCE=<dir>                    read the generated schemas from <dir> instead
 */

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const PACKAGE_SCHEMAS = path.join(PACKAGE_ROOT, 'schemas');
const SOURCE_SCHEMAS = path.resolve(process.env.SCHEMAS_SOURCE || path.join(PACKAGE_ROOT, '..', '..', 'schemas'));

/** Relative paths of the files the package needs: the catalog and every JSON Schema. */
function schemaFiles(root) {
  const json = path.join(root, 'json');
  if (!fs.existsSync(path.join(root, 'catalog.json')) || !fs.existsSync(json)) return null;
  const names = fs.readdirSync(json).filter((n) => n.endsWith('.schema.json')).sort();
  return ['catalog.json', ...names.map((n) => `json/${n}`)];
}

/** Every file that differs between the source and the package copy, with the reason. */
function drift(source = SOURCE_SCHEMAS, copy = PACKAGE_SCHEMAS) {
  const wanted = schemaFiles(source);
  if (wanted === null) {
    return [`no generated schemas in ${source} (catalog.json and json/): run \`make schemas\` at the repository root`];
  }
  const have = schemaFiles(copy) || [];
  const problems = [];
  for (const rel of wanted) {
    const target = path.join(copy, rel);
    if (!fs.existsSync(target)) problems.push(`${rel}: missing from the package copy`);
    else if (!fs.readFileSync(target).equals(fs.readFileSync(path.join(source, rel)))) {
      problems.push(`${rel}: differs from ${path.join(source, rel)}`);
    }
  }
  for (const rel of have) if (!wanted.includes(rel)) problems.push(`${rel}: no longer generated (extra in the copy)`);
  return problems;
}

function sync(source = SOURCE_SCHEMAS, copy = PACKAGE_SCHEMAS) {
  const wanted = schemaFiles(source);
  if (wanted === null) throw new Error(`no generated schemas in ${source}: run \`make schemas\` first`);
  fs.rmSync(copy, { recursive: true, force: true });
  fs.mkdirSync(path.join(copy, 'json'), { recursive: true });
  for (const rel of wanted) fs.copyFileSync(path.join(source, rel), path.join(copy, rel));
  return wanted;
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const problems = drift();
    if (problems.length) {
      console.error(`the package's schemas/ drifted from ${SOURCE_SCHEMAS}:\n  ${problems.join('\n  ')}\n` +
        'run `npm run schemas:sync` in packages/event-producer-js');
      process.exit(1);
    }
    console.log(`schemas/ matches ${SOURCE_SCHEMAS}`);
  } else {
    const files = sync();
    console.log(`copied ${files.length} files from ${SOURCE_SCHEMAS} to ${PACKAGE_SCHEMAS}`);
  }
}

module.exports = { drift, sync, SOURCE_SCHEMAS, PACKAGE_SCHEMAS };
