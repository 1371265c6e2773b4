// Module load hook for register-ts.mjs: the project's own .ts files through
// ts.transpileModule with the compiler options that matter at run time.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const compilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2023,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  inlineSourceMap: true,
};

export async function load(url, context, nextLoad) {
  const path = url.startsWith('file:') ? fileURLToPath(url.split('?')[0]) : '';
  if (!path.endsWith('.ts') || path.includes('/node_modules/')) return nextLoad(url, context);
  const { outputText } = ts.transpileModule(await readFile(path, 'utf8'), { compilerOptions, fileName: path });
  return { format: 'module', source: outputText, shortCircuit: true };
}
