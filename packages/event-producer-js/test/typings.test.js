'use strict';
// index.d.ts is valid strict TypeScript, the documented calls type-check against it, and the
// misuses marked @ts-expect-error in test/types/usage.ts are type errors.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const ts = require('typescript');

test('test/types/usage.ts compiles with strict TypeScript against index.d.ts', () => {
  const root = path.join(__dirname, '..');
  const options = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
    baseUrl: root, paths: { '@254carbon/event-producer': ['index.d.ts'] }, noUnusedLocals: false,
  };
  const program = ts.createProgram([path.join(__dirname, 'types', 'usage.ts'), path.join(root, 'index.d.ts')], options);
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${path.relative(root, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  assert.deepEqual(diagnostics, []);
});
