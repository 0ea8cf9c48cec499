// Every export of the package is documented where a user's editor shows it: each public
// class, function, interface and their public members carry TSDoc, and every public
// function, method and constructor says what it throws (`@throws` with the codes). A member
// implementing a documented interface member inherits that documentation, as editors show it.
// Members marked `@internal` are not part of the API and are left out.
import { expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import ts from "typescript";
import { ROOT } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

const program = ts.createProgram([join(ROOT, "src/index.ts")], {
  allowImportingTsExtensions: true,
  noEmit: true,
  strict: true,
  target: ts.ScriptTarget.ESNext,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  types: [],
});
const checker = program.getTypeChecker();

const docOf = (n: ts.Node): string => ts.getJSDocCommentsAndTags(n).map((d) => d.getText()).join("\n");
const memberName = (m: ts.ClassElement | ts.TypeElement): string => (m.name ? m.name.getText() : "constructor");
const isPublic = (m: ts.ClassElement): boolean =>
  !(ts.getCombinedModifierFlags(m as unknown as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) && !(m.name && ts.isPrivateIdentifier(m.name));
const isCallable = (m: ts.ClassElement): boolean => ts.isMethodDeclaration(m) || ts.isConstructorDeclaration(m);
const disposer = (name: string): boolean => /^\[Symbol\.(asyncDispose|dispose|iterator|asyncIterator)\]$/.test(name);

/** The docs of the interface members `m` implements, for a class that `implements` them. */
function inheritedDoc(cls: ts.ClassDeclaration, name: string): string {
  const docs: string[] = [];
  for (const clause of cls.heritageClauses ?? []) {
    for (const t of clause.types) {
      const prop = checker.getTypeAtLocation(t).getProperty(name);
      for (const d of prop?.declarations ?? []) docs.push(docOf(d));
    }
  }
  return docs.join("\n");
}

/** Every documentation gap of the package's exports, as "file: Export.member (what is missing)". */
function gaps(): string[] {
  const index = program.getSourceFile(join(ROOT, "src/index.ts"))!;
  const out: string[] = [];
  for (const exp of checker.getExportsOfModule(checker.getSymbolAtLocation(index)!)) {
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
    for (const decl of sym.declarations ?? []) {
      const file = decl.getSourceFile().fileName.slice(ROOT.length + 1);
      const where = (what: string, missing: string) => out.push(`${file}: ${what} (${missing})`);
      if (ts.isClassDeclaration(decl)) {
        if (!docOf(decl)) where(`class ${exp.name}`, "no TSDoc");
        for (const m of decl.members) {
          if (!isPublic(m) || ts.isSemicolonClassElement(m) || ts.isClassStaticBlockDeclaration(m) || ts.isIndexSignatureDeclaration(m)) continue;
          const name = memberName(m);
          if (isCallable(m) && !(m as ts.FunctionLikeDeclaration).body) continue; // an overload: read with its implementation
          // Overloads and get/set pairs: the documentation of any signature counts.
          const doc = decl.members.filter((o) => memberName(o) === name).map(docOf).join("\n") + inheritedDoc(decl, name);
          if (/@internal/.test(doc)) continue;
          if (!doc) where(`${exp.name}.${name}`, "no TSDoc");
          else if (isCallable(m) && !disposer(name) && !/@throws/.test(doc)) where(`${exp.name}.${name}`, "no @throws");
        }
      } else if (ts.isFunctionDeclaration(decl)) {
        const doc = docOf(decl);
        if (!doc) where(`function ${exp.name}`, "no TSDoc");
        else if (!/@throws/.test(doc)) where(`function ${exp.name}`, "no @throws");
      } else if (ts.isInterfaceDeclaration(decl)) {
        if (!docOf(decl)) where(`interface ${exp.name}`, "no TSDoc");
        for (const m of decl.members) if (!docOf(m)) where(`${exp.name}.${memberName(m)}`, "no TSDoc");
      } else if (ts.isVariableDeclaration(decl)) {
        if (!docOf(decl.parent.parent)) where(`const ${exp.name}`, "no TSDoc");
      } else if (!docOf(decl)) {
        where(`${ts.SyntaxKind[decl.kind]} ${exp.name}`, "no TSDoc");
      }
    }
  }
  return out;
}

test("every export, public member and field has TSDoc; every public function, method and constructor has @throws", () => {
  expect(gaps()).toEqual([]);
});
